//! Stream translators: the same output for any chunking of the upstream's
//! bytes, and that output is a well-formed stream of the client's protocol
//! (`sse_ref::check_openai_stream`, `check_anthropic_stream`).

use rook_protocol::anthropic::inbound::stream::OpenAiToAnthropic;
use rook_protocol::anthropic::stream::AnthropicToOpenAi;
use rook_protocol::gemini::stream::GeminiToOpenAi;
use rook_protocol::{Chain, StreamTranslator, Usage};

use crate::sse_ref::{self, check_openai_stream, chunkings};

type Run = (Vec<u8>, Option<Usage>, bool, bool);

fn run_all<T: StreamTranslator>(input: &[u8], make: impl Fn() -> T) -> Result<Run, String> {
    let mut first: Option<Run> = None;
    for pieces in chunkings(input) {
        let mut t = make();
        let mut out = Vec::new();
        for piece in &pieces {
            out.extend(t.push(piece));
        }
        out.extend(t.finish());
        let run = (out, t.usage(), t.completed(), t.saw_upstream_error());
        match &first {
            None => first = Some(run),
            Some(f) if *f != run => {
                return Err(format!(
                    "stream: output depends on the chunking ({} pieces): {:?} vs {:?}",
                    pieces.len(),
                    String::from_utf8_lossy(&f.0),
                    String::from_utf8_lossy(&run.0)
                ))
            }
            Some(_) => {}
        }
    }
    first.ok_or_else(|| "no chunking".to_string())
}

pub(crate) fn check_anthropic_stream(input: &[u8]) -> Result<(), String> {
    for include_usage in [false, true] {
        let (out, _, done, err) = run_all(input, || {
            AnthropicToOpenAi::new("logical", 7, include_usage)
        })?;
        check_openai_stream(&out, done, err)?;
    }
    Ok(())
}

pub(crate) fn check_gemini_stream(input: &[u8]) -> Result<(), String> {
    for include_usage in [false, true] {
        let (out, _, done, err) =
            run_all(input, || GeminiToOpenAi::new("logical", 7, include_usage))?;
        check_openai_stream(&out, done, err)?;
    }
    // Anthropic clients on Gemini accounts: the two translators chained.
    let (out, _, done, err) = run_all(input, || {
        Chain::new(
            GeminiToOpenAi::new("logical", 7, true),
            OpenAiToAnthropic::new("logical"),
        )
    })?;
    check_anthropic_stream_shape(&out, done, err)
}

pub(crate) fn check_chat_stream(input: &[u8]) -> Result<(), String> {
    let (out, _, done, err) = run_all(input, || OpenAiToAnthropic::new("logical"))?;
    check_anthropic_stream_shape(&out, done, err)
}

fn check_anthropic_stream_shape(out: &[u8], done: bool, err: bool) -> Result<(), String> {
    sse_ref::check_anthropic_stream(out, done, err)
}
