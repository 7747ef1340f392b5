//! The admin error type and its mapping to HTTP.

use bytes::Bytes;
use http::{Response, StatusCode};
use rook_registry::deadline::DATABASE_RETRY_AFTER;
use rook_registry::RegistryError;

use crate::error_response;

/// An admin API failure: status, stable `code` and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Result of a handler.
pub(crate) type ApiResult<T = Response<Bytes>> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_request` about one field or parameter.
    pub(crate) fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("`{field}`: {message}"),
        )
    }

    /// 400 `invalid_request` with a free message.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 409 `read_only` for a config-declared entry.
    pub(crate) fn read_only(entity: &str, id: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "read_only",
            format!("{entity} '{id}' is declared in the config file; change it there"),
        )
    }

    /// 503 `database_unavailable`: the handler waited `waited` for the database.
    pub(crate) fn database_timeout(waited: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!(
                "The registry database did not answer within {} ms; retry later.",
                waited.as_millis()
            ),
        )
    }

    pub(crate) fn into_response(self) -> Response<Bytes> {
        let unavailable = self.code == "database_unavailable";
        let mut resp = error_response(self.status, self.code, &self.message);
        if unavailable {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(DATABASE_RETRY_AFTER.as_secs()),
            );
        }
        resp
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            RegistryError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            RegistryError::ReadOnly { .. } => {
                ApiError::new(StatusCode::CONFLICT, "read_only", message)
            }
            RegistryError::Reference { .. } => {
                ApiError::new(StatusCode::CONFLICT, "reference_conflict", message)
            }
            RegistryError::Invalid { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
            }
            RegistryError::Unavailable { .. } | RegistryError::DatabaseMissing { .. } => {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    message,
                )
            }
            _ => {
                tracing::warn!(error = %message, "admin API registry call failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn database_errors_answer_503_with_retry_after() {
        let cases: Vec<ApiError> = vec![
            RegistryError::Unavailable {
                message: "down".into(),
            }
            .into(),
            ApiError::database_timeout(std::time::Duration::from_millis(1500)),
        ];
        for e in cases {
            let r = e.into_response();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[http::header::RETRY_AFTER], "1");
            let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(body["error"]["code"], "database_unavailable");
        }
        let other = ApiError::invalid("bad").into_response();
        assert!(other.headers().get(http::header::RETRY_AFTER).is_none());
    }
}
