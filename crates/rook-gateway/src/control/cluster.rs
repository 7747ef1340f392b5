//! Change propagation between instances and this instance's heartbeat.
//!
//! Every registry write of accounts, pools, routes and client keys bumps the
//! registry's config version in the writer's transaction (a trigger; see
//! `rook_registry::cluster`). This instance serves the routing snapshot and key store
//! built from one version ([`Cluster::serving`]) and catches up:
//!
//! - PostgreSQL: a dedicated connection `LISTEN`s on `rook_changes`; a notice newer
//!   than what is served triggers a reload (client keys only, when only they changed),
//!   well within a second. While listening, the version is still checked every
//!   [`SAFETY_CHECK`] (a silently dead connection cannot hide changes for longer).
//!   When the connection drops, the instance polls the version every [`FALLBACK_POLL`],
//!   tries to listen again at the same pace, and reloads everything once it listens
//!   again (notices sent meanwhile are lost).
//! - SQLite (one instance, but `rook-cli` may write the file): the version is polled
//!   every [`SQLITE_POLL`] (one single-row read).
//!
//! The same listener carries the `health` notices of shared account health; they go
//! to [`super::health_sync`], and every reconnect, safety check and fallback poll also
//! merges every shared health row (a notice lost while disconnected cannot hide a
//! cooldown for longer than the poll).
//!
//! The heartbeat writes this instance's row every [`HEARTBEAT`]: id, version, bind
//! address, start, last seen, the config version served, listening or polling. Rows
//! not seen for [`PRUNE_AFTER`] are deleted; a clean shutdown deletes its own.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rook_observability::names;
use rook_registry::cluster::{ChangeNotice, InstanceRecord, Notice};
use rook_registry::health::HealthNotice;
use rook_registry::{Backend, ChangeListener, Registry, RegistryError};
use tokio::sync::mpsc;

use crate::app::App;
use crate::now_ms;

/// Heartbeat interval.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);
/// Rows of instances not seen for this long are deleted.
pub(crate) const PRUNE_AFTER: Duration = Duration::from_secs(600);
/// SQLite: how often the config version is read.
pub(crate) const SQLITE_POLL: Duration = Duration::from_secs(1);
/// PostgreSQL without a listener: how often the version is read (and LISTEN retried).
pub(crate) const FALLBACK_POLL: Duration = Duration::from_secs(2);
/// PostgreSQL while listening: how often the version is read anyway.
pub(crate) const SAFETY_CHECK: Duration = Duration::from_secs(10);

/// This instance's identity and sync state.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// Random per process.
    pub(crate) instance_id: String,
    pub(crate) started_at_ms: i64,
    serving: AtomicI64,
    listening: AtomicBool,
    reconnects: AtomicU64,
    reloads: AtomicU64,
}

/// What `/api/status` shows about this instance's sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncView {
    pub(crate) serving: i64,
    pub(crate) listening: bool,
    pub(crate) reconnects: u64,
    pub(crate) reloads: u64,
}

impl Cluster {
    pub(crate) fn new() -> Cluster {
        Cluster {
            instance_id: format!("{:012x}", fastrand::u64(..) >> 16),
            started_at_ms: now_ms(),
            serving: AtomicI64::new(0),
            listening: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        }
    }

    /// The config version the routing and keys were built from.
    pub(crate) fn serving(&self) -> i64 {
        self.serving.load(Ordering::Relaxed)
    }

    /// Records that the state now reflects `version` (never goes back).
    pub(crate) fn served(&self, version: i64) {
        let before = self.serving.fetch_max(version, Ordering::Relaxed);
        metrics::gauge!(names::CONFIG_VERSION_SERVED).set(before.max(version) as f64);
    }

    pub(crate) fn view(&self) -> SyncView {
        SyncView {
            serving: self.serving(),
            listening: self.listening.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
        }
    }

    /// `listening` or `polling`.
    pub(crate) fn mode(&self) -> &'static str {
        if self.listening.load(Ordering::Relaxed) {
            "listening"
        } else {
            "polling"
        }
    }

    /// The listener's `application_name` (find it in `pg_stat_activity`).
    pub(crate) fn listener_name(&self) -> String {
        format!("rook-listener {}", self.instance_id)
    }
}

