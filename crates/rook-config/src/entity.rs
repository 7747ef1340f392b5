//! The rules of accounts, pools and routes, written once.
//!
//! The config file ([`Config::validate`](crate::Config::validate)), the admin
//! API, `rook-cli` and the registry all check entities with these functions,
//! so an entry one of them accepts is accepted by the others. Each surface
//! wraps an [`EntityError`] in its own shape: the config file prefixes the key
//! path (`accounts[1] (id "b").weight`), the admin API answers 400
//! `invalid_request` naming the field, the CLI names the flag, the registry
//! returns `RegistryError::Invalid`.
//!
//! Two levels:
//! - *record* rules ([`check_account`], [`check_pool`], [`check_route`]):
//!   what one entry must satisfy on its own;
//! - *reference* rules ([`check_pool_references`],
//!   [`check_route_references`], [`fallback_cycles`]): what a set of entries
//!   must satisfy together (members and fallbacks exist, no fallback cycle).
//!
//! Pure: no IO, no allocation beyond the error messages.
//!
//! ```
//! use rook_config::entity::{check_weight, check_pool, PoolRef, WEIGHT_RANGE};
//!
//! assert!(check_weight(1000).is_ok());
//! let e = check_weight(0).unwrap_err();
//! assert_eq!(e.to_string(), "weight: must be in 1..=1000, got 0");
//! assert_eq!(*WEIGHT_RANGE.end(), 1000);
//!
//! let members = ["a".to_string(), "a".to_string()];
//! let pool = PoolRef { id: "p", strategy: "failover", members: &members, fallback_pool: Some("p") };
//! let errors: Vec<String> = check_pool(&pool).iter().map(|e| e.to_string()).collect();
//! assert_eq!(errors, [
//!     "members[1]: \"a\" is listed more than once",
//!     "fallback_pool: a pool cannot fall back to itself",
//! ]);
//! ```

use std::ops::RangeInclusive;

// Client keys (issue 13): their rules, scopes and budget periods.
pub mod client_key;
mod error;
mod fields;
mod records;
#[cfg(test)]
mod tests;

pub use error::{EntityError, Sub};
pub use fields::*;
pub use records::*;

/// Largest length of an account or pool id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The syntax of an account or pool id as a regular expression (for schemas).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// What an id may be, in words (the message of a bad id).
pub const ID_RULE: &str = "must be 1 to 64 characters of A-Z, a-z, 0-9, `_`, `.`, `-`";

/// The weights an account may have (share for the `weighted` strategy).
pub const WEIGHT_RANGE: RangeInclusive<u32> = WEIGHT_MIN..=WEIGHT_MAX;

/// Smallest account weight.
pub const WEIGHT_MIN: u32 = 1;

/// Largest account weight.
pub const WEIGHT_MAX: u32 = 1000;

/// The weight of an account that does not give one.
pub const DEFAULT_WEIGHT: u32 = 1;

/// The `anthropic-version` header of an account that does not give one.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Longest `anthropic_version`, in characters.
pub const MAX_ANTHROPIC_VERSION_LEN: usize = 64;

/// The `max_tokens` Rook sends to an Anthropic upstream when a request gives
/// none and the account sets no `default_max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Smallest `default_max_tokens`.
pub const DEFAULT_MAX_TOKENS_MIN: u32 = 1;

/// Longest logical model name of a route, in bytes.
pub const MAX_MODEL_LEN: usize = 256;

/// Longest environment variable name, in bytes.
pub const MAX_ENV_VAR_LEN: usize = 255;
