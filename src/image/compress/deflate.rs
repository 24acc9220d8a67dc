//! The gzip member rko writes, by parts: a fixed header (mtime 0, OS 255),
//! one raw deflate stream cut into [`CHUNK_SIZE`] chunks, each compressed
//! alone by [`deflate_chunk`] (primed with the previous chunk's last
//! [`DICTIONARY_SIZE`] bytes, ended by a sync flush, the last by the final
//! block), then the CRC-32 and length. The chunks make the bytes the same
//! for any number of threads.
//!
//! Standard library and flate2 only: build.rs includes this file to
//! compress the `builtin:static` layer exactly as a run of rko would.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::io;

/// Size of the uncompressed chunks; part of the output format, never tuned per run.
pub const CHUNK_SIZE: usize = 1 << 20;
/// The deflate window: how much of the previous chunk primes the next.
pub const DICTIONARY_SIZE: usize = 32 * 1024;
/// The member header: deflate, no flags, mtime 0, no extra flags, OS unknown.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Compresses one chunk with a fresh deflate state: a reused, reset state
/// was seen to give different (valid) bytes depending on its history, and
/// the output must depend on the chunk and its dictionary alone.
pub fn deflate_chunk(
    level: u32,
    data: &[u8],
    dictionary: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    let mut deflate = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .map_err(io::Error::other)?;
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
            .map_err(io::Error::other)?;
        let all_in = deflate.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // zlib: a flush is complete when it returns with output space left.
            Status::Ok | Status::BufError if all_in && !last && out.len() < out.capacity() => {
                return Ok(out)
            }
            Status::Ok | Status::BufError => {}
        }
    }
}
