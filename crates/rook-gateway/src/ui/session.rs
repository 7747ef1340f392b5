//! The dashboard's sessions: an in-memory store of signed-in browsers, pure over
//! the time and the random bytes it is handed.
//!
//! A session id is 32 random bytes (64 hex digits) sent only in the `rook_session`
//! cookie; the store keeps its SHA-256, never the id, with the session's CSRF token
//! (32 more random bytes) and its times. A session ends [`IDLE_MS`] after its last
//! use, [`LIFETIME_MS`] after sign-in, or at sign-out; at most [`MAX_SESSIONS`] live
//! at once (signing in beyond that ends the least recently used one). The store is
//! per process: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;

use http::HeaderMap;
use rook_admin::{SessionAuth, SessionCheck};
use sha2::{Digest, Sha256};

/// The cookie's name.
pub(crate) const COOKIE: &str = "rook_session";
/// The header a write carries the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends this long after its last use (2 hours).
pub(crate) const IDLE_MS: i64 = 2 * 3_600_000;
/// A session ends this long after sign-in, used or not (12 hours).
pub(crate) const LIFETIME_MS: i64 = 12 * 3_600_000;
/// Most live sessions.
pub(crate) const MAX_SESSIONS: usize = 64;

/// A new session as the browser gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewSession {
    /// The cookie value.
    pub(crate) id: String,
    /// The CSRF token.
    pub(crate) csrf: String,
}

#[derive(Debug, Clone)]
struct Entry {
    csrf: String,
    created_ms: i64,
    last_ms: i64,
}

impl Entry {
    fn live(&self, now_ms: i64) -> bool {
        now_ms - self.last_ms < IDLE_MS && now_ms - self.created_ms < LIFETIME_MS
    }
}

/// The live sessions, keyed by the SHA-256 of their ids.
#[derive(Debug)]
pub(crate) struct SessionStore {
    sessions: Mutex<HashMap<[u8; 32], Entry>>,
    clock: fn() -> i64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Byte comparison without an early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `rook_session` cookie of a request, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

impl SessionStore {
    /// An empty store reading the time (unix ms) from `clock`.
    pub(crate) fn new(clock: fn() -> i64) -> Self {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic while holding the lock leaves the map consistent (single inserts/removes).
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session from 64 random bytes (id, then CSRF token).
    pub(crate) fn create(&self, random: &[u8; 64]) -> NewSession {
        let now = (self.clock)();
        let session = NewSession {
            id: hex(&random[..32]),
            csrf: hex(&random[32..]),
        };
        let mut map = self.lock();
        map.retain(|_, e| e.live(now));
        while map.len() >= MAX_SESSIONS {
            let oldest = map.iter().min_by_key(|(_, e)| e.last_ms).map(|(k, _)| *k);
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(
            digest(&session.id),
            Entry {
                csrf: session.csrf.clone(),
                created_ms: now,
                last_ms: now,
            },
        );
        session
    }

    /// The CSRF token of a live session (and marks it used); `None` when unknown or expired.
    pub(crate) fn touch(&self, id: &str) -> Option<String> {
        let now = (self.clock)();
        let key = digest(id);
        let mut map = self.lock();
        match map.get_mut(&key) {
            Some(e) if e.live(now) => {
                e.last_ms = now;
                Some(e.csrf.clone())
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session; whether it was live.
    pub(crate) fn end(&self, id: &str) -> bool {
        self.lock().remove(&digest(id)).is_some()
    }

    /// Live sessions now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let now = (self.clock)();
        self.lock().values().filter(|e| e.live(now)).count()
    }
}

impl SessionAuth for SessionStore {
    fn check(&self, headers: &HeaderMap, write: bool) -> SessionCheck {
        let Some(csrf) = cookie(headers).and_then(|id| self.touch(id)) else {
            return SessionCheck::Absent;
        };
        if !write {
            return SessionCheck::Valid;
        }
        let sent = headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(sent, csrf.as_bytes()) {
            SessionCheck::Valid
        } else {
            SessionCheck::CsrfFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use http::HeaderValue;

    use super::*;

    static NOW: AtomicI64 = AtomicI64::new(0);

    fn clock() -> i64 {
        NOW.load(Ordering::SeqCst)
    }

    fn random(n: u8) -> [u8; 64] {
        let mut r = [n; 64];
        r[32] = n.wrapping_add(1);
        r
    }

    fn headers(cookie: &str, csrf: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(cookie) {
            h.insert(http::header::COOKIE, v);
        }
        if let Some(Ok(v)) = csrf.map(HeaderValue::from_str) {
            h.insert(CSRF_HEADER, v);
        }
        h
    }

    // One test drives the shared fake clock, so the steps cannot interleave.
    #[test]
    fn sessions_checks_expiry_and_capacity() {
        NOW.store(1_000, Ordering::SeqCst);
        let store = SessionStore::new(clock);
        let s = store.create(&random(7));
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        let cookie = format!("theme=dark; {COOKIE}={}", s.id);
        // (headers, write, expected)
        let table = [
            (headers(&cookie, None), false, SessionCheck::Valid),
            (headers(&cookie, None), true, SessionCheck::CsrfFailed),
            (
                headers(&cookie, Some("nope")),
                true,
                SessionCheck::CsrfFailed,
            ),
            (headers(&cookie, Some(&s.csrf)), true, SessionCheck::Valid),
            (
                headers("rook_session=00", Some(&s.csrf)),
                true,
                SessionCheck::Absent,
            ),
            (headers("other=1", None), false, SessionCheck::Absent),
            (HeaderMap::new(), true, SessionCheck::Absent),
        ];
        for (h, write, want) in &table {
            assert_eq!(store.check(h, *write), *want, "{h:?} write={write}");
        }
        // Idle expiry, refreshed by use.
        NOW.store(1_000 + IDLE_MS - 1, Ordering::SeqCst);
        assert!(store.touch(&s.id).is_some());
        NOW.store(1_000 + 2 * IDLE_MS - 2, Ordering::SeqCst);
        assert!(store.touch(&s.id).is_some());
        NOW.store(1_000 + 3 * IDLE_MS, Ordering::SeqCst);
        assert!(store.touch(&s.id).is_none());
        // Lifetime ends a session however busy.
        let start = 10 * LIFETIME_MS;
        NOW.store(start, Ordering::SeqCst);
        let busy = store.create(&random(9));
        let mut t = start;
        while t < start + LIFETIME_MS - 1 {
            t = (t + IDLE_MS / 2).min(start + LIFETIME_MS - 1);
            NOW.store(t, Ordering::SeqCst);
            assert!(store.touch(&busy.id).is_some());
        }
        NOW.store(start + LIFETIME_MS, Ordering::SeqCst);
        assert!(store.touch(&busy.id).is_none());
        // Sign-out.
        let s = store.create(&random(11));
        assert!(store.end(&s.id));
        assert!(!store.end(&s.id));
        assert_eq!(
            store.check(&headers(&format!("{COOKIE}={}", s.id), None), false),
            SessionCheck::Absent
        );
        // Capacity: the least recently used session goes.
        let first = store.create(&random(20));
        for n in 0..MAX_SESSIONS as u8 {
            NOW.fetch_add(1, Ordering::SeqCst);
            store.create(&random(100 + n));
        }
        assert_eq!(store.len(), MAX_SESSIONS);
        assert!(store.touch(&first.id).is_none());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.append(http::header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("b=2;  rook_session=abc ; c=3"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        assert_eq!(cookie(&HeaderMap::new()), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
