//! `[secrets]`: the master key that seals API-set provider keys at rest.
//!
//! The master key is 32 random bytes, given either as 64 hexadecimal digits
//! (`openssl rand -hex 32`) or as standard base64 (`openssl rand -base64 32`:
//! 44 characters with `=` padding, or 43 without). It comes from an
//! environment variable (`master_key_env`) or a file (`master_key_file`),
//! never from the config file itself. [`MasterKey`] holds the decoded bytes;
//! its `Debug` prints `[redacted]` and decoding errors never echo the text.
//!
//! Sealing itself (AEAD) is `rook-registry`'s business; this module only says
//! where the key is and whether it is well-formed.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{SecretError, SecretSource, REDACTED};

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// `[secrets]`: where the master key comes from. Unset (the default): no
/// master key, and the admin API refuses inline `api_key`s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// Environment variable holding the master key (hex or base64).
    pub master_key_env: Option<String>,
    /// File holding the master key (hex or base64; surrounding whitespace is
    /// trimmed).
    pub master_key_file: Option<PathBuf>,
}

impl Secrets {
    /// Where the master key is read from, if a master key is configured
    /// (`master_key_file` wins; setting both is a validation error).
    pub fn master_key_source(&self) -> Option<SecretSource> {
        match (&self.master_key_file, &self.master_key_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        }
    }

    /// Whether a master key is configured (not whether it can be read).
    pub fn has_master_key(&self) -> bool {
        self.master_key_source().is_some()
    }

    /// Reads and decodes the master key: `Ok(None)` when none is configured.
    /// Fail the start (exit 2) on `Err`.
    pub fn resolve_master_key(&self) -> Result<Option<MasterKey>, MasterKeyError> {
        let Some(source) = self.master_key_source() else {
            return Ok(None);
        };
        let secret = source.resolve().map_err(MasterKeyError::Unreadable)?;
        MasterKey::parse(secret.expose())
            .map(Some)
            .map_err(|reason| MasterKeyError::Malformed {
                origin: source,
                reason,
            })
    }
}

/// A decoded 32-byte master key. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// Decodes a key given as 64 hex digits or as base64 of 32 bytes.
    /// The error says what is wrong, never what the text was.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let text = text.trim();
        let bytes =
            if text.len() == 2 * MASTER_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                decode_hex(text)
            } else {
                decode_base64(text).ok_or_else(|| {
                    format!(
                        "is neither {} hexadecimal digits nor base64 (generate one with \
                     `openssl rand -hex 32`)",
                        2 * MASTER_KEY_LEN
                    )
                })?
            };
        let len = bytes.len();
        let key: [u8; MASTER_KEY_LEN] = bytes.try_into().map_err(|_| {
            format!(
                "decodes to {len} bytes; the master key must be exactly {MASTER_KEY_LEN} random \
                 bytes (generate one with `openssl rand -hex 32`)"
            )
        })?;
        Ok(MasterKey(key))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// The key bytes. Do not log them.
    pub fn expose(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The master key could not be read or decoded. Never carries the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The variable or file could not be read.
    #[error("master key: {0}")]
    Unreadable(SecretError),
    /// The value is not a well-formed 32-byte key.
    #[error("master key from {origin} {reason}")]
    Malformed {
        /// Where it came from.
        origin: SecretSource,
        /// What is wrong (no key material).
        reason: String,
    },
}

fn decode_hex(text: &str) -> Vec<u8> {
    // Only called on ASCII hex digits.
    let digit = |b: u8| char::from(b).to_digit(16).map_or(0, |d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| (digit(pair[0]) << 4) | digit(pair[1]))
        .collect()
}

/// Standard base64 (`+/`), padding optional; `None` on any other character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // A single leftover character (6 bits) cannot end valid base64.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    // base64 of the same 32 bytes.
    const B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parses_hex_and_base64_to_the_same_key() {
        let want: Vec<u8> = (0u8..32).collect();
        for text in [
            HEX,
            &HEX.to_uppercase(),
            B64,
            B64.trim_end_matches('='),
            &format!(" {HEX}\n"),
        ] {
            let key = MasterKey::parse(text).unwrap();
            assert_eq!(key.expose().as_slice(), want.as_slice(), "{text}");
        }
    }

    #[test]
    fn rejects_wrong_lengths_and_garbage_without_echoing() {
        let cases = [
            ("", "decodes to 0 bytes"),
            ("abc", "decodes to 2 bytes"),
            ("c2VjcmV0LWJ1dC1zaG9ydA==", "decodes to 16 bytes"),
            (&HEX[..62], "decodes to"),
            (&format!("{HEX}00"), "decodes to"),
            ("not base64 at all!", "neither"),
            ("A", "neither"),
            ("AAAA===", "neither"),
        ];
        for (text, want) in cases {
            let err = MasterKey::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            if text.len() > 4 {
                assert!(!err.contains(text), "the key text is echoed: {err}");
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = MasterKey::parse(HEX).unwrap();
        assert_eq!(format!("{key:?}"), "[redacted]");
    }

    #[test]
    fn source_and_resolution() {
        let none = Secrets::default();
        assert!(!none.has_master_key());
        assert_eq!(none.resolve_master_key(), Ok(None));
        let s = Secrets {
            master_key_env: Some("ROOK_TEST_MASTER_KEY_UNSET_VAR".into()),
            master_key_file: None,
        };
        assert!(matches!(
            s.resolve_master_key(),
            Err(MasterKeyError::Unreadable(SecretError::EnvMissing { .. }))
        ));
        let dir = std::env::temp_dir().join(format!("rook-mk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "c2VjcmV0LWJ1dC1zaG9ydA==\n").unwrap();
        let s = Secrets {
            master_key_env: None,
            master_key_file: Some(short.clone()),
        };
        let err = s.resolve_master_key().unwrap_err().to_string();
        assert!(err.contains("16 bytes") && err.contains("short"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let good = dir.join("good");
        std::fs::write(&good, HEX).unwrap();
        let s = Secrets {
            master_key_env: None,
            master_key_file: Some(good),
        };
        assert!(s.resolve_master_key().unwrap().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
