//! Account health shared with other instances (PostgreSQL): what this instance's
//! breakers did (the outbox of transitions to write) and how a row written by another
//! instance is merged into them.
//!
//! The merge is decided by [`decide`] (pure): the later comeback wins; a closed row
//! (a probe's success, an operator's reset) closes the account here unless this
//! instance has an unwritten transition of its own for it; a cooldown that is over
//! while another instance holds the probe lease keeps the account out of rotation
//! here until that lease ends (plus [`LEASE_MARGIN`]), so only the lease holder
//! probes. The database work is in `control::health_sync`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rook_protocol::ErrorClass;
use rook_registry::health::{HealthWrite, SharedHealth};
use rook_resilience::{CircuitState, KeySnapshot, OpenReason, PersistedKey};
use tokio::sync::Notify;

use super::health::{Health, Key};
use crate::now_ms;

/// How long before a cooldown ends its probe lease is decided; a cooldown learned
/// already over is held this long so the decision comes first.
pub(crate) const LEAD: Duration = Duration::from_millis(500);
/// How long the winner of a probe lease has to probe.
pub(crate) const PROBE_LEASE: Duration = Duration::from_secs(10);
/// How long after another instance's lease ends this one asks again (more than
/// [`LEAD`], so it asks after the lease has ended).
pub(crate) const LEASE_MARGIN: Duration = Duration::from_millis(1000);

/// A transition this instance made, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Opened (or extended) until this wall-clock time.
    Opened {
        until_ms: i64,
        times_opened: u32,
        consecutive_failures: u32,
        class: Option<ErrorClass>,
    },
    /// Closed by a successful probe.
    Closed,
    /// Reset by an operator.
    Reset,
}

impl Transition {
    /// The registry's form.
    pub(crate) fn write(&self) -> HealthWrite {
        match self {
            Transition::Opened {
                until_ms,
                times_opened,
                consecutive_failures,
                class,
            } => HealthWrite::Open {
                until_ms: *until_ms,
                times_opened: *times_opened,
                consecutive_failures: *consecutive_failures,
                last_error_class: class.map(|c| c.as_str().to_string()),
            },
            Transition::Closed => HealthWrite::Close,
            Transition::Reset => HealthWrite::Reset,
        }
    }
}

/// The transition (if any) between two states of one account; `class` is what the
/// outcome was classified as.
pub(crate) fn transition(
    before: Option<&KeySnapshot<Key>>,
    after: &KeySnapshot<Key>,
    class: Option<ErrorClass>,
    now_ms: i64,
) -> Option<Transition> {
    let before_state = before.map_or(CircuitState::Closed, |b| b.state);
    let before_until = before.and_then(|b| b.open_until);
    match after.state {
        CircuitState::Open if after.open_until != before_until => {
            let left = after.cooldown_remaining.unwrap_or_default();
            Some(Transition::Opened {
                until_ms: now_ms.saturating_add(i64::try_from(left.as_millis()).unwrap_or(0)),
                times_opened: after.times_opened,
                consecutive_failures: after.consecutive_failures,
                class,
            })
        }
        CircuitState::Closed if before_state != CircuitState::Closed => Some(Transition::Closed),
        _ => None,
    }
}

/// This instance's side of the account as [`decide`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Local {
    pub(crate) state: CircuitState,
    /// Wall-clock end of the local cooldown.
    pub(crate) until_ms: Option<i64>,
    pub(crate) probe_in_flight: bool,
    /// An unwritten transition of this instance is waiting in the outbox.
    pub(crate) pending: bool,
}

/// What merging a shared row does here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Nothing changes.
    Keep,
    /// Out of rotation until this wall-clock time (a time past or now: half-open).
    Hold { until_ms: i64 },
    /// Closed.
    Close,
}

