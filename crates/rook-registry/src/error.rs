//! The error type of the registry.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Everything that can go wrong in the registry.
///
/// Messages never contain a password from the database URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The entry does not exist.
    #[error("{entity} '{id}' not found")]
    NotFound {
        /// Kind of entry: `account`, `pool`, `route`, `idempotency record`.
        entity: &'static str,
        /// Its id (for routes: the model).
        id: String,
    },
    /// An entry with this id already exists.
    #[error("{entity} '{id}' already exists")]
    AlreadyExists {
        /// Kind of entry.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The entry is declared in the config file and cannot be changed or deleted at run time.
    #[error("{entity} '{id}' is declared in the config file; change it there")]
    ReadOnly {
        /// Kind of entry.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The change would break a reference between accounts, pools and routes.
    #[error("reference error: {message}")]
    Reference {
        /// Which reference would break, in words.
        message: String,
    },
    /// The database (SQLite file, Postgres database or schema) does not exist and
    /// `create_if_missing` was false.
    #[error("database missing: {location}")]
    DatabaseMissing {
        /// What is missing, e.g. `file /var/lib/rook/rook.db`.
        location: String,
    },
    /// The database cannot be reached or is not answering (connection refused,
    /// timed out, pool closed, authentication failed, busy).
    #[error("database unavailable: {message}")]
    Unavailable {
        /// Sanitized cause.
        message: String,
    },
    /// Applying or inspecting migrations failed.
    #[error("migration error: {message}")]
    Migration {
        /// Sanitized cause.
        message: String,
    },
    /// The input is not valid (bad URL, bad schema name, duplicate pool member, …).
    #[error("invalid input: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// Any other database error.
    #[error("database error: {message}")]
    Other {
        /// Sanitized cause.
        message: String,
    },
}

impl RegistryError {
    /// True for [`RegistryError::Unavailable`]: the database could not be reached.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }

    pub(crate) fn invalid(message: impl fmt::Display) -> Self {
        RegistryError::Invalid {
            message: message.to_string(),
        }
    }

    pub(crate) fn reference(message: impl fmt::Display) -> Self {
        RegistryError::Reference {
            message: message.to_string(),
        }
    }

    pub(crate) fn other(message: impl fmt::Display) -> Self {
        RegistryError::Other {
            message: message.to_string(),
        }
    }

    /// Applies `f` to every free-text message of the error (used to remove secrets).
    pub(crate) fn map_text(self, f: impl Fn(String) -> String) -> Self {
        use RegistryError::*;
        match self {
            NotFound { entity, id } => NotFound { entity, id: f(id) },
            AlreadyExists { entity, id } => AlreadyExists { entity, id: f(id) },
            ReadOnly { entity, id } => ReadOnly { entity, id: f(id) },
            Reference { message } => Reference {
                message: f(message),
            },
            DatabaseMissing { location } => DatabaseMissing {
                location: f(location),
            },
            Unavailable { message } => Unavailable {
                message: f(message),
            },
            Migration { message } => Migration {
                message: f(message),
            },
            Invalid { message } => Invalid {
                message: f(message),
            },
            Other { message } => Other {
                message: f(message),
            },
        }
    }
}

/// Postgres SQLSTATE classes/codes that mean "cannot talk to the database".
fn pg_code_unavailable(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("28") // invalid authorization
        || code.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
        || code == "53300" // too many connections
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => RegistryError::Unavailable {
                message: e.to_string(),
            },
            sqlx::Error::Configuration(_) => RegistryError::Invalid {
                message: e.to_string(),
            },
            sqlx::Error::Migrate(_) => RegistryError::Migration {
                message: e.to_string(),
            },
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let message = db.message().to_string();
                if code == "3D000" || code == "3F000" {
                    return RegistryError::DatabaseMissing { location: message };
                }
                if pg_code_unavailable(&code) {
                    return RegistryError::Unavailable { message };
                }
                // SQLite primary result codes: 5 BUSY, 6 LOCKED, 14 CANTOPEN (extended codes keep
                // the primary code in the low byte).
                if let Ok(n) = code.parse::<i64>() {
                    if matches!(n & 0xff, 5 | 6 | 14) {
                        return RegistryError::Unavailable { message };
                    }
                }
                match db.kind() {
                    ErrorKind::ForeignKeyViolation => RegistryError::Reference { message },
                    _ => RegistryError::Other {
                        message: e.to_string(),
                    },
                }
            }
            _ => RegistryError::Other {
                message: e.to_string(),
            },
        }
    }
}

/// True when the sqlx error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation),
        _ => false,
    }
}
