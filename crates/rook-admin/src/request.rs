//! One `/api/*` request as the admin API sees it.

use bytes::Bytes;
use http::{HeaderMap, Method};

/// One `/api/*` request, already read.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Path, starting with `/api/`.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Request id (for audit events).
    pub request_id: String,
    /// The caller's address (the TCP peer, or what a trusted proxy forwarded), for
    /// audit events.
    pub client_addr: Option<String>,
    /// Set by [`Admin::handle`] once the caller is authenticated: it used a dashboard
    /// session rather than the bearer token (its changes are audited as `dashboard`).
    pub(crate) via_session: bool,
}

impl ApiRequest {
    /// A request with no headers or query.
    pub fn new(method: Method, path: &str, body: Bytes) -> Self {
        ApiRequest {
            method,
            path: path.to_string(),
            query: None,
            headers: HeaderMap::new(),
            body,
            request_id: String::new(),
            client_addr: None,
            via_session: false,
        }
    }

    /// The actor of the audit events this request's changes append: `dashboard` when
    /// it was authenticated with a dashboard session, else `admin` (the bearer token).
    pub(crate) fn actor(&self) -> &'static str {
        if self.via_session {
            "dashboard"
        } else {
            "admin"
        }
    }
}
