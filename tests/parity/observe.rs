//! Everything one tool's run of a fixture produced, flattened into
//! `field → value` pairs with what is bound to differ taken out: the
//! tool's own repository prefix and output directory, timestamps in logs,
//! and the digests of manifests it made (named by where they appear, since
//! compressed bytes are not compared). DiffIDs, the base's digests and
//! everything in a config stay as they are.

use super::fixture::Fixture;
use super::run::{Outcome, Stage};
use super::view::{self, Pulled};
use crate::util::peer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Field → value, for one tool.
pub type Observation = BTreeMap<String, String>;

/// Names for the digests of the manifests a tool made, in the order the
/// tool printed them.
#[derive(Default)]
struct Names(Vec<(String, String)>);

impl Names {
    fn add(&mut self, digest: &str, name: String) {
        if !self.0.iter().any(|(d, _)| d == digest) {
            self.0.push((digest.to_string(), name));
        }
    }

    fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (digest, name) in &self.0 {
            let hex = digest.trim_start_matches("sha256:");
            text = text.replace(digest, &format!("<{name}>"));
            text = text.replace(&format!("sha256-{hex}"), &format!("sha256-<{name}>"));
            // ko.local tags are the bare hex of the image's digest.
            text = text.replace(hex, &format!("<{name}>"));
        }
        text
    }
}

pub struct Observer<'a> {
    pub stage: &'a Stage,
    pub fixture: &'a Fixture,
    pub outcome: &'a Outcome,
    /// The images the tool printed, read back, each named `[REPO]` by its
    /// repository under the tool's `KO_DOCKER_REPO` (ko prints several in
    /// no fixed order, so the order cannot name them).
    pub images: Vec<(String, String, Pulled)>,
    names: Names,
}

