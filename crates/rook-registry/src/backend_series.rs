// Usage time series, included by `backend.rs` once per backend after `backend_impl.rs`
// (so `Conn` is in scope). Sums are cast to BIGINT: PostgreSQL sums BIGINT as NUMERIC.

pub(crate) mod series {
    use sqlx::Row as _;

    use super::Conn;
    use crate::backend::to_u64;
    use crate::error::Result;
    use crate::series::{SeriesGroup, SeriesRow};

    /// One row per non-empty (bucket, group) of `[since_ms, until_ms)`.
    pub(crate) async fn rows(
        c: &mut Conn,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
        group: SeriesGroup,
    ) -> Result<Vec<SeriesRow>> {
        let sql = format!(
            "SELECT ts_ms / $3 AS bucket, {key} AS group_key, \
             COUNT(*) AS requests, \
             CAST(SUM(CASE WHEN outcome = 'success' THEN 0 ELSE 1 END) AS BIGINT) AS failed, \
             CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt, \
             CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion, \
             CAST(COALESCE(SUM(COALESCE(total_tokens, \
                 COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0))), 0) AS BIGINT) \
                 AS total, \
             CAST(COALESCE(SUM(cost_usd), 0.0) AS DOUBLE PRECISION) AS cost, \
             CAST(SUM(latency_ms) AS BIGINT) AS latency_sum, \
             CAST(MAX(latency_ms) AS BIGINT) AS latency_max \
             FROM usage_events WHERE ts_ms >= $1 AND ts_ms < $2 \
             GROUP BY ts_ms / $3, {key} ORDER BY bucket, group_key",
            key = group.sql()
        );
        let rows = sqlx::query(&sql)
            .bind(since_ms)
            .bind(until_ms)
            .bind(bucket_ms)
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SeriesRow {
                    bucket: r.try_get("bucket")?,
                    key: r.try_get("group_key")?,
                    requests: to_u64(r.try_get("requests")?),
                    failed_requests: to_u64(r.try_get("failed")?),
                    prompt_tokens: to_u64(r.try_get("prompt")?),
                    completion_tokens: to_u64(r.try_get("completion")?),
                    total_tokens: to_u64(r.try_get("total")?),
                    cost_usd: r.try_get("cost")?,
                    latency_sum_ms: to_u64(r.try_get("latency_sum")?),
                    latency_max_ms: to_u64(r.try_get("latency_max")?),
                })
            })
            .collect()
    }
}
