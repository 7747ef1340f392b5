//! Where tests run: temporary directories, free ports, and the workspace's built
//! binaries.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind};
use crate::server::{KEEP_DIRS_ENV, SERVER_BIN_ENV};

/// A unique directory under [`std::env::temp_dir`], removed on drop (unless
/// `ROOK_TEST_KEEP_DIRS` is set or [`keep`](TestDir::keep) was called).
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
    keep: bool,
}

impl TestDir {
    /// Creates `<temp>/<prefix>-<pid>-<n>-<nanos>`.
    pub fn new(prefix: &str) -> Result<TestDir, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| {
            Error::from_source(ErrorKind::Io, &format!("creating {}", path.display()), &e)
        })?;
        Ok(TestDir { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory on disk and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !self.keep && std::env::var_os(KEEP_DIRS_ENV).is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Picks a free loopback port: binds `127.0.0.1:0`, reads the port, drops
/// the listener. (Another process could take it in between; rare in tests.)
pub fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::from_source(ErrorKind::Io, "binding 127.0.0.1:0", &e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::from_source(ErrorKind::Io, "reading local address", &e))?
        .port();
    Ok(port)
}

/// Finds the `rook-server` binary: `$ROOK_SERVER_BIN` if set, else
/// `rook-server` next to the directory holding the running test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/rook-server`). Returns
/// `None` if it does not exist (it is only built if something built it:
/// inside `bins/rook-server` tests prefer `env!("CARGO_BIN_EXE_rook-server")`).
pub fn rook_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SERVER_BIN_ENV) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?;
    if dir.ends_with("deps") {
        dir = dir.parent()?;
    }
    let candidate = dir.join(format!("rook-server{}", std::env::consts::EXE_SUFFIX));
    candidate.exists().then_some(candidate)
}

/// Finds a binary of this workspace next to the running test executable, building
/// it first (`$CARGO build -p PACKAGE --bin BIN`) when it is missing, so a test of
/// one package can drive another package's binary (e.g. `rook-cli` from the
/// server's tests).
pub fn workspace_bin(package: &str, bin: &str) -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::from_source(ErrorKind::Io, "locating the test executable", &e))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::new(ErrorKind::Io, "test executable has no directory"))?;
    if dir.ends_with("deps") {
        dir = dir
            .parent()
            .ok_or_else(|| Error::new(ErrorKind::Io, "deps directory has no parent"))?;
    }
    let candidate = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    if candidate.exists() {
        return Ok(candidate);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", package, "--bin", bin])
        .status()
        .map_err(|e| Error::from_source(ErrorKind::Io, "running cargo build", &e))?;
    if status.success() && candidate.exists() {
        Ok(candidate)
    } else {
        Err(Error::new(
            ErrorKind::Io,
            format!("{bin} is not built and `cargo build -p {package}` did not produce it"),
        ))
    }
}
