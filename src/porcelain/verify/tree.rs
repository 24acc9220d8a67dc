//! Whether the working tree is what the provenance says the image was
//! built from: at the recorded revision, with nothing uncommitted.

use crate::porcelain::go::vcs;
use crate::provenance::statement::Source;
use std::path::Path;
use std::process::Command;

/// What differs between the working tree at `dir` and `recorded`, in
/// words; empty when nothing does.
pub fn differences(dir: &Path, recorded: Option<&Source>) -> Vec<String> {
    let Some(recorded) = recorded else {
        return Vec::new();
    };
    let Some((root, "git")) = vcs::root(dir) else {
        return vec![format!(
            "the image was built at git revision {}, and {} is not in a git repository",
            recorded.revision,
            dir.display()
        )];
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    };
    let mut said = Vec::new();
    let head = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    if head != recorded.revision {
        said.push(format!(
            "the working tree is at revision {head}, the image was built at {}",
            recorded.revision
        ));
    }
    let status = git(&["status", "--porcelain"]).unwrap_or_default();
    if !status.is_empty() {
        let files: Vec<&str> = status.lines().map(str::trim).collect();
        said.push(format!(
            "the working tree has uncommitted changes: {}",
            files.join(", ")
        ));
    }
    if !recorded.clean {
        said.push("the image was built from a tree with uncommitted changes".to_string());
    }
    said
}
