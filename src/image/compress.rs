//! Parallel, deterministic compression of a layer's tar stream.
//!
//! The uncompressed stream is cut into fixed 1 MiB chunks whatever `--jobs`
//! says; workers compress chunks independently and a writer puts them back in
//! order, so the output bytes never depend on the number of threads.
//!
//! - gzip: one gzip member (RFC 1952) whose deflate stream is the chunks'
//!   raw deflate output, each ended by a sync flush (an empty stored block,
//!   byte-aligned) and the last by the final block, as pigz does. Each chunk
//!   is primed with the previous chunk's last 32 KiB as its dictionary, so
//!   matches still reach back across chunk boundaries. Header: mtime 0, no
//!   name, XFL 0, OS 255 ("unknown"), as Go's `compress/gzip` writes it.
//! - zstd: one frame per chunk; a zstd stream may be a sequence of frames
//!   (RFC 8878 section 3.1).
//! - none: the tar stream itself.
//!
//! The producer only describes each chunk (see `chunk.rs`): the workers read
//! the files and compress; the writer combines the chunks' CRCs; a hasher
//! thread takes the diffID. Memory stays bounded: a fixed number of chunk
//! "tokens" circulate between the producer and the hasher, so at most that
//! many chunks are in flight.

use crate::digest::HashingWriter;
use crate::error::{Error, Result};
use oci_spec::image::{Digest, MediaType};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

mod chunk;
mod deflate;

use chunk::{ChunkWriter, Job};
pub use chunk::{Direct, FileSource, StreamSink};
#[cfg(test)]
use deflate::CHUNK_SIZE;
use deflate::{deflate_chunk, GZIP_HEADER};

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn layer_media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }

    /// The level used when none is asked for, chosen by `scripts/bench`
    /// (see the README): zlib-rs's gzip level 2 is the fastest level whose
    /// output is no larger than `pigz -1`'s; its level 1 is faster still
    /// but about 20% larger.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => 2,
            Compression::Zstd => 3,
            Compression::None => 0,
        }
    }

    fn check_level(self, level: u32) -> Result<()> {
        let range = match self {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=22,
            Compression::None => 0..=0,
        };
        if range.contains(&level) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "--level {level} is out of range for {self} compression ({}..={})",
                range.start(),
                range.end()
            )))
        }
    }
}

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => Err(Error::invalid(format!(
                "unknown compression {other:?}: expected gzip, zstd or none"
            ))),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        })
    }
}

/// How to compress: the algorithm, its level, and how many threads may work on it.
#[derive(Debug, Clone, Copy)]
pub struct CompressOptions {
    pub compression: Compression,
    pub level: Option<u32>,
    pub jobs: usize,
}

/// What came out: the digests of the uncompressed and compressed streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
}

/// Compresses everything `produce` writes into `out`.
pub fn compress<W, F>(out: W, options: CompressOptions, produce: F) -> Result<(W, Compressed)>
where
    W: Write + Send,
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    compress_stream(out, options, |sink| produce(sink))
}

/// Compresses the stream `produce` writes into `out`, where files may be
/// appended by reference: the workers read them.
pub fn compress_stream<W, F>(
    out: W,
    options: CompressOptions,
    produce: F,
) -> Result<(W, Compressed)>
where
    W: Write + Send,
    F: FnOnce(&mut dyn StreamSink) -> Result<()>,
{
    let level = options
        .level
        .unwrap_or_else(|| options.compression.default_level());
    options.compression.check_level(level)?;
    match options.compression {
        Compression::None => {
            let mut sink = Direct(HashingWriter::new(out));
            produce(&mut sink)?;
            let (out, digest, size) = sink.0.into_parts();
            let compressed = Compressed {
                diff_id: digest.clone(),
                digest,
                size,
            };
            Ok((out, compressed))
        }
        codec => pipeline(out, codec, level, options.jobs.max(1), produce),
    }
}

/// A chunk as a worker leaves it: its bytes (for the diffID), their CRC
/// (for gzip's trailer) and their compressed form.
struct Done {
    data: Vec<u8>,
    crc: crc32fast::Hasher,
    compressed: Vec<u8>,
}

