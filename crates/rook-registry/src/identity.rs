//! The identity of a SQLite database file: noticing that it was removed or replaced
//! while the registry had it open.
//!
//! SQLite keeps writing through its open file descriptors after the file was unlinked
//! (or renamed over): every write then goes to a file nobody will ever open again, and
//! a restart starts from an empty (or foreign) database. The registry remembers the
//! file's device and inode when it connects; [`DbIdentity`] compares them with what the
//! path names now. PostgreSQL and in-memory SQLite have no file: always
//! [`DbIdentity::Ok`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

/// What the database path names now, compared with what the registry opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbIdentity {
    /// The path names the file the registry opened (or there is no file).
    Ok,
    /// Nothing exists at the path any more.
    Removed,
    /// Another file is at the path.
    Replaced,
}

impl DbIdentity {
    /// `ok`, `removed` or `replaced`.
    pub fn as_str(self) -> &'static str {
        match self {
            DbIdentity::Ok => "ok",
            DbIdentity::Removed => "removed",
            DbIdentity::Replaced => "replaced",
        }
    }

    fn code(self) -> u8 {
        match self {
            DbIdentity::Ok => 0,
            DbIdentity::Removed => 1,
            DbIdentity::Replaced => 2,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            1 => DbIdentity::Removed,
            2 => DbIdentity::Replaced,
            _ => DbIdentity::Ok,
        }
    }
}

/// `(device, inode)` of a file.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> std::io::Result<FileId> {
    // No inode numbers: only removal is noticed.
    std::fs::metadata(path).map(|_| (0, 0))
}

/// Classifies a fresh look at the path against the identity seen at open. Errors other
/// than "not found" (a permission problem, say) are not evidence of a change: `Ok`.
pub(crate) fn classify(opened: FileId, now: &std::io::Result<FileId>) -> DbIdentity {
    match now {
        Ok(id) if *id == opened => DbIdentity::Ok,
        Ok(_) => DbIdentity::Replaced,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DbIdentity::Removed,
        Err(_) => DbIdentity::Ok,
    }
}

/// The operator-facing explanation of a problem (`None` for [`DbIdentity::Ok`]). It
/// does not name the path (API answers carry it, some without authentication); the log
/// line does.
pub(crate) fn describe(state: DbIdentity) -> Option<String> {
    match state {
        DbIdentity::Ok => None,
        DbIdentity::Removed => Some(
            "the SQLite database file was removed while Rook was running; writes are \
             refused (they would go to a deleted file). Restore the file from a backup, then \
             restart Rook"
                .to_string(),
        ),
        DbIdentity::Replaced => Some(
            "the SQLite database file was replaced by another file while Rook was running; \
             writes are refused. Put the original file back, or restart Rook to use the new one"
                .to_string(),
        ),
    }
}

/// The watched file: its path, its identity at open and the last state seen.
#[derive(Debug)]
pub(crate) struct IdentityWatch {
    path: PathBuf,
    opened: FileId,
    last: AtomicU8,
}

impl IdentityWatch {
    /// Starts watching `path` (the file must exist).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let opened = file_id(&path)?;
        Ok(IdentityWatch {
            path,
            opened,
            last: AtomicU8::new(DbIdentity::Ok.code()),
        })
    }

    /// Looks at the path now; logs an error when the state changes for the worse and
    /// an info line when it comes back (once per transition, whoever looks).
    pub(crate) fn check(&self) -> DbIdentity {
        let now = classify(self.opened, &file_id(&self.path));
        let before = DbIdentity::from_code(self.last.swap(now.code(), Ordering::AcqRel));
        if before != now {
            match describe(now) {
                Some(message) => tracing::error!(
                    database_identity = now.as_str(),
                    path = %self.path.display(),
                    "{message}"
                ),
                None => tracing::info!(
                    path = %self.path.display(),
                    was = before.as_str(),
                    "the SQLite database file is back in place; writes are accepted again"
                ),
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn classification_table() {
        let opened = (1, 42);
        let cases: [(std::io::Result<FileId>, DbIdentity); 5] = [
            (Ok((1, 42)), DbIdentity::Ok),
            (Ok((1, 43)), DbIdentity::Replaced),
            (Ok((2, 42)), DbIdentity::Replaced),
            (Err(Error::from(ErrorKind::NotFound)), DbIdentity::Removed),
            (
                Err(Error::from(ErrorKind::PermissionDenied)),
                DbIdentity::Ok,
            ),
        ];
        for (now, want) in cases {
            assert_eq!(classify(opened, &now), want, "{now:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn watch_sees_removal_replacement_and_return() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        std::fs::write(&db, b"x").unwrap();
        let w = IdentityWatch::open(&db).unwrap();
        assert_eq!(w.check(), DbIdentity::Ok);
        let aside = dir.path().join("aside.db");
        std::fs::rename(&db, &aside).unwrap();
        assert_eq!(w.check(), DbIdentity::Removed);
        std::fs::write(&db, b"y").unwrap();
        assert_eq!(w.check(), DbIdentity::Replaced);
        std::fs::rename(&aside, &db).unwrap();
        assert_eq!(w.check(), DbIdentity::Ok);
        assert!(describe(DbIdentity::Removed)
            .unwrap()
            .contains("was removed"));
        assert_eq!(describe(DbIdentity::Ok), None);
    }
}
