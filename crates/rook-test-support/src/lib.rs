//! rook-test-support (work in progress)
