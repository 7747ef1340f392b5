//! Sealing API-set provider keys at rest: the one place Rook does cryptography on keys.
//!
//! A [`Sealer`] is built from the 32-byte master key ([`rook_config::MasterKey`]). Two
//! keys are derived from it with HKDF-SHA256: the AES-256-GCM key that seals, and a
//! short public fingerprint (the *key id*) that names the master key in each stored
//! value, so a value sealed under another master key is reported as such instead of
//! failing as garbage.
//!
//! The stored form (the `accounts.api_key` column) is a versioned text envelope:
//!
//! ```text
//! rk1:<key id: 12 hex digits>:<base64url(nonce ‖ ciphertext ‖ tag), no padding>
//! ```
//!
//! Every seal takes a fresh random 96-bit nonce from the system RNG. The account id is
//! the associated data, so a sealed value copied onto another account does not open.
//! Values without the `rk1:` prefix are plaintext rows written by earlier versions of
//! Rook; they are still read ([`Opened::Legacy`]) and are sealed at the next server
//! start with a master key, or by `rook-cli secrets rotate-master`.
//!
//! ```
//! use rook_config::MasterKey;
//! use rook_registry::seal::{Opened, Sealer};
//!
//! let sealer = Sealer::new(&MasterKey::from_bytes([7; 32])).unwrap();
//! let stored = sealer.seal("acct-a", "sk-live-123").unwrap();
//! assert!(stored.starts_with("rk1:"));
//! assert!(!stored.contains("sk-live-123"));
//! match sealer.open("acct-a", &stored).unwrap() {
//!     Opened::Sealed(key) => assert_eq!(key.expose(), "sk-live-123"),
//!     Opened::Legacy(_) => unreachable!(),
//! }
//! // Bound to its account: it does not open for another.
//! assert!(sealer.open("acct-b", &stored).is_err());
//! ```

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use rook_config::{MasterKey, Secret};

/// Why an inline key was refused: no master key is configured.
pub const NO_MASTER_KEY: &str = "an inline `api_key` is stored encrypted and needs a master key, \
and none is configured: give the key through `api_key_env` or `api_key_file` instead, or set \
`[secrets] master_key_env` (or `master_key_file`) on the server";

/// The prefix of a sealed value (format version 1).
pub const PREFIX: &str = "rk1:";

/// Length of the key id in bytes (shown as twice as many hex digits).
const KEY_ID_LEN: usize = 6;

/// Domain separation for everything derived from the master key.
const HKDF_SALT: &[u8] = b"rook master key v1";
const INFO_AEAD: &[u8] = b"rook api_key aead v1";
const INFO_KEY_ID: &[u8] = b"rook key id v1";
const AAD_PREFIX: &[u8] = b"rook account api_key v1\0";

/// Why a stored value could not be sealed or opened. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The value was sealed under another master key.
    #[error(
        "sealed under another master key (key id {found}; the configured master key has key id {expected})"
    )]
    OtherMasterKey {
        /// Key id in the stored value.
        found: String,
        /// Key id of the configured master key.
        expected: String,
    },
    /// The value is sealed but no master key is configured.
    #[error("sealed under master key {found}, but no master key is configured ([secrets] master_key_env or master_key_file)")]
    NoMasterKey {
        /// Key id in the stored value.
        found: String,
    },
    /// The envelope is malformed (truncated, bad base64, unknown version).
    #[error("the stored value is not a valid sealed key")]
    Malformed,
    /// Authentication failed: the value was changed, or belongs to another account.
    #[error(
        "the sealed key does not open for this account (changed, or copied from another account)"
    )]
    Tampered,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Deriving keys from the master key failed.
    #[error("deriving keys from the master key failed")]
    Derive,
}

/// What a stored value held.
#[derive(Debug, Clone)]
pub enum Opened {
    /// A sealed key, opened.
    Sealed(Secret),
    /// A plaintext value from an earlier version (not sealed yet).
    Legacy(Secret),
}

impl Opened {
    /// The key, whichever way it was stored.
    pub fn into_secret(self) -> Secret {
        match self {
            Opened::Sealed(s) | Opened::Legacy(s) => s,
        }
    }
}

/// Whether a stored `api_key` value is sealed (else it is a legacy plaintext row).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The key id named by a sealed value, if it is one.
pub fn key_id_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split(':').next()
}

