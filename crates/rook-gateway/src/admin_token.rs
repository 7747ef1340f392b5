//! The admin token: the configured one, or one `rook-server` generates at first
//! start into `<data_dir>/admin-token`, so the admin API is never open.
//!
//! Order: a configured source (`[admin_auth] bearer_token_env` / `bearer_token_file`;
//! unavailable → refuse to start), else the default variable `ROOK_ADMIN_TOKEN` when
//! set, else the file. The file is created with mode 0600 (at creation, not by a later
//! chmod) holding 32 random bytes as 64 hex digits; an existing file is reused only
//! when it is a regular file owned by this user and not readable by group or others.
//! Tokens shorter than [`MIN_ADMIN_TOKEN_LEN`] are refused. Only the path is ever
//! logged, never the token.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use rook_config::{Config, Secret, SecretSource, ADMIN_TOKEN_FILE, MIN_ADMIN_TOKEN_LEN};

/// Where the admin token came from (for the start-up log line; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A configured or default environment variable, or a configured file.
    Source(SecretSource),
    /// Generated now into this file.
    Generated(PathBuf),
    /// Read from the file generated at an earlier start.
    Reused(PathBuf),
}

/// Why no admin token could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// The configuration or the token file is at fault (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The file could not be created or read (exit code 1).
    #[error("{0}")]
    Io(String),
}

/// The admin token for `config`, generating the file when needed.
pub(crate) fn resolve(config: &Config) -> Result<(Secret, Origin), TokenError> {
    let auth = &config.admin_auth;
    let source = auth.token_source();
    let from_source = match auth.resolve_token() {
        Ok(token) => Some(token),
        Err(e) if auth.is_configured() => {
            return Err(TokenError::Config(format!(
                "admin_auth: {e}; set it, or remove bearer_token_env/bearer_token_file to let \
                 rook-server generate a token into <data_dir>/{ADMIN_TOKEN_FILE}"
            )))
        }
        Err(_) => None,
    };
    if let Some(token) = from_source {
        auth.check_token(&token)
            .map_err(|p| TokenError::Config(p.to_string()))?;
        return Ok((token, Origin::Source(source)));
    }
    let path = config.effective_data_dir().join(ADMIN_TOKEN_FILE);
    let path = std::path::absolute(&path).unwrap_or(path);
    let (token, origin) = match read_file(&path)? {
        Some(token) => (token, Origin::Reused(path.clone())),
        None => match create_file(&path)? {
            Some(token) => (token, Origin::Generated(path.clone())),
            // Another process created it between our read and create.
            None => match read_file(&path)? {
                Some(token) => (token, Origin::Reused(path.clone())),
                None => {
                    return Err(TokenError::Io(format!(
                        "admin token file {} vanished while it was being created",
                        path.display()
                    )))
                }
            },
        },
    };
    if token.expose().chars().count() < MIN_ADMIN_TOKEN_LEN {
        return Err(TokenError::Config(format!(
            "admin token file {} holds fewer than {MIN_ADMIN_TOKEN_LEN} characters; delete it \
             to generate a new token",
            path.display()
        )));
    }
    Ok((token, origin))
}

/// 32 random bytes from the operating system's CSPRNG, as 64 hex digits.
fn generate() -> Result<String, TokenError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Io("the system random number generator failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates the token file (and its directory) with mode 0600; `None` when it
/// already exists.
fn create_file(path: &Path) -> Result<Option<Secret>, TokenError> {
    let io = |what: &str, e: std::io::Error| {
        TokenError::Io(format!("cannot {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|e| io("create the directory of", e))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(io("create", e)),
    };
    let token = generate()?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", e))?;
    Ok(Some(Secret::new(token)))
}

/// Reads an existing token file; `None` when there is none. Refuses a file
/// that is not a regular file, not owned by this user, or readable by others.
fn read_file(path: &Path) -> Result<Option<Secret>, TokenError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TokenError::Config(format!(
                "cannot read the admin token file {}: {e}",
                path.display()
            )))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| TokenError::Io(format!("cannot inspect {}: {e}", path.display())))?;
    if let Some(problem) = file_problem(&meta) {
        return Err(TokenError::Config(format!(
            "refusing the admin token file {}: {problem}",
            path.display()
        )));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| {
        TokenError::Config(format!(
            "cannot read the admin token file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Config(format!(
            "the admin token file {} is empty; delete it to generate a new token",
            path.display()
        )));
    }
    Ok(Some(Secret::new(token)))
}

