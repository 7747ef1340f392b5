//! End to end: the web dashboard (`/ui`) of the real `rook-server` binary.
//!
//! `http_contract` checks the answers over plain HTTP: redirects, security headers,
//! hashed immutable assets, sign-in, the session cookie as an `/api` credential, the
//! CSRF token on writes, sign-out.
//!
//! `dashboard_in_headless_chromium` drives the dashboard in headless Chromium (the
//! Debian `chromium` package; `.ci/run` installs it) through `tests/ui/cdp_driver.py`,
//! which speaks the DevTools protocol over `--remote-debugging-pipe`. With fake
//! upstreams and some traffic it signs in, sees a cooling account as cooling, resets
//! it, adds an account and disables it, creates a route and serves a chat request on
//! it, finds the usage charts drawn with the right totals, and checks that a write
//! without the CSRF token is refused and that `/ui` without a session goes to the
//! sign-in page. Screenshots of every page land in `target/ui-screenshots/`. Without
//! Chromium (or `python3`) the test prints why and returns, except in CI (`CI` set)
//! where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rook_test_support::{http, FakeUpstream, Reply, RookServer, TestDir};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const TOKEN: &str = "client-token-ui-0123";
const ADMIN: &str = "admin-token-ui-0123456789";
const INLINE_KEY: &str = "sk-ui-CANARY-5f1e";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(flaky: &FakeUpstream, steady: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[secrets]
master_key_env = "ROOK_MASTER_KEY"

[upstream_resilience]
failure_threshold = 1
failure_cooldown_seconds = 600
failure_cooldown_max_seconds = 600

[usage]
flush_interval_ms = 20

[pricing."chat-a"]
input_usd_per_million = 1000
output_usd_per_million = 2000

[[accounts]]
id = "flaky"
vendor = "custom"
base_url = "{flaky}"
api_key_env = "KEY"

[[accounts]]
id = "steady"
vendor = "custom"
base_url = "{steady}"
api_key_env = "KEY"

[[pools]]
id = "main"
strategy = "failover"
members = ["flaky", "steady"]

[[routes]]
model = "chat-a"
pool = "main"
"#,
        flaky = flaky.base_url(),
        steady = steady.base_url(),
    )
}

const ENV: &[(&str, &str)] = &[
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
    ("KEY", "upstream-key"),
    (
        "ROOK_MASTER_KEY",
        "3c5e8f1b4d6a9c2e5f7b0d3a6c9e2f5b8d1a4c7e0f3b6d9a2c6a1f0c4e9b2d7a",
    ),
];

async fn start() -> (RookServer, FakeUpstream, FakeUpstream) {
    let flaky = FakeUpstream::start().await;
    let steady = FakeUpstream::start().await;
    flaky.set_default(Reply::status(500));
    steady.set_default(Reply::chat("ok").usage(7, 3));
    let server = RookServer::start(bin(), &config(&flaky, &steady), ENV)
        .await
        .unwrap();
    (server, flaky, steady)
}

