//! The app: accepts requests, identifies them, authenticates them, reads their
//! bodies, and dispatches them by surface (`/v1/*` to the proxy through the
//! surfaces, `/api/*` to control, `/` and `/ui` to the dashboard); it also owns the
//! lifecycle (drain, finish).
//!
//! The [`App`] holds the three parts — [`Proxy`], [`Accounting`] and the control
//! glue — and only the app and control see it whole.

pub(crate) mod client_addr;
mod dispatch;
pub(crate) mod guard;
mod idempotency;
pub(crate) mod keys;
pub(crate) mod rate_limits;
pub(crate) mod server;
mod surface;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rook_config::{Config, Secret};
use rook_registry::Registry;

use crate::accounting::Accounting;
use crate::control::catalog::{self, CatalogError};
use crate::control::{persist, prune};
use crate::leases::SharedLimits;
use crate::lifecycle::{Lifecycle, Phase};
use crate::proxy::snapshot::SharedRegistry;
use crate::proxy::Proxy;

use dispatch::principal_hash;

/// Everything a request needs, shared by all connections.
pub(crate) struct App {
    pub(crate) config: Arc<Config>,
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) accounting: Arc<Accounting>,
    pub(crate) registry: Registry,
    pub(crate) inbound_token: Option<Secret>,
    pub(crate) metrics: Option<rook_observability::PrometheusHandle>,
    pub(crate) started: Instant,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) admin: std::sync::OnceLock<rook_admin::Admin>,
    /// Hashed identity of the inbound credential (`anonymous` without auth).
    pub(crate) principal: Arc<str>,
    /// `[rate_limits]` (replaced by a configuration reload).
    pub(crate) rate_limits: arc_swap::ArcSwap<rate_limits::RequestLimits>,
    /// The limits leased across instances (on PostgreSQL).
    pub(crate) shared_limits: Arc<SharedLimits>,
    /// `[limits]` on inbound requests (replaced by a configuration reload; the
    /// request-head limits apply to connections accepted after it).
    pub(crate) limits: arc_swap::ArcSwap<rook_config::Limits>,
    /// The Host check's allowed hosts.
    pub(crate) hosts: guard::HostPolicy,
    /// `[transport] trusted_proxies`.
    pub(crate) proxies: client_addr::TrustedProxies,
    /// Client keys (issue 13): the request path's view of who may call.
    pub(crate) keys: Arc<keys::KeyStore>,
    pub(crate) keys_loader: Arc<keys::loader::LoaderState>,
    pub(crate) default_key: Option<keys::loader::DefaultKey>,
    /// This instance among others on one database: id, config version served.
    pub(crate) cluster: crate::control::cluster::Cluster,
    /// The web dashboard (`/ui`): its sessions and pages.
    pub(crate) ui: crate::ui::Ui,
    /// What a configuration reload re-reads, and the live configuration it applied.
    pub(crate) reloader: crate::control::reload::Reloader,
    /// The trace exporter (`[telemetry]`); `None` when telemetry is off.
    pub(crate) telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    id_seq: AtomicU64,
    id_prefix: u64,
}

/// Why the app could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A secret could not be read.
    #[error("{what}: {source}")]
    Secret {
        /// Whose secret.
        what: String,
        /// Why.
        source: rook_config::SecretError,
    },
    /// The catalog (declared entries, registry, routing) could not be loaded.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A resilience setting is invalid.
    #[error("resilience settings: {0}")]
    Resilience(String),
    /// Client keys could not be loaded or synced.
    #[error("client keys: {0}")]
    Keys(String),
    /// The `[secrets]` master key cannot be read or is malformed.
    #[error("{0}")]
    MasterKey(rook_config::MasterKeyError),
    /// The sealer could not be built from the master key.
    #[error("master key: {0}")]
    Sealer(String),
    /// The trace exporter could not be set up from `[telemetry]`.
    #[error("{0}")]
    Telemetry(String),
}

impl From<rook_registry::RegistryError> for AppError {
    fn from(e: rook_registry::RegistryError) -> Self {
        AppError::Catalog(CatalogError::Registry(e))
    }
}

impl AppError {
    /// Whether the configuration is at fault (exit code 2) rather than the
    /// environment.
    pub(crate) fn is_config_problem(&self) -> bool {
        matches!(
            self,
            AppError::Secret { .. }
                | AppError::Catalog(CatalogError::Secret { .. })
                | AppError::Catalog(CatalogError::Snapshot(_))
                | AppError::MasterKey(_)
                | AppError::Telemetry(_)
        )
    }
}

