//! Layers: from entries on disk (or in memory) to a compressed tar blob and
//! the descriptor that `append` consumes.

mod entries;
mod tar;

pub use entries::{plan, Defaults, Entry, EntrySpec, Kind, Source};

use crate::atomic::AtomicFile;
use crate::error::{Error, IoContext, Result};
use crate::image::compress::{compress, CompressOptions};
use crate::image::descriptor::LayerDescriptor;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use tar::{EntryType, Header, TarWriter};

/// Writes `entries` as a tar stream into `out`, every header with `mtime`.
pub fn write_tar(entries: &[Entry], mtime: u64, out: &mut dyn Write) -> Result<()> {
    let mut tar = TarWriter::new(out);
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
        };
        let result = match &entry.kind {
            Kind::Dir => tar.append(&header, io::empty()),
            Kind::Symlink(target) => {
                header.kind = EntryType::Symlink;
                header.link = target;
                tar.append(&header, io::empty())
            }
            Kind::File { source, size } => {
                header.kind = EntryType::File;
                header.size = *size;
                match source {
                    Source::Bytes(bytes) => tar.append(&header, &bytes[..]),
                    Source::Path(path) => {
                        let file = std::fs::File::open(path).with_path("opening", path)?;
                        tar.append(&header, file).map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                        })
                    }
                }
            }
        };
        result.map_err(|e| Error::invalid(format!("writing layer entry {:?}: {e}", entry.path)))?;
    }
    tar.finish()
        .map_err(|e| Error::invalid(format!("writing the layer: {e}")))?;
    Ok(())
}

/// How to build a layer besides its entries.
#[derive(Debug, Clone)]
pub struct LayerOptions {
    pub defaults: Defaults,
    pub mtime: u64,
    pub compress: CompressOptions,
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
    let mut descriptor_file = AtomicFile::create(descriptor_out)?;
    let writer = BufWriter::with_capacity(1 << 20, blob.file());
    let (writer, compressed) = compress(writer, options.compress, |out| {
        write_tar(&entries, options.mtime, out)
    })?;
    writer
        .into_inner()
        .map_err(|e| Error::io("writing", blob_out, e.into_error()))?;
    let descriptor = LayerDescriptor::new(options.compress.compression, compressed);
    descriptor_file
        .file()
        .write_all(&descriptor.to_json())
        .with_path("writing", descriptor_out)?;
    blob.commit()?;
    descriptor_file.commit()?;
    Ok(descriptor)
}

/// Builds a layer in memory (for rko's own small layers, such as `builtin:static`).
pub fn assemble_entries_to_vec(
    entries: &[Entry],
    options: &LayerOptions,
) -> Result<(Vec<u8>, LayerDescriptor)> {
    let (bytes, compressed) = compress(Vec::new(), options.compress, |out| {
        write_tar(entries, options.mtime, out)
    })?;
    Ok((
        bytes,
        LayerDescriptor::new(options.compress.compression, compressed),
    ))
}
