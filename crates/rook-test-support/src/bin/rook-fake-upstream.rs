//! `rook-fake-upstream`: the test suite's fake OpenAI-compatible upstream as a
//! standalone process, for trying Rook without a provider key (see the README).
//!
//! ```text
//! rook-fake-upstream [--port 8000] [--no-record]
//! ```
//! `--no-record` keeps no record of the requests (for load tests such as
//! `cargo xtask bench --translated`, where it would grow without bound).
//! Answers `POST /v1/chat/completions` (buffered or streamed, echoing the model,
//! with usage) and `GET /v1/models` on `127.0.0.1:PORT` until Ctrl-C, and also
//! the other OpenAI, Anthropic and Gemini paths of `rook_test_support::fake`
//! (`/v1/messages`, `/v1beta/models/M:generateContent`, `/v1/embeddings`...).
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut port: u16 = 8000;
    let mut record = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--no-record" {
            record = false;
            continue;
        }
        match (a.as_str(), args.next()) {
            ("--port", Some(p)) => match p.parse() {
                Ok(p) => port = p,
                Err(_) => {
                    eprintln!("rook-fake-upstream: --port takes a number");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: rook-fake-upstream [--port 8000] [--no-record]");
                return ExitCode::from(2);
            }
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let fake = match rook_test_support::FakeUpstream::try_start_on(addr).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rook-fake-upstream: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    fake.set_recording(record);
    println!("fake OpenAI-compatible upstream on {}", fake.base_url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
