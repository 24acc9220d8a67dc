//! What a tool left behind, read with crane (a peer, independent of rko):
//! the repositories and tags under its `KO_DOCKER_REPO`, and each printed
//! image's manifest, config and layers.

use crate::util::json;
use crate::util::peer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn crane(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(peer("crane"))
        .args(args)
        .arg("--insecure")
        .output()
        .map_err(|e| format!("cannot run crane: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "crane {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn crane_text(args: &[&str]) -> Result<String, String> {
    crane(args).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Repository (relative to `prefix`) → its sorted tags.
pub fn tags_under(registry: &str, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let catalog = crane_text(&["catalog", registry]).unwrap_or_default();
    let mut tags = BTreeMap::new();
    for repo in catalog.lines() {
        let Some(rest) = repo.strip_prefix(&format!("{prefix}/")) else {
            continue;
        };
        let listed = crane_text(&["ls", &format!("{registry}/{repo}")]).unwrap_or_default();
        let mut list: Vec<String> = listed.lines().map(str::to_string).collect();
        list.sort();
        tags.insert(rest.to_string(), list);
    }
    tags
}

/// An image or index read from the registry.
pub struct Pulled {
    pub manifest: Value,
    /// For an image: its config; for an index: none.
    pub config: Option<Value>,
    /// For an index: each child, by `os/arch[/variant]`.
    pub children: BTreeMap<String, Pulled>,
    /// The reference it was read by (`repo@digest`), to fetch blobs.
    pub repo: String,
}

impl Pulled {
    pub fn read(reference: &str) -> Result<Pulled, String> {
        let repo = repository_of(reference);
        let manifest = json(&crane_text(&["manifest", reference])?);
        let mut pulled = Pulled {
            config: None,
            children: BTreeMap::new(),
            repo: repo.clone(),
            manifest: Value::Null,
        };
        if let Some(children) = manifest["manifests"].as_array() {
            for child in children {
                let digest = child["digest"].as_str().unwrap_or_default();
                let platform = platform_of(&child["platform"]);
                let key = if platform.is_empty() {
                    digest.to_string()
                } else {
                    platform
                };
                pulled
                    .children
                    .insert(key, Pulled::read(&format!("{repo}@{digest}"))?);
            }
        } else {
            let digest = manifest["config"]["digest"].as_str().unwrap_or_default();
            pulled.config = Some(json(&crane_text(&["blob", &format!("{repo}@{digest}")])?));
        }
        pulled.manifest = manifest;
        Ok(pulled)
    }

    /// The compressed bytes of the layer `digest`.
    pub fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        crane(&["blob", &format!("{}@{digest}", self.repo)])
    }
}

/// `os/arch[/variant]` of a descriptor's platform, empty without one.
pub fn platform_of(platform: &Value) -> String {
    let (Some(os), Some(arch)) = (platform["os"].as_str(), platform["architecture"].as_str())
    else {
        return String::new();
    };
    match platform["variant"].as_str() {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    }
}

/// `host:port/path` of `host:port/path[:tag][@digest]`.
pub fn repository_of(reference: &str) -> String {
    let name = reference.split('@').next().unwrap();
    let (head, last) = name.rsplit_once('/').unwrap_or(("", name));
    let last = last.split(':').next().unwrap();
    if head.is_empty() {
        last.to_string()
    } else {
        format!("{head}/{last}")
    }
}
