//! The scalar sections: `[limits]`, `[upstream]`, `[upstream_resilience]`,
//! `[usage]`, `[idempotency]`, `[rate_limits]`, `[transport]` and `[pricing]` prices.

use serde::{Deserialize, Serialize};

/// `[limits]`: limits on inbound requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body, checked before buffering.
    /// Default 8 MiB (`8388608`); range `1..=1073741824`.
    pub max_request_body_bytes: u64,
    /// Largest accepted request head: the request line and every header
    /// line with their line ends and the blank line that ends the head, as
    /// sent (431 above it). Default `65536`; range `8192..=16777216`.
    pub max_header_bytes: u64,
    /// Time a client gets to send the complete request head.
    /// Default `10000`; range `1..=600000`.
    pub header_read_timeout_ms: u64,
    /// Most header lines a request may have (431 above it).
    /// Default `100`; range `1..=10000`.
    pub max_headers: u32,
    /// Largest buffered (non-streamed) upstream answer Rook reads.
    /// Default 16 MiB (`16777216`); range `1024..=4294967296`.
    pub max_upstream_response_bytes: u64,
    /// Bytes of buffered upstream answers held at once across all requests.
    /// Default 256 MiB (`268435456`); range
    /// `max_upstream_response_bytes..=1099511627776`.
    pub buffered_response_budget_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 8 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            max_headers: 100,
            max_upstream_response_bytes: 16 * 1024 * 1024,
            buffered_response_budget_bytes: 256 * 1024 * 1024,
        }
    }
}

/// `[upstream]`: the HTTP client used toward vendors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstream {
    /// TCP + TLS connect timeout. Default `2000`; range `1..=600000`.
    pub connect_timeout_ms: u64,
    /// Time until the first response byte. Default `60000`; range `1..=3600000`.
    pub first_byte_timeout_ms: u64,
    /// Longest gap between streamed chunks. Default `60000`; range `1..=3600000`.
    pub stream_idle_timeout_ms: u64,
    /// How long an idle pooled connection is kept. Default `90`; range `1..=3600`.
    pub pool_idle_timeout_seconds: u64,
    /// Idle connections kept per upstream host; `0` disables reuse.
    /// Default `256`; range `0..=100000`.
    pub pool_max_idle_per_host: u32,
    /// Host names, IP addresses and CIDR blocks that account base URLs may
    /// reach even where the egress policy denies them (see
    /// [`crate::egress`]). Default empty.
    pub allowed_egress: Vec<String>,
    /// Also deny loopback, private and CGNAT addresses. Default `false`
    /// (local model servers are a main use case).
    pub deny_private_networks: bool,
}

impl Upstream {
    /// The egress policy of this section. Fails only on an `allowed_egress`
    /// entry that validation refuses too.
    pub fn egress_policy(
        &self,
    ) -> Result<crate::egress::EgressPolicy, crate::egress::AllowEntryError> {
        crate::egress::EgressPolicy::new(&self.allowed_egress, self.deny_private_networks)
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 2_000,
            first_byte_timeout_ms: 60_000,
            stream_idle_timeout_ms: 60_000,
            pool_idle_timeout_seconds: 90,
            pool_max_idle_per_host: 256,
            allowed_egress: Vec::new(),
            deny_private_networks: false,
        }
    }
}

/// `[upstream_resilience]`: retries, cooldowns, budgets and concurrency.
/// Ranges are listed per field; zero is never valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamResilience {
    /// Attempts per buffered request, first included. Default `3`; `1..=10`.
    pub max_buffered_attempts: u32,
    /// Consecutive retryable failures before an account cools.
    /// Default `3`; `1..=100`.
    pub failure_threshold: u32,
    /// Base cooldown; grows exponentially (with jitter) on repeated failure.
    /// Default `10`; `1..=86400`.
    pub failure_cooldown_seconds: u64,
    /// Cooldown ceiling. Default `300`; `failure_cooldown_seconds..=86400`.
    pub failure_cooldown_max_seconds: u64,
    /// Base of full-jitter exponential backoff between attempts.
    /// Default `25`; `1..=60000`.
    pub retry_backoff_milliseconds: u64,
    /// Backoff ceiling. Default `2000`; `retry_backoff_milliseconds..=60000`.
    pub retry_backoff_max_milliseconds: u64,
    /// In-flight upstream requests across all accounts.
    /// Default `64`; `1..=100000`.
    pub max_concurrent_upstream_requests: u32,
    /// How long a request waits for a concurrency permit.
    /// Default `100`; `1..=60000`.
    pub permit_queue_timeout_milliseconds: u64,
    /// Retries allowed as a share of first attempts. Default `0.2`; `(0, 1]`.
    pub retry_budget_ratio: f64,
    /// Retries per second always allowed. Default `10`; `1..=100000`.
    pub retry_budget_min_per_second: u32,
    /// Overall deadline of one client request. Default `120`; `1..=3600`.
    pub request_deadline_seconds: u64,
    /// Clamp for upstream `Retry-After` hints. Default `300`; `1..=86400`.
    pub retry_after_max_seconds: u64,
    /// Cooldown after 401/403 or `insufficient_quota`.
    /// Default `3600`; `1..=604800`.
    pub auth_failure_cooldown_seconds: u64,
    /// Largest share of accounts that may be cooled at once (unless all fail).
    /// Default `0.5`; `(0, 1]`.
    pub max_cooled_share: f64,
    /// An account also cools when at least this share of its outcomes in
    /// the last `failure_rate_window_seconds` failed. Default `0.5`; `(0, 1]`.
    pub failure_rate_threshold: f64,
    /// Fewest outcomes in the window for the failure rate to count.
    /// Default `10`; `1..=100000`.
    pub failure_rate_min_requests: u32,
    /// Length of the failure-rate window. Default `30`; `1..=3600`.
    pub failure_rate_window_seconds: u64,
    /// When every candidate account of a request is cooling because of
    /// server-side failures, still try the one whose cooldown ends first
    /// (one attempt, counted as its probe). Default `true`.
    pub panic_mode: bool,
}

