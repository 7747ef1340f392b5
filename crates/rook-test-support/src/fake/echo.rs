//! The key-echoing switch of the fake upstream ([`FakeUpstream::set_echo_key`]):
//! a hostile or careless upstream that reflects the credentials it receives,
//! for tests that no key reaches a client.
//!
//! [`FakeUpstream::set_echo_key`]: super::FakeUpstream::set_echo_key

use bytes::Bytes;
use serde_json::Value;

use super::{Kind, Reply};

/// Replaced, in a scripted reply, by the key the request presented.
pub const ECHO_KEY: &str = "{{key}}";
/// Replaced by the first half of the key (to split it across chunks).
pub const ECHO_KEY_HEAD: &str = "{{key_head}}";
/// Replaced by the second half of the key.
pub const ECHO_KEY_TAIL: &str = "{{key_tail}}";
/// The response header that carries the key when echoing is on.
pub const ECHO_HEADER: &str = "x-echo-key";

/// The key a request presented: `Authorization: Bearer`, `x-api-key`,
/// `x-goog-api-key` or a `key=` query parameter; empty when none.
pub(super) fn presented_key(headers: &http::HeaderMap, query: Option<&str>) -> String {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(k) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return k.to_owned();
    }
    if let Some(k) = header("x-api-key").or_else(|| header("x-goog-api-key")) {
        return k.to_owned();
    }
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|p| p.strip_prefix("key="))
        .unwrap_or_default()
        .to_owned()
}

fn subst(s: &str, key: &str) -> String {
    let (head, tail) = key.split_at(key.len() / 2);
    s.replace(ECHO_KEY, key)
        .replace(ECHO_KEY_HEAD, head)
        .replace(ECHO_KEY_TAIL, tail)
}

fn subst_value(v: &Value, key: &str) -> Value {
    match v {
        Value::String(s) => Value::String(subst(s, key)),
        Value::Array(a) => Value::Array(a.iter().map(|x| subst_value(x, key)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (subst(k, key), subst_value(x, key)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Reply {
    /// This reply with the echo template fields replaced by `key`.
    pub(super) fn echoing(&self, key: &str) -> Reply {
        let mut r = self.clone();
        r.kind = match &self.kind {
            Kind::Chat(c) => Kind::Chat(subst(c, key)),
            Kind::Stream(chunks) => Kind::Stream(chunks.iter().map(|c| subst(c, key)).collect()),
            Kind::ToolCall { name, args } => Kind::ToolCall {
                name: subst(name, key),
                args: subst_value(args, key),
            },
            Kind::Json(v) => Kind::Json(subst_value(v, key)),
            Kind::Raw(parts) => Kind::Raw(
                parts
                    .iter()
                    .map(|p| Bytes::from(subst(&String::from_utf8_lossy(p), key)))
                    .collect(),
            ),
            other => other.clone(),
        };
        r.message = self.message.as_deref().map(|m| subst(m, key));
        r.headers = self
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), subst(v, key)))
            .collect();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_and_keys() {
        assert_eq!(
            subst("a {{key}} {{key_head}}|{{key_tail}}", "sk-1234"),
            "a sk-1234 sk-|1234"
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-api-key", http::HeaderValue::from_static("ant-k"));
        assert_eq!(presented_key(&h, None), "ant-k");
        assert_eq!(
            presented_key(&http::HeaderMap::new(), Some("alt=sse&key=g-k")),
            "g-k"
        );
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer oai-k"),
        );
        assert_eq!(presented_key(&h, None), "oai-k");
    }
}
