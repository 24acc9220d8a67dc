//! `KO_DOCKER_REPO=kind.local`: loading an image into the nodes of a kind
//! cluster, as ko's kind publisher does (`pkg/publish/kind.go`), through
//! the `kind` command: a docker-save tarball given to `kind load
//! image-archive`, which imports it on every node.

use crate::error::{Error, Result};
use crate::image::export;
use crate::image::platform::Platform;
use crate::porcelain::publish::daemon;
use crate::porcelain::publish::naming::local_reference;
use oci_spec::image::Digest;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

/// Loads the image in `layout` into the nodes of `cluster`, as ko does:
/// under `name:<hex of its digest>` and `name:TAG` for each of `tags`; of
/// an index, the `platform` image (a node holds one image per name).
/// `scratch` holds the tarball. Returns the loaded image's digest.
pub fn load(
    layout: &Path,
    name: &str,
    tags: &[String],
    platform: &Platform,
    cluster: &str,
    scratch: &Path,
) -> Result<Digest> {
    let into = format!("kind cluster {cluster}");
    let image = daemon::one_image(layout, name, platform, &into)?;
    check_cluster(cluster)?;
    let digest = image.descriptor.digest().clone();
    // One tarball naming the image every way: kind imports each of its
    // RepoTags, where ko imports the digest tag and then adds each tag.
    let mut names = vec![local_reference(name, &digest)];
    names.extend(tags.iter().map(|tag| format!("{name}:{tag}")));
    let archive = scratch.join("kind.tar");
    export::export_docker(layout, Some(&image.platform), &names, &archive)?;
    let archive = archive.to_string_lossy();
    log::info!("Loading {}", names[0]);
    run_kind(&["load", "image-archive", &archive, "--name", cluster])?;
    log::info!("Loaded {}", names.join(", "));
    Ok(digest)
}

/// Fails unless `kind get clusters` lists `cluster`: ko's `getNodes`
/// fails when the cluster has no nodes.
fn check_cluster(cluster: &str) -> Result<()> {
    let listed = run_kind(&["get", "clusters"])?;
    let clusters = cluster_names(&listed);
    if clusters.contains(&cluster) {
        return Ok(());
    }
    let lists = if clusters.is_empty() {
        "none".to_string()
    } else {
        clusters.join(", ")
    };
    Err(Error::invalid(format!(
        "KO_DOCKER_REPO=kind.local: no kind cluster {cluster:?} (kind get clusters lists \
         {lists}): create it with `kind create cluster --name {cluster}`, or name another \
         with KIND_CLUSTER_NAME"
    )))
}

/// The cluster names in `kind get clusters`' output, one a line.
fn cluster_names(listed: &str) -> Vec<&str> {
    listed
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// Runs `kind ARGS…`; returns its standard output.
fn run_kind(args: &[&str]) -> Result<String> {
    let command = format!("kind {}", args[..2.min(args.len())].join(" "));
    let output = Command::new("kind").args(args).output().map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::invalid(
                "KO_DOCKER_REPO=kind.local needs the kind command, which is not on PATH: \
                 install kind (https://kind.sigs.k8s.io), or set KO_DOCKER_REPO to a registry",
            )
        } else {
            Error::tool(&command, e.to_string())
        }
    })?;
    if !output.status.success() {
        return Err(Error::tool(
            command,
            String::from_utf8_lossy(&output.stderr).trim(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_the_lines_kind_prints() {
        let cases: [(&str, &[&str]); 4] = [
            ("", &[]),
            ("kind\n", &["kind"]),
            ("dev\nkind\n", &["dev", "kind"]),
            ("  dev \n\n", &["dev"]),
        ];
        for (listed, want) in cases {
            assert_eq!(cluster_names(listed), want, "{listed:?}");
        }
    }
}