impl Default for UpstreamResilience {
    fn default() -> Self {
        Self {
            max_buffered_attempts: 3,
            failure_threshold: 3,
            failure_cooldown_seconds: 10,
            failure_cooldown_max_seconds: 300,
            retry_backoff_milliseconds: 25,
            retry_backoff_max_milliseconds: 2_000,
            max_concurrent_upstream_requests: 64,
            permit_queue_timeout_milliseconds: 100,
            retry_budget_ratio: 0.2,
            retry_budget_min_per_second: 10,
            request_deadline_seconds: 120,
            retry_after_max_seconds: 300,
            auth_failure_cooldown_seconds: 3_600,
            max_cooled_share: 0.5,
            failure_rate_threshold: 0.5,
            failure_rate_min_requests: 10,
            failure_rate_window_seconds: 30,
            panic_mode: true,
        }
    }
}

/// `[usage]`: usage event recording (bounded, batched writer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Usage {
    /// Whether usage events are recorded. Default `true`.
    pub enabled: bool,
    /// Events buffered in memory before new ones are dropped.
    /// Default `10000`; `1..=10000000`.
    pub queue_capacity: u32,
    /// Events written per batch. Default `1024`; `1..=queue_capacity`.
    pub batch_size: u32,
    /// Longest wait before a partial batch is written.
    /// Default `500`; `1..=600000`.
    pub flush_interval_ms: u64,
    /// Days usage events are kept. Default `30`; `1..=36500`.
    pub retention_days: u32,
    /// Largest size of the usage journal (`<data_dir>/usage.journal*`): events
    /// not yet in the database, on disk so that a killed process loses none.
    /// When full, new events skip the journal (counted in
    /// `rook_usage_journal_dropped_total`) but are still queued. `0` turns the
    /// journal off. Default `67108864` (64 MiB); `0` or `65536..=17179869184`.
    pub journal_max_bytes: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_capacity: 10_000,
            batch_size: 1024,
            flush_interval_ms: 500,
            retention_days: 30,
            journal_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `[idempotency]`: replay of buffered chat completions sent with an
/// `Idempotency-Key` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Idempotency {
    /// Whether `Idempotency-Key` is honoured. Default `true`.
    pub enabled: bool,
    /// How long a stored response can be replayed. Default `86400` (24 h);
    /// `60..=604800`.
    pub replay_window_seconds: u64,
}

impl Default for Idempotency {
    fn default() -> Self {
        Self {
            enabled: true,
            replay_window_seconds: 86_400,
        }
    }
}

/// `[rate_limits]`: requests per minute (token buckets, per instance); `0` means
/// no limit. Per-account limits are `requests_per_minute` / `tokens_per_minute` on
/// each `[[accounts]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests per minute per principal (inbound token). Default `0` (none);
    /// at most `1000000`.
    pub principal_requests_per_minute: u32,
    /// Requests per minute per route (logical model). Default `0` (none); at
    /// most `1000000`.
    pub route_requests_per_minute: u32,
    /// Requests per minute per client address (the TCP peer, or the address a
    /// trusted proxy forwarded; see `[transport] trusted_proxies`). Default `0`
    /// (none); at most `1000000`.
    pub client_address_requests_per_minute: u32,
}

/// `[transport]`: which Host names the server answers to and which proxies'
/// forwarding headers it believes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transport {
    /// Host names (besides the bind address, loopback names and addresses, and
    /// any IP literal on an unspecified bind) a request's `Host` may carry;
    /// `*.example.com` matches any subdomain; `"*"` turns the Host check off.
    /// Anything else is answered 421. Default empty.
    pub allowed_hosts: Vec<String>,
    /// Proxies (CIDRs such as `10.0.0.0/8`, or single addresses) whose
    /// `X-Forwarded-For` / `Forwarded: for=` is believed for the client
    /// address. Default empty: the client address is the TCP peer.
    pub trusted_proxies: Vec<String>,
}

/// `[pricing."<model>"]`: price of one logical model, in US dollars per
/// million tokens. Both default to `0`; negative or non-finite is invalid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelPrice {
    /// Price per million input (prompt) tokens.
    pub input_usd_per_million: f64,
    /// Price per million output (completion) tokens.
    pub output_usd_per_million: f64,
}