/// The threads: the caller produces chunk recipes; `jobs` workers read and
/// compress them; a writer puts them in order, writes them and combines
/// their CRCs; a hasher takes the diffID of the chunks in order and hands
/// back a token for each, which bounds the chunks in flight.
fn pipeline<W, F>(
    out: W,
    codec: Compression,
    level: u32,
    jobs: usize,
    produce: F,
) -> Result<(W, Compressed)>
where
    W: Write + Send,
    F: FnOnce(&mut dyn StreamSink) -> Result<()>,
{
    let mut sink = HashingWriter::new(out);
    if codec == Compression::Gzip {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255
        sink.write_all(&GZIP_HEADER).map_err(write_error)?;
    }

    let tokens = 2 * jobs + 2;
    let (token_tx, token_rx) = sync_channel::<()>(tokens);
    for _ in 0..tokens {
        token_tx
            .send(())
            .expect("the channel has room for every token");
    }
    let (job_tx, job_rx) = sync_channel::<Job>(jobs);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (result_tx, result_rx) = channel::<(u64, Result<Done>)>();
    let (hash_tx, hash_rx) = channel::<Vec<u8>>();

    let (produced, written, hashed) = std::thread::scope(|scope| {
        for _ in 0..jobs {
            let job_rx = Arc::clone(&job_rx);
            let result_tx = result_tx.clone();
            scope.spawn(move || worker(codec, level, &job_rx, &result_tx));
        }
        // Only the workers may hold the receiving ends: when the writer
        // fails, the workers stop at their next result, and the producer's
        // next send then fails instead of waiting forever for a receiver.
        drop(job_rx);
        drop(result_tx);
        let writer = scope.spawn(move || write_in_order(sink, result_rx, hash_tx));
        let hasher = scope.spawn(move || hash_in_order(hash_rx, token_tx));

        let mut chunks = ChunkWriter::new(job_tx, token_rx);
        // Dropping the producer's end (in `finish` or here) lets the
        // workers, then the writer and the hasher, run out of work.
        let produced = match produce(&mut chunks) {
            Ok(()) => chunks.finish().map_err(write_error),
            Err(e) => {
                drop(chunks);
                Err(e)
            }
        };
        let written = writer.join().expect("the writer thread does not panic");
        let hashed = hasher.join().expect("the hasher thread does not panic");
        (produced, written, hashed)
    });
    // The writer's error comes first in the stream (a worker's), or is
    // the output's, which stops the producer too.
    let (mut sink, crc) = written?;
    produced?;
    let (diff_id, uncompressed_size) = hashed?;
    if codec == Compression::Gzip {
        // CRC32 and ISIZE (the size modulo 2^32), both little-endian.
        sink.write_all(&crc.finalize().to_le_bytes())
            .map_err(write_error)?;
        sink.write_all(&(uncompressed_size as u32).to_le_bytes())
            .map_err(write_error)?;
    }
    let (out, digest, size) = sink.into_parts();
    Ok((
        out,
        Compressed {
            diff_id,
            digest,
            size,
        },
    ))
}

/// A failed write names the output (see [`crate::atomic::blame_output`]);
/// anything else is a failure to compress.
fn write_error(e: io::Error) -> Error {
    crate::atomic::blame_output(e, |e| {
        Error::invalid(format!("writing the compressed layer: {e}"))
    })
}

fn worker(
    codec: Compression,
    level: u32,
    jobs: &Mutex<Receiver<Job>>,
    results: &Sender<(u64, Result<Done>)>,
) {
    loop {
        let job = match jobs.lock().expect("no worker panics").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let seq = job.seq;
        if results
            .send((seq, compress_job(codec, level, job)))
            .is_err()
        {
            return;
        }
    }
}

