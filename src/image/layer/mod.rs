//! Layers: from entries on disk (or in memory) to a compressed tar blob and
//! the descriptor that `append` consumes.

mod entries;
mod entry;
pub mod ko;
pub mod listing;
mod order;
mod tar;
mod ustar;
mod walk;
mod windows;

#[cfg(test)]
pub use entries::plan;
pub use entries::stream;
pub use entry::{Defaults, Entry, EntrySpec, Kind, PaxRecords, Source};

use crate::atomic::{blame_output, AtomicFile};
use crate::error::{Error, Result};
use crate::image::blob;
use crate::image::compress::{compress_stream, CompressOptions, Direct, FileSource, StreamSink};
use crate::image::descriptor::LayerDescriptor;
use listing::{EntryKind, ListedEntry, Listing};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use tar::{EntryType, Header, TarWriter};

/// Writes `entries` as a tar stream into `out`, every header with `mtime`.
pub fn write_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let mut out = Direct(out);
    let entries = entries.iter().cloned().map(Ok);
    write_entries(TarWriter::new(&mut out), entries, mtime, &mut Vec::new())
}

/// Writes planned entries as a layer in ko's Windows format (see `windows.rs`).
#[cfg(test)]
fn write_windows_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let mut out = Direct(out);
    let entries = windows::Layout::new(entries.iter().cloned().map(Ok));
    write_entries(
        TarWriter::like_go(&mut out),
        entries,
        mtime,
        &mut Vec::new(),
    )
}

/// Writes `entries` with `tar`, adding each, as written, to `listed`.
fn write_entries<S: StreamSink>(
    mut tar: TarWriter<S>,
    entries: impl Iterator<Item = Result<Entry>>,
    mtime: u64,
    listed: &mut Vec<ListedEntry>,
) -> Result<()> {
    for entry in entries {
        let entry = entry?;
        listed.push(list(&entry));
        let mut header = Header {
            path: &entry.path,
            kind: EntryType::Dir,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            mtime,
            size: 0,
            link: "",
            pax: &entry.pax,
        };
        match &entry.kind {
            Kind::Dir => tar
                .append(&header, io::empty())
                .map_err(|e| entry_error(e, &entry.path, None))?,
            Kind::Symlink(target) => {
                header.kind = EntryType::Symlink;
                header.link = target;
                tar.append(&header, io::empty())
                    .map_err(|e| entry_error(e, &entry.path, None))?
            }
            Kind::File { source, size } => {
                header.kind = EntryType::File;
                header.size = *size;
                append_file(&mut tar, &header, source)?;
            }
        }
    }
    tar.finish()
        .map_err(|e| blame_output(e, |e| Error::invalid(format!("writing the layer: {e}"))))?;
    Ok(())
}

/// How a listing describes `entry`.
fn list(entry: &Entry) -> ListedEntry {
    let (kind, size, link) = match &entry.kind {
        Kind::Dir => (EntryKind::Dir, 0, None),
        Kind::Symlink(target) => (EntryKind::Symlink, 0, Some(target.clone())),
        Kind::File { size, .. } => (EntryKind::File, *size, None),
    };
    let mut listed = ListedEntry::new(&entry.path, kind, entry.mode, entry.uid, entry.gid, size);
    listed.link = link;
    listed
}

/// Writes a file entry whose content comes from `source`.
fn append_file<S: StreamSink>(
    tar: &mut TarWriter<S>,
    header: &Header,
    source: &Source,
) -> Result<()> {
    let entry = header.path;
    match source {
        Source::Bytes(bytes) => tar
            .append(header, &bytes[..])
            .map_err(|e| entry_error(e, entry, None)),
        Source::Path(path) => {
            let file = Arc::new(FileSource {
                path: path.clone(),
                entry: entry.to_string(),
                size: header.size,
            });
            tar.append_file(header, &file)
        }
        Source::LayoutBlob { path, digest } | Source::NamedBlob { path, digest } => {
            let blob = match source {
                Source::LayoutBlob { .. } => blob::open_in_layout(path, digest)?,
                _ => blob::open_named(path, digest)?,
            };
            // The digest is checked when the blob's last byte is read.
            if blob.size() != header.size {
                return Err(Error::file(path, "changed while rko read it"));
            }
            tar.append(header, blob.into_reader()).map_err(|e| {
                blob::take_error(e).unwrap_or_else(|e| entry_error(e, entry, Some(path)))
            })
        }
    }
}

