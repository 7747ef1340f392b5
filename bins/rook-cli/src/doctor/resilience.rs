//! The `resilience` check: retry amplification and budget settings.

use rook_gateway::rook_config::Config;

use super::{Check, Status};

/// Attempts the OpenAI SDKs make per call (1 + 2 retries).
pub(super) const SDK_ATTEMPTS: u64 = 3;

pub(super) fn check_resilience(config: &Config) -> Check {
    let r = &config.upstream_resilience;
    let amplification = u64::from(r.max_buffered_attempts) * SDK_ATTEMPTS;
    let mut issues = Vec::new();
    let mut guidance = Vec::new();
    if amplification > 10 {
        issues.push(format!(
            "one client call can become {amplification} upstream requests ({} attempts x {SDK_ATTEMPTS} SDK tries)",
            r.max_buffered_attempts
        ));
        guidance.push("lower upstream_resilience.max_buffered_attempts to 3 or less".to_string());
    }
    if r.retry_budget_ratio > 0.5 {
        issues.push(format!(
            "retry_budget_ratio {} lets retries exceed half of the traffic",
            r.retry_budget_ratio
        ));
        guidance.push("keep retry_budget_ratio at or below 0.2 (Envoy, Linkerd)".to_string());
    }
    let backoff_total_ms = r
        .retry_backoff_max_milliseconds
        .saturating_mul(u64::from(r.max_buffered_attempts.saturating_sub(1)));
    let deadline_ms = r.request_deadline_seconds.saturating_mul(1000);
    if backoff_total_ms >= deadline_ms {
        issues.push(format!(
            "worst-case backoff ({backoff_total_ms} ms) uses the whole request deadline ({deadline_ms} ms)"
        ));
        guidance.push(
            "lower retry_backoff_max_milliseconds or raise request_deadline_seconds".to_string(),
        );
    }
    if r.permit_queue_timeout_milliseconds >= deadline_ms {
        issues.push(
            "permit_queue_timeout_milliseconds is not below the request deadline".to_string(),
        );
        guidance.push("keep permit waits short (the default is 100 ms)".to_string());
    }
    if u64::from(r.retry_budget_min_per_second) > u64::from(r.max_concurrent_upstream_requests) {
        issues.push(format!(
            "the retry floor ({} / s) exceeds the concurrency limit ({})",
            r.retry_budget_min_per_second, r.max_concurrent_upstream_requests
        ));
        guidance.push("lower retry_budget_min_per_second".to_string());
    }
    if r.failure_cooldown_max_seconds < r.retry_after_max_seconds.min(r.failure_cooldown_seconds) {
        issues.push("failure_cooldown_max_seconds is below the base cooldown".to_string());
    }
    let check = if issues.is_empty() {
        Check::new(
            "resilience",
            Status::Pass,
            format!(
                "at most {amplification} upstream requests per client call; retry budget {}",
                r.retry_budget_ratio
            ),
        )
    } else {
        Check::new("resilience", Status::Warn, issues.join("; ")).guidance(guidance.join("; "))
    };
    check
        .detail("max_buffered_attempts", r.max_buffered_attempts)
        .detail("worst_case_upstream_requests_per_call", amplification)
        .detail("retry_budget_ratio", r.retry_budget_ratio)
        .detail("retry_budget_min_per_second", r.retry_budget_min_per_second)
        .detail("failure_cooldown_seconds", r.failure_cooldown_seconds)
        .detail(
            "failure_cooldown_max_seconds",
            r.failure_cooldown_max_seconds,
        )
        .detail("request_deadline_seconds", r.request_deadline_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resilience_amplification_warns() {
        let mut config = Config::default();
        assert_eq!(check_resilience(&config).status, Status::Pass);
        config.upstream_resilience.max_buffered_attempts = 4;
        let c = check_resilience(&config);
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("12 upstream requests"));
        let mut config = Config::default();
        config.upstream_resilience.retry_budget_ratio = 0.8;
        assert_eq!(check_resilience(&config).status, Status::Warn);
    }
}
