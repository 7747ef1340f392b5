//! Shared helpers of the integration tests.
#![allow(dead_code)]

use rook_routing::{AccountIdx, AvailabilityView};

/// A view over plain data: unavailable set and in-flight counts by index.
#[derive(Debug, Clone, Default)]
pub(crate) struct TestView {
    pub unavailable: Vec<usize>,
    pub in_flight: Vec<u64>,
}

impl TestView {
    pub(crate) fn cooling(unavailable: &[usize]) -> Self {
        Self {
            unavailable: unavailable.to_vec(),
            in_flight: Vec::new(),
        }
    }

    pub(crate) fn loads(in_flight: &[u64]) -> Self {
        Self {
            unavailable: Vec::new(),
            in_flight: in_flight.to_vec(),
        }
    }
}

impl AvailabilityView for TestView {
    fn is_available(&self, idx: AccountIdx) -> bool {
        !self.unavailable.contains(&idx.0)
    }

    fn in_flight(&self, idx: AccountIdx) -> u64 {
        self.in_flight.get(idx.0).copied().unwrap_or(0)
    }
}

pub(crate) fn idx(list: &[usize]) -> Vec<AccountIdx> {
    list.iter().copied().map(AccountIdx).collect()
}
