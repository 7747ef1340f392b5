//! End to end, protocol breadth: the real `rook-server` in front of fake
//! upstreams configured as `anthropic`, `gemini` and `openai` accounts, driven
//! by the official `openai` and `anthropic` Python SDKs (`tests/sdk/*.py`).
//!
//! Needs `python3` with `openai` and `anthropic` importable (`.ci/run`
//! installs the pinned versions): without them a test prints why and
//! returns, except in CI (`CI` set) where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rook_test_support::{embedding_for, fake::AUTO_CONTENT, workspace_bin, FakeUpstream, Reply};
use rook_test_support::{http, RecordedRequest, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "rook-client-token";
const ANTHROPIC_KEY_1: &str = "sk-ant-canary-1";
const ANTHROPIC_KEY_2: &str = "sk-ant-canary-2";
const GEMINI_KEY: &str = "gm-canary-key";
const OPENAI_KEY: &str = "sk-oai-canary";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// Whether `python3` can import both SDKs; outside CI a missing SDK skips
/// the test (printing why), in CI it fails it.
fn sdks_available() -> bool {
    let out = Command::new("python3")
        .args([
            "-c",
            "import openai, anthropic; print(openai.__version__, anthropic.__version__)",
        ])
        .output();
    let why = match out {
        Ok(o) if o.status.success() => return true,
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => format!("cannot run python3: {e}"),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "python3 with the openai and anthropic packages is needed in CI (.ci/run installs them): {why}"
    );
    eprintln!("skipped: python3 with the openai and anthropic packages is not available: {why}");
    false
}

/// Runs `tests/sdk/<script> base key model commands...` and returns its JSON
/// (`{command: result}`); panics with the script's output if it failed.
async fn sdk(script: &str, base: &str, key: &str, model: &str, commands: &[&str]) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "sdk", script]
        .iter()
        .collect();
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(&path)
        .args([base, key, model])
        .args(commands)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .kill_on_drop(true);
    for var in [
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the SDK script finished within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {commands:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script}: not JSON ({e}): {stdout}\n{stderr}"))
}

async fn openai_sdk(server: &RookServer, model: &str, commands: &[&str]) -> Value {
    sdk(
        "openai_client.py",
        &server.url("/v1"),
        TOKEN,
        model,
        commands,
    )
    .await
}

async fn anthropic_sdk(server: &RookServer, model: &str, commands: &[&str]) -> Value {
    sdk(
        "anthropic_client.py",
        &server.base_url(),
        TOKEN,
        model,
        commands,
    )
    .await
}

struct Upstreams {
    claude1: FakeUpstream,
    claude2: FakeUpstream,
    gemini: FakeUpstream,
    openai: FakeUpstream,
}

impl Upstreams {
    async fn start() -> Upstreams {
        Upstreams {
            claude1: FakeUpstream::start().await,
            claude2: FakeUpstream::start().await,
            gemini: FakeUpstream::start().await,
            openai: FakeUpstream::start().await,
        }
    }

    /// Two anthropic accounts (priority: claude-1 first; one with an
    /// explicit `protocol`, one by vendor default), a gemini account (by
    /// vendor default) and an openai account.
    fn config(&self) -> String {
        format!(
            r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[usage]
flush_interval_ms = 50

[[accounts]]
id = "claude-1"
vendor = "anthropic"
protocol = "anthropic"
base_url = "{claude1}"
api_key_env = "ANTHROPIC_KEY_1"
models = {{ "claude" = "claude-up-1" }}

[[accounts]]
id = "claude-2"
vendor = "anthropic"
base_url = "{claude2}"
api_key_env = "ANTHROPIC_KEY_2"
models = {{ "claude" = "claude-up-2" }}

[[accounts]]
id = "gem"
vendor = "google"
base_url = "{gemini}/v1beta"
api_key_env = "GEMINI_KEY"
models = {{ "gemini" = "gemini-up", "gembed" = "gembed-up" }}

[[accounts]]
id = "oai"
vendor = "open_ai"
protocol = "openai"
base_url = "{openai}"
api_key_env = "OPENAI_KEY"
models = {{ "gpt" = "gpt-up", "embed" = "embed-up" }}

[[pools]]
id = "claude-pool"
strategy = "priority"
members = ["claude-1", "claude-2"]

[[pools]]
id = "gemini-pool"
strategy = "priority"
members = ["gem"]

[[pools]]
id = "openai-pool"
strategy = "priority"
members = ["oai"]

[[routes]]
model = "claude"
pool = "claude-pool"

[[routes]]
model = "gemini"
pool = "gemini-pool"

[[routes]]
model = "gembed"
pool = "gemini-pool"

[[routes]]
model = "gpt"
pool = "openai-pool"

[[routes]]
model = "embed"
pool = "openai-pool"
"#,
            claude1 = self.claude1.base_url(),
            claude2 = self.claude2.base_url(),
            gemini = self.gemini.origin(),
            openai = self.openai.base_url(),
        )
    }

