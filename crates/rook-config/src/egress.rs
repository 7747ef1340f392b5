//! The egress policy: which upstream addresses an account's `base_url` may
//! reach.
//!
//! Written once and used everywhere a base URL is accepted or dialled: the
//! config file ([`Config::validate`](crate::Config::validate)), the admin API,
//! `rook-cli doctor --probe`, and the gateway's upstream connector, which
//! checks every *resolved* address at connect time (so a name that resolves
//! to a denied address — DNS rebinding — is refused too).
//!
//! | address | default | with `deny_private_networks = true` |
//! |---|---|---|
//! | cloud metadata services (169.254.169.254, `fd00:ec2::254`, `fd20:ce::254`, 100.100.100.200, 168.63.129.16; names `metadata.google.internal`, `metadata.goog`, `metadata`, `instance-data`, `instance-data.ec2.internal`, `metadata.tencentyun.com`) | denied | denied |
//! | link-local (169.254.0.0/16, `fe80::/10`) | denied | denied |
//! | multicast and broadcast (224.0.0.0/4, 255.255.255.255, `ff00::/8`) | denied | denied |
//! | loopback (127.0.0.0/8, `::1`), unspecified (0.0.0.0/8, `::`), private (10/8, 172.16/12, 192.168/16, `fc00::/7`, `fec0::/10`), CGNAT (100.64/10) | allowed | denied |
//! | everything else | allowed | allowed |
//!
//! `[upstream] allowed_egress` lists host names (matched exactly, case
//! insensitive: the name is trusted, whatever it resolves to), IP addresses
//! and CIDR blocks (matched against the address dialled); a listed entry is
//! allowed whatever the table says. IPv4-mapped (`::ffff:a.b.c.d`),
//! IPv4-compatible and NAT64 (`64:ff9b::/96`) IPv6 addresses are judged as
//! the IPv4 address they carry. A host whose last label is numeric but that is
//! not a dotted-quad IPv4 address (`2852039166`, `0x7f.1`, `0177.0.0.1`) is
//! refused: resolvers read such names as IPv4 addresses in other notations.
//! Only `http` and `https` URLs are accepted.
//!
//! Pure: no IO.
//!
//! ```
//! use rook_config::egress::EgressPolicy;
//!
//! let default = EgressPolicy::new(&[], false)?;
//! assert!(default.check_url("http://169.254.169.254/v1").is_err());
//! assert!(default.check_url("http://127.0.0.1:11434/v1").is_ok());
//! assert!(default.check_url("https://metadata.google.internal/v1").is_err());
//!
//! let locked = EgressPolicy::new(&["10.1.0.0/16".into()], true)?;
//! assert!(locked.check_url("http://127.0.0.1:11434/v1").is_err());
//! assert!(locked.check_url("http://10.1.2.3/v1").is_ok());
//! let resolved = "127.0.0.1".parse().unwrap();
//! assert!(locked.check_resolved("localhost", resolved).is_err());
//! # Ok::<(), rook_config::egress::AllowEntryError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host names of cloud metadata services, denied unless allowed by name.
pub const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// Addresses of cloud metadata services outside the link-local ranges (or
/// inside ranges that are otherwise allowed), denied unless allowed.
const METADATA_ADDRS: &[IpAddr] = &[
    // AWS IMDS over IPv6.
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    // Google Cloud metadata over IPv6.
    IpAddr::V6(Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)),
    // Alibaba Cloud.
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    // Azure WireServer.
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    // The common IPv4 endpoint (also in 169.254/16; named for the message).
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
];

/// Why an address or URL is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// Not an `http`/`https` URL, or no host in it.
    Scheme,
    /// A cloud metadata service (by name or address).
    Metadata,
    /// A link-local address.
    LinkLocal,
    /// Multicast or broadcast.
    NotUnicast,
    /// Loopback, unspecified, private or CGNAT, with `deny_private_networks`.
    Private,
    /// A numeric host that is not a dotted-quad IPv4 address.
    NumericHost,
}

