//! The layers `rko build` adds, cached by their inputs: the binary at
//! `/ko-app/NAME` and the package's `kodata/` under `/var/run/ko`. A
//! rebuild with nothing changed does no tar and no compression.

use super::cache::{self, Cache};
use crate::error::{Error, Result};
use crate::image::append::LayerInput;
use crate::image::compress::{CompressOptions, Compression};
use crate::image::descriptor::LayerDescriptor;
use crate::image::layer::{self, Defaults, EntrySpec, LayerOptions, Source};
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
    counters.built.fetch_add(1, Ordering::Relaxed);
    Ok(LayerInput { blob, descriptor })
}

/// ko's layer options: root-owned, read-only, gzip at rko's default level.
fn layer_options(mtime: u64, allow_root: Option<PathBuf>, jobs: usize) -> LayerOptions {
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
    }
}

/// `/ko-app/NAME`, keyed by the binary's digest and the layer options.
pub fn binary_layer(
    cache: &Cache,
    binary: &Path,
    digest: &Digest,
    name: &str,
    mtime: u64,
    jobs: usize,
    counters: &Counters,
) -> Result<LayerInput> {
    let key = cache::key(&[
        "binary",
        digest.as_ref(),
        name,
        &mtime.to_string(),
        "gzip-default",
    ]);
    let specs = [EntrySpec::File {
        source: Source::Path(binary.to_path_buf()),
        dest: format!("/ko-app/{name}"),
        mode: None,
    }];
    let options = layer_options(mtime, None, jobs);
    cached_layer(cache, &key, &specs, &options, counters)
}

/// `package_dir/kodata` under `/var/run/ko`, when the package has one.
/// The cache key lists every file's path, size, mode and mtime (symlinks
/// followed), so any change to the tree rebuilds the layer. Symlinks may
/// not leave `module_dir`.
pub fn kodata_layer(
    cache: &Cache,
    package_dir: &Path,
    module_dir: &Path,
    mtime: u64,
    jobs: usize,
    counters: &Counters,
) -> Result<Option<LayerInput>> {
    let dir = package_dir.join("kodata");
    if !dir.is_dir() {
        return Ok(None);
    }
    let key = cache::key(&[
        "kodata",
        &tree_listing(&dir)?,
        &mtime.to_string(),
        &module_dir.display().to_string(),
    ]);
    let specs = [EntrySpec::Tree {
        source: dir,
        dest: "/var/run/ko".to_string(),
    }];
    let options = layer_options(mtime, Some(module_dir.to_path_buf()), jobs);
    cached_layer(cache, &key, &specs, &options, counters).map(Some)
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
