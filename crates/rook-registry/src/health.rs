//! Account health shared by several gateway instances on one PostgreSQL database.
//!
//! Each instance keeps its accounts' circuit breakers in memory and writes only the
//! transitions it makes, one row per account in `account_health`:
//!
//! - [`HealthWrite::Open`]: a cooldown opened (or a trip). The row takes it only when
//!   it ends later than the row's own cooldown (the later comeback wins); otherwise
//!   the write is [`Written::Superseded`] and the caller merges the row instead.
//! - [`HealthWrite::Close`]: a probe succeeded. The row closes only when no cooldown
//!   is running in it (one another instance wrote after the probe started wins).
//! - [`HealthWrite::Reset`]: an operator's reset; closes the row whatever it holds.
//!
//! Each written transition bumps the row's `version` and, by a trigger, sends
//! `NOTIFY rook_changes` with the payload `health <schema> <version> <account_id>`
//! ([`parse_health_notice`]); the other instances read the row and merge it.
//!
//! The half-open probe is a lease in the same row: [`Registry::lease_probe`](crate::Registry::lease_probe)
//! is one conditional `UPDATE` that at most one instance wins per cooldown expiry
//! (or per expired lease).

use serde::Serialize;

/// One account's shared health row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedHealth {
    /// The account id.
    pub account_id: String,
    /// Goes up with every transition written.
    pub version: i64,
    /// The end of the cooldown (unix ms); `None` when the account is closed. A time in
    /// the past: the cooldown is over and the account waits for its probe.
    pub cooldown_until_ms: Option<i64>,
    /// Consecutive openings (drives the next penalty).
    pub times_opened: u32,
    /// Consecutive failures when the row was written.
    pub consecutive_failures: u32,
    /// Class of the failure that opened it (`rate_limited`, `auth_error`…).
    pub last_error_class: Option<String>,
    /// The instance that wrote the last transition.
    pub updated_by: Option<String>,
    /// The instance holding the probe lease.
    pub probe_owner: Option<String>,
    /// When the probe lease ends (unix ms).
    pub probe_until_ms: Option<i64>,
}

impl SharedHealth {
    /// The probe lease's end when an instance other than `me` holds it at `now_ms`.
    pub fn foreign_probe_until(&self, me: &str, now_ms: i64) -> Option<i64> {
        match (&self.probe_owner, self.probe_until_ms) {
            (Some(owner), Some(until)) if owner != me && until > now_ms => Some(until),
            _ => None,
        }
    }
}

/// A health transition one instance made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthWrite {
    /// The account opened (cooldown, hint or trip) until `until_ms`.
    Open {
        /// End of the cooldown (unix ms).
        until_ms: i64,
        /// Consecutive openings.
        times_opened: u32,
        /// Consecutive failures.
        consecutive_failures: u32,
        /// Class of the failure.
        last_error_class: Option<String>,
    },
    /// A probe succeeded: closed unless a cooldown is running in the row.
    Close,
    /// An operator's reset: closed whatever the row holds.
    Reset,
}

/// What writing a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// Written; the row's version is now this.
    Applied(i64),
    /// The row holds newer state (a later cooldown, or one still running): nothing
    /// was written; here is the row to merge.
    Superseded(SharedHealth),
}

/// What [`Registry::lease_probe`](crate::Registry::lease_probe) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeLease {
    /// This instance may probe until `until_ms`.
    Won {
        /// End of the lease (unix ms).
        until_ms: i64,
    },
    /// Not this instance: the row as it was (another lease running, a later
    /// cooldown, or closed).
    Lost(SharedHealth),
    /// No row for the account (nothing shared yet).
    Missing,
}

/// A `health …` payload on `rook_changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthNotice {
    /// The row's version after the write.
    pub version: i64,
    /// The account id.
    pub account_id: String,
}

/// Parses `health <schema> <version> <account_id>`; `None` when malformed or of
/// another schema.
pub fn parse_health_notice(payload: &str, schema: &str) -> Option<HealthNotice> {
    let mut parts = payload.splitn(4, ' ');
    if parts.next()? != "health" || parts.next()? != schema {
        return None;
    }
    let version = parts.next()?.parse::<i64>().ok()?;
    let account_id = parts.next()?;
    if account_id.is_empty() {
        return None;
    }
    Some(HealthNotice {
        version,
        account_id: account_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_notices_parse_only_for_our_schema() {
        let table: &[(&str, Option<(i64, &str)>)] = &[
            ("health public 3 openai-a", Some((3, "openai-a"))),
            ("health public 3 with space", Some((3, "with space"))),
            ("health other 3 a", None),
            ("health public x a", None),
            ("health public 3", None),
            ("health public 3 ", None),
            ("7 public routes", None),
            ("", None),
        ];
        for (payload, want) in table {
            let got = parse_health_notice(payload, "public").map(|n| (n.version, n.account_id));
            assert_eq!(got, want.map(|(v, a)| (v, a.to_string())), "{payload:?}");
        }
    }

    #[test]
    fn only_a_live_lease_of_another_instance_is_foreign() {
        let mut row = SharedHealth {
            account_id: "a".into(),
            version: 1,
            cooldown_until_ms: Some(100),
            times_opened: 1,
            consecutive_failures: 1,
            last_error_class: None,
            updated_by: None,
            probe_owner: Some("i1".into()),
            probe_until_ms: Some(200),
        };
        assert_eq!(row.foreign_probe_until("i2", 150), Some(200));
        assert_eq!(row.foreign_probe_until("i1", 150), None);
        assert_eq!(row.foreign_probe_until("i2", 200), None);
        row.probe_owner = None;
        assert_eq!(row.foreign_probe_until("i2", 150), None);
    }
}
