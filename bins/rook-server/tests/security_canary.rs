//! End to end, issue 12 findings 2 and 3: no provider key in any byte Rook
//! relays or keeps, and text logs that a client cannot forge.
//!
//! The accounts' keys are unique canaries; the fake upstreams echo the key
//! they receive (and the test scripts another account's key in too) into
//! error fields, nested values, headers, buffered answers and stream chunks
//! split in the middle of the key. The canary (or either half of it) must
//! appear in no byte the client receives, nor in the server's logs, the
//! admin API, `rook-cli config export`, `rook-cli doctor --probe`, the
//! SQLite files or a backup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rook_test_support::fake::{ECHO_HEADER, ECHO_KEY, ECHO_KEY_HEAD, ECHO_KEY_TAIL};
use rook_test_support::{http, workspace_bin, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-canary-test-0123456789";
const OAI: &str = "sk-proj-CANARYo0a1b2c3d4e5f60718293a4b5";
const ANT: &str = "sk-ant-api03-CANARYa9f8e7d6c5b4a3928171605";
const GEM: &str = "AIzaSyCANARYg11223344556677889900aabbcc";
/// The key of an account no request uses: scrubbed all the same.
const IDLE: &str = "idle-CANARYi-ffeeddccbbaa99887766554433";
const CANARIES: [&str; 4] = [OAI, ANT, GEM, IDLE];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn cli() -> PathBuf {
    workspace_bin("rook-cli", "rook-cli").unwrap()
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ROOK_ADMIN_TOKEN", ADMIN),
        ("ROOK_LOG_FORMAT", "text"),
        ("KEY_OAI", OAI),
        ("KEY_ANT", ANT),
        ("KEY_GEM", GEM),
        ("KEY_IDLE", IDLE),
    ]
}

struct Fakes {
    oai: FakeUpstream,
    ant: FakeUpstream,
    gem: FakeUpstream,
    idle: FakeUpstream,
}

impl Fakes {
    async fn start() -> Fakes {
        let f = Fakes {
            oai: FakeUpstream::start().await,
            ant: FakeUpstream::start().await,
            gem: FakeUpstream::start().await,
            idle: FakeUpstream::start().await,
        };
        for u in [&f.oai, &f.ant, &f.gem, &f.idle] {
            u.set_echo_key(true);
        }
        f
    }

    fn config(&self) -> String {
        format!(
            r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[usage]
flush_interval_ms = 50

[upstream_resilience]
max_buffered_attempts = 1
failure_threshold = 100

[[accounts]]
id = "oai"
vendor = "open_ai"
base_url = "{oai}"
api_key_env = "KEY_OAI"

[[accounts]]
id = "ant"
vendor = "anthropic"
base_url = "{ant}"
api_key_env = "KEY_ANT"

[[accounts]]
id = "gem"
vendor = "google"
base_url = "{gem}/v1beta"
api_key_env = "KEY_GEM"

[[accounts]]
id = "idle"
vendor = "open_ai"
base_url = "{idle}"
api_key_env = "KEY_IDLE"

[[pools]]
id = "p-oai"
strategy = "priority"
members = ["oai"]

[[pools]]
id = "p-ant"
strategy = "priority"
members = ["ant"]

[[pools]]
id = "p-gem"
strategy = "priority"
members = ["gem"]

[[routes]]
model = "o"
pool = "p-oai"

[[routes]]
model = "a"
pool = "p-ant"

[[routes]]
model = "g"
pool = "p-gem"
"#,
            oai = self.oai.base_url(),
            ant = self.ant.base_url(),
            gem = self.gem.origin(),
            idle = self.idle.base_url(),
        )
    }
}

/// Panics if any canary, or either half of one, is in `text`.
fn assert_clean(what: &str, text: &str) {
    for c in CANARIES {
        let (head, tail) = c.split_at(c.len() / 2);
        for needle in [c, head, tail] {
            assert!(
                !text.contains(needle),
                "a canary key ({needle}) leaked into {what}:\n{text}"
            );
        }
    }
}

