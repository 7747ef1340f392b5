//! Extracting a [`Config`] from the layered sources, repairing what can be
//! repaired so that every problem is reported at once.

use super::*;

/// More rounds than any real file has errors; bounds the repair loop.
pub(super) const MAX_ROUNDS: usize = 512;

/// Where the merged values came from, to name the origin of a problem.
pub(super) struct Sources<'a> {
    figment: &'a Figment,
    merged: &'a Value,
    file: Option<&'a Path>,
}

impl Sources<'_> {
    /// "in FILE", "from environment variable ROOK_X", "from command-line flags".
    fn origin(&self, path: &[String]) -> Option<String> {
        let mut value = self.merged;
        let mut tag = value.tag();
        for segment in path {
            let next = match value {
                Value::Dict(_, dict) => dict.get(segment),
                Value::Array(_, items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(v) => {
                    value = v;
                    tag = v.tag();
                }
                None => break,
            }
        }
        let name = self.figment.get_metadata(tag).map(|md| md.name.as_ref());
        match name {
            Some(FLAGS_PROVIDER) => Some("from command-line flags".to_owned()),
            Some(n) if n.contains("environment") => {
                if path.is_empty() {
                    Some("from the environment".to_owned())
                } else {
                    Some(format!(
                        "from environment variable {}",
                        env_var_for_key(&path.join("."))
                    ))
                }
            }
            Some(n) if n.contains("TOML") => Some(match self.file {
                Some(file) => format!("in {}", file.display()),
                None => "in the TOML document".to_owned(),
            }),
            _ => self.file.map(|file| format!("in {}", file.display())),
        }
    }

    fn problem(&self, path: &[String], message: String) -> Problem {
        let message = match self.origin(path) {
            Some(origin) => format!("{message} ({origin})"),
            None => message,
        };
        Problem::new(display_path(path), message)
    }
}

/// What the repairing extraction of one section or entry found.
pub(super) struct Extracted<T> {
    /// The value, when it could be extracted (possibly without bad keys).
    value: Option<T>,
    /// Every problem, in the order found.
    problems: Vec<Problem>,
    /// The keys taken out (display form, e.g. `upstream.connect_timeout_ms`).
    removed: Vec<String>,
}

/// Extracts `T` from `value`, taking out each offending key and retrying,
/// so every unknown key and type error is reported. `prefix` is the key
/// path of `value` in the whole configuration.
pub(super) fn extract_repairing<T: DeserializeOwned>(
    mut value: Value,
    prefix: &[String],
    substitutes: &[(&str, &str)],
    sources: &Sources<'_>,
) -> Extracted<T> {
    let mut out = Extracted {
        value: None,
        problems: Vec::new(),
        removed: Vec::new(),
    };
    let mut removed: Vec<Vec<String>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let error = match Figment::from(Serialized::defaults(&value)).extract::<T>() {
            Ok(t) => {
                out.value = Some(t);
                break;
            }
            Err(e) => e,
        };
        let mut repaired = false;
        for e in error {
            let full: Vec<String> = prefix.iter().chain(e.path.iter()).cloned().collect();
            if let Kind::MissingField(field) = &e.kind {
                let mut missing = e.path.clone();
                missing.push(field.to_string());
                // A key taken out for a bad value is not "missing" too.
                if !removed.iter().any(|r| missing.starts_with(r)) {
                    out.problems
                        .push(sources.problem(&full, describe_kind(&e.kind)));
                }
                continue;
            }
            out.problems
                .push(sources.problem(&full, describe_kind(&e.kind)));
            // Inside a list, take out the whole list: removing one element
            // would renumber the others.
            let cut: Vec<String> = match e
                .path
                .iter()
                .position(|s| s.bytes().all(|b| b.is_ascii_digit()))
            {
                Some(i) => e.path.iter().take(i).cloned().collect(),
                None => e.path.clone(),
            };
            let substitute = match cut.as_slice() {
                [key] => substitutes
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| Value::from(*v)),
                _ => None,
            };
            if !cut.is_empty() && replace(&mut value, &cut, substitute) {
                let shown: Vec<String> = prefix.iter().chain(cut.iter()).cloned().collect();
                out.removed.push(display_path(&shown));
                removed.push(cut);
                repaired = true;
            }
        }
        if !repaired {
            break;
        }
    }
    out
}

