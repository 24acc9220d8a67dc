//! The image configuration (image-spec `config.md`) and the edits `append`
//! makes to it.
//!
//! The config is edited as a JSON object rather than through a typed struct:
//! a base image's config may carry fields no OCI type models (Docker's
//! `Healthcheck`, `OnBuild`, `ArgsEscaped`, ...) and rko must keep them, as
//! ko and crane do. Keys come out sorted (see `json.rs`).

use crate::error::{Error, Result};
use crate::image::descriptor::LayerDescriptor;
use crate::image::platform::Platform;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::Path;

/// ko's conventions for a Go binary at `/ko-app/NAME`.
pub const KO_APP_DIR: &str = "/ko-app";
pub const KO_DATA_PATH: &str = "/var/run/ko";
/// The same in a Windows image (ko: pkg/build/gobuild.go, buildOne).
const KO_APP_DIR_WINDOWS: &str = "C:\\ko-app";
const KO_DATA_PATH_WINDOWS: &str = "C:\\var\\run\\ko";

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
    /// The config's `author`.
    pub author: Option<String>,
    /// One entry per added layer, in order; empty: `rko append`'s own.
    pub history: Vec<History>,
}

/// The `history` entry of one added layer (image-spec `config.md`). A field
/// left out is not written, except `created`, which defaults to the
/// image's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub author: Option<String>,
    /// Seconds since the epoch; negative before it (ko dates kodata at
    /// Go's zero time, [`GO_ZERO_TIME`], without `KO_DATA_DATE_EPOCH`).
    pub created: Option<i64>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
}

impl History {
    /// Reads a JSON array of entries, one for each of the `layers` added.
    pub fn read_file(path: &Path, layers: usize) -> Result<Vec<History>> {
        let entries: Vec<History> = crate::json::read_file(path, "history entries")?;
        if entries.len() != layers {
            return Err(Error::file(
                path,
                format!(
                    "lists {} entries for {layers} --layer flags: give one entry per layer, in order",
                    entries.len()
                ),
            ));
        }
        Ok(entries)
    }

    fn to_json(&self, image_created: u64) -> Value {
        let mut entry = Map::new();
        let created = match self.created {
            Some(seconds) => rfc3339_signed(seconds),
            None => rfc3339(image_created),
        };
        entry.insert("created".into(), json!(created));
        let fields = [
            ("author", &self.author),
            ("created_by", &self.created_by),
            ("comment", &self.comment),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                entry.insert(key.into(), json!(value));
            }
        }
        Value::Object(entry)
    }
}