impl DenyReason {
    /// A stable label (logs).
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::Scheme => "scheme",
            DenyReason::Metadata => "metadata",
            DenyReason::LinkLocal => "link_local",
            DenyReason::NotUnicast => "not_unicast",
            DenyReason::Private => "private",
            DenyReason::NumericHost => "numeric_host",
        }
    }
}

/// A denied destination: what was denied and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressDenied {
    /// The host (or address) that was denied.
    pub target: String,
    /// Why.
    pub reason: DenyReason,
}

impl fmt::Display for EgressDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        let why = match self.reason {
            DenyReason::Scheme => {
                return f.write_str("egress denied: only http:// and https:// URLs with a host")
            }
            DenyReason::Metadata => "is a cloud metadata service",
            DenyReason::LinkLocal => "is a link-local address (cloud metadata services live there)",
            DenyReason::NotUnicast => "is a multicast or broadcast address",
            DenyReason::Private => {
                "is a loopback, private or shared address and [upstream] deny_private_networks is true"
            }
            DenyReason::NumericHost => {
                return write!(
                    f,
                    "egress denied: {t} is a numeric host; write IPv4 addresses as four decimal numbers (a.b.c.d)"
                )
            }
        };
        write!(
            f,
            "egress denied: {t} {why}; list it in [upstream] allowed_egress to allow it"
        )
    }
}

impl std::error::Error for EgressDenied {}

/// An `allowed_egress` entry that is neither a host name, an IP address nor a
/// CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntryError {
    /// Index in the list.
    pub index: usize,
    /// Why.
    pub message: String,
}

impl fmt::Display for AllowEntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allowed_egress[{}]: {}", self.index, self.message)
    }
}

impl std::error::Error for AllowEntryError {}

/// An IP block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(&n.octets(), &a.octets(), u32::from(self.prefix))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(&n.octets(), &a.octets(), u32::from(self.prefix))
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let mut left = bits;
    for (x, y) in a.iter().zip(b) {
        if left == 0 {
            return true;
        }
        let take = left.min(8);
        let mask = (0xffu16 << (8 - take)) as u8;
        if x & mask != y & mask {
            return false;
        }
        left -= take;
    }
    true
}

fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Net {
    Net {
        addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
    }
}

fn v6(first: u16, prefix: u8) -> Net {
    Net {
        addr: IpAddr::V6(Ipv6Addr::new(first, 0, 0, 0, 0, 0, 0, 0)),
        prefix,
    }
}

/// What an address is, for the policy.
fn classify(ip: IpAddr) -> Option<DenyReason> {
    if METADATA_ADDRS.contains(&ip) {
        return Some(DenyReason::Metadata);
    }
    let link_local = [v4(169, 254, 0, 0, 16), v6(0xfe80, 10)];
    if link_local.iter().any(|n| n.contains(ip)) {
        return Some(DenyReason::LinkLocal);
    }
    let not_unicast = [
        v4(224, 0, 0, 0, 4),
        v4(255, 255, 255, 255, 32),
        v6(0xff00, 8),
    ];
    if not_unicast.iter().any(|n| n.contains(ip)) {
        return Some(DenyReason::NotUnicast);
    }
    let private = [
        v4(127, 0, 0, 0, 8),
        v4(0, 0, 0, 0, 8),
        v4(10, 0, 0, 0, 8),
        v4(172, 16, 0, 0, 12),
        v4(192, 168, 0, 0, 16),
        v4(100, 64, 0, 0, 10),
        v6(0xfc00, 7),
        v6(0xfec0, 10),
    ];
    let v6_special =
        ip == IpAddr::V6(Ipv6Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    if v6_special || private.iter().any(|n| n.contains(ip)) {
        return Some(DenyReason::Private);
    }
    None
}

/// The IPv4 address an IPv6 address carries (mapped, compatible, NAT64), or
/// the address itself.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(a) = ip else { return ip };
    if let Some(m) = a.to_ipv4_mapped() {
        return IpAddr::V4(m);
    }
    let s = a.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // IPv4-compatible (::a.b.c.d), but not :: and ::1 themselves.
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return IpAddr::V4(tail());
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(tail());
    }
    ip
}

