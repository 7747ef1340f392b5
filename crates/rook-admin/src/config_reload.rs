//! `POST /api/config/reload`: re-reads the configuration file and environment and
//! applies what can change live (the gateway does the work behind
//! [`crate::Runtime::reload_config`]); the answer says what changed, what needs a
//! restart and, for a refused file, every problem.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use crate::{json_response, ApiRequest, Runtime};

/// How a configuration reload ended (the `result` label of `rook_config_reloads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadResult {
    /// The new configuration is in force (its live parts; see `restart_required`).
    Applied,
    /// The file and environment say what the running configuration says.
    Unchanged,
    /// The new configuration is invalid: the running one stays, untouched.
    Rejected,
    /// The new configuration is valid but could not be applied (e.g. the database
    /// failed); the running one stays.
    Failed,
}

impl ReloadResult {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Rejected => "rejected",
            ReloadResult::Failed => "failed",
        }
    }
}

/// Who asked for a reload (recorded in the audit event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadTrigger {
    /// `admin` (the endpoint) or `signal` (SIGHUP).
    pub actor: &'static str,
    /// The admin call's request id, if any.
    pub request_id: Option<String>,
    /// The admin caller's address, if any.
    pub client_addr: Option<String>,
}

/// The answer of a configuration reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigReloadReport {
    /// How it ended.
    pub result: ReloadResult,
    /// The configuration file read (`null`: defaults and environment only).
    pub source: Option<String>,
    /// Top-level keys whose new values are now in force (`accounts`, `routes`, …).
    pub applied: Vec<String>,
    /// Top-level keys that changed but only take effect at the next restart
    /// (`port`, `database_url`, …); the running values stay.
    pub restart_required: Vec<String>,
    /// Why the file was refused or could not be applied (every problem found).
    pub problems: Vec<String>,
}

impl ConfigReloadReport {
    /// A report with no changes and no problems.
    pub fn new(result: ReloadResult, source: Option<String>) -> Self {
        ConfigReloadReport {
            result,
            source,
            applied: Vec::new(),
            restart_required: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// Runs the reload and shapes the answer: 200 with the report when applied or
/// unchanged; 422 `invalid_configuration` (rejected) or 500 `reload_failed`
/// (failed) with the report's fields beside the error.
pub(crate) async fn handle(runtime: &dyn Runtime, req: &ApiRequest) -> Response<Bytes> {
    let trigger = ReloadTrigger {
        actor: req.actor(),
        request_id: (!req.request_id.is_empty()).then(|| req.request_id.clone()),
        client_addr: req.client_addr.clone(),
    };
    let Some(report) = runtime.reload_config(trigger).await else {
        return crate::error_response(
            StatusCode::CONFLICT,
            "reload_unavailable",
            "this gateway was started without a configuration source to re-read",
        );
    };
    let (status, code) = match report.result {
        ReloadResult::Applied | ReloadResult::Unchanged => {
            return json_response(StatusCode::OK, &report)
        }
        ReloadResult::Rejected => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration"),
        ReloadResult::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "reload_failed"),
    };
    let message = format!(
        "the configuration was not reloaded (the running configuration is unchanged): {}",
        report.problems.join("; ")
    );
    let mut body = serde_json::json!({"error": {"code": code, "message": message}});
    if let (Some(obj), Ok(serde_json::Value::Object(fields))) =
        (body.as_object_mut(), serde_json::to_value(&report))
    {
        obj.extend(fields);
    }
    json_response(status, &body)
}