/// Reads a chunk (and its dictionary) and compresses it.
fn compress_job(codec: Compression, level: u32, job: Job) -> Result<Done> {
    let dictionary = job.dictionary.read()?;
    let data = job.data.read()?;
    let mut crc = crc32fast::Hasher::new();
    let compressed = match codec {
        Compression::Gzip => {
            crc.update(&data);
            deflate_chunk(level, &data, &dictionary, job.last)
        }
        Compression::Zstd => zstd::bulk::compress(&data, level as i32),
        Compression::None => unreachable!("uncompressed layers skip the pipeline"),
    }
    .map_err(write_error)?;
    Ok(Done {
        data,
        crc,
        compressed,
    })
}

/// Writes the chunks in order, combining their CRCs, and passes their
/// bytes on to the hasher. The first error in stream order ends it.
fn write_in_order<W: Write>(
    mut sink: HashingWriter<W>,
    results: Receiver<(u64, Result<Done>)>,
    hasher: Sender<Vec<u8>>,
) -> Result<(HashingWriter<W>, crc32fast::Hasher)> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = crc32fast::Hasher::new();
    for (seq, done) in results {
        pending.insert(seq, done);
        while let Some(done) = pending.remove(&next) {
            let done = done?;
            sink.write_all(&done.compressed).map_err(write_error)?;
            crc.combine(&done.crc);
            // The hasher stops only when this sender is dropped.
            let _ = hasher.send(done.data);
            next += 1;
        }
    }
    Ok((sink, crc))
}

