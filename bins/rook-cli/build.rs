//! Build metadata for `--version`: the git commit and the build date (the same script
//! as `rook-server`'s; see `bins/build_version.rs`).

include!("../build_version.rs");
