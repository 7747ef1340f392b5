//! The Rook gateway core: the HTTP server, the OpenAI-compatible `/v1/*` surface,
//! the attempt loop over provider accounts, SSE relaying, usage recording, and the
//! wiring of every other Rook crate.
//!
//! Inside, four parts, each handed only the state it needs:
//!
//! | part | owns |
//! |---|---|
//! | `app` | accept, request id, inbound auth, body reading, dispatch by surface, lifecycle |
//! | `proxy` | routing snapshot, account health and counters, retry policy, limiter, upstream client; the attempt loop and the relay |
//! | `accounting` | the per-request record: log line, token metrics, usage events (batched writer), cost |
//! | `control` | catalog sync/load, health persistence, retention, the admin API glue |
//! | `ui` | the web dashboard at `/ui`: embedded assets, sign-in, sessions and CSRF tokens |
//! | `telemetry` | OpenTelemetry traces (opt-in): per-request span hooks, the bounded span queue and the OTLP exporter task |
//!
//! The binaries are thin: `rook-server` loads the configuration
//! ([`rook_config::load`]), installs the tracing subscriber and the Prometheus
//! recorder, and calls [`run`]; `rook-cli` uses the re-exported crates directly.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = rook_gateway::rook_config::Config::from_toml_str(r#"
//!     port = 4141
//!     database_url = "sqlite::memory:"
//!     [[accounts]]
//!     id = "local"
//!     vendor = "custom"
//!     base_url = "http://127.0.0.1:8000/v1"
//!     [[pools]]
//!     id = "p"
//!     strategy = "round_robin"
//!     members = ["local"]
//!     [[routes]]
//!     model = "my-model"
//!     pool = "p"
//! "#)?;
//! // The binary installs the recorder (and the tracing subscriber) first.
//! let metrics = rook_gateway::rook_observability::install_prometheus(rook_gateway::VERSION)?;
//! // Serves until SIGTERM or Ctrl-C, then drains.
//! rook_gateway::run(config, Some(metrics), rook_gateway::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub use rook_admin;
pub use rook_config;
pub use rook_observability;
pub use rook_protocol;
pub use rook_registry;
pub use rook_resilience;
pub use rook_routing;

mod accounting;
mod admin_token;
mod app;
mod body;
mod budgets;
mod control;
mod endpoint;
mod error;
mod leases;
mod lifecycle;
mod proxy;
mod telemetry;
mod ui;

use std::future::Future;
use std::net::SocketAddr;

pub use app::server::shutdown_signal;
pub use app::AppError;
pub use control::catalog;
pub use proxy::snapshot::SnapshotError;
pub use proxy::upstream;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

use rook_registry::time::now_ms;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is unsafe to serve.
    #[error("refusing to start: {0}")]
    Unsafe(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Registry(#[from] rook_registry::RegistryError),
    /// The app could not be built.
    #[error(transparent)]
    App(#[from] AppError),
    /// No admin token: the configured one is unavailable or too short, or the
    /// generated token file is unsafe (`config`), or it could not be written.
    #[error("admin token: {message}")]
    AdminToken {
        /// What is wrong (a path or a key, never the token).
        message: String,
        /// Whether the configuration or the file's permissions are at fault.
        config: bool,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl RunError {
    /// The process exit code for this error: 2 for configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Unsafe(_) => 2,
            RunError::App(e) if e.is_config_problem() => 2,
            RunError::AdminToken { config: true, .. } => 2,
            _ => 1,
        }
    }
}

/// Checks the security posture before anything binds: an admin token is required on
/// a non-loopback bind.
pub fn check_posture(config: &rook_config::Config) -> Result<(), RunError> {
    if !config.bind_is_loopback() && config.admin_auth.resolve_token().is_err() {
        return Err(RunError::Unsafe(format!(
            "host {:?} is not a loopback address and no admin token is available ({}); \
             set it, or bind to 127.0.0.1",
            config.host,
            config.admin_auth.token_source()
        )));
    }
    if !config.bind_is_loopback() && !config.inbound_auth.enabled {
        tracing::warn!(
            host = %config.host,
            "inbound auth is disabled on a non-loopback bind: anyone who can reach this address can use the provider accounts"
        );
    }
    Ok(())
}

/// Runs the gateway until `shutdown` resolves, then drains and returns.
///
/// `metrics` is the Prometheus recorder the binary installed (rendered at
/// `/api/metrics`); without it the metrics endpoint answers empty. The gateway
/// installs no global state of its own.
pub async fn run(
    config: rook_config::Config,
    metrics: Option<rook_observability::PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    serve(config, metrics, shutdown, None).await
}

/// Like [`run`], and reloadable: SIGHUP and `POST /api/config/reload` read the
/// configuration again with `options` (those `config` was loaded with) and apply its
/// live keys (see `docs/operations.md`).
pub async fn run_reloadable(
    options: rook_config::LoadOptions,
    config: rook_config::Config,
    metrics: Option<rook_observability::PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    serve(config, metrics, shutdown, Some(options)).await
}

async fn serve(
    config: rook_config::Config,
    metrics: Option<rook_observability::PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
    reload_from: Option<rook_config::LoadOptions>,
) -> Result<(), RunError> {
    check_posture(&config)?;
    let admin_token = match admin_token::resolve(&config) {
        Ok((token, origin)) => {
            match origin {
                admin_token::Origin::Source(source) => {
                    tracing::info!(source = %source, "admin token from the configured source");
                }
                admin_token::Origin::Generated(path) => tracing::info!(
                    path = %path.display(),
                    "admin token generated into {}: send it as `Authorization: Bearer <token>`; \
                     rook-cli reads it for --server calls to this machine",
                    path.display()
                ),
                admin_token::Origin::Reused(path) => tracing::info!(
                    path = %path.display(),
                    "admin token read from {}",
                    path.display()
                ),
            }
            token
        }
        Err(e) => {
            return Err(RunError::AdminToken {
                config: matches!(e, admin_token::TokenError::Config(_)),
                message: e.to_string(),
            })
        }
    };
    let registry = rook_registry::Registry::connect(
        &config.database_url,
        rook_registry::ConnectOptions::default(),
    )
    .await?;
    let addr_text = config.listen_address();
    let addr: SocketAddr = tokio::net::lookup_host(&addr_text)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| RunError::Bind {
            addr: addr_text.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "cannot resolve"),
        })?;
    let listener = app::server::bind(addr).await.map_err(|e| RunError::Bind {
        addr: addr_text.clone(),
        source: e,
    })?;
    let local = listener.local_addr().map_err(|e| RunError::Bind {
        addr: addr_text.clone(),
        source: e,
    })?;
    let app = app::App::build(config, registry, metrics.clone(), admin_token, reload_from).await?;
    if let Some(metrics) = metrics {
        // Histograms need periodic upkeep.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        });
    }
    let snap = app.proxy.snapshot.load();
    tracing::info!(
        addr = %local,
        version = VERSION,
        database = app.registry.backend().as_str(),
        accounts = snap.accounts.len(),
        routes = snap.table.models().len(),
        inbound_auth = app.inbound_token.is_some(),
        "rook-server listening on http://{local}"
    );
    drop(snap);
    app::server::serve(listener, app, shutdown)
        .await
        .map_err(|e| RunError::Bind {
            addr: addr_text,
            source: e,
        })
}
