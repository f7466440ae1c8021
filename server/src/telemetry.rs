//! Logging: a `tracing` subscriber writing to stderr, as text or JSON, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Filter used when `RUST_LOG` is unset or empty: `info`, without PostgreSQL notices.
pub const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Filter of the reporting commands (`diff`, `verify`) when `RUST_LOG` is unset or empty: their
/// report is the output, and the throw-away databases they import exports into would log
/// every migration.
pub const REPORT_FILTER: &str = "warn";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error("invalid RUST_LOG filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("cannot install the log subscriber: {0}")]
    Install(String),
}

/// Installs the global subscriber: level from `RUST_LOG` (default `info`), output to stderr.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    init_with_default(format, DEFAULT_FILTER)
}

/// Installs the global subscriber: level from `RUST_LOG`, else `default`; output to stderr.
pub fn init_with_default(format: LogFormat, default: &str) -> Result<(), TelemetryError> {
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| TelemetryError::Install(err.to_string()))
}
