//! The uncompressed stream as the compression pipeline carries it: cut into
//! fixed chunks, each a recipe of bytes given inline and ranges of files
//! that a worker reads. The producer only describes the stream; reading
//! the files, like compressing them, is spread over the workers.

use super::deflate::{CHUNK_SIZE, DICTIONARY_SIZE};
use crate::atomic::blame_output;
use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// A file whose first `size` bytes go into the stream as the content of
/// layer entry `entry` (named in errors).
#[derive(Debug)]
pub struct FileSource {
    pub path: PathBuf,
    pub entry: String,
    pub size: u64,
}

impl FileSource {
    /// A read failure names the entry and the file; a failed write, the output.
    fn error(&self, e: io::Error) -> Error {
        blame_output(e, |e| {
            Error::invalid(format!(
                "writing layer entry {:?}: {}: {e}",
                self.entry,
                self.path.display()
            ))
        })
    }

    fn short(&self, found: u64) -> Error {
        self.error(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "expected {} bytes but the file has only {found}: did it change while rko read it?",
                self.size
            ),
        ))
    }
}

/// Where a stream goes: bytes written to it, and files appended by reference.
pub trait StreamSink: Write {
    /// Appends the first `file.size` bytes of `file`; they may be read
    /// later, on another thread.
    fn append_file(&mut self, file: &Arc<FileSource>) -> Result<()>;
}

impl<S: StreamSink + ?Sized> StreamSink for &mut S {
    fn append_file(&mut self, file: &Arc<FileSource>) -> Result<()> {
        (**self).append_file(file)
    }
}

/// A sink that reads each file as it is appended, on the caller's thread
/// (a plain tar, an uncompressed layer).
pub struct Direct<W>(pub W);

impl<W: Write> Write for Direct<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> StreamSink for Direct<W> {
    fn append_file(&mut self, file: &Arc<FileSource>) -> Result<()> {
        let reader = File::open(&file.path).with_path("opening", &file.path)?;
        let copied =
            io::copy(&mut reader.take(file.size), &mut self.0).map_err(|e| file.error(e))?;
        if copied != file.size {
            return Err(file.short(copied));
        }
        Ok(())
    }
}

enum Piece {
    /// The next `len` bytes of the recipe's inline bytes.
    Inline(usize),
    File {
        file: Arc<FileSource>,
        offset: u64,
        len: usize,
    },
}

/// One chunk's bytes, described: inline bytes and file ranges, in order.
#[derive(Default)]
pub(super) struct Recipe {
    inline: Vec<u8>,
    pieces: Vec<Piece>,
    len: usize,
}

impl Recipe {
    fn push_inline(&mut self, bytes: &[u8]) {
        match self.pieces.last_mut() {
            Some(Piece::Inline(len)) => *len += bytes.len(),
            _ => self.pieces.push(Piece::Inline(bytes.len())),
        }
        self.inline.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_file(&mut self, file: &Arc<FileSource>, offset: u64, len: usize) {
        let file = Arc::clone(file);
        self.pieces.push(Piece::File { file, offset, len });
        self.len += len;
    }

    /// The recipe of the last `n` bytes (all of them if there are fewer).
    fn tail(&self, n: usize) -> Recipe {
        let mut want = n.min(self.len);
        let mut inline_end = self.inline.len();
        let mut taken = Vec::new();
        for piece in self.pieces.iter().rev() {
            if want == 0 {
                break;
            }
            match piece {
                Piece::Inline(len) => {
                    let take = want.min(*len);
                    taken.push(Err(&self.inline[inline_end - take..inline_end]));
                    inline_end -= len;
                    want -= take;
                }
                Piece::File { file, offset, len } => {
                    let take = want.min(*len);
                    if take > 0 {
                        taken.push(Ok((file, offset + (len - take) as u64, take)));
                    }
                    want -= take;
                }
            }
        }
        let mut tail = Recipe::default();
        for piece in taken.into_iter().rev() {
            match piece {
                Err(bytes) => tail.push_inline(bytes),
                Ok((file, offset, len)) => tail.push_file(file, offset, len),
            }
        }
        tail
    }

    /// The bytes the recipe describes, reading its files.
    pub(super) fn read(self) -> Result<Vec<u8>> {
        if self.pieces.iter().all(|p| matches!(p, Piece::Inline(_))) {
            return Ok(self.inline);
        }
        let mut out = vec![0u8; self.len];
        let (mut at, mut inline_at) = (0, 0);
        let mut open: Option<(&Arc<FileSource>, File)> = None;
        for piece in &self.pieces {
            match piece {
                Piece::Inline(len) => {
                    out[at..at + len].copy_from_slice(&self.inline[inline_at..inline_at + len]);
                    inline_at += len;
                    at += len;
                }
                Piece::File { file, offset, len } => {
                    // A dictionary usually ends in the file its chunk starts with.
                    if !open.as_ref().is_some_and(|(f, _)| Arc::ptr_eq(f, file)) {
                        let handle = File::open(&file.path).with_path("opening", &file.path)?;
                        open = Some((file, handle));
                    }
                    let handle = &open.as_ref().expect("opened above").1;
                    read_range(file, handle, *offset, &mut out[at..at + len])?;
                    at += len;
                }
            }
        }
        Ok(out)
    }
}

/// Fills `buf` from `handle` at `offset`; a file that ends early is an error.
fn read_range(file: &FileSource, handle: &File, offset: u64, buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match handle.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => return Err(file.short(offset + filled as u64)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(file.error(e)),
        }
    }
    Ok(())
}

