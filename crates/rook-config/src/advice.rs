//! Advice: configurations that are valid but probably not what was meant.
//!
//! Unlike [`Config::validate`], advice never fails a start; the loader
//! returns it among [`Loaded::warnings`](crate::Loaded::warnings) and
//! `rook-cli config validate` and `doctor` show it as warnings.
//!
//! The one rule so far: **mixed-vendor model names**. OpenRouter names
//! models `vendor/model` (`openai/gpt-4o`) while the other vendors take bare
//! names (`gpt-4o`). A route whose pool (or a fallback pool of it) mixes the
//! two kinds sends the same logical name to both, so an account without a
//! `models` entry for the route's model receives a name its vendor does not
//! know.

use std::collections::HashSet;

use crate::model::{AccountConfig, Config, Vendor};
use crate::validate::Problem;

/// How a vendor names models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Naming {
    /// `vendor/model` (OpenRouter).
    Prefixed,
    /// `model` (OpenAI, Anthropic, Google, DeepSeek).
    Bare,
}

/// `None` for `custom`: an OpenAI-compatible server may name models either way.
fn naming(vendor: Vendor) -> Option<Naming> {
    match vendor {
        Vendor::OpenRouter => Some(Naming::Prefixed),
        Vendor::OpenAi | Vendor::Anthropic | Vendor::Google | Vendor::DeepSeek => {
            Some(Naming::Bare)
        }
        Vendor::Custom => None,
    }
}

/// OpenRouter's prefix for a vendor's models.
fn openrouter_prefix(vendor: Vendor) -> Option<&'static str> {
    match vendor {
        Vendor::OpenAi => Some("openai"),
        Vendor::Anthropic => Some("anthropic"),
        Vendor::Google => Some("google"),
        Vendor::DeepSeek => Some("deepseek"),
        Vendor::OpenRouter | Vendor::Custom => None,
    }
}

