//! Where a request may come from, as pure decisions over its method and headers:
//!
//! - the **Host** check (every request): defeats DNS rebinding, where a web page's
//!   own name is re-pointed at `127.0.0.1` so the browser sends the page's requests
//!   to Rook with `Host: attacker.example`;
//! - the **cross-origin** check (`/api`): an `Origin` that is not an allowed host, or
//!   `Sec-Fetch-Site: cross-site|same-site`, is refused, so a page the operator visits
//!   cannot drive the admin API;
//! - the **content-type** checks: admin writes and `/v1` POSTs must be JSON
//!   (`application/json`, parameters allowed), which a cross-site form or a
//!   "simple" `fetch` cannot send without a CORS preflight (that Rook never grants).
//!
//! The dispatcher calls these and renders the [`Refusal`] in the caller's protocol.

use std::net::IpAddr;

use http::{header, HeaderMap, Method};
use rook_config::Config;

/// Why a request is refused before anything else looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 421: the Host names a host this server does not serve.
    Misdirected,
    /// 403 `cross_origin_forbidden`: the admin API was called from another origin.
    CrossOrigin,
    /// 415 `unsupported_media_type`: the body is not declared as JSON.
    UnsupportedMediaType,
}

/// A host as it appears in `Host` or `Origin`: an IP literal or a lowercased name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostName {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name, lowercased, without a trailing dot.
    Name(String),
}

/// The Host values a server answers to; see [`HostPolicy::allows`].
#[derive(Debug, Clone, Default)]
pub(crate) struct HostPolicy {
    /// `allowed_hosts` holds `"*"`: the check is off.
    any: bool,
    /// Bound to `0.0.0.0` or `::`: every IP literal is allowed.
    unspecified: bool,
    /// The bind host and the exact `allowed_hosts` entries.
    exact: Vec<HostName>,
    /// `*.example.com` entries, as `.example.com`.
    suffixes: Vec<String>,
}

impl HostPolicy {
    /// The policy of a configuration: the bind address, loopback, and
    /// `[transport] allowed_hosts` (validated by `rook-config`).
    pub(crate) fn new(config: &Config) -> Self {
        let mut policy = HostPolicy::default();
        let bind = parse_host(&config.host);
        policy.unspecified = matches!(bind, Some(HostName::Ip(ip)) if ip.is_unspecified());
        policy.exact.extend(bind);
        for entry in &config.transport.allowed_hosts {
            if entry == "*" {
                policy.any = true;
            } else if let Some(suffix) = entry.strip_prefix("*.") {
                policy
                    .suffixes
                    .push(format!(".{}", suffix.to_ascii_lowercase()));
            } else if let Some(host) = parse_host(entry) {
                policy.exact.push(host);
            }
        }
        policy
    }

