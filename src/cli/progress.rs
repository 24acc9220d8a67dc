//! What rko says while it works, on stderr: the library's `log` records
//! (ko's step lines: "Building … for …", "pushed blob: …", "Published …"),
//! one line each; on a terminal, the same lines scroll above a live status
//! line (a spinner, the step under way, the bytes uploaded so far).
//! `--quiet` keeps warnings and errors only; `-v` adds each registry
//! request, as ko's `-v` turns on go-containerregistry's debug log.

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The live status line, when stderr is a terminal.
static LIVE: OnceLock<ProgressBar> = OnceLock::new();

/// Installs the logger for this process. `terminal` says whether stderr is
/// one that can be drawn on (the caller knows `TERM`).
pub fn install(verbosity: Verbosity, terminal: bool) {
    let level = match verbosity {
        Verbosity::Quiet => LevelFilter::Warn,
        Verbosity::Normal => LevelFilter::Info,
        Verbosity::Verbose => LevelFilter::Debug,
    };
    let live = (terminal && verbosity != Verbosity::Quiet).then(live_line);
    if let Some(bar) = &live {
        let _ = LIVE.set(bar.clone());
    }
    if log::set_boxed_logger(Box::new(Logger { level, live })).is_ok() {
        log::set_max_level(level);
    }
}

/// Whether stderr is a terminal worth drawing on.
pub fn stderr_is_terminal(term: Option<&str>) -> bool {
    std::io::stderr().is_terminal() && term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

/// Clears the live line, leaving only the logged lines.
pub fn finish() {
    if let Some(bar) = LIVE.get() {
        bar.finish_and_clear();
    }
}

fn live_line() -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {msg}{uploaded}")
        .expect("the template is valid")
        .with_key("uploaded", uploaded);
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// ` (3.1 MiB / 12.0 MiB uploaded)` once an upload has started.
fn uploaded(_: &ProgressState, out: &mut dyn std::fmt::Write) {
    let (sent, expected) = rko::upload_bytes();
    if expected > 0 {
        let _ = write!(
            out,
            " ({} / {} uploaded)",
            HumanBytes(sent),
            HumanBytes(expected)
        );
    }
}

struct Logger {
    level: LevelFilter,
    live: Option<ProgressBar>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        // rko's own records only: ureq and rustls log too.
        metadata.level() <= self.level && metadata.target().starts_with("rko")
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = rko::escape_keeping_lines(&record.args().to_string());
        let line = match record.level() {
            Level::Warn => format!("rko: warning: {message}"),
            Level::Error => format!("rko: {message}"),
            _ => message.clone(),
        };
        match &self.live {
            Some(bar) => {
                bar.println(line);
                if record.level() == Level::Info {
                    bar.set_message(message);
                }
            }
            // A closed stderr loses the line; it never panics.
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn flush(&self) {}
}