impl<'a> Observer<'a> {
    pub fn new(stage: &'a Stage, fixture: &'a Fixture, outcome: &'a Outcome) -> Observer<'a> {
        let mut observer = Observer {
            stage,
            fixture,
            outcome,
            images: Vec::new(),
            names: Names::default(),
        };
        for reference in printed_references(&outcome.stdout) {
            let out = outcome.out.display().to_string();
            let repository = view::repository_of(&reference).replace(&out, "{out}");
            let short = repository
                .strip_prefix(&outcome.repo)
                .unwrap_or(&repository)
                .trim_start_matches('/');
            let mut name = format!("[{short}]");
            if observer.images.iter().any(|(n, _, _)| *n == name) {
                name = format!("[{short}#{}]", observer.images.len() + 1);
            }
            if let Some(digest) = reference.split('@').nth(1) {
                observer.names.add(digest, name.clone());
            }
            let tag = reference.rsplit_once(':').map_or("", |(_, tag)| tag);
            if tag.len() == 64 && tag.bytes().all(|b| b.is_ascii_hexdigit()) {
                observer.names.add(&format!("sha256:{tag}"), name.clone());
            }
            if let Some(layout) = reference.split('@').next().filter(|r| r.starts_with(&out)) {
                observer.name_layout_children(Path::new(layout), &name);
            }
            if let Ok(pulled) = Pulled::read(&reference) {
                for platform in pulled.children.keys() {
                    if let Some(digest) = child_digest(&pulled, platform) {
                        observer.names.add(&digest, format!("{name}{{{platform}}}"));
                    }
                }
                observer.images.push((name, reference.clone(), pulled));
            }
        }
        observer
    }

    /// Names the children of the index at the top of an OCI layout, as
    /// those of a pulled index are named.
    fn name_layout_children(&mut self, layout: &Path, name: &str) {
        let read = |path: PathBuf| {
            std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        };
        let Some(top) = read(layout.join("index.json")) else {
            return;
        };
        for entry in top["manifests"].as_array().into_iter().flatten() {
            let digest = entry["digest"].as_str().unwrap_or_default();
            let blob = layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"));
            let Some(index) = read(blob) else { continue };
            for child in index["manifests"].as_array().into_iter().flatten() {
                let platform = view::platform_of(&child["platform"]);
                if let Some(digest) = child["digest"].as_str() {
                    self.names.add(digest, format!("{name}{{{platform}}}"));
                }
            }
        }
    }

    /// `text` with the tool's repository, output directory and made
    /// digests replaced by names both tools share.
    pub fn normalize(&self, text: &str) -> String {
        let text = text
            .replace(&self.outcome.repo, "{repo}")
            .replace(&self.outcome.out.display().to_string(), "{out}");
        self.names.apply(&text)
    }

    pub fn observe(&self) -> Observation {
        let mut seen = Observation::new();
        let success = self.outcome.success;
        seen.insert("exit".into(), if success { "ok" } else { "failed" }.into());
        if !self.fixture.fails_naming.is_empty() {
            for word in &self.fixture.fails_naming {
                let named = !success && self.outcome.stderr.contains(word.as_str());
                seen.insert(format!("error names {word:?}"), named.to_string());
            }
        }
        if self.fixture.close_stdout {
            let panicked = self.outcome.stderr.contains("panicked");
            seen.insert("panics on a closed stdout".into(), panicked.to_string());
        } else if success && self.fixture.args[0] == "resolve" {
            // ko re-encodes the YAML, rko keeps the input's bytes: the
            // documents are compared parsed.
            for (i, doc) in yaml_documents(&self.outcome.stdout).iter().enumerate() {
                flatten(&format!("yaml[{i}]"), doc, &mut seen, self);
            }
        } else if success {
            // ko prints the references of several images in the order of a
            // Go map (random); rko in the order asked: compared as sets.
            let mut lines: Vec<String> = self
                .outcome
                .stdout
                .lines()
                .map(|l| self.normalize(l))
                .collect();
            lines.sort();
            seen.insert("stdout".into(), lines.join("\n"));
        }
        self.observe_stderr(&mut seen);
        let prefix = format!("{}/", self.stage.registry);
        let prefix = self.outcome.repo.strip_prefix(&prefix).unwrap();
        for (repo, tags) in view::tags_under(&self.stage.registry, prefix) {
            // The OCI referrers API's fallback (distribution-spec: a tag
            // `sha256-HEX` holding an index of the referrers) and cosign's
            // attestation tags (`sha256-HEX.att`) apart from the tags a
            // user asked for and cosign's SBOM tags.
            let (fallback, tags): (Vec<String>, Vec<String>) = tags
                .iter()
                .map(|t| self.normalize(t))
                .partition(|t| is_fallback_tag(t));
            let (attestations, tags): (Vec<String>, Vec<String>) =
                tags.into_iter().partition(|t| t.ends_with(".att"));
            for (field, mut list) in [
                ("tags", tags),
                ("referrers fallback tags", fallback),
                ("attestation tags", attestations),
            ] {
                list.sort();
                if !list.is_empty() {
                    seen.insert(format!("{field} {repo}"), list.join(" "));
                }
            }
        }
        if self.fixture.local {
            self.observe_local(&mut seen);
        }
        for (name, reference, pulled) in &self.images {
            self.observe_image(&mut seen, name, pulled);
            if self.fixture.sbom {
                seen.insert(format!("{name} sbom"), self.sbom_kind(reference));
            }
        }
        self.observe_files(&mut seen);
        seen
    }

    fn observe_stderr(&self, seen: &mut Observation) {
        if self.fixture.stderr.is_empty() {
            return;
        }
        let lines: Vec<String> = self
            .outcome
            .stderr
            .lines()
            .map(strip_log_time)
            .filter(|l| {
                self.fixture
                    .stderr
                    .iter()
                    .any(|p| l.starts_with(p.as_str()))
            })
            .map(|l| self.normalize(l))
            .collect();
        seen.insert("stderr".into(), lines.join("\n"));
    }

    fn observe_image(&self, seen: &mut Observation, name: &str, pulled: &Pulled) {
        let mut manifest = pulled.manifest.clone();
        // Compressed bytes are not compared: the layers' and config's
        // digests and sizes follow from the compressor and key order.
        if let Some(layers) = manifest["layers"].as_array_mut() {
            for layer in layers {
                strip_digest(layer);
            }
        }
        strip_digest(&mut manifest["config"]);
        if let Some(children) = manifest["manifests"].as_array_mut() {
            for child in children {
                child.as_object_mut().map(|c| c.remove("size"));
            }
        }
        flatten(&format!("{name} manifest"), &manifest, seen, self);
        if let Some(config) = &pulled.config {
            flatten(&format!("{name} config"), config, seen, self);
        }
        for (platform, child) in &pulled.children {
            self.observe_image(seen, &format!("{name}{{{platform}}}"), child);
        }
    }

    /// Each printed image as the local daemon has it.
    fn observe_local(&self, seen: &mut Observation) {
        for (i, reference) in printed_references(&self.outcome.stdout).iter().enumerate() {
            let name = format!("[local{}]", i + 1);
            let Some(mut image) = self.stage.podman.inspect(reference) else {
                seen.insert(name, "not in the daemon".into());
                continue;
            };
            // What podman computes of bytes the compressor decided, and
            // when it loaded the image.
            if let Some(image) = image.as_object_mut() {
                for key in [
                    "Id",
                    "Digest",
                    "RepoDigests",
                    "Size",
                    "VirtualSize",
                    "Created",
                    "NamesHistory",
                    "GraphDriver",
                    "ManifestType",
                ] {
                    image.remove(key);
                }
            }
            flatten(&format!("{name} daemon"), &image, seen, self);
        }
    }

    /// `cosign download sbom`'s document kind for the image.
    fn sbom_kind(&self, reference: &str) -> String {
        let out = Command::new(peer("cosign"))
            .args(["download", "sbom", "--allow-insecure-registry", reference])
            .output()
            .expect("cannot run cosign");
        if !out.status.success() {
            return format!(
                "none ({})",
                first_line(&String::from_utf8_lossy(&out.stderr))
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let kinds: Vec<String> = text
            .split("\n{")
            .filter_map(|doc| {
                let doc = if doc.starts_with('{') {
                    doc.to_string()
                } else {
                    format!("{{{doc}")
                };
                serde_json::from_str::<Value>(&doc).ok()
            })
            .map(
                |doc| match (doc["spdxVersion"].as_str(), doc["bomFormat"].as_str()) {
                    (Some(v), _) => v.to_string(),
                    (_, Some(f)) => format!("{f} {}", doc["specVersion"].as_str().unwrap_or("")),
                    _ => "unknown".to_string(),
                },
            )
            .collect();
        kinds.join(", ")
    }

    /// `--image-refs`, `--oci-layout-path` and `--tarball` outputs.
    fn observe_files(&self, seen: &mut Observation) {
        let expand = |v: &str| v.replace("{out}", &self.outcome.out.display().to_string());
        for file in &self.fixture.files_out {
            let text = std::fs::read_to_string(self.outcome.out.join(file))
                .unwrap_or_else(|e| format!("({e})"));
            seen.insert(format!("file {file}"), self.normalize(&text));
        }
        if let Some(path) = self.fixture.flag("--image-refs") {
            let text = std::fs::read_to_string(expand(path)).unwrap_or_else(|e| format!("({e})"));
            seen.insert("image-refs".into(), self.normalize(&text));
        }
        if let Some(path) = self.fixture.flag("--oci-layout-path") {
            self.observe_layout(seen, Path::new(&expand(path)));
        }
        if let Some(path) = self.fixture.flag("--tarball") {
            self.observe_tarball(seen, Path::new(&expand(path)));
        }
    }

    fn observe_layout(&self, seen: &mut Observation, layout: &Path) {
        let out = Command::new(crate::util::require("skopeo"))
            .arg("inspect")
            .arg("--raw")
            .arg(format!("oci:{}", layout.display()))
            .output()
            .unwrap();
        let answer = if out.status.success() {
            "ok".to_string()
        } else {
            first_line(&String::from_utf8_lossy(&out.stderr)).to_string()
        };
        seen.insert("layout: skopeo inspect".into(), self.normalize(&answer));
        let index = std::fs::read(layout.join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null);
        let mut index = index;
        if let Some(entries) = index["manifests"].as_array_mut() {
            for entry in entries {
                entry.as_object_mut().map(|e| e.remove("size"));
            }
        }
        flatten("layout index.json", &index, seen, self);
    }

    fn observe_tarball(&self, seen: &mut Observation, tarball: &Path) {
        let Ok(file) = std::fs::File::open(tarball) else {
            seen.insert("tarball".into(), "missing".into());
            return;
        };
        let mut archive = tar::Archive::new(file);
        let mut manifest = Value::Null;
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            if path == "manifest.json" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                manifest = serde_json::from_str(&text).unwrap_or(Value::Null);
            }
            names.push(path);
        }
        seen.insert("tarball entries".into(), names.len().to_string());
        if let Some(images) = manifest.as_array_mut() {
            for image in images {
                // Config and layer file names are digests of bytes the
                // compressor or key order decide.
                image.as_object_mut().map(|i| i.remove("Config"));
                image.as_object_mut().map(|i| i.remove("Layers"));
                image.as_object_mut().map(|i| i.remove("LayerSources"));
            }
        }
        flatten("tarball manifest.json", &manifest, seen, self);
    }
}

/// The digest of `platform`'s child in an index.
fn child_digest(index: &Pulled, platform: &str) -> Option<String> {
    index.manifest["manifests"]
        .as_array()?
        .iter()
        .find(|m| view::platform_of(&m["platform"]) == platform)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_string)
}

