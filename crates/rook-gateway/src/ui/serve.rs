//! The dashboard's HTTP answers: pages, assets, sign-in and sign-out.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::session::{self, COOKIE, CSRF_HEADER};
use super::{assets, Ui, CSP};
use crate::body::RookBody;

/// Largest sign-in body.
const MAX_LOGIN_BODY: usize = 4096;
/// How long a wrong token waits before its answer (slows guessing).
const WRONG_TOKEN_DELAY: Duration = Duration::from_millis(250);

/// Answers a request for `/`, `/ui` or `/ui/…`. `admin` checks the token; `secure`
/// says the browser reached Rook over HTTPS (through a trusted proxy), so the cookie
/// is marked `Secure`.
pub(crate) async fn handle(
    ui: &Ui,
    admin: Option<&rook_admin::Admin>,
    req: Request<Incoming>,
    secure: bool,
) -> Response<RookBody> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    let mut resp = match path.as_str() {
        "/" | "/ui/" if get => redirect("/ui"),
        "/ui" if get => match live_session(ui, req.headers()) {
            Some(_) => page(ui.pages().index.clone()),
            None => redirect("/ui/login"),
        },
        "/ui/login" if get => page(ui.pages().login.clone()),
        "/ui/session" => session_call(ui, admin, req, secure).await,
        p if get && p.starts_with("/ui/assets/") => asset(ui, &p["/ui/assets/".len()..]),
        "/" | "/ui" | "/ui/" | "/ui/login" => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Use GET.",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such dashboard path.",
        ),
    };
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn live_session(ui: &Ui, headers: &http::HeaderMap) -> Option<(String, String)> {
    let id = session::cookie(headers)?;
    let csrf = ui.sessions.touch(id)?;
    Some((id.to_string(), csrf))
}

fn redirect(to: &'static str) -> Response<RookBody> {
    let mut r = Response::new(RookBody::full(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

fn page(html: Bytes) -> Response<RookBody> {
    let mut r = Response::new(RookBody::full(html));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn asset(ui: &Ui, rest: &str) -> Response<RookBody> {
    let found = rest
        .split_once('/')
        .filter(|(hash, _)| format!("/ui/assets/{hash}") == ui.pages().prefix)
        .and_then(|(_, name)| assets::find(name));
    let Some(a) = found else {
        return error(StatusCode::NOT_FOUND, "not_found", "No such asset.");
    };
    let mut r = Response::new(RookBody::full(Bytes::from_static(a.body)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<RookBody> {
    crate::control::admin::convert(rook_admin::error_response(status, code, message))
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<RookBody> {
    crate::control::admin::convert(rook_admin::json_response(status, value))
}

fn set_cookie(r: &mut Response<RookBody>, value: &str, max_age: i64, secure: bool) {
    let cookie = format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// `/ui/session`: sign in (POST), the CSRF token (GET), sign out (DELETE).
async fn session_call(
    ui: &Ui,
    admin: Option<&rook_admin::Admin>,
    req: Request<Incoming>,
    secure: bool,
) -> Response<RookBody> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Not signed in, or the session expired; sign in with the admin token.",
        )
    };
    match *req.method() {
        Method::GET => match live_session(ui, req.headers()) {
            Some((_, csrf)) => json(StatusCode::OK, &serde_json::json!({"csrf_token": csrf})),
            None => unauthorized(),
        },
        Method::DELETE => {
            let Some((id, csrf)) = live_session(ui, req.headers()) else {
                return unauthorized();
            };
            let sent = req
                .headers()
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !session::constant_time_eq(sent, csrf.as_bytes()) {
                return error(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "Signing out needs the session's CSRF token in the `x-csrf-token` header.",
                );
            }
            ui.sessions.end(&id);
            tracing::info!("dashboard session ended by sign-out");
            let mut r = Response::new(RookBody::full(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            set_cookie(&mut r, "", 0, secure);
            r
        }
        Method::POST => sign_in(ui, admin, req, secure).await,
        _ => {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed for this path; allowed: GET, POST, DELETE.",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

async fn sign_in(
    ui: &Ui,
    admin: Option<&rook_admin::Admin>,
    req: Request<Incoming>,
    secure: bool,
) -> Response<RookBody> {
    let body = match tokio::time::timeout(
        Duration::from_secs(10),
        http_body_util::Limited::new(req.into_body(), MAX_LOGIN_BODY).collect(),
    )
    .await
    {
        Ok(Ok(c)) => c.to_bytes(),
        _ => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The sign-in body is too large or did not arrive in time (limit 4 KiB).",
            )
        }
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SignIn {
        token: String,
    }
    let Ok(form) = serde_json::from_slice::<SignIn>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Send {\"token\": \"<admin token>\"}.",
        );
    };
    let Some(admin) = admin else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "The admin API is not ready yet.",
        );
    };
    if !admin.verify_token(form.token.trim()) {
        tokio::time::sleep(WRONG_TOKEN_DELAY).await;
        tracing::warn!("dashboard sign-in with a wrong admin token refused");
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "That is not the admin token.",
        );
    }
    let mut random = [0u8; 64];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The system random number generator failed.",
        );
    }
    let s = ui.sessions.create(&random);
    tracing::info!("dashboard session started");
    let mut r = json(StatusCode::OK, &serde_json::json!({"csrf_token": s.csrf}));
    set_cookie(&mut r, &s.id, session::LIFETIME_MS / 1000, secure);
    r
}