/// The OpenRouter name of a bare model name: by the model's family, else by
/// the one bare-name vendor of the pool, else `VENDOR/<model>` for the
/// operator to fill in.
fn prefixed_name(model: &str, bare_vendors: &[Vendor]) -> String {
    let lower = model.to_ascii_lowercase();
    let by_family = [
        ("gpt-", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("chatgpt", "openai"),
        ("text-embedding", "openai"),
        ("claude", "anthropic"),
        ("gemini", "google"),
        ("gemma", "google"),
        ("deepseek", "deepseek"),
    ]
    .into_iter()
    .find(|(family, _)| lower.starts_with(family))
    .map(|(_, prefix)| prefix);
    let by_pool = match bare_vendors {
        [one] => openrouter_prefix(*one),
        _ => None,
    };
    match by_family.or(by_pool) {
        Some(prefix) => format!("{prefix}/{model}"),
        None => format!("VENDOR/{model}"),
    }
}

impl Config {
    /// Warnings about a valid configuration (see the module documentation
    /// of `advice`): each names its route, account and the fix. Pure.
    ///
    /// ```
    /// let config = rook_config::Config::from_toml_str(r#"
    ///     [[accounts]]
    ///     id = "oai"
    ///     vendor = "open_ai"
    ///     [[accounts]]
    ///     id = "or"
    ///     vendor = "open_router"
    ///     [[pools]]
    ///     id = "p"
    ///     strategy = "failover"
    ///     members = ["oai", "or"]
    ///     [[routes]]
    ///     model = "gpt-4o"
    ///     pool = "p"
    /// "#)?;
    /// let advice = config.advice();
    /// assert_eq!(advice.len(), 1);
    /// assert!(advice[0].message.contains(r#"models = { "gpt-4o" = "openai/gpt-4o" }"#));
    /// # Ok::<(), rook_config::ConfigError>(())
    /// ```
    pub fn advice(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            let accounts = self.route_accounts(&route.pool);
            let kinds: HashSet<Naming> = accounts.iter().filter_map(|a| naming(a.vendor)).collect();
            if kinds.len() < 2 {
                continue;
            }
            let mut bare_vendors: Vec<Vendor> = Vec::new();
            for a in &accounts {
                if naming(a.vendor) == Some(Naming::Bare) && !bare_vendors.contains(&a.vendor) {
                    bare_vendors.push(a.vendor);
                }
            }
            let model = route.model.as_str();
            for a in &accounts {
                if a.models.contains_key(model) {
                    continue;
                }
                let suggested = match naming(a.vendor) {
                    Some(Naming::Prefixed) if !model.contains('/') => {
                        prefixed_name(model, &bare_vendors)
                    }
                    Some(Naming::Bare) => match model.split_once('/') {
                        Some((_, bare)) if !bare.is_empty() => bare.to_owned(),
                        _ => continue,
                    },
                    _ => continue,
                };
                let expects = match naming(a.vendor) {
                    Some(Naming::Prefixed) => "`vendor/model` names",
                    _ => "bare model names",
                };
                out.push(Problem::new(
                    format!("routes[{i}] (model {model:?})"),
                    format!(
                        "account {:?} ({}) has no `models` entry for {model:?} and would receive \
                         `{model}`, but {} expects {expects} and this route's pools mix vendors; \
                         add models = {{ {model:?} = {suggested:?} }} to account {:?}",
                        a.id, a.vendor, a.vendor, a.id
                    ),
                ));
            }
        }
        out
    }

    /// The accounts of a pool and of its fallback pools, each once, in order.
    fn route_accounts(&self, pool: &str) -> Vec<&AccountConfig> {
        let mut seen_pools: HashSet<&str> = HashSet::new();
        let mut seen_accounts: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        let mut next = Some(pool);
        while let Some(id) = next {
            if !seen_pools.insert(id) {
                break;
            }
            let Some(p) = self.pool(id) else {
                break;
            };
            for member in &p.members {
                if let Some(a) = self.account(member) {
                    if seen_accounts.insert(a.id.as_str()) {
                        out.push(a);
                    }
                }
            }
            next = p.fallback_pool.as_deref();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PoolConfig, RouteConfig, Strategy};

    /// (id, vendor, one `models` entry)
    type Account<'a> = (&'a str, Vendor, Option<(&'a str, &'a str)>);
    /// (id, members, fallback pool)
    type Pool<'a> = (&'a str, &'a [&'a str], Option<&'a str>);
    /// (accounts, pools, route model, expected (account, suggested name) per warning)
    type Case<'a> = (
        &'a [Account<'a>],
        &'a [Pool<'a>],
        &'a str,
        &'a [(&'a str, &'a str)],
    );

    fn config(
        accounts: &[Account<'_>],
        pools: &[(&str, &[&str], Option<&str>)],
        model: &str,
    ) -> Config {
        let mut c = Config::default();
        for (id, vendor, map) in accounts {
            let mut a = AccountConfig::new(*id, *vendor);
            if let Some((k, v)) = map {
                a.models.insert((*k).to_owned(), (*v).to_owned());
            }
            c.accounts.push(a);
        }
        for (id, members, fallback) in pools {
            c.pools.push(PoolConfig {
                id: (*id).to_owned(),
                strategy: Strategy::Failover,
                members: members.iter().map(|m| (*m).to_owned()).collect(),
                fallback_pool: fallback.map(str::to_owned),
            });
        }
        c.routes.push(RouteConfig {
            model: model.to_owned(),
            pool: "p".to_owned(),
            fallback_route: None,
        });
        c
    }

    #[test]
    fn mixed_vendor_model_names() {
        use Vendor::*;
        let table: &[Case<'_>] = &[
            // The measured case: OpenRouter next to OpenAI, no map.
            (
                &[("oai", OpenAi, None), ("or", OpenRouter, None)],
                &[("p", &["oai", "or"], None)],
                "gpt-4o",
                &[("or", "openai/gpt-4o")],
            ),
            // Mapped: nothing to say.
            (
                &[
                    ("oai", OpenAi, None),
                    ("or", OpenRouter, Some(("gpt-4o", "openai/gpt-4o"))),
                ],
                &[("p", &["oai", "or"], None)],
                "gpt-4o",
                &[],
            ),
            // Only one naming kind: nothing to say.
            (
                &[("oai", OpenAi, None), ("ds", DeepSeek, None)],
                &[("p", &["oai", "ds"], None)],
                "gpt-4o",
                &[],
            ),
            (
                &[("or1", OpenRouter, None), ("or2", OpenRouter, None)],
                &[("p", &["or1", "or2"], None)],
                "gpt-4o",
                &[],
            ),
            // Custom servers may name models either way.
            (
                &[("c", Custom, None), ("or", OpenRouter, None)],
                &[("p", &["c", "or"], None)],
                "llama3",
                &[],
            ),
            // Through a fallback pool; the family picks the prefix.
            (
                &[("ant", Anthropic, None), ("or", OpenRouter, None)],
                &[("p", &["ant"], Some("q")), ("q", &["or"], None)],
                "claude-3-5-sonnet",
                &[("or", "anthropic/claude-3-5-sonnet")],
            ),
            // Unknown family: the pool's one bare vendor.
            (
                &[("ds", DeepSeek, None), ("or", OpenRouter, None)],
                &[("p", &["ds", "or"], None)],
                "reasoner",
                &[("or", "deepseek/reasoner")],
            ),
            // A prefixed logical name: the bare vendor needs the bare name.
            (
                &[("oai", OpenAi, None), ("or", OpenRouter, None)],
                &[("p", &["oai", "or"], None)],
                "openai/gpt-4o",
                &[("oai", "gpt-4o")],
            ),
            // Fallback cycles end.
            (
                &[("oai", OpenAi, None), ("or", OpenRouter, None)],
                &[("p", &["oai"], Some("q")), ("q", &["or"], Some("p"))],
                "mystery",
                &[("or", "openai/mystery")],
            ),
        ];
        for (accounts, pools, model, expected) in table {
            let c = config(accounts, pools, model);
            let advice = c.advice();
            assert_eq!(advice.len(), expected.len(), "{model}: {advice:?}");
            for (problem, (account, suggested)) in advice.iter().zip(expected.iter()) {
                assert_eq!(problem.key, format!("routes[0] (model {model:?})"));
                assert!(
                    problem.message.contains(&format!("account {account:?}")),
                    "{problem}"
                );
                let fix = format!("models = {{ {model:?} = {suggested:?} }}");
                assert!(problem.message.contains(&fix), "{problem} lacks {fix}");
            }
        }
    }
}
