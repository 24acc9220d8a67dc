//! The layers `rko build` adds, cached by their inputs: the binary at
//! `/ko-app/NAME` (with its file capabilities, if any) and the package's
//! `kodata/` under `/var/run/ko`. A rebuild with nothing changed does no
//! tar and no compression.

use super::cache::{self, Cache};
use super::capabilities::{self, FileCaps};
use crate::error::{Error, Result};
use crate::image::append::LayerInput;
use crate::image::compress::{CompressOptions, Compression};
use crate::image::descriptor::LayerDescriptor;
use crate::image::layer::{self, Defaults, EntrySpec, LayerOptions, PaxRecords, Source};
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many layers were built and how many came from the cache.
#[derive(Debug, Default)]
pub struct Counters {
    pub built: AtomicUsize,
    pub cached: AtomicUsize,
}

impl Counters {
    pub fn built(&self) -> usize {
        self.built.load(Ordering::Relaxed)
    }

    pub fn cached(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }
}

/// A layer from the cache, or built into it.
fn cached_layer(
    cache: &Cache,
    key: &str,
    specs: &[EntrySpec],
    options: &LayerOptions,
    counters: &Counters,
) -> Result<LayerInput> {
    if let Some((blob, descriptor)) = cache.layer(key) {
        counters.cached.fetch_add(1, Ordering::Relaxed);
        return Ok(LayerInput { blob, descriptor });
    }
    let (blob, descriptor_path) = cache.layer_paths(key);
    let descriptor: LayerDescriptor = layer::assemble(specs, options, &blob, &descriptor_path)?;
    cache.record_layer(key, &descriptor.digest);
    counters.built.fetch_add(1, Ordering::Relaxed);
    Ok(LayerInput { blob, descriptor })
}

/// ko's layer options: root-owned, read-only, gzip at rko's default level;
/// for a Windows image, in ko's Windows layer format.
fn layer_options(
    mtime: u64,
    allow_root: Option<PathBuf>,
    jobs: usize,
    windows: bool,
) -> LayerOptions {
    LayerOptions {
        defaults: Defaults {
            file_mode: 0o555,
            dir_mode: 0o555,
            uid: 0,
            gid: 0,
            allow_root,
        },
        mtime,
        compress: CompressOptions {
            compression: Compression::Gzip,
            level: None,
            jobs,
        },
        windows,
    }
}

/// The cache key part for the layer format: none for Linux (keys as before).
fn format_key(windows: bool) -> Option<String> {
    windows.then(|| "windows".to_string())
}

/// The built program, as its layer needs it.
#[derive(Debug, Clone, Copy)]
pub struct AppBinary<'a> {
    pub path: &'a Path,
    pub digest: &'a Digest,
    /// The file name under `/ko-app`.
    pub name: &'a str,
    /// File capabilities, written as ko's `tarBinary` writes them for a
    /// Linux platform: the PAX record `SCHILY.xattr.security.capability`.
    pub capabilities: Option<FileCaps>,
}

/// `/ko-app/NAME`, keyed by the binary's digest, its capabilities and the
/// layer options; `Files/ko-app/NAME` in a Windows layer (ko: gobuild.go,
/// tarBinary).
pub fn binary_layer(
    cache: &Cache,
    binary: AppBinary,
    mtime: u64,
    jobs: usize,
    windows: bool,
    counters: &Counters,
) -> Result<LayerInput> {
    let xattr = binary.capabilities.map(|c| c.xattr());
    let mut key_parts = vec![
        "binary".to_string(),
        binary.digest.to_string(),
        binary.name.to_string(),
        mtime.to_string(),
        "gzip-default".to_string(),
    ];
    key_parts.extend(
        xattr
            .as_ref()
            .map(|x| format!("capabilities={}", hex::encode(x))),
    );
    key_parts.extend(format_key(windows));
    let key = cache::key(&key_parts.iter().map(String::as_str).collect::<Vec<_>>());
    let pax: PaxRecords = xattr
        .into_iter()
        .map(|x| (capabilities::PAX_KEY.to_string(), x))
        .collect();
    let specs = [EntrySpec::File {
        source: Source::Path(binary.path.to_path_buf()),
        dest: format!("/ko-app/{}", binary.name),
        mode: None,
        pax,
    }];
    let options = layer_options(mtime, None, jobs, windows);
    cached_layer(cache, &key, &specs, &options, counters)
}

