//! Control: the gateway's configuration and state as operators and the registry
//! see them.
//!
//! - [`catalog`]: the config file's accounts, pools and routes synced into the
//!   registry, and the routing snapshot built from the registry;
//! - [`persist`]: account health restored at start-up and written back on change;
//! - [`health_sync`]: account health shared between instances (PostgreSQL): transitions
//!   written with compare-and-set, merged from notices, the half-open probe lease;
//! - [`prune`]: retention of idempotency records and usage events;
//! - [`admin`]: `/api/*` handed to `rook-admin`, with the live gateway behind its
//!   `Runtime` trait;
//! - [`keys`]: the master key, legacy keys sealed at start-up, inline keys opened for
//!   routing;
//! - [`cluster`]: change propagation between instances (LISTEN/NOTIFY or polling of
//!   the registry's config version) and this instance's heartbeat row;
//! - [`reload`]: the configuration file re-read on SIGHUP or `POST /api/config/reload`,
//!   its live keys applied, the rest reported as needing a restart;
//! - [`identity`]: the SQLite file's identity, watched (gauge `rook_database_identity_ok`).
//!
//! Control (with the app) may take the whole `App`: it is the glue between the
//! running gateway and its operators.

pub(crate) mod admin;
pub mod catalog;
pub(crate) mod cluster;
pub(crate) mod health_sync;
pub(crate) mod identity;
pub(crate) mod keys;
pub(crate) mod persist;
pub(crate) mod prune;
pub(crate) mod reload;
