//! rook-config (work in progress)
