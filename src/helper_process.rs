//! Running a credential helper with bounds: a time limit, at most so many
//! bytes on each of its stdout and stderr, its own process group (stopped
//! whole when rko gives up on it, so that a child it left behind cannot
//! hold its pipes open), and its stdin written as docker and Go's os/exec
//! write it (a helper that answers without reading is no error).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// How long and how much a helper may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperLimits {
    /// From start to the end of its output (the network timeout).
    pub timeout: Duration,
    /// Bytes on each of stdout and stderr; more is a failure.
    pub max_output: usize,
}

impl Default for HelperLimits {
    fn default() -> Self {
        HelperLimits {
            timeout: Duration::from_secs(30),
            max_output: 1 << 20,
        }
    }
}

/// A helper that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a helper's run was given up.
#[derive(Debug)]
pub enum Failure {
    CannotStart(io::Error),
    /// No end within the timeout; the group was stopped.
    TimedOut(Duration),
    /// More than the limit on `stream`; the group was stopped.
    TooMuch {
        stream: Stream,
        limit: usize,
    },
    /// It exited, but its output was still open at the time limit (held
    /// by a process it started, outside its group or not yet stopped).
    HeldOpen,
    /// Writing its stdin failed otherwise than by its not reading it.
    Stdin(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const STOPPED: &str = "it was stopped with its process group";
        match self {
            Failure::CannotStart(e) => write!(f, "cannot run it: {e}"),
            Failure::TimedOut(timeout) => write!(
                f,
                "no answer within {}; {STOPPED} (a slow helper needs a longer --network-timeout)",
                seconds(*timeout)
            ),
            Failure::TooMuch { stream, limit } => write!(
                f,
                "it wrote more than {} on its {}; {STOPPED}",
                bytes(*limit),
                match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                }
            ),
            Failure::HeldOpen => f.write_str(
                "it exited, but a process it started still held its output open \
                 at the time limit",
            ),
            Failure::Stdin(e) => write!(f, "writing its stdin: {e}"),
        }
    }
}

/// `2 s`, `0.5 s`.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// `1 MiB`, or `100 bytes` when not a whole number of MiB.
fn bytes(count: usize) -> String {
    match count {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// What the threads watching a helper report.
enum Event {
    Exited(io::Result<ExitStatus>),
    Output(Stream, Vec<u8>),
    TooMuch(Stream),
    StdinFailed(io::Error),
}

/// Process groups of helpers running now, for [`stop_running`].
static RUNNING: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Stops every helper still running, with its process group. Meant for a
/// SIGINT/SIGTERM handler: a helper in a group of its own no longer gets
/// the terminal's Ctrl-C.
pub fn stop_running() {
    for group in crate::parallel::lock(&RUNNING).iter() {
        kill_group(*group);
    }
}

/// Sends SIGKILL to the process group `group`.
fn kill_group(group: u32) {
    // SIGKILL is 9 on every Unix; kill(2) with a negative pid names a group.
    const SIGKILL: i32 = 9;
    extern "C" {
        fn kill(pid: i32, signal: i32) -> i32;
    }
    let Ok(pid) = i32::try_from(group) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        kill(-pid, SIGKILL);
    }
}

/// Removes its group from [`RUNNING`] however the run ends.
struct Registered(u32);

impl Drop for Registered {
    fn drop(&mut self) {
        crate::parallel::lock(&RUNNING).remove(&self.0);
    }
}

/// How long the pipes of a helper that has exited may stay open before
/// whatever it left in its process group is stopped. Its own output is in
/// the pipe by the time it exits; only a child it left behind keeps one open.
const AFTER_EXIT: Duration = Duration::from_secs(1);

/// Runs `program ARGS` with `input` on its stdin, within `limits`.
pub fn run(
    program: &OsStr,
    args: &[&str],
    input: &[u8],
    limits: HelperLimits,
) -> Result<Finished, Failure> {
    let deadline = Instant::now() + limits.timeout;
    let mut child = Command::new(program)
        .args(args)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Failure::CannotStart)?;
    let group = child.id();
    crate::parallel::lock(&RUNNING).insert(group);
    let _registered = Registered(group);
    let (events, watched) = mpsc::channel();
    let stdin = child.stdin.take().expect("stdin is piped");
    feed(stdin, input.to_vec(), events.clone());
    let stdout = child.stdout.take().expect("stdout is piped");
    drain(stdout, Stream::Stdout, limits.max_output, events.clone());
    let stderr = child.stderr.take().expect("stderr is piped");
    drain(stderr, Stream::Stderr, limits.max_output, events.clone());
    thread::spawn(move || {
        let _ = events.send(Event::Exited(child.wait()));
    });
    let result = watch(&watched, group, deadline, limits);
    if result.is_err() {
        kill_group(group);
    }
    result
}

