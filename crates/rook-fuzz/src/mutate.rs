//! Input generation: random bytes, byte-level mutations of seeds (libFuzzer's
//! usual set: flips, inserts, deletes, copies, splices, interesting numbers,
//! dictionary tokens) and structured ones (a JSON document's values, the
//! events of an SSE stream), so inputs reach past the first syntax check.

use fastrand::Rng;

use crate::{json, InputKind};

/// The largest input the engine makes.
pub(crate) const MAX_INPUT: usize = 16 * 1024;

/// Tokens every target may get: JSON and SSE syntax and awkward values.
const COMMON: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\u00e9",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e309",
    "-0",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\r\n\r\n",
    "data: ",
    "data:",
    "event: ",
    ": comment\n",
    "id: 1\n",
    "retry: 5\n",
    "[DONE]",
    "\u{e9}",
    "\u{4e2d}",
    "\u{1f600}",
    "\u{feff}",
    "\t",
    " ",
    "\u{0}",
    "\u{7f}",
    "\u{1b}[31m",
];

/// Interesting integers, written in place of a digit run.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "255",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "0.0000001",
    "NaN",
    "1.7976931348623157e309",
];

/// A fresh input for a target: random bytes, a random JSON document, or
/// mutations of a seed.
pub(crate) fn generate(
    rng: &mut Rng,
    kind: InputKind,
    dictionary: &[&str],
    seeds: &[Vec<u8>],
) -> Vec<u8> {
    let roll = rng.u8(0..100);
    if seeds.is_empty() || roll < 5 {
        let n = rng.usize(0..256);
        return (0..n).map(|_| rng.u8(..)).collect();
    }
    if roll < 10 && kind == InputKind::Json {
        let v = json::random_value(rng, 4);
        return serde_json::to_vec(&v).unwrap_or_default();
    }
    let mut input = seeds[rng.usize(..seeds.len())].clone();
    let rounds = 1 + rng.usize(0..6);
    for _ in 0..rounds {
        mutate(rng, kind, dictionary, seeds, &mut input);
        if input.len() > MAX_INPUT {
            input.truncate(MAX_INPUT);
        }
    }
    input
}

/// One mutation, structured or byte-level.
pub(crate) fn mutate(
    rng: &mut Rng,
    kind: InputKind,
    dictionary: &[&str],
    seeds: &[Vec<u8>],
    input: &mut Vec<u8>,
) {
    let structured = match kind {
        InputKind::Json => rng.u8(0..100) < 45 && json::mutate_document(rng, dictionary, input),
        InputKind::Sse => rng.u8(0..100) < 50 && mutate_events(rng, dictionary, input),
        InputKind::Text => rng.u8(0..100) < 30 && mutate_lines(rng, seeds, input),
    };
    if !structured {
        mutate_bytes(rng, dictionary, seeds, input);
    }
}

fn token<'a>(rng: &mut Rng, dictionary: &[&'a str]) -> &'a str {
    if !dictionary.is_empty() && rng.bool() {
        dictionary[rng.usize(..dictionary.len())]
    } else {
        COMMON[rng.usize(..COMMON.len())]
    }
}

fn span(rng: &mut Rng, len: usize) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let start = rng.usize(..len);
    let max = (len - start).min(64);
    (start, start + rng.usize(1..=max))
}

