//! The client address of a request, for the request log line, audit events and
//! the per-address rate limit.
//!
//! It is the TCP peer, unless the peer is a trusted proxy (`[transport]
//! trusted_proxies`): then it is the right-most address of `X-Forwarded-For` (or,
//! when the request has none, of `Forwarded: for=`) that is not itself a trusted
//! proxy. Everything left of that entry was written by the client and is ignored,
//! so a client cannot choose its address by sending the header itself.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// From `[transport] trusted_proxies` (validated by `rook-config`; an entry
    /// that does not parse is skipped).
    pub(crate) fn new(entries: &[String]) -> Self {
        TrustedProxies {
            nets: entries
                .iter()
                .filter_map(|e| rook_config::parse_cidr(e).ok())
                .collect(),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether a request from `peer` reached the proxy over HTTPS: `peer` is a trusted
    /// proxy and says `X-Forwarded-Proto: https` (the dashboard then marks its cookie
    /// `Secure`).
    pub(crate) fn forwarded_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        self.trusts(peer)
            && headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }

    /// The client address of a request from `peer` with `headers`.
    pub(crate) fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if self.nets.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                // Unreadable: nothing left of it can be trusted; stay with the
                // last address a trusted hop vouched for.
                None => break,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket
/// reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The forwarded-for hops, left (client) to right (nearest proxy): every
/// `X-Forwarded-For` header in order, else every `Forwarded` element's `for=`.
/// An entry that is not an address (`unknown`, an obfuscated name) is `None`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(parse_node)
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    let mut hops = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        for element in text.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            });
            if let Some(node) = node {
                hops.push(parse_node(node));
            }
        }
    }
    hops
}

/// One node: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<IpAddr>().ok().map(canonical);
    }
    let (host, port) = node.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) {
        host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
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
    fn nodes() {
        assert_eq!(parse_node(" 192.0.2.1 "), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:4711"), Some(ip("192.0.2.1")));
        assert_eq!(
            parse_node("\"[2001:db8::1]:4711\""),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("::ffff:192.0.2.9"), Some(ip("192.0.2.9")));
        assert_eq!(parse_node("unknown"), None);
        assert_eq!(parse_node("_hidden"), None);
        assert_eq!(parse_node(""), None);
    }

    #[test]
    fn client_address_table() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".into(), "::1".into()]);
        let none = TrustedProxies::new(&[]);
        // (proxies, peer, headers, client)
        type Case<'a> = (
            &'a TrustedProxies,
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a str,
        );
        let cases: &[Case<'_>] = &[
            // No trusted proxies: the peer, whatever the headers say.
            (
                &none,
                "192.0.2.1",
                &[("x-forwarded-for", "203.0.113.7")],
                "192.0.2.1",
            ),
            // An untrusted peer's header is ignored.
            (
                &trusted,
                "192.0.2.1",
                &[("x-forwarded-for", "203.0.113.7")],
                "192.0.2.1",
            ),
            // A trusted peer: the right-most untrusted entry.
            (
                &trusted,
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.7")],
                "203.0.113.7",
            ),
            (
                &trusted,
                "10.0.0.2",
                &[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.9")],
                "203.0.113.7",
            ),
            // Several headers are one list, in order.
            (
                &trusted,
                "10.0.0.2",
                &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
                "203.0.113.7",
            ),
            // Every entry trusted: the left-most.
            (
                &trusted,
                "10.0.0.2",
                &[("x-forwarded-for", "10.1.1.1, 10.2.2.2")],
                "10.1.1.1",
            ),
            // No header from a trusted peer: the peer.
            (&trusted, "10.0.0.2", &[], "10.0.0.2"),
            // Garbage stops the walk at the last trusted address.
            (
                &trusted,
                "10.0.0.2",
                &[("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.9")],
                "10.0.0.9",
            ),
            // Forwarded, only without X-Forwarded-For.
            (
                &trusted,
                "10.0.0.2",
                &[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8::7]:1\";proto=https",
                )],
                "2001:db8::7",
            ),
            (
                &trusted,
                "10.0.0.2",
                &[
                    ("forwarded", "for=6.6.6.6"),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
                "203.0.113.7",
            ),
            // A dual-stack socket's mapped address counts as IPv4.
            (
                &trusted,
                "::ffff:10.0.0.2",
                &[("x-forwarded-for", "203.0.113.7")],
                "203.0.113.7",
            ),
            (
                &trusted,
                "::1",
                &[("x-forwarded-for", "203.0.113.8")],
                "203.0.113.8",
            ),
        ];
        for (proxies, peer, hs, want) in cases {
            assert_eq!(
                proxies.client_addr(ip(peer), &headers(hs)),
                ip(want),
                "peer {peer} headers {hs:?}"
            );
        }
    }

    #[test]
    fn https_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".into()]);
        let none = TrustedProxies::new(&[]);
        let https = headers(&[("x-forwarded-proto", "HTTPS")]);
        let http = headers(&[("x-forwarded-proto", "http")]);
        assert!(trusted.forwarded_https(ip("10.0.0.2"), &https));
        assert!(trusted.forwarded_https(ip("::ffff:10.0.0.2"), &https));
        assert!(!trusted.forwarded_https(ip("10.0.0.2"), &http));
        assert!(!trusted.forwarded_https(ip("10.0.0.2"), &headers(&[])));
        assert!(!trusted.forwarded_https(ip("192.0.2.1"), &https));
        assert!(!none.forwarded_https(ip("127.0.0.1"), &https));
    }
}
