//! How `rko build` names images, as ko does: `KO_DOCKER_REPO` plus a name
//! from the import path, and the reference it prints. Both building (for
//! the SBOM's image name) and publishing use these rules.

use md5::{Digest as _, Md5};
use oci_spec::image::Digest;
use std::path::Path;

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

/// The image name for `import_path` under `repo`. As ko's publishers do
/// (a repository name has no upper case), the import path is lower-cased
/// first, and the md5 is that of the lower-cased path: `./cmd/Upper` is
/// `upper-<md5 of …/cmd/upper>`.
pub fn image_name(repo: &str, import_path: &str, naming: Naming) -> String {
    let import_path = import_path.to_lowercase();
    let base = import_path.rsplit('/').next().unwrap_or(&import_path);
    match naming {
        Naming::Default => {
            let hash = hex::encode(Md5::digest(import_path.as_bytes()));
            format!("{repo}/{base}-{hash}")
        }
        Naming::BaseImportPaths => format!("{repo}/{base}"),
        Naming::PreserveImportPaths => format!("{repo}/{import_path}"),
        Naming::Bare => repo.to_string(),
    }
}

/// The publisher whose answer ko prints for an image: the last of its
/// MultiPublisher (layout, then tarball, then registry), else, with none
/// of them, its `nopPublisher`. (Loading into a daemon or a kind cluster
/// prints `local_reference`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printer<'a> {
    /// Pushed: ko's `defalt` publisher.
    Registry,
    /// `--tarball` without a push.
    Tarball,
    /// `--oci-layout-path` alone: the layout as given, `DIR@digest`.
    Layout(&'a Path),
    /// `--push=false` and nowhere to write.
    Nothing,
}

/// What ko prints for an image (pkg/publish, pkg/commands/resolver.go):
/// - pushed or in a tarball: `name:tag@digest` for a single tag that is
///   not `latest` (a release), else `name@digest`; pushed with
///   `--tag-only`, `name:tag`;
/// - in a layout alone: `DIR@digest`;
/// - published nowhere: `name:<first tag>@digest` (`latest` too),
///   `name@digest` without tags, `name:<first tag>` with `--tag-only`.
pub fn printed_reference(
    name: &str,
    tags: &[String],
    digest: &Digest,
    tag_only: bool,
    printer: Printer,
) -> String {
    match (printer, tags) {
        (Printer::Registry, [tag, ..]) if tag_only => format!("{name}:{tag}"),
        (Printer::Registry | Printer::Tarball, [tag]) if tag != "latest" => {
            format!("{name}:{tag}@{digest}")
        }
        (Printer::Registry | Printer::Tarball, _) => format!("{name}@{digest}"),
        (Printer::Layout(dir), _) => format!("{}@{digest}", dir.display()),
        (Printer::Nothing, [tag, ..]) if tag_only => format!("{name}:{tag}"),
        (Printer::Nothing, [tag, ..]) => format!("{name}:{tag}@{digest}"),
        (Printer::Nothing, []) => format!("{name}@{digest}"),
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
    fn upper_case_import_paths_are_named_in_lower_case() {
        // md5("example.com/app/cmd/upper"), as ko v0.19.1 names ./cmd/Upper.
        let ip = "example.com/app/cmd/Upper";
        for (naming, want) in [
            (
                Naming::Default,
                "r.io/me/upper-f0d659856a45784ded3c101c9e2076b2",
            ),
            (Naming::BaseImportPaths, "r.io/me/upper"),
            (
                Naming::PreserveImportPaths,
                "r.io/me/example.com/app/cmd/upper",
            ),
            (Naming::Bare, "r.io/me"),
        ] {
            assert_eq!(image_name("r.io/me", ip, naming), want, "{naming:?}");
        }
    }

    #[test]
    fn printed_references_follow_ko() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let dir = Path::new("./out/layout/");
        use Printer::*;
        // What ko v0.19.1 printed for each, as `ko build -B ./cmd/app`.
        let cases: &[(Printer, &[&str], bool, &str)] = &[
            (Registry, &["latest"], false, "r/a@D"),
            (Registry, &["v1"], false, "r/a:v1@D"),
            (Registry, &["v1", "v2"], false, "r/a@D"),
            (Registry, &["latest", "v1"], false, "r/a@D"),
            (Registry, &[], false, "r/a@D"),
            (Registry, &["v1"], true, "r/a:v1"),
            (Tarball, &["latest"], false, "r/a@D"),
            (Tarball, &["v1"], false, "r/a:v1@D"),
            (Tarball, &["v1"], true, "r/a:v1@D"),
            (Tarball, &["v1", "v2"], false, "r/a@D"),
            (Layout(dir), &["v1"], false, "./out/layout/@D"),
            (Layout(dir), &["latest"], true, "./out/layout/@D"),
            (Nothing, &["latest"], false, "r/a:latest@D"),
            (Nothing, &["a", "b"], false, "r/a:a@D"),
            (Nothing, &[], false, "r/a@D"),
            (Nothing, &["latest"], true, "r/a:latest"),
            (Nothing, &["v1", "v2"], true, "r/a:v1"),
        ];
        for (printer, tags, tag_only, want) in cases {
            let tags: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                printed_reference("r/a", &tags, &d, *tag_only, *printer),
                want.replace('D', d.as_ref()),
                "{printer:?} {tags:?} tag_only={tag_only}"
            );
        }
        assert_eq!(
            local_reference("ko.local/a", &d),
            "ko.local/a:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
