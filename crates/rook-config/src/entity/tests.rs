use std::collections::BTreeMap;

use super::*;
use crate::model::{Protocol, Strategy, Vendor};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rendered(errors: &[EntityError]) -> Vec<String> {
    errors.iter().map(EntityError::to_string).collect()
}

#[test]
fn ids() {
    let long = "x".repeat(MAX_ID_LEN);
    let too_long = "x".repeat(MAX_ID_LEN + 1);
    let table: &[(&str, bool)] = &[
        ("openai-a.1_B", true),
        ("a", true),
        (&long, true),
        ("", false),
        ("a b", false),
        ("a/b", false),
        ("é", false),
        (&too_long, false),
    ];
    for (id, ok) in table {
        assert_eq!(is_valid_id(id), *ok, "{id:?}");
        assert_eq!(check_id("id", id).is_ok(), *ok, "{id:?}");
    }
    assert_eq!(
        check_id("pool", "a b").err().map(|e| e.to_string()),
        Some(format!("pool: {ID_RULE}"))
    );
}

#[test]
fn weights() {
    let table = [
        (0, false),
        (WEIGHT_MIN, true),
        (DEFAULT_WEIGHT, true),
        (500, true),
        (WEIGHT_MAX, true),
        (WEIGHT_MAX + 1, false),
        (u32::MAX, false),
    ];
    for (w, ok) in table {
        assert_eq!(check_weight(w).is_ok(), ok, "{w}");
    }
    assert_eq!(
        check_weight(1001).err().map(|e| e.to_string()),
        Some("weight: must be in 1..=1000, got 1001".to_string())
    );
}

#[test]
fn vendors_and_strategies() {
    for v in Vendor::ALL {
        assert_eq!(check_vendor(v.as_str()), Ok(v));
    }
    for s in Strategy::ALL {
        assert_eq!(check_strategy(s.as_str()), Ok(s));
    }
    let table: &[(&str, &str)] = &[
        ("openai", "unknown vendor 'openai'"),
        ("", "unknown vendor ''"),
        ("OPEN_AI", "unknown vendor 'OPEN_AI'"),
    ];
    for (name, fragment) in table {
        let e = check_vendor(name).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains(fragment)), "{e:?}");
    }
    // Spelling hints for the commonest traps (`protocol = "openai"` is valid).
    type Check = fn(&str) -> Option<String>;
    let hints: &[(Check, &str, &str)] = &[
        (
            |n| check_vendor(n).err().map(|e| e.to_string()),
            "openai",
            "did you mean 'open_ai'?",
        ),
        (
            |n| check_vendor(n).err().map(|e| e.to_string()),
            "openrouter",
            "did you mean 'open_router'?",
        ),
        (
            |n| check_vendor(n).err().map(|e| e.to_string()),
            "deepseek",
            "did you mean 'deep_seek'?",
        ),
        (
            |n| check_strategy(n).err().map(|e| e.to_string()),
            "round-robin",
            "did you mean 'round_robin'?",
        ),
        (
            |n| check_strategy(n).err().map(|e| e.to_string()),
            "least-busy",
            "did you mean 'least_busy'?",
        ),
    ];
    for (check, name, hint) in hints {
        let e = check(name);
        assert!(
            e.as_deref().is_some_and(|e| e.contains(hint)),
            "{name}: {e:?}"
        );
    }
    assert_eq!(check_protocol("openai"), Ok(Protocol::OpenAi));
    let e = check_strategy("random").err().map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.starts_with("strategy: unknown strategy 'random'")
                && e.contains("round_robin")),
        "{e:?}"
    );
}

#[test]
fn protocols() {
    for p in Protocol::ALL {
        assert_eq!(check_protocol(p.as_str()), Ok(p));
    }
    let table: &[(&str, &str)] = &[
        (
            "grpc",
            "protocol: unknown protocol 'grpc'; expected one of openai, anthropic, gemini",
        ),
        (
            "",
            "protocol: unknown protocol ''; expected one of openai, anthropic, gemini",
        ),
        (
            "open_ai",
            "protocol: unknown protocol 'open_ai'; expected one of openai, anthropic, gemini",
        ),
        (
            "OpenAI",
            "protocol: unknown protocol 'OpenAI'; expected one of openai, anthropic, gemini",
        ),
    ];
    for (name, want) in table {
        let got = check_protocol(name).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), Some(*want), "{name:?}");
    }
}

