//! What an image is expected to be (the EXPECT.json `check-image` reads),
//! and the comparison of an image's config and file tree against it: one
//! line per expectation, each saying what was wanted and what was found.

use super::tree::Tree;
use crate::image::layer::listing::{image_path, EntryKind, ListedEntry};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// EXPECT.json. Every field is optional: only what is given is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectations {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Each variable given must have this value (others may be set too).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Each label given must have this value (others may be set too).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The exact set of exposed ports (`8080/tcp`), in any order.
    pub exposed_ports: Option<Vec<String>>,
    /// Paths that must exist, with what is given of their metadata.
    #[serde(default)]
    pub files: BTreeMap<String, FileExpectation>,
    /// Paths that must not exist.
    #[serde(default)]
    pub absent: Vec<String>,
}

impl Expectations {
    /// Whether checking needs the image's file tree.
    pub fn needs_files(&self) -> bool {
        !self.files.is_empty() || !self.absent.is_empty()
    }
}

/// What a path must be; only the fields given are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExpectation {
    /// Octal permission bits: `"0555"`.
    pub mode: Option<String>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    #[serde(rename = "type")]
    pub kind: Option<EntryKind>,
    /// A symlink's or hardlink's target.
    pub link: Option<String>,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ok: bool,
    pub text: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{status} {}", self.text)
    }
}

/// Compares the image `config` (the whole config JSON) and its file tree
/// with `expect`, in a fixed order: config fields, then files, then
/// absent paths.
pub fn compare(config: &Value, tree: &Tree, expect: &Expectations) -> Vec<Line> {
    let mut lines = Vec::new();
    let fields = config.get("config").unwrap_or(&Value::Null);
    let strings = |name: &str| -> Vec<String> {
        match fields.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => Vec::new(),
        }
    };
    let string = |name: &str| {
        let got = fields.get(name).and_then(Value::as_str).unwrap_or("");
        format!("{got:?}")
    };
    let mut field = |name: &str, want: String, got: String| {
        lines.push(same(name.to_string(), want, got));
    };
    if let Some(want) = &expect.entrypoint {
        field(
            "entrypoint",
            format!("{want:?}"),
            format!("{:?}", strings("Entrypoint")),
        );
    }
    if let Some(want) = &expect.cmd {
        field("cmd", format!("{want:?}"), format!("{:?}", strings("Cmd")));
    }
    if let Some(want) = &expect.user {
        field("user", format!("{want:?}"), string("User"));
    }
    if let Some(want) = &expect.workdir {
        field("workdir", format!("{want:?}"), string("WorkingDir"));
    }
    let env: BTreeMap<String, String> = strings("Env")
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    for (key, want) in &expect.env {
        field(
            &format!("env {key}"),
            format!("{want:?}"),
            quoted(env.get(key)),
        );
    }
    let labels = fields.get("Labels").and_then(Value::as_object);
    for (key, want) in &expect.labels {
        let got = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        field(&format!("label {key}"), format!("{want:?}"), quoted(got));
    }
    if let Some(want) = &expect.exposed_ports {
        let mut want = want.clone();
        want.sort();
        let got: Vec<&String> = fields
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .map(|ports| ports.keys().collect())
            .unwrap_or_default();
        field("exposedPorts", format!("{want:?}"), format!("{got:?}"));
    }
    for (path, want) in &expect.files {
        lines.extend(compare_file(path, tree.get(&image_path(path)), want));
    }
    for path in &expect.absent {
        lines.push(match tree.get(&image_path(path)) {
            None => pass(format!("{path} absent")),
            Some(got) => fail(format!("{path}: want absent, got {}", describe(got))),
        });
    }
    lines
}

fn compare_file(path: &str, got: Option<&ListedEntry>, want: &FileExpectation) -> Vec<Line> {
    let Some(got) = got else {
        return vec![fail(format!("{path}: want present, got absent"))];
    };
    let mut lines = Vec::new();
    if let Some(mode) = &want.mode {
        // "555" and "0555" are the same mode.
        let same_mode = u32::from_str_radix(mode, 8).ok() == u32::from_str_radix(&got.mode, 8).ok();
        let (want, got) = (mode.clone(), got.mode.clone());
        lines.push(if same_mode {
            pass(format!("{path} mode {got}"))
        } else {
            fail(format!("{path} mode: want {want}, got {got}"))
        });
    }
    if let Some(uid) = want.uid {
        lines.push(same(
            format!("{path} uid"),
            uid.to_string(),
            got.uid.to_string(),
        ));
    }
    if let Some(gid) = want.gid {
        lines.push(same(
            format!("{path} gid"),
            gid.to_string(),
            got.gid.to_string(),
        ));
    }
    if let Some(kind) = want.kind {
        lines.push(same(
            format!("{path} type"),
            kind.to_string(),
            got.kind.to_string(),
        ));
    }
    if let Some(link) = &want.link {
        lines.push(same(
            format!("{path} link"),
            format!("{link:?}"),
            quoted(got.link.as_deref()),
        ));
    }
    if lines.is_empty() {
        lines.push(pass(format!("{path} present ({})", describe(got))));
    }
    lines
}

