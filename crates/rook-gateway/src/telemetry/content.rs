//! What a span says about the request and the answer bodies: the answer's
//! model, id and finish reasons (always, for buffered answers), and — only with
//! `[telemetry] capture_content = true` — the request's messages and the
//! answer's output, each capped at [`CONTENT_CAP`] bytes.
//!
//! Pure: bytes in, facts out. Bodies are read with borrowed, typed shapes (the
//! unknown rest is skipped), so an answer is not copied into a JSON tree.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Most bytes of one captured content attribute; longer content is cut (on a
/// character boundary) and the span gets `rook.content_truncated = true`.
pub(crate) const CONTENT_CAP: usize = 16 * 1024;

/// The facts of a buffered answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AnswerFacts {
    pub(crate) model: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    /// The output (`choices`, `content` or `output`), when content is captured.
    pub(crate) output: Option<Captured>,
}

/// Captured content: raw JSON text, maybe cut at [`CONTENT_CAP`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Captured {
    pub(crate) text: String,
    pub(crate) truncated: bool,
}

/// The captured request: its messages (`messages`, else `input`, else
/// `prompt`) and, for Anthropic Messages, the `system` instructions.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InputContent {
    pub(crate) messages: Option<Captured>,
    pub(crate) system: Option<Captured>,
}

#[derive(Deserialize)]
struct AnswerShape<'a> {
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    /// OpenAI chat and completions.
    #[serde(default, borrow)]
    choices: Option<&'a RawValue>,
    /// Anthropic Messages.
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    /// OpenAI Responses.
    #[serde(default, borrow)]
    output: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct RequestShape<'a> {
    #[serde(default, borrow)]
    messages: Option<&'a RawValue>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(default, borrow)]
    system: Option<&'a RawValue>,
}

/// The facts of a buffered answer body (in the client's protocol); empty when
/// it is not a JSON object.
pub(crate) fn answer_facts(body: &[u8], capture: bool) -> AnswerFacts {
    let Ok(shape) = serde_json::from_slice::<AnswerShape<'_>>(body) else {
        return AnswerFacts::default();
    };
    let mut finish_reasons: Vec<String> = shape
        .choices
        .and_then(|c| serde_json::from_str::<Vec<Choice>>(c.get()).ok())
        .map(|cs| cs.into_iter().filter_map(|c| c.finish_reason).collect())
        .unwrap_or_default();
    if let Some(r) = shape.stop_reason {
        finish_reasons.push(r);
    }
    let output = capture
        .then(|| shape.choices.or(shape.content).or(shape.output))
        .flatten()
        .map(|raw| cap(raw.get()));
    AnswerFacts {
        model: shape.model.map(|m| clip(&m, 256).to_owned()),
        id: shape.id.map(|i| clip(&i, 256).to_owned()),
        finish_reasons,
        output,
    }
}

/// The request content to capture (only called with `capture_content = true`).
pub(crate) fn input_content(body: &[u8]) -> InputContent {
    let Ok(shape) = serde_json::from_slice::<RequestShape<'_>>(body) else {
        return InputContent::default();
    };
    InputContent {
        messages: shape
            .messages
            .or(shape.input)
            .or(shape.prompt)
            .map(|raw| cap(raw.get())),
        system: shape.system.map(|raw| cap(raw.get())),
    }
}

/// `text`, cut at [`CONTENT_CAP`] on a character boundary.
pub(crate) fn cap(text: &str) -> Captured {
    let cut = clip(text, CONTENT_CAP);
    Captured {
        text: cut.to_owned(),
        truncated: cut.len() < text.len(),
    }
}

fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_facts_by_protocol() {
        let openai = br#"{"id":"chatcmpl-1","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"},{"index":1,"finish_reason":"length"}],"usage":{}}"#;
        let anthropic = br#"{"id":"msg_1","type":"message","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}"#;
        let responses =
            br#"{"id":"resp_1","model":"gpt-4o","status":"completed","output":[{"type":"message"}]}"#;
        // body, model, id, finish reasons, start of the captured output
        type Case<'a> = (
            &'a [u8],
            Option<&'a str>,
            Option<&'a str>,
            &'a [&'a str],
            Option<&'a str>,
        );
        let cases: [Case<'_>; 5] = [
            (
                openai,
                Some("gpt-4o-2024"),
                Some("chatcmpl-1"),
                &["stop", "length"],
                Some("[{\"index\":0"),
            ),
            (
                anthropic,
                Some("claude-x"),
                Some("msg_1"),
                &["end_turn"],
                Some("[{\"type\":\"text\""),
            ),
            (
                responses,
                Some("gpt-4o"),
                Some("resp_1"),
                &[],
                Some("[{\"type\":\"message\"}]"),
            ),
            (b"not json", None, None, &[], None),
            (b"[1,2]", None, None, &[], None),
        ];
        for (body, model, id, reasons, output) in cases {
            let f = answer_facts(body, true);
            let text = String::from_utf8_lossy(body);
            assert_eq!(f.model.as_deref(), model, "{text}");
            assert_eq!(f.id.as_deref(), id, "{text}");
            assert_eq!(f.finish_reasons, reasons.to_vec(), "{text}");
            match output {
                Some(prefix) => assert!(
                    f.output.as_ref().unwrap().text.starts_with(prefix),
                    "{text}: {:?}",
                    f.output
                ),
                None => assert!(f.output.is_none()),
            }
            // Without capture, no output ever.
            assert!(answer_facts(body, false).output.is_none());
        }
    }

    #[test]
    fn input_content_by_protocol() {
        let chat = br#"{"model":"m","messages":[{"role":"user","content":"secret plan"}]}"#;
        let anthropic =
            br#"{"model":"m","system":"be brief","messages":[{"role":"user","content":"x"}]}"#;
        let responses = br#"{"model":"m","input":"what?"}"#;
        let completions = br#"{"model":"m","prompt":["a","b"]}"#;
        let c = input_content(chat);
        assert_eq!(
            c.messages.unwrap().text,
            r#"[{"role":"user","content":"secret plan"}]"#
        );
        assert!(c.system.is_none());
        let a = input_content(anthropic);
        assert_eq!(a.system.unwrap().text, r#""be brief""#);
        assert!(a.messages.is_some());
        assert_eq!(
            input_content(responses).messages.unwrap().text,
            r#""what?""#
        );
        assert_eq!(
            input_content(completions).messages.unwrap().text,
            r#"["a","b"]"#
        );
        assert_eq!(input_content(b"{"), InputContent::default());
    }

    #[test]
    fn content_is_capped_on_a_character_boundary() {
        let long = "é".repeat(CONTENT_CAP);
        let c = cap(&long);
        assert!(c.truncated);
        assert!(c.text.len() <= CONTENT_CAP && c.text.len() >= CONTENT_CAP - 1);
        assert!(long.starts_with(&c.text));
        let short = cap("short");
        assert_eq!((short.text.as_str(), short.truncated), ("short", false));
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
            "x".repeat(CONTENT_CAP * 2)
        );
        let m = input_content(body.as_bytes()).messages.unwrap();
        assert!(m.truncated && m.text.len() == CONTENT_CAP);
    }
}