/// Merges `row` (written by any instance) into `local`, for instance `me`.
pub(crate) fn decide(local: Local, row: &SharedHealth, me: &str, now_ms: i64) -> Merge {
    if local.pending {
        // Our own transition is on its way; the row merges it (later wins).
        return Merge::Keep;
    }
    let Some(until) = row.cooldown_until_ms else {
        return if local.state == CircuitState::Closed {
            Merge::Keep
        } else {
            Merge::Close
        };
    };
    let margin = i64::try_from(LEASE_MARGIN.as_millis()).unwrap_or(0);
    let lead = i64::try_from(LEAD.as_millis()).unwrap_or(0);
    let own_lease =
        row.probe_owner.as_deref() == Some(me) && row.probe_until_ms.is_some_and(|t| t > now_ms);
    let target = match row.foreign_probe_until(me, now_ms) {
        // Another instance probes: wait for its outcome (or the lease's end).
        Some(lease_end) => until.max(lease_end.saturating_add(margin)),
        // Over, nobody probing yet: hold until the lease is decided.
        None if until <= now_ms && !own_lease => now_ms.saturating_add(lead),
        None => until,
    };
    if local
        .until_ms
        .is_some_and(|u| u >= target.saturating_sub(5))
    {
        return Merge::Keep;
    }
    if local.probe_in_flight && target <= now_ms.saturating_add(lead) {
        // Our own probe is out: its outcome decides.
        return Merge::Keep;
    }
    if local.state == CircuitState::HalfOpen && own_lease && until <= now_ms {
        return Merge::Keep;
    }
    Merge::Hold { until_ms: target }
}

