//! Client keys on the request path: who is calling, and may they.
//!
//! The [`KeyStore`] holds a hash map from the SHA-256 of every valid secret (a key's
//! current secret, the previous one during a rotation's grace, the `default` key of
//! `[inbound_auth]`) to the key's state. A lookup is one SHA-256 of the presented token
//! and one map lookup: unknown, revoked, disabled and expired keys cost the same (revoked
//! and expired keys stay in the map; their state decides). The map is swapped whole
//! (`ArcSwap`) when keys change: at once after an admin change, and when the
//! registry's config version moves after a change by another process (`rook-cli` on
//! the registry, another instance; `control/cluster.rs`).
//!
//! Per key, kept across reloads: the spend of the current budget period (seeded from
//! the registry's usage events at start, charged when a request is recorded), the RPM/TPM
//! buckets (`rook_resilience::RateLimits`), the last-use time (written to the registry
//! in batches). On PostgreSQL budgets and RPM/TPM are leased across instances
//! (`budget.rs`, `crate::budgets`, `crate::leases`).
//!
//! The rejection taxonomy: unknown/missing/revoked/disabled/expired → 401
//! `invalid_api_key`; a model outside the scope → 403 `model_not_allowed`; budget spent
//! → 429 `insufficient_quota`/`budget_exceeded` with `x-should-retry: false`; RPM/TPM →
//! 429 `rate_limit_exceeded` with `Retry-After`. None of them calls an upstream.

pub(crate) mod boot;
mod budget;
pub(crate) mod loader;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{header, HeaderMap};
use rook_config::entity::client_key::{model_allowed, BudgetPeriod, DEFAULT_KEY_ID};
use rook_observability::names;
use rook_registry::client_key::hash_bytes;
use rook_resilience::RateLimits;

use crate::budgets::SharedBudgets;
use crate::leases::{reserve_pair_waiting, settle_pair, LeasedPair, SharedLimits, Ticket};

use crate::error::ApiError;

/// One key as the request path sees it. Settings are immutable (a change builds a new
/// `Key`); the runtime part is shared with the key's next versions.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) id: Arc<str>,
    /// The identity stored in usage events and idempotency records.
    pub(crate) principal: Arc<str>,
    models: Vec<String>,
    budget: Option<(f64, BudgetPeriod)>,
    expires_at_ms: Option<i64>,
    revoked: bool,
    enabled: bool,
    /// The store's test clock offset (see [`KeyStore::now_ms`]).
    clock_offset_ms: i64,
    /// Budgets leased across instances (`None` on SQLite).
    budgets: Option<Arc<SharedBudgets>>,
    pub(crate) rt: Arc<KeyRuntime>,
}

/// What a key accumulates while the gateway runs.
#[derive(Debug)]
pub(crate) struct KeyRuntime {
    spend: Mutex<Spend>,
    limits: Option<RateLimits>,
    /// The same limits leased across instances (PostgreSQL).
    leased: Option<LeasedPair>,
    /// `(requests_per_minute, tokens_per_minute)` the buckets were built for.
    limit_settings: (Option<u32>, Option<u32>),
    /// Last request (clock ms), and the last one written to the registry.
    last_used_ms: AtomicI64,
    flushed_ms: AtomicI64,
}

/// Spend of the current budget period.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spend {
    period_start_ms: i64,
    usd: f64,
}

/// A key's entry in the hash map: the key, and until when this secret works
/// (a previous secret during a rotation's grace).
#[derive(Debug, Clone)]
struct Entry {
    key: Arc<Key>,
    valid_until_ms: Option<i64>,
}

/// Why a request's key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Missing,
    Unknown,
    Revoked,
    Disabled,
    Expired,
}

