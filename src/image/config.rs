//! The image configuration (image-spec `config.md`) and the edits `append`
//! makes to it.
//!
//! The config is edited as a JSON object rather than through a typed struct:
//! a base image's config may carry fields no OCI type models (Docker's
//! `Healthcheck`, `OnBuild`, `ArgsEscaped`, ...) and rko must keep them, as
//! ko and crane do. Keys come out sorted (see `json.rs`).

use crate::image::descriptor::LayerDescriptor;
use crate::image::platform::Platform;
use serde_json::{json, Map, Value};

/// ko's conventions for a Go binary at `/ko-app/NAME`.
pub const KO_APP_DIR: &str = "/ko-app";
pub const KO_DATA_PATH: &str = "/var/run/ko";

/// Everything `append` may change in a config besides adding layers.
#[derive(Debug, Clone, Default)]
pub struct ConfigEdits {
    /// Applied in order; a key set twice keeps the last value.
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// ko's conventions for the binary of this name (see DESIGN.md).
    pub ko_app: Option<String>,
    /// Seconds since the epoch for `created` and the new history entries.
    pub created: u64,
}

/// A config for an image with no base: just the platform.
pub fn empty(platform: &Platform) -> Value {
    let mut config = json!({
        "architecture": platform.arch,
        "os": platform.os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config
}

/// Applies `edits` and appends `layers` to `config`.
pub fn apply(mut config: Value, edits: &ConfigEdits, layers: &[LayerDescriptor]) -> Value {
    if !config.is_object() {
        config = json!({});
    }
    let created = rfc3339(edits.created);
    config["created"] = json!(created);
    let root = config.as_object_mut().expect("made an object above");
    let runtime = object_at(root, "config");

    if let Some(name) = &edits.ko_app {
        runtime.insert("Entrypoint".into(), json!([format!("{KO_APP_DIR}/{name}")]));
        runtime.remove("Cmd");
        let path = match get_env(runtime, "PATH") {
            Some(path) if !path.is_empty() => format!("{path}:{KO_APP_DIR}"),
            _ => KO_APP_DIR.to_string(),
        };
        set_env(runtime, "PATH", &path);
        set_env(runtime, "KO_DATA_PATH", KO_DATA_PATH);
    }
    for (key, value) in &edits.env {
        set_env(runtime, key, value);
    }
    if !edits.labels.is_empty() {
        let labels = object_at(runtime, "Labels");
        for (key, value) in &edits.labels {
            labels.insert(key.clone(), json!(value));
        }
    }
    if let Some(user) = &edits.user {
        runtime.insert("User".into(), json!(user));
    }
    if let Some(workdir) = &edits.workdir {
        runtime.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(entrypoint) = &edits.entrypoint {
        runtime.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(cmd) = &edits.cmd {
        runtime.insert("Cmd".into(), json!(cmd));
    }

    let rootfs = object_at(root, "rootfs");
    rootfs.insert("type".into(), json!("layers"));
    let diff_ids = array_at(rootfs, "diff_ids");
    diff_ids.extend(layers.iter().map(|l| json!(l.diff_id.to_string())));

    let history = array_at(root, "history");
    for layer in layers {
        history.push(json!({
            "created": created,
            "created_by": "rko append",
            "comment": format!("layer {}", layer.digest),
        }));
    }
    config
}

fn object_at<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = parent.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

fn array_at<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = parent.entry(key).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("made an array above")
}

fn get_env(runtime: &Map<String, Value>, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    runtime
        .get("Env")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string))
}

/// Replaces `KEY=...` where it stands, or appends it.
fn set_env(runtime: &mut Map<String, Value>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    let entry = json!(format!("{key}={value}"));
    let env = array_at(runtime, "Env");
    match env
        .iter()
        .position(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix)))
    {
        Some(i) => env[i] = entry,
        None => env.push(entry),
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ];
        for (seconds, want) in cases {
            assert_eq!(rfc3339(seconds), want);
        }
    }

    #[test]
    fn ko_app_sets_entrypoint_clears_cmd_and_extends_path() {
        let base = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin", "A=1"], "Cmd": ["sh"], "Healthcheck": {"Test": ["NONE"]}},
        });
        let edits = ConfigEdits {
            ko_app: Some("hello".into()),
            env: vec![("A".into(), "2".into())],
            ..Default::default()
        };
        let config = apply(base, &edits, &[]);
        let runtime = &config["config"];
        assert_eq!(runtime["Entrypoint"], json!(["/ko-app/hello"]));
        assert!(runtime.get("Cmd").is_none());
        assert_eq!(
            runtime["Env"],
            json!([
                "PATH=/usr/bin:/bin:/ko-app",
                "A=2",
                "KO_DATA_PATH=/var/run/ko"
            ])
        );
        assert_eq!(
            runtime["Healthcheck"],
            json!({"Test": ["NONE"]}),
            "unknown fields survive"
        );
    }

    #[test]
    fn ko_app_on_a_base_without_path_sets_one() {
        let edits = ConfigEdits {
            ko_app: Some("app".into()),
            ..Default::default()
        };
        let config = apply(empty(&Platform::default_target()), &edits, &[]);
        assert_eq!(config["config"]["Env"][0], json!("PATH=/ko-app"));
    }
}