/// The entry `append` writes for a layer when it is given none.
fn default_history(created: &str, layer: &LayerDescriptor) -> Value {
    json!({
        "created": created,
        "created_by": "rko append",
        "comment": format!("layer {}", layer.digest),
    })
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
    if let Some(author) = &edits.author {
        config["author"] = json!(author);
    }
    let windows = config["os"] == "windows";
    let root = config.as_object_mut().expect("made an object above");
    let runtime = object_at(root, "config");

    if let Some(name) = &edits.ko_app {
        let (app_dir, entrypoint, data_path) = if windows {
            let entrypoint = format!("{KO_APP_DIR_WINDOWS}\\{name}");
            (KO_APP_DIR_WINDOWS, entrypoint, KO_DATA_PATH_WINDOWS)
        } else {
            let entrypoint = format!("{KO_APP_DIR}/{name}");
            (KO_APP_DIR, entrypoint, KO_DATA_PATH)
        };
        runtime.insert("Entrypoint".into(), json!([entrypoint]));
        runtime.remove("Cmd");
        // ko's updatePath joins with `:` on Windows too.
        let path = match get_env(runtime, "PATH") {
            Some(path) if !path.is_empty() => format!("{path}:{app_dir}"),
            _ => app_dir.to_string(),
        };
        set_env(runtime, "PATH", &path);
        set_env(runtime, "KO_DATA_PATH", data_path);
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
    for (i, layer) in layers.iter().enumerate() {
        history.push(match edits.history.get(i) {
            Some(entry) => entry.to_json(edits.created),
            None => default_history(&created, layer),
        });
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

/// Go's zero `time.Time`, 0001-01-01T00:00:00Z, in seconds since the epoch.
pub const GO_ZERO_TIME: i64 = -62_135_596_800;

/// Seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(seconds: u64) -> String {
    rfc3339_signed(seconds as i64)
}

/// [`rfc3339`] of any second since year 1.
pub fn rfc3339_signed(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
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
            (-1, "1969-12-31T23:59:59Z"),
            (GO_ZERO_TIME, "0001-01-01T00:00:00Z"),
        ];
        for (seconds, want) in cases {
            assert_eq!(rfc3339_signed(seconds), want);
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

    // ko: pkg/build/gobuild.go, buildOne (the `platform.OS == "windows"`
    // branch) and updatePath.
    #[test]
    fn ko_app_on_a_windows_base_is_laid_out_as_ko_does() {
        let cases = [
            (
                json!(["PATH=C:\\Windows\\system32;C:\\Windows"]),
                "PATH=C:\\Windows\\system32;C:\\Windows:C:\\ko-app",
            ),
            (json!([]), "PATH=C:\\ko-app"),
        ];
        for (env, want_path) in cases {
            let base = json!({"os": "windows", "architecture": "amd64", "config": {"Env": env}});
            let edits = ConfigEdits {
                ko_app: Some("hello".into()),
                ..Default::default()
            };
            let runtime = apply(base, &edits, &[])["config"].clone();
            assert_eq!(runtime["Entrypoint"], json!(["C:\\ko-app\\hello"]));
            assert_eq!(
                runtime["Env"],
                json!([want_path, "KO_DATA_PATH=C:\\var\\run\\ko"])
            );
        }
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

    fn layer(hex: char) -> LayerDescriptor {
        let digest: oci_spec::image::Digest = format!("sha256:{}", hex.to_string().repeat(64))
            .parse()
            .unwrap();
        LayerDescriptor {
            media_type: oci_spec::image::MediaType::ImageLayerGzip,
            digest: digest.clone(),
            size: 1,
            diff_id: digest,
        }
    }

    #[test]
    fn history_entries_are_written_as_given_else_rko_appends_own() {
        let ko = |comment: &str, created: Option<i64>| History {
            author: Some("ko".into()),
            created,
            created_by: Some("ko build ko://x".into()),
            comment: Some(comment.into()),
        };
        let cases = [
            (
                vec![],
                json!([
                    {"created": "2023-11-14T22:13:20Z", "created_by": "rko append",
                     "comment": format!("layer sha256:{}", "a".repeat(64))},
                    {"created": "2023-11-14T22:13:20Z", "created_by": "rko append",
                     "comment": format!("layer sha256:{}", "b".repeat(64))},
                ]),
            ),
            (
                vec![
                    ko("kodata contents, at $KO_DATA_PATH", Some(1_600_000_000)),
                    ko("go build output, at /ko-app/x", None),
                ],
                json!([
                    {"author": "ko", "created": "2020-09-13T12:26:40Z",
                     "created_by": "ko build ko://x", "comment": "kodata contents, at $KO_DATA_PATH"},
                    {"author": "ko", "created": "2023-11-14T22:13:20Z",
                     "created_by": "ko build ko://x", "comment": "go build output, at /ko-app/x"},
                ]),
            ),
            (
                vec![History::default(), History::default()],
                json!([{"created": "2023-11-14T22:13:20Z"}, {"created": "2023-11-14T22:13:20Z"}]),
            ),
        ];
        for (history, want) in cases {
            let edits = ConfigEdits {
                created: 1_700_000_000,
                history: history.clone(),
                ..Default::default()
            };
            let config = apply(
                json!({"history": [{"created_by": "base"}]}),
                &edits,
                &[layer('a'), layer('b')],
            );
            let added = &config["history"].as_array().unwrap()[1..];
            assert_eq!(json!(added), want, "{history:?}");
            assert!(config.get("author").is_none());
        }
    }

    #[test]
    fn author_is_set_only_when_given() {
        let edits = ConfigEdits {
            author: Some("github.com/ko-build/ko".into()),
            ..Default::default()
        };
        let config = apply(json!({"author": "someone"}), &edits, &[]);
        assert_eq!(config["author"], json!("github.com/ko-build/ko"));
        let config = apply(json!({"author": "someone"}), &ConfigEdits::default(), &[]);
        assert_eq!(config["author"], json!("someone"), "the base's stays");
    }
}
