//! Base images: `scratch`, the embedded `builtin:static`, or an OCI layout.

use crate::error::{Error, Result};
use crate::image::compress::{CompressOptions, Compression};
use crate::image::config;
use crate::image::descriptor::LayerDescriptor;
use crate::image::layer::{self, Defaults, EntrySpec, LayerOptions, Source};
use crate::image::layout::Layout;
use crate::image::media_types;
use crate::image::platform::Platform;
use crate::json;
use base64::Engine as _;
use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// What to build on, as given to `--base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    /// No base at all.
    Scratch,
    /// rko's embedded minimal root (see DESIGN.md).
    BuiltinStatic,
    /// An OCI image layout on disk.
    Layout(PathBuf),
}

impl BaseSpec {
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "scratch" => Ok(BaseSpec::Scratch),
            "builtin:static" => Ok(BaseSpec::BuiltinStatic),
            other if other.starts_with("builtin:") => Err(Error::invalid(format!(
                "unknown builtin base {other:?}: the only one is builtin:static"
            ))),
            path => Ok(BaseSpec::Layout(PathBuf::from(path))),
        }
    }
}

/// Where a base's layer blobs are.
#[derive(Debug)]
pub enum BaseBlobs {
    None,
    Memory(Vec<Vec<u8>>),
    Layout(Box<Layout>),
}

/// A base, resolved for one platform.
#[derive(Debug)]
pub struct Base {
    pub config: Value,
    pub layers: Vec<Descriptor>,
    pub blobs: BaseBlobs,
    /// The digest of the base's manifest; `None` for scratch.
    pub manifest_digest: Option<Digest>,
    /// Whether the base uses Docker media types (the new image will too).
    pub docker: bool,
    /// The repository holding base blobs the layout lacks (a shallow base).
    pub blob_source: Option<String>,
    pub platform: Platform,
}

/// Resolves `spec` for `platform` (default: the base's own, or linux/amd64).
pub fn resolve(spec: &BaseSpec, platform: Option<&Platform>) -> Result<Base> {
    match spec {
        BaseSpec::Scratch => {
            let platform = platform.cloned().unwrap_or_else(Platform::default_target);
            Ok(Base {
                config: config::empty(&platform),
                layers: Vec::new(),
                blobs: BaseBlobs::None,
                manifest_digest: None,
                docker: false,
                blob_source: None,
                platform,
            })
        }
        BaseSpec::BuiltinStatic => {
            builtin_static(platform.cloned().unwrap_or_else(Platform::default_target))
        }
        BaseSpec::Layout(path) => from_layout(path, platform),
    }
}

fn from_layout(path: &std::path::Path, platform: Option<&Platform>) -> Result<Base> {
    let layout = Layout::open(path)?;
    let image = layout.find_image(platform)?;
    let config: Value = layout.read_json(image.manifest.config(), "image config")?;
    let docker = media_types::is_docker(image.manifest.config().media_type());
    Ok(Base {
        config,
        layers: image.manifest.layers().clone(),
        manifest_digest: Some(image.descriptor.digest().clone()),
        docker,
        blob_source: layout.blob_source(),
        platform: image.platform,
        blobs: BaseBlobs::Layout(Box::new(layout)),
    })
}

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";
const NSSWITCH: &str = "hosts: files dns\n";
const NONROOT: u64 = 65532;
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The `builtin:static` root: users, groups, name resolution and CA
/// certificates for a static Go binary, built the same way every time.
fn builtin_static(platform: Platform) -> Result<Base> {
    let (blob, layer) = builtin_layer()?;
    let mut config = config::empty(&platform);
    config["created"] = json!(config::rfc3339(0));
    config["config"] = json!({
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            format!("SSL_CERT_FILE={CA_BUNDLE}"),
        ],
        "User": NONROOT.to_string(),
    });
    config["rootfs"]["diff_ids"] = json!([layer.diff_id.to_string()]);
    config["history"] =
        json!([{"created": config::rfc3339(0), "created_by": "rko builtin:static"}]);

    let config_bytes = json::to_canonical_vec(&config);
    let config_descriptor = Descriptor::new(
        MediaType::ImageConfig,
        config_bytes.len() as u64,
        crate::digest::sha256(&config_bytes),
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_descriptor)
        .layers(vec![layer.oci()])
        .build()
        .expect("every required manifest field is set");
    let manifest_digest = crate::digest::sha256(&json::to_canonical_vec(&manifest));
    Ok(Base {
        config,
        layers: vec![layer.oci()],
        blobs: BaseBlobs::Memory(vec![blob]),
        manifest_digest: Some(manifest_digest),
        docker: false,
        blob_source: None,
        platform,
    })
}

