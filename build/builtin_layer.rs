//! The `builtin:static` layer, built when rko is built, so that no run of
//! rko compresses it: the vendored files and rko's own (`root.rs`) as a tar
//! written the way rko's layer writer writes it (src/image/layer/tar.rs:
//! USTAR, entries in path order component by component, parents first,
//! directories with a trailing `/`), gzipped the way src/image/compress.rs
//! does (1 MiB chunks, each primed with the previous chunk's last 32 KiB and
//! ended by a sync flush, the last by the final block; header mtime 0, OS
//! 255). The tests of src/image/builtin.rs check that rko's layer writer
//! makes this very tar and that the image digest stays pinned.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cmp::Ordering;
use std::collections::BTreeMap;

const BLOCK: usize = 512;
const CHUNK_SIZE: usize = 1 << 20;
const DICTIONARY_SIZE: usize = 32 * 1024;

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
    let mut b = [0u8; BLOCK];
    b[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut b[100..108], u64::from(entry.mode & 0o7777));
    octal(&mut b[108..116], entry.owner);
    octal(&mut b[116..124], entry.owner);
    octal(&mut b[124..136], data.len() as u64);
    octal(&mut b[136..148], mtime);
    b[156] = flag;
    b[157..157 + link.len()].copy_from_slice(link.as_bytes());
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    octal(&mut b[329..337], 0);
    octal(&mut b[337..345], 0);
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    octal(&mut b[148..155], u64::from(sum));
    b[155] = b' ';
    out.extend_from_slice(&b);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

/// Zero-padded octal digits filling the field but its last byte, a NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// `data` as one gzip member, in rko's fixed chunks.
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
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
        out.extend(deflate_chunk(
            level,
            &data[start..end],
            dictionary,
            n == full,
        ));
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// compress.rs's `deflate_chunk`, step for step.
fn deflate_chunk(level: u32, data: &[u8], dictionary: &[u8], last: bool) -> Vec<u8> {
    let mut deflate = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .expect("a fresh deflate state takes a dictionary");
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity());
        }
        let consumed = deflate.total_in() as usize;
        let status = deflate
            .compress_vec(&data[consumed..], &mut out, flush)
            .expect("deflate of memory does not fail");
        let all_in = deflate.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return out,
            Status::Ok | Status::BufError if all_in && !last && out.len() < out.capacity() => {
                return out
            }
            Status::Ok | Status::BufError => {}
        }
    }
}
