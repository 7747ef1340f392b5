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
pub(crate) mod pick;
pub(crate) mod plan;
pub(crate) mod relay;
pub(crate) mod respond;
pub(crate) mod scrub;
pub(crate) mod send;
pub(crate) mod snapshot;
pub(crate) mod translate;
pub(crate) mod tuning;
pub mod upstream;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rook_config::Config;
use rook_resilience::Limiter;

use crate::accounting::metrics::MetricsObserver;
use crate::lifecycle::Lifecycle;
use exhaustion::Exhaustion;
use health::Health;
use panic::PanicRoutes;
use snapshot::{SharedRegistry, Snapshot, View};
use tuning::Tuning;
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
pub(crate) struct SettingsError(pub(crate) String);

impl SettingsError {
    /// The refusal `e` of a library.
    pub(crate) fn of(e: impl std::fmt::Display) -> SettingsError {
        SettingsError(e.to_string())
    }
}

/// The proxy's state. See the module docs.
pub(crate) struct Proxy {
    pub(crate) snapshot: ArcSwap<Snapshot>,
    pub(crate) shared: SharedRegistry,
    pub(crate) health: Arc<Health>,
    /// Retry policy, timeouts, panic mode and buffer limits (replaced by a reload).
    pub(crate) tuning: ArcSwap<Tuning>,
    pub(crate) limiter: Limiter,
    pub(crate) client: UpstreamClient,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) exhaustion: Exhaustion,
    /// Routes panic-routed recently.
    pub(crate) panics: PanicRoutes,
    observer: Arc<MetricsObserver>,
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
        let observer = Arc::new(MetricsObserver);
        let settings = tuning::settings(config, None, &observer)?;
        let health = Health::new(settings.breaker, observer.clone()).map_err(SettingsError::of)?;
        let limiter = Limiter::new(settings.max_concurrent, Some(settings.queue_timeout))
            .map_err(SettingsError::of)?
            .with_observer(observer.clone());
        let egress = config.upstream.egress_policy().map_err(SettingsError::of)?;
        let client = build_client_with_egress(
            &ClientSettings {
                connect_timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
                pool_idle_timeout: Duration::from_secs(config.upstream.pool_idle_timeout_seconds),
                pool_max_idle_per_host: config.upstream.pool_max_idle_per_host as usize,
            },
            Some(Arc::new(egress)),
        );
        health.sync_accounts(snapshot.accounts.iter().map(|a| &a.id));
        Ok(Proxy {
            snapshot: ArcSwap::from_pointee(snapshot),
            shared,
            health: Arc::new(health),
            tuning: ArcSwap::from_pointee(settings.tuning),
            limiter,
            client,
            lifecycle,
            exhaustion: Exhaustion::default(),
            panics: PanicRoutes::default(),
            observer,
        })
    }

    /// Applies `config`'s `[upstream_resilience]` and buffered-answer limits
    /// (a configuration reload; see [`tuning`]). All or nothing: invalid
    /// settings change nothing.
    pub(crate) fn retune(&self, config: &Config) -> Result<(), SettingsError> {
        let previous = self.tuning.load();
        let settings = tuning::settings(config, Some(&previous), &self.observer)?;
        self.health
            .set_config(settings.breaker)
            .map_err(SettingsError::of)?;
        self.limiter
            .set_max(settings.max_concurrent)
            .map_err(SettingsError::of)?;
        self.limiter.set_queue_timeout(Some(settings.queue_timeout));
        self.tuning.store(Arc::new(settings.tuning));
        Ok(())
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