#[test]
fn anthropic_versions() {
    let longest = "v".repeat(MAX_ANTHROPIC_VERSION_LEN);
    let too_long = "v".repeat(MAX_ANTHROPIC_VERSION_LEN + 1);
    let table: &[(&str, Option<&str>)] = &[
        (DEFAULT_ANTHROPIC_VERSION, None),
        ("2024-10-22", None),
        ("beta 1", None),
        (&longest, None),
        (
            "",
            Some("anthropic_version: must not be empty (e.g. \"2023-06-01\")"),
        ),
        (
            "  ",
            Some("anthropic_version: must not be empty (e.g. \"2023-06-01\")"),
        ),
        (
            "2023\n06",
            Some("anthropic_version: must be printable ASCII"),
        ),
        (
            "2023-06-01é",
            Some("anthropic_version: must be printable ASCII"),
        ),
        (
            &too_long,
            Some("anthropic_version: must be at most 64 characters, got 65"),
        ),
    ];
    for (version, want) in table {
        let got = check_anthropic_version(version)
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), *want, "{version:?}");
    }
}

#[test]
fn default_max_tokens() {
    let table: &[(u32, Option<&str>)] = &[
        (0, Some("default_max_tokens: must be at least 1, got 0")),
        (1, None),
        (DEFAULT_MAX_TOKENS, None),
        (u32::MAX, None),
    ];
    for (tokens, want) in table {
        let got = check_default_max_tokens(*tokens)
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), *want, "{tokens}");
    }
}

#[test]
fn base_urls() {
    let table: &[(&str, Option<&str>)] = &[
        ("https://api.openai.com/v1", None),
        ("http://localhost:8080", None),
        ("http://[::1]:8080/v1/", None),
        ("HTTPS://Example.com", None),
        ("", Some("empty")),
        ("api.openai.com/v1", Some("absolute")),
        ("ftp://host/x", Some("http or https")),
        ("https://user:pw@host/v1", Some("credentials")),
        ("https://host/v1?key=x", Some("query")),
        ("https://host/v1#frag", Some("fragment")),
        ("https:///v1", Some("host")),
        ("https://host:0/", Some("port")),
        ("https://host:99999/", Some("port")),
        ("https://host:+80/", Some("port")),
        ("https://ho st/", Some("whitespace")),
        ("https://[::1/", Some("IPv6")),
        ("https://[zz]/", Some("IPv6")),
        ("https://[::1]x/", Some("authority")),
        ("https://h*st/", Some("host name")),
    ];
    for (url, want) in table {
        match (check_base_url(url), want) {
            (Ok(()), None) => {}
            (Err(m), Some(fragment)) => assert!(m.contains(fragment), "{url:?}: {m}"),
            (got, want) => panic!("{url:?}: got {got:?}, want {want:?}"),
        }
    }
    assert!(check_account_base_url(Vendor::OpenAi, None).is_ok());
    let e = check_account_base_url(Vendor::Custom, None).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("base_url: is required for vendor \"custom\" (there is no default)".into())
    );
}

#[test]
fn key_references() {
    let table: &[(&str, bool)] = &[
        ("OPENAI_KEY", true),
        ("_x1", true),
        ("", false),
        (" ", false),
        ("1BAD", false),
        ("sk-live-123", false),
    ];
    for (name, ok) in table {
        assert_eq!(check_api_key_env(name).is_ok(), *ok, "{name:?}");
    }
    assert!(!is_env_var_name(&"A".repeat(MAX_ENV_VAR_LEN + 1)));
    assert!(is_env_var_name(&"A".repeat(MAX_ENV_VAR_LEN)));
    for (path, ok) in [("/k", true), ("", false), ("a\nb", false)] {
        assert_eq!(check_api_key_file(path).is_ok(), ok, "{path:?}");
    }
}

