//! The proxy: everything between a routed request and the upstream's answer.
//!
//! [`Proxy`] owns the routing snapshot (swapped atomically on changes), the
//! per-account counters and health, the retry policy and budget, the upstream
//! concurrency limiter, the timeouts and the upstream client. The attempt loop
//! ([`attempt::attempt_loop`]) takes a routed request through them; the relay
//! ([`relay`]) streams the answer back.

pub(crate) mod attempt;
pub(crate) mod buffers;
pub(crate) mod egress;
pub(crate) mod exhaustion;
pub(crate) mod gauges;
pub(crate) mod headers;
pub(crate) mod health;
pub(crate) mod health_share;
pub(crate) mod limits;
pub(crate) mod outcome;
pub(crate) mod panic;
pub(crate) mod panic_share;
pub(crate) mod plan;
pub(crate) mod relay;
pub(crate) mod respond;
pub(crate) mod scrub;
pub(crate) mod send;
pub(crate) mod snapshot;
pub(crate) mod translate;
pub mod upstream;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rook_config::Config;
use rook_resilience::{
    Backoff, BreakerConfig, BudgetConfig, Jitter, Limiter, RetryBudget, RetryConfig, RetryPolicy,
};

use crate::accounting::metrics::MetricsObserver;
use crate::lifecycle::Lifecycle;
use exhaustion::Exhaustion;
use health::Health;
use panic::PanicRoutes;
use snapshot::{SharedRegistry, Snapshot, View};
use upstream::{build_client_with_egress, ClientSettings, UpstreamClient};

/// Upstream timeouts in force.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Time to the upstream response head (and, for streams, the first chunk).
    pub(crate) first_byte: Duration,
    /// Longest pause between chunks.
    pub(crate) stream_idle: Duration,
    /// Longest cooldown for bad credentials or exhausted quota.
    pub(crate) auth_cooldown: Duration,
    /// Clamp for upstream retry hints.
    pub(crate) retry_after_max: Duration,
}

/// A resilience setting the libraries refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SettingsError(String);

/// The proxy's state. See the module docs.
pub(crate) struct Proxy {
    pub(crate) snapshot: ArcSwap<Snapshot>,
    pub(crate) shared: SharedRegistry,
    pub(crate) health: Arc<Health>,
    pub(crate) policy: RetryPolicy,
    pub(crate) limiter: Limiter,
    pub(crate) timeouts: Timeouts,
    pub(crate) client: UpstreamClient,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) exhaustion: Exhaustion,
    /// Panic routing is on (`[upstream_resilience] panic_mode`).
    pub(crate) panic_mode: bool,
    /// Routes panic-routed recently.
    pub(crate) panics: PanicRoutes,
    /// The limits on buffered answers (per answer and across answers).
    pub(crate) buffers: buffers::BufferBudget,
}

impl Proxy {
    /// A proxy with the configuration's resilience settings, serving `snapshot`
    /// (built with `shared`, whose per-account counters later snapshots reuse).
    pub(crate) fn new(
        config: &Config,
        lifecycle: Lifecycle,
        shared: SharedRegistry,
        snapshot: Snapshot,
    ) -> Result<Proxy, SettingsError> {
        let r = &config.upstream_resilience;
        let err = |e: &dyn std::fmt::Display| SettingsError(e.to_string());
        let observer = Arc::new(MetricsObserver);
        let backoff = Backoff::new(
            Duration::from_millis(r.retry_backoff_milliseconds),
            Duration::from_millis(r.retry_backoff_max_milliseconds),
            Jitter::Full,
        )
        .map_err(|e| err(&e))?;
        let budget = Arc::new(
            RetryBudget::new(BudgetConfig {
                ratio: r.retry_budget_ratio,
                min_per_second: f64::from(r.retry_budget_min_per_second),
                ..BudgetConfig::default()
            })
            .map_err(|e| err(&e))?
            .with_observer(observer.clone()),
        );
        let policy = RetryPolicy::new(RetryConfig {
            max_attempts: r.max_buffered_attempts,
            deadline: Some(Duration::from_secs(r.request_deadline_seconds)),
            backoff,
        })
        .map_err(|e| err(&e))?
        .with_budget(budget)
        .with_observer(observer.clone());
        let health = Health::new(
            BreakerConfig {
                failure_threshold: r.failure_threshold,
                cooldown_base: Duration::from_secs(r.failure_cooldown_seconds),
                cooldown_max: Duration::from_secs(
                    r.failure_cooldown_max_seconds
                        .max(r.retry_after_max_seconds),
                ),
                max_open_share: r.max_cooled_share,
                failure_rate_threshold: r.failure_rate_threshold,
                failure_rate_min_requests: r.failure_rate_min_requests,
                failure_rate_window: Duration::from_secs(r.failure_rate_window_seconds),
                ..BreakerConfig::default()
            },
            observer.clone(),
        )
        .map_err(|e| err(&e))?;
        let limiter = Limiter::new(
            r.max_concurrent_upstream_requests as usize,
            Some(Duration::from_millis(r.permit_queue_timeout_milliseconds)),
        )
        .map_err(|e| err(&e))?
        .with_observer(observer);
        let egress = config.upstream.egress_policy().map_err(|e| err(&e))?;
        let client = build_client_with_egress(
            &ClientSettings {
                connect_timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
                pool_idle_timeout: Duration::from_secs(config.upstream.pool_idle_timeout_seconds),
                pool_max_idle_per_host: config.upstream.pool_max_idle_per_host as usize,
            },
            Some(Arc::new(egress)),
        );
        let timeouts = Timeouts {
            first_byte: Duration::from_millis(config.upstream.first_byte_timeout_ms),
            stream_idle: Duration::from_millis(config.upstream.stream_idle_timeout_ms),
            auth_cooldown: Duration::from_secs(r.auth_failure_cooldown_seconds),
            retry_after_max: Duration::from_secs(r.retry_after_max_seconds),
        };
        health.sync_accounts(snapshot.accounts.iter().map(|a| &a.id));
        Ok(Proxy {
            snapshot: ArcSwap::from_pointee(snapshot),
            shared,
            health: Arc::new(health),
            policy,
            limiter,
            timeouts,
            client,
            lifecycle,
            exhaustion: Exhaustion::default(),
            panic_mode: r.panic_mode,
            panics: PanicRoutes::default(),
            buffers: buffers::BufferBudget::new(
                config.limits.max_upstream_response_bytes,
                config.limits.buffered_response_budget_bytes,
            ),
        })
    }

    /// Serves `snapshot` from now on; health tracks exactly its accounts.
    pub(crate) fn install(&self, snapshot: Snapshot) {
        self.health
            .sync_accounts(snapshot.accounts.iter().map(|a| &a.id));
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Routing's view of availability over `snapshot`.
    pub(crate) fn view<'a>(&'a self, snapshot: &'a Snapshot) -> View<'a> {
        View {
            snapshot,
            health: &self.health,
        }
    }

    /// Logical models whose routes have no account available now.
    pub(crate) fn routes_without_available_account(&self) -> Vec<String> {
        let snap = self.snapshot.load();
        let view = self.view(&snap);
        snap.table
            .models()
            .iter()
            .filter(|m| {
                snap.table
                    .resolve(m, &view)
                    .map_or(true, |r| r.candidates.is_empty())
            })
            .cloned()
            .collect()
    }
}