fn builtin_layer() -> Result<(Vec<u8>, LayerDescriptor)> {
    let file = |dest: &str, content: Vec<u8>| EntrySpec::File {
        source: Source::Bytes(Arc::from(content)),
        dest: dest.to_string(),
        mode: Some(0o644),
        pax: Default::default(),
    };
    let dir = |dest: &str, mode: u32| EntrySpec::Dir {
        dest: dest.to_string(),
        mode: Some(mode),
    };
    let specs = [
        file("etc/passwd", PASSWD.into()),
        file("etc/group", GROUP.into()),
        file("etc/nsswitch.conf", NSSWITCH.into()),
        file(CA_BUNDLE, ca_bundle().into_bytes()),
        dir("tmp", 0o1777),
        dir("root", 0o700),
        dir("home/nonroot", 0o700),
    ];
    let defaults = Defaults {
        file_mode: 0o644,
        dir_mode: 0o755,
        uid: 0,
        gid: 0,
        allow_root: None,
    };
    let mut entries = layer::plan(&specs, &defaults)?;
    for entry in &mut entries {
        if entry.path == "home/nonroot" {
            entry.uid = NONROOT;
            entry.gid = NONROOT;
        }
    }
    // Fixed settings: changing any of them changes the digest of every image
    // built on builtin:static.
    let options = LayerOptions {
        defaults,
        mtime: 0,
        compress: CompressOptions {
            compression: Compression::Gzip,
            level: Some(9),
            jobs: 1,
        },
    };
    layer::assemble_entries_to_vec(&entries, &options)
}

/// The Mozilla root certificates shipped with rko, as one PEM bundle.
fn ca_bundle() -> String {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_static_is_the_same_every_time_and_per_platform_config() {
        let amd = resolve(&BaseSpec::BuiltinStatic, None).unwrap();
        let again = resolve(&BaseSpec::BuiltinStatic, None).unwrap();
        assert_eq!(amd.manifest_digest, again.manifest_digest);
        let arm = resolve(
            &BaseSpec::BuiltinStatic,
            Some(&"linux/arm64".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(amd.layers, arm.layers, "one layer serves every platform");
        assert_ne!(amd.manifest_digest, arm.manifest_digest);
        assert_eq!(arm.config["architecture"], json!("arm64"));
    }

    /// Images on builtin:static keep their digests from one rko build to the
    /// next; this changes only on purpose (or with webpki-root-certs).
    #[test]
    fn builtin_static_digest_is_pinned() {
        let base = resolve(&BaseSpec::BuiltinStatic, None).unwrap();
        assert_eq!(
            base.manifest_digest.unwrap().to_string(),
            "sha256:b6bc55b9348c473ea9d843e010ece56e7bbc25f5b4393f6d933c2442105c0128"
        );
    }

    #[test]
    fn base_names_parse() {
        assert_eq!(BaseSpec::parse("scratch").unwrap(), BaseSpec::Scratch);
        assert_eq!(
            BaseSpec::parse("builtin:static").unwrap(),
            BaseSpec::BuiltinStatic
        );
        assert!(BaseSpec::parse("builtin:distroless").is_err());
        assert_eq!(
            BaseSpec::parse("out/base").unwrap(),
            BaseSpec::Layout("out/base".into())
        );
    }
}
