//! Client keys: the stored record, and the secret's format, hash and display prefix.
//!
//! A secret is `rk-` followed by 32 random bytes from the operating system's CSPRNG in
//! base62 (43 characters, so it survives double-click selection and URLs). Only its
//! SHA-256 ([`hash_secret`], hex) and a display prefix ([`display_prefix`], `rk-AbC1`)
//! are stored; the secret itself is shown once, by whoever generated it.
//!
//! ```
//! use rook_registry::client_key::{display_prefix, generate_secret, hash_secret};
//!
//! let secret = generate_secret()?;
//! assert!(secret.starts_with("rk-") && secret.len() == 46);
//! assert_eq!(hash_secret(&secret).len(), 64);
//! assert_eq!(display_prefix("rk-AbC1defghijklmnopqrstu"), "rk-AbC1");
//! # Ok::<(), rook_registry::client_key::RandomError>(())
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::types::Source;

/// The text every generated secret starts with.
pub const SECRET_PREFIX: &str = "rk-";

/// Characters of the secret kept as its display prefix, after `rk-`.
pub const DISPLAY_CHARS: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62 digits of a 256-bit number (62^43 > 2^256).
const SECRET_DIGITS: usize = 43;

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no randomness available from the operating system: {0}")]
pub struct RandomError(String);

/// A new secret: `rk-` + base62 of 32 random bytes.
pub fn generate_secret() -> Result<String, RandomError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError("the system random generator failed".to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", base62(bytes)))
}

/// Big-endian base62 of 32 bytes, left-padded to [`SECRET_DIGITS`] digits.
fn base62(mut n: [u8; 32]) -> String {
    let mut digits = [b'0'; SECRET_DIGITS];
    for slot in digits.iter_mut().rev() {
        // n, rem = divmod(n, 62)
        let mut rem: u32 = 0;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        *slot = BASE62[rem as usize];
    }
    digits.iter().map(|&d| char::from(d)).collect()
}

