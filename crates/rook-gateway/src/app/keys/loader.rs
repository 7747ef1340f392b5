//! Filling the [`KeyStore`] from the registry (and `[inbound_auth]`'s token), seeding
//! spend from usage events, and writing last-use times in batches. Changes made
//! elsewhere (another instance, `rook-cli`) reach the store through the registry's
//! config version (`control/cluster.rs`), like routing changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rook_config::entity::client_key::{BudgetPeriod, DEFAULT_KEY_ID};
use rook_registry::client_key::{parse_hash, ClientKeyRecord};
use rook_registry::{Backend, Registry, RegistryError};
use rook_resilience::RateLimits;

use crate::leases::LeasedPair;

use super::{lock, Entry, Key, KeyRuntime, KeyStore, Spend};

/// How often the maintenance task wakes up.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How often last-use times are written.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::from_secs(10);

/// How often spend is re-read from a shared (PostgreSQL) registry, so that the
/// per-instance count (what decides while budgets cannot be leased, see
/// `crate::budgets`) includes the other instances' spend.
const RESYNC_INTERVAL: Duration = Duration::from_secs(30);

/// The `[inbound_auth]` token as the `default` key.
#[derive(Debug, Clone)]
pub(crate) struct DefaultKey {
    pub(crate) hash: [u8; 32],
    pub(crate) principal: Arc<str>,
}

/// What the loader keeps between reloads.
#[derive(Debug, Default)]
pub(crate) struct LoaderState {
    /// Serialises reloads.
    reloading: tokio::sync::Mutex<()>,
}

fn new_runtime(
    rpm: Option<u32>,
    tpm: Option<u32>,
    spend: Spend,
    leased: Option<LeasedPair>,
) -> Arc<KeyRuntime> {
    Arc::new(KeyRuntime {
        spend: Mutex::new(spend),
        limits: RateLimits::new(rpm, tpm, std::time::Instant::now()),
        leased,
        limit_settings: (rpm, tpm),
        last_used_ms: AtomicI64::new(0),
        flushed_ms: AtomicI64::new(0),
    })
}

fn budget_of(r: &ClientKeyRecord) -> Option<(f64, BudgetPeriod)> {
    let period = BudgetPeriod::from_name(r.budget_period.as_deref()?)?;
    Some((r.budget_usd?, period))
}

impl KeyStore {
    /// Rebuilds the map from the registry's keys (and the default key), keeping each
    /// key's spend, buckets and last use; a key new to this process (or whose budget
    /// period changed) has its spend seeded from the registry.
    pub(crate) async fn reload(
        &self,
        registry: &Registry,
        default: Option<&DefaultKey>,
        state: &LoaderState,
    ) -> Result<usize, RegistryError> {
        let _one = state.reloading.lock().await;
        let records = registry.list_client_keys().await?;
        let old: HashMap<Arc<str>, Arc<Key>> =
            self.keys().into_iter().map(|k| (k.id.clone(), k)).collect();
        let now = self.now_ms();
        let mut map = HashMap::with_capacity(records.len() * 2 + 1);
        for r in &records {
            let Some(hash) = parse_hash(&r.secret_hash) else {
                tracing::error!(key = %r.id, "client key has a malformed hash in the registry; skipped");
                continue;
            };
            let budget = budget_of(r);
            let prev = old.get(r.id.as_str());
            let same_budget = prev.is_some_and(|p| p.budget.map(|b| b.1) == budget.map(|b| b.1));
            let spend = match (prev, budget) {
                (Some(p), _) if same_budget => *lock(&p.rt.spend),
                (_, Some((_, period))) => self.seed(registry, &r.id, period, now).await?,
                _ => Spend {
                    period_start_ms: i64::MIN,
                    usd: 0.0,
                },
            };
            let settings = (r.requests_per_minute, r.tokens_per_minute);
            let rt = match prev {
                Some(p) if p.rt.limit_settings == settings && same_budget => p.rt.clone(),
                Some(p) => {
                    let leased = self.leased(&r.id, settings.0, settings.1);
                    let rt = new_runtime(settings.0, settings.1, spend, leased);
                    rt.last_used_ms
                        .store(p.rt.last_used_ms.load(Ordering::Relaxed), Ordering::Relaxed);
                    rt.flushed_ms
                        .store(p.rt.flushed_ms.load(Ordering::Relaxed), Ordering::Relaxed);
                    rt
                }
                None => new_runtime(
                    settings.0,
                    settings.1,
                    spend,
                    self.leased(&r.id, settings.0, settings.1),
                ),
            };
            let id: Arc<str> = Arc::from(r.id.as_str());
            let key = Arc::new(Key {
                principal: Arc::from(format!("key:{}", r.id).as_str()),
                id,
                models: r.models.clone(),
                budget,
                expires_at_ms: r
                    .expires_at_ms
                    .map(|t| t.saturating_add(self.clock_offset_ms)),
                revoked: r.revoked_at_ms.is_some(),
                enabled: r.enabled,
                clock_offset_ms: self.clock_offset_ms,
                budgets: self.budgets(),
                rt,
            });
            map.insert(
                hash,
                Entry {
                    key: key.clone(),
                    valid_until_ms: None,
                },
            );
            if let (Some(prev_hash), Some(until)) = (
                r.previous_hash.as_deref().and_then(parse_hash),
                r.previous_valid_until_ms,
            ) {
                map.insert(
                    prev_hash,
                    Entry {
                        key,
                        valid_until_ms: Some(until.saturating_add(self.clock_offset_ms)),
                    },
                );
            }
        }
        if let Some(d) = default {
            let rt = old
                .get(DEFAULT_KEY_ID)
                .map(|k| k.rt.clone())
                .unwrap_or_else(|| {
                    new_runtime(
                        None,
                        None,
                        Spend {
                            period_start_ms: i64::MIN,
                            usd: 0.0,
                        },
                        None,
                    )
                });
            let key = Arc::new(Key {
                id: Arc::from(DEFAULT_KEY_ID),
                principal: d.principal.clone(),
                models: Vec::new(),
                budget: None,
                expires_at_ms: None,
                revoked: false,
                enabled: true,
                clock_offset_ms: self.clock_offset_ms,
                budgets: self.budgets(),
                rt,
            });
            map.insert(
                d.hash,
                Entry {
                    key,
                    valid_until_ms: None,
                },
            );
        }
        let required = default.is_some() || !records.is_empty();
        self.required.store(required, Ordering::Relaxed);
        self.map.store(Arc::new(map));
        Ok(records.len())
    }