impl Refusal {
    /// The `reason` label of `rook_client_key_rejections_total`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Unknown => "unknown",
            Refusal::Revoked => "revoked",
            Refusal::Disabled => "disabled",
            Refusal::Expired => "expired",
        }
    }

    /// The 401 answered (never echoing the key).
    pub(crate) fn error(self) -> ApiError {
        let message = match self {
            Refusal::Missing | Refusal::Unknown => return ApiError::Unauthorized,
            Refusal::Revoked => "This API key has been revoked.",
            Refusal::Disabled => "This API key is disabled.",
            Refusal::Expired => "This API key has expired.",
        };
        ApiError::KeyRefused {
            status: http::StatusCode::UNAUTHORIZED,
            message: message.to_string(),
            kind: "authentication_error",
            code: "invalid_api_key",
            param: None,
            retry_after: None,
            class: "unauthorized",
        }
    }
}

/// Counts a refusal.
pub(crate) fn count_rejection(reason: &'static str) {
    metrics::counter!(names::CLIENT_KEY_REJECTIONS_TOTAL, "reason" => reason).increment(1);
}

/// The outcome of authenticating a request.
#[derive(Debug)]
pub(crate) enum Auth {
    /// A valid key.
    Key(Arc<Key>),
    /// No authentication configured (no token, no keys).
    Open,
    /// Refused.
    Refused(Refusal),
}

/// The keys a request may be made with. See the module docs.
pub(crate) struct KeyStore {
    map: ArcSwap<HashMap<[u8; 32], Entry>>,
    /// Whether a key is required (a token is configured or a key exists).
    required: std::sync::atomic::AtomicBool,
    /// Added to the wall clock (a testing aid: `ROOK_TEST_CLOCK_OFFSET_SECONDS`).
    clock_offset_ms: i64,
    /// Keys' RPM/TPM shared across instances (PostgreSQL); local by default.
    shared_limits: std::sync::OnceLock<Arc<SharedLimits>>,
    /// Keys' budgets shared across instances (PostgreSQL); local by default.
    shared_budgets: std::sync::OnceLock<Arc<SharedBudgets>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.map.load().len())
            .finish_non_exhaustive()
    }
}

/// The presented token: `Authorization: Bearer <token>`, else `x-api-key: <token>`
/// (Anthropic clients). A present but malformed `Authorization` is not rescued by
/// `x-api-key`.
fn presented(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bytes = value.as_bytes();
        return match bytes.get(..7) {
            Some(p) if p.eq_ignore_ascii_case(b"bearer ") => Some(bytes[7..].trim_ascii()),
            _ => Some(b""),
        };
    }
    headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii())
}

impl KeyStore {
    /// An empty store (no key required until [`KeyStore::install`]).
    pub(crate) fn new(clock_offset_ms: i64) -> KeyStore {
        KeyStore {
            map: ArcSwap::from_pointee(HashMap::new()),
            required: std::sync::atomic::AtomicBool::new(false),
            clock_offset_ms,
            shared_limits: std::sync::OnceLock::new(),
            shared_budgets: std::sync::OnceLock::new(),
        }
    }

    /// Leases keys' RPM/TPM through `limits` (before the first reload).
    pub(crate) fn share_limits(&self, limits: Arc<SharedLimits>) {
        let _ = self.shared_limits.set(limits);
    }

    /// Leases keys' budgets through `budgets` (before the first reload).
    pub(crate) fn share_budgets(&self, budgets: Arc<SharedBudgets>) {
        let _ = self.shared_budgets.set(budgets);
    }

    /// The budgets keys lease from, when set and shared.
    fn budgets(&self) -> Option<Arc<SharedBudgets>> {
        self.shared_budgets.get().filter(|b| b.is_shared()).cloned()
    }

    /// Key `id`'s limits leased across instances, when shared.
    fn leased(&self, id: &str, rpm: Option<u32>, tpm: Option<u32>) -> Option<LeasedPair> {
        LeasedPair::new(self.shared_limits.get()?, "key", id, rpm, tpm)
    }

    /// The store's clock: unix ms plus the test offset.
    pub(crate) fn now_ms(&self) -> i64 {
        crate::now_ms().saturating_add(self.clock_offset_ms)
    }