/// What to do with a batch of notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Catchup {
    /// Nothing newer than what is served.
    Nothing,
    /// Only client keys changed: reload the key store, then serve this version.
    Keys(i64),
    /// Reload routing and keys.
    Everything,
}

/// Decides from the notices received (in commit order) and the version served.
pub(crate) fn plan(serving: i64, notices: &[ChangeNotice]) -> Catchup {
    let newer: Vec<&ChangeNotice> = notices.iter().filter(|n| n.version > serving).collect();
    match newer.iter().map(|n| n.version).max() {
        None => Catchup::Nothing,
        Some(max) if newer.iter().all(|n| n.keys_only()) => Catchup::Keys(max),
        Some(_) => Catchup::Everything,
    }
}

/// Starts the change watcher and the heartbeat.
pub(crate) fn spawn(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    tokio::spawn(watch(weak.clone(), app.registry.clone()));
    tokio::spawn(heartbeat(weak));
}

/// Reloads everything; the version served is the one read before loading.
async fn reload_all(app: &App, why: &str) {
    match app.reload().await {
        Ok(()) => {
            app.cluster.reloads.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                config_version = app.cluster.serving(),
                why,
                "registry changes loaded"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, why, "could not load registry changes; serving the previous state")
        }
    }
}

/// Reads the version; reloads when it is newer than what is served.
async fn poll_once(weak: &Weak<App>, registry: &Registry, why: &str) -> Option<()> {
    match registry.config_version().await {
        Ok(v) => {
            let app = weak.upgrade()?;
            if v.version > app.cluster.serving() {
                reload_all(&app, why).await;
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not read the config version"),
    }
    Some(())
}

async fn watch(weak: Weak<App>, registry: Registry) {
    if registry.backend() == Backend::Sqlite {
        loop {
            tokio::time::sleep(SQLITE_POLL).await;
            if poll_once(&weak, &registry, "poll").await.is_none() {
                return;
            }
        }
    }
    let mut had_listener = true;
    loop {
        let name = match weak.upgrade() {
            Some(app) => app.cluster.listener_name(),
            None => return,
        };
        match registry.listen_changes(&name).await {
            Ok(Some(listener)) => {
                let Some(app) = weak.upgrade() else { return };
                app.cluster.listening.store(true, Ordering::Relaxed);
                if !had_listener {
                    tracing::info!("change listener is back; reloading everything");
                }
                // Whatever changed before LISTEN took effect.
                reload_all(&app, "listener (re)connected").await;
                super::health_sync::resync(&app.registry, &app.proxy.health).await;
                drop(app);
                listen(&weak, &registry, listener).await;
                let Some(app) = weak.upgrade() else { return };
                app.cluster.listening.store(false, Ordering::Relaxed);
                app.cluster.reconnects.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(names::CLUSTER_LISTENER_RECONNECTS_TOTAL).increment(1);
                tracing::warn!("change listener connection lost; polling until it is back");
                had_listener = false;
                continue;
            }
            Ok(None) => return,
            Err(e) => {
                if had_listener {
                    tracing::warn!(error = %e, "cannot listen for registry changes; polling every {}s", FALLBACK_POLL.as_secs());
                }
                had_listener = false;
            }
        }
        tokio::time::sleep(FALLBACK_POLL).await;
        if poll_once(&weak, &registry, "fallback poll").await.is_none() {
            return;
        }
        // No health notices either: merge the shared health rows at the same pace.
        let Some(app) = weak.upgrade() else { return };
        super::health_sync::resync(&registry, &app.proxy.health).await;
    }
}

/// Serves notices until the connection is lost (or the app is gone).
async fn listen(weak: &Weak<App>, registry: &Registry, mut listener: ChangeListener) {
    let (tx, mut rx) = mpsc::channel::<Result<Option<Notice>, RegistryError>>(256);
    // The reader owns the listener, so nothing cancels a receive half-way.
    let reader = tokio::spawn(async move {
        loop {
            let r = listener.next().await;
            let lost = !matches!(r, Ok(Some(_)));
            if tx.send(r).await.is_err() || lost {
                break;
            }
        }
        listener.close().await;
    });
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            () = tokio::time::sleep(SAFETY_CHECK) => {
                if poll_once(weak, registry, "safety check").await.is_none() {
                    break;
                }
                let Some(app) = weak.upgrade() else { break };
                super::health_sync::resync(registry, &app.proxy.health).await;
                continue;
            }
        };
        let mut notices: Vec<ChangeNotice> = Vec::new();
        let mut health: Vec<HealthNotice> = Vec::new();
        let mut lost = false;
        let mut next = first;
        loop {
            match next {
                Some(Ok(Some(Notice::Config(n)))) => notices.push(n),
                Some(Ok(Some(Notice::Health(n)))) => health.push(n),
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) => lost = true,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "change listener failed");
                    lost = true;
                }
                None => lost = true,
            }
            if lost {
                break;
            }
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(_) => break,
            }
        }
        let Some(app) = weak.upgrade() else { break };
        if !health.is_empty() {
            super::health_sync::received(registry, &app.proxy.health, &health).await;
        }
        match plan(app.cluster.serving(), &notices) {
            Catchup::Nothing => {}
            Catchup::Keys(v) => match app.reload_keys().await {
                Ok(()) => {
                    app.cluster.served(v);
                    app.cluster.reloads.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(config_version = v, "client key changes loaded");
                }
                Err(e) => tracing::warn!(error = %e, "could not reload client keys"),
            },
            Catchup::Everything => reload_all(&app, "notice").await,
        }
        if lost {
            break;
        }
    }
    reader.abort();
}

