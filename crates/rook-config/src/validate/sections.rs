//! Rules on the sections: auth, secrets, limits, the upstream client, resilience,
//! usage, idempotency, transport and pricing.

use super::*;

impl Config {
    pub(super) fn check_sections(&self, c: &mut Checker) {
        let ia = &self.inbound_auth;
        if let Some(var) = &ia.bearer_token_env {
            c.env_name("inbound_auth.bearer_token_env", var);
        }
        if let Some(path) = &ia.bearer_token_file {
            c.file_path("inbound_auth.bearer_token_file", path);
        }
        if ia.bearer_token_env.is_some() && ia.bearer_token_file.is_some() {
            c.push(
                "inbound_auth",
                "set only one of bearer_token_env and bearer_token_file",
            );
        }

        let aa = &self.admin_auth;
        if let Some(var) = &aa.bearer_token_env {
            c.env_name("admin_auth.bearer_token_env", var);
        }
        if let Some(path) = &aa.bearer_token_file {
            c.file_path("admin_auth.bearer_token_file", path);
        }
        if aa.bearer_token_env.is_some() && aa.bearer_token_file.is_some() {
            c.push(
                "admin_auth",
                "set only one of bearer_token_env and bearer_token_file",
            );
        }

        let sk = &self.secrets;
        if let Some(var) = &sk.master_key_env {
            c.env_name("secrets.master_key_env", var);
        }
        if let Some(path) = &sk.master_key_file {
            c.file_path("secrets.master_key_file", path);
        }
        if sk.master_key_env.is_some() && sk.master_key_file.is_some() {
            c.push(
                "secrets",
                "set only one of master_key_env and master_key_file",
            );
        }

        let l = &self.limits;
        c.range_u64(
            "limits.max_request_body_bytes",
            l.max_request_body_bytes,
            1,
            1 << 30,
        );
        c.range_u64(
            "limits.max_header_bytes",
            l.max_header_bytes,
            8_192,
            1 << 24,
        );
        c.range_u64(
            "limits.header_read_timeout_ms",
            l.header_read_timeout_ms,
            1,
            600_000,
        );
        c.range_u64("limits.max_headers", u64::from(l.max_headers), 1, 10_000);
        c.range_u64(
            "limits.max_upstream_response_bytes",
            l.max_upstream_response_bytes,
            1_024,
            1 << 32,
        );
        c.range_u64(
            "limits.buffered_response_budget_bytes",
            l.buffered_response_budget_bytes,
            l.max_upstream_response_bytes,
            1 << 40,
        );

        let u = &self.upstream;
        c.range_u64(
            "upstream.connect_timeout_ms",
            u.connect_timeout_ms,
            1,
            600_000,
        );
        c.range_u64(
            "upstream.first_byte_timeout_ms",
            u.first_byte_timeout_ms,
            1,
            3_600_000,
        );
        c.range_u64(
            "upstream.stream_idle_timeout_ms",
            u.stream_idle_timeout_ms,
            1,
            3_600_000,
        );
        c.range_u64(
            "upstream.pool_idle_timeout_seconds",
            u.pool_idle_timeout_seconds,
            1,
            3_600,
        );
        c.range_u64(
            "upstream.pool_max_idle_per_host",
            u64::from(u.pool_max_idle_per_host),
            0,
            100_000,
        );
        if let Err(e) = u.egress_policy() {
            c.push(format!("upstream.allowed_egress[{}]", e.index), e.message);
        }

        let r = &self.upstream_resilience;
        let k = |name: &str| format!("upstream_resilience.{name}");
        c.range_u64(
            &k("max_buffered_attempts"),
            u64::from(r.max_buffered_attempts),
            1,
            10,
        );
        c.range_u64(
            &k("failure_threshold"),
            u64::from(r.failure_threshold),
            1,
            100,
        );
        c.range_u64(
            &k("failure_cooldown_seconds"),
            r.failure_cooldown_seconds,
            1,
            86_400,
        );
        c.range_u64(
            &k("failure_cooldown_max_seconds"),
            r.failure_cooldown_max_seconds,
            1,
            86_400,
        );
        if r.failure_cooldown_max_seconds < r.failure_cooldown_seconds {
            c.push(
                k("failure_cooldown_max_seconds"),
                format!(
                    "must be at least failure_cooldown_seconds ({}), got {}",
                    r.failure_cooldown_seconds, r.failure_cooldown_max_seconds
                ),
            );
        }
        c.range_u64(
            &k("retry_backoff_milliseconds"),
            r.retry_backoff_milliseconds,
            1,
            60_000,
        );
        c.range_u64(
            &k("retry_backoff_max_milliseconds"),
            r.retry_backoff_max_milliseconds,
            1,
            60_000,
        );
        if r.retry_backoff_max_milliseconds < r.retry_backoff_milliseconds {
            c.push(
                k("retry_backoff_max_milliseconds"),
                format!(
                    "must be at least retry_backoff_milliseconds ({}), got {}",
                    r.retry_backoff_milliseconds, r.retry_backoff_max_milliseconds
                ),
            );
        }
        c.range_u64(
            &k("max_concurrent_upstream_requests"),
            u64::from(r.max_concurrent_upstream_requests),
            1,
            100_000,
        );
        c.range_u64(
            &k("permit_queue_timeout_milliseconds"),
            r.permit_queue_timeout_milliseconds,
            1,
            60_000,
        );
        c.unit_interval(&k("retry_budget_ratio"), r.retry_budget_ratio);
        c.range_u64(
            &k("retry_budget_min_per_second"),
            u64::from(r.retry_budget_min_per_second),
            1,
            100_000,
        );
        c.range_u64(
            &k("request_deadline_seconds"),
            r.request_deadline_seconds,
            1,
            3_600,
        );
        c.range_u64(
            &k("retry_after_max_seconds"),
            r.retry_after_max_seconds,
            1,
            86_400,
        );
        c.range_u64(
            &k("auth_failure_cooldown_seconds"),
            r.auth_failure_cooldown_seconds,
            1,
            604_800,
        );
        c.unit_interval(&k("max_cooled_share"), r.max_cooled_share);
        c.unit_interval(&k("failure_rate_threshold"), r.failure_rate_threshold);
        c.range_u64(
            &k("failure_rate_min_requests"),
            u64::from(r.failure_rate_min_requests),
            1,
            100_000,
        );
        c.range_u64(
            &k("failure_rate_window_seconds"),
            r.failure_rate_window_seconds,
            1,
            3_600,
        );

        let us = &self.usage;
        c.range_u64(
            "usage.queue_capacity",
            u64::from(us.queue_capacity),
            1,
            10_000_000,
        );
        c.range_u64(
            "usage.batch_size",
            u64::from(us.batch_size),
            1,
            u64::from(us.queue_capacity.max(1)),
        );
        c.range_u64("usage.flush_interval_ms", us.flush_interval_ms, 1, 600_000);
        c.range_u64(
            "usage.retention_days",
            u64::from(us.retention_days),
            1,
            36_500,
        );
        if us.journal_max_bytes != 0 {
            c.range_u64(
                "usage.journal_max_bytes",
                us.journal_max_bytes,
                65_536,
                16 * 1024 * 1024 * 1024,
            );
        }
    }