async fn chat(server: &RookServer, model: &str) -> http::TestResponse {
    let auth = format!("Bearer {TOKEN}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap()
}

async fn admin_json(server: &RookServer, path: &str) -> Value {
    let auth = format!("Bearer {ADMIN}");
    let r = http::get(&server.url(path), &[("authorization", auth.as_str())])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

/// Waits until the registry holds `n` usage events.
async fn wait_usage(server: &RookServer, n: u64) {
    for _ in 0..200 {
        let u = admin_json(server, "/api/usage?since=1h").await;
        if u["totals"]["requests"] == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("usage never reached {n} requests");
}

fn cookie_of(r: &http::TestResponse) -> String {
    let set = r.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn http_contract() {
    let (server, _flaky, _steady) = start().await;
    let go = |path: &str| {
        let url = server.url(path);
        async move { http::get(&url, &[]).await.unwrap() }
    };
    // Redirects, and the security headers on every dashboard answer.
    for (path, to) in [("/", "/ui"), ("/ui/", "/ui"), ("/ui", "/ui/login")] {
        let r = go(path).await;
        assert_eq!((r.status, r.header("location")), (302, Some(to)), "{path}");
    }
    let login = go("/ui/login").await;
    assert_eq!(login.status, 200);
    for (name, want) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(login.header(name), Some(want), "{name}");
    }
    let csp = login.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = login.text();
    assert!(
        html.contains("ROOK_ADMIN_TOKEN"),
        "the page says where the token is"
    );
    assert!(!html.contains(ADMIN), "the page never shows the token");
    // Hashed assets: cached for good; another hash is not served.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(script.starts_with("/ui/assets/") && script.ends_with("/login.js"));
    let js = go(&script).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(go("/ui/assets/0000000000000000/login.js").await.status, 404);
    assert_eq!(go("/ui/nothing-here").await.status, 404);

    // Sign-in: a wrong token, a form post, another origin are refused.
    let sign_in = |token: &str, headers: Vec<(&'static str, String)>| {
        let url = server.url("/ui/session");
        let body = json!({"token": token}).to_string().into_bytes();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http::request("POST", &url, &h, Some(body)).await.unwrap()
        }
    };
    let json_ct = ("content-type", "application/json".to_string());
    let wrong = sign_in("not-the-token-at-all", vec![json_ct.clone()]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    let form = sign_in(
        ADMIN,
        vec![("content-type", "application/x-www-form-urlencoded".into())],
    )
    .await;
    assert_eq!(form.status, 415);
    let other = sign_in(
        ADMIN,
        vec![json_ct.clone(), ("origin", "http://evil.example".into())],
    )
    .await;
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["error"]["code"], "cross_origin_forbidden");

    let ok = sign_in(ADMIN, vec![json_ct.clone()]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let set = ok.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let csrf = ok.json()["csrf_token"].as_str().unwrap().to_string();
    let cookie = cookie_of(&ok);
    let with = |extra: &[(&'static str, &str)]| {
        let mut h: Vec<(&str, String)> = vec![("cookie", cookie.clone())];
        h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        h
    };
    let call = |method: &'static str,
                path: &str,
                headers: Vec<(&'static str, String)>,
                body: Option<Value>| {
        let url = server.url(path);
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http::request(method, &url, &h, body.map(|b| b.to_string().into_bytes()))
                .await
                .unwrap()
        }
    };
    // The cookie is a credential for the dashboard and for reads of the admin API.
    assert_eq!(call("GET", "/ui", with(&[]), None).await.status, 200);
    let s = call("GET", "/ui/session", with(&[]), None).await;
    assert_eq!(s.json()["csrf_token"], csrf.as_str());
    assert_eq!(
        call("GET", "/api/accounts", with(&[]), None).await.status,
        200
    );
    assert_eq!(call("GET", "/api/accounts", vec![], None).await.status, 401);
    // A write needs the CSRF token.
    let route = json!({"model": "via-cookie", "pool": "main"});
    let ct = ("content-type", "application/json");
    let no_csrf = call("POST", "/api/routes", with(&[ct]), Some(route.clone())).await;
    assert_eq!(no_csrf.status, 403);
    assert_eq!(no_csrf.json()["error"]["code"], "csrf_failed");
    let bad_csrf = call(
        "POST",
        "/api/routes",
        with(&[ct, ("x-csrf-token", "0000")]),
        Some(route.clone()),
    )
    .await;
    assert_eq!(bad_csrf.status, 403);
    let good = call(
        "POST",
        "/api/routes",
        with(&[ct, ("x-csrf-token", &csrf)]),
        Some(route),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.text());
    // Sign-out needs the token too, then the cookie is worthless.
    assert_eq!(
        call("DELETE", "/ui/session", with(&[]), None).await.status,
        403
    );
    let out = call(
        "DELETE",
        "/ui/session",
        with(&[("x-csrf-token", &csrf)]),
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        call("GET", "/api/accounts", with(&[]), None).await.status,
        401
    );
    assert_eq!(
        call("GET", "/ui", with(&[]), None).await.header("location"),
        Some("/ui/login")
    );
    // The bearer token works as before, and /v1 is untouched.
    assert_eq!(
        admin_json(&server, "/api/routes/via-cookie").await["pool"],
        "main"
    );
    assert_eq!(chat(&server, "chat-a").await.status, 200);
    assert!(
        !server.logs().contains(ADMIN),
        "the token never reaches the logs"
    );
}

/// Headless Chromium, if present: `ROOK_TEST_CHROMIUM` or `chromium` on the path.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("ROOK_TEST_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "headless Chromium is needed in CI (.ci/run installs the Debian chromium package)"
        );
        eprintln!("skipped: no chromium on the PATH (set ROOK_TEST_CHROMIUM)");
    }
    found
}

/// `target/ui-screenshots/`, next to the test binary's profile directory.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The DevTools driver (`tests/ui/cdp_driver.py`): one JSON command a line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    base: String,
    shots: PathBuf,
    _profile: TestDir,
}

