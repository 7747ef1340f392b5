//! `[[client_keys]]`: inbound keys declared in the file (GitOps). Each names
//! where its secret is (`token_env` or `token_file`, never inline); the rules
//! are [`crate::entity::client_key`]'s, shared with the admin API and the CLI.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::entity::client_key::{self, ClientKeyRef, DEFAULT_KEY_ID};
use crate::entity::is_env_var_name;
use crate::secret::{Secret, SecretError, SecretSource};
use crate::validate::Problem;
use crate::Config;

/// One `[[client_keys]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKeyConfig {
    /// Key id (`[A-Za-z0-9_.-]{1,64}`, not `default`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Optional owner label.
    #[serde(default)]
    pub owner: Option<String>,
    /// Environment variable holding the secret.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the secret (surrounding whitespace trimmed).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Allowed logical models (names or `*` globs); empty = every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Budget in US dollars per `budget_period`.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// `day`, `week`, `month` or `total` (UTC calendar periods).
    #[serde(default)]
    pub budget_period: Option<String>,
    /// Requests per minute (per instance).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute (per instance).
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// When the key stops working: `YYYY-MM-DD` (UTC) or RFC 3339.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whether the key works. Default `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl ClientKeyConfig {
    /// Where the secret is read from (`None` when neither field is set,
    /// which validation rejects).
    pub fn token_source(&self) -> Option<SecretSource> {
        match (&self.token_file, &self.token_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        }
    }

    /// Reads the secret.
    pub fn resolve_token(&self) -> Result<Secret, SecretError> {
        match self.token_source() {
            Some(source) => source.resolve(),
            // Validation rejects an entry without either; treat it as unset.
            None => Err(SecretError::EnvMissing {
                var: format!("(client_keys {:?}: no token_env or token_file)", self.id),
            }),
        }
    }

    /// `expires_at` as unix ms (`None`: no expiry or unparsable, which
    /// validation rejects).
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(client_key::parse_utc)
    }
}

/// Every problem of the `[[client_keys]]` entries.
pub(crate) fn check(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, k) in config.client_keys.iter().enumerate() {
        let key = format!("client_keys[{i}] (id {:?})", k.id);
        let errors = client_key::check_client_key(&ClientKeyRef {
            id: &k.id,
            name: &k.name,
            owner: k.owner.as_deref(),
            models: &k.models,
            budget_usd: k.budget_usd,
            budget_period: k.budget_period.as_deref(),
            requests_per_minute: k.requests_per_minute,
            tokens_per_minute: k.tokens_per_minute,
            metadata: None,
        });
        for e in errors {
            match e.key_path() {
                p if p.is_empty() => out.push(Problem::new(key.clone(), e.message)),
                p => out.push(Problem::new(format!("{key}.{p}"), e.message)),
            }
        }
        match (&k.token_env, &k.token_file) {
            (None, None) => out.push(Problem::new(
                key.clone(),
                "needs token_env or token_file (the secret is never inline)",
            )),
            (Some(_), Some(_)) => out.push(Problem::new(
                key.clone(),
                "set token_env or token_file, not both",
            )),
            (Some(var), None) if !is_env_var_name(var) => out.push(Problem::new(
                format!("{key}.token_env"),
                "is not an environment variable name (letters, digits and `_`, not starting \
                 with a digit); put the secret itself in that variable",
            )),
            (None, Some(path)) if path.as_os_str().is_empty() => out.push(Problem::new(
                format!("{key}.token_file"),
                "must not be empty",
            )),
            _ => {}
        }
        if let Some(exp) = &k.expires_at {
            if client_key::parse_utc(exp).is_none() {
                out.push(Problem::new(
                    format!("{key}.expires_at"),
                    "must be a UTC date (YYYY-MM-DD) or an RFC 3339 timestamp",
                ));
            }
        }
        if k.id != DEFAULT_KEY_ID {
            if let Some(first) = seen.insert(k.id.as_str(), i) {
                out.push(Problem::new(
                    format!("{key}.id"),
                    format!("duplicate client key id, first used by client_keys[{first}]"),
                ));
                seen.insert(k.id.as_str(), first);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn declared_keys_parse_and_validate() {
        let ok = Config::from_toml_str(
            r#"
            [[client_keys]]
            id = "ci"
            name = "CI"
            token_env = "CI_KEY"
            models = ["gpt-4o*"]
            budget_usd = 5.0
            budget_period = "month"
            requests_per_minute = 60
            expires_at = "2030-01-01"
            "#,
        );
        let config = match ok {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            config.client_keys[0].expires_at_ms(),
            Some(1_893_456_000_000)
        );
        assert!(config.client_keys[0].enabled);

        let bad = Config::from_toml_str(
            r#"
            [[client_keys]]
            id = "default"
            name = "x"
            budget_usd = 5.0
            expires_at = "soon"

            [[client_keys]]
            id = "a"
            name = "a"
            token_env = "A"
            token_file = "/a"
            "#,
        );
        let text = match bad {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
        for needle in [
            "client_keys[0] (id \"default\").id: `default` is reserved",
            "client_keys[0] (id \"default\"): budget_usd needs budget_period",
            "client_keys[0] (id \"default\"): needs token_env or token_file",
            "client_keys[0] (id \"default\").expires_at",
            "client_keys[1] (id \"a\"): set token_env or token_file, not both",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
    }
}
