//! Input types: the declarative description of accounts, pools and routes.

use std::fmt;
use std::str::FromStr;

/// Index of an account in the `Vec<AccountSpec>` given to
/// [`RoutingTable::new`](crate::RoutingTable::new).
///
/// The gateway keeps a parallel `Vec` of runtime state (cooldowns, in-flight
/// counters, clients) in the same order, so an `AccountIdx` indexes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountIdx(pub usize);

impl fmt::Display for AccountIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One upstream account, as far as routing cares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountSpec {
    /// Unique account id (the `id` key of an `[[accounts]]` entry).
    pub id: String,
    /// Disabled accounts are never returned by
    /// [`RoutingTable::resolve`](crate::RoutingTable::resolve), not even as
    /// unavailable.
    pub enabled: bool,
    /// Relative weight for the `weighted` strategy (config default 1).
    /// A weight of 0 means "last resort": the member is never the weighted
    /// pick while a member with a positive weight is available.
    pub weight: u32,
    /// Order for the `priority` / `failover` strategies: lower values come
    /// first (config default 0).
    pub priority: u32,
}

impl AccountSpec {
    /// An enabled account with the config defaults: weight 1, priority 0.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            enabled: true,
            weight: 1,
            priority: 0,
        }
    }

    /// Sets [`weight`](Self::weight).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets [`priority`](Self::priority).
    #[must_use]
    pub fn with_priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets [`enabled`](Self::enabled).
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// How a pool orders its available members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Ascending account `priority`, ties by member order.
    Priority,
    /// Currently a synonym of [`Strategy::Priority`]: ascending account
    /// `priority`, ties by member order, so the first member is used until it
    /// cools and the next one takes over.
    Failover,
    /// Rotates the available members with a per-pool cursor that advances once
    /// per resolution, so consecutive requests spread evenly.
    RoundRobin,
    /// Smooth weighted round robin (nginx style): the first candidate is the
    /// weighted pick, the rest follow by descending weight. Shares converge to
    /// the weights.
    Weighted,
    /// Ascending in-flight requests (as reported by the
    /// [`AvailabilityView`](crate::AvailabilityView)), ties broken by a
    /// rotating cursor so equal load spreads.
    LeastBusy,
}

impl Strategy {
    /// Every strategy, in declaration order.
    pub const ALL: [Strategy; 5] = [
        Strategy::Priority,
        Strategy::Failover,
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::LeastBusy,
    ];

    /// The snake_case name used in the configuration file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Failover => "failover",
            Strategy::RoundRobin => "round_robin",
            Strategy::Weighted => "weighted",
            Strategy::LeastBusy => "least_busy",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Strategy`] from an unknown name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown pool strategy `{value}` (expected one of: priority, failover, round_robin, weighted, least_busy)"
)]
pub struct ParseStrategyError {
    /// The rejected input.
    pub value: String,
}

impl FromStr for Strategy {
    type Err = ParseStrategyError;

    /// Parses the exact snake_case names returned by [`Strategy::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| ParseStrategyError {
                value: s.to_owned(),
            })
    }
}

/// A pool: an ordered set of accounts with a selection strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolSpec {
    /// Unique pool id.
    pub id: String,
    /// How the pool orders its available members.
    pub strategy: Strategy,
    /// Account ids, in member order (the tie-breaker of several strategies).
    pub members: Vec<String>,
    /// Pool whose members follow this pool's members (recursively).
    pub fallback_pool: Option<String>,
}

impl PoolSpec {
    /// A pool without a fallback pool.
    pub fn new<I, S>(id: impl Into<String>, strategy: Strategy, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            id: id.into(),
            strategy,
            members: members.into_iter().map(Into::into).collect(),
            fallback_pool: None,
        }
    }

    /// Sets [`fallback_pool`](Self::fallback_pool).
    #[must_use]
    pub fn with_fallback_pool(mut self, pool: impl Into<String>) -> Self {
        self.fallback_pool = Some(pool.into());
        self
    }
}

/// A route: maps a logical model name to a pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// The logical model clients ask for (unique).
    pub model: String,
    /// The pool serving this model.
    pub pool: String,
    /// Model name of another route whose candidates follow this route's pool
    /// chain (recursively).
    pub fallback_route: Option<String>,
}

impl RouteSpec {
    /// A route without a fallback route.
    pub fn new(model: impl Into<String>, pool: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            pool: pool.into(),
            fallback_route: None,
        }
    }

    /// Sets [`fallback_route`](Self::fallback_route).
    #[must_use]
    pub fn with_fallback_route(mut self, model: impl Into<String>) -> Self {
        self.fallback_route = Some(model.into());
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn strategy_names_round_trip() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.as_str().parse::<Strategy>().unwrap(), strategy);
            assert_eq!(strategy.to_string(), strategy.as_str());
        }
    }

    #[test]
    fn strategy_rejects_unknown_names() {
        let err = "RoundRobin".parse::<Strategy>().unwrap_err();
        assert_eq!(err.value, "RoundRobin");
        assert!(err.to_string().contains("round_robin"));
        assert!("".parse::<Strategy>().is_err());
    }

    #[test]
    fn builders_use_config_defaults() {
        let a = AccountSpec::new("a");
        assert!(a.enabled);
        assert_eq!((a.weight, a.priority), (1, 0));
        let p = PoolSpec::new("p", Strategy::Weighted, ["a", "b"]).with_fallback_pool("q");
        assert_eq!(p.members, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(p.fallback_pool.as_deref(), Some("q"));
        let r = RouteSpec::new("m", "p").with_fallback_route("n");
        assert_eq!(r.fallback_route.as_deref(), Some("n"));
    }
}
