//! Retention: expired idempotency records and usage events older than
//! `[usage] retention_days` are deleted every ten minutes while the gateway runs.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::now_ms;

/// Prunes expired records in the background while `app` is alive.
pub(crate) fn spawn_pruner(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
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
