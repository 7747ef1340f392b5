//! Resolving a model: the route's chain, ordered by each pool's strategy and
//! split by availability.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::PoisonError;

use super::*;

impl RoutingTable {
    /// Orders the accounts to try for `model`.
    ///
    /// Candidates come from the route's pool, ordered by the pool's strategy
    /// over its currently available members, then from that pool's
    /// `fallback_pool` chain, then from the route's `fallback_route` (its
    /// pool chain, then its own `fallback_route`, …). An account already
    /// listed is not repeated, disabled accounts never appear, and accounts
    /// the view reports unavailable go to [`Resolution::unavailable`].
    ///
    /// Strategy state (round robin and least-busy cursors, weighted current
    /// weights) advances only for the pool that supplies the first candidate;
    /// later pools of the chain are ordered from their current state without
    /// advancing it, so a pool used as a fallback by one route does not skew
    /// the spread of the routes it serves first.
    ///
    /// Cost: a binary search over model names, one availability check per
    /// chain member, and the two result vectors (`unavailable` allocates only
    /// when something is unavailable). No string is allocated on success.
    ///
    /// # Errors
    ///
    /// [`RoutingError::UnknownModel`] when no route exists for `model`.
    pub fn resolve<V: AvailabilityView + ?Sized>(
        &self,
        model: &str,
        view: &V,
    ) -> Result<Resolution, RoutingError> {
        let Some(route) = self.route_index(model) else {
            return Err(RoutingError::UnknownModel {
                model: model.to_owned(),
            });
        };
        let compiled = &self.compiled[route];
        let mut candidates = Vec::with_capacity(compiled.len);
        let mut unavailable = Vec::new();
        let mut advance = true;
        for segment in compiled.segments.iter() {
            let start = candidates.len();
            for member in segment.members.iter() {
                if view.is_available(member.acct) {
                    candidates.push(member.acct);
                } else {
                    unavailable.push(member.acct);
                }
            }
            let Some(tail) = candidates.get_mut(start..) else {
                continue;
            };
            if tail.is_empty() {
                continue;
            }
            if tail.len() > 1 {
                self.order(segment, tail, view, advance);
            }
            advance = false;
        }
        Ok(Resolution {
            candidates,
            unavailable,
        })
    }

    pub(super) fn route_index(&self, model: &str) -> Option<usize> {
        self.models
            .binary_search_by(|m| m.as_str().cmp(model))
            .ok()
            .map(|i| self.model_routes[i])
    }

    /// Orders `tail` (the available members of `segment`, in the segment's
    /// static order, at least two) by the pool's strategy.
    fn order<V: AvailabilityView + ?Sized>(
        &self,
        segment: &Segment,
        tail: &mut [AccountIdx],
        view: &V,
        advance: bool,
    ) {
        let pool = segment.pool;
        let state = &self.state[pool];
        match self.pools[pool].strategy {
            // Static order already is priority order.
            Strategy::Priority | Strategy::Failover => {}
            Strategy::RoundRobin => {
                let cursor = read_cursor(&state.cursor, advance);
                tail.rotate_left(cursor % tail.len());
            }
            Strategy::LeastBusy => {
                let cursor = read_cursor(&state.cursor, advance);
                sort_by_load(tail, view, cursor);
            }
            Strategy::Weighted => {
                if let Some(current) = &state.current {
                    let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(pick) = self.weighted_pick(segment, tail, &mut current, advance) {
                        tail[..=pick].rotate_right(1);
                    }
                }
            }
        }
    }

    /// Smooth weighted round robin over the available members in `tail`:
    /// returns the position in `tail` of the pick (`None` when every
    /// available member weighs 0). With `advance`, commits the step (adds
    /// each weight to its current weight, subtracts the total from the
    /// pick); otherwise only peeks at the next pick.
    fn weighted_pick(
        &self,
        segment: &Segment,
        tail: &[AccountIdx],
        current: &mut [i64],
        advance: bool,
    ) -> Option<usize> {
        let mut members = segment.members.iter();
        let mut total: i64 = 0;
        let mut best: Option<(usize, usize, i64)> = None; // (tail position, member position, value)
        for (j, acct) in tail.iter().enumerate() {
            // `tail` is a subsequence of `segment.members`: find its member.
            let member = members.by_ref().find(|m| m.acct == *acct)?;
            let weight = i64::from(self.accounts[acct.0].weight);
            if weight == 0 {
                continue;
            }
            let slot = current.get_mut(member.pos)?;
            let value = slot.saturating_add(weight);
            if advance {
                *slot = value;
            }
            total = total.saturating_add(weight);
            if best.is_none_or(|(_, _, v)| value > v) {
                best = Some((j, member.pos, value));
            }
        }
        let (j, pos, _) = best?;
        if advance {
            if let Some(slot) = current.get_mut(pos) {
                *slot = slot.saturating_sub(total);
            }
        }
        Some(j)
    }
}

fn read_cursor(cursor: &AtomicUsize, advance: bool) -> usize {
    if advance {
        cursor.fetch_add(1, Ordering::Relaxed)
    } else {
        cursor.load(Ordering::Relaxed)
    }
}

/// Sorts `tail` by ascending in-flight count, reading each count once (the
/// counts change concurrently; a snapshot keeps the order total). Each run of
/// equal counts is in member order rotated by `cursor`, so ties spread evenly
/// however many members are busier.
pub(super) fn sort_by_load<V: AvailabilityView + ?Sized>(
    tail: &mut [AccountIdx],
    view: &V,
    cursor: usize,
) {
    const INLINE: usize = 32;
    fn apply<V: AvailabilityView + ?Sized>(
        tail: &mut [AccountIdx],
        buf: &mut [(u64, usize, AccountIdx)],
        view: &V,
        cursor: usize,
    ) {
        for (i, (slot, acct)) in buf.iter_mut().zip(tail.iter()).enumerate() {
            *slot = (view.in_flight(*acct), i, *acct);
        }
        buf.sort_unstable();
        let mut start = 0;
        while start < buf.len() {
            let load = buf[start].0;
            let len = buf[start..].iter().take_while(|e| e.0 == load).count();
            buf[start..start + len].rotate_left(cursor % len);
            start += len;
        }
        for (dst, entry) in tail.iter_mut().zip(buf.iter()) {
            *dst = entry.2;
        }
    }
    if tail.len() <= INLINE {
        let mut buf = [(0, 0, AccountIdx(0)); INLINE];
        apply(tail, &mut buf[..tail.len()], view, cursor);
    } else {
        let mut buf = vec![(0, 0, AccountIdx(0)); tail.len()];
        apply(tail, &mut buf, view, cursor);
    }
}
