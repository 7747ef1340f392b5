//! Pieces of `rook.toml` that many end-to-end tests share.

use crate::FakeUpstream;

/// The smallest catalog: account `a` (vendor `open_ai`, its key from the
/// environment variable `KEY_A`) on `up`, pool `p` (priority) holding it, and the
/// route `m` to the pool. Append it after the top-level keys and sections.
///
/// ```
/// # async fn demo() {
/// let up = rook_test_support::FakeUpstream::start().await;
/// let toml = rook_test_support::config::one_route(&up);
/// assert!(toml.contains("model = \"m\""));
/// # }
/// ```
pub fn one_route(up: &FakeUpstream) -> String {
    format!(
        r#"[[accounts]]
id = "a"
vendor = "open_ai"
base_url = "{base}"
api_key_env = "KEY_A"

[[pools]]
id = "p"
strategy = "priority"
members = ["a"]

[[routes]]
model = "m"
pool = "p"
"#,
        base = up.base_url(),
    )
}
