//! Which requests are traced.
//!
//! A request whose client sent a valid `traceparent` follows the client's
//! `sampled` flag (a parent-based sampler: the caller decided). A request
//! that starts a trace is sampled by its trace id against `sample_ratio`, the
//! way OpenTelemetry's `TraceIdRatioBased` sampler does: sampled when the
//! trace id's lower 8 bytes, as a number, are below `ratio · 2^64`. The
//! decision is deterministic per trace id, so every service using the same
//! rule agrees on it.

use super::span::TraceId;
use super::traceparent::TraceParent;

/// Whether to record a request: the parent's flag when there is a parent,
/// else the ratio decision on `trace_id`.
pub fn should_sample(parent: Option<&TraceParent>, trace_id: TraceId, ratio: f64) -> bool {
    match parent {
        Some(p) => p.sampled,
        None => by_ratio(trace_id, ratio),
    }
}

/// The ratio decision alone: `ratio` ≤ 0 (or NaN) never samples, ≥ 1 always does.
pub fn by_ratio(trace_id: TraceId, ratio: f64) -> bool {
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    if ratio >= 1.0 {
        return true;
    }
    // 2^64 as f64 is exact; the product is below it, so the cast saturates nowhere.
    let bound = (ratio * 18_446_744_073_709_551_616.0) as u64;
    trace_id.low_u64() < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::span::SpanId;

    fn id(low: u64) -> TraceId {
        TraceId::from_u128((1u128 << 64) | u128::from(low))
    }

    #[test]
    fn ratio_table() {
        let half = 1u64 << 63;
        let cases = [
            (0, 1.0, true),
            (u64::MAX, 1.0, true),
            (0, 0.0, false),
            (0, -1.0, false),
            (0, f64::NAN, false),
            (0, 0.5, true),
            (half - 1, 0.5, true),
            (half, 0.5, false),
            (u64::MAX, 0.999, false),
            (1 << 50, 0.001, true),
            (1 << 60, 0.001, false),
        ];
        for (low, ratio, want) in cases {
            assert_eq!(by_ratio(id(low), ratio), want, "low {low:#x} ratio {ratio}");
        }
    }

    #[test]
    fn a_parent_decides() {
        let parent = |sampled| TraceParent {
            trace_id: id(u64::MAX),
            parent_id: SpanId::from_u64(1),
            sampled,
        };
        assert!(should_sample(Some(&parent(true)), id(u64::MAX), 0.0));
        assert!(!should_sample(Some(&parent(false)), id(0), 1.0));
        assert!(should_sample(None, id(0), 0.1));
        assert!(!should_sample(None, id(u64::MAX), 0.1));
    }

    #[test]
    fn the_ratio_is_roughly_kept() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut sampled = 0;
        for _ in 0..10_000 {
            // splitmix64
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if by_ratio(id(z), 0.25) {
                sampled += 1;
            }
        }
        assert!((2_200..2_800).contains(&sampled), "{sampled}");
    }
}
