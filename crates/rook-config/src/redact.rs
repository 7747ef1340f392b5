//! Redacted export of the effective configuration.

use serde_json::{json, Value};

use crate::model::Config;
use crate::secret::{SecretSource, REDACTED};

/// Query parameters of a database URL whose values are secret.
const SECRET_QUERY_PARAMS: [&str; 3] = ["password", "sslpassword", "sslkey_password"];

/// A database URL with its password replaced by `[redacted]`:
/// `postgres://user:pw@host/db` becomes `postgres://user:[redacted]@host/db`;
/// `password=`/`sslpassword=` query parameters are redacted too. URLs without
/// a password are returned unchanged.
pub fn redact_database_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let (userinfo, host_part) = rest.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        format!("{scheme}://{user}:{REDACTED}{host_part}")
                    }
                    None => head.to_owned(),
                }
            }
            None => head.to_owned(),
        },
        None => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _))
                    if SECRET_QUERY_PARAMS
                        .iter()
                        .any(|s| name.eq_ignore_ascii_case(s)) =>
                {
                    format!("{name}={REDACTED}")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

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
    /// - on each account with a key source, `api_key` = `"[redacted]"`, and
    ///   `effective_base_url` (vendor default applied) on every account.
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
        if let Some(Value::Array(accounts)) = root.get_mut("accounts") {
            for (entry, account) in accounts.iter_mut().zip(&self.accounts) {
                if let Value::Object(obj) = entry {
                    if account.api_key_source().is_some() {
                        obj.insert("api_key".to_owned(), Value::String(REDACTED.to_owned()));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            redact_database_url("postgres://user:pw@host/db"),
            "postgres://user:[redacted]@host/db"
        );
        assert_eq!(
            redact_database_url("postgres://user:p@ss/w@host:5432/db?sslmode=require"),
            "postgres://user:[redacted]@host:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_database_url("postgres://user@host/db?password=pw&x=1"),
            "postgres://user@host/db?password=[redacted]&x=1"
        );
        assert_eq!(redact_database_url("sqlite://rook.db"), "sqlite://rook.db");
        assert_eq!(
            redact_database_url("postgres://host/db"),
            "postgres://host/db"
        );
    }
}
