//! Panic probes shared by several instances (PostgreSQL): when every account of a
//! route is cooling, one request probes the account that comes back first (see
//! [`super::panic`]). Each instance's breaker lets one such probe out at a time; so
//! that the *instances together* send one, the instance asks the database for the
//! account's probe lease first (`Registry::lease_panic_probe` through a
//! [`PanicLeaser`] set by `control::health_sync`).
//!
//! - **Won**: this instance probes. The lease lasts until the probe's outcome is
//!   shared (a success closes the account everywhere, a failure writes a new cooldown,
//!   which ends the lease) or [`super::health_share::PROBE_LEASE`] passes.
//! - **Lost**: another instance probes; this one sends no panic probe to the account
//!   until that lease ends (remembered here, so the requests meanwhile cost no database
//!   round trip) and answers as if no account could be panic-routed.
//! - **No answer within [`PANIC_LEASE_WAIT`]** (or an error, or no shared row yet):
//!   the local decision stands, counted as `fallback`; after an error the database is
//!   not asked again for [`DOWN_PAUSE`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rook_observability::names;

use super::health::Key;
use crate::now_ms;

/// The longest a panic-routed request waits for the database's decision.
pub(crate) const PANIC_LEASE_WAIT: Duration = Duration::from_millis(250);
/// After a failed or late lease, the database is not asked again for this long.
const DOWN_PAUSE: Duration = Duration::from_secs(1);

/// What the database said about a panic probe lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PanicLease {
    /// This instance holds the lease: probe.
    Won,
    /// Another instance holds it until this wall-clock time (ms).
    Lost { until_ms: i64 },
    /// The account has no shared row (its cooldown is not shared yet).
    Missing,
}

/// A lease call in flight.
pub(crate) type LeaseFuture<'a> =
    Pin<Box<dyn Future<Output = Result<PanicLease, String>> + Send + 'a>>;

/// Asks the shared store for an account's panic probe lease.
pub(crate) trait PanicLeaser: Send + Sync + std::fmt::Debug {
    /// Tries to take the lease of `account` for this instance.
    fn lease<'a>(&'a self, account: &'a str) -> LeaseFuture<'a>;
}

/// What the panic path does with an answer (pure; see [`verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Send the probe.
    pub(crate) probe: bool,
    /// The `result` label of `rook_panic_probe_leases_total`.
    pub(crate) result: &'static str,
    /// Send no panic probe to the account until this wall-clock time (ms).
    pub(crate) deny_until_ms: Option<i64>,
    /// The database failed or was late: do not ask it for a while.
    pub(crate) down: bool,
}

/// The verdict on `answer` (`None`: no answer within [`PANIC_LEASE_WAIT`]).
pub(crate) fn verdict(answer: Option<&Result<PanicLease, String>>) -> Verdict {
    let local = |down| Verdict {
        probe: true,
        result: "fallback",
        deny_until_ms: None,
        down,
    };
    match answer {
        Some(Ok(PanicLease::Won)) => Verdict {
            probe: true,
            result: "won",
            deny_until_ms: None,
            down: false,
        },
        Some(Ok(PanicLease::Lost { until_ms })) => Verdict {
            probe: false,
            result: "lost",
            deny_until_ms: Some(*until_ms),
            down: false,
        },
        Some(Ok(PanicLease::Missing)) => local(false),
        Some(Err(_)) | None => local(true),
    }
}

#[derive(Debug, Default)]
struct State {
    /// Accounts another instance panic-probes, until when (wall ms).
    denied: HashMap<Key, i64>,
    /// The database is not asked before this.
    down_until: Option<Instant>,
}

/// The panic probe leases of this instance (PostgreSQL only).
#[derive(Debug)]
pub(crate) struct PanicShare {
    leaser: Arc<dyn PanicLeaser>,
    state: Mutex<State>,
}