/// Removes the key at `path` from a tree of tables, or replaces its value
/// with `substitute`; whether it was there.
pub(super) fn replace(value: &mut Value, path: &[String], substitute: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = value;
    for segment in parents {
        at = match at {
            Value::Dict(_, dict) => match dict.get_mut(segment) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (at, substitute) {
        (Value::Dict(_, dict), None) => dict.remove(last).is_some(),
        (Value::Dict(_, dict), Some(v)) => dict.insert(last.clone(), v).is_some(),
        _ => false,
    }
}

/// Extracts the merged configuration, reporting every parse problem of the
/// file and the environment together with the validation problems.
pub(crate) fn extract_config(
    figment: &Figment,
    file: Option<&Path>,
) -> Result<Config, ConfigError> {
    let merged = figment
        .find_value("")
        .map_err(|e| ConfigError::Parse(figment_problems(e, file)))?;
    let sources = Sources {
        figment,
        merged: &merged,
        file,
    };
    let mut root: Dict = match &merged {
        Value::Dict(_, dict) => dict.clone(),
        _ => {
            return Err(ConfigError::Parse(vec![Problem::new(
                "(document)",
                "the configuration must be a table of keys",
            )]))
        }
    };
    let accounts = root.remove("accounts");
    let pools = root.remove("pools");
    let routes = root.remove("routes");

    let top = extract_repairing::<Config>(Value::from(root), &[], &[], &sources);
    let mut problems = top.problems;
    let mut removed = top.removed;
    let mut config = top.value.unwrap_or_default();
    // Validation keys of entries that did not parse (their problems would
    // only repeat the parse problem).
    let mut failed: Vec<String> = Vec::new();

    let entries = |name: &str, list: Option<Value>, problems: &mut Vec<Problem>| {
        let mut out: Vec<(Option<Dict>, Value)> = Vec::new();
        match list {
            None => {}
            Some(Value::Array(_, items)) => {
                for item in items {
                    out.push((item.as_dict().cloned(), item));
                }
            }
            Some(other) => problems.push(sources.problem(
                &[name.to_owned()],
                format!(
                    "expected an array of tables ([[{name}]]), found {}",
                    value_kind(&other)
                ),
            )),
        }
        out
    };
    let account_items = entries("accounts", accounts, &mut problems);
    let pool_items = entries("pools", pools, &mut problems);
    let route_items = entries("routes", routes, &mut problems);

    for (i, (dict, item)) in account_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<AccountConfig>(
            "accounts",
            VENDOR_STAND_IN,
            i,
            item,
            &sources,
            &mut problems,
        );
        let account = match parsed.value {
            Some(a) => a,
            None => {
                failed.push(format!("accounts[{i}]"));
                AccountConfig::new(raw("id").unwrap_or_default(), Vendor::Custom)
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("accounts[{i}]"),
            &format!("accounts[{i}] (id {:?})", account.id),
        ));
        config.accounts.push(account);
    }
    for (i, (dict, item)) in pool_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<PoolConfig>(
            "pools",
            STRATEGY_STAND_IN,
            i,
            item,
            &sources,
            &mut problems,
        );
        let pool = match parsed.value {
            Some(p) => p,
            None => {
                failed.push(format!("pools[{i}]"));
                PoolConfig {
                    id: raw("id").unwrap_or_default(),
                    strategy: Strategy::Priority,
                    members: Vec::new(),
                    fallback_pool: None,
                }
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("pools[{i}]"),
            &format!("pools[{i}] (id {:?})", pool.id),
        ));
        config.pools.push(pool);
    }
    for (i, (dict, item)) in route_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<RouteConfig>("routes", &[], i, item, &sources, &mut problems);
        let route = match parsed.value {
            Some(r) => r,
            None => {
                failed.push(format!("routes[{i}]"));
                RouteConfig {
                    model: raw("model").unwrap_or_default(),
                    pool: raw("pool").unwrap_or_default(),
                    fallback_route: None,
                }
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("routes[{i}]"),
            &format!("routes[{i}] (model {:?})", route.model),
        ));
        config.routes.push(route);
    }

    if problems.is_empty() {
        config.validate().map_err(ConfigError::Invalid)?;
        return Ok(config);
    }
    if let Err(invalid) = config.validate() {
        let repeats = |key: &str| {
            failed.iter().any(|f| {
                key == f || key.starts_with(&format!("{f} ")) || key.starts_with(&format!("{f}."))
            }) || removed.iter().any(|r| {
                key == r || key.starts_with(&format!("{r}.")) || key.starts_with(&format!("{r}["))
            })
        };
        problems.extend(invalid.into_iter().filter(|p| !repeats(&p.key)));
    }
    Err(ConfigError::Parse(problems))
}

/// Stand-ins for a required name that was misspelt, so the rest of the entry
/// is still extracted and validated (the stand-in's own problems are not
/// reported: the key is already reported as unparsable).
pub(super) const VENDOR_STAND_IN: &[(&str, &str)] = &[("vendor", "open_ai")];
/// See [`VENDOR_STAND_IN`].
pub(super) const STRATEGY_STAND_IN: &[(&str, &str)] = &[("strategy", "priority")];

/// Extracts the `index`th entry of the list `name`; `substitutes` replace
/// bad values of required keys.
pub(super) fn extract_entry<T: DeserializeOwned>(
    name: &str,
    substitutes: &[(&str, &str)],
    index: usize,
    item: Value,
    sources: &Sources<'_>,
    problems: &mut Vec<Problem>,
) -> Extracted<T> {
    let prefix = [name.to_owned(), index.to_string()];
    if item.as_dict().is_none() {
        problems.push(sources.problem(
            &prefix,
            format!("expected a table, found {}", value_kind(&item)),
        ));
        return Extracted {
            value: None,
            problems: Vec::new(),
            removed: Vec::new(),
        };
    }
    let parsed = extract_repairing::<T>(item, &prefix, substitutes, sources);
    problems.extend(parsed.problems.iter().cloned());
    parsed
}

/// Removed keys of an entry in the form validation names them:
/// `accounts[1].weight` → `accounts[1] (id "b").weight`.
pub(super) fn entry_keys(removed: &[String], shown: &str, validated: &str) -> Vec<String> {
    removed
        .iter()
        .filter_map(|r| r.strip_prefix(shown))
        .map(|rest| format!("{validated}{rest}"))
        .collect()
}

pub(super) fn raw_str(dict: Option<&Dict>, key: &str) -> Option<String> {
    dict?.get(key)?.as_str().map(str::to_owned)
}
