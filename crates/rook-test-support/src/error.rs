//! The error type shared by the test helpers.

use std::fmt;

/// What went wrong, coarsely, so tests can assert on the failure class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Building or sending a request failed, or no response head arrived
    /// (connect refused, connection closed before the response, bad URL).
    Request,
    /// The response head arrived but reading the body failed (for example
    /// the peer closed the connection mid-body).
    Body,
    /// Something did not happen within the allowed time.
    Timeout,
    /// The `rook-server` process did not start, exited early or misbehaved.
    Server,
    /// Local IO (temp files, spawning processes).
    Io,
}

/// Error returned by the helpers of this crate; its message carries the
/// whole source chain and, for server failures, the captured server logs.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A new error of `kind`: `context: <source chain>`.
    pub(crate) fn from_source(
        kind: ErrorKind,
        context: &str,
        source: &(dyn std::error::Error + 'static),
    ) -> Self {
        Self::new(kind, format!("{context}: {}", chain(source)))
    }

    /// The failure class.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

/// Renders an error and all its sources, `outer: inner: innermost`.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
