//! The `builtin:static` layer, built when rko is built, so that no run of
//! rko compresses it: the vendored files and rko's own (`root.rs`) as a tar
//! written the way rko's layer writer writes it (src/image/layer/tar.rs:
//! USTAR headers by its own `ustar_block`, entries in path order component
//! by component, parents first, directories with a trailing `/`), gzipped
//! by src/image/compress's own chunked deflate. The tests of
//! src/image/builtin.rs check that rko's layer writer makes this very tar
//! and that the image digest stays pinned.

use crate::deflate::{deflate_chunk, CHUNK_SIZE, DICTIONARY_SIZE, GZIP_HEADER};
use crate::ustar::{ustar_block, BLOCK};
use flate2::Crc;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One entry of the layer.
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
}

pub struct Entry {
    /// Relative, `/`-separated, no trailing slash.
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    /// The owner's uid and gid.
    pub owner: u64,
}

/// The layer's tar: `entries` with their missing parent directories
/// (`dir_mode`, root-owned), in rko's order.
pub fn tar(entries: Vec<Entry>, dir_mode: u32, mtime: u64) -> Vec<u8> {
    let mut planned: BTreeMap<Key, Entry> = BTreeMap::new();
    for entry in entries {
        for (end, _) in entry.path.match_indices('/') {
            let parent = entry.path[..end].to_string();
            planned.entry(Key(parent.clone())).or_insert(Entry {
                path: parent,
                kind: Kind::Dir,
                mode: dir_mode,
                owner: 0,
            });
        }
        let path = Key(entry.path.clone());
        // A directory asked for wins over one added as a parent.
        let implied = matches!(planned.get(&path), Some(e) if matches!(e.kind, Kind::Dir));
        assert!(
            implied || !planned.contains_key(&path),
            "builtin:static lists {} twice",
            entry.path
        );
        planned.insert(path, entry);
    }
    let mut out = Vec::new();
    for entry in planned.values() {
        append(&mut out, entry, mtime);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

/// A path ordered as rko's layer planner orders them: as bytes, with `/`
/// below every other byte.
#[derive(PartialEq, Eq)]
struct Key(String);

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |byte: u8| if byte == b'/' { 0 } else { byte };
        self.0.bytes().map(key).cmp(other.0.bytes().map(key))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn append(out: &mut Vec<u8>, entry: &Entry, mtime: u64) {
    let (name, flag, link, data): (String, u8, &str, &[u8]) = match &entry.kind {
        Kind::File(bytes) => (entry.path.clone(), b'0', "", bytes),
        Kind::Dir => (format!("{}/", entry.path), b'5', "", &[]),
        Kind::Symlink(target) => (entry.path.clone(), b'2', target, &[]),
    };
    // Longer names need PAX records, which builtin:static has no use for.
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "{name}: a name or link target over 100 bytes needs a PAX header; \
         build.rs writes none"
    );
    let b = ustar_block(
        &name,
        "",
        flag,
        entry.mode,
        entry.owner,
        entry.owner,
        data.len() as u64,
        mtime,
        link,
    );
    out.extend_from_slice(&b);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

/// `data` as one gzip member, in rko's fixed chunks.
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut out = GZIP_HEADER.to_vec();
    // Full chunks end with a sync flush; the rest (maybe empty) is the last.
    let full = data.len() / CHUNK_SIZE;
    for n in 0..=full {
        let start = n * CHUNK_SIZE;
        let end = if n == full {
            data.len()
        } else {
            start + CHUNK_SIZE
        };
        let dictionary = &data[start.saturating_sub(DICTIONARY_SIZE)..start];
        let chunk = deflate_chunk(level, &data[start..end], dictionary, n == full);
        out.extend(chunk.expect("deflate of memory does not fail"));
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}
