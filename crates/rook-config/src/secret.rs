//! Secrets: where they come from ([`SecretSource`]), the redacting
//! [`Secret`] wrapper, resolution errors that never carry a value, and
//! [`redact_database_url`] for the one secret that may sit inside a plain
//! setting (a database URL's password).
//!
//! This is the base module of the crate's secret handling: it depends on no
//! other module. The schema (`model`) says where each secret comes from and
//! resolves it through [`SecretSource`]; the redacted export (`redact`)
//! uses [`REDACTED`] and [`redact_database_url`].

use std::fmt;
use std::path::{Path, PathBuf};

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

    /// Whether [`SecretSource::resolve`] would succeed now: the variable is
    /// set and not blank, or the file is readable and not blank. The value
    /// is read and dropped at once.
    pub fn is_available(&self) -> bool {
        self.resolve().is_ok()
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

/// Query parameters of a database URL whose values are secret.
const SECRET_QUERY_PARAMS: [&str; 3] = ["password", "sslpassword", "sslkey_password"];

/// A database URL with its password replaced by `[redacted]`:
/// `postgres://user:pw@host/db` becomes `postgres://user:[redacted]@host/db`;
/// `password=`/`sslpassword=` query parameters are redacted too. URLs without
/// a password are returned unchanged.
pub fn redact_database_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let (userinfo, host_part) = rest.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        format!("{scheme}://{user}:{REDACTED}{host_part}")
                    }
                    None => head.to_owned(),
                }
            }
            None => head.to_owned(),
        },
        None => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _))
                    if SECRET_QUERY_PARAMS
                        .iter()
                        .any(|s| name.eq_ignore_ascii_case(s)) =>
                {
                    format!("{name}={REDACTED}")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            redact_database_url("postgres://user:pw@host/db"),
            "postgres://user:[redacted]@host/db"
        );
        assert_eq!(
            redact_database_url("postgres://user:p@ss/w@host:5432/db?sslmode=require"),
            "postgres://user:[redacted]@host:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_database_url("postgres://user@host/db?password=pw&x=1"),
            "postgres://user@host/db?password=[redacted]&x=1"
        );
        assert_eq!(redact_database_url("sqlite://rook.db"), "sqlite://rook.db");
        assert_eq!(
            redact_database_url("postgres://host/db"),
            "postgres://host/db"
        );
    }
}
