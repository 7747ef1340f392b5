//! Usage time series, aggregated by the database (see [`crate::series`]).

use super::{Db, Registry};
use crate::error::{RegistryError, Result};
use crate::series::{build, SeriesGroup, TimeSeries};

impl Registry {
    /// Usage over `[since_ms, until_ms)` in buckets of `bucket_ms` (positive), one series
    /// per `group_by` key, summed by the database.
    pub async fn usage_timeseries(
        &self,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
        group_by: SeriesGroup,
    ) -> Result<TimeSeries> {
        if bucket_ms <= 0 {
            return Err(RegistryError::invalid("the bucket width must be positive"));
        }
        let rows = with_conn!(self, |c, m| m::series::rows(
            c, since_ms, until_ms, bucket_ms, group_by
        )
        .await)?;
        Ok(build(&rows, since_ms, until_ms, bucket_ms, group_by))
    }
}
