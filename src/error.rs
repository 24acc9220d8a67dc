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
    /// A value given by the user is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A registry answered with an error; `message` is its own.
    #[error("{what}: HTTP {status}: {message}")]
    Registry {
        what: String,
        status: u16,
        message: String,
    },
    /// A registry could not be reached, or the connection broke.
    #[error("{what}: {message} (after {attempts} attempts)")]
    Network {
        what: String,
        message: String,
        attempts: u32,
    },
    /// The content of an image or layout breaks the OCI specification.
    #[error("{}: {message}", path.display())]
    Layout { path: PathBuf, message: String },
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
            } => Error::Registry {
                what,
                status,
                message: format!("{message}; {advice}"),
            },
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

    /// Broken content inside the layout or blob at `path`.
    pub fn layout(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Layout {
            path: path.as_ref().to_path_buf(),
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