    async fn server(&self) -> RookServer {
        let env = [
            ("ROOK_TOKEN", TOKEN),
            ("ANTHROPIC_KEY_1", ANTHROPIC_KEY_1),
            ("ANTHROPIC_KEY_2", ANTHROPIC_KEY_2),
            ("GEMINI_KEY", GEMINI_KEY),
            ("OPENAI_KEY", OPENAI_KEY),
        ];
        RookServer::start(bin(), &self.config(), &env)
            .await
            .unwrap()
    }
}

/// The upstream saw the anthropic account key in `x-api-key` with the API
/// version Rook sends when the client sent none, and no `Authorization` header
/// or client token at all.
fn assert_anthropic_auth(req: &RecordedRequest, key: &str) {
    assert_anthropic_auth_with(req, key, "2023-06-01");
}

/// Like [`assert_anthropic_auth`], with the `anthropic-version` expected.
fn assert_anthropic_auth_with(req: &RecordedRequest, key: &str, version: &str) {
    assert_eq!(req.header("x-api-key"), Some(key), "{:?}", req.headers);
    assert_eq!(req.header("anthropic-version"), Some(version));
    assert_eq!(req.header("authorization"), None, "{:?}", req.headers);
    assert_no_client_token(req);
}

fn assert_gemini_auth(req: &RecordedRequest) {
    assert_eq!(
        req.header("x-goog-api-key"),
        Some(GEMINI_KEY),
        "{:?}",
        req.headers
    );
    assert_eq!(req.header("authorization"), None, "{:?}", req.headers);
    assert_no_client_token(req);
}

fn assert_openai_auth(req: &RecordedRequest) {
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(req.header("x-api-key"), None);
    assert_no_client_token(req);
}

fn assert_no_client_token(req: &RecordedRequest) {
    let all = format!("{:?}", req.headers);
    assert!(
        !all.contains(TOKEN),
        "the client token leaked upstream: {all}"
    );
}

/// The OpenAI-shaped usage every fake reports by default.
fn default_usage() -> Value {
    json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
}

fn weather_args() -> Value {
    json!({"city": "Paris"})
}