/// The egress policy in force. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    deny_private: bool,
    hosts: Vec<String>,
    nets: Vec<Net>,
}

impl EgressPolicy {
    /// The policy of `[upstream] allowed_egress` and `deny_private_networks`.
    /// Fails on the first entry that is not a host name, IP address or CIDR
    /// block.
    pub fn new(allowed: &[String], deny_private_networks: bool) -> Result<Self, AllowEntryError> {
        let mut p = EgressPolicy {
            deny_private: deny_private_networks,
            ..EgressPolicy::default()
        };
        for (index, entry) in allowed.iter().enumerate() {
            let err = |message: &str| AllowEntryError {
                index,
                message: message.to_owned(),
            };
            let e = entry.trim();
            if e.is_empty() {
                return Err(err("must not be empty"));
            }
            if let Some((addr, prefix)) = e.split_once('/') {
                let addr: IpAddr = addr
                    .parse()
                    .map_err(|_| err("must be a host name, an IP address or a CIDR block (an IP address, `/`, a prefix length)"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix = prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| err(&format!("the prefix length must be 0..={max}")))?;
                p.nets.push(Net { addr, prefix });
            } else if let Ok(addr) = e
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                let prefix = if addr.is_ipv4() { 32 } else { 128 };
                p.nets.push(Net { addr, prefix });
            } else {
                let host = normalize_host(e);
                let valid = !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
                if !valid {
                    return Err(err(
                        "must be a host name, an IP address or a CIDR block (10.0.0.0/8)",
                    ));
                }
                p.hosts.push(host);
            }
        }
        Ok(p)
    }

    /// Whether loopback and private ranges are denied.
    pub fn denies_private_networks(&self) -> bool {
        self.deny_private
    }

    /// Checks a base URL before it is stored or dialled: `http`/`https`, and
    /// its host (a name by [`check_host`](Self::check_host), an address by
    /// [`check_ip`](Self::check_ip)).
    pub fn check_url(&self, url: &str) -> Result<(), EgressDenied> {
        match url_host(url) {
            Some(host) => self.check_host(host),
            None => Err(EgressDenied {
                target: String::new(),
                reason: DenyReason::Scheme,
            }),
        }
    }

