use super::*;

#[test]
fn host_patterns() {
    for ok in [
        "*",
        "rook",
        "rook.default.svc.cluster.local",
        "*.example.com",
        "10.0.0.5",
        "::1",
        "[::1]",
        "my_host",
    ] {
        assert!(check_host_pattern(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "https://x.example",
        "x.example:443",
        "x.example/path",
        "*.",
        "a..b",
        "*x.example",
        "-a.example",
        "**",
    ] {
        assert!(check_host_pattern(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cidrs() {
    assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(parse_cidr("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
    assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
    assert_eq!(parse_cidr("fd00::/8").unwrap().to_string(), "fd00::/8");
    assert!(parse_cidr("10.0.0.0/33").is_err());
    assert!(parse_cidr("proxy.local").is_err());
    assert!(parse_cidr("").is_err());
}

#[test]
fn transport_problems_name_their_keys() {
    let mut config = Config::default();
    config.transport.allowed_hosts = vec!["ok.example".into(), "https://bad".into()];
    config.transport.trusted_proxies = vec!["10.0.0.0/8".into(), "nope".into()];
    config.rate_limits.client_address_requests_per_minute = 2_000_000;
    let keys: Vec<String> = config
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(
        keys,
        [
            "rate_limits.client_address_requests_per_minute",
            "transport.allowed_hosts[1]",
            "transport.trusted_proxies[1]"
        ]
    );
}

#[test]
fn admin_token_length() {
    let auth = crate::AdminAuth::default();
    assert!(auth
        .check_token(&crate::Secret::new("a".repeat(16)))
        .is_ok());
    let p = auth
        .check_token(&crate::Secret::new("fifteen-chars-x"))
        .unwrap_err();
    assert_eq!(p.key, "admin_auth.bearer_token_env");
    assert!(p.message.contains("15 characters"), "{p}");
    assert!(!p.message.contains("fifteen"), "{p}");
    let file = crate::AdminAuth {
        bearer_token_file: Some("/run/t".into()),
        ..Default::default()
    };
    assert_eq!(
        file.check_token(&crate::Secret::new("x")).unwrap_err().key,
        "admin_auth.bearer_token_file"
    );
}

#[test]
fn data_dir_defaults_to_the_database_directory() {
    let dir = |url: &str| {
        Config {
            database_url: url.into(),
            ..Config::default()
        }
        .effective_data_dir()
    };
    assert_eq!(dir("sqlite://rook.db"), Path::new("."));
    assert_eq!(
        dir("sqlite:///var/lib/rook/rook.db?mode=rwc"),
        Path::new("/var/lib/rook")
    );
    assert_eq!(dir("sqlite:data/rook.db"), Path::new("data"));
    assert_eq!(dir("sqlite::memory:"), Path::new("."));
    assert_eq!(dir("postgres://u@h/db"), Path::new("."));
    let set = Config {
        data_dir: Some("/srv/rook".into()),
        ..Config::default()
    };
    assert_eq!(set.effective_data_dir(), Path::new("/srv/rook"));
}

#[test]
fn database_url_rules() {
    assert_eq!(
        check_database_url("sqlite://rook.db"),
        Ok(DatabaseBackend::Sqlite)
    );
    assert_eq!(
        check_database_url("sqlite::memory:"),
        Ok(DatabaseBackend::Sqlite)
    );
    assert_eq!(
        check_database_url("postgresql://u@h/db"),
        Ok(DatabaseBackend::Postgres)
    );
    assert!(check_database_url("mysql://u:pw@h/db")
        .unwrap_err()
        .contains("`mysql`"));
    assert!(check_database_url("postgres:").is_err());
    assert!(check_database_url("rook.db").is_err());
    assert!(check_database_url(" ").is_err());
}

#[test]
fn log_level_rules() {
    assert!(check_log_level("info").is_ok());
    assert!(check_log_level("rook=debug,hyper=warn").is_ok());
    assert!(check_log_level("rook_gateway").is_ok());
    assert!(check_log_level("rook[span{id=1}]=trace").is_ok());
    assert!(check_log_level("rook=verbose").is_err());
    assert!(check_log_level("info,,warn").is_err());
    assert!(check_log_level("").is_err());
}