/// All JSON objects nested in `v` (depth first), to find a block wherever a
/// translation put it.
fn objects(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        match x {
            Value::Object(m) => {
                out.push(x);
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

fn find_block<'a>(v: &'a Value, key: &str, value: &str) -> &'a Value {
    objects(v)
        .into_iter()
        .find(|o| o[key] == value)
        .unwrap_or_else(|| panic!("no object with {key} = {value:?} in {v:#}"))
}

// ---------------------------------------------------------------------------
// The SDK scripts against the fakes directly: if these fail, the scripts or
// the fakes are wrong, not the gateway.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sdk_scripts_work_against_the_fakes_directly() {
    if !sdks_available() {
        return;
    }
    let f = FakeUpstream::start().await;
    f.push_all([
        Reply::auto(),
        Reply::auto(),
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
    ]);
    let base = f.base_url();
    let v = sdk(
        "openai_client.py",
        &base,
        "k",
        "m",
        &[
            "chat",
            "chat_stream",
            "tools",
            "tools_stream",
            "tool_result",
            "embeddings",
            "embeddings_float",
            "responses",
            "responses_stream",
            "completions",
        ],
    )
    .await;
    assert_eq!(v["chat"]["content"], AUTO_CONTENT);
    assert_eq!(v["chat"]["usage"], default_usage());
    assert_eq!(v["chat_stream"]["content"], AUTO_CONTENT);
    assert_eq!(v["chat_stream"]["usage"], default_usage());
    for c in ["tools", "tools_stream"] {
        assert_eq!(v[c]["finish_reason"], "tool_calls", "{c}: {v:#}");
        assert_eq!(v[c]["tool_calls"][0]["name"], "get_weather");
        assert_eq!(v[c]["tool_calls"][0]["arguments"], weather_args());
    }
    assert_eq!(v["tool_result"]["content"], AUTO_CONTENT);
    for c in ["embeddings", "embeddings_float"] {
        assert_eq!(
            v[c]["vectors"],
            json!([embedding_for(0), embedding_for(1)]),
            "{c}"
        );
    }
    assert_eq!(v["responses"]["output_text"], AUTO_CONTENT);
    assert_eq!(v["responses_stream"]["deltas"], AUTO_CONTENT);
    assert_eq!(v["responses_stream"]["output_text"], AUTO_CONTENT);
    assert_eq!(v["completions"]["text"], AUTO_CONTENT);

    f.push_all([
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
        Reply::status(529),
    ]);
    let v = sdk(
        "anthropic_client.py",
        &f.origin(),
        "k",
        "claude-x",
        &[
            "tools",
            "tools_stream",
            "messages",
            "stream",
            "rich",
            "count_tokens",
        ],
    )
    .await;
    for c in ["tools", "tools_stream"] {
        let block = find_block(&v[c]["content"], "type", "tool_use");
        assert_eq!(block["name"], "get_weather", "{c}");
        assert_eq!(block["input"], weather_args(), "{c}");
        assert_eq!(v[c]["stop_reason"], "tool_use", "{c}");
    }
    assert_eq!(v["messages"]["error"]["status"], 529);
    assert_eq!(
        v["messages"]["error"]["body"]["error"]["type"],
        "overloaded_error"
    );
    assert_eq!(v["stream"]["text"], AUTO_CONTENT);
    assert_eq!(v["count_tokens"]["input_tokens"], 10);
    // The SDK sends extra_body fields at the top level (the pass-through test relies on it).
    let rich = f.requests_to("/messages").last().unwrap().json();
    assert_eq!(rich["top_k"], 5);
    assert_eq!(rich["temperature"], 0.2);
}

