//! The last requests this instance answered, for `GET /api/requests/recent`.
//!
//! A bounded ring of [`Summary`] values, newest at the back. Recording one takes a
//! single short lock: the summary is built (one allocation, its `Arc`) before the
//! lock, and the summary it evicts is dropped after it. Reading copies `Arc`s under
//! the lock and nothing else. Summaries hold no bodies and no secrets: the client key
//! *id*, never its secret; the account *label*, never its API key.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How many summaries an instance keeps.
pub(crate) const CAPACITY: usize = 1000;

/// One finished request, as `GET /api/requests/recent` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    pub(crate) request_id: String,
    /// When it was recorded (unix ms).
    pub(crate) at_ms: i64,
    /// Client-facing endpoint (`chat`, `messages`, …; `other` for a refused request).
    pub(crate) endpoint: &'static str,
    /// The logical model asked for (empty when the request was refused before routing).
    pub(crate) route: String,
    /// Label of the last account tried.
    pub(crate) account: Option<String>,
    /// Client key id.
    pub(crate) key_id: Option<Arc<str>>,
    pub(crate) attempts: u32,
    pub(crate) outcome: String,
    pub(crate) error_class: Option<String>,
    pub(crate) status: u16,
    pub(crate) latency_ms: u64,
    pub(crate) stream: bool,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) cost_usd: Option<f64>,
}

/// The ring. See the module docs.
#[derive(Debug)]
pub(crate) struct Recent {
    slots: Mutex<VecDeque<Arc<Summary>>>,
    capacity: usize,
}

impl Recent {
    /// A ring keeping the last `capacity` summaries (at least one).
    pub(crate) fn new(capacity: usize) -> Recent {
        let capacity = capacity.max(1);
        Recent {
            slots: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    /// Adds a summary, evicting the oldest when full.
    pub(crate) fn push(&self, summary: Summary) {
        let summary = Arc::new(summary);
        let evicted = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let evicted = if slots.len() >= self.capacity {
                slots.pop_front()
            } else {
                None
            };
            slots.push_back(summary);
            evicted
        };
        drop(evicted);
    }

    /// Up to `limit` summaries, newest first.
    pub(crate) fn latest(&self, limit: usize) -> Vec<Arc<Summary>> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(n: u32) -> Summary {
        Summary {
            request_id: format!("req-{n}"),
            at_ms: i64::from(n),
            endpoint: "chat",
            route: "m".into(),
            account: None,
            key_id: None,
            attempts: n,
            outcome: "success".into(),
            error_class: None,
            status: 200,
            latency_ms: 1,
            stream: false,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        }
    }

    fn ids(ring: &Recent, limit: usize) -> Vec<String> {
        ring.latest(limit)
            .iter()
            .map(|s| s.request_id.clone())
            .collect()
    }

    #[test]
    fn keeps_the_newest_first_and_evicts_the_oldest() {
        let ring = Recent::new(3);
        assert!(ring.latest(10).is_empty());
        for n in 1..=2 {
            ring.push(summary(n));
        }
        assert_eq!(ids(&ring, 10), ["req-2", "req-1"]);
        for n in 3..=5 {
            ring.push(summary(n));
        }
        assert_eq!(ids(&ring, 10), ["req-5", "req-4", "req-3"]);
        assert_eq!(ids(&ring, 2), ["req-5", "req-4"]);
        assert!(ring.latest(0).is_empty());
    }

    #[test]
    fn never_grows_past_its_capacity() {
        let ring = Recent::new(CAPACITY);
        for n in 0..(CAPACITY as u32 * 2 + 7) {
            ring.push(summary(n));
        }
        let all = ring.latest(usize::MAX);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].attempts, CAPACITY as u32 * 2 + 6);
        assert_eq!(all[CAPACITY - 1].attempts, CAPACITY as u32 + 7);
        assert_eq!(Recent::new(0).capacity, 1);
    }
}
