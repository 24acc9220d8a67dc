//! The floor on transfer rate: a body that keeps its connection alive with
//! a byte now and then, yet never gets anywhere, fails as a stalled one does.
//!
//! The idle timeout (`--network-timeout`) restarts with every byte, so a
//! body sent one byte every few seconds would hold rko forever. As curl's
//! `--speed-limit`/`--speed-time` (and git's and cargo's
//! `low-speed-limit`/`low-speed-time`, whose names rko takes), a transfer
//! that averages fewer than `bytes_per_second` over a window of `window`
//! fails; each window that meets the floor starts the next one. The end of
//! a body is never judged, so a small body is never cut for being small.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The slowest transfer rko waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFloor {
    /// The average, in bytes per second, a transfer must keep; 0 turns the
    /// floor off.
    pub bytes_per_second: u64,
    /// How long the average is taken over.
    pub window: Duration,
}

impl Default for RateFloor {
    /// 1 KiB/s over 30 s: under what any working link moves (a 56k modem
    /// moves 7 KB/s; one of eight parallel transfers over a 1 Mbit/s link,
    /// 15 KB/s), and far over a connection kept alive a byte at a time. The
    /// window is the idle timeout's default, so a transfer stuck for good
    /// fails in about the time a silent one does.
    fn default() -> Self {
        RateFloor {
            bytes_per_second: 1024,
            window: Duration::from_secs(30),
        }
    }
}

/// What the floor says of a window so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Too early to judge: the window is still open.
    Open,
    /// The window met the floor: the next one starts.
    Met,
    /// The transfer averaged under the floor: it fails.
    Under,
}

impl RateFloor {
    /// The rule: a window in which `bytes` moved over `elapsed`.
    pub fn judge(&self, bytes: u64, elapsed: Duration) -> Verdict {
        if self.bytes_per_second == 0 || elapsed < self.window {
            return Verdict::Open;
        }
        if (bytes as f64) < self.bytes_per_second as f64 * elapsed.as_secs_f64() {
            Verdict::Under
        } else {
            Verdict::Met
        }
    }

    /// `inner`, failing once it falls under the floor.
    pub fn reader<R: Read>(&self, inner: R) -> Floored<R> {
        Floored {
            inner,
            floor: *self,
            window: None,
        }
    }
}

/// A reader held to a [`RateFloor`]; its window opens at the first read.
pub struct Floored<R> {
    inner: R,
    floor: RateFloor,
    /// When the current window opened, and the bytes read in it.
    window: Option<(Instant, u64)>,
}

impl<R: Read> Read for Floored<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The clock only bounds a wait here; it never reaches an output.
        let (opened, bytes) = self.window.get_or_insert_with(|| (Instant::now(), 0));
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Ok(0);
        }
        *bytes += n as u64;
        let elapsed = opened.elapsed();
        match self.floor.judge(*bytes, elapsed) {
            Verdict::Open => {}
            Verdict::Met => self.window = Some((Instant::now(), 0)),
            Verdict::Under => return Err(too_slow(&self.floor, *bytes, elapsed)),
        }
        Ok(n)
    }
}

/// The error of a transfer under the floor: a timeout, retried as a stall is.
fn too_slow(floor: &RateFloor, bytes: u64, elapsed: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the transfer crawled: {bytes} bytes in {:.0} s, under the floor of {} bytes/s \
             (--low-speed-limit BYTES_PER_SECOND over --low-speed-time SECONDS; 0 turns it off)",
            elapsed.as_secs_f64(),
            floor.bytes_per_second
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fails_only_when_it_is_over_and_averaged_under_the_floor() {
        let floor = RateFloor::default();
        let secs = Duration::from_secs;
        for (bytes, elapsed, want) in [
            // The window is still open, however little came.
            (0, secs(0), Verdict::Open),
            (5, secs(29), Verdict::Open),
            // Over: at least 1 KiB/s on average, or under.
            (30 * 1024, secs(30), Verdict::Met),
            (30 * 1024 - 1, secs(30), Verdict::Under),
            (6, secs(30), Verdict::Under),
            // A window judged late (a read waited) needs the rate over all of it.
            (30 * 1024, secs(45), Verdict::Under),
            (45 * 1024, secs(45), Verdict::Met),
            (u64::MAX, secs(3600), Verdict::Met),
        ] {
            assert_eq!(floor.judge(bytes, elapsed), want, "{bytes} in {elapsed:?}");
        }
        let off = RateFloor {
            bytes_per_second: 0,
            ..floor
        };
        assert_eq!(off.judge(0, secs(86_400)), Verdict::Open, "0 turns it off");
    }

    #[test]
    fn a_body_is_passed_on_unchanged_and_its_end_is_never_judged() {
        let floor = RateFloor {
            bytes_per_second: u64::MAX,
            window: Duration::ZERO,
        };
        let mut read = Vec::new();
        floor.reader(&b""[..]).read_to_end(&mut read).unwrap();
        assert!(read.is_empty(), "an empty body is not under any floor");
        let off = RateFloor {
            bytes_per_second: 0,
            ..floor
        };
        off.reader(&b"manifest"[..]).read_to_end(&mut read).unwrap();
        assert_eq!(read, b"manifest");
        let slow = Sleepy.chain(&b"x"[..]);
        let err = floor.reader(slow).read_to_end(&mut read).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("--low-speed-limit"), "{err}");
    }

    /// Nothing, after a moment: a body that keeps the reader waiting.
    struct Sleepy;

    impl Read for Sleepy {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_millis(1));
            Ok(0)
        }
    }
}
