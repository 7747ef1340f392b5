//! Persistence for Rook: accounts, pools, routes, health, usage events, idempotency records
//! and the audit log, on SQLite (default) or PostgreSQL behind one API.
//!
//! * [`Registry::connect`] picks the backend from the URL (`sqlite://path`, `sqlite:path`,
//!   `sqlite::memory:`, `postgres://…`, `postgresql://…`) and applies the embedded migrations.
//! * Accounts, pools and routes have a [`Source`]: rows declared in the config file are
//!   written only by [`Registry::sync_declared`]; the CRUD methods manage `api` rows and refuse
//!   to change `config` rows ([`RegistryError::ReadOnly`]).
//! * Idempotency keys are claimed atomically in the database, so several gateway instances
//!   can share one PostgreSQL database.
//!
//! The only Rook crate this one depends on is `rook-config`, for the rules of accounts,
//! pools and routes ([`rook_config::entity`]), so a record the registry accepts is one the
//! config file and the admin API accept too. The gateway translates its config types into
//! the record types defined here.
//!
//! * On PostgreSQL the pool waits at most [`deadline::DATABASE_DEADLINE`] for a
//!   connection, and [`Registry::bounded`] bounds a whole call from the request path the
//!   same way, so an outage answers fast instead of hanging (see [`deadline`]).
//!
//! [`time`] holds the one `now_ms` and the one parser of time expressions (`24h`,
//! `2024-05-01`, RFC 3339) that the admin API and `rook-cli` share. [`report`] builds usage
//! reports; [`series`] usage time series summed by the database.
//!
//! # Example
//!
//! ```
//! use rook_registry::{AccountRecord, ConnectOptions, PoolRecord, Registry, RouteRecord};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let registry = Registry::connect("sqlite::memory:", ConnectOptions::default()).await?;
//!     assert!(registry.migration_status().await?.current);
//!
//!     let mut account = AccountRecord::new("openai-a", "open_ai", "https://api.openai.com/v1");
//!     account.api_key_env = Some("OPENAI_KEY_A".into());
//!     let pool = PoolRecord::new("gpt", "round_robin", vec!["openai-a".into()]);
//!     let route = RouteRecord::new("gpt-4o", "gpt");
//!     let report = registry.sync_declared(&[account], &[pool], &[route]).await?;
//!     assert_eq!(report.added, 3);
//!
//!     assert_eq!(registry.get_route("gpt-4o").await?.pool, "gpt");
//!     Ok::<_, rook_registry::RegistryError>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod backend;
pub mod client_key;
pub mod cluster;
pub mod deadline;
mod error;
pub mod health;
mod identity;
mod migrate;
mod priority;
mod registry;
pub mod report;
pub mod seal;
pub mod series;
pub mod time;
mod types;

pub use error::{RegistryError, Result};
pub use identity::DbIdentity;
pub use registry::{Backend, ChangeListener, ConnectOptions, Registry, RotateReport};
pub use types::{
    AccountRecord, AuditEvent, HealthRecord, HealthStatus, IdempotencyBegin, MigrationStatus,
    PoolRecord, RouteRecord, Source, StoredResponse, SyncReport, UsageEvent,
};
