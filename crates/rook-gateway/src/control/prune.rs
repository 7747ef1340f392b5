//! Retention: expired idempotency records and usage events older than
//! `[usage] retention_days` are deleted every ten minutes while the gateway runs,
//! the first time a minute after start (start-up is busy enough: migrations, the
//! journal replay, the first requests).

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::now_ms;

/// How long after start the first prune runs.
const FIRST_PRUNE: Duration = Duration::from_secs(60);

/// How often the prune runs.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Prunes expired records in the background while `app` is alive.
pub(crate) fn spawn_pruner(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        let first = tokio::time::Instant::now() + FIRST_PRUNE;
        let mut tick = tokio::time::interval_at(first, PRUNE_EVERY);
        loop {
            tick.tick().await;
            let Some(app) = weak.upgrade() else { return };
            match app.registry.prune_idempotency(now_ms()).await {
                Ok(n) if n > 0 => tracing::debug!(pruned = n, "expired idempotency records pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "idempotency pruning failed"),
            }
            let days = i64::from(app.config.usage.retention_days);
            let cutoff = now_ms().saturating_sub(days.saturating_mul(86_400_000));
            match app.registry.prune_usage_before(cutoff).await {
                Ok(n) if n > 0 => {
                    tracing::info!(pruned = n, retention_days = days, "old usage events pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "usage pruning failed"),
            }
        }
    });
}
