//! The tracing subscriber: text or JSON lines on stderr, and a filter a
//! configuration reload can replace.

use std::sync::OnceLock;

use crate::{ObservabilityError, SafeFields};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber writing to stderr.
///
/// The text format escapes control characters in every field value and caps
/// each value at [`MAX_LOG_VALUE_BYTES`](crate::MAX_LOG_VALUE_BYTES) ([`SafeFields`]); the JSON format
/// escapes as JSON does.
///
/// `directive` is an `EnvFilter` directive such as `info` or `rook_gateway=debug,info`;
/// `RUST_LOG`, when set, takes precedence. The filter can be changed later with
/// [`set_log_filter`] (a configuration reload).
pub fn init_tracing(format: LogFormat, directive: &str) -> Result<(), ObservabilityError> {
    use tracing_subscriber::EnvFilter;
    let from_env = rust_log();
    let filter = match &from_env {
        Some(v) => EnvFilter::try_new(v),
        None => EnvFilter::try_new(directive),
    }
    .map_err(|e| ObservabilityError::LogFilter {
        directive: directive.to_string(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match format {
        // Client-controlled values cannot forge a line or reach the terminal
        // as escape sequences (see `SafeFields`).
        LogFormat::Text => {
            let builder = builder
                .fmt_fields(SafeFields)
                .with_ansi(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader
            })
        }
        LogFormat::Json => {
            let builder = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader
            })
        }
    };
    let reloader = result.map_err(|_| ObservabilityError::SubscriberInstalled)?;
    if from_env.is_none() {
        let _ = FILTER.set(reloader);
    }
    Ok(())
}

type Reloader =
    Box<dyn Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync + 'static>;

/// Replaces the filter of the subscriber [`init_tracing`] installed.
static FILTER: OnceLock<Reloader> = OnceLock::new();

fn rust_log() -> Option<String> {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => None,
    }
}

/// What [`set_log_filter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFilterChange {
    /// The new filter is in force.
    Applied,
    /// `RUST_LOG` is set and takes precedence: the filter was left as it is.
    RustLogWins,
    /// No subscriber was installed by [`init_tracing`] in this process.
    NoSubscriber,
}

/// Checks that `directive` is a valid `EnvFilter` directive.
pub fn check_log_filter(directive: &str) -> Result<(), ObservabilityError> {
    tracing_subscriber::EnvFilter::try_new(directive)
        .map(drop)
        .map_err(|e| ObservabilityError::LogFilter {
            directive: directive.to_string(),
            reason: e.to_string(),
        })
}

/// Changes the log filter of the running process to `directive` (a reloaded
/// `log_level`), unless `RUST_LOG` takes precedence.
pub fn set_log_filter(directive: &str) -> Result<LogFilterChange, ObservabilityError> {
    let filter = tracing_subscriber::EnvFilter::try_new(directive).map_err(|e| {
        ObservabilityError::LogFilter {
            directive: directive.to_string(),
            reason: e.to_string(),
        }
    })?;
    if rust_log().is_some() {
        return Ok(LogFilterChange::RustLogWins);
    }
    let Some(reload) = FILTER.get() else {
        return Ok(LogFilterChange::NoSubscriber);
    };
    reload(filter).map_err(|reason| ObservabilityError::LogFilter {
        directive: directive.to_string(),
        reason,
    })?;
    Ok(LogFilterChange::Applied)
}
