//! The provenance `rko build` attaches to each image it makes: the
//! statement from the binary's build information, the plan and the
//! repository, attached by [`crate::provenance::attach`].

use crate::error::Result;
use crate::image::platform::Platform;
use crate::porcelain::assemble::base_image::BaseImage;
use crate::porcelain::go::vcs;
use crate::porcelain::settings::plan::{PackagePlan, Settings};
use crate::provenance::statement::{self, Base, Inputs, Source};
use crate::sbom::buildinfo::BuildInfo;
use oci_spec::image::Digest;
use std::path::Path;

/// What one image was made of, for its statement.
pub struct Made<'a> {
    pub import_path: &'a str,
    /// The package's directory, where the repository is looked for.
    pub package_dir: &'a Path,
    pub platform: &'a Platform,
    pub plan: &'a PackagePlan,
    pub base: &'a BaseImage,
    pub build_info: &'a BuildInfo,
    /// The digest of `.ko.yaml`, when there is one.
    pub ko_yaml: Option<&'a Digest>,
}

/// The statement of the image `digest`, made as `made` says.
pub fn statement(settings: &Settings, made: &Made, digest: &Digest) -> Vec<u8> {
    let inputs = Inputs {
        image: digest,
        import_path: made.import_path,
        platform: made.platform.to_string(),
        base: Base {
            name: made.plan.base_image.clone(),
            digest: made.base.digest(),
        },
        build_info: made.build_info,
        flags: &made.plan.flags,
        ldflags: &made.plan.ldflags,
        env: &made.plan.env,
        ko_yaml: made.ko_yaml.cloned(),
        source_date_epoch: Some(settings.created),
        source: source(made.build_info, made.package_dir),
    };
    statement::generate(&inputs)
}

/// Attaches `statement` to the image `digest` in the layout at `layout`.
pub fn attach(settings: &Settings, layout: &Path, digest: &Digest, statement: &[u8]) -> Result<()> {
    let signer = settings.signer.as_deref();
    crate::provenance::attach::attach(layout, Some(digest), statement, signer, settings.created)?;
    Ok(())
}

/// The repository state: what Go stamped into the binary, else what git
/// says of the package's repository; none outside a git repository.
pub fn source(info: &BuildInfo, package_dir: &Path) -> Option<Source> {
    if let Some(stamped) = Source::stamped(info) {
        return Some(stamped);
    }
    let (root, "git") = vcs::root(package_dir)? else {
        return None;
    };
    parse_state(&vcs::state(&root))
}

/// [`vcs::state`]'s `uncommitted=BOOL HASH:TIME`.
fn parse_state(state: &str) -> Option<Source> {
    let (status, log) = state.split_once(' ')?;
    let uncommitted = status.strip_prefix("uncommitted=")?;
    let (revision, _) = log.split_once(':')?;
    Some(Source {
        revision: revision.to_string(),
        clean: uncommitted == "false",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_state_reads_as_a_source() {
        let cases = [
            ("uncommitted=false abc:17", Some(("abc", true))),
            ("uncommitted=true abc:17", Some(("abc", false))),
            ("uncommitted=false no commit", None),
            ("no git", None),
        ];
        for (state, want) in cases {
            let got = parse_state(state);
            let want = want.map(|(revision, clean)| Source {
                revision: revision.to_string(),
                clean,
            });
            assert_eq!(got, want, "{state}");
        }
    }
}
