//! The repository whose state Go stamps into a binary (`vcs.revision`,
//! `vcs.time`, `vcs.modified`; cmd/go/internal/load `setBuildInfo`), found
//! and read as Go does, so that a fingerprint can hold that state too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository Go would stamp from `dir`, and its VCS: the nearest
/// directory holding a VCS's marker, as cmd/go/internal/vcs `FromDir`
/// finds it (markers checked in its `vcsList` order). Go wants `.git` to
/// be a directory; rko takes a `.git` file (a linked work tree) too, as a
/// later Go might, which only costs a `git status`.
pub fn root(dir: &Path) -> Option<(PathBuf, &'static str)> {
    const MARKERS: [(&str, &str); 6] = [
        (".hg", "hg"),
        (".git", "git"),
        (".svn", "svn"),
        (".bzr", "bzr"),
        (".fslckout", "fossil"),
        ("_FOSSIL_", "fossil"),
    ];
    dir.ancestors().find_map(|d| {
        MARKERS
            .iter()
            .find(|(marker, _)| d.join(marker).symlink_metadata().is_ok())
            .map(|(_, vcs)| (d.to_path_buf(), *vcs))
    })
}

/// What Go stamps from a git repository (cmd/go/internal/vcs `gitStatus`):
/// whether `git status --porcelain` says anything, and the last commit's
/// hash and time; or that git is not there (Go then stamps nothing).
pub fn state(root: &Path) -> String {
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(root).output();
    let status = match git(&["status", "--porcelain"]) {
        Ok(out) if out.status.success() => format!("uncommitted={}", !out.stdout.is_empty()),
        Ok(out) => format!("status failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return "no git".to_string(),
        Err(e) => format!("status failed: {e}"),
    };
    let log = match git(&[
        "-c",
        "log.showsignature=false",
        "log",
        "-1",
        "--format=%H:%ct",
    ]) {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => "no commit".to_string(),
    };
    format!("{status} {}", log.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cmd/go/internal/vcs `FromDir` with nesting allowed: the nearest
    /// directory with a marker; in one directory, the first of `vcsList`.
    #[test]
    fn the_nearest_marker_names_the_repository() {
        // (markers, each a path and whether it is a directory; where Go
        // starts; the repository and its VCS)
        type Markers = &'static [(&'static str, bool)];
        type Found = Option<(&'static str, &'static str)>;
        let cases: [(Markers, &str, Found); 5] = [
            (&[], "a/b", None),
            (&[(".git", true)], "a/b", Some((".", "git"))),
            (
                &[(".git", true), ("a/.git", false)],
                "a/b",
                Some(("a", "git")),
            ),
            (&[(".svn", true), ("a/.hg", true)], "a/b", Some(("a", "hg"))),
            (
                &[("a/.git", true), ("a/.hg", true)],
                "a/b",
                Some(("a", "hg")),
            ),
        ];
        for (markers, start, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join(start)).unwrap();
            for (marker, is_dir) in markers {
                let path = dir.path().join(marker);
                if *is_dir {
                    std::fs::create_dir_all(path).unwrap();
                } else {
                    std::fs::write(path, "gitdir: elsewhere\n").unwrap();
                }
            }
            let got = root(&dir.path().join(start));
            let want = want.map(|(d, vcs)| (dir.path().join(d), vcs));
            let normalize = |p: PathBuf| p.components().collect::<PathBuf>();
            assert_eq!(
                got.map(|(p, v)| (normalize(p), v)),
                want.map(|(p, v)| (normalize(p), v)),
                "{markers:?}"
            );
        }
    }
}
