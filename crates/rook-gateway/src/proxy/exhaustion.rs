//! Requests that gave up after retrying, counted over a 15-minute window (for
//! `/api/status`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The window's counter, packed in one atomic: high 32 bits = the minute the
/// window started, low 32 bits = the count in it.
#[derive(Debug, Default)]
pub(crate) struct Exhaustion(AtomicU64);

const WINDOW_MINUTES: u64 = 15;

impl Exhaustion {
    /// Counts one give-up at `now_ms`.
    pub(crate) fn note(&self, now_ms: i64) {
        let minute = u64::try_from(now_ms).unwrap_or(0) / 60_000;
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                let (start, count) = (v >> 32, v & 0xffff_ffff);
                if minute.saturating_sub(start) >= WINDOW_MINUTES {
                    Some((minute << 32) | 1)
                } else {
                    Some((start << 32) | (count + 1).min(0xffff_ffff))
                }
            });
    }

    /// Give-ups in the window current at `now_ms`.
    pub(crate) fn recent(&self, now_ms: i64) -> u64 {
        let v = self.0.load(Ordering::Relaxed);
        let minute = u64::try_from(now_ms).unwrap_or(0) / 60_000;
        if minute.saturating_sub(v >> 32) >= WINDOW_MINUTES {
            0
        } else {
            v & 0xffff_ffff
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_the_window_and_resets_after() {
        let e = Exhaustion::default();
        let t0 = 1_800_000_000_000;
        assert_eq!(e.recent(t0), 0);
        e.note(t0);
        e.note(t0 + 60_000);
        assert_eq!(e.recent(t0 + 14 * 60_000), 2);
        assert_eq!(e.recent(t0 + 15 * 60_000), 0);
        e.note(t0 + 16 * 60_000);
        assert_eq!(e.recent(t0 + 16 * 60_000), 1);
    }
}
