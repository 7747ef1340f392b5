//! The `list` tables.

use serde_json::Value;

use crate::table::Table;

use super::args::Entity;

pub(super) fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(o)) if o.is_empty() => "-".to_string(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(Some(v))))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

pub(super) fn key_cell(v: &Value) -> String {
    if let Some(var) = v.get("api_key_env").and_then(Value::as_str) {
        return format!("env:{var}");
    }
    if let Some(path) = v.get("api_key_file").and_then(Value::as_str) {
        return format!("file:{path}");
    }
    if v.get("has_api_key").and_then(Value::as_bool) == Some(true) {
        return "inline".to_string();
    }
    "-".to_string()
}

pub(super) fn render_list(e: Entity, items: &[Value]) -> String {
    let mut t = match e {
        Entity::Account => Table::new(&[
            "ID", "VENDOR", "PROTOCOL", "BASE_URL", "KEY", "ENABLED", "WEIGHT", "PRIORITY",
            "MODELS", "SOURCE",
        ]),
        Entity::Pool => Table::new(&["ID", "STRATEGY", "MEMBERS", "FALLBACK_POOL", "SOURCE"]),
        Entity::Route => Table::new(&["MODEL", "POOL", "FALLBACK_ROUTE", "SOURCE"]),
    };
    for v in items {
        let get = |k: &str| cell(v.get(k));
        let row = match e {
            Entity::Account => vec![
                get("id"),
                get("vendor"),
                get("protocol"),
                get("base_url"),
                key_cell(v),
                get("enabled"),
                get("weight"),
                get("priority"),
                get("models"),
                get("source"),
            ],
            Entity::Pool => vec![
                get("id"),
                get("strategy"),
                get("members"),
                get("fallback_pool"),
                get("source"),
            ],
            Entity::Route => vec![
                get("model"),
                get("pool"),
                get("fallback_route"),
                get("source"),
            ],
        };
        t.row(row);
    }
    if t.is_empty() {
        return format!("no {}\n", e.plural());
    }
    t.render()
}