fn mutate_bytes(rng: &mut Rng, dictionary: &[&str], seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    let len = input.len();
    let at = if len == 0 { 0 } else { rng.usize(..=len) };
    match rng.u8(0..12) {
        0 if len > 0 => {
            let i = rng.usize(..len);
            input[i] ^= 1 << rng.u8(0..8);
        }
        1 if len > 0 => {
            let i = rng.usize(..len);
            input[i] = rng.u8(..);
        }
        2 => input.insert(at, rng.u8(..)),
        3 if len > 0 => {
            let (a, b) = span(rng, len);
            input.drain(a..b);
        }
        4 if len > 0 => {
            let (a, b) = span(rng, len);
            let piece = input[a..b].to_vec();
            let to = rng.usize(..=input.len());
            input.splice(to..to, piece);
        }
        5 | 6 => {
            let t = token(rng, dictionary).as_bytes().to_vec();
            input.splice(at..at, t);
        }
        7 if !seeds.is_empty() => {
            // Splice: a prefix of this input, a suffix of another seed.
            let other = &seeds[rng.usize(..seeds.len())];
            let from = rng.usize(..=other.len());
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
        8 if len > 0 => input.truncate(rng.usize(..len)),
        9 => replace_number(rng, input),
        10 if len > 0 => {
            // Replace a span by a token (keys, values, event names).
            let (a, b) = span(rng, len);
            let t = token(rng, dictionary).as_bytes().to_vec();
            input.splice(a..b, t);
        }
        _ => {
            let n = rng.usize(1..8);
            let junk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            input.splice(at..at, junk);
        }
    }
}

/// Replaces a run of digits with an interesting number.
fn replace_number(rng: &mut Rng, input: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
        .collect();
    if digits.is_empty() {
        return;
    }
    let start = digits[rng.usize(..digits.len())];
    let end = (start..input.len())
        .find(|&i| !input[i].is_ascii_digit())
        .unwrap_or(input.len());
    let n = NUMBERS[rng.usize(..NUMBERS.len())].as_bytes().to_vec();
    input.splice(start..end, n);
}

/// Splits an SSE stream into events (each with its blank line).
fn events(input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < input.len() {
        let blank = match &input[i..] {
            [b'\n', b'\n', ..] => Some(2),
            [b'\r', b'\n', b'\r', b'\n', ..] => Some(4),
            _ => None,
        };
        match blank {
            Some(n) => {
                out.push(input[start..i + n].to_vec());
                i += n;
                start = i;
            }
            None => i += 1,
        }
    }
    if start < input.len() {
        out.push(input[start..].to_vec());
    }
    out
}

/// Event-level mutations of an SSE stream: a JSON mutation inside one
/// event's data, or dropping, repeating, moving events, or changing the
/// line ends.
fn mutate_events(rng: &mut Rng, dictionary: &[&str], input: &mut Vec<u8>) -> bool {
    let mut evs = events(input);
    if evs.is_empty() {
        return false;
    }
    let i = rng.usize(..evs.len());
    match rng.u8(0..8) {
        0..=3 => {
            let ev = &evs[i];
            let Some(start) = find(ev, b"data: ").map(|p| p + 6) else {
                return false;
            };
            let end = ev[start..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(ev.len(), |p| start + p);
            let mut data = ev[start..end].to_vec();
            if !json::mutate_document(rng, dictionary, &mut data) {
                return false;
            }
            let mut new = ev[..start].to_vec();
            new.extend_from_slice(&data);
            new.extend_from_slice(&ev[end..]);
            evs[i] = new;
        }
        4 => {
            evs.remove(i);
        }
        5 => {
            let ev = evs[i].clone();
            let to = rng.usize(..=evs.len());
            evs.insert(to, ev);
        }
        6 => {
            let ev = evs.remove(i);
            let to = rng.usize(..=evs.len());
            evs.insert(to, ev);
        }
        _ => {
            let all = evs.concat();
            let text = String::from_utf8_lossy(&all);
            let lf = text.replace("\r\n", "\n");
            let out = match rng.u8(0..3) {
                0 => lf,
                1 => lf.replace('\n', "\r\n"),
                _ => lf.replace('\n', "\r"),
            };
            *input = out.into_bytes();
            return true;
        }
    }
    *input = evs.concat();
    true
}

/// Line-level mutations of text: drop, repeat or move a line, or take a
/// line from another seed.
fn mutate_lines(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) -> bool {
    let mut lines: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return false;
    }
    let i = rng.usize(..lines.len());
    match rng.u8(0..4) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(rng.usize(..=lines.len()), l);
        }
        2 => {
            let l = lines.remove(i);
            lines.insert(rng.usize(..=lines.len()), l);
        }
        _ => {
            let Some(other) = (!seeds.is_empty()).then(|| &seeds[rng.usize(..seeds.len())]) else {
                return false;
            };
            let theirs: Vec<&[u8]> = other.split(|&b| b == b'\n').collect();
            let l = theirs[rng.usize(..theirs.len())].to_vec();
            lines.insert(rng.usize(..=lines.len()), l);
        }
    }
    *input = lines.join(&b'\n');
    true
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