#[test]
fn model_names() {
    let long = "m".repeat(MAX_MODEL_LEN);
    let too_long = "m".repeat(MAX_MODEL_LEN + 1);
    let table: &[(&str, bool)] = &[
        ("gpt-4o", true),
        ("meta/llama-3:70b", true),
        (&long, true),
        ("", false),
        ("  ", false),
        (&too_long, false),
        ("a\tb", false),
    ];
    for (model, ok) in table {
        assert_eq!(check_model_name("model", model).is_ok(), *ok, "{model:?}");
    }
}

#[test]
fn model_maps() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert!(check_model_map(&map(&[("gpt-4o", "gpt-4o-2024")])).is_empty());
    let errors = check_model_map(&map(&[("m", " ")]));
    assert_eq!(
        rendered(&errors),
        ["models.m: upstream model name must not be empty"]
    );
    assert_eq!(errors[0].key_path(), "models.\"m\"");
    let errors = check_model_map(&map(&[("", "x")]));
    assert_eq!(
        rendered(&errors),
        ["models: logical model name must not be empty"]
    );
}

#[test]
fn accounts() {
    let none = BTreeMap::new();
    let ok = AccountRef {
        id: "a",
        vendor: "open_ai",
        base_url: None,
        api_key_env: Some("KEY_A"),
        api_key_file: None,
        weight: 1,
        models: &none,
        protocol: None,
        anthropic_version: None,
        default_max_tokens: None,
    };
    assert!(check_account(&ok).is_empty());
    let table: Vec<(AccountRef<'_>, Vec<&str>)> = vec![
        (AccountRef { id: "a b", ..ok }, vec!["id"]),
        (AccountRef { vendor: "x", ..ok }, vec!["vendor"]),
        (
            AccountRef {
                vendor: "x",
                base_url: Some("ftp://h"),
                ..ok
            },
            vec!["vendor", "base_url"],
        ),
        (
            AccountRef {
                vendor: "custom",
                ..ok
            },
            vec!["base_url"],
        ),
        (
            AccountRef {
                vendor: "custom",
                base_url: Some("http://127.0.0.1:9/v1"),
                ..ok
            },
            vec![],
        ),
        (
            AccountRef {
                api_key_file: Some("/k"),
                ..ok
            },
            vec!["api_key_file"],
        ),
        (
            AccountRef {
                api_key_env: Some("1X"),
                ..ok
            },
            vec!["api_key_env"],
        ),
        (AccountRef { weight: 0, ..ok }, vec!["weight"]),
        (
            AccountRef {
                protocol: Some("gemini"),
                anthropic_version: Some("2023-06-01"),
                default_max_tokens: Some(1),
                ..ok
            },
            vec![],
        ),
        (
            AccountRef {
                protocol: Some("grpc"),
                ..ok
            },
            vec!["protocol"],
        ),
        (
            AccountRef {
                anthropic_version: Some(""),
                ..ok
            },
            vec!["anthropic_version"],
        ),
        (
            AccountRef {
                default_max_tokens: Some(0),
                ..ok
            },
            vec!["default_max_tokens"],
        ),
    ];
    for (account, fields) in table {
        let got: Vec<&str> = check_account(&account).iter().map(|e| e.field).collect();
        assert_eq!(got, fields, "{account:?}");
    }
}

#[test]
fn pools() {
    let members = strings(&["a", "b"]);
    let ok = PoolRef {
        id: "p",
        strategy: "round_robin",
        members: &members,
        fallback_pool: None,
    };
    assert!(check_pool(&ok).is_empty());
    let dup = strings(&["a", "b", "a"]);
    let bad = strings(&["a", "b c"]);
    let empty: Vec<String> = Vec::new();
    let table: Vec<(PoolRef<'_>, Vec<&str>)> = vec![
        (PoolRef { id: "", ..ok }, vec!["id: must be 1 to 64"]),
        (
            PoolRef {
                strategy: "random",
                ..ok
            },
            vec!["strategy: unknown strategy 'random'"],
        ),
        (
            PoolRef {
                members: &dup,
                ..ok
            },
            vec!["members[2]: \"a\" is listed more than once"],
        ),
        (
            PoolRef {
                members: &bad,
                ..ok
            },
            vec!["members[1]: must be"],
        ),
        (
            PoolRef {
                members: &empty,
                ..ok
            },
            vec![],
        ),
        (
            PoolRef {
                fallback_pool: Some("p"),
                ..ok
            },
            vec!["fallback_pool: a pool cannot fall back to itself"],
        ),
        (
            PoolRef {
                fallback_pool: Some("q r"),
                ..ok
            },
            vec!["fallback_pool: must be"],
        ),
    ];
    for (pool, want) in table {
        let got = rendered(&check_pool(&pool));
        assert_eq!(got.len(), want.len(), "{pool:?}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "{pool:?}: {g:?} vs {w:?}");
        }
    }
    let self_fb = PoolRef {
        fallback_pool: Some("p"),
        ..ok
    };
    assert!(check_pool_fields(&self_fb).is_empty());
    assert!(check_has_members(&members).is_ok());
    assert_eq!(
        check_has_members(&empty).err().map(|e| e.to_string()),
        Some("members: must list at least one account id".into())
    );
}

