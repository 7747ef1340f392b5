//! How `rook-cli keys` prints keys: the table, one key, the secret shown once,
//! or JSON.

use super::*;

pub(super) fn money(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("${x:.2}"))
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn scope(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(text).collect::<Vec<_>>().join(","),
        _ => "*".into(),
    }
}

pub(super) fn spend_budget(k: &Value) -> String {
    match k["budget_usd"].as_f64() {
        Some(_) => format!(
            "{} / {} per {}",
            money(&k["spend_usd"]),
            money(&k["budget_usd"]),
            text(&k["budget_period"])
        ),
        None if k["spend_usd"].is_number() => format!("{} (no budget)", money(&k["spend_usd"])),
        None => "-".into(),
    }
}

pub(super) fn render_list(keys: &[Value]) -> String {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "PREFIX",
        "MODELS",
        "SPEND/BUDGET",
        "LAST USED",
        "STATE",
        "SOURCE",
    ]);
    for k in keys {
        t.row(vec![
            text(&k["id"]),
            text(&k["name"]),
            text(&k["prefix"]),
            scope(&k["models"]),
            spend_budget(k),
            text(&k["last_used_at"]),
            text(&k["state"]),
            text(&k["source"]),
        ]);
    }
    if t.is_empty() {
        return "no client keys\n".into();
    }
    t.render()
}

pub(super) fn render_one(k: &Value) -> String {
    let mut out = String::new();
    for (label, v) in [
        ("id", text(&k["id"])),
        ("name", text(&k["name"])),
        ("owner", text(&k["owner"])),
        ("prefix", text(&k["prefix"])),
        ("state", text(&k["state"])),
        ("source", text(&k["source"])),
        ("models", scope(&k["models"])),
        ("spend/budget", spend_budget(k)),
        ("period resets at", text(&k["period_resets_at"])),
        ("requests today", text(&k["requests_today"])),
        ("requests/minute", text(&k["requests_per_minute"])),
        ("tokens/minute", text(&k["tokens_per_minute"])),
        ("expires at", text(&k["expires_at"])),
        ("created at", text(&k["created_at"])),
        ("last used at", text(&k["last_used_at"])),
        ("rotation grace until", text(&k["rotation_grace_until"])),
        ("revoked at", text(&k["revoked_at"])),
    ] {
        out.push_str(&format!("{label:<21} {v}\n"));
    }
    out
}

pub(super) fn print(
    v: &Value,
    json: bool,
    human: impl FnOnce(&Value) -> String,
) -> Result<(), CliError> {
    if json {
        let t = serde_json::to_string_pretty(v).map_err(|e| CliError::fail(e.to_string()))?;
        outln(&t);
    } else {
        crate::common::out(&human(v));
    }
    Ok(())
}

pub(super) fn with_secret(verb: &str) -> impl FnOnce(&Value) -> String + '_ {
    move |v| {
        format!(
            "{verb} client key {} ({}).\nSecret (shown only once; store it now):\n{}\n",
            text(&v["id"]),
            text(&v["prefix"]),
            text(&v["secret"])
        )
    }
}
