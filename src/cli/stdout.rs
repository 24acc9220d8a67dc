//! Standard output, for every command: what a command prints goes through
//! here, so that a reader that has gone (`rko completion bash | head -1`)
//! ends the run quietly, as ripgrep does, instead of a panic. SIGPIPE stays
//! ignored (Rust's default): rko writes to pipes of its own children
//! (credential helpers, kubectl), where a closed pipe is an error to report.

use rko::{Error, Result};
use std::io::{ErrorKind, Write};

/// The path an error on standard output names.
const STDOUT: &str = "standard output";

/// Writes `bytes` to standard output and flushes them.
pub fn write(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing", STDOUT, e))
}

/// Prints `line` and a newline.
pub fn line(line: impl std::fmt::Display) -> Result<()> {
    write(format!("{line}\n").as_bytes())
}

/// A writer for output made in pieces (`resolve`'s YAML); its errors are
/// those of `write`, through `finish`.
pub fn writer() -> impl Write {
    std::io::BufWriter::new(std::io::stdout().lock())
}

/// Flushes `writer`'s output, or names what failed.
pub fn finish(result: std::io::Result<()>) -> Result<()> {
    result.map_err(|e| Error::io("writing", STDOUT, e))
}

/// Whether `err` is standard output's reader having gone: the run ends
/// quietly, its output cut short on purpose by whoever read it.
pub fn reader_gone(err: &Error) -> bool {
    matches!(err, Error::Io { path, source, .. }
        if path.as_os_str() == STDOUT && source.kind() == ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_on_standard_output_is_quiet() {
        let io = |kind: ErrorKind| std::io::Error::new(kind, "x");
        for (err, quiet) in [
            (
                Error::io("writing", STDOUT, io(ErrorKind::BrokenPipe)),
                true,
            ),
            (
                Error::io("writing", STDOUT, io(ErrorKind::StorageFull)),
                false,
            ),
            (
                Error::io("writing", "out.tar", io(ErrorKind::BrokenPipe)),
                false,
            ),
            (
                Error::invalid("writing to kubectl apply: Broken pipe"),
                false,
            ),
        ] {
            assert_eq!(reader_gone(&err), quiet, "{err}");
        }
    }
}
