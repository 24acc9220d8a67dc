//! The layers `rko build` adds, cached by their inputs: the binary at
//! `/ko-app/NAME` (with its file capabilities, if any) and the package's
//! `kodata/` under `/var/run/ko`. A rebuild with nothing changed does no
//! tar and no compression.

use crate::error::{Error, Result};
use crate::image::append::LayerInput;
use crate::image::compress::{CompressOptions, Compression};
use crate::image::descriptor::LayerDescriptor;
use crate::image::layer::{self, ko, Entry, PaxRecords};
use crate::porcelain::cache::{self, Cache};
use crate::porcelain::settings::capabilities::{self, FileCaps};
use oci_spec::image::Digest;
use std::path::Path;
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

/// A layer from the cache, or built into it from ko's `entries`.
fn cached_layer(
    cache: &Cache,
    key: &str,
    entries: impl FnOnce() -> Result<Vec<Entry>>,
    mtime: u64,
    jobs: usize,
    counters: &Counters,
) -> Result<LayerInput> {
    if let Some((blob, descriptor)) = cache.layer(key) {
        counters.cached.fetch_add(1, Ordering::Relaxed);
        return Ok(LayerInput::with_blob(blob, descriptor));
    }
    let (blob, descriptor_path) = cache.layer_paths(key);
    let compress = CompressOptions {
        compression: Compression::Gzip,
        level: None,
        jobs,
    };
    let descriptor: LayerDescriptor = layer::assemble_ko(
        entries()?,
        mtime,
        compress,
        layer::LayerOutputs {
            blob: &blob,
            descriptor: &descriptor_path,
            listing: None,
        },
    )?;
    cache.record_layer(key, &descriptor.digest);
    counters.built.fetch_add(1, Ordering::Relaxed);
    Ok(LayerInput::with_blob(blob, descriptor))
}

/// The cache key part for the layer format. Layers written before rko
/// matched ko's entries byte for byte had other keys, so none of them is
/// taken for one of these.
fn format_key(windows: bool) -> String {
    let os = if windows { "windows" } else { "linux" };
    format!("ko-v0.19.1-entries-{os}")
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
/// layer format. ko leaves every time in this layer at zero (the image's
/// `created` is `SOURCE_DATE_EPOCH`, the layer's entries are not).
pub fn binary_layer(
    cache: &Cache,
    binary: AppBinary,
    jobs: usize,
    windows: bool,
    counters: &Counters,
) -> Result<LayerInput> {
    let xattr = binary.capabilities.map(|c| c.xattr());
    let mut key_parts = vec![
        "binary".to_string(),
        binary.digest.to_string(),
        binary.name.to_string(),
        "gzip-default".to_string(),
        format_key(windows),
    ];
    key_parts.extend(
        xattr
            .as_ref()
            .map(|x| format!("capabilities={}", hex::encode(x))),
    );
    let key = cache::key(&key_parts.iter().map(String::as_str).collect::<Vec<_>>());
    let pax: PaxRecords = xattr
        .into_iter()
        .map(|x| (capabilities::PAX_KEY.to_string(), x))
        .collect();
    let entries = || ko::binary_entries(binary.path, binary.name, windows, pax);
    cached_layer(cache, &key, entries, 0, jobs, counters)
}

/// `package_dir/kodata` under `/var/run/ko`; ko adds this layer to every
/// image, with its three directories alone when there is no `kodata/`.
/// The cache key lists every file's path, size, mode and mtime (symlinks
/// followed), so any change to the tree rebuilds the layer. Symlinks may
/// not leave `kodata/` (ko v0.19.1's rule), or `allowed_root` when given
/// (`KO_DATA_PATH_ALLOWED_ROOT`, from ko releases after v0.19.1) and it
/// holds `kodata/`.
pub fn kodata_layer(
    cache: &Cache,
    package_dir: &Path,
    allowed_root: Option<&Path>,
    mtime: u64,
    jobs: usize,
    windows: bool,
    counters: &Counters,
) -> Result<LayerInput> {
    let dir = package_dir.join("kodata");
    let real = match dir.canonicalize() {
        Ok(real) => Some(real),
        Err(_) if dir.symlink_metadata().is_err() => None,
        Err(e) => return Err(Error::io("resolving", &dir, e)),
    };
    let root = real
        .as_deref()
        .and_then(|real| allowed_root.filter(|a| real.starts_with(a)));
    let listing = match &real {
        Some(_) => tree_listing(&dir)?,
        None => String::new(),
    };
    let key_parts = [
        "kodata".to_string(),
        listing,
        mtime.to_string(),
        root.map(|r| r.display().to_string()).unwrap_or_default(),
        format_key(windows),
    ];
    let key = cache::key(&key_parts.iter().map(String::as_str).collect::<Vec<_>>());
    let entries = || ko::kodata_entries(&dir, root, windows);
    cached_layer(cache, &key, entries, mtime, jobs, counters)
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
