use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use rook_registry::client_key::{generate_secret, hash_bytes, ClientKeyRecord};
use rook_registry::{ConnectOptions, Registry, UsageEvent};

use super::loader::{DefaultKey, LoaderState};
use super::{Auth, KeyStore, Refusal};
use crate::error::ApiError;

async fn registry() -> Registry {
    Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

fn refused(a: Auth) -> Refusal {
    match a {
        Auth::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn key(a: Auth) -> Arc<super::Key> {
    match a {
        Auth::Key(k) => k,
        other => panic!("expected a key, got {other:?}"),
    }
}

#[tokio::test]
async fn open_until_a_token_or_a_key_exists() {
    let r = registry().await;
    let store = KeyStore::new(0);
    let state = LoaderState::default();
    store.reload(&r, None, &state).await.unwrap();
    assert!(matches!(store.authenticate(&HeaderMap::new()), Auth::Open));
    // A revoked key still means "keys are in use": never open again.
    let s = generate_secret().unwrap();
    r.create_client_key(&ClientKeyRecord::new("a", "A", &s))
        .await
        .unwrap();
    r.revoke_client_key("a").await.unwrap();
    store.reload(&r, None, &state).await.unwrap();
    assert_eq!(
        refused(store.authenticate(&HeaderMap::new())),
        Refusal::Missing
    );
    assert_eq!(refused(store.authenticate(&bearer(&s))), Refusal::Revoked);
}

#[tokio::test]
async fn states_and_the_default_key() {
    let r = registry().await;
    let now = crate::now_ms();
    let (active, disabled, expired) = (
        generate_secret().unwrap(),
        generate_secret().unwrap(),
        generate_secret().unwrap(),
    );
    let mut k = ClientKeyRecord::new("active", "A", &active);
    k.models = vec!["gpt-*".into()];
    r.create_client_key(&k).await.unwrap();
    let mut k = ClientKeyRecord::new("disabled", "D", &disabled);
    k.enabled = false;
    r.create_client_key(&k).await.unwrap();
    let mut k = ClientKeyRecord::new("expired", "E", &expired);
    k.expires_at_ms = Some(now - 1);
    r.create_client_key(&k).await.unwrap();
    let default = DefaultKey {
        hash: hash_bytes(b"legacy-token"),
        principal: Arc::from("ph"),
    };
    let store = KeyStore::new(0);
    store
        .reload(&r, Some(&default), &LoaderState::default())
        .await
        .unwrap();
    // (headers, expected)
    let table: [(HeaderMap, Result<&str, Refusal>); 7] = [
        (bearer(&active), Ok("active")),
        (bearer("legacy-token"), Ok("default")),
        (bearer(&disabled), Err(Refusal::Disabled)),
        (bearer(&expired), Err(Refusal::Expired)),
        (bearer("rk-unknown"), Err(Refusal::Unknown)),
        (HeaderMap::new(), Err(Refusal::Missing)),
        (
            {
                let mut h = HeaderMap::new();
                h.insert("x-api-key", HeaderValue::from_str(&active).unwrap());
                h
            },
            Ok("active"),
        ),
    ];
    for (h, want) in table {
        match (store.authenticate(&h), want) {
            (Auth::Key(k), Ok(id)) => assert_eq!(&*k.id, id),
            (Auth::Refused(r), Err(w)) => assert_eq!(r, w),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }
    let k = key(store.authenticate(&bearer(&active)));
    assert!(k.allows("gpt-4o") && !k.allows("claude"));
    assert_eq!(&*k.principal, "key:active");
    let d = key(store.authenticate(&bearer("legacy-token")));
    assert!(d.is_default() && d.allows("anything"));
    assert_eq!(&*d.principal, "ph");
    // The 401 never echoes the key.
    for r in [
        Refusal::Revoked,
        Refusal::Expired,
        Refusal::Disabled,
        Refusal::Unknown,
    ] {
        let body = String::from_utf8(r.error().body().to_vec()).unwrap();
        assert!(body.contains("invalid_api_key"), "{body}");
        assert!(!body.contains(&active[3..]));
    }
}

#[tokio::test]
async fn rotation_grace_and_reload_keep_spend_and_buckets() {
    let r = registry().await;
    let s1 = generate_secret().unwrap();
    let mut k = ClientKeyRecord::new("a", "A", &s1);
    k.budget_usd = Some(1.0);
    k.budget_period = Some("day".into());
    k.requests_per_minute = Some(2);
    r.create_client_key(&k).await.unwrap();
    // Spend is seeded from usage events of the current period.
    r.insert_usage_events(&[UsageEvent {
        ts_ms: crate::now_ms(),
        key_id: Some("a".into()),
        cost_usd: Some(0.25),
        ..Default::default()
    }])
    .await
    .unwrap();
    let store = KeyStore::new(0);
    let state = LoaderState::default();
    store.reload(&r, None, &state).await.unwrap();
    let k1 = key(store.authenticate(&bearer(&s1)));
    let now = store.now_ms();
    assert_eq!(k1.budget_status(now).map(|b| b.0), Some(0.25));
    assert!(k1.reserve(10).await.unwrap().is_some());
    k1.charge(0.5, now);

    let s2 = generate_secret().unwrap();
    let until = crate::now_ms() + 60_000;
    r.rotate_client_key(
        "a",
        &rook_registry::client_key::hash_secret(&s2),
        "rk-x",
        Some(until),
    )
    .await
    .unwrap();
    store.reload(&r, None, &state).await.unwrap();
    let k2 = key(store.authenticate(&bearer(&s2)));
    assert_eq!(&*key(store.authenticate(&bearer(&s1))).id, "a");
    // Spend and buckets survive the reload: one request left of two.
    assert_eq!(k2.budget_status(now).map(|b| b.0), Some(0.75));
    assert!(k2.reserve(10).await.unwrap().is_some());
    assert!(matches!(
        k2.reserve(10).await,
        Err(ApiError::RateLimited { .. })
    ));
    // Past the grace the old secret is unknown.
    assert_eq!(
        refused(store.lookup(s1.as_bytes(), until + 1)),
        Refusal::Unknown
    );
    // Without grace it stops at once.
    let s3 = generate_secret().unwrap();
    r.rotate_client_key(
        "a",
        &rook_registry::client_key::hash_secret(&s3),
        "rk-y",
        None,
    )
    .await
    .unwrap();
    store.reload(&r, None, &state).await.unwrap();
    assert_eq!(refused(store.authenticate(&bearer(&s2))), Refusal::Unknown);
    assert!(matches!(store.authenticate(&bearer(&s3)), Auth::Key(_)));
}

#[tokio::test]
async fn budgets_refuse_at_the_limit_and_roll_over() {
    let r = registry().await;
    let s = generate_secret().unwrap();
    let mut k = ClientKeyRecord::new("b", "B", &s);
    k.budget_usd = Some(0.05);
    k.budget_period = Some("day".into());
    r.create_client_key(&k).await.unwrap();
    let store = KeyStore::new(0);
    store
        .reload(&r, None, &LoaderState::default())
        .await
        .unwrap();
    let k = key(store.authenticate(&bearer(&s)));
    let day = 86_400_000;
    let t = 20_000 * day + 1000;
    assert!(k.check_budget(t, 0).is_ok());
    k.charge(0.049, t);
    assert!(k.check_budget(t, 0).is_ok());
    k.charge(0.002, t);
    match k.check_budget(t, 0) {
        Err(e) => {
            assert_eq!(e.status(), 429);
            let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
            assert_eq!(v["error"]["type"], "insufficient_quota");
            assert_eq!(v["error"]["code"], "budget_exceeded");
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains("resets at 2024-10-05T00:00:00Z"), "{msg}");
        }
        Ok(()) => panic!("admitted over budget"),
    }
    // The next day starts at zero; a charge there starts the new period.
    assert!(k.check_budget(t + day, 0).is_ok());
    k.charge(0.01, t + day);
    assert_eq!(k.budget_status(t + day).map(|b| b.0), Some(0.01));
    assert_eq!(k.budget_status(t).map(|b| b.0), Some(0.0));
}

#[test]
fn presented_tokens() {
    use super::presented;
    let mut h = HeaderMap::new();
    assert_eq!(presented(&h), None);
    h.insert("x-api-key", HeaderValue::from_static(" s3cret "));
    assert_eq!(presented(&h), Some(&b"s3cret"[..]));
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("bearer s3cret"),
    );
    assert_eq!(presented(&h), Some(&b"s3cret"[..]));
    // A wrong Authorization is not rescued by a right x-api-key.
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Basic s3cret"),
    );
    assert_eq!(presented(&h), Some(&b""[..]));
}

#[test]
fn an_outage_is_reported_once_each_way() {
    use super::loader::Reachability;
    let down = rook_registry::RegistryError::Unavailable {
        message: "refused".into(),
    };
    let mut r = Reachability::default();
    assert!(r.ok);
    assert!(!r.succeeded(), "no outage to end");
    // (event, starts or ends an outage, ok after)
    let table = [
        (false, true, false),
        (false, false, false),
        (false, false, false),
        (true, true, true),
        (true, false, true),
        (false, true, false),
        (true, true, true),
    ];
    for (i, (works, edge, ok)) in table.into_iter().enumerate() {
        let changed = if works {
            r.succeeded()
        } else {
            r.failed(&down)
        };
        assert_eq!(changed, edge, "step {i}");
        assert_eq!(r.ok, ok, "step {i}");
    }
}
