//! How `rko build` names images, as ko does: `KO_DOCKER_REPO` plus a name
//! from the import path, and the reference it prints. Both building (for
//! the SBOM's image name) and publishing use these rules.

use md5::{Digest as _, Md5};
use oci_spec::image::Digest;

/// ko's repository for images loaded into the local daemon.
pub const LOCAL: &str = "ko.local";

/// ko's repository for images loaded into the nodes of a kind cluster.
pub const KIND: &str = "kind.local";

/// How an import path becomes an image name under the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `<repo>/<last element>-<md5 of the import path>`.
    Default,
    /// `-B`: `<repo>/<last element>`.
    BaseImportPaths,
    /// `-P`: `<repo>/<import path>`.
    PreserveImportPaths,
    /// `--bare`: `<repo>`.
    Bare,
}

/// The image name for `import_path` under `repo`.
pub fn image_name(repo: &str, import_path: &str, naming: Naming) -> String {
    let base = import_path.rsplit('/').next().unwrap_or(import_path);
    match naming {
        Naming::Default => {
            let hash = hex::encode(Md5::digest(import_path.as_bytes()));
            format!("{repo}/{base}-{hash}")
        }
        Naming::BaseImportPaths => format!("{repo}/{base}"),
        Naming::PreserveImportPaths => format!("{repo}/{}", import_path.to_lowercase()),
        Naming::Bare => repo.to_string(),
    }
}

/// What ko prints: `name@digest`, `name:tag@digest` for a single tag that
/// is not `latest`, and `name:tag` with `--tag-only`.
pub fn printed_reference(name: &str, tags: &[String], digest: &Digest, tag_only: bool) -> String {
    if tag_only {
        let tag = tags.first().map_or("latest", String::as_str);
        return format!("{name}:{tag}");
    }
    match tags {
        [tag] if tag != "latest" => format!("{name}:{tag}@{digest}"),
        _ => format!("{name}@{digest}"),
    }
}

/// What ko prints for an image loaded into the local daemon: the tag it
/// loads it under, `name:<hex of the image's digest>` (a daemon knows no
/// `name@digest` of its own images).
pub fn local_reference(name: &str, digest: &Digest) -> String {
    format!("{name}:{}", digest.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ko() {
        let ip = "github.com/example/app/cmd/server";
        let cases = [
            (Naming::Default, "r.io/me/server-"),
            (Naming::BaseImportPaths, "r.io/me/server"),
            (
                Naming::PreserveImportPaths,
                "r.io/me/github.com/example/app/cmd/server",
            ),
            (Naming::Bare, "r.io/me"),
        ];
        for (naming, want) in cases {
            let got = image_name("r.io/me", ip, naming);
            assert!(got.starts_with(want), "{naming:?}: {got}");
        }
        // md5("github.com/example/app/cmd/server"), as ko computes it.
        let default = image_name("r.io/me", ip, Naming::Default);
        assert_eq!(default.len(), "r.io/me/server-".len() + 32);
    }

    #[test]
    fn printed_references_follow_ko() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            printed_reference("r/a", &t(&["latest"]), &d, false),
            format!("r/a@{d}")
        );
        assert_eq!(
            printed_reference("r/a", &t(&["v1"]), &d, false),
            format!("r/a:v1@{d}")
        );
        assert_eq!(
            printed_reference("r/a", &t(&["v1", "v2"]), &d, false),
            format!("r/a@{d}")
        );
        assert_eq!(printed_reference("r/a", &t(&["v1"]), &d, true), "r/a:v1");
        assert_eq!(
            local_reference("ko.local/a", &d),
            "ko.local/a:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
