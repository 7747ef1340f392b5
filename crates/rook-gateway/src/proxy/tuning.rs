//! The proxy's tunable settings: `[upstream_resilience]` and the buffered-answer
//! limits of `[limits]`, built from the configuration at start and replaced by a
//! configuration reload ([`Proxy::retune`](super::Proxy::retune)).
//!
//! A request reads the [`Tuning`] in force when it needs a value, so a reload
//! applies to the next attempt, the next backoff and the next answer read. What
//! lives outside it is changed in place: the breaker's settings (every account
//! keeps its state: running cooldowns keep their end) and the concurrency
//! limiter's size and queue timeout (lowering it takes slots out as the
//! attempts holding them finish).

use std::sync::Arc;
use std::time::Duration;

use rook_config::Config;
use rook_resilience::{
    Backoff, BreakerConfig, BudgetConfig, Jitter, RetryBudget, RetryConfig, RetryPolicy,
};

use super::buffers::BufferBudget;
use super::{SettingsError, Timeouts};
use crate::accounting::metrics::MetricsObserver;

/// The settings a request reads at each step. See the module docs.
pub(crate) struct Tuning {
    /// Attempts, deadline, backoff and the retry budget.
    pub(crate) policy: RetryPolicy,
    /// Upstream timeouts and cooldown clamps.
    pub(crate) timeouts: Timeouts,
    /// Panic routing is on (`[upstream_resilience] panic_mode`).
    pub(crate) panic_mode: bool,
    /// The limits on buffered answers (per answer and across answers).
    pub(crate) buffers: BufferBudget,
    /// The retry budget's settings (a reload keeps the budget, and what it has
    /// counted, when they are unchanged).
    budget_config: BudgetConfig,
    /// The buffered-answer limits, `(per answer, total)` in bytes.
    buffer_limits: (u64, u64),
}

/// Everything `[upstream_resilience]` and `[limits]` set in the proxy.
pub(crate) struct Settings {
    pub(crate) tuning: Tuning,
    pub(crate) breaker: BreakerConfig,
    pub(crate) max_concurrent: usize,
    pub(crate) queue_timeout: Duration,
}

/// Whether the libraries accept `config`'s settings (a reload checks before it
/// changes anything).
pub(crate) fn check(config: &Config) -> Result<(), SettingsError> {
    settings(config, None, &Arc::new(MetricsObserver)).map(drop)
}

/// The proxy settings `config` asks for. `previous`: the tuning in force, whose
/// retry budget and buffer budget are kept when their settings are unchanged (a
/// new budget would forget what the old one counted or holds).
pub(crate) fn settings(
    config: &Config,
    previous: Option<&Tuning>,
    observer: &Arc<MetricsObserver>,
) -> Result<Settings, SettingsError> {
    let r = &config.upstream_resilience;
    let backoff = Backoff::new(
        Duration::from_millis(r.retry_backoff_milliseconds),
        Duration::from_millis(r.retry_backoff_max_milliseconds),
        Jitter::Full,
    )
    .map_err(SettingsError::of)?;
    let budget_config = BudgetConfig {
        ratio: r.retry_budget_ratio,
        min_per_second: f64::from(r.retry_budget_min_per_second),
        ..BudgetConfig::default()
    };
    let budget = match previous.and_then(|p| {
        (p.budget_config == budget_config)
            .then(|| p.policy.budget().cloned())
            .flatten()
    }) {
        Some(kept) => kept,
        None => Arc::new(
            RetryBudget::new(budget_config)
                .map_err(SettingsError::of)?
                .with_observer(observer.clone()),
        ),
    };
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: r.max_buffered_attempts,
        deadline: Some(Duration::from_secs(r.request_deadline_seconds)),
        backoff,
    })
    .map_err(SettingsError::of)?
    .with_budget(budget)
    .with_observer(observer.clone());
    let breaker = BreakerConfig {
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
    };
    breaker.validate().map_err(SettingsError::of)?;
    let buffer_limits = (
        config.limits.max_upstream_response_bytes,
        config.limits.buffered_response_budget_bytes,
    );
    let buffers = match previous {
        Some(p) if p.buffer_limits == buffer_limits => p.buffers.clone(),
        _ => BufferBudget::new(buffer_limits.0, buffer_limits.1),
    };
    let max_concurrent = r.max_concurrent_upstream_requests as usize;
    if max_concurrent == 0 {
        return Err(SettingsError(
            "max_concurrent_upstream_requests must be at least 1".into(),
        ));
    }
    Ok(Settings {
        tuning: Tuning {
            policy,
            timeouts: Timeouts {
                first_byte: Duration::from_millis(config.upstream.first_byte_timeout_ms),
                stream_idle: Duration::from_millis(config.upstream.stream_idle_timeout_ms),
                auth_cooldown: Duration::from_secs(r.auth_failure_cooldown_seconds),
                retry_after_max: Duration::from_secs(r.retry_after_max_seconds),
            },
            panic_mode: r.panic_mode,
            buffers,
            budget_config,
            buffer_limits,
        },
        breaker,
        max_concurrent,
        queue_timeout: Duration::from_millis(r.permit_queue_timeout_milliseconds),
    })
}
