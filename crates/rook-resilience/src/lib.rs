//! rook-resilience (work in progress)
