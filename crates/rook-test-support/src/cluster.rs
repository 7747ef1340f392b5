//! Several real `rook-server` processes on one PostgreSQL database.
//!
//! [`postgres_url`] reads `ROOK_TEST_POSTGRES_URL` (a test is skipped without it,
//! except in CI, where that is a failure); [`TempDatabase`] creates a fresh database
//! for one test and drops it afterwards (`psql` must be on `PATH`), so tests do not
//! see each other's rows or `NOTIFY`s; [`start_cluster`] starts N instances with one
//! config template (`{port}` and `{dir}` are filled per instance, `{database_url}` is
//! the shared database).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Error, ErrorKind, RookServer};

/// `ROOK_TEST_POSTGRES_URL`, or `None` (printing why) outside CI.
///
/// # Panics
/// In CI (`CI` set) when the variable is missing: PostgreSQL tests must not be
/// skipped there.
pub fn postgres_url() -> Option<String> {
    match std::env::var("ROOK_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "ROOK_TEST_POSTGRES_URL must be set in CI"
            );
            eprintln!("skipped: ROOK_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// Runs one SQL statement with `psql` against `url`; returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> Result<String, Error> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| Error::from_source(ErrorKind::Io, "running psql", &e))?;
    if !out.status.success() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("psql failed: {}", String::from_utf8_lossy(&out.stderr)),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A fresh database, dropped (with `FORCE`) on drop.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
}

impl TempDatabase {
    /// Creates `rook_<prefix>_<random>` on the server of `admin_url`.
    pub fn create(admin_url: &str, prefix: &str) -> Result<TempDatabase, Error> {
        let name = format!("rook_{prefix}_{:x}", random_u64());
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(TempDatabase {
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// The database's URL (the admin URL with its database replaced).
    pub fn url(&self) -> String {
        let base = self
            .admin_url
            .split('?')
            .next()
            .unwrap_or(&self.admin_url)
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PostgreSQL server's address (host and port of the admin URL, resolved;
    /// port 5432 when the URL names none).
    pub fn server_addr(&self) -> Result<std::net::SocketAddr, Error> {
        use std::net::ToSocketAddrs;
        let rest = self
            .admin_url
            .split_once("://")
            .map_or(self.admin_url.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let host_port = rest.split(['/', '?']).next().unwrap_or(rest);
        let with_port = if host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        };
        with_port
            .to_socket_addrs()
            .map_err(|e| Error::from_source(ErrorKind::Io, "resolving the PostgreSQL host", &e))?
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Io, format!("no address for {with_port}")))
    }

    /// The database's URL with `host:port` replaced (to reach it through a
    /// [`TcpProxy`](crate::tcp_proxy::TcpProxy)).
    pub fn url_at(&self, host_port: &str) -> String {
        let url = self.url();
        let Some((scheme, rest)) = url.split_once("://") else {
            return url;
        };
        let (auth, after) = match rest.split_once('@') {
            Some((a, r)) => (format!("{a}@"), r),
            None => (String::new(), rest),
        };
        let path = after.split_once('/').map_or("", |(_, p)| p);
        format!("{scheme}://{auth}{host_port}/{path}")
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Starts `n` instances of `bin`, one after the other (the first migrates), each in
/// its own directory, from `config_toml` with `{database_url}` replaced.
pub async fn start_cluster(
    bin: &Path,
    n: usize,
    config_toml: &str,
    database_url: &str,
    env: &[(&str, &str)],
) -> Result<Vec<RookServer>, Error> {
    let config = config_toml.replace("{database_url}", database_url);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(RookServer::start(bin, &config, env).await?);
    }
    Ok(out)
}

/// Polls `check` every 50 ms until it answers `true` or `timeout` passes; returns
/// how long it took, or `None`.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