/// `file 0555 0:0`, `symlink -> target`.
fn describe(entry: &ListedEntry) -> String {
    match &entry.link {
        Some(link) => format!("{} -> {link}", entry.kind),
        None => format!("{} {} {}:{}", entry.kind, entry.mode, entry.uid, entry.gid),
    }
}

fn quoted(value: Option<impl AsRef<str>>) -> String {
    match value {
        Some(v) => format!("{:?}", v.as_ref()),
        None => "(unset)".to_string(),
    }
}

fn same(name: String, want: String, got: String) -> Line {
    if want == got {
        pass(format!("{name} {got}"))
    } else {
        fail(format!("{name}: want {want}, got {got}"))
    }
}

fn pass(text: String) -> Line {
    Line { ok: true, text }
}

fn fail(text: String) -> Line {
    Line { ok: false, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> (Value, Tree) {
        let config = json!({"config": {
            "Entrypoint": ["/ko-app/hello"],
            "Env": ["PATH=/usr/bin:/ko-app", "KO_DATA_PATH=/var/run/ko"],
            "User": "65532",
            "Labels": {"team": "a"},
            "ExposedPorts": {"8080/tcp": {}}
        }});
        let mut tree = Tree::default();
        let mut link = ListedEntry::new("bin/sh", EntryKind::Symlink, 0o777, 0, 0, 0);
        link.link = Some("/bin/busybox".into());
        tree.apply(&[
            ListedEntry::new("ko-app", EntryKind::Dir, 0o555, 0, 0, 0),
            ListedEntry::new("ko-app/hello", EntryKind::File, 0o555, 0, 0, 9),
            link,
        ]);
        (config, tree)
    }

    #[test]
    fn every_expectation_gives_one_line_saying_want_and_got() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{}"#, &[]),
            (
                r#"{"entrypoint": ["/ko-app/hello"]}"#,
                &["ok   entrypoint [\"/ko-app/hello\"]"],
            ),
            (
                r#"{"entrypoint": ["/x"]}"#,
                &["FAIL entrypoint: want [\"/x\"], got [\"/ko-app/hello\"]"],
            ),
            (r#"{"cmd": []}"#, &["ok   cmd []"]),
            (
                r#"{"user": "0"}"#,
                &["FAIL user: want \"0\", got \"65532\""],
            ),
            (r#"{"workdir": ""}"#, &["ok   workdir \"\""]),
            (
                r#"{"env": {"KO_DATA_PATH": "/var/run/ko", "HOME": "/"}}"#,
                &[
                    "FAIL env HOME: want \"/\", got (unset)",
                    "ok   env KO_DATA_PATH \"/var/run/ko\"",
                ],
            ),
            (
                r#"{"labels": {"team": "b"}}"#,
                &["FAIL label team: want \"b\", got \"a\""],
            ),
            (
                r#"{"exposedPorts": ["8080/tcp"]}"#,
                &["ok   exposedPorts [\"8080/tcp\"]"],
            ),
            (
                r#"{"files": {"/ko-app/hello": {"mode": "0444", "uid": 0, "gid": 1, "type": "file"}}}"#,
                &[
                    "FAIL /ko-app/hello mode: want 0444, got 0555",
                    "ok   /ko-app/hello uid 0",
                    "FAIL /ko-app/hello gid: want 1, got 0",
                    "ok   /ko-app/hello type file",
                ],
            ),
            (
                r#"{"files": {"/ko-app/hello": {"mode": "555"}}}"#,
                &["ok   /ko-app/hello mode 0555"],
            ),
            (
                r#"{"files": {"/ko-app": {}}}"#,
                &["ok   /ko-app present (dir 0555 0:0)"],
            ),
            (
                r#"{"files": {"/etc/passwd": {}}}"#,
                &["FAIL /etc/passwd: want present, got absent"],
            ),
            (
                r#"{"files": {"/bin/sh": {"link": "/bin/bash"}}}"#,
                &["FAIL /bin/sh link: want \"/bin/bash\", got \"/bin/busybox\""],
            ),
            (
                r#"{"absent": ["/bin/sh", "/etc"]}"#,
                &[
                    "FAIL /bin/sh: want absent, got symlink -> /bin/busybox",
                    "ok   /etc absent",
                ],
            ),
        ];
        let (config, tree) = image();
        for (expect, want) in cases {
            let expectations: Expectations = serde_json::from_str(expect).unwrap();
            let got: Vec<String> = compare(&config, &tree, &expectations)
                .iter()
                .map(Line::to_string)
                .collect();
            assert_eq!(got, *want, "{expect}");
        }
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let err = serde_json::from_str::<Expectations>(r#"{"entrypiont": []}"#).unwrap_err();
        assert!(err.to_string().contains("entrypiont"), "{err}");
    }
}
