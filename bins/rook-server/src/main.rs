//! rook-server
fn main() {}