fn record(app: &App) -> InstanceRecord {
    InstanceRecord {
        instance_id: app.cluster.instance_id.clone(),
        rook_version: env!("CARGO_PKG_VERSION").to_string(),
        host: std::env::var("HOSTNAME").unwrap_or_default(),
        bind_address: app.config.listen_address(),
        started_at_ms: app.cluster.started_at_ms,
        last_seen_ms: now_ms(),
        heartbeat_ms: i64::try_from(HEARTBEAT.as_millis()).unwrap_or(i64::MAX),
        config_version: app.cluster.serving(),
        sync_mode: app.cluster.mode().to_string(),
    }
}

/// Writes the heartbeat row now (also at start, so the row exists at once).
pub(crate) async fn beat(app: &App) {
    if let Err(e) = app.registry.heartbeat(&record(app)).await {
        tracing::debug!(error = %e, "could not write the instance heartbeat");
    }
}

async fn heartbeat(weak: Weak<App>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        let Some(app) = weak.upgrade() else { return };
        if app.is_draining() {
            continue;
        }
        beat(&app).await;
        n = n.wrapping_add(1);
        if n % 12 == 1 {
            let before =
                now_ms().saturating_sub(i64::try_from(PRUNE_AFTER.as_millis()).unwrap_or(0));
            match app.registry.prune_instances(before).await {
                Ok(k) if k > 0 => {
                    tracing::info!(pruned = k, "rows of instances gone for 10 minutes pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "could not prune instance rows"),
            }
        }
    }
}

/// A clean shutdown: this instance's row goes.
pub(crate) async fn leave(app: &App) {
    if let Err(e) = app.registry.remove_instance(&app.cluster.instance_id).await {
        tracing::debug!(error = %e, "could not remove the instance row");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(version: i64, table: &str) -> ChangeNotice {
        ChangeNotice {
            version,
            table: table.into(),
        }
    }

    #[test]
    fn plans() {
        let table: &[(i64, Vec<ChangeNotice>, Catchup)] = &[
            (5, vec![], Catchup::Nothing),
            (5, vec![n(4, "routes"), n(5, "accounts")], Catchup::Nothing),
            (5, vec![n(6, "client_keys")], Catchup::Keys(6)),
            (
                5,
                vec![n(6, "client_keys"), n(7, "client_keys")],
                Catchup::Keys(7),
            ),
            (
                5,
                vec![n(6, "client_keys"), n(7, "routes")],
                Catchup::Everything,
            ),
            (
                5,
                vec![n(5, "routes"), n(6, "client_keys")],
                Catchup::Keys(6),
            ),
            (5, vec![n(6, "pool_members")], Catchup::Everything),
        ];
        for (serving, notices, want) in table {
            assert_eq!(plan(*serving, notices), *want, "{notices:?}");
        }
    }

    #[test]
    fn served_never_goes_back_and_ids_differ() {
        let c = Cluster::new();
        c.served(7);
        c.served(3);
        assert_eq!(c.serving(), 7);
        assert_eq!(c.mode(), "polling");
        assert_ne!(Cluster::new().instance_id, c.instance_id);
        assert_eq!(c.instance_id.len(), 12);
    }
}
