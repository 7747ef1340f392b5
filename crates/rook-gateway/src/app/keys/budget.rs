//! A key's budget on the request path: admission before the request, the cost
//! charged after it.
//!
//! Every instance counts the spend of the current period in memory (seeded from the
//! registry's usage events, charged when a request is recorded, re-read from a shared
//! registry every 30 s): that count decides on SQLite, and on PostgreSQL while the
//! database is unreachable. On PostgreSQL a request is admitted while this instance
//! holds some of the key's budget leased from the database (`crate::budgets`), so
//! the instances together spend at most the budget plus what each had in flight when
//! its share ran out.

use rook_config::entity::client_key::{format_utc, BudgetPeriod};
use rook_resilience::spend_lease::Period;

use super::{lock, Key, Spend};
use crate::budgets::Budget;
use crate::error::ApiError;

impl Key {
    pub(super) fn spend(&self, period: BudgetPeriod, now_ms: i64) -> f64 {
        let start = period.window(now_ms).start_ms;
        let s = lock(&self.rt.spend);
        if s.period_start_ms == start {
            s.usd
        } else {
            0.0
        }
    }

    /// Spend of the current period and the budget, if the key has one.
    pub(crate) fn budget_status(&self, now_ms: i64) -> Option<(f64, f64, BudgetPeriod)> {
        let (budget, period) = self.budget?;
        Some((self.spend(period, now_ms), budget, period))
    }

    /// The period holding `now_ms` (the store's clock) on the wall clock, as leases
    /// and usage events count it.
    fn wall_period(&self, period: BudgetPeriod, now_ms: i64) -> Period {
        let w = period.window(now_ms);
        Period {
            start_ms: w.start_ms.saturating_sub(self.clock_offset_ms),
            end_ms: w
                .resets_at_ms
                .map(|t| t.saturating_sub(self.clock_offset_ms)),
        }
    }

    /// Refuses the request when the budget of the current period is spent, by this
    /// instance's own count.
    pub(crate) fn check_budget(&self, now_ms: i64, clock_offset_ms: i64) -> Result<(), ApiError> {
        let Some((spent, budget, period)) = self.budget_status(now_ms) else {
            return Ok(());
        };
        if spent < budget {
            return Ok(());
        }
        Err(exceeded(budget, period, now_ms, clock_offset_ms))
    }

    /// Refuses the request when the budget of the current period is spent: by the
    /// leased share of the budget when budgets are shared (waiting for a lease on its
    /// way, see `crate::budgets`), else by this instance's own count.
    pub(crate) async fn admit_budget(
        &self,
        now_ms: i64,
        clock_offset_ms: i64,
    ) -> Result<(), ApiError> {
        let (Some((budget, period)), Some(shared)) = (self.budget, &self.budgets) else {
            return self.check_budget(now_ms, clock_offset_ms);
        };
        let wall = self.wall_period(period, now_ms);
        match shared.admit(&self.id, budget, wall).await {
            Budget::Admitted => Ok(()),
            Budget::Refused => Err(exceeded(budget, period, now_ms, clock_offset_ms)),
            Budget::Local => self.check_budget(now_ms, clock_offset_ms),
        }
    }

    /// Charges a finished request's cost to the period it finished in.
    pub(crate) fn charge(&self, usd: f64, now_ms: i64) {
        let Some((budget, period)) = self.budget else {
            return;
        };
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        if let Some(shared) = &self.budgets {
            shared.charge(&self.id, budget, self.wall_period(period, now_ms), usd);
        }
        let start = period.window(now_ms).start_ms;
        let mut s = lock(&self.rt.spend);
        if s.period_start_ms != start {
            *s = Spend {
                period_start_ms: start,
                usd: 0.0,
            };
        }
        s.usd += usd;
    }

    /// Charges a cost now (the store's clock).
    pub(crate) fn charge_now(&self, usd: f64) {
        self.charge(usd, crate::now_ms().saturating_add(self.clock_offset_ms));
    }
}

/// The 429 `budget_exceeded` of a key over `budget` per `period`.
fn exceeded(budget: f64, period: BudgetPeriod, now_ms: i64, clock_offset_ms: i64) -> ApiError {
    let when = match period.window(now_ms).resets_at_ms {
        Some(t) => format!("it resets at {}", format_utc(t - clock_offset_ms)),
        None => "the period is `total`: it never resets; raise the budget to continue".to_string(),
    };
    ApiError::KeyRefused {
        status: http::StatusCode::TOO_MANY_REQUESTS,
        message: format!(
            "The budget of this API key (${budget:.2} per {period}) is spent; {when}."
        ),
        kind: "insufficient_quota",
        code: "budget_exceeded",
        param: None,
        retry_after: None,
        class: "budget_exceeded",
    }
}
