//! rook-observability (work in progress)
