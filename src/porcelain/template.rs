//! The part of Go's text/template that `.ko.yaml` values use, as in ko:
//! `{{.Env.NAME}}`, `{{.Git.ShortCommit}}` (and the other `.Git` fields),
//! `{{.Date}}`, `{{.Timestamp}}`. Anything else is an error naming it.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What templates can refer to; the command layer gathers it.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    pub env: BTreeMap<String, String>,
    pub git: GitInfo,
    /// RFC 3339 build time.
    pub date: String,
    /// Unix seconds of the build time.
    pub timestamp: String,
}

/// ko's `.Git` fields.
#[derive(Debug, Clone, Default)]
pub struct GitInfo {
    pub branch: String,
    pub tag: String,
    pub short_commit: String,
    pub full_commit: String,
    pub commit_date: String,
    pub commit_timestamp: String,
    pub tree_state: String,
    pub is_dirty: bool,
    pub is_clean: bool,
}

impl GitInfo {
    /// Asks git about the repository holding `dir`; outside a repository
    /// (or without git) every field is empty, as in ko.
    pub fn read(dir: &Path) -> GitInfo {
        let git = |args: &[&str]| -> String {
            Command::new("git")
                .args(args)
                .current_dir(dir)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let log = git(&["log", "-1", "--format=%H%n%h%n%cI%n%ct"]);
        let mut lines = log.lines().map(str::to_string);
        let (Some(full_commit), Some(short_commit), Some(commit_date), Some(commit_timestamp)) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return GitInfo::default();
        };
        let dirty = !git(&["status", "--porcelain"]).is_empty();
        GitInfo {
            branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]),
            tag: git(&["describe", "--tags", "--abbrev=0"]),
            short_commit,
            full_commit,
            commit_date,
            commit_timestamp,
            tree_state: if dirty { "dirty" } else { "clean" }.to_string(),
            is_dirty: dirty,
            is_clean: !dirty,
        }
    }

    fn field(&self, name: &str) -> Option<String> {
        Some(match name {
            "Branch" => self.branch.clone(),
            "Tag" => self.tag.clone(),
            "ShortCommit" => self.short_commit.clone(),
            "FullCommit" => self.full_commit.clone(),
            "CommitDate" => self.commit_date.clone(),
            "CommitTimestamp" => self.commit_timestamp.clone(),
            "TreeState" => self.tree_state.clone(),
            "IsDirty" => self.is_dirty.to_string(),
            "IsClean" => self.is_clean.to_string(),
            _ => return None,
        })
    }
}

/// Renders `text`; `context` (such as `.ko.yaml builds[0].ldflags`) names
/// where it came from in errors.
pub fn render(text: &str, data: &TemplateData, context: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            Error::invalid(format!(
                "{context}: template {:?} has no closing }}}}",
                &rest[start..]
            ))
        })?;
        let action = &after[..end];
        let expression = action.trim_start_matches('-').trim_end_matches('-').trim();
        out.push_str(&evaluate(expression, data).ok_or_else(|| {
            Error::invalid(format!(
                "{context}: bad template {{{{{action}}}}}: rko knows .Env.NAME, .Git.{{Branch,Tag,ShortCommit,FullCommit,CommitDate,CommitTimestamp,TreeState,IsDirty,IsClean}}, .Date and .Timestamp"
            ))
        })?);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(Error::invalid(format!(
            "{context}: template {text:?} has a }}}} with no opening {{{{"
        )));
    }
    out.push_str(rest);
    Ok(out)
}

fn evaluate(expression: &str, data: &TemplateData) -> Option<String> {
    let path = expression.strip_prefix('.')?;
    let mut parts = path.split('.');
    let value = match (parts.next()?, parts.next(), parts.next()) {
        ("Env", Some(name), None) if !name.is_empty() => {
            data.env.get(name).cloned().unwrap_or_default()
        }
        ("Git", Some(field), None) => data.git.field(field)?,
        ("Date", None, None) => data.date.clone(),
        ("Timestamp", None, None) => data.timestamp.clone(),
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> TemplateData {
        TemplateData {
            env: [("VERSION".to_string(), "1.2.3".to_string())].into(),
            git: GitInfo {
                short_commit: "abc1234".into(),
                ..Default::default()
            },
            date: "2023-11-14T22:13:20Z".into(),
            timestamp: "1700000000".into(),
        }
    }

    #[test]
    fn templates_render_or_name_the_bad_part() {
        let cases = [
            (
                "-X main.version={{.Env.VERSION}}",
                Ok("-X main.version=1.2.3"),
            ),
            (
                "{{ .Git.ShortCommit }}-{{.Timestamp}}",
                Ok("abc1234-1700000000"),
            ),
            ("{{- .Date -}}", Ok("2023-11-14T22:13:20Z")),
            ("{{.Env.MISSING}}x", Ok("x")),
            ("plain", Ok("plain")),
            ("{{.Git.Nope}}", Err("bad template {{.Git.Nope}}")),
            ("{{.Env}}", Err("bad template {{.Env}}")),
            ("{{ printf \"x\" }}", Err("bad template")),
            ("{{.Date", Err("no closing")),
            ("x }}", Err("no opening")),
        ];
        for (input, want) in cases {
            match (render(input, &data(), "ldflags"), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
