//! Secret scrubbing of every byte relayed from an upstream.
//!
//! A [`Scrubber`] holds the provider keys of every account of a routing
//! snapshot (not only the account a request used: an upstream may know, and
//! echo, another account's key) in one Aho-Corasick automaton, built once per
//! snapshot. It replaces each occurrence of any of them by `[redacted]`:
//!
//! - in buffered answers ([`Scrubber::scrub`]: one SIMD multi-pattern scan,
//!   no copy when nothing is found),
//! - in strings taken from upstream errors ([`Scrubber::scrub_str`]),
//! - in header values ([`Scrubber::contains`]: the header is dropped),
//! - in streams ([`StreamScrubber`]): each chunk is scanned as it passes; only
//!   a chunk's tail that is a proper prefix of some secret is held back until
//!   the next chunk (so a key split across two chunks is caught), which
//!   ordinary SSE chunks, ending in `\n\n`, never are.
//!
//! Keys shorter than [`MIN_SECRET_LEN`] bytes are not scrubbed: no provider
//! issues such keys, and redacting a short word (`none`, `EMPTY`) from every
//! answer would corrupt answers. Only whole keys are recognised; the
//! key-shaped heuristics of [`crate::error`] cover truncated or masked keys in
//! error messages.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use bytes::Bytes;

/// What a secret is replaced by.
pub(crate) const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not scrubbed (see the module docs).
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// The secrets of a routing snapshot and a fast way to find them.
#[derive(Debug, Default)]
pub(crate) struct Scrubber {
    /// Leftmost-longest automaton over `secrets`; `None` when there are none
    /// (or, in theory, when the automaton could not be built: then a naive
    /// search is used).
    finder: Option<AhoCorasick>,
    /// The secrets, deduplicated.
    secrets: Vec<Box<[u8]>>,
    /// Whether a byte starts some secret.
    first: Vec<bool>,
    /// The longest secret's length.
    longest: usize,
}

