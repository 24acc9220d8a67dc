//! The library's error type: every variant names the file, value or flag at fault.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in rko's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A JSON document could not be parsed.
    #[error("{}: invalid {what}: {source}", path.display())]
    Json {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Something is wrong with a file or directory: its content, its kind,
    /// or its place. Prints as "PATH: what is wrong".
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// Something is wrong at a position in a source file (YAML, `.ko.yaml`).
    /// Prints as "PATH:LINE:COLUMN: what is wrong", as compilers do.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Source {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// An image reference (or an import path standing for one) is wrong or
    /// names nothing usable. Prints as "REFERENCE: what is wrong".
    #[error("{reference}: {message}")]
    Reference { reference: String, message: String },
    /// Text that should be an image reference is not one. Prints as
    /// `invalid reference "TEXT": what is wrong`.
    #[error("invalid reference {input:?}: {message}")]
    BadReference { input: String, message: String },
    /// An external program (go, kubectl, docker, podman) could not run or
    /// failed. Prints as "COMMAND: what went wrong".
    #[error("{command}: {message}")]
    Tool { command: String, message: String },
    /// A value given by the user is not acceptable; the message names the
    /// flag or variable and says why.
    #[error("{0}")]
    Invalid(String),
    /// A registry answered with an error; `message` is its own.
    #[error("{what}: HTTP {status}: {message}")]
    Registry {
        what: String,
        status: u16,
        message: String,
        /// How long it asked to be left alone before another try (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// A remote cache (REAPI) could not be reached, failed a call, or lacks
    /// a blob. Prints as "grpc://HOST:PORT METHOD: what went wrong".
    #[error("{what}: {message}")]
    RemoteCache { what: String, message: String },
    /// A registry could not be reached, or the connection broke.
    #[error("{what}: {message} (after {attempts} attempts)")]
    Network {
        what: String,
        message: String,
        attempts: u32,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Adds advice to a registry error's message.
    pub fn hint(self, advice: &str) -> Error {
        match self {
            Error::Registry {
                what,
                status,
                message,
                retry_after,
            } => Error::Registry {
                what,
                status,
                message: format!("{message}; {advice}"),
                retry_after,
            },
            other => other,
        }
    }

    /// How long the registry asked to wait before the next try, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Registry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error a request ends with after `attempts` tries: a network
    /// error counts them, a registry's answer worth a retry says so.
    pub fn after_attempts(self, attempts: u32) -> Error {
        match self {
            Error::Network { what, message, .. } => Error::Network {
                what,
                message,
                attempts,
            },
            e if e.is_transient() && attempts > 1 => {
                e.hint(&format!("gave up after {attempts} attempts"))
            }
            other => other,
        }
    }

    /// Whether trying the whole operation again may succeed: a broken
    /// connection, or a 408, 429 or 5xx answer.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } => true,
            Error::Registry { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// An I/O error on `path` while doing `action` ("reading", "creating", ...).
    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A bad value, described in one sentence.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// Something wrong with the file or directory at `path` (a layout, a
    /// blob, an input file).
    pub fn file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// Something wrong at `line`:`column` (1-based) of the file at `path`.
    pub fn at(
        path: impl AsRef<Path>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Source {
            path: path.as_ref().to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Something wrong with an image reference or import path.
    pub fn reference(reference: impl ToString, message: impl Into<String>) -> Self {
        Error::Reference {
            reference: reference.to_string(),
            message: message.into(),
        }
    }

    /// An external program's failure; `command` is how a person would type it.
    pub fn tool(command: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Tool {
            command: command.into(),
            message: message.into(),
        }
    }
}

/// Adds the path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}
