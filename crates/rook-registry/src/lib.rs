//! rook-registry (work in progress)
