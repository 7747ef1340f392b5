//! Secrets: where they come from ([`SecretSource`]), the redacting
//! [`Secret`] wrapper, and resolution errors that never carry a value.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{AccountConfig, AdminAuth, InboundAuth};

/// The text shown in place of every secret.
pub const REDACTED: &str = "[redacted]";

/// A secret value (API key or bearer token).
///
/// `Debug` and `Display` print `[redacted]`; the value is only reachable
/// through [`Secret::expose`]. It is not `Serialize` and deliberately not
/// `PartialEq` (compare tokens in constant time at the call site).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where a secret is read from. Names and paths are not secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file, by path; its contents are trimmed of surrounding whitespace.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl SecretSource {
    /// Reads the secret from the process environment or the file system.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        self.resolve_with(&|var| std::env::var_os(var))
    }

    pub(crate) fn resolve_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Secret, SecretError> {
        match self {
            Self::Env(var) => {
                let raw =
                    lookup(var).ok_or_else(|| SecretError::EnvMissing { var: var.clone() })?;
                let text = raw
                    .into_string()
                    .map_err(|_| SecretError::EnvNotUnicode { var: var.clone() })?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(SecretError::EnvEmpty { var: var.clone() });
                }
                Ok(Secret::new(trimmed))
            }
            Self::File(path) => read_secret_file(path),
        }
    }
}

fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let bytes = std::fs::read(path).map_err(|e| SecretError::FileUnreadable {
        path: path.to_path_buf(),
        reason: e.kind().to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::FileUnreadable {
        path: path.to_path_buf(),
        reason: "contents are not valid UTF-8".to_owned(),
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretError::FileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(trimmed))
}

/// A secret could not be resolved. Names the source, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable {var} is not set")]
    EnvMissing {
        /// Variable name.
        var: String,
    },
    /// The environment variable is set but empty (or only whitespace).
    #[error("environment variable {var} is empty")]
    EnvEmpty {
        /// Variable name.
        var: String,
    },
    /// The environment variable's value is not valid Unicode.
    #[error("environment variable {var} is not valid Unicode")]
    EnvNotUnicode {
        /// Variable name.
        var: String,
    },
    /// The file could not be read.
    #[error("cannot read secret file {}: {reason}", path.display())]
    FileUnreadable {
        /// File path.
        path: PathBuf,
        /// Why (an I/O error kind; never file contents).
        reason: String,
    },
    /// The file is empty (or only whitespace).
    #[error("secret file {} is empty", path.display())]
    FileEmpty {
        /// File path.
        path: PathBuf,
    },
}

impl AccountConfig {
    /// Reads this account's API key: `Ok(None)` when neither `api_key_env`
    /// nor `api_key_file` is set (servers that need no key).
    pub fn resolve_api_key(&self) -> Result<Option<Secret>, SecretError> {
        self.api_key_source().map(|s| s.resolve()).transpose()
    }
}

impl InboundAuth {
    /// Reads the inbound bearer token: `Ok(None)` when inbound auth is
    /// disabled, else the token from [`InboundAuth::token_source`]. Fail the
    /// start on `Err`.
    pub fn resolve_token(&self) -> Result<Option<Secret>, SecretError> {
        if !self.enabled {
            return Ok(None);
        }
        self.token_source().resolve().map(Some)
    }
}

impl AdminAuth {
    /// Reads the admin bearer token from [`AdminAuth::token_source`].
    pub fn resolve_token(&self) -> Result<Secret, SecretError> {
        self.token_source().resolve()
    }
}