// ---------------------------------------------------------------------------
// The openai SDK against anthropic and gemini accounts.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn openai_sdk_against_an_anthropic_account() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let server = up.server().await;
    let c1 = &up.claude1;
    c1.push_all([
        Reply::auto(),
        Reply::auto(),
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
        Reply::auto(),
        Reply::status(400).message("messages.1.content: tool_use ids must be unique"),
    ]);
    let v = openai_sdk(
        &server,
        "claude",
        &[
            "chat",
            "chat_stream",
            "tools",
            "tools_stream",
            "tool_result",
            "chat",
        ],
    )
    .await;
    let reqs = c1.requests_to("/messages");
    assert_eq!(reqs.len(), 6, "every call reached claude-1 at /v1/messages");
    assert_eq!(up.claude2.request_count(), 0);
    for r in &reqs {
        assert_eq!(r.path, "/v1/messages");
        assert_anthropic_auth(r, ANTHROPIC_KEY_1);
        let body = r.json();
        assert_eq!(body["model"], "claude-up-1");
        assert!(body["max_tokens"].as_u64().unwrap() > 0, "{body}");
    }
    // System message → top-level system; user text → a user turn.
    let first = reqs[0].json();
    assert!(
        first["system"].to_string().contains("You are terse."),
        "{first}"
    );
    assert_eq!(first["messages"][0]["role"], "user");
    assert!(
        first["messages"][0].to_string().contains("Say hi"),
        "{first}"
    );
    assert_ne!(first["stream"], true);

    let s = &v["chat_stream"];
    assert_eq!(s["content"], AUTO_CONTENT, "{v:#}");
    assert_eq!(s["finish_reason"], "stop");
    assert_eq!(s["usage"], default_usage());
    assert_eq!(reqs[1].json()["stream"], true);

    for c in ["tools", "tools_stream"] {
        assert_eq!(v[c]["finish_reason"], "tool_calls", "{c}: {v:#}");
        assert_eq!(v[c]["tool_calls"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(v[c]["tool_calls"][0]["name"], "get_weather", "{c}");
        assert_eq!(v[c]["tool_calls"][0]["arguments"], weather_args(), "{c}");
        assert!(
            v[c]["tool_calls"][0]["id"].as_str().unwrap().len() > 3,
            "{c}"
        );
    }
    // The tool was declared Anthropic-style.
    let tools = reqs[2].json()["tools"].clone();
    assert_eq!(tools[0]["name"], "get_weather", "{tools}");
    assert_eq!(tools[0]["input_schema"]["required"], json!(["city"]));

    // Tool-result round trip: assistant tool_calls → tool_use, tool → tool_result.
    assert_eq!(v["tool_result"]["content"], AUTO_CONTENT);
    let body = reqs[4].json();
    let tool_use = find_block(&body["messages"], "type", "tool_use");
    assert_eq!(tool_use["id"], "call_1");
    assert_eq!(tool_use["name"], "get_weather");
    assert_eq!(tool_use["input"], weather_args());
    let tool_result = find_block(&body["messages"], "type", "tool_result");
    assert_eq!(tool_result["tool_use_id"], "call_1");
    assert!(
        tool_result["content"].to_string().contains("18C and sunny"),
        "{tool_result}"
    );

    // The buffered answer.
    assert_eq!(v["chat"]["content"], AUTO_CONTENT, "{v:#}");
    assert_eq!(v["chat"]["finish_reason"], "stop");
    assert_eq!(v["chat"]["model"], "claude");
    assert_eq!(v["chat"]["usage"], default_usage());

    // An upstream 400 keeps its status and message.
    let e = &v["chat#2"]["error"];
    assert_eq!(e["status"], 400, "{v:#}");
    assert_eq!(
        e["body"]["message"],
        "messages.1.content: tool_use ids must be unique"
    );
}

#[tokio::test]
async fn a_529_fails_over_to_the_next_anthropic_account() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let server = up.server().await;
    up.claude1.push(Reply::status(529));
    let v = openai_sdk(&server, "claude", &["chat"]).await;
    assert_eq!(v["chat"]["content"], AUTO_CONTENT, "{v:#}");
    assert_eq!(up.claude1.requests_to("/messages").len(), 1);
    let served = up.claude2.requests_to("/messages");
    assert_eq!(served.len(), 1, "claude-2 served the retry");
    assert_anthropic_auth(&served[0], ANTHROPIC_KEY_2);
    assert_eq!(served[0].json()["model"], "claude-up-2");
}

#[tokio::test]
async fn openai_sdk_against_a_gemini_account() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let server = up.server().await;
    let g = &up.gemini;
    g.push_all([
        Reply::auto(),
        Reply::auto(),
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
        Reply::auto(),
        Reply::status(400).message("Invalid value at 'contents[0].parts[0]'"),
    ]);
    let v = openai_sdk(
        &server,
        "gemini",
        &[
            "tool_result",
            "chat_stream",
            "tools",
            "tools_stream",
            "chat",
            "chat",
        ],
    )
    .await;
    let reqs = g.requests();
    assert_eq!(reqs.len(), 6, "{reqs:#?}");
    for r in &reqs {
        assert_gemini_auth(r);
    }
    let paths: Vec<(&str, Option<&str>)> = reqs
        .iter()
        .map(|r| (r.path.as_str(), r.query.as_deref()))
        .collect();
    let buffered = ("/v1beta/models/gemini-up:generateContent", None);
    let streamed = (
        "/v1beta/models/gemini-up:streamGenerateContent",
        Some("alt=sse"),
    );
    assert_eq!(
        paths,
        [buffered, streamed, buffered, streamed, buffered, buffered]
    );

    // Tool-result round trip (the first call): functionCall + functionResponse.
    assert_eq!(v["tool_result"]["content"], AUTO_CONTENT, "{v:#}");
    let body = reqs[0].json();
    assert!(
        objects(&body["contents"])
            .iter()
            .any(|o| o["functionCall"]["args"] == weather_args()),
        "{body:#}"
    );
    let response = objects(&body["contents"])
        .into_iter()
        .find(|o| o.get("functionResponse").is_some())
        .unwrap_or_else(|| panic!("no functionResponse in {body:#}"));
    assert_eq!(response["functionResponse"]["name"], "get_weather");
    assert!(response.to_string().contains("18C and sunny"));
    assert!(
        body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather",
        "{body:#}"
    );

    let s = &v["chat_stream"];
    assert_eq!(s["content"], AUTO_CONTENT);
    assert_eq!(s["finish_reason"], "stop");
    assert_eq!(s["usage"], default_usage());

    for c in ["tools", "tools_stream"] {
        assert_eq!(v[c]["finish_reason"], "tool_calls", "{c}: {v:#}");
        assert_eq!(v[c]["tool_calls"][0]["name"], "get_weather", "{c}");
        assert_eq!(v[c]["tool_calls"][0]["arguments"], weather_args(), "{c}");
    }

    // The buffered answer.
    assert_eq!(v["chat"]["content"], AUTO_CONTENT, "{v:#}");
    assert_eq!(v["chat"]["finish_reason"], "stop");
    assert_eq!(v["chat"]["model"], "gemini");
    assert_eq!(v["chat"]["usage"], default_usage());

    // An upstream 400 keeps its status and message.
    let e = &v["chat#2"]["error"];
    assert_eq!(e["status"], 400, "{v:#}");
    assert_eq!(
        e["body"]["message"],
        "Invalid value at 'contents[0].parts[0]'"
    );
}