/// The diffID: SHA-256 of the chunks in order; each chunk hashed frees a token.
fn hash_in_order(chunks: Receiver<Vec<u8>>, tokens: SyncSender<()>) -> Result<(Digest, u64)> {
    let mut diff_id = Sha256::new();
    let mut size = 0u64;
    for data in chunks {
        diff_id.update(&data);
        size += data.len() as u64;
        drop(data);
        // The producer may have stopped; a token nobody takes is harmless.
        let _ = tokens.try_send(());
    }
    let hex = hex::encode(diff_id.finalize());
    Ok((crate::digest::parse(&format!("sha256:{hex}"))?, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::{read_gzip_bytes, sha256_hex};
    use std::io::Read;

    /// Data that compresses somewhat, spanning several chunks.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 3 == 0 {
                    b'a' + (i % 26) as u8
                } else {
                    (state % 16) as u8
                }
            })
            .collect()
    }

    fn run(compression: Compression, jobs: usize, data: &[u8]) -> (Vec<u8>, Compressed) {
        let options = CompressOptions {
            compression,
            level: None,
            jobs,
        };
        compress(Vec::new(), options, |w| {
            // Odd write sizes exercise the chunk boundaries.
            for piece in data.chunks(77_777) {
                w.write_all(piece).unwrap();
            }
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn output_is_identical_for_any_number_of_jobs() {
        let data = sample(3 * CHUNK_SIZE + 12_345);
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let (one, d1) = run(compression, 1, &data);
            for jobs in [2, 3, 3, 3, 8] {
                let (many, dn) = run(compression, jobs, &data);
                assert_eq!(one, many, "{compression} with {jobs} jobs");
                assert_eq!(d1, dn);
            }
        }
    }

    /// The bytes rko writes are part of its contract: a digest changes only
    /// on purpose. zlib-rs picks CPU-specific code at run time only for
    /// match comparison, hash sliding and checksums, which compute the same
    /// values everywhere; this test pins the result. Readers that are not
    /// rko's first say what the bytes hold: zlib (through Python) and the
    /// zstd program decompress them to the input.
    #[test]
    fn compressed_bytes_are_pinned() {
        let data = sample(3 * CHUNK_SIZE + 12_345);
        let (gzip, gzip_out) = run(Compression::Gzip, 2, &data);
        let (zstd, zstd_out) = run(Compression::Zstd, 2, &data);

        let read = read_gzip_bytes(&gzip);
        assert_eq!(read.members.len(), 1, "one gzip member: {:?}", read.members);
        let header = &read.members[0];
        // RFC 1952, section 2.3, with the values DESIGN.md fixes.
        let fields = [
            ("ID1 ID2", header.id.clone(), "1f8b".to_string()),
            ("CM (8 is deflate)", header.cm.to_string(), "8".into()),
            (
                "FLG (no name, comment, extra or CRC16)",
                header.flg.to_string(),
                "0".into(),
            ),
            ("MTIME", header.mtime.to_string(), "0".into()),
            ("XFL", header.xfl.to_string(), "0".into()),
            (
                "OS (255 is unknown, as Go writes)",
                header.os.to_string(),
                "255".into(),
            ),
            ("FNAME", format!("{:?}", header.name), "None".into()),
        ];
        for (field, got, want) in fields {
            assert_eq!(got, want, "gzip header field {field}");
        }
        assert_eq!(
            (read.size, read.sha256),
            (data.len() as u64, sha256_hex(&data)),
            "gzip content, as zlib decompresses it: (size, sha256)"
        );
        assert_eq!(
            sha256_hex(&zstd_decompressed(&zstd)),
            sha256_hex(&data),
            "zstd content, as the zstd program decompresses it"
        );

        let cases = [
            (
                gzip_out,
                Compression::Gzip,
                "sha256:e58df76d71a847102cb0bd508b7c4989714b862f840eaa0fd2c25d01656d97e8",
            ),
            (
                zstd_out,
                Compression::Zstd,
                "sha256:4fc89410c59460fbe28c9e56a9d5169669e626ffd971882f87d5c4d6380492a2",
            ),
        ];
        for (out, compression, want) in cases {
            assert_eq!(out.digest.to_string(), want, "{compression}");
        }
    }

    /// `bytes` decompressed by the zstd program (`zstd -dc`).
    fn zstd_decompressed(bytes: &[u8]) -> Vec<u8> {
        let input = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(input.path(), bytes).unwrap();
        let out = std::process::Command::new("zstd")
            .arg("-dc")
            .arg(input.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs the zstd program: {e}; `apt-get install zstd`")
            });
        assert!(
            out.status.success(),
            "zstd -dc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    #[test]
    fn gzip_output_decompresses_to_the_input_with_its_diff_id() {
        for len in [0, 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 1] {
            let data = sample(len);
            let (bytes, out) = run(Compression::Gzip, 2, &data);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "length {len}");
            assert_eq!(out.diff_id, crate::digest::sha256(&data));
            assert_eq!(out.digest, crate::digest::sha256(&bytes));
            assert_eq!(out.size, bytes.len() as u64);
        }
    }

    #[test]
    fn zstd_output_decompresses_to_the_input() {
        let data = sample(2 * CHUNK_SIZE + 99);
        let (bytes, _) = run(Compression::Zstd, 2, &data);
        assert_eq!(zstd::stream::decode_all(&bytes[..]).unwrap(), data);
    }

    /// A writer that takes `room` bytes, then fails as a full disk does.
    struct FullDisk {
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_output_ends_the_pipeline_with_its_error() {
        let data = sample(24 * CHUNK_SIZE);
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            for room in [0, 5, CHUNK_SIZE] {
                let (done, result) = std::sync::mpsc::channel();
                let data = data.clone();
                std::thread::spawn(move || {
                    let options = CompressOptions {
                        compression,
                        level: None,
                        jobs: 2,
                    };
                    let out = compress(FullDisk { room }, options, |w| {
                        w.write_all(&data)
                            .map_err(|e| Error::invalid(e.to_string()))
                    });
                    done.send(out.err().map(|e| e.to_string())).unwrap();
                });
                // A deadlock detector, not a speed limit.
                let err = result
                    .recv_timeout(std::time::Duration::from_secs(60))
                    .unwrap_or_else(|_| panic!("{compression}, room {room}: hung"));
                let err = err.unwrap_or_else(|| panic!("{compression}, room {room}: no error"));
                assert!(err.contains("No space left"), "{compression}: {err}");
            }
        }
    }

    /// `data` written as a stream in which the ranges `files` (start, end)
    /// are appended as files that the workers read.
    fn run_with_files(
        compression: Compression,
        jobs: usize,
        data: &[u8],
        files: &[(usize, usize)],
        dir: &std::path::Path,
    ) -> Result<(Vec<u8>, Compressed)> {
        let options = CompressOptions {
            compression,
            level: None,
            jobs,
        };
        compress_stream(Vec::new(), options, |sink| {
            let mut at = 0;
            for (i, &(start, end)) in files.iter().enumerate() {
                sink.write_all(&data[at..start])
                    .map_err(|e| Error::invalid(e.to_string()))?;
                let path = dir.join(format!("f{i}"));
                if !path.exists() {
                    std::fs::write(&path, &data[start..end]).unwrap();
                }
                let size = (end - start) as u64;
                let entry = format!("f{i}");
                sink.append_file(&Arc::new(FileSource { path, entry, size }))?;
                at = end;
            }
            sink.write_all(&data[at..])
                .map_err(|e| Error::invalid(e.to_string()))
        })
    }

    /// Files cut across chunk boundaries, inside a dictionary, empty, or
    /// exactly a chunk: the bytes are those of the same stream written.
    #[test]
    fn files_read_by_the_workers_give_the_bytes_of_the_stream() {
        let data = sample(4 * CHUNK_SIZE + 777);
        let c = CHUNK_SIZE;
        let files = [
            (10, 10),
            (100, c - 5),
            (c - 3, c + 20_000),
            (c + 20_000, 2 * c + 20_000),
            (2 * c + 30_000, 2 * c + 30_001),
            (3 * c - 40_000, 3 * c),
            (3 * c, 4 * c),
        ];
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let (want, want_digests) = run(compression, 1, &data);
            for jobs in [1, 2, 3] {
                let dir = tempfile::tempdir().unwrap();
                let (got, digests) =
                    run_with_files(compression, jobs, &data, &files, dir.path()).unwrap();
                assert!(got == want, "{compression}, {jobs} jobs: bytes differ");
                assert_eq!(digests, want_digests, "{compression}, {jobs} jobs");
            }
        }
    }

    /// Two files that shrank: the error names the first in the stream,
    /// whichever worker got to its chunk first.
    #[test]
    fn the_first_failure_in_the_stream_is_the_one_reported() {
        let data = sample(6 * CHUNK_SIZE);
        let files = [
            (CHUNK_SIZE + 10, CHUNK_SIZE + 1000),
            (5 * CHUNK_SIZE, 5 * CHUNK_SIZE + 10),
        ];
        for jobs in [1, 2, 3, 8] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("f0"), b"short").unwrap();
            std::fs::write(dir.path().join("f1"), b"").unwrap();
            let err = run_with_files(Compression::Gzip, jobs, &data, &files, dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("\"f0\"") && err.contains("has only 5"),
                "{jobs} jobs: {err}"
            );
        }
    }

    /// A producer that fails (a tree entry that is not allowed, seen
    /// midway) ends the pipeline with its own error instead of waiting
    /// forever for workers that wait for it.
    #[test]
    fn a_failing_producer_ends_the_pipeline_with_its_error() {
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            for written in [0, 5, 3 * CHUNK_SIZE] {
                let (done, result) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let options = CompressOptions {
                        compression,
                        level: None,
                        jobs: 2,
                    };
                    let out = compress(Vec::new(), options, |w| {
                        w.write_all(&vec![7u8; written]).unwrap();
                        Err(Error::invalid("the producer failed"))
                    });
                    done.send(out.err().map(|e| e.to_string())).unwrap();
                });
                // A deadlock detector, not a speed limit.
                let err = result
                    .recv_timeout(std::time::Duration::from_secs(60))
                    .unwrap_or_else(|_| panic!("{compression}, {written} bytes: hung"));
                assert_eq!(err.as_deref(), Some("the producer failed"), "{compression}");
            }
        }
    }

    #[test]
    fn levels_outside_the_codec_range_are_rejected() {
        let options = CompressOptions {
            compression: Compression::Gzip,
            level: Some(12),
            jobs: 1,
        };
        let err = compress(Vec::new(), options, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("--level 12"), "{err}");
    }
}