/// A failed write names the output; any other failure the entry (and the
/// file it was read from).
pub(super) fn entry_error(e: io::Error, entry: &str, source: Option<&Path>) -> Error {
    blame_output(e, |e| match source {
        Some(path) => Error::invalid(format!(
            "writing layer entry {entry:?}: {}: {e}",
            path.display()
        )),
        None => Error::invalid(format!("writing layer entry {entry:?}: {e}")),
    })
}

/// How to build a layer besides its entries.
#[derive(Debug, Clone)]
pub struct LayerOptions {
    pub defaults: Defaults,
    pub mtime: u64,
    pub compress: CompressOptions,
    /// A Windows container layer, as ko writes them (see `windows.rs`).
    pub windows: bool,
}

impl LayerOptions {
    fn write_tar(
        &self,
        entries: impl Iterator<Item = Result<Entry>>,
        out: &mut dyn StreamSink,
        listed: &mut Vec<ListedEntry>,
    ) -> Result<()> {
        if self.windows {
            let entries = windows::Layout::new(entries);
            write_entries(TarWriter::like_go(out), entries, self.mtime, listed)
        } else {
            write_entries(TarWriter::new(out), entries, self.mtime, listed)
        }
    }
}

/// The files a layer is written to.
#[derive(Debug, Clone, Copy)]
pub struct LayerOutputs<'a> {
    pub blob: &'a Path,
    pub descriptor: &'a Path,
    /// Where to list the layer's entries (see `listing.rs`), if anywhere.
    pub listing: Option<&'a Path>,
}

/// Builds a layer into `outputs.blob` and describes it in
/// `outputs.descriptor` (and `outputs.listing`); each appears only once
/// complete.
pub fn assemble(
    specs: &[EntrySpec],
    options: &LayerOptions,
    outputs: LayerOutputs,
) -> Result<LayerDescriptor> {
    let entries = stream(specs, &options.defaults)?;
    write_layer(options.compress, outputs, |out, listed| {
        options.write_tar(entries, out, listed)
    })
}

/// Builds one of ko's layers (see `ko.rs`) from its entries, in order, as
/// Go's archive/tar writes them, every header with `mtime`.
pub fn assemble_ko(
    entries: Vec<Entry>,
    mtime: u64,
    compress: CompressOptions,
    outputs: LayerOutputs,
) -> Result<LayerDescriptor> {
    write_layer(compress, outputs, |out, listed| {
        let entries = entries.into_iter().map(Ok);
        write_entries(TarWriter::like_go(out), entries, mtime, listed)
    })
}

/// Compresses the tar `write_tar` writes (listing its entries) into
/// `outputs.blob` and describes it in the other outputs; each appears only
/// once complete.
fn write_layer(
    compress: CompressOptions,
    outputs: LayerOutputs,
    write_tar: impl FnOnce(&mut dyn StreamSink, &mut Vec<ListedEntry>) -> Result<()>,
) -> Result<LayerDescriptor> {
    let LayerOutputs {
        blob: blob_out,
        descriptor: descriptor_out,
        listing: listing_out,
    } = outputs;
    crate::atomic::check_file_target(descriptor_out)?;
    if let Some(path) = listing_out {
        crate::atomic::check_file_target(path)?;
    }
    let mut blob = AtomicFile::create(blob_out)?;
    let writer = BufWriter::with_capacity(1 << 20, &mut blob);
    let mut listed = Vec::new();
    let (writer, compressed) =
        compress_stream(writer, compress, |out| write_tar(out, &mut listed))?;
    writer
        .into_inner()
        .map_err(|e| blame_output(e.into_error(), |e| Error::io("writing", blob_out, e)))?;
    let descriptor = LayerDescriptor::new(compress.compression, compressed);
    // Created only now, so that its temporary is never idle for long (see
    // `crate::atomic`'s sweep of stale temporaries).
    let mut descriptor_file = AtomicFile::create(descriptor_out)?;
    descriptor_file
        .write_all(&descriptor.to_json())
        .map_err(|e| blame_output(e, |e| Error::io("writing", descriptor_out, e)))?;
    let listing_file = match listing_out {
        Some(path) => {
            let listing = Listing {
                digest: descriptor.digest.clone(),
                diff_id: descriptor.diff_id.clone(),
                entries: listed,
            };
            let mut file = AtomicFile::create(path)?;
            file.write_all(&listing.to_json())
                .map_err(|e| blame_output(e, |e| Error::io("writing", path, e)))?;
            Some(file)
        }
        None => None,
    };
    blob.commit()?;
    descriptor_file.commit()?;
    if let Some(file) = listing_file {
        file.commit()?;
    }
    Ok(descriptor)
}
