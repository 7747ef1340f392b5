//! The crate's error type.

/// Errors of building a [`RoutingTable`](crate::RoutingTable) or resolving a
/// model. Every variant names the offending ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// No route exists for the requested logical model.
    #[error("no route for model `{model}`")]
    UnknownModel {
        /// The requested model.
        model: String,
    },
    /// Two accounts share an id.
    #[error("duplicate account id `{id}`")]
    DuplicateAccount {
        /// The repeated id.
        id: String,
    },
    /// Two pools share an id.
    #[error("duplicate pool id `{id}`")]
    DuplicatePool {
        /// The repeated id.
        id: String,
    },
    /// Two routes share a model name.
    #[error("duplicate route for model `{model}`")]
    DuplicateRoute {
        /// The repeated model name.
        model: String,
    },
    /// A pool lists the same account twice.
    #[error("pool `{pool}` lists account `{account}` more than once")]
    DuplicateMember {
        /// The pool.
        pool: String,
        /// The repeated member.
        account: String,
    },
    /// A pool lists an account that does not exist.
    #[error("pool `{pool}` references unknown account `{account}`")]
    UnknownAccount {
        /// The pool.
        pool: String,
        /// The missing account id.
        account: String,
    },
    /// A route references a pool that does not exist.
    #[error("route `{route}` references unknown pool `{pool}`")]
    UnknownPool {
        /// The route's model name.
        route: String,
        /// The missing pool id.
        pool: String,
    },
    /// A pool's `fallback_pool` does not exist.
    #[error("pool `{pool}` has unknown fallback_pool `{fallback_pool}`")]
    UnknownFallbackPool {
        /// The pool declaring the fallback.
        pool: String,
        /// The missing pool id.
        fallback_pool: String,
    },
    /// A route's `fallback_route` does not exist.
    #[error("route `{route}` has unknown fallback_route `{fallback_route}`")]
    UnknownFallbackRoute {
        /// The route's model name.
        route: String,
        /// The missing model name.
        fallback_route: String,
    },
    /// `fallback_pool` links form a cycle (a pool falling back to itself
    /// included).
    #[error("fallback_pool cycle: {}", cycle_text(.pools))]
    FallbackPoolCycle {
        /// The pools on the cycle, in link order, starting from the first
        /// declared one.
        pools: Vec<String>,
    },
    /// `fallback_route` links form a cycle (a route falling back to itself
    /// included).
    #[error("fallback_route cycle: {}", cycle_text(.routes))]
    FallbackRouteCycle {
        /// The routes (model names) on the cycle, in link order, starting from
        /// the first declared one.
        routes: Vec<String>,
    },
}

/// `a -> b -> a`
fn cycle_text(ids: &[String]) -> String {
    let mut text = ids.join(" -> ");
    if let Some(first) = ids.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_messages_close_the_loop() {
        let err = RoutingError::FallbackPoolCycle {
            pools: vec!["a".into(), "b".into()],
        };
        assert_eq!(err.to_string(), "fallback_pool cycle: a -> b -> a");
        let err = RoutingError::FallbackRouteCycle {
            routes: vec!["m".into()],
        };
        assert_eq!(err.to_string(), "fallback_route cycle: m -> m");
    }
}