    /// The test offset of the clock, in ms.
    pub(crate) fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms
    }

    /// Authenticates a request by its headers.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Auth {
        if !self.required.load(Ordering::Relaxed) {
            return Auth::Open;
        }
        let Some(token) = presented(headers).filter(|t| !t.is_empty()) else {
            return Auth::Refused(Refusal::Missing);
        };
        self.lookup(token, self.now_ms())
    }

    /// Looks a token up at `now_ms`: one SHA-256, one map lookup.
    pub(crate) fn lookup(&self, token: &[u8], now_ms: i64) -> Auth {
        let map = self.map.load();
        let Some(entry) = map.get(&hash_bytes(token)) else {
            return Auth::Refused(Refusal::Unknown);
        };
        let k = &entry.key;
        if k.revoked {
            return Auth::Refused(Refusal::Revoked);
        }
        if entry.valid_until_ms.is_some_and(|t| t <= now_ms) {
            return Auth::Refused(Refusal::Unknown);
        }
        if k.expires_at_ms.is_some_and(|t| t <= now_ms) {
            return Auth::Refused(Refusal::Expired);
        }
        if !k.enabled {
            return Auth::Refused(Refusal::Disabled);
        }
        k.rt.last_used_ms.store(now_ms, Ordering::Relaxed);
        Auth::Key(entry.key.clone())
    }

    /// Every key by id (one entry per key).
    pub(crate) fn keys(&self) -> Vec<Arc<Key>> {
        let map = self.map.load();
        let mut by_id: HashMap<&str, &Arc<Key>> = HashMap::new();
        for e in map.values() {
            by_id.insert(&e.key.id, &e.key);
        }
        by_id.into_values().cloned().collect()
    }

    /// One key by id.
    pub(crate) fn key(&self, id: &str) -> Option<Arc<Key>> {
        self.map
            .load()
            .values()
            .find(|e| &*e.key.id == id)
            .map(|e| e.key.clone())
    }

    /// Sets `rook_client_key_spend_usd` for every key with a budget (at scrape time).
    pub(crate) fn spend_gauges(&self) {
        let now = self.now_ms();
        for k in self.keys() {
            if let Some((_, period)) = k.budget {
                metrics::gauge!(names::CLIENT_KEY_SPEND_USD, "key" => k.id.to_string())
                    .set(k.spend(period, now));
            }
        }
    }
}

impl Key {
    /// Whether the key may use the logical `model`.
    pub(crate) fn allows(&self, model: &str) -> bool {
        model_allowed(&self.models, model)
    }

    /// Takes one request and `estimate` tokens from the key's RPM/TPM buckets; a refusal
    /// is 429 `rate_limit_exceeded` with the wait as `Retry-After`.
    /// A lease on its way is waited for (bounded; see `crate::leases`).
    pub(crate) async fn reserve(&self, estimate: u64) -> Result<Option<Ticket>, ApiError> {
        match reserve_pair_waiting(self.rt.leased.as_ref(), self.rt.limits.as_ref(), estimate).await
        {
            Ok(r) => Ok(r),
            Err(wait) => Err(ApiError::RateLimited {
                message: "Rate limit exceeded for this API key; retry after the indicated time."
                    .into(),
                retry_after: Some(wait.max(Duration::from_secs(1))),
                code: "rate_limit_exceeded",
            }),
        }
    }

    /// Settles a TPM reservation with the tokens used (`None`: unknown, the estimate
    /// stands).
    pub(crate) fn settle(&self, ticket: Ticket, tokens: Option<u64>) {
        settle_pair(
            self.rt.leased.as_ref(),
            self.rt.limits.as_ref(),
            ticket,
            tokens,
        );
    }

    /// Counts an admitted request.
    pub(crate) fn count_request(&self) {
        metrics::counter!(names::CLIENT_KEY_REQUESTS_TOTAL, "key" => self.id.to_string())
            .increment(1);
    }

    /// Whether this is the `[inbound_auth]` token.
    pub(crate) fn is_default(&self) -> bool {
        &*self.id == DEFAULT_KEY_ID
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
