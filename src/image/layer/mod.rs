//! Layers: from entries on disk (or in memory) to a compressed tar blob and
//! the descriptor that `append` consumes.

mod entries;
mod entry;
pub mod ko;
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
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use tar::{EntryType, Header, TarWriter};

/// Writes `entries` as a tar stream into `out`, every header with `mtime`.
pub fn write_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let mut out = Direct(out);
    let entries = entries.iter().cloned().map(Ok);
    write_entries(TarWriter::new(&mut out), entries, mtime)
}

/// Writes planned entries as a layer in ko's Windows format (see `windows.rs`).
#[cfg(test)]
fn write_windows_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let mut out = Direct(out);
    let entries = windows::Layout::new(entries.iter().cloned().map(Ok));
    write_entries(TarWriter::like_go(&mut out), entries, mtime)
}

fn write_entries<S: StreamSink>(
    mut tar: TarWriter<S>,
    entries: impl Iterator<Item = Result<Entry>>,
    mtime: u64,
) -> Result<()> {
    for entry in entries {
        let entry = entry?;
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
    ) -> Result<()> {
        if self.windows {
            let entries = windows::Layout::new(entries);
            write_entries(TarWriter::like_go(out), entries, self.mtime)
        } else {
            write_entries(TarWriter::new(out), entries, self.mtime)
        }
    }
}

/// Builds a layer into `blob_out` and describes it in `descriptor_out`;
/// both appear only once complete.
pub fn assemble(
    specs: &[EntrySpec],
    options: &LayerOptions,
    blob_out: &Path,
    descriptor_out: &Path,
) -> Result<LayerDescriptor> {
    let entries = stream(specs, &options.defaults)?;
    write_layer(options.compress, blob_out, descriptor_out, |out| {
        options.write_tar(entries, out)
    })
}

/// Builds one of ko's layers (see `ko.rs`) from its entries, in order, as
/// Go's archive/tar writes them, every header with `mtime`.
pub fn assemble_ko(
    entries: Vec<Entry>,
    mtime: u64,
    compress: CompressOptions,
    blob_out: &Path,
    descriptor_out: &Path,
) -> Result<LayerDescriptor> {
    write_layer(compress, blob_out, descriptor_out, |out| {
        write_entries(TarWriter::like_go(out), entries.into_iter().map(Ok), mtime)
    })
}

/// Compresses the tar `write_tar` writes into `blob_out` and describes it
/// in `descriptor_out`; both appear only once complete.
fn write_layer(
    compress: CompressOptions,
    blob_out: &Path,
    descriptor_out: &Path,
    write_tar: impl FnOnce(&mut dyn StreamSink) -> Result<()>,
) -> Result<LayerDescriptor> {
    crate::atomic::check_file_target(descriptor_out)?;
    let mut blob = AtomicFile::create(blob_out)?;
    let writer = BufWriter::with_capacity(1 << 20, &mut blob);
    let (writer, compressed) = compress_stream(writer, compress, write_tar)?;
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
    blob.commit()?;
    descriptor_file.commit()?;
    Ok(descriptor)
}
