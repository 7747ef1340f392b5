//! Redacted export of the effective configuration
//! ([`Config::to_redacted_json`]).
//!
//! Depends on the schema (`model`) and on `secret`; neither depends on it.

use serde_json::{json, Value};

use crate::model::Config;
use crate::secret::{redact_database_url, SecretSource, REDACTED};

fn source_json(source: &SecretSource) -> Value {
    match source {
        SecretSource::Env(var) => json!({ "env": var }),
        SecretSource::File(path) => json!({ "file": path.display().to_string() }),
    }
}

impl Config {
    /// The effective configuration as JSON, safe to show to operators.
    ///
    /// Same shape as the TOML schema (unset optional keys are `null`), with:
    /// - `database_url` password (and `password=` query values) as `[redacted]`;
    /// - `inbound_auth.token` / `admin_auth.token` = `"[redacted]"` and
    ///   `…token_source` = `{"env": NAME}` or `{"file": PATH}` (the effective
    ///   source, default names included);
    /// - `telemetry.auth_header_value` = `"[redacted]"` when a source is set;
    /// - on each account with a key source, `api_key` = `"[redacted]"`, and
    ///   `effective_protocol` and `effective_base_url` (vendor defaults
    ///   applied) on every account.
    ///
    /// Environment variable names and file paths are shown; secret values
    /// are never read by this function.
    pub fn to_redacted_json(&self) -> Value {
        let mut value = match serde_json::to_value(self) {
            Ok(v) => v,
            Err(e) => return json!({ "error": format!("configuration cannot be exported: {e}") }),
        };
        let Some(root) = value.as_object_mut() else {
            return value;
        };
        root.insert(
            "database_url".to_owned(),
            Value::String(redact_database_url(&self.database_url)),
        );
        if let Some(Value::Object(ia)) = root.get_mut("inbound_auth") {
            ia.insert("token".to_owned(), Value::String(REDACTED.to_owned()));
            ia.insert(
                "token_source".to_owned(),
                source_json(&self.inbound_auth.token_source()),
            );
        }
        if let Some(Value::Object(aa)) = root.get_mut("admin_auth") {
            aa.insert("token".to_owned(), Value::String(REDACTED.to_owned()));
            aa.insert(
                "token_source".to_owned(),
                source_json(&self.admin_auth.token_source()),
            );
        }
        if let Some(Value::Object(t)) = root.get_mut("telemetry") {
            if self.telemetry.auth_source().is_some() {
                t.insert(
                    "auth_header_value".to_owned(),
                    Value::String(REDACTED.to_owned()),
                );
            }
        }
        if let Some(Value::Array(accounts)) = root.get_mut("accounts") {
            for (entry, account) in accounts.iter_mut().zip(&self.accounts) {
                if let Value::Object(obj) = entry {
                    if account.api_key_source().is_some() {
                        obj.insert("api_key".to_owned(), Value::String(REDACTED.to_owned()));
                    }
                    obj.insert(
                        "effective_protocol".to_owned(),
                        Value::String(account.effective_protocol().as_str().to_owned()),
                    );
                    obj.insert(
                        "effective_base_url".to_owned(),
                        account
                            .effective_base_url()
                            .map_or(Value::Null, Value::String),
                    );
                }
            }
        }
        value
    }
}