/// Seals and opens provider keys under one master key.
pub struct Sealer {
    key: LessSafeKey,
    key_id: String,
    rng: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct KeyIdLen;

impl hkdf::KeyType for KeyIdLen {
    fn len(&self) -> usize {
        KEY_ID_LEN
    }
}

impl Sealer {
    /// A sealer for `master`. Fails only if key derivation fails, which it does not
    /// for these fixed lengths ([`SealError::Derive`]).
    pub fn new(master: &MasterKey) -> Result<Sealer, SealError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(master.expose());
        let mut id = [0u8; KEY_ID_LEN];
        prk.expand(&[INFO_KEY_ID], KeyIdLen)
            .and_then(|okm| okm.fill(&mut id))
            .map_err(|_| SealError::Derive)?;
        let okm = prk
            .expand(&[INFO_AEAD], &AES_256_GCM)
            .map_err(|_| SealError::Derive)?;
        Ok(Sealer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            key_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            rng: SystemRandom::new(),
        })
    }

    /// The master key's public fingerprint (12 hex digits).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` for account `account_id`.
    pub fn seal(&self, account_id: &str, plaintext: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(account_id)),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + buf.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.key_id,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a stored value of account `account_id`: a sealed value under this master
    /// key, or a legacy plaintext value as it is.
    pub fn open(&self, account_id: &str, stored: &str) -> Result<Opened, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(Opened::Legacy(Secret::new(stored)));
        };
        let (key_id, data) = rest.split_once(':').ok_or(SealError::Malformed)?;
        if key_id != self.key_id {
            return Err(SealError::OtherMasterKey {
                found: key_id.to_string(),
                expected: self.key_id.clone(),
            });
        }
        let blob = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(account_id)), &mut buf)
            .map_err(|_| SealError::Tampered)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| SealError::Malformed)?;
        Ok(Opened::Sealed(Secret::new(text)))
    }
}

/// Opens `stored` with `sealer` when there is one; without a master key only legacy
/// plaintext values open.
pub fn open_with(
    sealer: Option<&Sealer>,
    account_id: &str,
    stored: &str,
) -> Result<Opened, SealError> {
    match sealer {
        Some(s) => s.open(account_id, stored),
        None if is_sealed(stored) => Err(SealError::NoMasterKey {
            found: key_id_of(stored).unwrap_or("?").to_string(),
        }),
        None => Ok(Opened::Legacy(Secret::new(stored))),
    }
}

fn aad(account_id: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_PREFIX.len() + account_id.len());
    a.extend_from_slice(AAD_PREFIX);
    a.extend_from_slice(account_id.as_bytes());
    a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sealer(b: u8) -> Sealer {
        Sealer::new(&MasterKey::from_bytes([b; 32])).unwrap()
    }

    fn open_text(s: &Sealer, id: &str, stored: &str) -> Result<String, SealError> {
        match s.open(id, stored)? {
            Opened::Sealed(k) => Ok(k.expose().to_string()),
            Opened::Legacy(_) => panic!("not sealed"),
        }
    }

    #[test]
    fn round_trips_and_never_contains_the_plaintext() {
        let s = sealer(1);
        for key in [
            "k",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
            "ключ-🔑",
        ] {
            let stored = s.seal("a", key).unwrap();
            assert!(
                stored.starts_with(&format!("rk1:{}:", s.key_id())),
                "{stored}"
            );
            assert!(key.len() < 4 || !stored.contains(key));
            assert_eq!(key_id_of(&stored), Some(s.key_id()));
            assert_eq!(open_text(&s, "a", &stored).unwrap(), key);
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let s = sealer(1);
        let a = s.seal("a", "same").unwrap();
        let b = s.seal("a", "same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn key_ids_name_the_master_key() {
        assert_eq!(sealer(1).key_id(), sealer(1).key_id());
        assert_ne!(sealer(1).key_id(), sealer(2).key_id());
        assert_eq!(sealer(1).key_id().len(), 12);
    }

    #[test]
    fn failures_are_told_apart() {
        let s = sealer(1);
        let stored = s.seal("a", "secret").unwrap();
        // Another account: the associated data differs.
        assert_eq!(s.open("b", &stored).unwrap_err(), SealError::Tampered);
        // Another master key: named by key id, not tried.
        assert!(matches!(
            sealer(2).open("a", &stored).unwrap_err(),
            SealError::OtherMasterKey { .. }
        ));
        // No master key at all.
        assert!(matches!(
            open_with(None, "a", &stored).unwrap_err(),
            SealError::NoMasterKey { .. }
        ));
        // A flipped character in the ciphertext.
        let mut chars: Vec<char> = stored.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let flipped: String = chars.into_iter().collect();
        assert_eq!(s.open("a", &flipped).unwrap_err(), SealError::Tampered);
        // Truncated, bad base64, missing separator.
        let id = s.key_id().to_string();
        for bad in [
            format!("rk1:{id}:"),
            format!("rk1:{id}:AAAA"),
            format!("rk1:{id}:!!!"),
            "rk1:".to_string(),
        ] {
            let e = s.open("a", &bad).unwrap_err();
            assert!(
                matches!(e, SealError::Malformed | SealError::OtherMasterKey { .. }),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn legacy_values_open_as_they_are() {
        let s = sealer(1);
        assert!(
            matches!(s.open("a", "sk-old").unwrap(), Opened::Legacy(k) if k.expose() == "sk-old")
        );
        assert!(matches!(
            open_with(None, "a", "sk-old").unwrap(),
            Opened::Legacy(_)
        ));
        assert!(!is_sealed("sk-old"));
    }

    #[test]
    fn errors_and_debug_carry_no_key_material() {
        let s = sealer(1);
        let stored = s.seal("a", "sk-CANARY").unwrap();
        assert!(!format!("{s:?}").contains("1, 1"));
        for e in [
            s.open("b", &stored).unwrap_err(),
            sealer(2).open("a", &stored).unwrap_err(),
        ] {
            assert!(!e.to_string().contains("CANARY"));
        }
    }
}
