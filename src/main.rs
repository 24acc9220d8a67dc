//! The `rko` binary: expand params files, parse, run one subcommand, print
//! the error chain once.

mod cli;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Stopped by Ctrl-C or a build system's SIGTERM: remove what was being
    // written, so no temporary file outlives the run.
    let _ = ctrlc::set_handler(|| {
        rko::remove_pending();
        // Credential helpers run in process groups of their own, out of
        // reach of the terminal's Ctrl-C.
        rko::stop_credential_helpers();
        std::process::exit(130);
    });
    let args = match cli::params::expand(std::env::args_os()) {
        Ok(args) => args,
        Err(err) => return fail(&err),
    };
    let command = cli::Cli::parse_from(args);
    let term = std::env::var("TERM").ok();
    cli::progress::install(
        command.verbosity(),
        cli::progress::stderr_is_terminal(term.as_deref()),
    );
    let result = cli::run(command);
    cli::progress::finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `rko … | head -1`: the reader has what it wanted.
        Err(err) if cli::stdout::reader_gone(&err) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &rko::Error) -> ExitCode {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    // Whatever the error quotes, nothing in it may drive the terminal.
    let message = rko::escape_keeping_lines(&message);
    // A closed stderr loses the message; it never panics.
    let _ = writeln!(std::io::stderr(), "rko: {message}");
    ExitCode::FAILURE
}