impl PanicShare {
    pub(crate) fn new(leaser: Arc<dyn PanicLeaser>) -> PanicShare {
        PanicShare {
            leaser,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether another instance holds `id`'s panic probe lease now (memory only).
    pub(crate) fn denied(&self, id: &str) -> bool {
        let now = now_ms();
        let mut state = self.state();
        state.denied.retain(|_, until| *until > now);
        state.denied.contains_key(id)
    }

    /// Whether this instance may send the panic probe to `id`: asks the database for
    /// the lease, waiting at most [`PANIC_LEASE_WAIT`] (see the module docs).
    pub(crate) async fn allow(&self, id: &Key) -> bool {
        let skip_db = self.state().down_until.is_some_and(|t| Instant::now() < t);
        let answer = if skip_db {
            Some(Err("the database failed a moment ago".to_string()))
        } else {
            tokio::time::timeout(PANIC_LEASE_WAIT, self.leaser.lease(id))
                .await
                .ok()
        };
        let v = verdict(answer.as_ref());
        metrics::counter!(names::PANIC_PROBE_LEASES_TOTAL, "result" => v.result).increment(1);
        let mut state = self.state();
        if let Some(until) = v.deny_until_ms {
            state.denied.insert(id.clone(), until);
        }
        if v.down && !skip_db {
            state.down_until = Some(Instant::now() + DOWN_PAUSE);
            let why = match &answer {
                Some(Err(e)) => e.clone(),
                _ => format!("no answer within {PANIC_LEASE_WAIT:?}"),
            };
            tracing::warn!(account = %id, error = %why, "cannot lease the panic probe from the database; probing on this instance's decision");
        }
        tracing::debug!(account = %id, result = v.result, "panic probe lease");
        v.probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let v = |probe, result, deny_until_ms, down| Verdict {
            probe,
            result,
            deny_until_ms,
            down,
        };
        let cases: Vec<(Option<Result<PanicLease, String>>, Verdict)> = vec![
            (Some(Ok(PanicLease::Won)), v(true, "won", None, false)),
            (
                Some(Ok(PanicLease::Lost { until_ms: 42 })),
                v(false, "lost", Some(42), false),
            ),
            (
                Some(Ok(PanicLease::Missing)),
                v(true, "fallback", None, false),
            ),
            (Some(Err("refused".into())), v(true, "fallback", None, true)),
            (None, v(true, "fallback", None, true)),
        ];
        for (answer, want) in cases {
            assert_eq!(verdict(answer.as_ref()), want, "{answer:?}");
        }
    }

    /// A scripted store: answers in turn, each after `delay`.
    #[derive(Debug)]
    struct Script {
        answers: Mutex<Vec<Result<PanicLease, String>>>,
        delay: Duration,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl PanicLeaser for Script {
        fn lease<'a>(&'a self, _account: &'a str) -> LeaseFuture<'a> {
            Box::pin(async move {
                self.calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(self.delay).await;
                let mut a = self.answers.lock().unwrap();
                if a.is_empty() {
                    Ok(PanicLease::Won)
                } else {
                    a.remove(0)
                }
            })
        }
    }

    fn share(
        answers: Vec<Result<PanicLease, String>>,
        delay: Duration,
    ) -> (PanicShare, Arc<Script>) {
        let script = Arc::new(Script {
            answers: Mutex::new(answers),
            delay,
            calls: Default::default(),
        });
        (PanicShare::new(script.clone()), script)
    }

    fn calls(s: &Script) -> usize {
        s.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_denies_without_asking_again_until_it_ends() {
        let until = now_ms() + 10_000;
        let (share, script) = share(
            vec![Ok(PanicLease::Lost { until_ms: until })],
            Duration::from_millis(2),
        );
        let a: Key = Arc::from("a");
        assert!(!share.denied("a"));
        assert!(!share.allow(&a).await);
        assert!(share.denied("a"));
        assert!(!share.denied("b"));
        assert_eq!(calls(&script), 1);
        // won by this instance: probe
        assert!(share.allow(&Arc::from("b")).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_or_failing_database_leaves_the_local_decision() {
        let (share, script) = share(Vec::new(), Duration::from_secs(5));
        let a: Key = Arc::from("a");
        let start = tokio::time::Instant::now();
        assert!(share.allow(&a).await, "late: probe on the local decision");
        assert_eq!(start.elapsed(), PANIC_LEASE_WAIT);
        // for a moment the database is not asked at all
        let start = tokio::time::Instant::now();
        assert!(share.allow(&a).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(calls(&script), 1);
        let (share, _) = share_err();
        assert!(share.allow(&a).await);
        assert!(!share.denied("a"));
    }

    fn share_err() -> (PanicShare, Arc<Script>) {
        share(vec![Err("connection refused".into())], Duration::ZERO)
    }
}
