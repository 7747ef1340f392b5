//! Rules on the declared accounts, pools and routes, their references and
//! fallback cycles.

use super::*;

impl Config {
    pub(super) fn check_accounts(&self, c: &mut Checker) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        // A bad allowed_egress is reported with the upstream section.
        let egress = self.upstream.egress_policy();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = account_key(i, a);
            let api_key_file = a.api_key_file.as_deref().map(Path::to_string_lossy);
            c.entity(
                &key,
                entity::check_account(&AccountRef {
                    id: &a.id,
                    vendor: a.vendor.as_str(),
                    base_url: a.base_url.as_deref(),
                    api_key_env: a.api_key_env.as_deref(),
                    api_key_file: api_key_file.as_deref(),
                    weight: a.weight,
                    models: &a.models,
                    protocol: a.protocol.map(|p| p.as_str()),
                    anthropic_version: a.anthropic_version.as_deref(),
                    default_max_tokens: a.default_max_tokens,
                }),
            );
            // A malformed URL is reported by check_account alone.
            if let (Ok(policy), Some(url)) = (&egress, a.effective_base_url()) {
                if entity::check_base_url(&url).is_ok() {
                    c.entity(&key, entity::check_egress(policy, &url).err());
                }
            }
            if let Some(first) = seen.insert(a.id.as_str(), i) {
                c.push(
                    format!("{key}.id"),
                    format!("duplicate account id, first used by accounts[{first}]"),
                );
                seen.insert(a.id.as_str(), first);
            }
            if a.priority < 0 {
                c.push(
                    format!("{key}.priority"),
                    format!(
                        "must be 0 or more (lower is tried first), got {}",
                        a.priority
                    ),
                );
            }
            if let Some(rpm) = a.requests_per_minute {
                c.range_u64(
                    &format!("{key}.requests_per_minute"),
                    u64::from(rpm),
                    1,
                    1_000_000,
                );
            }
            if let Some(tpm) = a.tokens_per_minute {
                c.range_u64(
                    &format!("{key}.tokens_per_minute"),
                    u64::from(tpm),
                    1,
                    1_000_000_000,
                );
            }
        }
    }

    pub(super) fn check_pools(&self, c: &mut Checker) {
        let accounts: HashSet<&str> = self.accounts.iter().map(|a| a.id.as_str()).collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, p) in self.pools.iter().enumerate() {
            let key = pool_key(i, p);
            let pool = PoolRef {
                id: &p.id,
                strategy: p.strategy.as_str(),
                members: &p.members,
                fallback_pool: p.fallback_pool.as_deref(),
            };
            // A self-fallback is reported as a fallback cycle below.
            c.entity(&key, entity::check_pool_fields(&pool));
            c.entity(&key, entity::check_has_members(&p.members).err());
            if let Some(&first) = index.get(p.id.as_str()) {
                c.push(
                    format!("{key}.id"),
                    format!("duplicate pool id, first used by pools[{first}]"),
                );
            } else {
                index.insert(p.id.as_str(), i);
            }
        }
        for (i, p) in self.pools.iter().enumerate() {
            let pool = PoolRef {
                id: &p.id,
                strategy: p.strategy.as_str(),
                members: &p.members,
                fallback_pool: p.fallback_pool.as_deref(),
            };
            c.entity(
                &pool_key(i, p),
                entity::check_pool_references(
                    &pool,
                    |a| accounts.contains(a),
                    |q| index.contains_key(q),
                ),
            );
        }
        let entries: Vec<FallbackEntry<'_>> = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| FallbackEntry {
                key: pool_key(i, p),
                name: p.id.as_str(),
                fallback: p.fallback_pool.as_deref(),
            })
            .collect();
        check_cycles(c, &entries, |n| index.get(n).copied(), "fallback_pool");
    }

    pub(super) fn check_routes(&self, c: &mut Checker) {
        let pools: HashSet<&str> = self.pools.iter().map(|p| p.id.as_str()).collect();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = route_key(i, r);
            let route = RouteRef {
                model: &r.model,
                pool: &r.pool,
                fallback_route: r.fallback_route.as_deref(),
            };
            // A self-fallback is reported as a fallback cycle below.
            c.entity(&key, entity::check_route_fields(&route));
            if let Some(&first) = index.get(r.model.as_str()) {
                c.push(
                    format!("{key}.model"),
                    format!("duplicate route, first declared by routes[{first}]"),
                );
            } else {
                index.insert(r.model.as_str(), i);
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let route = RouteRef {
                model: &r.model,
                pool: &r.pool,
                fallback_route: r.fallback_route.as_deref(),
            };
            c.entity(
                &route_key(i, r),
                entity::check_route_references(
                    &route,
                    |p| pools.contains(p),
                    |m| index.contains_key(m),
                ),
            );
        }
        let entries: Vec<FallbackEntry<'_>> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| FallbackEntry {
                key: route_key(i, r),
                name: r.model.as_str(),
                fallback: r.fallback_route.as_deref(),
            })
            .collect();
        check_cycles(c, &entries, |n| index.get(n).copied(), "fallback_route");
    }
}

/// A pool or route as far as its fallback is concerned.
pub(super) struct FallbackEntry<'a> {
    /// Where it is in the file (`pools[0] (id "p")`).
    key: String,
    /// Its id (pool) or model (route).
    name: &'a str,
    /// What it falls back to.
    fallback: Option<&'a str>,
}

/// Reports each fallback cycle once, at its first entry.
pub(super) fn check_cycles(
    c: &mut Checker,
    entries: &[FallbackEntry<'_>],
    index: impl Fn(&str) -> Option<usize>,
    field: &str,
) {
    let next: Vec<Option<usize>> = entries
        .iter()
        .map(|e| e.fallback.and_then(&index))
        .collect();
    for cycle in fallback_cycles(&next) {
        let names: Vec<&str> = cycle
            .iter()
            .filter_map(|&i| entries.get(i).map(|e| e.name))
            .collect();
        let (Some(&start), Some(first)) = (cycle.first(), names.first()) else {
            continue;
        };
        let Some(entry) = entries.get(start) else {
            continue;
        };
        c.push(
            format!("{}.{field}", entry.key),
            format!("fallback cycle: {} -> {first}", names.join(" -> ")),
        );
    }
}