/// Everything the client received: status, headers and body.
fn seen(r: &http::TestResponse) -> String {
    let mut s = format!("{}\n", r.status);
    for (n, v) in &r.headers {
        s.push_str(&format!("{n}: {v}\n"));
    }
    s.push_str(&r.text());
    s
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

/// An OpenAI error echoing the key in every field and a nested value, with
/// another account's key in the message.
fn openai_error(status: u16) -> Reply {
    Reply::status(status).json(json!({"error": {
        "message": format!("Incorrect API key provided: {ECHO_KEY}; also {IDLE}"),
        "type": format!("invalid_request_error {ECHO_KEY}"),
        "code": ECHO_KEY,
        "param": ECHO_KEY,
        "nested": {"deep": [ECHO_KEY, {"k": ECHO_KEY}]},
    }}))
}

/// An OpenAI stream whose content carries the key split across two writes,
/// in the middle of a JSON string.
fn openai_split_stream() -> Reply {
    let chunk = |delta: &str, finish: &str| {
        format!(
            r#"{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#
        )
    };
    let first = chunk(
        &format!(r#"{{"role":"assistant","content":"k={ECHO_KEY_HEAD}|{ECHO_KEY_TAIL} end"}}"#),
        "null",
    );
    let (a, b) = first.split_once('|').unwrap();
    Reply::auto()
        .raw_sse_parts(vec![
            format!("data: {a}"),
            format!("{b}\n\ndata: {}\n\n", chunk("{}", r#""stop""#)),
            "data: [DONE]\n\n".to_string(),
        ])
        .chunk_delay(Duration::from_millis(30))
}

/// An Anthropic stream (relayed as is to an Anthropic client) whose text
/// carries the key split across two writes.
fn anthropic_split_stream() -> Reply {
    let events = format!(
        "event: message_start\ndata: {}\n\nevent: content_block_start\ndata: {}\n\nevent: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"k={ECHO_KEY_HEAD}|{ECHO_KEY_TAIL} end\"}}}}\n\nevent: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\nevent: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":2}}}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "m", "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    let (a, b) = events.split_once('|').unwrap();
    Reply::auto()
        .raw_sse_parts(vec![a.to_string(), b.to_string()])
        .chunk_delay(Duration::from_millis(30))
}

/// Runs `rook-cli ARGS --config <the server's>` with the keys in its
/// environment (without blocking the runtime the fakes answer on); its
/// stdout and stderr.
async fn cli_run(server: &RookServer, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(cli());
    cmd.args(args)
        .arg("--config")
        .arg(server.config_path())
        .current_dir(server.dir())
        .env_remove("ROOK_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Case {
    name: &'static str,
    path: &'static str,
    body: Value,
    status: u16,
}

fn c(name: &'static str, path: &'static str, body: Value, status: u16) -> Case {
    Case {
        name,
        path,
        body,
        status,
    }
}

/// Scripts `reply` on `up`, sends the case, checks its status and that the
/// client got no canary; keeps what the client got in `all_seen`.
async fn send(
    server: &RookServer,
    all_seen: &mut String,
    up: &FakeUpstream,
    reply: Reply,
    case: Case,
) -> http::TestResponse {
    up.push(reply);
    let r = http::post_json(&server.url(case.path), &[], &case.body)
        .await
        .unwrap();
    assert_eq!(r.status, case.status, "{}: {}", case.name, r.text());
    let text = seen(&r);
    assert_clean(&format!("the client's bytes ({})", case.name), &text);
    all_seen.push_str(&text);
    r
}

#[tokio::test]
async fn no_account_key_reaches_a_client_a_log_the_admin_api_the_cli_or_the_database() {
    let f = Fakes::start().await;
    let env = env();
    let server = RookServer::start(bin(), &f.config(), &env).await.unwrap();
    let mut all_seen = String::new();
    let seen_by = &mut all_seen;
    let s = &server;

    // OpenAI protocol: errors (buffered and before a stream's first byte).
    let r = send(
        s,
        seen_by,
        &f.oai,
        openai_error(400),
        c("oai 400", "/v1/chat/completions", chat("o", false), 400),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "[redacted]");
    assert_eq!(r.json()["error"]["param"], "[redacted]");
    send(
        s,
        seen_by,
        &f.oai,
        openai_error(500),
        c("oai 500", "/v1/chat/completions", chat("o", false), 502),
    )
    .await;
    send(
        s,
        seen_by,
        &f.oai,
        openai_error(400),
        c(
            "oai 400 stream",
            "/v1/chat/completions",
            chat("o", true),
            400,
        ),
    )
    .await;
    send(
        s,
        seen_by,
        &f.oai,
        openai_error(500),
        c(
            "oai 500 stream",
            "/v1/chat/completions",
            chat("o", true),
            502,
        ),
    )
    .await;
    // A key-echoing success, buffered, with echoing headers.
    let reply = Reply::chat(&format!("your key is {ECHO_KEY}, and {IDLE}"))
        .header("x-ratelimit-remaining-requests", "7")
        .header("x-ratelimit-limit-requests", &format!("99 {ECHO_KEY}"))
        .header("openai-organization", "org-secret")
        .header("server", "evil-upstream/1.0");
    let r = send(
        s,
        seen_by,
        &f.oai,
        reply,
        c(
            "oai buffered",
            "/v1/chat/completions",
            chat("o", false),
            200,
        ),
    )
    .await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "your key is [redacted], and [redacted]"
    );
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("7"));
    for dropped in [
        ECHO_HEADER,
        "x-ratelimit-limit-requests",
        "openai-organization",
    ] {
        assert!(
            r.header(dropped).is_none(),
            "{dropped} was relayed: {:?}",
            r.headers
        );
    }
    assert_ne!(r.header("server"), Some("evil-upstream/1.0"));
    if let Some(len) = r.header("content-length") {
        assert_eq!(len.parse::<usize>().unwrap(), r.body.len());
    }
    // Streams: the key split in the middle of a chunk's JSON, and whole.
    let mut split = chat("o", true);
    split["stream_options"] = json!({"include_usage": true});
    let r = send(
        s,
        seen_by,
        &f.oai,
        openai_split_stream(),
        c("oai split stream", "/v1/chat/completions", split, 200),
    )
    .await;
    assert!(
        r.text().contains("k=[redacted] end") && r.text().contains("[DONE]"),
        "{}",
        r.text()
    );
    let reply = Reply::stream(vec![format!("a {ECHO_KEY} b"), format!(" {IDLE} c")]);
    let r = send(
        s,
        seen_by,
        &f.oai,
        reply,
        c("oai stream", "/v1/chat/completions", chat("o", true), 200),
    )
    .await;
    assert!(r.text().contains("[redacted]"), "{}", r.text());
    assert!(f
        .oai
        .requests()
        .iter()
        .all(|q| q.header("authorization") == Some(&format!("Bearer {OAI}"))));

    // Anthropic protocol: translated for an OpenAI client, and as is.
    let ant_error = || {
        Reply::status(400).json(json!({"type": "error", "error": {
            "type": ECHO_KEY, "message": format!("bad key {ECHO_KEY}"), "details": {"k": ECHO_KEY},
        }}))
    };
    send(
        s,
        seen_by,
        &f.ant,
        ant_error(),
        c(
            "ant 400 as chat",
            "/v1/chat/completions",
            chat("a", false),
            400,
        ),
    )
    .await;
    send(
        s,
        seen_by,
        &f.ant,
        ant_error(),
        c("ant 400", "/v1/messages", messages("a", false), 400),
    )
    .await;
    send(
        s,
        seen_by,
        &f.ant,
        ant_error(),
        c("ant 400 stream", "/v1/messages", messages("a", true), 400),
    )
    .await;
    let r = send(
        s,
        seen_by,
        &f.ant,
        Reply::chat(&format!("hi {ECHO_KEY}")),
        c(
            "ant buffered as chat",
            "/v1/chat/completions",
            chat("a", false),
            200,
        ),
    )
    .await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "hi [redacted]"
    );
    send(
        s,
        seen_by,
        &f.ant,
        Reply::chat(&format!("hi {ECHO_KEY}")),
        c("ant buffered", "/v1/messages", messages("a", false), 200),
    )
    .await;
    send(
        s,
        seen_by,
        &f.ant,
        Reply::stream(vec![format!("x {ECHO_KEY} y")]),
        c(
            "ant stream as chat",
            "/v1/chat/completions",
            chat("a", true),
            200,
        ),
    )
    .await;
    let r = send(
        s,
        seen_by,
        &f.ant,
        anthropic_split_stream(),
        c("ant split stream", "/v1/messages", messages("a", true), 200),
    )
    .await;
    assert!(
        r.text().contains("k=[redacted] end") && r.text().contains("message_stop"),
        "{}",
        r.text()
    );
    assert!(f
        .ant
        .requests()
        .iter()
        .all(|q| q.header("x-api-key") == Some(ANT)));

    // Gemini protocol.
    let gem_error = |status: u16| {
        Reply::status(status).json(json!({"error": {
            "code": status, "message": format!("API key not valid: {ECHO_KEY}"), "status": ECHO_KEY,
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": ECHO_KEY}],
        }}))
    };
    send(
        s,
        seen_by,
        &f.gem,
        gem_error(400),
        c("gem 400", "/v1/chat/completions", chat("g", false), 400),
    )
    .await;
    send(
        s,
        seen_by,
        &f.gem,
        gem_error(500),
        c(
            "gem 500 stream",
            "/v1/chat/completions",
            chat("g", true),
            502,
        ),
    )
    .await;
    send(
        s,
        seen_by,
        &f.gem,
        gem_error(400),
        c(
            "gem 400 as messages",
            "/v1/messages",
            messages("g", false),
            400,
        ),
    )
    .await;
    let r = send(
        s,
        seen_by,
        &f.gem,
        Reply::chat(&format!("g {ECHO_KEY}")),
        c(
            "gem buffered",
            "/v1/chat/completions",
            chat("g", false),
            200,
        ),
    )
    .await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "g [redacted]");
    send(
        s,
        seen_by,
        &f.gem,
        Reply::stream(vec![format!("g {ECHO_KEY} h")]),
        c("gem stream", "/v1/chat/completions", chat("g", true), 200),
    )
    .await;
    assert!(f
        .gem
        .requests()
        .iter()
        .all(|q| q.header("x-goog-api-key") == Some(GEM)));
    // Every case put the key in the answer; the redaction marker shows it was there.
    assert!(all_seen.matches("[redacted]").count() >= 20, "{all_seen}");

    // An audited admin write, then the admin API.
    let auth = format!("Bearer {ADMIN}");
    let admin = [("authorization", auth.as_str())];
    let r = http::post_json(&server.url("/api/accounts/oai/reset"), &admin, &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    for path in [
        "/api/metrics",
        "/api/usage",
        "/api/audit/events?limit=100",
        "/api/accounts",
        "/api/health/accounts",
        "/api/status",
    ] {
        let r = http::get(&server.url(path), &admin).await.unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_clean(path, &seen(&r));
    }

    // The CLI, with the keys in its environment.
    let export = cli_run(&server, &env, &["config", "export"]).await;
    assert!(export.contains("KEY_OAI"), "{export}");
    assert_clean("rook-cli config export", &export);
    let before = f.oai.requests_to("/models").len();
    let doctor = cli_run(&server, &env, &["doctor", "--probe"]).await;
    assert!(
        doctor.contains("probe:oai") && doctor.contains("probe:gem"),
        "{doctor}"
    );
    assert!(
        f.oai.requests_to("/models").len() > before,
        "doctor did not probe: {doctor}"
    );
    assert_clean("rook-cli doctor --probe", &doctor);
    let backup = server.dir().join("backup.db");
    let out = cli_run(&server, &env, &["db", "backup", backup.to_str().unwrap()]).await;
    assert!(backup.exists(), "{out}");
    assert_clean("rook-cli db backup", &out);

    // The server's logs, and every database file (the WAL too) and the backup.
    assert_clean("the server's logs", &server.logs());
    let mut files = 0;
    for entry in std::fs::read_dir(server.dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The usage journal too (usually empty by now: truncated once written).
        if name.starts_with("rook.db")
            || name.starts_with("backup.db")
            || name.starts_with("usage.journal")
        {
            let bytes = std::fs::read(&path).unwrap();
            assert_clean(&name, &String::from_utf8_lossy(&bytes));
            files += 1;
        }
    }
    assert!(
        files >= 2,
        "no database files found in {}",
        server.dir().display()
    );
}

#[tokio::test]
async fn a_model_name_cannot_forge_a_text_log_line_or_reach_the_terminal() {
    let f = Fakes::start().await;
    let server = RookServer::start(bin(), &f.config(), &env()).await.unwrap();
    let forged = "nope\n2026-01-01T00:00:00.000000Z  INFO rook_gateway: forged line\x1b[31m";
    let url = server.url("/v1/chat/completions");
    let r = http::post_json(
        &url,
        &[("x-request-id", "req-forge-1")],
        &json!({"model": forged, "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    // A routed request too, whose model passes through the proxy's logs.
    let r = http::post_json(&url, &[("x-request-id", "req-forge-2")], &chat("o", false))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        server
            .wait_for_log("req-forge-2", Duration::from_secs(5))
            .await
    );
    let logs = server.logs();
    assert!(
        !logs.contains('\x1b'),
        "a raw ESC reached the log:\n{logs:?}"
    );
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("forged line") && !l.contains("req-forge-1")),
        "a forged line:\n{logs}"
    );
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("req-forge-1")).collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(
        lines[0].contains(
            r"nope\n2026-01-01T00:00:00.000000Z  INFO rook_gateway: forged line\u{1b}[31m"
        ),
        "{}",
        lines[0]
    );
}
