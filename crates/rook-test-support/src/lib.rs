//! Test support for Rook (dev-dependency only, never published).
//!
//! - [`FakeUpstream`]: an in-process, scriptable server on `127.0.0.1:0`
//!   answering by path like OpenAI (chat, completions, embeddings,
//!   responses), Anthropic (messages, count_tokens) and Gemini
//!   (generateContent, streamGenerateContent, batchEmbedContents), with
//!   status sequences, latency, SSE chunks, tool calls, `Retry-After`,
//!   mid-stream resets and hanging requests, recording every request and
//!   counting responses abandoned by the client.
//! - [`http`]: a tiny HTTP/1 client (buffered and streaming, with arrival
//!   instants) and an SSE parser for assertions.
//! - [`RookServer`]: starts the real `rook-server` binary with a config
//!   template, waits until it is live, captures its output, sends SIGTERM.
//! - [`tcp_proxy::TcpProxy`]: a local TCP proxy (e.g. in front of PostgreSQL)
//!   that refuses or blackholes traffic on demand, for outage tests.
//! - [`cluster`]: several `rook-server`s on one fresh PostgreSQL database
//!   ([`cluster::TempDatabase`], [`cluster::start_cluster`]).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use rook_test_support::{http, FakeUpstream, Reply};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() {
//!     let upstream = FakeUpstream::start().await;
//!     // First call: rate limited with Retry-After, then a normal answer.
//!     upstream.push(Reply::status(429).header("retry-after", "2"));
//!     upstream.push(Reply::chat("hi there").delay(Duration::from_millis(50)));
//!
//!     let url = format!("{}/chat/completions", upstream.base_url());
//!     let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
//!     let first = http::post_json(&url, &[], &body).await.unwrap();
//!     assert_eq!(first.status, 429);
//!     assert_eq!(first.header("retry-after"), Some("2"));
//!     let second = http::post_json(&url, &[], &body).await.unwrap();
//!     assert_eq!(second.json()["choices"][0]["message"]["content"], "hi there");
//!     assert_eq!(upstream.request_count(), 2);
//!
//!     // End to end: the real binary, pointed at the fake. `{port}` and
//!     // `{dir}` are filled in by `RookServer::start`.
//!     let bin = rook_test_support::rook_server_bin().expect("rook-server built");
//!     let config = r#"
//! host = "127.0.0.1"
//! port = {port}
//! database_url = "sqlite://{dir}/rook.db"
//!
//! [[accounts]]
//! id = "fake"
//! vendor = "custom"
//! base_url = "UPSTREAM"
//! api_key_env = "FAKE_KEY"
//!
//! [[pools]]
//! id = "p"
//! strategy = "priority"
//! members = ["fake"]
//!
//! [[routes]]
//! model = "m"
//! pool = "p"
//! "#
//!     .replace("UPSTREAM", &upstream.base_url());
//!     let env = [("FAKE_KEY", "sk-test")];
//!     let server = rook_test_support::RookServer::start(&bin, &config, &env).await.unwrap();
//!     let live = http::get(&server.url("/api/health/live"), &[]).await.unwrap();
//!     assert_eq!(live.status, 200);
//! }
//! ```
//!
//! Timing assertions use real time here (these are socket tests); keep
//! margins generous, the CI machine is small.

pub mod cluster;
pub mod config;
pub mod error;
pub mod fake;
pub mod http;
mod paths;
pub mod server;
pub mod tcp_proxy;

pub use error::{Error, ErrorKind};
pub use fake::{embedding_for, FakeUpstream, RecordedRequest, Reply};
pub use http::{sse_events, SseEvent, TestResponse};
pub use server::{free_port, rook_server_bin, workspace_bin, RookServer, TestDir};
