//! Build metadata for `--version`: the git commit and the build date.
//!
//! Never fails the build: outside a git checkout (a source tarball, `cargo install`
//! from a copy) the commit is `unknown`. `SOURCE_DATE_EPOCH`, when set, fixes the date
//! (reproducible builds); `ROOK_GIT_COMMIT` overrides the commit (e.g. a container
//! build that has no `.git`). The script is shared with `rook-cli`.

include!("../build_version.rs");