impl App {
    /// Builds the app: resolves secrets, syncs the declared accounts into the
    /// registry, restores account health, and builds the routing snapshot.
    pub(crate) async fn build(
        config: Config,
        registry: Registry,
        metrics: Option<rook_observability::PrometheusHandle>,
        admin_token: Secret,
        reload_from: Option<rook_config::LoadOptions>,
    ) -> Result<Arc<App>, AppError> {
        let inbound_token = config
            .inbound_auth
            .resolve_token()
            .map_err(|e| AppError::Secret {
                what: "inbound_auth".into(),
                source: e,
            })?;
        let registry = crate::control::keys::prepare(&config, registry).await?;

        catalog::sync_declared(&config, &registry).await?;
        let cluster = crate::control::cluster::Cluster::new();
        let telemetry = crate::telemetry::Telemetry::start(&config, &cluster.instance_id)?;
        // Read before loading: a write in between is caught up on by the watcher.
        cluster.served(registry.config_version().await?.version);
        let shared_limits = SharedLimits::start(&registry);
        let shared = SharedRegistry::with_limits(shared_limits.clone());
        let snapshot = catalog::load_snapshot(&registry, &shared, &config).await?;
        let lifecycle = Lifecycle::default();
        let proxy = Arc::new(
            Proxy::new(&config, lifecycle.clone(), shared, snapshot)
                .map_err(|e| AppError::Resilience(e.to_string()))?,
        );
        persist::restore_health(
            &registry,
            &proxy.health,
            &proxy.snapshot.load(),
            &cluster.instance_id,
        )
        .await;

        let principal: Arc<str> = match &inbound_token {
            Some(t) => Arc::from(principal_hash(t.expose()).as_str()),
            None => Arc::from("anonymous"),
        };
        let (key_store, keys_loader, default_key) = keys::boot::start(
            &config,
            &registry,
            inbound_token.as_ref(),
            &principal,
            &shared_limits,
            &crate::budgets::SharedBudgets::start(&registry),
        )
        .await?;
        // What a killed predecessor journaled reaches the database before new traffic.
        let journal = crate::accounting::journal::start(&config, &registry).await;
        let accounting = Arc::new(Accounting::start(
            registry.clone(),
            &config.usage,
            config.pricing.clone(),
            journal,
        ));
        let app = Arc::new(App {
            rate_limits: arc_swap::ArcSwap::from_pointee(rate_limits::RequestLimits::new(
                &config.rate_limits,
                &shared_limits,
            )),
            shared_limits: shared_limits.clone(),
            limits: arc_swap::ArcSwap::from_pointee(config.limits.clone()),
            hosts: guard::HostPolicy::new(&config),
            ui: crate::ui::Ui::new(&config),
            reloader: crate::control::reload::Reloader::new(reload_from, &config),
            proxies: client_addr::TrustedProxies::new(&config.transport.trusted_proxies),
            config: Arc::new(config),
            proxy,
            accounting,
            registry,
            inbound_token,
            metrics,
            started: Instant::now(),
            lifecycle,
            admin: std::sync::OnceLock::new(),
            principal,
            keys: key_store,
            keys_loader,
            default_key,
            cluster,
            telemetry,
            id_seq: AtomicU64::new(0),
            id_prefix: fastrand::u64(..),
        });
        let runtime = Arc::new(crate::control::admin::RuntimeView(Arc::downgrade(&app)));
        let _ = app.admin.set(
            rook_admin::Admin::new(
                app.config.clone(),
                app.registry.clone(),
                runtime,
                Some(admin_token),
                env!("CARGO_PKG_VERSION"),
            )
            .with_sessions(app.ui.sessions.clone()),
        );
        keys::loader::spawn_maintenance(Arc::downgrade(&app.keys), app.registry.clone());
        persist::spawn_health_persister(app.registry.clone(), &app.proxy.health);
        crate::control::identity::spawn_watch(app.registry.clone());
        prune::spawn_pruner(&app);
        crate::control::cluster::beat(&app).await;
        crate::control::cluster::spawn(&app);
        crate::control::reload::spawn_sighup(Arc::downgrade(&app));
        Ok(app)
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.config.shutdown_grace_seconds)
    }

    /// Stops taking new work: readiness turns 503, streams keep going.
    pub(crate) fn begin_shutdown(&self) {
        self.lifecycle.set(Phase::Draining);
    }

    /// Tells every relayed stream to end with an error event.
    pub(crate) fn end_streams(&self) {
        self.lifecycle.set(Phase::EndStreams);
    }

    /// Flushes usage events (and queued trace spans) and persists health before exit.
    pub(crate) async fn finish(&self) {
        self.accounting.close().await;
        self.keys.flush_last_used(&self.registry).await;
        persist::persist_health(&self.registry, &self.proxy.health).await;
        crate::control::cluster::leave(self).await;
        if let Some(t) = &self.telemetry {
            t.close().await;
        }
    }

    /// Whether the gateway is draining.
    pub(crate) fn is_draining(&self) -> bool {
        self.lifecycle.is_draining()
    }

    /// A new request id: 16 random hex digits then a sequence number.
    pub(crate) fn new_request_id(&self) -> String {
        let n = self.id_seq.fetch_add(1, Ordering::Relaxed);
        format!("req_{:016x}{:x}", self.id_prefix, n)
    }

    /// Rebuilds the routing snapshot and the key store from the registry (after
    /// admin changes, or changes another instance or `rook-cli` made); afterwards the
    /// instance serves the config version read before loading.
    pub(crate) async fn reload(&self) -> Result<(), AppError> {
        let version = self.registry.config_version().await?.version;
        let config = self.reloader.current();
        let snap = catalog::load_snapshot(&self.registry, &self.proxy.shared, &config).await?;
        self.proxy.install(snap);
        self.keys
            .reload(&self.registry, self.default_key.as_ref(), &self.keys_loader)
            .await
            .map_err(|e| AppError::Keys(e.to_string()))?;
        self.cluster.served(version);
        Ok(())
    }

    /// Reloads the client keys only (another instance changed keys and nothing else).
    pub(crate) async fn reload_keys(&self) -> Result<(), AppError> {
        self.keys
            .reload(&self.registry, self.default_key.as_ref(), &self.keys_loader)
            .await
            .map_err(|e| AppError::Keys(e.to_string()))?;
        Ok(())
    }
}
