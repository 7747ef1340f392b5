//! Starting the real `rook-server` binary for end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind};
pub use crate::paths::{free_port, rook_server_bin, workspace_bin, TestDir};

/// How long [`RookServer::start`] waits for `/api/health/live`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Health polling interval during startup.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Environment variable: when set, captured server output is also echoed to
/// stderr as it arrives.
pub const ECHO_LOGS_ENV: &str = "ROOK_TEST_ECHO_LOGS";
/// Environment variable: when set, [`TestDir`]s are not removed on drop.
pub const KEEP_DIRS_ENV: &str = "ROOK_TEST_KEEP_DIRS";
/// Environment variable giving the path of the `rook-server` binary for
/// [`rook_server_bin`].
pub const SERVER_BIN_ENV: &str = "ROOK_SERVER_BIN";

type Logs = Arc<Mutex<String>>;

fn read_logs(logs: &Logs) -> String {
    logs.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn spawn_reader(stream: impl AsyncRead + Unpin + Send + 'static, logs: Logs) -> JoinHandle<()> {
    let echo = std::env::var_os(ECHO_LOGS_ENV).is_some();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if echo {
                        eprint!("[rook-server] {text}");
                    }
                    logs.lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push_str(&text);
                }
            }
        }
    })
}

/// Maps an exit status to a shell-like code: the exit code, or `128 +
/// signal` if a signal ended the process.
pub fn exit_code(status: &ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    -1
}

/// A running `rook-server` child process.
///
/// Killed (SIGKILL) on drop; if the test is panicking, its captured output
/// is printed to stderr so failures show the server's side.
#[derive(Debug)]
pub struct RookServer {
    child: Child,
    pid: u32,
    port: u16,
    dir: PathBuf,
    config_path: PathBuf,
    logs: Logs,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
    _owned_dir: Option<TestDir>,
}

