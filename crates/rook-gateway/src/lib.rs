//! rook-gateway (work in progress)