/// Sharing state of a [`Health`] (set on PostgreSQL only).
#[derive(Debug)]
pub(crate) struct Sharing {
    /// This instance's id (the lease owner and `updated_by`).
    pub(crate) instance_id: String,
    outbox: Mutex<HashMap<Key, Transition>>,
    /// Woken when the outbox fills.
    pub(crate) wake: Notify,
    /// The newest row version seen per account (written or merged).
    seen: Mutex<HashMap<Key, i64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Sharing {
    pub(crate) fn new(instance_id: String) -> Sharing {
        Sharing {
            instance_id,
            outbox: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Queues a transition (replacing an unwritten older one of the account).
    pub(crate) fn push(&self, id: Key, t: Transition) {
        lock(&self.outbox).insert(id, t);
        self.wake.notify_one();
    }

    /// Takes every queued transition.
    pub(crate) fn drain(&self) -> Vec<(Key, Transition)> {
        lock(&self.outbox).drain().collect()
    }

    /// Puts back a transition whose write failed, unless a newer one was queued.
    pub(crate) fn retry(&self, id: Key, t: Transition) {
        lock(&self.outbox).entry(id).or_insert(t);
    }

    pub(crate) fn is_pending(&self, id: &Key) -> bool {
        lock(&self.outbox).contains_key(id)
    }

    /// Records that version `v` of the account's row is known here; `false` when a
    /// newer or equal one already was.
    pub(crate) fn see(&self, id: &Key, v: i64) -> bool {
        let mut seen = lock(&self.seen);
        match seen.get(id) {
            Some(old) if *old >= v => false,
            _ => {
                seen.insert(id.clone(), v);
                true
            }
        }
    }
}

/// How a shared row changed this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merged {
    Unchanged,
    Held,
    Closed,
}

impl Health {
    /// Merges a shared row for account `id` (see [`decide`]).
    pub(crate) fn merge_shared(&self, id: &Key, row: &SharedHealth) -> Merged {
        let Some(sharing) = self.sharing() else {
            return Merged::Unchanged;
        };
        let Some(snap) = self.breaker().state(id) else {
            return Merged::Unchanged;
        };
        let now = now_ms();
        let local = Local {
            state: snap.state,
            until_ms: snap
                .cooldown_remaining
                .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
            probe_in_flight: snap.probe_in_flight,
            pending: sharing.is_pending(id),
        };
        let class = row
            .last_error_class
            .as_deref()
            .and_then(ErrorClass::from_name);
        match decide(local, row, &sharing.instance_id, now) {
            Merge::Keep => Merged::Unchanged,
            Merge::Close => {
                self.breaker().reset(id);
                Merged::Closed
            }
            Merge::Hold { until_ms } => {
                let left = u64::try_from(until_ms.saturating_sub(now)).unwrap_or(0);
                let reason = match class {
                    Some(ErrorClass::AuthError | ErrorClass::QuotaExhausted) => OpenReason::Trip,
                    Some(ErrorClass::RateLimited) => OpenReason::Hint,
                    _ => OpenReason::Failures,
                };
                self.breaker().restore_with_reason(
                    id.clone(),
                    PersistedKey {
                        cooldown_remaining: Some(Duration::from_millis(left)),
                        consecutive_failures: snap
                            .consecutive_failures
                            .max(row.consecutive_failures),
                        times_opened: snap.times_opened.max(row.times_opened),
                    },
                    reason,
                );
                self.set_class(id, class);
                Merged::Held
            }
        }
    }

    /// Keeps the account out of rotation until `until` (another instance holds its
    /// probe lease), unless it already is for longer.
    pub(crate) fn hold_until(&self, id: &Key, until: Instant) {
        let Some(snap) = self.breaker().state(id) else {
            return;
        };
        if snap.open_until.is_some_and(|u| u >= until) {
            return;
        }
        self.breaker().restore_with_reason(
            id.clone(),
            PersistedKey {
                cooldown_remaining: Some(until.saturating_duration_since(Instant::now())),
                consecutive_failures: snap.consecutive_failures,
                times_opened: snap.times_opened,
            },
            snap.open_reason.unwrap_or(OpenReason::Failures),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn row(until: Option<i64>, owner: Option<&str>, lease_until: Option<i64>) -> SharedHealth {
        SharedHealth {
            account_id: "a".into(),
            version: 3,
            cooldown_until_ms: until,
            times_opened: 1,
            consecutive_failures: 1,
            last_error_class: Some("rate_limited".into()),
            updated_by: Some("i1".into()),
            probe_owner: owner.map(str::to_string),
            probe_until_ms: lease_until,
        }
    }

    fn local(state: CircuitState, until_ms: Option<i64>) -> Local {
        Local {
            state,
            until_ms,
            probe_in_flight: false,
            pending: false,
        }
    }

    #[test]
    fn merges() {
        use CircuitState::{Closed, HalfOpen, Open};
        let now = 100_000;
        let lead = i64::try_from(LEAD.as_millis()).unwrap_or(0);
        let margin = i64::try_from(LEASE_MARGIN.as_millis()).unwrap_or(0);
        let pending = Local {
            pending: true,
            ..local(Closed, None)
        };
        let probing = Local {
            probe_in_flight: true,
            ..local(HalfOpen, Some(now - 10))
        };
        // (local, row, want)
        let table: Vec<(Local, SharedHealth, Merge)> = vec![
            // a cooldown elsewhere: held here until it ends
            (
                local(Closed, None),
                row(Some(now + 30_000), None, None),
                Merge::Hold {
                    until_ms: now + 30_000,
                },
            ),
            // the later comeback wins: a longer local cooldown stays
            (
                local(Open, Some(now + 60_000)),
                row(Some(now + 30_000), None, None),
                Merge::Keep,
            ),
            (
                local(Open, Some(now + 10_000)),
                row(Some(now + 30_000), None, None),
                Merge::Hold {
                    until_ms: now + 30_000,
                },
            ),
            // the same cooldown (our own write coming back): nothing
            (
                local(Open, Some(now + 30_001)),
                row(Some(now + 30_003), None, None),
                Merge::Keep,
            ),
            // closed by a probe or a reset elsewhere: closed here
            (
                local(Open, Some(now + 30_000)),
                row(None, None, None),
                Merge::Close,
            ),
            (
                local(HalfOpen, Some(now - 5)),
                row(None, None, None),
                Merge::Close,
            ),
            (local(Closed, None), row(None, None, None), Merge::Keep),
            // our own transition not yet written: it wins when written
            (pending, row(None, None, None), Merge::Keep),
            (pending, row(Some(now + 30_000), None, None), Merge::Keep),
            // over, another instance holds the probe lease: out until it ends
            (
                local(HalfOpen, Some(now - 5)),
                row(Some(now - 5), Some("i2"), Some(now + 9_000)),
                Merge::Hold {
                    until_ms: now + 9_000 + margin,
                },
            ),
            // over, nobody probing yet: held while the lease is decided
            (
                local(Closed, None),
                row(Some(now - 5), None, None),
                Merge::Hold {
                    until_ms: now + lead,
                },
            ),
            // over, and we hold the lease: half-open here
            (
                local(HalfOpen, Some(now - 5)),
                row(Some(now - 5), Some("me"), Some(now + 9_000)),
                Merge::Keep,
            ),
            (
                local(Closed, None),
                row(Some(now - 5), Some("me"), Some(now + 9_000)),
                Merge::Hold { until_ms: now - 5 },
            ),
            // our probe is out: its outcome decides
            (probing, row(Some(now - 5), None, None), Merge::Keep),
            // but a new cooldown elsewhere still holds
            (
                probing,
                row(Some(now + 30_000), None, None),
                Merge::Hold {
                    until_ms: now + 30_000,
                },
            ),
            // an expired lease of another instance is no lease
            (
                local(Closed, None),
                row(Some(now - 5), Some("i2"), Some(now - 1)),
                Merge::Hold {
                    until_ms: now + lead,
                },
            ),
        ];
        for (i, (l, r, want)) in table.into_iter().enumerate() {
            assert_eq!(decide(l, &r, "me", now), want, "case {i}: {l:?} {r:?}");
        }
    }

    #[test]
    fn transitions_of_outcomes() {
        let t0 = Instant::now();
        let snap = |state, until: Option<Instant>| KeySnapshot::<Key> {
            key: Arc::from("a"),
            state,
            consecutive_failures: 1,
            times_opened: 1,
            open_until: until,
            cooldown_remaining: until.map(|u| u.saturating_duration_since(t0)),
            probe_in_flight: false,
            open_reason: None,
            window_outcomes: 0,
            window_failures: 0,
        };
        let later = t0 + Duration::from_secs(30);
        let open = snap(CircuitState::Open, Some(later));
        let closed = snap(CircuitState::Closed, None);
        let half = snap(CircuitState::HalfOpen, Some(t0));
        let class = Some(ErrorClass::RateLimited);
        assert_eq!(
            transition(Some(&closed), &open, class, 1_000),
            Some(Transition::Opened {
                until_ms: 31_000,
                times_opened: 1,
                consecutive_failures: 1,
                class
            })
        );
        // extended: shared again; unchanged: not
        assert!(transition(
            Some(&snap(CircuitState::Open, Some(t0 + Duration::from_secs(5)))),
            &open,
            class,
            0
        )
        .is_some());
        assert_eq!(transition(Some(&open), &open, class, 0), None);
        assert_eq!(
            transition(Some(&half), &closed, None, 0),
            Some(Transition::Closed)
        );
        assert_eq!(transition(Some(&closed), &closed, None, 0), None);
        assert_eq!(transition(None, &closed, None, 0), None);
        assert_eq!(Transition::Reset.write(), HealthWrite::Reset);
    }

    #[test]
    fn the_outbox_keeps_the_newest_and_versions_only_go_up() {
        let s = Sharing::new("me".into());
        let a: Key = Arc::from("a");
        s.push(a.clone(), Transition::Closed);
        s.push(a.clone(), Transition::Reset);
        assert!(s.is_pending(&a));
        assert_eq!(s.drain(), vec![(a.clone(), Transition::Reset)]);
        assert!(!s.is_pending(&a));
        s.retry(a.clone(), Transition::Closed);
        s.push(a.clone(), Transition::Reset);
        s.retry(a.clone(), Transition::Closed);
        assert_eq!(s.drain(), vec![(a.clone(), Transition::Reset)]);
        assert!(s.see(&a, 3));
        assert!(!s.see(&a, 3));
        assert!(!s.see(&a, 2));
        assert!(s.see(&a, 4));
    }
}