/// One chunk on its way to a worker: its recipe and its dictionary's.
pub(super) struct Job {
    pub seq: u64,
    pub data: Recipe,
    pub dictionary: Recipe,
    pub last: bool,
}

fn stopped() -> io::Error {
    io::Error::other("the compression pipeline stopped")
}

/// The producer's end: cuts the stream into chunk recipes and sends them,
/// each once a token says there is room for another chunk in flight.
pub(super) struct ChunkWriter {
    jobs: SyncSender<Job>,
    tokens: Receiver<()>,
    recipe: Recipe,
    dictionary: Recipe,
    seq: u64,
}

impl ChunkWriter {
    pub(super) fn new(jobs: SyncSender<Job>, tokens: Receiver<()>) -> Self {
        ChunkWriter {
            jobs,
            tokens,
            recipe: Recipe::default(),
            dictionary: Recipe::default(),
            seq: 0,
        }
    }

    fn room(&self) -> usize {
        CHUNK_SIZE - self.recipe.len
    }

    fn send(&mut self, last: bool) -> io::Result<()> {
        self.tokens.recv().map_err(|_| stopped())?;
        let data = std::mem::take(&mut self.recipe);
        let dictionary = std::mem::replace(&mut self.dictionary, data.tail(DICTIONARY_SIZE));
        let job = Job {
            seq: self.seq,
            data,
            dictionary,
            last,
        };
        self.seq += 1;
        self.jobs.send(job).map_err(|_| stopped())
    }

    /// Sends the last chunk (empty if the stream ended on a chunk boundary).
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.send(true)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.room().min(buf.len());
        self.recipe.push_inline(&buf[..n]);
        if self.room() == 0 {
            self.send(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StreamSink for ChunkWriter {
    fn append_file(&mut self, file: &Arc<FileSource>) -> Result<()> {
        // An empty file is still opened, so that an unreadable one is an error.
        if file.size == 0 {
            self.recipe.push_file(file, 0, 0);
        }
        let mut offset = 0;
        while offset < file.size {
            let len = (self.room() as u64).min(file.size - offset) as usize;
            self.recipe.push_file(file, offset, len);
            offset += len as u64;
            if self.room() == 0 {
                self.send(false).map_err(|e| file.error(e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Arc<FileSource> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        Arc::new(FileSource {
            path,
            entry: name.to_string(),
            size: bytes.len() as u64,
        })
    }

    /// Tails cut across inline bytes and file ranges read back as the last
    /// bytes of the whole.
    #[test]
    fn a_tail_reads_as_the_last_bytes_of_its_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let a = source(dir.path(), "a", b"0123456789");
        let mut recipe = Recipe::default();
        recipe.push_inline(b"head-");
        recipe.push_file(&a, 2, 6);
        recipe.push_file(&a, 0, 0);
        recipe.push_inline(b"-mid-");
        recipe.push_file(&a, 7, 3);
        let whole = b"head-234567-mid-789";
        for n in [0, 1, 3, 4, 8, 9, 14, 19, 100] {
            let tail = recipe.tail(n).read().unwrap();
            assert_eq!(tail, &whole[whole.len() - n.min(whole.len())..], "tail {n}");
        }
        assert_eq!(recipe.read().unwrap(), whole);
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = source(dir.path(), "short", b"12345");
        let announced = Arc::new(FileSource {
            size: 10,
            entry: "data/short".into(),
            path: file.path.clone(),
        });
        let mut recipe = Recipe::default();
        recipe.push_file(&announced, 0, 10);
        let err = recipe.read().unwrap_err().to_string();
        assert!(
            err.contains("\"data/short\"") && err.contains("only 5: did it change"),
            "{err}"
        );
    }
}