/// Waits for the helper's exit and both of its outputs, or for a failure.
fn watch(
    events: &mpsc::Receiver<Event>,
    group: u32,
    deadline: Instant,
    limits: HelperLimits,
) -> Result<Finished, Failure> {
    let (mut status, mut stdout, mut stderr) = (None, None, None);
    // Once it has exited: when to stop what it left behind holding a pipe.
    let mut stop_leftovers_at = None;
    loop {
        if let (Some(status), Some(_), Some(_)) = (status, &stdout, &stderr) {
            return Ok(Finished {
                status,
                stdout: stdout.take().expect("checked above"),
                stderr: stderr.take().expect("checked above"),
            });
        }
        let until = stop_leftovers_at.map_or(deadline, |at: Instant| at.min(deadline));
        match events.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Event::Exited(Ok(exit))) => {
                status = Some(exit);
                stop_leftovers_at = Some(Instant::now() + AFTER_EXIT);
            }
            Ok(Event::Exited(Err(e))) => return Err(Failure::CannotStart(e)),
            Ok(Event::Output(Stream::Stdout, bytes)) => stdout = Some(bytes),
            Ok(Event::Output(Stream::Stderr, bytes)) => stderr = Some(bytes),
            Ok(Event::TooMuch(stream)) => {
                let limit = limits.max_output;
                return Err(Failure::TooMuch { stream, limit });
            }
            Ok(Event::StdinFailed(e)) => return Err(Failure::Stdin(e)),
            Err(RecvTimeoutError::Timeout) if until < deadline => {
                // It exited and something it left holds a pipe: stop that
                // too; the pipes close and their reads end.
                stop_leftovers_at = None;
                kill_group(group);
            }
            Err(_) if status.is_some() => return Err(Failure::HeldOpen),
            Err(_) => return Err(Failure::TimedOut(limits.timeout)),
        }
    }
}

/// Writes `input` to the helper's stdin and closes it. A helper that exits
/// without reading it is no error: docker's client and Go's os/exec ignore
/// EPIPE there.
fn feed(mut stdin: impl Write + Send + 'static, input: Vec<u8>, events: mpsc::Sender<Event>) {
    thread::spawn(move || {
        if let Err(e) = stdin.write_all(&input) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let _ = events.send(Event::StdinFailed(e));
            }
        }
    });
}

/// Reads `pipe` to its end, or reports that it holds more than `limit` bytes.
fn drain(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    limit: usize,
    events: mpsc::Sender<Event>,
) {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A failed read ends the output where it failed, as an end of file would.
        let _ = pipe.take(limit as u64 + 1).read_to_end(&mut bytes);
        let _ = events.send(if bytes.len() > limit {
            Event::TooMuch(stream)
        } else {
            Event::Output(stream, bytes)
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(timeout_ms: u64, max_output: usize) -> HelperLimits {
        HelperLimits {
            timeout: Duration::from_millis(timeout_ms),
            max_output,
        }
    }

    /// `sh -c SCRIPT`, given `input`; what it printed, or why it failed.
    fn sh(script: &str, input: &str, limits: HelperLimits) -> Result<(String, String), String> {
        run(OsStr::new("sh"), &["-c", script], input.as_bytes(), limits)
            .map(|done| {
                assert!(done.status.success(), "{script}");
                let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
                (text(done.stdout), text(done.stderr))
            })
            .map_err(|failure| failure.to_string())
    }

    #[test]
    fn a_helper_runs_within_its_bounds_or_is_stopped_with_the_reason() {
        let ok = |out: &str, err: &str| Ok((out.to_string(), err.to_string()));
        let failed = |why: &str| Err(why.to_string());
        let roomy = limits(60_000, 64);
        for (script, input, limits, want) in [
            ("read line; echo \"got $line\"", "reg.io\n", roomy, ok("got reg.io\n", "")),
            ("echo out; echo err >&2", "", roomy, ok("out\n", "err\n")),
            // Not reading stdin, with more input than a pipe holds.
            ("echo answered", &"x".repeat(1 << 20), roomy, ok("answered\n", "")),
            ("printf %64s ''", "", roomy, ok(&" ".repeat(64), "")),
            (
                "printf %65s ''",
                "",
                roomy,
                failed("it wrote more than 64 bytes on its stdout; it was stopped with its process group"),
            ),
            (
                "yes >&2",
                "",
                roomy,
                failed("it wrote more than 64 bytes on its stderr; it was stopped with its process group"),
            ),
            (
                "sleep 600",
                "",
                limits(500, 64),
                failed("no answer within 0.5 s; it was stopped with its process group (a slow helper needs a longer --network-timeout)"),
            ),
            // Its answer is used; the child holding stdout is stopped.
            ("echo answered; sleep 600 &", "", roomy, ok("answered\n", "")),
        ] {
            assert_eq!(sh(script, input, limits), want, "{script}");
        }
    }

    #[test]
    fn a_helper_that_cannot_start_says_why() {
        let failure = run(
            OsStr::new("/nonexistent/docker-credential-x"),
            &["get"],
            b"",
            HelperLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(failure, Failure::CannotStart(_)), "{failure}");
        assert!(
            failure.to_string().starts_with("cannot run it: "),
            "{failure}"
        );
    }
}