/// `package_dir/kodata` under `/var/run/ko`, when the package has one.
/// The cache key lists every file's path, size, mode and mtime (symlinks
/// followed), so any change to the tree rebuilds the layer. Symlinks may
/// not leave [`kodata_allowed_root`]. For a Windows image the tree is under
/// `Files/var/run/ko` (ko: gobuild.go, tarKoData).
#[allow(clippy::too_many_arguments)]
pub fn kodata_layer(
    cache: &Cache,
    package_dir: &Path,
    module_dir: &Path,
    allowed_root: Option<&Path>,
    mtime: u64,
    jobs: usize,
    windows: bool,
    counters: &Counters,
) -> Result<Option<LayerInput>> {
    let dir = package_dir.join("kodata");
    if !dir.is_dir() {
        return Ok(None);
    }
    let real = dir
        .canonicalize()
        .map_err(|e| Error::io("resolving", &dir, e))?;
    let root = kodata_allowed_root(
        &real,
        module_dir,
        allowed_root,
        enclosing_git_root(&real).as_deref(),
    );
    let mut key_parts = vec![
        "kodata".to_string(),
        tree_listing(&dir)?,
        mtime.to_string(),
        root.display().to_string(),
    ];
    key_parts.extend(format_key(windows));
    let key = cache::key(&key_parts.iter().map(String::as_str).collect::<Vec<_>>());
    let specs = [EntrySpec::Tree {
        source: dir,
        dest: "/var/run/ko".to_string(),
    }];
    let options = layer_options(mtime, Some(root), jobs, windows);
    cached_layer(cache, &key, &specs, &options, counters).map(Some)
}

/// Where kodata symlinks may point (ko's `resolveKodataAllowedRoot`):
/// `KO_DATA_PATH_ALLOWED_ROOT` (`allowed`) when it holds the kodata
/// directory; else the git work tree holding it, when that holds the
/// module too; else the module (ko: the kodata directory itself). All
/// paths are absolute with symlinks resolved.
pub fn kodata_allowed_root(
    kodata: &Path,
    module_dir: &Path,
    allowed: Option<&Path>,
    git_root: Option<&Path>,
) -> PathBuf {
    if let Some(allowed) = allowed.filter(|a| kodata.starts_with(a)) {
        return allowed.to_path_buf();
    }
    match git_root {
        Some(git) if module_dir.starts_with(git) => git.to_path_buf(),
        _ => module_dir.to_path_buf(),
    }
}

/// The nearest directory at or above `dir` with a `.git` entry (a
/// directory, or the file of a linked work tree), as ko's
/// `enclosingGitRoot` finds it, without running git.
fn enclosing_git_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").symlink_metadata().is_ok())
        .map(Path::to_path_buf)
}

/// One line per entry under `dir`: path, size, mode, mtime (s and ns).
fn tree_listing(dir: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut listing = String::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| Error::file(dir, format!("reading: {e}")))?;
        let meta = entry
            .metadata()
            .map_err(|e| Error::file(entry.path(), format!("reading: {e}")))?;
        listing.push_str(&format!(
            "{}\0{}\0{}\0{}\0{}\n",
            entry.path().display(),
            meta.len(),
            meta.mode(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ko's pkg/build/gobuild.go `resolveKodataAllowedRoot`,
    /// `kodataAllowedRootCandidate` and `enclosingGitRoot` (rko keeps the
    /// module as the root outside a repository, where ko uses kodata/).
    #[test]
    fn kodata_symlinks_may_point_anywhere_in_the_git_work_tree() {
        let p = |s: &str| PathBuf::from(s);
        let kodata = p("/repo/svc/cmd/app/kodata");
        let module = p("/repo/svc");
        let cases = [
            (
                "in a repository holding the module: the work tree",
                None,
                Some("/repo"),
                "/repo",
            ),
            (
                "outside any repository: the module (ko: kodata itself)",
                None,
                None,
                "/repo/svc",
            ),
            (
                "a repository inside the module: the module",
                None,
                Some("/repo/svc/cmd"),
                "/repo/svc",
            ),
            (
                "KO_DATA_PATH_ALLOWED_ROOT holding kodata wins",
                Some("/"),
                Some("/repo"),
                "/",
            ),
            (
                "KO_DATA_PATH_ALLOWED_ROOT may narrow the tree",
                Some("/repo/svc/cmd"),
                Some("/repo"),
                "/repo/svc/cmd",
            ),
            (
                "KO_DATA_PATH_ALLOWED_ROOT not holding kodata is ignored",
                Some("/elsewhere"),
                Some("/repo"),
                "/repo",
            ),
        ];
        for (rule, allowed, git, want) in cases {
            let got =
                kodata_allowed_root(&kodata, &module, allowed.map(Path::new), git.map(Path::new));
            assert_eq!(got, p(want), "{rule}");
        }
    }
}