/// The image references a tool printed on stdout: lines that are one
/// reference (`build`), or digest references anywhere (`resolve`'s YAML),
/// in order, each once.
pub fn printed_references(stdout: &str) -> Vec<String> {
    let mut references: Vec<String> = Vec::new();
    for line in stdout.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let found = words
            .iter()
            .copied()
            .filter(|w| w.contains('/') && (words.len() == 1 || w.contains("@sha256:")));
        for word in found {
            let word = word.trim_matches('"').to_string();
            if !references.contains(&word) {
                references.push(word);
            }
        }
    }
    references
}

/// The documents of a YAML stream, as JSON values.
fn yaml_documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or(Value::Null))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn strip_digest(descriptor: &mut Value) {
    if let Some(d) = descriptor.as_object_mut() {
        d.remove("digest");
        d.remove("size");
    }
}

/// Go's log prefix `2006/01/02 15:04:05 ` taken off.
fn strip_log_time(line: &str) -> &str {
    let bytes = line.as_bytes();
    if bytes.len() > 20 && bytes[4] == b'/' && bytes[7] == b'/' && bytes[13] == b':' {
        &line[20..]
    } else {
        line
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Every leaf of `value` as `prefix.path = value`.
fn flatten(prefix: &str, value: &Value, seen: &mut Observation, observer: &Observer) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}.{key}"), value, seen, observer);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                seen.insert(prefix.to_string(), "[]".into());
            }
            for (i, value) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), value, seen, observer);
            }
        }
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            seen.insert(prefix.to_string(), observer.normalize(&text));
        }
    }
}

/// `sha256-<digest hex>` alone (named or not), the referrers API's
/// fallback tag; cosign's tags have a suffix (`.sbom`, `.att`, `.sig`).
fn is_fallback_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    (rest.starts_with('<') && rest.ends_with('>'))
        || (rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}