// ---------------------------------------------------------------------------
// The anthropic SDK against /v1/messages.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_sdk_against_an_openai_account() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let server = up.server().await;
    let o = &up.openai;
    o.push_all([
        Reply::auto(),
        Reply::auto(),
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
    ]);
    let v = anthropic_sdk(
        &server,
        "gpt",
        &["messages", "stream", "tools", "tools_stream"],
    )
    .await;
    let m = &v["messages"];
    assert_eq!(m["type"], "message", "{v:#}");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "gpt");
    assert_eq!(m["text"], AUTO_CONTENT);
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["input_tokens"], 10);
    assert_eq!(m["usage"]["output_tokens"], 5);

    let s = &v["stream"];
    assert_eq!(s["text"], AUTO_CONTENT, "{v:#}");
    let texts: String = s["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(texts, AUTO_CONTENT);
    assert_eq!(s["stop_reason"], "end_turn");
    assert_eq!(s["usage"]["output_tokens"], 5);
    let types = s["types"].as_array().unwrap();
    assert_eq!(types.first().unwrap(), "message_start");
    assert_eq!(types.last().unwrap(), "message_stop");

    for c in ["tools", "tools_stream"] {
        let block = find_block(&v[c]["content"], "type", "tool_use");
        assert_eq!(block["name"], "get_weather", "{c}: {v:#}");
        assert_eq!(block["input"], weather_args(), "{c}");
        assert_eq!(v[c]["stop_reason"], "tool_use", "{c}");
    }

    let reqs = o.chat_requests();
    assert_eq!(reqs.len(), 4);
    for r in &reqs {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_openai_auth(r);
        assert_eq!(r.json()["model"], "gpt-up");
    }
    let first = reqs[0].json();
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert!(first["messages"][1].to_string().contains("Say hi"));
    let limit = first
        .get("max_tokens")
        .or(first.get("max_completion_tokens"));
    assert_eq!(limit, Some(&json!(256)), "{first}");
    let streamed = reqs[1].json();
    assert_eq!(streamed["stream"], true);
    assert_eq!(streamed["stream_options"]["include_usage"], true);
    assert_eq!(
        reqs[2].json()["tools"][0]["function"]["name"],
        "get_weather"
    );

    // Errors are Anthropic-shaped: an unknown model.
    let v = anthropic_sdk(&server, "no-such-model", &["messages"]).await;
    let e = &v["messages"]["error"];
    assert_eq!(e["status"], 404, "{v:#}");
    assert_eq!(e["body"]["type"], "error");
    assert_eq!(e["body"]["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn anthropic_sdk_passes_through_to_an_anthropic_account() {
    if !sdks_available() {
        return;
    }
    // What the SDK sends, seen by a fake directly.
    let direct = FakeUpstream::start().await;
    sdk(
        "anthropic_client.py",
        &direct.origin(),
        "k",
        "claude",
        &["rich", "rich_stream"],
    )
    .await;
    let sent: Vec<Value> = direct
        .requests_to("/messages")
        .iter()
        .map(RecordedRequest::json)
        .collect();
    assert_eq!(sent.len(), 2);
    // The client's own `anthropic-version` passes through (the account sets none
    // explicitly).
    let sdk_version = direct.requests_to("/messages")[0]
        .header("anthropic-version")
        .expect("the anthropic SDK sends anthropic-version")
        .to_string();

    let up = Upstreams::start().await;
    let server = up.server().await;
    let v = anthropic_sdk(&server, "claude", &["rich", "rich_stream", "count_tokens"]).await;
    assert_eq!(v["rich"]["text"], AUTO_CONTENT, "{v:#}");
    assert_eq!(v["rich"]["stop_reason"], "end_turn");
    assert_eq!(v["rich_stream"]["text"], AUTO_CONTENT);
    assert_eq!(v["rich_stream"]["usage"]["output_tokens"], 5);
    assert_eq!(v["count_tokens"]["input_tokens"], 10);

    let reqs = up.claude1.requests_to("/messages");
    assert_eq!(reqs.len(), 2, "rich, rich_stream");
    for (got, want) in reqs.iter().zip(&sent) {
        assert_eq!(got.path, "/v1/messages");
        assert_anthropic_auth_with(got, ANTHROPIC_KEY_1, &sdk_version);
        let mut want = want.clone();
        want["model"] = json!("claude-up-1");
        assert_eq!(
            got.json(),
            want,
            "the client's fields pass through unchanged except model"
        );
    }
    let counted = up.claude1.requests_to("/messages/count_tokens");
    assert_eq!(counted.len(), 1);
    assert_anthropic_auth_with(&counted[0], ANTHROPIC_KEY_1, &sdk_version);
    assert_eq!(counted[0].path, "/v1/messages/count_tokens");
    assert_eq!(counted[0].json()["model"], "claude-up-1");

    // Tool use passes through too, buffered and streamed.
    up.claude1.push_all([
        Reply::tool_call("get_weather", weather_args()),
        Reply::tool_call("get_weather", weather_args()),
    ]);
    let v = anthropic_sdk(&server, "claude", &["tools", "tools_stream"]).await;
    for c in ["tools", "tools_stream"] {
        let block = find_block(&v[c]["content"], "type", "tool_use");
        assert_eq!(block["name"], "get_weather", "{c}: {v:#}");
        assert_eq!(block["input"], weather_args(), "{c}");
        assert_eq!(v[c]["stop_reason"], "tool_use", "{c}");
    }
}

// ---------------------------------------------------------------------------
// Embeddings, responses, completions, models, unknown endpoints, usage.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn embeddings_responses_completions_and_models() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let server = up.server().await;

    let v = openai_sdk(&server, "embed", &["embeddings", "embeddings_float"]).await;
    for c in ["embeddings", "embeddings_float"] {
        assert_eq!(
            v[c]["vectors"],
            json!([embedding_for(0), embedding_for(1)]),
            "{c}: {v:#}"
        );
        assert_eq!(v[c]["indexes"], json!([0, 1]));
    }
    let reqs = up.openai.requests_to("/embeddings");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/embeddings");
    assert_openai_auth(&reqs[0]);
    assert_eq!(reqs[0].json()["model"], "embed-up");
    assert_eq!(reqs[0].json()["input"], json!(["alpha", "beta"]));

    // Through a Gemini account, with the SDK's default (base64, which Rook
    // encodes itself) and with floats.
    let v = openai_sdk(&server, "gembed", &["embeddings", "embeddings_float"]).await;
    for c in ["embeddings", "embeddings_float"] {
        assert_eq!(
            v[c]["vectors"],
            json!([embedding_for(0), embedding_for(1)]),
            "{c}: {v:#}"
        );
    }
    let reqs = up.gemini.requests_to(":batchEmbedContents");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1beta/models/gembed-up:batchEmbedContents");
    assert_gemini_auth(&reqs[0]);
    let texts: Vec<String> = reqs[0].json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["alpha", "beta"]);

    let v = openai_sdk(
        &server,
        "gpt",
        &["responses", "responses_stream", "completions", "model"],
    )
    .await;
    let r = &v["responses"];
    assert_eq!(r["status"], "completed", "{v:#}");
    assert_eq!(r["output_text"], AUTO_CONTENT);
    assert_eq!(r["usage"]["total_tokens"], 15);
    let s = &v["responses_stream"];
    assert_eq!(s["deltas"], AUTO_CONTENT);
    assert_eq!(s["output_text"], AUTO_CONTENT);
    assert_eq!(s["usage"]["input_tokens"], 10);
    assert_eq!(s["types"][0], "response.created");
    assert_eq!(
        s["types"].as_array().unwrap().last().unwrap(),
        "response.completed"
    );
    let reqs = up.openai.requests_to("/responses");
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.path, "/v1/responses");
        assert_openai_auth(r);
        assert_eq!(r.json()["model"], "gpt-up");
        assert_eq!(r.json()["input"], "Say hi");
    }
    assert_eq!(reqs[1].json()["stream"], true);

    assert_eq!(v["completions"]["text"], AUTO_CONTENT);
    assert_eq!(v["completions"]["usage"], default_usage());
    let reqs = up.openai.requests_to("/v1/completions");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].json()["prompt"], "Say hi");
    assert_eq!(reqs[0].json()["model"], "gpt-up");

    assert_eq!(v["model"]["id"], "gpt", "{v:#}");
    assert_eq!(v["model"]["object"], "model");
    let v = openai_sdk(&server, "nope", &["model"]).await;
    assert_eq!(v["model"]["error"]["status"], 404, "{v:#}");
    assert_eq!(v["model"]["error"]["body"]["code"], "model_not_found");

    // The Responses API needs an openai account: a route with only
    // anthropic accounts is a 400 that says why, with no upstream call.
    let v = openai_sdk(&server, "claude", &["responses"]).await;
    let e = &v["responses"]["error"];
    assert_eq!(e["status"], 400, "{v:#}");
    let msg = e["body"]["message"].as_str().unwrap().to_lowercase();
    assert!(msg.contains("openai"), "{msg}");
    assert_eq!(up.claude1.request_count() + up.claude2.request_count(), 0);

    // Unknown /v1 endpoints: a 404 listing the supported ones.
    let auth = format!("Bearer {TOKEN}");
    let r = http::get(&server.url("/v1/nope"), &[("authorization", &auth)])
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    for endpoint in [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/embeddings",
        "/v1/responses",
    ] {
        assert!(msg.contains(endpoint), "{msg}");
    }
}

