//! The dashboard's IO: one refresh reads every admin endpoint it shows; actions call
//! the admin API. Failures become a [`Problem`] or a message, never a panic.

use std::time::Duration;

use http::{Method, StatusCode};
use rook_gateway::rook_registry::time::now_ms;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::data::{Account, Health, Pool, Recent, Route, Snapshot, Status};
use super::model::{Command, Problem};
use crate::admin_client::{list_of, AdminClient};

/// How long one call may take before the refresh counts the server unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET path`, parsed as `T`.
async fn get<T: DeserializeOwned>(client: &AdminClient, path: &str) -> Result<T, Problem> {
    let value = get_value(client, path).await?;
    serde_json::from_value(value)
        .map_err(|e| Problem::Failed(format!("unexpected answer to GET {path}: {e}")))
}

async fn get_value(client: &AdminClient, path: &str) -> Result<Value, Problem> {
    let answer = tokio::time::timeout(CALL_TIMEOUT, client.exchange(Method::GET, path, None))
        .await
        .map_err(|_| {
            Problem::Unreachable(format!(
                "{} did not answer GET {path} within {} s",
                client.base(),
                CALL_TIMEOUT.as_secs()
            ))
        })?;
    let (status, body) = answer.map_err(|e| Problem::Unreachable(e.message))?;
    if status.is_success() {
        return Ok(body);
    }
    let text = client.describe_failure(status, &body, &format!("GET {path}"));
    Err(if status == StatusCode::UNAUTHORIZED {
        Problem::Unauthorized(text)
    } else {
        Problem::Failed(text)
    })
}

async fn list<T: DeserializeOwned>(
    client: &AdminClient,
    path: &str,
    key: &str,
) -> Result<Vec<T>, Problem> {
    let items =
        list_of(get_value(client, path).await?, key).map_err(|e| Problem::Failed(e.message))?;
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| Problem::Failed(format!("unexpected answer to GET {path}: {e}")))
        })
        .collect()
}

/// Reads everything the tabs show. The status comes first: a server that cannot be
/// reached or refuses the token fails fast, with that reason.
pub(crate) async fn snapshot(client: &AdminClient) -> Result<Snapshot, Problem> {
    let status: Status = get(client, "/api/status").await?;
    let health: Vec<Health> = list(client, "/api/health/accounts", "accounts").await?;
    let accounts: Vec<Account> = list(client, "/api/accounts", "accounts").await?;
    let pools: Vec<Pool> = list(client, "/api/pools", "pools").await?;
    let routes: Vec<Route> = list(client, "/api/routes", "routes").await?;
    // A server older than this client has no recent-request ring: the Live tab says so.
    let (recent, recent_problem) =
        match list::<Recent>(client, "/api/requests/recent?limit=1000", "data").await {
            Ok(recent) => (recent, None),
            Err(Problem::Failed(text)) => (Vec::new(), Some(text)),
            Err(other) => return Err(other),
        };
    // Usage needs the database; a failure there keeps the other tabs live.
    let usage_days = get(client, "/api/usage?since=14d&group_by=day").await.ok();
    let usage_day = get(client, "/api/usage?since=24h&group_by=model,account")
        .await
        .ok();
    Ok(Snapshot {
        status,
        health,
        accounts,
        pools,
        routes,
        usage_days,
        usage_day,
        recent,
        recent_problem,
        fetched_at_ms: now_ms(),
    })
}

/// Runs an operator action; the message for the notice line.
pub(crate) async fn perform(client: &AdminClient, command: &Command) -> Result<String, String> {
    let (method, path, body, done) = match command {
        Command::Reset(id) => (
            Method::POST,
            format!("/api/accounts/{}/reset", segment(id)),
            None,
            format!("Account '{id}': health reset."),
        ),
        Command::SetEnabled(id, enabled) => (
            Method::PATCH,
            format!("/api/accounts/{}", segment(id)),
            Some(json!({ "enabled": enabled })),
            format!(
                "Account '{id}' {}.",
                if *enabled { "enabled" } else { "disabled" }
            ),
        ),
    };
    let answer = tokio::time::timeout(
        CALL_TIMEOUT,
        client.exchange(method.clone(), &path, body.as_ref()),
    )
    .await
    .map_err(|_| format!("{} did not answer {method} {path} in time", client.base()))?;
    let (status, json) = answer.map_err(|e| e.message)?;
    if status.is_success() {
        Ok(done)
    } else {
        Err(client.describe_failure(status, &json, &format!("{method} {path}")))
    }
}

/// An account id as one path segment (ids are `[A-Za-z0-9_.-]`; anything else is
/// percent-encoded).
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments() {
        assert_eq!(super::segment("acct-1.b_c"), "acct-1.b_c");
        assert_eq!(super::segment("a/b c"), "a%2Fb%20c");
    }
}