impl Scrubber {
    /// A scrubber of these secrets (blank and short ones are ignored).
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Scrubber {
        let mut list: Vec<Box<[u8]>> = secrets
            .into_iter()
            .map(str::trim)
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .map(|s| Box::from(s.as_bytes()))
            .collect();
        list.sort();
        list.dedup();
        if list.is_empty() {
            return Scrubber::default();
        }
        let mut first = vec![false; 256];
        for s in &list {
            if let Some(b) = s.first() {
                first[usize::from(*b)] = true;
            }
        }
        let finder = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&list)
            .map_err(|e| {
                tracing::error!(error = %e, "the secret scrubber's automaton could not be built; using a naive search");
            })
            .ok();
        Scrubber {
            finder,
            longest: list.iter().map(|s| s.len()).max().unwrap_or(0),
            secrets: list,
            first,
        }
    }

    /// Whether there is nothing to scrub.
    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The leftmost(-longest) secret at or after `at`, as `(start, end)`.
    fn find_at(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        if self.secrets.is_empty() || at >= hay.len() {
            return None;
        }
        if let Some(f) = &self.finder {
            return f
                .find(Input::new(hay).range(at..))
                .map(|m| (m.start(), m.end()));
        }
        (at..hay.len()).find_map(|i| {
            self.secrets
                .iter()
                .filter(|s| hay[i..].starts_with(s))
                .map(|s| (i, i + s.len()))
                .max_by_key(|(_, end)| *end)
        })
    }

    /// Whether `hay` holds any secret.
    pub(crate) fn contains(&self, hay: &[u8]) -> bool {
        self.find_at(hay, 0).is_some()
    }

    /// Copies `hay` into `out` with every secret replaced; returns the end of
    /// the last secret found (0 when none).
    fn replace_into(&self, hay: &[u8], out: &mut Vec<u8>) -> usize {
        let mut copied = 0;
        while let Some((start, end)) = self.find_at(hay, copied) {
            out.extend_from_slice(&hay[copied..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            copied = end;
        }
        out.extend_from_slice(&hay[copied..]);
        copied
    }

    /// Where the longest suffix of `hay[from..]` that is a proper prefix of
    /// some secret starts (`hay.len()` when there is none). Only the last
    /// `longest - 1` bytes are looked at.
    fn held_from(&self, hay: &[u8], from: usize) -> usize {
        let len = hay.len();
        let start = from.max(len.saturating_sub(self.longest.saturating_sub(1)));
        for i in start..len {
            if !self.first[usize::from(hay[i])] {
                continue;
            }
            let suffix = &hay[i..];
            if self
                .secrets
                .iter()
                .any(|s| s.len() > suffix.len() && s.starts_with(suffix))
            {
                return i;
            }
        }
        len
    }

    /// `data` with every secret replaced; `data` itself (no copy) when it
    /// holds none.
    pub(crate) fn scrub(&self, data: Bytes) -> Bytes {
        if self.find_at(&data, 0).is_none() {
            return data;
        }
        let mut out = Vec::with_capacity(data.len());
        self.replace_into(&data, &mut out);
        Bytes::from(out)
    }

    /// `s` with every secret replaced.
    pub(crate) fn scrub_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if self.find_at(s.as_bytes(), 0).is_none() {
            return Cow::Borrowed(s);
        }
        let mut out = Vec::with_capacity(s.len());
        self.replace_into(s.as_bytes(), &mut out);
        // Whole UTF-8 sequences were replaced by ASCII: still UTF-8.
        Cow::Owned(
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }
}

/// Scrubs a stream chunk by chunk; see the module docs.
#[derive(Debug)]
pub(crate) struct StreamScrubber {
    scrubber: Arc<Scrubber>,
    /// The previous chunk's tail that may begin a secret.
    held: Vec<u8>,
}

impl StreamScrubber {
    /// A stream scrubber over `scrubber`'s secrets.
    pub(crate) fn new(scrubber: Arc<Scrubber>) -> StreamScrubber {
        StreamScrubber {
            scrubber,
            held: Vec::new(),
        }
    }

    /// What to relay now for the next chunk: its bytes with every secret
    /// replaced, minus a tail that may begin a secret (relayed with the next
    /// chunk). Without secrets and held bytes, `data` itself.
    pub(crate) fn push(&mut self, data: Bytes) -> Bytes {
        if self.scrubber.is_empty() || data.is_empty() {
            return data;
        }
        if self.held.is_empty() {
            if self.scrubber.find_at(&data, 0).is_none() {
                let keep = self.scrubber.held_from(&data, 0);
                if keep == data.len() {
                    return data;
                }
                self.held.extend_from_slice(&data[keep..]);
                return data.slice(..keep);
            }
            return self.rewrite(&data, true);
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(&data);
        self.rewrite(&buf, true)
    }

    /// The last bytes of the stream: the held tail and `last`, scrubbed.
    pub(crate) fn finish(&mut self, last: Bytes) -> Bytes {
        if self.held.is_empty() {
            return self.scrubber.scrub(last);
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(&last);
        self.rewrite(&buf, false)
    }

    /// `hay` scrubbed; with `hold`, its tail that may begin a secret is kept
    /// back in `self.held` (which must be empty).
    fn rewrite(&mut self, hay: &[u8], hold: bool) -> Bytes {
        let mut out = Vec::with_capacity(hay.len());
        let last = self.scrubber.replace_into(hay, &mut out);
        if hold {
            let keep = self.scrubber.held_from(hay, last);
            out.truncate(out.len() - (hay.len() - keep));
            self.held.extend_from_slice(&hay[keep..]);
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "sk-CANARY-aaaa1111";
    const B: &str = "AIzaCANARY-bbbb2222";

    fn scrubber() -> Arc<Scrubber> {
        Arc::new(Scrubber::new([A, B, "short", "  ", A]))
    }

    #[test]
    fn scrub_replaces_every_secret_and_keeps_clean_bytes_uncopied() {
        let s = scrubber();
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            (A, REDACTED),
            (
                &format!("x{A}y{B}z{A}"),
                "x[redacted]y[redacted]z[redacted]",
            ),
            // Short secrets are not scrubbed.
            ("short", "short"),
            // A part of a key is not the key.
            ("sk-CANARY-aaaa", "sk-CANARY-aaaa"),
        ];
        for (input, want) in cases {
            let out = s.scrub(Bytes::copy_from_slice(input.as_bytes()));
            assert_eq!(&out[..], want.as_bytes(), "{input}");
            assert_eq!(s.scrub_str(input), *want);
            assert_eq!(s.contains(input.as_bytes()), input != want, "{input}");
        }
        let clean = Bytes::from_static(b"nothing to see");
        assert_eq!(s.scrub(clean.clone()).as_ptr(), clean.as_ptr());
        assert!(Scrubber::new([]).is_empty());
        assert!(Scrubber::new(["tiny"]).is_empty());
    }

    #[test]
    fn streams_hold_back_only_a_possible_secret_start() {
        let s = scrubber();
        let mut st = StreamScrubber::new(s.clone());
        // Ordinary SSE chunks pass at once, uncopied.
        let chunk = Bytes::from_static(b"data: {\"x\":1}\n\n");
        let out = st.push(chunk.clone());
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        // A key split across chunks.
        let (head, tail) = A.split_at(7);
        let out1 = st.push(Bytes::from(format!("data: {head}")));
        assert_eq!(&out1[..], b"data: ");
        let out2 = st.push(Bytes::from(format!("{tail}\n\n")));
        assert_eq!(&out2[..], b"[redacted]\n\n");
        // A held start that turns out not to be a key is relayed with the next chunk.
        let out1 = st.push(Bytes::from_static(b"say sk-CA"));
        let out2 = st.push(Bytes::from_static(b"T\n\n"));
        assert_eq!([&out1[..], &out2[..]].concat(), b"say sk-CAT\n\n");
        // The end flushes what is held.
        let out1 = st.push(Bytes::from_static(b"end AIza"));
        let out2 = st.finish(Bytes::new());
        assert_eq!([&out1[..], &out2[..]].concat(), b"end AIza");
        // No secrets: nothing is ever held.
        let mut none = StreamScrubber::new(Arc::new(Scrubber::default()));
        assert_eq!(&none.push(Bytes::from_static(b"sk-CA"))[..], b"sk-CA");
    }

    #[test]
    fn the_naive_search_agrees_with_the_automaton() {
        let fast = Scrubber::new([A, B]);
        let slow = Scrubber {
            finder: None,
            ..Scrubber::new([A, B])
        };
        let text = format!("{A}{B} and {A}x");
        assert_eq!(
            fast.scrub(Bytes::from(text.clone())),
            slow.scrub(Bytes::from(text))
        );
    }

    proptest! {
        /// However a stream is cut, no secret survives, and with secrets of
        /// one length (none inside another) the output is what scrubbing the
        /// whole body gives.
        #[test]
        fn any_split_is_scrubbed_like_the_whole(
            secrets in proptest::collection::vec("[a-d]{8}", 1..4),
            pieces in proptest::collection::vec(proptest::option::of(0usize..4), 0..12),
            filler in proptest::collection::vec("[a-e\n ]{0,6}", 12),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut body = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                if let Some(k) = p {
                    body.extend_from_slice(secrets[k % secrets.len()].as_bytes());
                }
                body.extend_from_slice(filler[i % filler.len()].as_bytes());
            }
            let s = Arc::new(Scrubber::new(secrets.iter().map(String::as_str)));
            let whole = s.scrub(Bytes::from(body.clone()));
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
            cuts.sort_unstable();
            let mut st = StreamScrubber::new(s.clone());
            let mut out = Vec::new();
            let mut prev = 0;
            for c in cuts {
                out.extend_from_slice(&st.push(Bytes::copy_from_slice(&body[prev..c])));
                prev = c;
            }
            out.extend_from_slice(&st.push(Bytes::copy_from_slice(&body[prev..])));
            out.extend_from_slice(&st.finish(Bytes::new()));
            for secret in &secrets {
                prop_assert!(!out.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
            prop_assert_eq!(out, whole.to_vec());
        }
    }
}