/// The SHA-256 of a presented or generated secret, as 32 bytes.
pub fn hash_bytes(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// The SHA-256 of a secret, lowercase hex: what the registry stores.
pub fn hash_secret(secret: &str) -> String {
    hex(&hash_bytes(secret.as_bytes()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// The 32 bytes of a stored hex hash (`None` when it is not 64 hex digits).
pub fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

/// What listings show of a secret: `rk-` and its first four characters for a generated
/// secret, `…` and the last four for another (file-declared) token, never more.
pub fn display_prefix(secret: &str) -> String {
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(rest) if rest.len() >= 16 && rest.is_ascii() => {
            format!("{SECRET_PREFIX}{}", &rest[..DISPLAY_CHARS])
        }
        _ => {
            let chars: Vec<char> = secret.chars().collect();
            if chars.len() >= 16 {
                let tail: String = chars[chars.len() - DISPLAY_CHARS..].iter().collect();
                format!("…{tail}")
            } else {
                "…".to_string()
            }
        }
    }
}

/// A client key as the registry stores it.
///
/// `secret_hash` and `previous_hash` are never serialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientKeyRecord {
    /// Unique id (the id syntax of accounts; `default` is reserved).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owner label.
    #[serde(default)]
    pub owner: Option<String>,
    /// Allowed logical models (names or `*` globs); empty = all.
    #[serde(default)]
    pub models: Vec<String>,
    /// Budget in US dollars per period.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// `day`, `week`, `month` or `total`.
    #[serde(default)]
    pub budget_period: Option<String>,
    /// Requests per minute.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Expiry (unix ms).
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    /// Whether the key works (a disabled key may be enabled again).
    pub enabled: bool,
    /// When the key was revoked (unix ms); a revoked key never works again.
    #[serde(default)]
    pub revoked_at_ms: Option<i64>,
    /// Free-form JSON object.
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
    /// `config` (declared in the file, read-only through the API) or `api`.
    #[serde(default)]
    pub source: Source,
    /// Display prefix of the secret (`rk-AbC1`).
    pub prefix: String,
    /// Creation time (unix ms).
    #[serde(default)]
    pub created_at_ms: i64,
    /// Last change of the key's settings or secret (unix ms).
    #[serde(default)]
    pub updated_at_ms: i64,
    /// Last request made with the key (unix ms), written in batches.
    #[serde(default)]
    pub last_used_at_ms: Option<i64>,
    /// SHA-256 of the secret, hex.
    #[serde(skip)]
    pub secret_hash: String,
    /// SHA-256 of the previous secret while a rotation's grace lasts.
    #[serde(skip)]
    pub previous_hash: Option<String>,
    /// End of the rotation grace (unix ms).
    #[serde(default)]
    pub previous_valid_until_ms: Option<i64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Why a key does not work at `now_ms` (`None`: it works).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Active,
    /// Disabled by an operator (may be enabled again).
    Disabled,
    /// Past `expires_at`.
    Expired,
    /// Revoked (for good).
    Revoked,
}

impl KeyState {
    /// `active`, `disabled`, `expired` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Disabled => "disabled",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl ClientKeyRecord {
    /// A new API key record with `id`, `name` and the secret's hash and prefix; no
    /// limits, enabled.
    pub fn new(id: impl Into<String>, name: impl Into<String>, secret: &str) -> Self {
        ClientKeyRecord {
            id: id.into(),
            name: name.into(),
            owner: None,
            models: Vec::new(),
            budget_usd: None,
            budget_period: None,
            requests_per_minute: None,
            tokens_per_minute: None,
            expires_at_ms: None,
            enabled: true,
            revoked_at_ms: None,
            metadata: empty_object(),
            source: Source::Api,
            prefix: display_prefix(secret),
            created_at_ms: 0,
            updated_at_ms: 0,
            last_used_at_ms: None,
            secret_hash: hash_secret(secret),
            previous_hash: None,
            previous_valid_until_ms: None,
        }
    }

    /// The key's state at `now_ms`: revoked beats expired beats disabled.
    pub fn state(&self, now_ms: i64) -> KeyState {
        if self.revoked_at_ms.is_some() {
            KeyState::Revoked
        } else if self.expires_at_ms.is_some_and(|e| e <= now_ms) {
            KeyState::Expired
        } else if !self.enabled {
            KeyState::Disabled
        } else {
            KeyState::Active
        }
    }

    /// Whether the key has any limit (scope, budget, rate or expiry).
    pub fn has_limits(&self) -> bool {
        !self.models.is_empty()
            || self.budget_usd.is_some()
            || self.requests_per_minute.is_some()
            || self.tokens_per_minute.is_some()
            || self.expires_at_ms.is_some()
    }
}

/// A key's spend and requests over a window, derived from usage events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyUsage {
    /// Sum of the events' `cost_usd`.
    pub spend_usd: f64,
    /// Number of events.
    pub requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_base62_and_hash_to_what_is_stored() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + SECRET_DIGITS);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
        let h = hash_secret(&a);
        assert_eq!(parse_hash(&h), Some(hash_bytes(a.as_bytes())));
        assert!(!h.contains(&a[3..]));
    }

    #[test]
    fn base62_table() {
        assert_eq!(base62([0; 32]), "0".repeat(43));
        let mut one = [0u8; 32];
        one[31] = 61;
        assert!(base62(one).ends_with("0z"));
        one[31] = 62;
        assert!(base62(one).ends_with("10"));
        // 2^256 - 1 fits in 43 digits.
        assert_ne!(base62([255; 32]).as_bytes()[0], b'0');
    }

    #[test]
    fn prefixes_never_show_much() {
        let table = [
            ("rk-AbC1defghijklmnopqrstuv", "rk-AbC1"),
            ("rk-short", "…"),
            ("a-file-declared-token-1234", "…1234"),
            ("tiny", "…"),
        ];
        for (secret, want) in table {
            assert_eq!(display_prefix(secret), want, "{secret}");
        }
    }

    #[test]
    fn states() {
        let mut k = ClientKeyRecord::new("a", "A", "rk-x");
        assert_eq!(k.state(0), KeyState::Active);
        k.enabled = false;
        assert_eq!(k.state(0), KeyState::Disabled);
        k.expires_at_ms = Some(10);
        assert_eq!(k.state(9), KeyState::Disabled);
        assert_eq!(k.state(10), KeyState::Expired);
        k.revoked_at_ms = Some(1);
        assert_eq!(k.state(10), KeyState::Revoked);
        assert!(k.has_limits());
        assert!(!serde_json::to_string(&k).unwrap().contains(&k.secret_hash));
    }

    #[test]
    fn hashes_parse_strictly() {
        assert_eq!(parse_hash("zz"), None);
        assert_eq!(parse_hash(&"g".repeat(64)), None);
        assert_eq!(parse_hash(&"0".repeat(64)), Some([0; 32]));
    }
}
