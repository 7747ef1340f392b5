//! The `database` check: the URL's backend, the SQLite file's directory, a
//! connection, and whether the registry's schema exists yet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rook_gateway::rook_config::{redact_database_url, DatabaseBackend};
use rook_gateway::rook_registry::{ConnectOptions, Registry, RegistryError};

use super::{Check, Status};

/// The file path of a SQLite URL (`None` for in-memory databases).
pub(super) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.get("sqlite:".len()..)?.trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(database))
}

/// Whether a file could be created in `dir` (or, when `dir` does not exist
/// yet, in its nearest existing ancestor). Creates and removes a probe file.
pub(super) fn dir_writable(dir: &Path) -> Result<PathBuf, (PathBuf, String)> {
    let mut at = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p.to_path_buf(),
            _ => {
                at = PathBuf::from(".");
                break;
            }
        }
    }
    if !at.is_dir() {
        return Err((at, "not a directory".to_string()));
    }
    let probe = at.join(format!(".rook-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(at)
        }
        Err(e) => Err((at, e.kind().to_string())),
    }
}

pub(super) async fn check_database(url: &str) -> (Check, Option<Registry>) {
    let shown = redact_database_url(url);
    let backend = DatabaseBackend::from_url(url).map_or("unknown", DatabaseBackend::as_str);
    let base = |status, summary: String| {
        Check::new("database", status, summary)
            .detail("url", shown.clone())
            .detail("backend", backend)
    };
    if backend == "sqlite" {
        match sqlite_path(url) {
            None => {
                return (
                    base(
                        Status::Warn,
                        "in-memory SQLite database: accounts and usage are lost on restart".into(),
                    )
                    .guidance("use sqlite://PATH or a postgres:// URL to keep data"),
                    None,
                )
            }
            Some(path) if !path.exists() => {
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                return match dir_writable(&dir) {
                    Ok(_) => (
                        base(
                            Status::Warn,
                            format!(
                                "SQLite file {} does not exist yet; it will be created on first start",
                                path.display()
                            ),
                        )
                        .guidance("run `rook-cli db migrate` to create it now, or start the server")
                        .detail("exists", false),
                        None,
                    ),
                    Err((at, why)) => (
                        base(
                            Status::Fail,
                            format!(
                                "SQLite file {} does not exist and cannot be created: {} is not writable ({why})",
                                path.display(),
                                at.display()
                            ),
                        )
                        .guidance("point database_url at a writable location or fix the directory's permissions")
                        .detail("exists", false),
                        None,
                    ),
                };
            }
            Some(_) => {}
        }
    }
    if backend == "postgres" {
        if let Some((host, port)) = pg_host_port(url) {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port));
            match tokio::time::timeout(Duration::from_secs(5), tcp).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return (
                    base(Status::Fail, format!("unreachable: {host}:{port}: {e}")).guidance(
                        "check database_url, the network and that the database server is running",
                    ),
                    None,
                ),
                Err(_) => {
                    return (
                        base(
                            Status::Fail,
                            format!(
                                "unreachable: {host}:{port} did not accept a connection within 5 s"
                            ),
                        )
                        .guidance("check database_url, the network and the firewall"),
                        None,
                    )
                }
            }
        }
    }
    let connect = Registry::connect(
        url,
        ConnectOptions {
            create_if_missing: false,
            migrate: false,
            max_connections: 1,
            schema: None,
        },
    );
    let registry = match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Err(_) => {
            return (
                base(Status::Fail, "database did not answer within 15 s".into()).guidance(
                    "check database_url, the network and that the database server is running",
                ),
                None,
            )
        }
        Ok(Err(e)) => return (database_error(base(Status::Fail, String::new()), &e), None),
        Ok(Ok(r)) => r,
    };
    let status = match registry.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            let check = database_error(base(Status::Fail, String::new()), &e);
            registry.close().await;
            return (check, None);
        }
    };
    let check = if status.current {
        base(
            Status::Pass,
            format!(
                "reachable, migrations current ({} applied)",
                status.applied.len()
            ),
        )
    } else {
        base(
            Status::Warn,
            format!("reachable, {} migration(s) pending", status.pending.len()),
        )
        .guidance("run rook-cli db migrate or start the server")
    }
    .detail("applied", status.applied.clone())
    .detail("pending", status.pending.clone());
    let usable = status.applied.is_empty().then_some(()).is_none();
    (check, usable.then_some(registry))
}

/// Host and port of a `postgres://` URL with a single TCP host (`None` for
/// Unix sockets, several hosts or a `host=` parameter: then the connect
/// itself reports).
pub(super) fn pg_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if tail.contains("host=") {
        return None;
    }
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() || hostport.contains(',') {
        return None;
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5432,
    };
    if host.is_empty() || host.starts_with('%') {
        return None;
    }
    Some((host, port))
}

pub(super) fn database_error(check: Check, e: &RegistryError) -> Check {
    let (summary, guidance) = match e {
        RegistryError::Unavailable { .. } => (
            format!("unreachable: {e}"),
            "check database_url, credentials, the network and that the database server is running",
        ),
        RegistryError::DatabaseMissing { .. } => (
            e.to_string(),
            "create the database (e.g. createdb) or run `rook-cli db migrate`",
        ),
        RegistryError::Migration { .. } => (
            e.to_string(),
            "the database was migrated by a different Rook version; use a matching rook-cli",
        ),
        _ => (e.to_string(), "check database_url"),
    };
    Check {
        status: Status::Fail,
        summary,
        guidance: Some(guidance.to_string()),
        ..check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_host_port() {
        assert_eq!(
            pg_host_port("postgres://u:p@db.example:6543/x?sslmode=require"),
            Some(("db.example".into(), 6543))
        );
        assert_eq!(
            pg_host_port("postgresql://localhost/x"),
            Some(("localhost".into(), 5432))
        );
        assert_eq!(
            pg_host_port("postgres://[::1]:5/x"),
            Some(("::1".into(), 5))
        );
        assert_eq!(pg_host_port("postgres:///x?host=/run/pg"), None);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://rook.db"),
            Some(PathBuf::from("rook.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/x.db?mode=rwc"),
            Some(PathBuf::from("/var/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
