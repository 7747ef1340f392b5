//! `rook-server`: the Rook gateway.
//!
//! Loads the layered configuration (defaults < file < `ROOK_*` environment <
//! flags), refuses to start on an invalid or unsafe configuration (exit code 2),
//! serves until SIGTERM or Ctrl-C, then drains in-flight requests and streams.
//! SIGHUP reloads the configuration (see `docs/operations.md`). `--health-check`
//! probes a running server; `--completions SHELL` and `--man` print generated files.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod probe;
use rook_gateway::rook_config::{self, LoadOptions, LogFormat, Overrides};
use rook_gateway::rook_observability;

/// `--version`: the package version, the git commit and the build date (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROOK_GIT_COMMIT"),
    ", built ",
    env!("ROOK_BUILD_DATE"),
    ")"
);

/// The Rook LLM gateway: an OpenAI-compatible API in front of many provider accounts.
#[derive(Debug, Parser)]
#[command(
    name = "rook-server",
    version = VERSION,
    after_help = "Examples:\n  rook-server --config /etc/rook/config.toml\n  ROOK_PORT=8080 rook-server --config rook.toml --log-format json\n\n\
                  Exit codes: 0 clean shutdown, 1 runtime failure, 2 invalid or unsafe configuration."
)]
struct Args {
    /// Configuration file (TOML). Default: $XDG_CONFIG_HOME/rook/config.toml, then ~/.config/rook/config.toml.
    #[arg(long, short = 'c', env = "ROOK_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (overrides `host`).
    #[arg(long)]
    host: Option<String>,
    /// Listen port (overrides `port`).
    #[arg(long)]
    port: Option<u16>,
    /// Database URL (overrides `database_url`): sqlite://PATH or postgres://…
    #[arg(long)]
    database_url: Option<String>,
    /// Log format: text or json (overrides `log_format`).
    #[arg(long)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `rook_gateway=debug,info` (overrides `log_level`).
    #[arg(long)]
    log_level: Option<String>,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
    /// Check that the server this configuration describes is live on this machine
    /// (`GET /api/health/live` on the bind address, loopback for 0.0.0.0/::), then
    /// exit: 0 live, 1 not (for container HEALTHCHECKs without curl).
    #[arg(long)]
    health_check: bool,
}

/// `--completions SHELL` / `--man`: generated from the definitions above.
fn print_generated(args: &Args) -> Option<ExitCode> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut out = Vec::new();
    if let Some(shell) = args.completions {
        clap_complete::generate(shell, &mut Args::command(), "rook-server", &mut out);
    } else if args.man {
        if let Err(e) = clap_mangen::Man::new(Args::command()).render(&mut out) {
            eprintln!("rook-server: rendering the man page: {e}");
            return Some(ExitCode::from(1));
        }
    } else {
        return None;
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&out).and_then(|()| stdout.flush()) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("rook-server: {e}");
            Some(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(code) = print_generated(&args) {
        return code;
    }
    let health_check = args.health_check;
    let opts = LoadOptions {
        config_path: args.config,
        overrides: Overrides {
            host: args.host,
            port: args.port,
            database_url: args.database_url,
            log_format: args.log_format,
            log_level: args.log_level,
        },
    };
    let loaded = match rook_config::load(&opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rook-server: invalid configuration");
            match e.problems() {
                [] => eprintln!("  {e}"),
                problems => {
                    for p in problems {
                        eprintln!("  - {p}");
                    }
                }
            }
            return ExitCode::from(2);
        }
    };
    let config = loaded.config;
    if health_check {
        let result = probe::target(&config)
            .ok_or_else(|| format!("cannot resolve {}", config.listen_address()))
            .and_then(probe::check);
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rook-server: not live: {e}");
                ExitCode::from(1)
            }
        };
    }
    let format = match config.log_format {
        LogFormat::Json => rook_observability::LogFormat::Json,
        _ => rook_observability::LogFormat::Text,
    };
    if let Err(e) = rook_observability::init_tracing(format, &config.log_level) {
        eprintln!("rook-server: {e}");
        return ExitCode::from(2);
    }
    match &loaded.source {
        Some(path) => tracing::info!(path = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file; using defaults and ROOK_* environment"),
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    // On a single CPU (a container limit, or pinned with taskset) a current-thread
    // runtime avoids cross-thread wake-ups on every I/O event; otherwise one worker
    // per CPU.
    let single_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if single_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    tracing::info!(
        flavor = if single_cpu {
            "current_thread"
        } else {
            "multi_thread"
        },
        "async runtime"
    );
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    // The binary, not the library, installs the process-wide metrics recorder.
    let metrics = match rook_observability::install_prometheus(rook_gateway::VERSION) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the metrics recorder");
            eprintln!("rook-server: metrics: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(rook_gateway::run_reloadable(
        opts,
        config,
        Some(metrics),
        rook_gateway::shutdown_signal(),
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("rook-server: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