    /// The spend of key `id` in the period holding `now` (store clock), from the registry.
    async fn seed(
        &self,
        registry: &Registry,
        id: &str,
        period: BudgetPeriod,
        now: i64,
    ) -> Result<Spend, RegistryError> {
        let start = period.window(now).start_ms;
        let since = start.saturating_sub(self.clock_offset_ms);
        let usage = registry.client_key_usage(id, since).await?;
        Ok(Spend {
            period_start_ms: start,
            usd: usage.spend_usd,
        })
    }

    /// Writes the last-use times that changed since the previous call (one batch).
    pub(crate) async fn flush_last_used(&self, registry: &Registry) {
        let mut batch = Vec::new();
        let mut marks = Vec::new();
        for k in self.keys() {
            if k.is_default() {
                continue;
            }
            let used = k.rt.last_used_ms.load(Ordering::Relaxed);
            if used > k.rt.flushed_ms.load(Ordering::Relaxed) {
                batch.push((k.id.to_string(), used.saturating_sub(self.clock_offset_ms)));
                marks.push((k.rt.clone(), used));
            }
        }
        if batch.is_empty() {
            return;
        }
        match registry.touch_client_keys(&batch).await {
            Ok(()) => {
                for (rt, used) in marks {
                    rt.flushed_ms.fetch_max(used, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not record client keys' last use"),
        }
    }

    /// Raises each budgeted key's spend to what the shared registry holds (other
    /// instances' requests), never lowering it.
    async fn resync_spend(&self, registry: &Registry) {
        let now = self.now_ms();
        for k in self.keys() {
            let Some((_, period)) = k.budget else {
                continue;
            };
            match self.seed(registry, &k.id, period, now).await {
                Ok(db) => {
                    let mut s = lock(&k.rt.spend);
                    if s.period_start_ms != db.period_start_ms {
                        *s = db;
                    } else if db.usd > s.usd {
                        s.usd = db.usd;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not re-read client key spend"),
            }
        }
    }
}

/// Writes last-use times and (PostgreSQL) re-reads spend, until the store is dropped.
pub(crate) fn spawn_maintenance(store: Weak<KeyStore>, registry: Registry) {
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_touch = tokio::time::Instant::now();
        let mut last_resync = tokio::time::Instant::now();
        let mut reachable = Reachability::default();
        loop {
            poll.tick().await;
            let Some(store) = store.upgrade() else { return };
            // Changes reach the store through the config version (control/cluster.rs);
            // this check only tells whether the registry answers, so that an outage
            // is logged once and the writes below wait for it to end.
            match registry.bounded(registry.ping()).await {
                Ok(()) => {
                    let _ = reachable.succeeded();
                }
                Err(e) => {
                    let _ = reachable.failed(&e);
                }
            }
            // While the registry is unreachable, keys are served from memory; last-use
            // times and spend wait (nothing is lost: they are written once it is back).
            if !reachable.ok {
                continue;
            }
            if last_touch.elapsed() >= TOUCH_INTERVAL {
                last_touch = tokio::time::Instant::now();
                store.flush_last_used(&registry).await;
            }
            if registry.backend() == Backend::Postgres && last_resync.elapsed() >= RESYNC_INTERVAL {
                last_resync = tokio::time::Instant::now();
                store.resync_spend(&registry).await;
            }
        }
    });
}

/// Whether the key store's last registry check worked; logs the change of state once
/// each way (an outage is one warning, not one per poll).
#[derive(Debug)]
pub(crate) struct Reachability {
    /// The last check worked.
    pub(crate) ok: bool,
}

impl Default for Reachability {
    fn default() -> Self {
        Reachability { ok: true }
    }
}

impl Reachability {
    /// A check worked. Returns true when this ends an outage.
    pub(crate) fn succeeded(&mut self) -> bool {
        let recovered = !self.ok;
        if recovered {
            tracing::info!("client keys: the registry is reachable again");
        }
        self.ok = true;
        recovered
    }

    /// A check failed. Returns true when this starts an outage.
    pub(crate) fn failed(&mut self, e: &rook_registry::RegistryError) -> bool {
        let started = self.ok;
        if started {
            tracing::warn!(error = %e, "client keys: the registry is unreachable; serving keys from memory (logged again when it is back)");
        } else {
            tracing::debug!(error = %e, "client keys: the registry is still unreachable");
        }
        self.ok = false;
        started
    }
}
