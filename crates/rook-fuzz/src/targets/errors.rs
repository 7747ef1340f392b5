//! `classify` and `answer`: error classification (the module docs' table is
//! the oracle), the vendors' error parsers, and the buffered-answer reader
//! (compared with `serde_json`).

use std::time::Duration;

use rook_protocol::answer::{read_answer, AnswerKind, InvalidAnswer};
use rook_protocol::classify::{classify, classify_parsed, ErrorClass, HealthEffect};
use rook_protocol::gemini::error::retry_delay;
use rook_protocol::openai::UpstreamError;
use rook_protocol::{anthropic, gemini, Usage};
use serde_json::{json, Value};

use crate::json::{has_duplicate_top_level_key, only_serde_strictness, text_depth, SERDE_DEPTH};

type Expected = (ErrorClass, bool, Option<Duration>, HealthEffect);

/// The table of `rook_protocol::classify`'s module docs.
fn table(status: u16, quota: bool, hint: Option<Duration>) -> Expected {
    use ErrorClass::*;
    use HealthEffect::*;
    match status {
        429 if quota => (QuotaExhausted, false, None, Trip),
        429 => (RateLimited, true, hint, Failure(hint)),
        401 | 403 => (AuthError, true, None, Trip),
        408 => (Timeout, true, None, Failure(None)),
        501 | 505 => (ServerError, false, None, Success),
        500..=599 => (
            ServerError,
            true,
            hint,
            Failure(hint.filter(|_| status == 503)),
        ),
        _ => (ClientError, false, None, Success),
    }
}

pub(crate) fn check_classify(input: &[u8]) -> Result<(), String> {
    let upstream = UpstreamError::parse(input);
    let v = serde_json::from_slice::<Value>(input).ok();
    if v.is_none() && upstream != UpstreamError::default() {
        return Err("UpstreamError read parts of a body that is not JSON".into());
    }
    let quota = [&upstream.code, &upstream.kind]
        .iter()
        .any(|x| x.as_deref() == Some("insufficient_quota"));
    if upstream.is_insufficient_quota() != quota {
        return Err("is_insufficient_quota disagrees with code/type".into());
    }
    let hints = [
        None,
        Some(Duration::ZERO),
        Some(Duration::from_millis(1500)),
    ];
    for status in (100..=599).chain([0, 600, 999, u16::MAX]) {
        for hint in hints {
            let c = classify_parsed(status, upstream.clone(), hint);
            let got = (c.class, c.retryable, c.hint, c.health_effect);
            if got != table(status, quota, hint) || c.upstream != upstream {
                return Err(format!("classify({status}, hint {hint:?}) = {got:?}"));
            }
            if ErrorClass::from_name(c.class.as_str()) != Some(c.class) {
                return Err(format!("{} does not name itself", c.class));
            }
        }
    }
    if classify(429, input, None) != classify_parsed(429, upstream.clone(), None) {
        return Err("classify and classify_parsed disagree".into());
    }
    let a = anthropic::error::parse_error(input);
    if a.code != upstream.code.clone().or(upstream.kind.clone()) {
        return Err(format!("anthropic parse_error code {:?}", a.code));
    }
    let g = gemini::error::parse_error(input);
    let status = v
        .as_ref()
        .and_then(|v| v.pointer("/error/status"))
        .and_then(Value::as_str);
    if let Some(s) = status {
        if g.kind.as_deref() != Some(s) || g.code.as_deref() != Some(s) {
            return Err(format!("gemini parse_error lost the status {s:?}"));
        }
    }
    if let Some(d) = retry_delay(input) {
        if d > Duration::from_secs(1_000_000_000_000) {
            return Err(format!("gemini retry_delay {d:?} is beyond its range"));
        }
    }
    Ok(())
}

const KINDS: [AnswerKind; 6] = [
    AnswerKind::ChatCompletion,
    AnswerKind::Completion,
    AnswerKind::Embeddings,
    AnswerKind::Message,
    AnswerKind::Response,
    AnswerKind::TokenCount,
];

pub(crate) fn check_answer(input: &[u8]) -> Result<(), String> {
    if only_serde_strictness(input) || text_depth(input) >= SERDE_DEPTH {
        for kind in KINDS {
            let _ = read_answer(kind, input);
        }
        return Ok(());
    }
    let v = serde_json::from_slice::<Value>(input).ok();
    let obj = v.as_ref().and_then(Value::as_object);
    let duplicates = has_duplicate_top_level_key(input) == Some(true);
    for kind in KINDS {
        let key = kind.required_key();
        match (read_answer(kind, input), obj) {
            (Ok(_), None) => {
                return Err(format!(
                    "{kind:?}: accepted a body that is not a JSON object"
                ))
            }
            (Ok(usage), Some(o)) => {
                if !o.contains_key(key) {
                    return Err(format!("{kind:?}: accepted an answer without {key}"));
                }
                let expected = o
                    .get("usage")
                    .and_then(|u| Usage::from_chunk(json!({ "usage": u }).to_string().as_bytes()));
                if !duplicates && usage != expected {
                    return Err(format!("{kind:?}: usage {usage:?}, expected {expected:?}"));
                }
            }
            (Err(InvalidAnswer::MissingKey(k)), Some(o)) if k == key && !o.contains_key(key) => {}
            (Err(InvalidAnswer::NotJson(_)), None) => {}
            (Err(e), _) => return Err(format!("{kind:?}: refused ({e}) a body serde_json reads")),
        }
    }
    Ok(())
}