#[test]
fn routes() {
    let ok = RouteRef {
        model: "gpt-4o",
        pool: "p",
        fallback_route: Some("gpt-4o-mini"),
    };
    assert!(check_route(&ok).is_empty());
    let table: Vec<(RouteRef<'_>, Vec<&str>)> = vec![
        (RouteRef { model: " ", ..ok }, vec!["model"]),
        (RouteRef { pool: "a/b", ..ok }, vec!["pool"]),
        (
            RouteRef {
                fallback_route: Some(""),
                ..ok
            },
            vec!["fallback_route"],
        ),
        (
            RouteRef {
                fallback_route: Some("gpt-4o"),
                ..ok
            },
            vec!["fallback_route"],
        ),
    ];
    for (route, fields) in table {
        let got: Vec<&str> = check_route(&route).iter().map(|e| e.field).collect();
        assert_eq!(got, fields, "{route:?}");
    }
    let self_fb = RouteRef {
        fallback_route: Some("gpt-4o"),
        ..ok
    };
    assert!(check_route_fields(&self_fb).is_empty());
}

#[test]
fn references() {
    let members = strings(&["a", "zz", "bad id"]);
    let pool = PoolRef {
        id: "p",
        strategy: "failover",
        members: &members,
        fallback_pool: Some("nope"),
    };
    let got = rendered(&check_pool_references(&pool, |a| a == "a", |p| p == "p"));
    assert_eq!(
        got,
        [
            "members[1]: \"zz\" is not a declared account id",
            "fallback_pool: \"nope\" is not a declared pool id",
        ]
    );
    let route = RouteRef {
        model: "m",
        pool: "nope",
        fallback_route: Some("ghost"),
    };
    let got = rendered(&check_route_references(&route, |p| p == "p", |m| m == "m"));
    assert_eq!(
        got,
        [
            "pool: \"nope\" is not a declared pool id",
            "fallback_route: \"ghost\" is not the model of a declared route",
        ]
    );
}

#[test]
fn cycles() {
    type Case = (Vec<Option<usize>>, Vec<Vec<usize>>);
    let table: Vec<Case> = vec![
        (vec![], vec![]),
        (vec![None, None], vec![]),
        (vec![Some(0)], vec![vec![0]]),
        (vec![Some(1), Some(0)], vec![vec![0, 1]]),
        // 0 -> 1 -> 2 -> 1 ; 3 -> 3 ; 4 -> none
        (
            vec![Some(1), Some(2), Some(1), Some(3), None],
            vec![vec![1, 2], vec![3]],
        ),
        // a chain is fine
        (vec![Some(1), Some(2), None], vec![]),
        // an index out of range ends the chain
        (vec![Some(7)], vec![]),
    ];
    for (next, want) in table {
        assert_eq!(fallback_cycles(&next), want, "{next:?}");
    }
}

#[test]
fn paths() {
    let e = EntityError::key("models", "gpt-4o", "x");
    assert_eq!(e.path(), "models.gpt-4o");
    assert_eq!(e.key_path(), "models.\"gpt-4o\"");
    let e = EntityError::at("members", 2, "x");
    assert_eq!(e.path(), "members[2]");
    assert_eq!(e.key_path(), "members[2]");
    let e = EntityError::combination("api_key_file", "x");
    assert_eq!(e.to_string(), "api_key_file: x");
    assert_eq!(e.key_path(), "");
}
