//! Tests of the `RookServer` process helper, with stand-in scripts instead
//! of the real binary.

// Test code: panicking on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use rook_test_support::{http, ErrorKind, RookServer, TestDir};

fn script(dir: &TestDir, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn expect_failure_captures_code_logs_and_placeholders() {
    let bins = TestDir::new("rook-support-bin").unwrap();
    // Prints its args, its config and an env var, then refuses to start.
    let bin = script(
        &bins,
        "fake-rook",
        r#"echo "args: $*"; cat "$2"; echo "env: $MY_VAR" >&2; echo "config error" >&2; exit 2"#,
    );
    let (code, logs) = RookServer::start_expect_failure(
        &bin,
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{dir}/rook.db\"\n",
        &[("MY_VAR", "hello")],
    )
    .await
    .unwrap();
    assert_eq!(code, 2);
    assert!(logs.contains("args: --config "), "{logs}");
    assert!(logs.contains("config error"), "{logs}");
    assert!(logs.contains("env: hello"), "{logs}");
    assert!(
        !logs.contains("{port}") && !logs.contains("{dir}"),
        "{logs}"
    );
    assert!(logs.contains("listen = \"127.0.0.1:"), "{logs}");
    assert!(logs.contains("/rook.db"), "{logs}");
}

#[tokio::test]
async fn early_exit_during_start_is_reported_with_logs() {
    let bins = TestDir::new("rook-support-bin").unwrap();
    let bin = script(&bins, "dies", "echo 'boom: bad key' >&2; exit 3");
    let err = RookServer::start(&bin, "", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.message().contains("boom: bad key"), "{err}");
}

fn python() -> Option<&'static str> {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "python3")
}

/// A stand-in server answering 200 on every GET, exiting 0 on SIGTERM.
const PY_SERVER: &str = r#"
import http.server, re, signal, sys
cfg = open(sys.argv[2]).read()
port = int(re.search(r'127\.0\.0\.1:(\d+)', cfg).group(1))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *a): pass
signal.signal(signal.SIGTERM, lambda *a: (print('got sigterm', flush=True), sys.exit(0)))
print('listening', port, flush=True)
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

#[tokio::test]
async fn start_waits_for_health_and_sigterm_stops() {
    let Some(py) = python() else {
        eprintln!("python3 not available; skipping");
        return;
    };
    let bins = TestDir::new("rook-support-bin").unwrap();
    std::fs::write(bins.path().join("srv.py"), PY_SERVER).unwrap();
    let bin = script(
        &bins,
        "srv",
        &format!("exec {py} {} \"$@\"", bins.path().join("srv.py").display()),
    );
    let mut server = RookServer::start(&bin, "listen = \"127.0.0.1:{port}\"\n", &[])
        .await
        .unwrap();
    assert!(server.base_url().ends_with(&server.port().to_string()));
    assert!(server.pid() > 0);
    assert!(server.dir().join("rook.toml").exists());
    let r = http::get(&server.url("/api/health/live"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        server
            .wait_for_log("listening", Duration::from_secs(5))
            .await
    );
    server.sigterm().unwrap();
    let status = server.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "{status}");
    assert!(server.logs().contains("got sigterm"), "{}", server.logs());
}
