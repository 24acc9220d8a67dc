//! Where images go and what they are called, from the flags and the
//! environment, as ko decides it: `KO_DOCKER_REPO` (or `ko.local`,
//! `kind.local`), `-L`, `--push`, `--tarball`, the naming flags, tags,
//! and which registries may be reached insecurely. Part of [`super::plan`]'s
//! precedence; its table test covers these rules.

use super::env::{var, Env};
use super::flags::{Flags, NamingFlags, PublishFlags};
use crate::error::{Error, Result};
use crate::image::platform::Platform;
use crate::porcelain::publish::naming::{Naming, KIND, LOCAL};
use crate::porcelain::publish::{Destinations, Publishing};
use crate::registry::reference::check_repository_name;

/// ko's namer (`MakeNamer`): `-P` over `-B` over `--bare` over the
/// default (md5) naming.
pub fn naming(flags: NamingFlags) -> Naming {
    match flags {
        NamingFlags {
            preserve_import_paths: true,
            ..
        } => Naming::PreserveImportPaths,
        NamingFlags {
            base_import_paths: true,
            ..
        } => Naming::BaseImportPaths,
        NamingFlags { bare: true, .. } => Naming::Bare,
        _ => Naming::Default,
    }
}

/// ko's `Validate` warns when `-B` and `--bare` are both set (`-B` wins).
pub fn naming_warnings(flags: NamingFlags) -> Vec<String> {
    if flags.base_import_paths && flags.bare {
        vec!["both --base-import-paths (-B) and --bare were set: \
              --base-import-paths wins and --bare is ignored, as in ko"
            .to_string()]
    } else {
        Vec::new()
    }
}

/// Whether a `KO_DOCKER_REPO` is under `ko.local`, the local daemon. (ko
/// takes any name that starts with `ko.local`, `ko.localhost:5000` too.)
pub fn is_local(repository: &str) -> bool {
    repository == LOCAL || repository.starts_with(&format!("{LOCAL}/"))
}

/// Whether a `KO_DOCKER_REPO` is under `kind.local`, the nodes of a kind
/// cluster; as with `ko.local`, `kind.localhost:5000` is a registry (ko
/// takes any name that starts with `kind.local`).
pub fn is_kind(repository: &str) -> bool {
    repository == KIND || repository.starts_with(&format!("{KIND}/"))
}

/// The kind cluster a `kind.local` repository loads into: `KIND_CLUSTER_NAME`,
/// else `kind` (ko's `getNodes`, kind's `cluster.DefaultName`).
fn kind_cluster(env: &Env) -> String {
    var(env, "KIND_CLUSTER_NAME").unwrap_or("kind").to_string()
}

/// The repository (`KO_DOCKER_REPO`) and the destinations: `-L` or a
/// `KO_DOCKER_REPO` under `ko.local` loads into the local daemon (ko's
/// `makePublisher`), the repository naming the images either way; else
/// one under `kind.local` loads into a kind cluster, `--push` or not;
/// anything else pushes to the repository unless `--push=false`.
pub fn publishing(flags: &Flags, env: &Env) -> Result<Publishing> {
    let publish = &flags.publish;
    let repo = var(env, "KO_DOCKER_REPO");
    let local = publish.local || repo.is_some_and(is_local);
    let kind = (!local && repo.is_some_and(is_kind)).then(|| kind_cluster(env));
    if publish.push
        && repo.is_none()
        && !local
        && publish.oci_layout_path.is_none()
        && publish.tarball.is_none()
    {
        return Err(Error::invalid(
            "no destination: set KO_DOCKER_REPO to a registry repository (or ko.local), \
             or pass -L, --oci-layout-path DIR, --tarball FILE, or --push=false",
        ));
    }
    // As ko's makePublisher, before anything is built.
    if let Some(repo) = repo.filter(|_| !local && kind.is_none()) {
        check_repository_name(repo).map_err(|e| match e {
            Error::BadReference { message, .. } => Error::invalid(format!(
                "KO_DOCKER_REPO={repo:?} is not a repository: {message}; \
                 set it to REGISTRY[/PATH], such as ghcr.io/you/apps"
            )),
            other => other,
        })?;
    }
    let registry = publish.push && !local && kind.is_none() && repo.is_some();
    let written = publish.oci_layout_path.is_some() || publish.tarball.is_some();
    if publish.tag_only && publish.tags.is_empty() && !registry && !local && !written {
        // ko's nopPublisher prints name:<first tag>.
        return Err(Error::invalid(
            "--tag-only without a tag: give the tag to print with -t",
        ));
    }
    Ok(Publishing {
        repository: repo.unwrap_or(LOCAL).to_string(),
        naming: naming(flags.naming),
        tags: tags(publish, registry)?,
        tag_only: publish.tag_only,
        to: Destinations {
            registry,
            local,
            kind,
            layout: publish.oci_layout_path.clone(),
            tarball: publish.tarball.clone(),
            image_refs: publish.image_refs.clone(),
        },
        daemon_platform: daemon_platform(env),
    })
}

/// The image of an index the local daemon gets, as ko's daemon publisher
/// picks it: GOOS (else linux) and GOARCH (else amd64).
pub fn daemon_platform(env: &Env) -> Platform {
    let os = var(env, "GOOS").unwrap_or("linux");
    let arch = var(env, "GOARCH").unwrap_or("amd64");
    Platform::new(os, arch, None)
}

/// The tags, each once in the order given (ko's `unique`). With
/// `--tag-only` and a push, exactly one, and not `latest`: ko's publisher
/// (`defaultOpener.Open`) refuses both, as a tag-only reference must name
/// one release. Without a push ko prints the first tag, whatever it is.
pub fn tags(publish: &PublishFlags, pushing: bool) -> Result<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    for tag in &publish.tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    if pushing && tags.is_empty() {
        // ko would print a digest it never pushed.
        return Err(Error::invalid(
            "--tags is empty: a push needs at least one tag (the default is latest)",
        ));
    }
    if publish.tag_only && pushing {
        match tags.as_slice() {
            [tag] if tag == "latest" => {
                return Err(Error::invalid(
                    "--tag-only: the latest tag cannot be used in tag-only references: \
                     pass one release tag with -t",
                ))
            }
            [_] => {}
            _ => {
                return Err(Error::invalid(format!(
                    "--tag-only with --tags {}: must specify exactly one tag to resolve \
                     images into tag-only references",
                    tags.join(",")
                )))
            }
        }
    }
    Ok(tags)
}
