//! The local container engine, as ko's `ko.local` uses it: docker when its
//! daemon answers, else podman, driven through its command line (`load`,
//! `tag`, `image inspect`, `save`); no daemon API needed.

use crate::error::{Error, Result};
use crate::image::layout::{FoundImage, Layout};
use crate::image::platform::Platform;
use std::path::Path;
use std::process::Command;

/// docker when its daemon answers, else podman.
pub fn local_cli() -> Result<String> {
    let works = |cli: &str, args: &[&str]| {
        Command::new(cli)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if works("docker", &["version", "--format", "{{.Server.Version}}"]) {
        Ok("docker".to_string())
    } else if works("podman", &["--version"]) {
        Ok("podman".to_string())
    } else {
        Err(Error::invalid(
            "cannot use the local daemon: neither docker (with a running daemon) nor podman is available",
        ))
    }
}

/// Runs `cli verb …`; a failure is an error with what the CLI said.
/// Returns its standard output.
pub fn run_cli(cli: &str, verb: &str, command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .map_err(|e| Error::tool(format!("{cli} {verb}"), e.to_string()))?;
    if !output.status.success() {
        return Err(Error::tool(
            format!("{cli} {verb}"),
            String::from_utf8_lossy(&output.stderr).trim(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The image of `layout` a daemon gets (it holds one image per name): the
/// only one, or of an index the `platform` image, as ko's daemon and kind
/// publishers pick it (OS and architecture). `into` says where it goes.
pub fn one_image(
    layout_path: &Path,
    name: &str,
    platform: &Platform,
    into: &str,
) -> Result<FoundImage> {
    let mut images = Layout::open(layout_path)?.images()?;
    if images.len() == 1 {
        return Ok(images.remove(0));
    }
    images
        .into_iter()
        .find(|i| i.platform.os == platform.os && i.platform.arch == platform.arch)
        .ok_or_else(|| {
            Error::invalid(format!(
                "cannot load {name} into {into}: its index has no {platform} image \
                 (set GOOS/GOARCH to pick another)"
            ))
        })
}

/// The ID `cli` gives the image `reference`, or `None` when it has no such
/// image.
pub fn image_id(cli: &str, reference: &str) -> Result<Option<String>> {
    let output = Command::new(cli)
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .map_err(|e| Error::tool(format!("{cli} image inspect"), e.to_string()))?;
    let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok((output.status.success() && !id.is_empty()).then_some(id))
}

/// Writes the image `id` as a docker-save tarball at `out` (the one format
/// both docker and podman write).
pub fn save(cli: &str, id: &str, out: &Path) -> Result<()> {
    let mut save = Command::new(cli);
    save.args(["save", "--output"]).arg(out).arg(id);
    run_cli(cli, "save", &mut save).map(drop)
}