/// Why an existing token file must not be used, if it must not.
#[cfg(unix)]
fn file_problem(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    owner_mode_problem(
        meta.is_file(),
        meta.uid(),
        rustix::process::geteuid().as_raw(),
        meta.mode(),
    )
}

#[cfg(not(unix))]
fn file_problem(meta: &std::fs::Metadata) -> Option<String> {
    (!meta.is_file()).then(|| "it is not a regular file".to_string())
}

/// The pure rule: a regular file, owned by `euid`, no group or other permissions.
#[cfg_attr(not(unix), allow(dead_code))]
fn owner_mode_problem(is_file: bool, uid: u32, euid: u32, mode: u32) -> Option<String> {
    if !is_file {
        return Some("it is not a regular file".into());
    }
    if uid != euid {
        return Some(format!(
            "it is owned by uid {uid}, not by this user (uid {euid}); delete it to generate a new token"
        ));
    }
    if mode & 0o077 != 0 {
        return Some(format!(
            "group or others may access it (mode {:04o}); run `chmod 600` on it, or delete it to \
             generate a new token",
            mode & 0o7777
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: Some(dir.to_path_buf()),
            ..Config::default()
        }
    }

    /// `resolve` minus the environment (a developer's `ROOK_ADMIN_TOKEN` must not
    /// leak in): the file branch only.
    fn resolve_file(config: &Config) -> Result<(Secret, Origin), TokenError> {
        let path = config.effective_data_dir().join(ADMIN_TOKEN_FILE);
        match read_file(&path)? {
            Some(t) => Ok((t, Origin::Reused(path))),
            None => create_file(&path)?
                .map(|t| (t, Origin::Generated(path.clone())))
                .ok_or_else(|| TokenError::Io("raced".into())),
        }
    }

    #[test]
    fn owner_and_mode_rules() {
        let cases = [
            (true, 1000, 1000, 0o100600, true),
            (true, 1000, 1000, 0o100400, true),
            (true, 1000, 1000, 0o100640, false),
            (true, 1000, 1000, 0o100604, false),
            (true, 1000, 1000, 0o100660, false),
            (true, 0, 1000, 0o100600, false),
            (false, 1000, 1000, 0o040700, false),
        ];
        for (is_file, uid, euid, mode, ok) in cases {
            assert_eq!(
                owner_mode_problem(is_file, uid, euid, mode).is_none(),
                ok,
                "{is_file} {uid} {euid} {mode:o}"
            );
        }
    }

    #[test]
    fn generated_tokens_are_64_hex_digits_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_created_0600_reused_and_refused_when_open_to_others() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/data");
        let config = config_in(&dir);
        let (token, origin) = resolve_file(&config).unwrap();
        let path = dir.join(ADMIN_TOKEN_FILE);
        assert_eq!(origin, Origin::Generated(path.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let (again, origin) = resolve_file(&config).unwrap();
        assert_eq!(again.expose(), token.expose());
        assert_eq!(origin, Origin::Reused(path.clone()));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve_file(&config).unwrap_err();
        assert!(matches!(err, TokenError::Config(_)), "{err}");
        assert!(err.to_string().contains("mode 0644"), "{err}");
        assert!(!err.to_string().contains(token.expose()));
    }

    #[test]
    fn a_configured_but_missing_source_refuses_to_start() {
        let mut config = Config::default();
        config.admin_auth.bearer_token_file = Some("/nonexistent/rook-admin-token".into());
        let err = resolve(&config).unwrap_err();
        assert!(matches!(err, TokenError::Config(_)));
        assert!(err.to_string().contains("admin_auth"), "{err}");
    }

    #[test]
    fn a_short_configured_token_is_refused_naming_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("t");
        std::fs::write(&file, "fifteen-chars-x\n").unwrap();
        let mut config = Config::default();
        config.admin_auth.bearer_token_file = Some(file.clone());
        let err = resolve(&config).unwrap_err().to_string();
        assert!(err.contains("admin_auth.bearer_token_file"), "{err}");
        assert!(!err.contains("fifteen"), "{err}");
        std::fs::write(&file, "sixteen-chars-xx\n").unwrap();
        let (token, origin) = resolve(&config).unwrap();
        assert_eq!(token.expose(), "sixteen-chars-xx");
        assert_eq!(origin, Origin::Source(SecretSource::File(file)));
    }
}
