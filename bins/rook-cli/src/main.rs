//! rook-cli
fn main() {}
