//! Layers: from entries on disk (or in memory) to a compressed tar blob and
//! the descriptor that `append` consumes.

mod entries;
mod tar;
mod windows;

pub use entries::{plan, Defaults, Entry, EntrySpec, Kind, PaxRecords, Source};

use crate::atomic::{blame_output, AtomicFile};
use crate::error::{Error, IoContext, Result};
use crate::image::blob;
use crate::image::compress::{compress, CompressOptions};
use crate::image::descriptor::LayerDescriptor;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use tar::{EntryType, Header, TarWriter};

/// Writes `entries` as a tar stream into `out`, every header with `mtime`.
pub fn write_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    write_entries(TarWriter::new(out), entries, mtime)
}

/// Writes planned entries as a layer in ko's Windows format (see `windows.rs`).
fn write_windows_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let entries = windows::layout(entries);
    write_entries(TarWriter::without_dir_slash(out), &entries, mtime)
}

fn write_entries(mut tar: TarWriter<&mut dyn Write>, entries: &[Entry], mtime: u64) -> Result<()> {
    for entry in entries {
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
            Kind::Dir => tar.append(&header, io::empty()),
            Kind::Symlink(target) => {
                header.kind = EntryType::Symlink;
                header.link = target;
                tar.append(&header, io::empty())
            }
            Kind::File { source, size } => {
                header.kind = EntryType::File;
                header.size = *size;
                append_file(&mut tar, &header, source)?;
                Ok(())
            }
        }
        .map_err(|e| entry_error(e, &entry.path, None))?;
    }
    tar.finish()
        .map_err(|e| blame_output(e, |e| Error::invalid(format!("writing the layer: {e}"))))?;
    Ok(())
}

/// Writes a file entry whose content comes from `source`.
fn append_file(tar: &mut TarWriter<impl Write>, header: &Header, source: &Source) -> Result<()> {
    let entry = header.path;
    match source {
        Source::Bytes(bytes) => tar
            .append(header, &bytes[..])
            .map_err(|e| entry_error(e, entry, None)),
        Source::Path(path) => {
            let file = std::fs::File::open(path).with_path("opening", path)?;
            tar.append(header, file)
                .map_err(|e| entry_error(e, entry, Some(path)))
        }
        Source::LayoutBlob { path, digest } => {
            let blob = blob::open_in_layout(path, digest)?;
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
fn entry_error(e: io::Error, entry: &str, source: Option<&Path>) -> Error {
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
    fn write_tar(&self, entries: &[Entry], out: &mut dyn Write) -> Result<()> {
        if self.windows {
            write_windows_tar(entries, self.mtime, out)
        } else {
            write_tar(entries, self.mtime, out)
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
    let entries = plan(specs, &options.defaults)?;
    let mut blob = AtomicFile::create(blob_out)?;
    let writer = BufWriter::with_capacity(1 << 20, &mut blob);
    let (writer, compressed) = compress(writer, options.compress, |out| {
        options.write_tar(&entries, out)
    })?;
    writer
        .into_inner()
        .map_err(|e| blame_output(e.into_error(), |e| Error::io("writing", blob_out, e)))?;
    let descriptor = LayerDescriptor::new(options.compress.compression, compressed);
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
