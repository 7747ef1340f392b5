//! rook-routing (work in progress)