#[tokio::test]
async fn usage_report_groups_by_endpoint() {
    if !sdks_available() {
        return;
    }
    let up = Upstreams::start().await;
    let mut server = up.server().await;
    openai_sdk(
        &server,
        "gpt",
        &["chat", "chat_stream", "responses", "completions"],
    )
    .await;
    openai_sdk(&server, "claude", &["chat"]).await;
    openai_sdk(&server, "embed", &["embeddings_float"]).await;
    anthropic_sdk(&server, "gpt", &["messages", "stream"]).await;
    anthropic_sdk(&server, "claude", &["messages"]).await;

    server.sigterm().unwrap();
    assert!(server
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap()
        .success());
    let cli = workspace_bin("rook-cli", "rook-cli").unwrap();
    let out = Command::new(cli)
        .args([
            "usage",
            "report",
            "--format",
            "json",
            "--since",
            "1h",
            "--group-by",
            "endpoint",
            "--config",
        ])
        .arg(server.config_path())
        .env_remove("ROOK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rook-cli failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut groups: Vec<(String, u64, u64)> = report["groups"]["endpoint"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["requests"].as_u64().unwrap(),
                g["streaming_requests"].as_u64().unwrap(),
            )
        })
        .collect();
    groups.sort();
    let expected: Vec<(String, u64, u64)> = [
        ("chat", 3, 1),
        ("completions", 1, 0),
        ("embeddings", 1, 0),
        ("messages", 3, 1),
        ("responses", 1, 0),
    ]
    .iter()
    .map(|(k, r, s)| ((*k).to_owned(), *r, *s))
    .collect();
    assert_eq!(groups, expected, "{report:#}");
    assert_eq!(report["totals"]["requests"], 9);
    assert_eq!(report["totals"]["failed_requests"], 0);
}
