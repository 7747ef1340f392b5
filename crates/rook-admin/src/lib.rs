//! rook-admin (work in progress)