    /// Whether a request may name `host`: loopback names (`localhost`,
    /// `*.localhost`) and addresses, the bind host, any IP literal on an
    /// unspecified bind, and the allowed hosts.
    pub(crate) fn allows(&self, host: &HostName) -> bool {
        if self.any || self.exact.contains(host) {
            return true;
        }
        match host {
            HostName::Ip(ip) => self.unspecified || is_loopback(*ip),
            HostName::Name(name) => {
                name == "localhost"
                    || name.ends_with(".localhost")
                    || self
                        .suffixes
                        .iter()
                        .any(|s| name.len() > s.len() && name.ends_with(s.as_str()))
            }
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Parses a host with an optional port (`example.com`, `Example.COM.:8080`,
/// `127.0.0.1:4141`, `[::1]:4141`, `::1`); the port is ignored. `None` when it is
/// not a well-formed host.
pub(crate) fn parse_host(authority: &str) -> Option<HostName> {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || valid_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inside.parse::<IpAddr>().ok().map(HostName::Ip);
    }
    if let Ok(ip) = authority.parse::<IpAddr>() {
        return Some(HostName::Ip(ip));
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if valid_port(port) => h,
        Some(_) => return None,
        None => authority,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(HostName::Ip(ip));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (name.len() <= 253 && name.split('.').all(label_ok))
        .then(|| HostName::Name(name.to_ascii_lowercase()))
}

fn valid_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// The Host check. The host is the request target's authority (absolute form)
/// or the `Host` header. A request without either (HTTP/1.0 tools) passes: a
/// browser always sends one, and only browsers can be rebound.
pub(crate) fn check_host(
    policy: &HostPolicy,
    uri_host: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let raw = match uri_host {
        Some(h) => h,
        None => match headers.get(header::HOST) {
            None => return Ok(()),
            Some(v) => v.to_str().map_err(|_| Refusal::Misdirected)?,
        },
    };
    match parse_host(raw) {
        Some(host) if policy.allows(&host) => Ok(()),
        _ => Err(Refusal::Misdirected),
    }
}

/// The `/api` checks: a cross-origin caller gets 403, a write whose body is not
/// declared JSON gets 415 (a `DELETE` without a body may omit `Content-Type`).
pub(crate) fn check_admin(
    policy: &HostPolicy,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.as_bytes();
        if site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site") {
            return Err(Refusal::CrossOrigin);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(origin_host)
            .is_some_and(|h| policy.allows(&h));
        if !same {
            return Err(Refusal::CrossOrigin);
        }
    }
    let write = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let bodyless_delete = *method == Method::DELETE && !has_body(headers);
    if write && !bodyless_delete && !is_json(headers) {
        return Err(Refusal::UnsupportedMediaType);
    }
    Ok(())
}

/// The `/v1` check of a POST: its body must be declared JSON.
pub(crate) fn check_v1_post(headers: &HeaderMap) -> Result<(), Refusal> {
    if is_json(headers) {
        Ok(())
    } else {
        Err(Refusal::UnsupportedMediaType)
    }
}

/// The host of an `Origin` value (`https://example.com:8443`); `None` for
/// `null`, another scheme, or anything malformed.
fn origin_host(origin: &str) -> Option<HostName> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    parse_host(rest)
}

/// Whether `Content-Type` is `application/json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Whether the request announces a body (`Content-Length` above 0, or
/// `Transfer-Encoding`).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy(host: &str, allowed: &[&str]) -> HostPolicy {
        let config = Config {
            host: host.into(),
            transport: rook_config::Transport {
                allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            ..Config::default()
        };
        HostPolicy::new(&config)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn host_parsing() {
        let ip = |s: &str| Some(HostName::Ip(s.parse().unwrap()));
        let name = |s: &str| Some(HostName::Name(s.into()));
        let cases: &[(&str, Option<HostName>)] = &[
            ("127.0.0.1", ip("127.0.0.1")),
            ("127.0.0.1:4141", ip("127.0.0.1")),
            ("[::1]:4141", ip("::1")),
            ("[::1]", ip("::1")),
            ("::1", ip("::1")),
            ("LocalHost:80", name("localhost")),
            ("rook.example.", name("rook.example")),
            ("rook_svc", name("rook_svc")),
            ("", None),
            ("a b", None),
            ("a:b", None),
            ("[::1", None),
            ("[::1]x", None),
            ("[nope]:1", None),
            ("host:", None),
            ("evil.example@127.0.0.1", None),
            ("a..b", None),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_host(input), want, "{input:?}");
        }
    }

    #[test]
    fn host_policy_table() {
        // (bind, allowed_hosts, Host, allowed?)
        let cases: &[(&str, &[&str], &str, bool)] = &[
            ("127.0.0.1", &[], "127.0.0.1:4141", true),
            ("127.0.0.1", &[], "127.8.9.10", true),
            ("127.0.0.1", &[], "localhost:4141", true),
            ("127.0.0.1", &[], "app.localhost", true),
            ("127.0.0.1", &[], "[::1]:4141", true),
            ("127.0.0.1", &[], "[::ffff:127.0.0.1]", true),
            ("127.0.0.1", &[], "attacker.example", false),
            ("127.0.0.1", &[], "attacker.example:4141", false),
            ("127.0.0.1", &[], "localhost.attacker.example", false),
            ("127.0.0.1", &[], "192.168.1.5", false),
            ("127.0.0.1", &[], "evillocalhost", false),
            ("0.0.0.0", &[], "192.168.1.5:4141", true),
            ("0.0.0.0", &[], "[2001:db8::1]", true),
            ("0.0.0.0", &[], "rook.default.svc", false),
            ("::", &[], "10.1.2.3", true),
            ("10.0.0.5", &[], "10.0.0.5:4141", true),
            ("10.0.0.5", &[], "10.0.0.6", false),
            ("rook.internal", &[], "ROOK.internal:4141", true),
            (
                "0.0.0.0",
                &["rook", "rook.default.svc.cluster.local"],
                "rook:4141",
                true,
            ),
            ("0.0.0.0", &["rook"], "rook.default.svc", false),
            ("127.0.0.1", &["*.example.com"], "api.example.com", true),
            ("127.0.0.1", &["*.example.com"], "a.b.example.com", true),
            ("127.0.0.1", &["*.example.com"], "example.com", false),
            ("127.0.0.1", &["*.example.com"], "badexample.com", false),
            ("127.0.0.1", &["*"], "anything.example", true),
            ("127.0.0.1", &["192.0.2.1"], "192.0.2.1", true),
            ("127.0.0.1", &["[2001:db8::1]"], "[2001:db8::1]:443", true),
        ];
        for (bind, allowed, host, ok) in cases {
            let p = policy(bind, allowed);
            let got = check_host(&p, None, &headers(&[("host", host)])).is_ok();
            assert_eq!(got, *ok, "bind {bind} allowed {allowed:?} host {host}");
        }
    }

    #[test]
    fn the_request_target_authority_wins_and_no_host_passes() {
        let p = policy("127.0.0.1", &[]);
        let h = headers(&[("host", "127.0.0.1")]);
        assert_eq!(
            check_host(&p, Some("attacker.example"), &h),
            Err(Refusal::Misdirected)
        );
        assert_eq!(check_host(&p, None, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn admin_origin_and_content_type_table() {
        let p = policy("127.0.0.1", &["rook.example.com"]);
        let json = ("content-type", "application/json");
        type Case<'a> = (Method, &'a [(&'a str, &'a str)], Result<(), Refusal>);
        let cases: &[Case<'_>] = &[
            (Method::GET, &[], Ok(())),
            (Method::POST, &[json], Ok(())),
            (
                Method::POST,
                &[("content-type", "Application/JSON; charset=utf-8")],
                Ok(()),
            ),
            (
                Method::PUT,
                &[json, ("origin", "http://127.0.0.1:4141")],
                Ok(()),
            ),
            (
                Method::PATCH,
                &[json, ("origin", "https://rook.example.com")],
                Ok(()),
            ),
            (
                Method::POST,
                &[json, ("sec-fetch-site", "same-origin")],
                Ok(()),
            ),
            (Method::POST, &[json, ("sec-fetch-site", "none")], Ok(())),
            (Method::DELETE, &[], Ok(())),
            (Method::DELETE, &[("content-length", "0")], Ok(())),
            (
                Method::POST,
                &[("content-type", "text/plain")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::POST,
                &[("content-type", "application/x-www-form-urlencoded")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::POST,
                &[("content-type", "multipart/form-data; boundary=x")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::POST,
                &[("content-type", "application/jsonx")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (Method::POST, &[], Err(Refusal::UnsupportedMediaType)),
            (
                Method::POST,
                &[json, ("content-type", "text/plain")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::DELETE,
                &[("content-length", "5")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::DELETE,
                &[("transfer-encoding", "chunked")],
                Err(Refusal::UnsupportedMediaType),
            ),
            (
                Method::GET,
                &[("origin", "https://evil.example")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("origin", "https://evil.example")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[
                    ("content-type", "text/plain"),
                    ("origin", "https://evil.example"),
                ],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("origin", "null")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("origin", "chrome-extension://abc")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("origin", "http://localhost.evil.example")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("origin", "http://127.0.0.1@evil.example")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::GET,
                &[("sec-fetch-site", "cross-site")],
                Err(Refusal::CrossOrigin),
            ),
            (
                Method::POST,
                &[json, ("sec-fetch-site", "same-site")],
                Err(Refusal::CrossOrigin),
            ),
        ];
        for (method, hs, want) in cases {
            assert_eq!(
                check_admin(&p, method, &headers(hs)),
                *want,
                "{method} {hs:?}"
            );
        }
    }

    #[test]
    fn v1_posts_must_be_json() {
        for (ct, ok) in [
            (Some("application/json"), true),
            (Some("application/json; charset=utf-8"), true),
            (Some(" APPLICATION/JSON "), true),
            (Some("text/plain"), false),
            (Some("text/plain; charset=application/json"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (None, false),
        ] {
            let h = match ct {
                Some(v) => headers(&[("content-type", v)]),
                None => HeaderMap::new(),
            };
            assert_eq!(check_v1_post(&h).is_ok(), ok, "{ct:?}");
        }
    }
}
