//! Entry points for the fuzz targets in `fuzz/` (not an API): each runs one
//! parser that faces a registry or a user the way rko runs it, on bytes,
//! with no network and no process started.

use crate::error::Result;
use crate::image::platform::Platform;
use crate::porcelain::settings::template::{Origin, Template, TemplateError, Value};
use crate::registry::pull::{blobs_of, read_root, Root};
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::image::config::ConfigEdits;
pub use crate::image::descriptor::LayerDescriptor;
pub use crate::porcelain::settings::ko_yaml::KoConfig;
pub use crate::registry::challenge::{parse as parse_challenge, Challenge};
pub use crate::registry::reference::check_repository_name;

/// What `pull` makes of a manifest a registry sent for `reference` (a tag
/// or digest) with the `Content-Type` `header_type`: checked, read as an
/// image or as an index narrowed to `platforms`; the blobs it would
/// download (`blob DIGEST SIZE`, configs only when `shallow`), or the
/// entries it would fetch next (`entry DIGEST`).
pub fn pulled_manifest(
    reference: &crate::Reference,
    header_type: Option<String>,
    bytes: Vec<u8>,
    platforms: &[Platform],
    shallow: bool,
) -> Result<Vec<String>> {
    let identifier = reference.identifier();
    let fetched = crate::registry::manifests::decode("fuzz", &identifier, header_type, bytes)?;
    let images = match read_root(&fetched, platforms, reference)? {
        Root::Image(manifest) => vec![*manifest],
        // Each entry would be fetched and read as a manifest: those are
        // what the fuzzer's other inputs are.
        Root::Index(entries) => {
            return Ok(entries
                .iter()
                .map(|d| format!("entry {}", d.digest()))
                .collect())
        }
    };
    Ok(blobs_of(&images, shallow)
        .iter()
        .map(|(digest, size)| format!("blob {digest} {size}"))
        .collect())
}

/// A base image's config as `append` edits it.
pub fn apply_config(
    config: serde_json::Value,
    edits: &ConfigEdits,
    layers: &[LayerDescriptor],
) -> serde_json::Value {
    crate::image::config::apply(config, edits, layers)
}

/// The bytes rko writes for a JSON value (see `json.rs`).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    crate::json::to_canonical_vec(value)
}

/// What rko reads of the OCI layout at `root` used as a base: its images,
/// the one for `platform`, the base `append` builds on, its completeness
/// and the blobs of its roots; the first error ends it.
pub fn read_layout(root: &Path, platform: Option<&Platform>) -> Result<()> {
    let layout = crate::image::layout::Layout::open(root)?;
    let _ = layout.blob_source();
    let roots: Vec<_> = layout.roots().cloned().collect();
    for descriptor in &roots {
        let _ = layout.blobs_of(descriptor);
    }
    let _ = layout.check_complete();
    let _ = layout.images()?;
    let _ = layout.find_image(platform)?;
    let spec = crate::image::base_spec::BaseSpec::Layout(root.to_path_buf());
    crate::image::base_spec::resolve(&spec, platform).map(|_| ())
}

/// `.ko.yaml` as `rko build` reads it: parsed (builds located from
/// `work_dir`), its warnings, its build templates checked, its image
/// settings rendered with `data`.
pub fn read_ko_yaml(text: &str, work_dir: &Path, data: &Value) -> Result<KoConfig> {
    let config = KoConfig::parse(text, &work_dir.join(".ko.yaml"), work_dir)?;
    let _ = config.warnings();
    config.check_build_templates()?;
    config.render_images(data)
}

/// A template's text run the way `.ko.yaml`'s values are.
pub fn render_template(text: &str, data: &Value) -> Result<String> {
    crate::porcelain::settings::template::render(text, data, &Origin::flag("--fuzz"))
}

/// A template parsed, and what it reads of the data.
pub fn parse_template(text: &str) -> std::result::Result<(Template, bool, bool), TemplateError> {
    let template = Template::parse(text)?;
    let (git, go_env) = (template.reads("Git"), template.reads("GoEnv"));
    Ok((template, git, go_env))
}

/// Template data of a fixed, small shape: `.Env`, `.GoEnv`, `.Git`,
/// `.Date`, `.Timestamp` as ko's templates see them.
pub fn template_data() -> Value {
    use crate::porcelain::settings::template::{GitInfo, TemplateData};
    let strings = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    TemplateData {
        env: strings(&[("HOME", "/root"), ("GOOS", "linux"), ("EMPTY", "")]),
        go_env: strings(&[("GOARCH", "amd64"), ("GOFLAGS", "-mod=mod")]),
        git: GitInfo {
            branch: "main".into(),
            tag: "v1.2.3".into(),
            short_commit: "abc1234".into(),
            full_commit: "abc1234def5678abc1234def5678abc1234def56".into(),
            commit_time: Some(1_700_000_000),
            dirty: false,
        },
        date: crate::image::config::rfc3339(1_700_000_000),
        timestamp: 1_700_000_000,
    }
    .value()
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    crate::digest::sha256(bytes).to_string()
}