    /// Checks a host as written in a URL (brackets allowed around IPv6): an
    /// address is checked as such; a name is denied when it is a metadata
    /// service's or numeric, unless listed. A name that passes is checked
    /// again, on its resolved addresses, at connect time.
    pub fn check_host(&self, host: &str) -> Result<(), EgressDenied> {
        let name = normalize_host(host);
        if self.hosts.contains(&name) {
            return Ok(());
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        let deny = |reason| {
            Err(EgressDenied {
                target: name.clone(),
                reason,
            })
        };
        let last = name.rsplit('.').next().unwrap_or_default();
        let numeric = !last.is_empty()
            && (last.bytes().all(|b| b.is_ascii_digit())
                || (last.len() > 2 && last[..2].eq_ignore_ascii_case("0x")));
        if numeric {
            return deny(DenyReason::NumericHost);
        }
        if METADATA_NAMES.contains(&name.as_str()) {
            return deny(DenyReason::Metadata);
        }
        Ok(())
    }

    /// Checks an address to be dialled.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressDenied> {
        let ip = canonical_ip(ip);
        if self.nets.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        match classify(ip) {
            Some(DenyReason::Private) if !self.deny_private => Ok(()),
            Some(reason) => Err(EgressDenied {
                target: ip.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Checks an address that `host` resolved to: allowed when the name is
    /// listed, else as [`check_ip`](Self::check_ip).
    pub fn check_resolved(&self, host: &str, ip: IpAddr) -> Result<(), EgressDenied> {
        if self.hosts.contains(&normalize_host(host)) {
            return Ok(());
        }
        self.check_ip(ip)
    }
}

/// Lower case, without brackets and a trailing dot.
fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an `http`/`https` URL (brackets kept off IPv6), if any.
pub fn url_host(url: &str) -> Option<&str> {
    let (scheme, rest) = url.trim().split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = if let Some(after) = authority.strip_prefix('[') {
        after.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_by_class() {
        let default = EgressPolicy::new(&[], false).unwrap();
        let locked = EgressPolicy::new(&[], true).unwrap();
        // (address, reason it is denied under the locked policy; None: allowed)
        let table: &[(&str, Option<DenyReason>)] = &[
            ("169.254.169.254", Some(DenyReason::Metadata)),
            ("169.254.170.2", Some(DenyReason::LinkLocal)),
            ("169.254.0.1", Some(DenyReason::LinkLocal)),
            ("fe80::1", Some(DenyReason::LinkLocal)),
            ("febf:ffff::1", Some(DenyReason::LinkLocal)),
            ("fd00:ec2::254", Some(DenyReason::Metadata)),
            ("fd20:ce::254", Some(DenyReason::Metadata)),
            ("100.100.100.200", Some(DenyReason::Metadata)),
            ("168.63.129.16", Some(DenyReason::Metadata)),
            ("::ffff:169.254.169.254", Some(DenyReason::Metadata)),
            ("64:ff9b::a9fe:a9fe", Some(DenyReason::Metadata)),
            ("::169.254.169.254", Some(DenyReason::Metadata)),
            ("224.0.0.1", Some(DenyReason::NotUnicast)),
            ("255.255.255.255", Some(DenyReason::NotUnicast)),
            ("ff02::1", Some(DenyReason::NotUnicast)),
            ("127.0.0.1", Some(DenyReason::Private)),
            ("127.255.0.9", Some(DenyReason::Private)),
            ("::1", Some(DenyReason::Private)),
            ("::", Some(DenyReason::Private)),
            ("0.0.0.0", Some(DenyReason::Private)),
            ("10.1.2.3", Some(DenyReason::Private)),
            ("172.16.0.1", Some(DenyReason::Private)),
            ("172.31.255.255", Some(DenyReason::Private)),
            ("192.168.1.1", Some(DenyReason::Private)),
            ("100.64.0.1", Some(DenyReason::Private)),
            ("100.127.255.254", Some(DenyReason::Private)),
            ("fc00::1", Some(DenyReason::Private)),
            ("fdff::1", Some(DenyReason::Private)),
            ("::ffff:10.0.0.1", Some(DenyReason::Private)),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("100.128.0.1", None),
            ("169.255.0.1", None),
            ("2606:4700::1111", None),
            ("64:ff9b::808:808", None),
        ];
        for (addr, want) in table {
            let got = locked.check_ip(ip(addr)).err().map(|e| e.reason);
            assert_eq!(got, *want, "{addr} (locked)");
            let want_default = want.filter(|r| *r != DenyReason::Private);
            let got = default.check_ip(ip(addr)).err().map(|e| e.reason);
            assert_eq!(got, want_default, "{addr} (default)");
        }
    }

    #[test]
    fn urls_and_names() {
        let p = EgressPolicy::new(&[], false).unwrap();
        let table: &[(&str, Option<DenyReason>)] = &[
            ("https://api.openai.com/v1", None),
            ("http://127.0.0.1:11434/v1", None),
            ("http://localhost:8000/v1", None),
            ("http://[::1]:8000/v1", None),
            ("http://169.254.169.254/latest", Some(DenyReason::Metadata)),
            ("http://[fd00:ec2::254]/v1", Some(DenyReason::Metadata)),
            ("http://[fe80::1]:80/v1", Some(DenyReason::LinkLocal)),
            (
                "http://metadata.google.internal/computeMetadata/v1",
                Some(DenyReason::Metadata),
            ),
            (
                "http://METADATA.Google.Internal./v1",
                Some(DenyReason::Metadata),
            ),
            ("http://metadata/v1", Some(DenyReason::Metadata)),
            ("http://2852039166/v1", Some(DenyReason::NumericHost)),
            ("http://0x7f.1/v1", Some(DenyReason::NumericHost)),
            ("http://0177.0.0.1/v1", Some(DenyReason::NumericHost)),
            ("http://127.1/v1", Some(DenyReason::NumericHost)),
            ("http://host.example.123/v1", Some(DenyReason::NumericHost)),
            ("http://v1.example.com/v1", None),
            ("ftp://example.com/v1", Some(DenyReason::Scheme)),
            ("file:///etc/passwd", Some(DenyReason::Scheme)),
            ("example.com/v1", Some(DenyReason::Scheme)),
        ];
        for (url, want) in table {
            let got = p.check_url(url).err().map(|e| e.reason);
            assert_eq!(got, *want, "{url}");
        }
    }

    #[test]
    fn the_allowlist_loosens_by_name_address_and_block() {
        let p = EgressPolicy::new(
            &[
                "metadata.google.internal".into(),
                "169.254.169.254".into(),
                "10.0.0.0/8".into(),
                "Localhost.".into(),
                "[fd00:ec2::254]".into(),
                "fe80::/10".into(),
            ],
            true,
        )
        .unwrap();
        assert!(p.check_url("http://metadata.google.internal/v1").is_ok());
        // A listed name is trusted whatever it resolves to.
        assert!(p
            .check_resolved("metadata.google.internal", ip("169.254.1.1"))
            .is_ok());
        assert!(p.check_resolved("localhost", ip("127.0.0.1")).is_ok());
        assert!(p.check_resolved("other.example", ip("127.0.0.1")).is_err());
        assert!(p.check_url("http://169.254.169.254/v1").is_ok());
        assert!(p.check_url("http://169.254.169.253/v1").is_err());
        assert!(p.check_url("http://10.20.30.40/v1").is_ok());
        assert!(p.check_url("http://11.0.0.1/v1").is_ok());
        assert!(p.check_url("http://192.168.0.1/v1").is_err());
        assert!(p.check_url("http://[fd00:ec2::254]/v1").is_ok());
        assert!(p.check_url("http://[fe80::9]/v1").is_ok());
        assert!(p.check_ip(ip("::ffff:10.1.1.1")).is_ok());
        assert!(p.denies_private_networks());
    }

    #[test]
    fn bad_allow_entries() {
        for (entry, fragment) in [
            ("", "must not be empty"),
            ("10.0.0.0/33", "0..=32"),
            ("::/129", "0..=128"),
            ("nope/8", "prefix length"),
            ("bad host", "host name"),
            ("http://x", "host name"),
        ] {
            let e = EgressPolicy::new(&["ok.example".into(), entry.into()], false).unwrap_err();
            assert_eq!(e.index, 1, "{entry}");
            assert!(e.to_string().contains(fragment), "{entry}: {e}");
        }
    }

    #[test]
    fn prefixes() {
        assert!(prefix_eq(&[10, 1, 2, 3], &[10, 200, 0, 0], 8));
        assert!(!prefix_eq(&[10, 1, 2, 3], &[10, 200, 0, 0], 9));
        assert!(prefix_eq(&[172, 16, 0, 0], &[172, 31, 255, 255], 12));
        assert!(!prefix_eq(&[172, 16, 0, 0], &[172, 32, 0, 0], 12));
        assert!(prefix_eq(&[1, 2, 3, 4], &[9, 9, 9, 9], 0));
        assert!(prefix_eq(&[1, 2, 3, 4], &[1, 2, 3, 4], 32));
    }

    #[test]
    fn messages_name_the_target_and_the_way_out() {
        let p = EgressPolicy::new(&[], false).unwrap();
        let e = p.check_url("http://169.254.169.254/v1").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("169.254.169.254") && m.contains("allowed_egress"),
            "{m}"
        );
        assert_eq!(e.reason.as_str(), "metadata");
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://a.example:8443/v1"), Some("a.example"));
        assert_eq!(url_host("http://[::1]:80/v1"), Some("::1"));
        assert_eq!(url_host("http://u:p@h.example/v1"), Some("h.example"));
        assert_eq!(url_host("HTTP://h.example?x"), Some("h.example"));
        assert_eq!(url_host("http:///v1"), None);
        assert_eq!(url_host("gopher://h/"), None);
    }
}
