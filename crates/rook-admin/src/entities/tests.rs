use super::parse::{account_from_body, has_default_base_url};
use super::*;
use crate::body::Body;

fn body(v: Value, fields: &[&str]) -> Body {
    match Body::from_value(v, fields) {
        Ok(b) => b,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn account_defaults_and_base_url() {
    let b = body(json!({"id": "a", "vendor": "open_ai"}), ACCOUNT_FIELDS);
    let a = account_from_body(&b, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(a.base_url, "https://api.openai.com/v1");
    assert!(a.enabled);
    assert_eq!(a.weight, 1);
    let b = body(json!({"id": "a", "vendor": "custom"}), ACCOUNT_FIELDS);
    let e = account_from_body(&b, None).err();
    assert!(e.is_some_and(|e| e.message.contains("`base_url`")));
}

#[test]
fn account_protocol_defaults() {
    const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
    // (body, protocol, base_url)
    let table = [
        (
            json!({"vendor": "open_ai"}),
            "openai",
            "https://api.openai.com/v1",
        ),
        (
            json!({"vendor": "anthropic"}),
            "anthropic",
            "https://api.anthropic.com/v1",
        ),
        (json!({"vendor": "google"}), "gemini", GEMINI),
        (
            json!({"vendor": "google", "protocol": "openai"}),
            "openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        (
            json!({"vendor": "custom", "base_url": "http://h:1/v1"}),
            "openai",
            "http://h:1/v1",
        ),
        (
            json!({"vendor": "custom", "base_url": "http://h:1/v1", "protocol": "anthropic"}),
            "anthropic",
            "http://h:1/v1",
        ),
    ];
    for (mut v, protocol, base_url) in table {
        v["id"] = json!("a");
        let a = account_from_body(&body(v.clone(), ACCOUNT_FIELDS), None)
            .unwrap_or_else(|e| panic!("{v}: {e:?}"));
        assert_eq!(
            (a.protocol.as_str(), a.base_url.as_str()),
            (protocol, base_url),
            "{v}"
        );
        assert!(a.stream_usage);
        assert_eq!(
            (a.anthropic_version.as_deref(), a.default_max_tokens),
            (None, None)
        );
        assert!(
            has_default_base_url(&a) == v.get("base_url").is_none(),
            "{v}"
        );
    }
}

#[test]
fn merge_patch() {
    let base = writable(
        json!({"model": "m", "pool": "p", "fallback_route": "x", "source": "api"}),
        ROUTE_FIELDS,
    );
    let merged = merge(
        base,
        json!({"fallback_route": null})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    assert_eq!(Value::Object(merged), json!({"model": "m", "pool": "p"}));
}