impl Browser {
    async fn start(chromium: &Path, base: String) -> Browser {
        let profile = TestDir::new("rook-ui-chromium").unwrap();
        let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "ui", "cdp_driver.py"]
            .iter()
            .collect();
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg(chromium)
            .arg(profile.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the driver");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut b = Browser {
            child,
            stdin,
            lines,
            base,
            shots: screenshot_dir(),
            _profile: profile,
        };
        b.read("start").await;
        b
    }

    async fn read(&mut self, what: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{what}: the driver did not answer in 60 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: the driver exited"));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], true, "{what}: {}", v["error"]);
        v["value"].clone()
    }

    async fn send(&mut self, cmd: Value) -> Value {
        let what = cmd.to_string();
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        self.read(&what).await
    }

    async fn goto(&mut self, path: &str) -> String {
        let url = format!("{}{path}", self.base);
        self.send(json!({"op": "goto", "url": url}))
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn eval(&mut self, js: &str) -> Value {
        self.send(json!({"op": "eval", "js": js})).await
    }

    async fn wait(&mut self, js: &str) -> Value {
        self.send(json!({"op": "wait", "js": js, "timeout": 15}))
            .await
    }

    /// Opens a dashboard page and waits until it has rendered.
    async fn page(&mut self, name: &str) {
        self.goto(&format!("/ui#{name}")).await;
        self.wait(&format!(
            "document.getElementById('main')?.dataset.page === '{name}' && \
             document.getElementById('main').dataset.ready === 'true'"
        ))
        .await;
    }

    async fn shot(&mut self, name: &str) {
        let path = self.shots.join(format!("{name}.png"));
        self.send(json!({"op": "screenshot", "path": path})).await;
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{name}.png");
    }

    async fn quit(mut self) {
        let problems = self.send(json!({"op": "problems"})).await;
        assert_eq!(
            problems,
            json!([]),
            "script errors or CSP violations in the page"
        );
        self.send(json!({"op": "quit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
    }
}

#[tokio::test]
async fn dashboard_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (server, _flaky, steady) = start().await;
    // Traffic: the first request fails over from `flaky` (500), which cools down.
    for _ in 0..3 {
        let r = chat(&server, "chat-a").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let health = admin_json(&server, "/api/health/accounts").await;
    let flaky = health["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "flaky")
        .unwrap()
        .clone();
    assert!(
        flaky["cooldown_remaining_seconds"].as_f64().unwrap() > 500.0,
        "{flaky}"
    );
    wait_usage(&server, 3).await;

    let mut b = Browser::start(&chromium, server.base_url()).await;
    // Without a session, /ui goes to the sign-in page.
    let at = b.goto("/ui").await;
    assert!(at.ends_with("/ui/login"), "{at}");
    let hint = b
        .eval("document.getElementById('token-hint').textContent")
        .await;
    assert!(
        hint.as_str().unwrap().contains("ROOK_ADMIN_TOKEN"),
        "{hint}"
    );
    b.shot("login").await;
    b.eval(&format!(
        "document.getElementById('token').value = '{ADMIN}'; \
         document.getElementById('login-form').requestSubmit(); true"
    ))
    .await;
    b.wait(
        "location.pathname === '/ui' && document.getElementById('main')?.dataset.ready === 'true'",
    )
    .await;
    let cookie_visible = b.eval("document.cookie.includes('rook_session')").await;
    assert_eq!(cookie_visible, false, "the session cookie is HttpOnly");
    let today = b
        .eval("document.querySelector('#tokens-today .value').textContent")
        .await;
    assert_eq!(today, "30");
    let charted = b
        .eval(
            "['overview-requests', 'overview-day'] \
             .map((id) => Number(document.getElementById(id).dataset.total))",
        )
        .await;
    assert_eq!(charted, json!([3, 3]));
    b.shot("overview").await;

    // Accounts: `flaky` shows as cooling with a countdown; reset it.
    b.page("accounts").await;
    let state = b
        .eval("document.querySelector('tr[data-account=\"flaky\"]').dataset.health")
        .await;
    assert_eq!(state, "cooling");
    let countdown = b
        .eval("document.querySelector('tr[data-account=\"flaky\"] .countdown').textContent")
        .await;
    assert!(countdown.as_str().unwrap().contains('m'), "{countdown}");
    let declared = b
        .eval("document.querySelector('tr[data-account=\"flaky\"]').textContent")
        .await;
    assert!(
        declared.as_str().unwrap().contains("config file"),
        "{declared}"
    );
    b.shot("accounts").await;
    b.eval("document.querySelector('tr[data-account=\"flaky\"] button.reset').click(); true")
        .await;
    b.wait("document.querySelector('tr[data-account=\"flaky\"]')?.dataset.health !== 'cooling'")
        .await;
    let health = admin_json(&server, "/api/health/accounts").await;
    assert!(
        health["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["cooldown_remaining_seconds"].is_null()),
        "{health}"
    );

    // Add an account with a write-only key, then disable it.
    b.eval("document.getElementById('add-account').click(); true")
        .await;
    b.eval(&format!(
        "{{ const f = document.getElementById('account-form'); \
         f.elements.id.value = 'added'; f.elements.vendor.value = 'custom'; \
         f.elements.base_url.value = '{}'; f.elements.api_key.value = '{INLINE_KEY}'; \
         f.elements.models.value = 'chat-b=upstream-b'; f.requestSubmit(); true }}",
        steady.base_url()
    ))
    .await;
    b.wait("document.querySelector('tr[data-account=\"added\"]') !== null")
        .await;
    b.eval(
        "[...document.querySelectorAll('tr[data-account=\"added\"] button')] \
         .find((x) => x.textContent === 'Disable').click(); true",
    )
    .await;
    b.wait(
        "document.querySelector('tr[data-account=\"added\"]')?.textContent.includes('disabled')",
    )
    .await;
    let leaked = b
        .eval(&format!(
            "document.documentElement.outerHTML.includes('{INLINE_KEY}')"
        ))
        .await;
    assert_eq!(leaked, false, "the API key is write-only");
    let added = admin_json(&server, "/api/accounts/added").await;
    assert_eq!(
        (added["enabled"].clone(), added["has_api_key"].clone()),
        (json!(false), json!(true))
    );

    // A write with the cookie but without the CSRF token is refused, from the page itself.
    let refused = b
        .eval(
            "fetch('/api/routes', {method: 'POST', headers: {'content-type': 'application/json'}, \
             body: JSON.stringify({model: 'sneaky', pool: 'main'})}) \
             .then(async (r) => [r.status, (await r.json()).error.code])",
        )
        .await;
    assert_eq!(refused, json!([403, "csrf_failed"]));

    // Pools and routes: create a route, then serve a chat request on it.
    b.page("routing").await;
    b.eval(
        "{ const f = document.getElementById('route-form'); f.elements.model.value = 'ui-made'; \
         f.elements.pool.value = 'main'; f.requestSubmit(); true }",
    )
    .await;
    b.wait("document.querySelector('tr[data-route=\"ui-made\"]') !== null")
        .await;
    // A validation message from the API shows as it comes.
    b.eval(
        "{ const g = document.getElementById('pool-form'); g.elements.id.value = 'bad pool!'; \
         g.elements.members.value = 'flaky'; g.requestSubmit(); true }",
    )
    .await;
    let message = b
        .wait("!document.getElementById('pool-form-error').hidden && document.getElementById('pool-form-error').textContent")
        .await;
    assert!(message.as_str().unwrap().contains("id"), "{message}");
    b.shot("routing").await;
    assert_eq!(
        admin_json(&server, "/api/routes/ui-made").await["pool"],
        "main"
    );
    let r = chat(&server, "ui-made").await;
    assert_eq!(r.status, 200, "{}", r.text());
    wait_usage(&server, 4).await;

    // Usage: the charts hold the right totals (4 requests, 40 tokens, $0.039).
    b.page("usage").await;
    let totals = b
        .eval(
            "['chart-requests', 'chart-tokens', 'chart-cost'] \
             .map((id) => Number(document.getElementById(id).dataset.total))",
        )
        .await;
    assert_eq!(totals, json!([4, 40, 0.039]));
    let bars = b
        .eval("document.querySelectorAll('#chart-requests rect.bar').length")
        .await;
    assert!(
        bars.as_u64().unwrap() >= 2,
        "one bar per model at least: {bars}"
    );
    let groups = b
        .eval("[...document.querySelectorAll('#usage-table tr[data-group]')].map((r) => r.dataset.group)")
        .await;
    assert_eq!(groups, json!(["chat-a", "ui-made"]));
    b.shot("usage").await;
    // The window and grouping pickers redraw from the server; the CSV download runs.
    b.eval(
        "{ const w = document.getElementById('usage-window'); w.value = '1h'; \
         w.dispatchEvent(new Event('change')); true }",
    )
    .await;
    b.wait("document.getElementById('usage-window')?.value === '1h'")
        .await;
    b.eval(
        "{ const g = document.getElementById('usage-group'); g.value = 'account'; \
         g.dispatchEvent(new Event('change')); true }",
    )
    .await;
    let by_account = b
        .wait(
            "document.querySelector('#main .page')?.dataset.shown === '1h by account' && \
             [...document.querySelectorAll('#usage-table tr[data-group]')].map((r) => r.dataset.group)",
        )
        .await;
    assert_eq!(
        by_account,
        json!(["steady"]),
        "the failed-over request counts for `steady`"
    );
    let total = b
        .eval("Number(document.getElementById('chart-requests').dataset.total)")
        .await;
    assert_eq!(total, 4);
    b.eval("document.getElementById('usage-csv').click(); true")
        .await;

    // Live: the recent requests, or (on a server without that endpoint) a notice.
    b.page("live").await;
    let live = b
        .wait(
            "(document.getElementById('live-table') || document.querySelector('#main .notice'))\
             ?.textContent",
        )
        .await;
    let live = live.as_str().unwrap();
    assert!(live.contains("ui-made"), "{live}");
    b.shot("live").await;
    b.page("audit").await;
    let audit = b
        .eval("document.getElementById('audit-table').textContent")
        .await;
    let audit = audit.as_str().unwrap();
    // changes made through the dashboard are audited as its own actor
    for needle in [
        "reset_health",
        "route ui-made",
        "account added",
        "dashboard",
    ] {
        assert!(audit.contains(needle), "{needle} in {audit}");
    }
    b.shot("audit").await;

    // Sign out: back to the sign-in page, and /ui needs a session again.
    b.eval("document.getElementById('logout').click(); true")
        .await;
    b.wait("location.pathname === '/ui/login'").await;
    let at = b.goto("/ui").await;
    assert!(at.ends_with("/ui/login"), "{at}");
    b.quit().await;
    assert!(!server.logs().contains(ADMIN));
    assert!(!server.logs().contains(INLINE_KEY));
}