impl RookServer {
    /// Starts `bin --config <dir>/rook.toml` in a fresh [`TestDir`] and
    /// waits until `GET /api/health/live` answers 200.
    ///
    /// In `config_toml`, `{port}` is replaced by a free port and `{dir}` by
    /// the directory (e.g. `database_url = "sqlite://{dir}/rook.db"`). The
    /// child gets `env` on top of the inherited environment, minus inherited
    /// `ROOK_*` variables other than `ROOK_LOG_FORMAT` (so a developer's
    /// shell does not leak into tests). Output goes to [`logs`](Self::logs).
    pub async fn start(
        bin: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Result<RookServer, Error> {
        let dir = TestDir::new("rook-e2e")?;
        let path = dir.path().to_path_buf();
        let mut server = Self::spawn(bin, &path, config_toml, env, Some(dir))?;
        server.wait_ready(STARTUP_TIMEOUT).await?;
        Ok(server)
    }

    /// Like [`start`](Self::start) but in an existing directory, which is
    /// kept (for restart tests that reuse a database).
    pub async fn start_in(
        bin: &Path,
        dir: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Result<RookServer, Error> {
        let mut server = Self::spawn(bin, dir, config_toml, env, None)?;
        server.wait_ready(STARTUP_TIMEOUT).await?;
        Ok(server)
    }

    /// Starts the server with a config it should refuse and waits (up to 15
    /// s) for it to exit; returns the [`exit_code`] and the captured output.
    /// It is an error if the server is still running after 15 s.
    pub async fn start_expect_failure(
        bin: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Result<(i32, String), Error> {
        let dir = TestDir::new("rook-e2e")?;
        let path = dir.path().to_path_buf();
        let mut server = Self::spawn(bin, &path, config_toml, env, Some(dir))?;
        match server.wait_exit(STARTUP_TIMEOUT).await {
            Some(status) => Ok((exit_code(&status), server.logs())),
            None => Err(Error::new(
                ErrorKind::Server,
                format!(
                    "rook-server was expected to exit but still runs after {STARTUP_TIMEOUT:?}; logs:\n{}",
                    server.logs()
                ),
            )),
        }
    }

    fn spawn(
        bin: &Path,
        dir: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
        owned_dir: Option<TestDir>,
    ) -> Result<RookServer, Error> {
        let port = free_port()?;
        let config = config_toml
            .replace("{port}", &port.to_string())
            .replace("{dir}", &dir.display().to_string());
        let config_path = dir.join("rook.toml");
        std::fs::write(&config_path, config).map_err(|e| {
            Error::from_source(
                ErrorKind::Io,
                &format!("writing {}", config_path.display()),
                &e,
            )
        })?;

        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if let Some(k) = key.to_str() {
                if k.starts_with("ROOK_") && k != "ROOK_LOG_FORMAT" {
                    cmd.env_remove(k);
                }
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().map_err(|e| {
            Error::from_source(
                ErrorKind::Server,
                &format!("spawning {}", bin.display()),
                &e,
            )
        })?;
        let pid = child.id().unwrap_or(0);
        let logs: Logs = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, logs.clone()));
        }
        Ok(RookServer {
            child,
            pid,
            port,
            dir: dir.to_path_buf(),
            config_path,
            logs,
            readers,
            exit: None,
            _owned_dir: owned_dir,
        })
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let url = self.url("/api/health/live");
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    self.drain_readers().await;
                    return Err(Error::new(
                        ErrorKind::Server,
                        format!(
                            "rook-server exited during startup with {status}; logs:\n{}",
                            self.logs()
                        ),
                    ));
                }
                Ok(None) => {}
                Err(e) => return Err(Error::from_source(ErrorKind::Server, "try_wait", &e)),
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(1),
                crate::http::request("GET", &url, &[], None),
            )
            .await;
            let last = match attempt {
                Ok(Ok(resp)) if resp.status == 200 => return Ok(()),
                Ok(Ok(resp)) => format!("status {}: {}", resp.status, resp.text()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "health request timed out".to_owned(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "rook-server not live after {timeout:?} at {url} (last: {last}); logs:\n{}",
                        self.logs()
                    ),
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn drain_readers(&mut self) {
        for r in self.readers.iter_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
        }
        self.readers.clear();
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url() + path`, e.g. `url("/v1/chat/completions")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The port the server was configured to listen on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the config (what `{dir}` expanded to).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The written config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The admin token `rook-server` generated into `<dir>/admin-token` (the data
    /// directory of a config whose database lives in `{dir}`, or of an in-memory or
    /// PostgreSQL database: the server runs in `{dir}`) when the config names none.
    pub fn admin_token(&self) -> Result<String, Error> {
        let path = self.dir.join("admin-token");
        std::fs::read_to_string(&path)
            .map(|t| t.trim().to_owned())
            .map_err(|e| {
                Error::from_source(ErrorKind::Io, &format!("reading {}", path.display()), &e)
            })
    }

    /// `GET path` on the admin API with the generated admin token
    /// ([`admin_token`](Self::admin_token)).
    pub async fn admin_get(&self, path: &str) -> Result<crate::http::TestResponse, Error> {
        let auth = format!("Bearer {}", self.admin_token()?);
        crate::http::get(&self.url(path), &[("authorization", auth.as_str())]).await
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        read_logs(&self.logs)
    }

    /// Waits until the captured output contains `needle`; returns whether
    /// it did within `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.logs().contains(needle) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM (through the `kill` command).
    pub fn sigterm(&self) -> Result<(), Error> {
        self.signal("TERM")
    }

    /// Sends a signal by name (`"TERM"`, `"INT"`, `"HUP"`...) through the
    /// `kill` command.
    pub fn signal(&self, name: &str) -> Result<(), Error> {
        if self.exit.is_some() {
            return Err(Error::new(
                ErrorKind::Server,
                "rook-server already exited; not signalling a possibly reused pid",
            ));
        }
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .map_err(|e| Error::from_source(ErrorKind::Io, "running kill", &e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Server,
                format!("kill -{name} {} failed: {status}", self.pid),
            ))
        }
    }

    /// Waits up to `timeout` for the process to exit; once it has, its
    /// output is fully captured in [`logs`](Self::logs).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit {
            return Some(status);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.exit = Some(status);
                self.drain_readers().await;
                Some(status)
            }
            _ => None,
        }
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            let _ = self.child.start_kill();
        }
        self.wait_exit(Duration::from_secs(10)).await
    }
}

impl Drop for RookServer {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.start_kill();
            // Reap briefly so the temp dir is not removed under a live
            // process; never block for long.
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- rook-server (port {}) output ----\n{}---- end of rook-server output ----",
                self.port,
                self.logs()
            );
        }
    }
}
