//! The real `rook-cli tui` in a pseudo-terminal (tmux) against the real `rook-server`:
//! it draws its tabs, switches tab on a key, quits on `q` with exit code 0 and leaves
//! the terminal as it found it (main screen back, canonical mode on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rook_test_support::{workspace_bin, FakeUpstream, RookServer};

const ADMIN: &str = "tui-tmux-admin-token-42";

/// A tmux server on its own socket, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("ROOK_ADMIN_TOKEN", ADMIN)
            .env_remove("ROOK_CONFIG")
            .env_remove("TMUX")
            .output()
            .expect("tmux is needed for this test (apt-get install tmux; .ci/run installs it)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    }

    /// Waits until the pane shows every needle; panics with the pane otherwise.
    fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {needles:?}; the pane shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[[accounts]]
id = "tmux-account"
vendor = "custom"
base_url = "{base}"

[[pools]]
id = "p"
strategy = "priority"
members = ["tmux-account"]

[[routes]]
model = "m"
pool = "p"
"#,
        base = up.base_url(),
    )
}

#[tokio::test]
async fn tui_runs_in_a_terminal_and_quits_cleanly() {
    let up = FakeUpstream::start().await;
    let server_bin = workspace_bin("rook-server", "rook-server").unwrap();
    let server = RookServer::start(&server_bin, &config(&up), &[("ROOK_ADMIN_TOKEN", ADMIN)])
        .await
        .unwrap();
    let cli = Path::new(env!("CARGO_BIN_EXE_rook-cli"));
    let tmux = Tmux {
        socket: format!("rook-tui-test-{}", std::process::id()),
    };
    // The TUI runs twice (quit with `q`, then with Ctrl-C); after each the shell prints
    // its exit code, and at the end whether the terminal is back in canonical mode;
    // then it waits so the pane can be read.
    let tui = format!(
        "'{cli}' tui --server {url} --refresh 1",
        cli = cli.display(),
        url = server.base_url(),
    );
    let script = format!(
        "{tui}; echo \"first exited $?\"; {tui}; echo \"second exited $?\"; \
         stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon' | sed 's/^/mode /'; sleep 60"
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "40",
        "-s",
        "tui",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let screen = tmux.wait_for(&["1 Status", "2 Accounts", "6 Live", "version", "q quit"]);
    assert!(screen.contains(&server.base_url()), "{screen}");

    let _ = tmux.cmd(&["send-keys", "-t", "tui", "2"]);
    let screen = tmux.wait_for(&["tmux-account", "custom", "r reset health"]);
    // No request has reached the account yet.
    assert!(screen.contains("unknown"), "{screen}");

    // A smaller terminal: the screen is drawn again to its size.
    let _ = tmux.cmd(&["resize-window", "-t", "tui", "-x", "90", "-y", "24"]);
    let screen = tmux.wait_for(&["tmux-account"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut screen = screen;
    while !fits(&screen, 90, 24) {
        assert!(Instant::now() < deadline, "not redrawn at 90x24:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux.screen();
    }
    assert!(screen.contains("tmux-account"), "{screen}");

    // `q` ends the first run; the second starts on the Status tab (the first was on
    // Accounts), on the alternate screen again.
    let _ = tmux.cmd(&["send-keys", "-t", "tui", "q"]);
    let screen = tmux.wait_for(&["1 Status", "version"]);
    assert!(
        !screen.contains("first exited"),
        "not on the alternate screen:\n{screen}"
    );
    let _ = tmux.cmd(&["send-keys", "-t", "tui", "C-c"]);
    let screen = tmux.wait_for(&["second exited", "mode "]);
    assert!(screen.contains("first exited 0"), "{screen}");
    assert!(screen.contains("second exited 0"), "{screen}");
    assert!(
        screen.contains("mode icanon"),
        "the terminal was left in raw mode:\n{screen}"
    );
    // The alternate screen is gone: the tabs are no longer on screen.
    assert!(!screen.contains("2 Accounts"), "{screen}");
}

/// Whether the dashboard's frame spans exactly `width` columns and `height` rows.
fn fits(screen: &str, width: usize, height: usize) -> bool {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines.first().map_or(0, |l| l.trim_end().chars().count());
    let footer = lines.iter().rposition(|l| l.starts_with("←/→"));
    top == width && footer == Some(height - 1)
}

#[test]
fn tui_needs_a_terminal() {
    let out = Command::new(env!("CARGO_BIN_EXE_rook-cli"))
        .args(["tui", "--server", "http://127.0.0.1:9"])
        .env("ROOK_ADMIN_TOKEN", ADMIN)
        .env_remove("ROOK_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rook-cli tui needs a terminal"), "{stderr}");
    // Nothing was drawn: no escape sequence reached stdout.
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}

#[test]
fn refresh_is_checked() {
    for bad in ["0", "3601", "x"] {
        let out = Command::new(env!("CARGO_BIN_EXE_rook-cli"))
            .args(["tui", "--refresh", bad])
            .env_remove("ROOK_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--refresh {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--refresh"), "{stderr}");
    }
}