    pub(super) fn check_limits(&self, c: &mut Checker) {
        c.range_u64(
            "idempotency.replay_window_seconds",
            self.idempotency.replay_window_seconds,
            60,
            604_800,
        );
        c.range_u64(
            "rate_limits.principal_requests_per_minute",
            u64::from(self.rate_limits.principal_requests_per_minute),
            0,
            1_000_000,
        );
        c.range_u64(
            "rate_limits.route_requests_per_minute",
            u64::from(self.rate_limits.route_requests_per_minute),
            0,
            1_000_000,
        );
        c.range_u64(
            "rate_limits.client_address_requests_per_minute",
            u64::from(self.rate_limits.client_address_requests_per_minute),
            0,
            1_000_000,
        );
    }

    pub(super) fn check_transport(&self, c: &mut Checker) {
        if let Some(dir) = &self.data_dir {
            c.file_path("data_dir", dir);
        }
        for (i, host) in self.transport.allowed_hosts.iter().enumerate() {
            if let Err(message) = check_host_pattern(host) {
                c.push(format!("transport.allowed_hosts[{i}]"), message);
            }
        }
        for (i, cidr) in self.transport.trusted_proxies.iter().enumerate() {
            if let Err(message) = parse_cidr(cidr) {
                c.push(format!("transport.trusted_proxies[{i}]"), message);
            }
        }
    }

    pub(super) fn check_pricing(&self, c: &mut Checker) {
        for (model, price) in &self.pricing {
            let key = format!("pricing.{model:?}");
            if model.trim().is_empty() {
                c.push(&key, "model name must not be empty");
            }
            for (field, value) in [
                ("input_usd_per_million", price.input_usd_per_million),
                ("output_usd_per_million", price.output_usd_per_million),
            ] {
                if !value.is_finite() || value < 0.0 {
                    c.push(
                        format!("{key}.{field}"),
                        format!("must be a finite number >= 0, got {value}"),
                    );
                }
            }
        }
    }
}
