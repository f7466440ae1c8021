//! Server configuration: every setting's flag, environment variable and default, and the
//! typed [`Config`] resolved from them (the data and storage directories are created here).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable holding the bootstrap password of `Administrator` (no flag: it must
/// never appear in a process list or shell history).
pub const ADMIN_PASSWORD_ENV: &str = "IRONWORX_ADMIN_PASSWORD";

/// File name of the default SQLite database inside the data directory.
pub const DEFAULT_DATABASE_FILE: &str = "ironworx.db";

/// Name of the default storage directory inside the data directory.
pub const DEFAULT_STORAGE_DIR: &str = "ThingworxStorage";

/// Largest request body accepted by every route but the importer, by default (1 MiB;
/// `--max-body-bytes`).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The most rows one call reads or writes by default (`--max-page-rows`; `maxItems` above it
/// is a 400).
pub const DEFAULT_MAX_PAGE_ROWS: u64 = 10_000;

/// Imports that may run at once in one process by default (`--concurrent-imports`); more wait
/// for a slot.
pub const DEFAULT_CONCURRENT_IMPORTS: u64 = 2;

/// The highest bound `--max-pbkdf2-iterations` may be set to: every guess at a password costs
/// one PBKDF2 derivation, so a larger count would let anonymous wrong guesses use the CPU for
/// seconds.
pub const PBKDF2_ITERATIONS_CEILING: u32 = 1_000_000;

/// The smallest bound `--max-pbkdf2-iterations` may be set to.
pub const PBKDF2_ITERATIONS_FLOOR: u32 = 1_000;

/// Default of `--database-timeout-ms`: how long a request waits for the database.
pub const DEFAULT_DATABASE_TIMEOUT_MS: u64 = 3000;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The settings as given on the command line or in the environment, before resolution.
///
/// Every setting has a flag and an environment variable; a flag wins over the variable.
/// The flags are global: they are accepted before and after the subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address and port the HTTP server listens on (port 0 picks a free port).
    #[arg(
        long,
        env = "IRONWORX_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Directory holding the server's files (created when missing).
    #[arg(
        long,
        env = "IRONWORX_DATA_DIR",
        default_value = "./ironworx-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database URL (`sqlite://…` or `postgres://…`) [default: SQLite file `ironworx.db`
    /// inside the data directory]
    #[arg(long, env = "IRONWORX_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Milliseconds a request waits for the database (a pooled or new connection, and the
    /// check that an idle one still answers) before it answers 503 `database_unavailable`.
    #[arg(
        long,
        env = "IRONWORX_DATABASE_TIMEOUT_MS",
        default_value_t = DEFAULT_DATABASE_TIMEOUT_MS,
        value_parser = clap::value_parser!(u64).range(100..=600_000),
        global = true
    )]
    pub database_timeout_ms: u64,

    /// Directory of the storage-mode repositories (created when missing)
    /// [default: `ThingworxStorage` inside the data directory]
    #[arg(long, env = "IRONWORX_STORAGE_DIR", global = true)]
    pub storage_dir: Option<PathBuf>,

    /// Log format; the level comes from `RUST_LOG` (default `info`).
    #[arg(
        long,
        env = "IRONWORX_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// Authentication settings.
    #[command(flatten)]
    pub auth: AuthSettings,

    /// Request and import limits.
    #[command(flatten)]
    pub limits: LimitSettings,
}

/// How users authenticate: password policy, lockout, sessions, application keys, throttling.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AuthSettings {
    /// Shortest password accepted for new and changed passwords (ThingWorx 9 requires 14).
    #[arg(
        long,
        env = "IRONWORX_PASSWORD_MIN_LENGTH",
        default_value_t = AuthSettings::default().password_min_length,
        global = true
    )]
    pub password_min_length: usize,

    /// Failed logins within the lockout window that lock a user (0 turns lockout off).
    #[arg(
        long,
        env = "IRONWORX_LOCKOUT_ATTEMPTS",
        default_value_t = AuthSettings::default().lockout_attempts,
        global = true
    )]
    pub lockout_attempts: u32,

    /// Minutes over which failed logins are counted.
    #[arg(
        long,
        env = "IRONWORX_LOCKOUT_WINDOW_MINUTES",
        default_value_t = AuthSettings::default().lockout_window_minutes,
        global = true
    )]
    pub lockout_window_minutes: u64,

    /// Minutes a locked user stays locked (0: until an administrator unlocks it).
    #[arg(
        long,
        env = "IRONWORX_LOCKOUT_MINUTES",
        default_value_t = AuthSettings::default().lockout_minutes,
        global = true
    )]
    pub lockout_minutes: u64,

    /// Minutes of inactivity after which a session ends.
    #[arg(
        long,
        env = "IRONWORX_SESSION_IDLE_MINUTES",
        default_value_t = AuthSettings::default().session_idle_minutes,
        global = true
    )]
    pub session_idle_minutes: u64,

    /// Hours after which a session ends however active it is.
    #[arg(
        long,
        env = "IRONWORX_SESSION_MAX_HOURS",
        default_value_t = AuthSettings::default().session_max_hours,
        global = true
    )]
    pub session_max_hours: u64,

    /// Lifetime of an application key created without an expiration date.
    #[arg(
        long,
        env = "IRONWORX_APP_KEY_LIFETIME_HOURS",
        default_value_t = AuthSettings::default().app_key_lifetime_hours,
        global = true
    )]
    pub app_key_lifetime_hours: u64,

    /// Accept an application key as the `appKey` query parameter (refused by default: URLs
    /// end up in logs and browser histories).
    #[arg(
        long,
        env = "IRONWORX_ALLOW_APP_KEY_IN_URL",
        default_value_t = AuthSettings::default().allow_app_key_in_url,
        global = true
    )]
    pub allow_app_key_in_url: bool,

    /// Header holding the client address when the server runs behind a trusted proxy (for
    /// example `X-Forwarded-For`); unset, the peer address of the connection is used.
    #[arg(long, env = "IRONWORX_TRUSTED_PROXY_HEADER", global = true)]
    pub trusted_proxy_header: Option<String>,

    /// Failed logins per minute from one address before it gets 429 (0 turns it off).
    #[arg(
        long,
        env = "IRONWORX_LOGIN_RATE_PER_MINUTE",
        default_value_t = AuthSettings::default().login_rate_per_minute,
        global = true
    )]
    pub login_rate_per_minute: u32,

    /// Mark cookies `Secure` (set it when clients reach the server over TLS).
    #[arg(
        long,
        env = "IRONWORX_SECURE_COOKIES",
        default_value_t = AuthSettings::default().secure_cookies,
        global = true
    )]
    pub secure_cookies: bool,

    /// Origins (`scheme://host[:port]`, comma-separated) whose browser pages may call the
    /// server with credentials (CORS); none by default.
    #[arg(
        long,
        env = "IRONWORX_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin,
        global = true
    )]
    pub cors_allowed_origins: Vec<String>,
}

/// One CORS origin: `scheme://host[:port]`, without path, compared as browsers send it (lower
/// case, no trailing slash).
fn parse_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("'{value}' is not an origin (http:// or https:// expected)"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', '*']) {
        return Err(format!(
            "'{value}' is not an origin (scheme://host[:port], no path or wildcard)"
        ));
    }
    Ok(origin)
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            password_min_length: 14,
            lockout_attempts: 5,
            lockout_window_minutes: 15,
            lockout_minutes: 15,
            session_idle_minutes: 30,
            session_max_hours: 24,
            app_key_lifetime_hours: 24,
            allow_app_key_in_url: false,
            trusted_proxy_header: None,
            login_rate_per_minute: 30,
            secure_cookies: false,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// Explicit limits on what a request or an import may bring; exceeding one is a clear error
/// (413 or 400) that changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct LimitSettings {
    /// Largest request body of a service call, property write or entity document, in bytes.
    #[arg(
        long,
        env = "IRONWORX_MAX_BODY_BYTES",
        default_value_t = LimitSettings::default().max_body_bytes,
        value_parser = clap::value_parser!(u64).range(1024..=(256 * 1024 * 1024)),
        global = true
    )]
    pub max_body_bytes: u64,

    /// Largest import upload, or one file or zip entry of an import, in bytes.
    #[arg(
        long,
        env = "IRONWORX_MAX_IMPORT_BYTES",
        default_value_t = LimitSettings::default().max_import_bytes,
        value_parser = clap::value_parser!(u64).range(1024..),
        global = true
    )]
    pub max_import_bytes: u64,

    /// Most entries a zip archive or folder being imported may hold.
    #[arg(
        long,
        env = "IRONWORX_MAX_ARCHIVE_ENTRIES",
        default_value_t = LimitSettings::default().max_archive_entries,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_archive_entries: u64,

    /// Largest total expanded size of a zip archive or folder being imported, in bytes.
    #[arg(
        long,
        env = "IRONWORX_MAX_EXPANDED_BYTES",
        default_value_t = LimitSettings::default().max_expanded_bytes,
        value_parser = clap::value_parser!(u64).range(1024..),
        global = true
    )]
    pub max_expanded_bytes: u64,

    /// Most rows one page may hold (`maxItems` of Stream, DataTable and `GetEntityList`
    /// queries, and rows written by one call).
    #[arg(
        long,
        env = "IRONWORX_MAX_PAGE_ROWS",
        default_value_t = LimitSettings::default().max_page_rows,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000),
        global = true
    )]
    pub max_page_rows: u64,

    /// Imports that may run at once in one process; more wait their turn.
    #[arg(
        long,
        env = "IRONWORX_CONCURRENT_IMPORTS",
        default_value_t = LimitSettings::default().concurrent_imports,
        value_parser = clap::value_parser!(u64).range(1..=64),
        global = true
    )]
    pub concurrent_imports: u64,

    /// Connection timeouts and the connection cap.
    #[command(flatten)]
    pub transport: TransportSettings,
    /// The limits of one script service invocation.
    #[command(flatten)]
    pub script: ScriptSettings,
    /// Most iterations an imported PBKDF2 password hash may claim: an import carrying more is
    /// refused, and a stored hash claiming more never matches at login (every guess at a
    /// password costs one derivation).
    #[arg(
        long,
        env = "IRONWORX_MAX_PBKDF2_ITERATIONS",
        default_value_t = LimitSettings::default().max_pbkdf2_iterations,
        value_parser = clap::value_parser!(u32).range(
            i64::from(PBKDF2_ITERATIONS_FLOOR)..=i64::from(PBKDF2_ITERATIONS_CEILING)
        ),
        global = true
    )]
    pub max_pbkdf2_iterations: u32,
    /// Days the audit record keeps the row changes past states are rebuilt from; older ones
    /// are dropped hourly and an instant before the cut is refused (the audit log's entries
    /// stay). Unset keeps everything.
    #[arg(long, env = "IRONWORX_AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub audit_retention_days: Option<u32>,
}

impl Default for LimitSettings {
    /// The defaults: the constants above and those of the importer.
    fn default() -> Self {
        let import = ironworx_importer::Limits::default();
        LimitSettings {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_import_bytes: import.max_file_bytes,
            max_archive_entries: import.max_entries,
            max_expanded_bytes: import.max_expanded_bytes,
            max_page_rows: DEFAULT_MAX_PAGE_ROWS,
            concurrent_imports: DEFAULT_CONCURRENT_IMPORTS,
            transport: TransportSettings::default(),
            script: ScriptSettings::default(),
            max_pbkdf2_iterations: import.max_pbkdf2_iterations,
            audit_retention_days: None,
        }
    }
}

impl LimitSettings {
    /// The largest request body, as a size in memory.
    pub fn body_bytes(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }

    /// The limits an import is read under.
    pub fn import(&self) -> ironworx_importer::Limits {
        ironworx_importer::Limits {
            max_file_bytes: self.max_import_bytes,
            max_entries: self.max_archive_entries,
            max_expanded_bytes: self.max_expanded_bytes,
            max_pbkdf2_iterations: self.max_pbkdf2_iterations,
            ..ironworx_importer::Limits::default()
        }
    }
}

/// How long a client may take to send a request, and how many connections a process keeps
/// open; a slow client is cut off (408) instead of holding a connection forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct TransportSettings {
    /// Seconds a client has to send a request's headers once it connected (or sent its
    /// previous request).
    #[arg(
        long,
        env = "IRONWORX_HEADER_TIMEOUT_SECONDS",
        default_value_t = TransportSettings::default().header_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=300),
        global = true
    )]
    pub header_timeout_seconds: u64,

    /// Seconds an idle connection is kept open for a next request (0: closed after each
    /// response).
    #[arg(
        long,
        env = "IRONWORX_KEEP_ALIVE_SECONDS",
        default_value_t = TransportSettings::default().keep_alive_seconds,
        value_parser = clap::value_parser!(u64).range(0..=3600),
        global = true
    )]
    pub keep_alive_seconds: u64,

    /// Seconds a client has to close its side of a connection the server is closing.
    #[arg(
        long,
        env = "IRONWORX_DISCONNECT_TIMEOUT_SECONDS",
        default_value_t = TransportSettings::default().disconnect_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=300),
        global = true
    )]
    pub disconnect_timeout_seconds: u64,

    /// Seconds a request body may pause between two parts before the request answers 408.
    #[arg(
        long,
        env = "IRONWORX_BODY_IDLE_TIMEOUT_SECONDS",
        default_value_t = TransportSettings::default().body_idle_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub body_idle_timeout_seconds: u64,

    /// Seconds a request body (service call, property write, entity document) may take in
    /// all before the request answers 408.
    #[arg(
        long,
        env = "IRONWORX_BODY_TIMEOUT_SECONDS",
        default_value_t = TransportSettings::default().body_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub body_timeout_seconds: u64,

    /// Seconds an import upload may take in all before it answers 408.
    #[arg(
        long,
        env = "IRONWORX_UPLOAD_TIMEOUT_SECONDS",
        default_value_t = TransportSettings::default().upload_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        global = true
    )]
    pub upload_timeout_seconds: u64,

    /// Connections one process keeps open at most (split evenly across its workers); more
    /// wait in the listen queue. The open-file limit is raised to fit at start.
    #[arg(
        long,
        env = "IRONWORX_MAX_CONNECTIONS",
        default_value_t = TransportSettings::default().max_connections,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000),
        global = true
    )]
    pub max_connections: u64,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            header_timeout_seconds: 5,
            keep_alive_seconds: 5,
            disconnect_timeout_seconds: 5,
            body_idle_timeout_seconds: 20,
            body_timeout_seconds: 60,
            upload_timeout_seconds: 30 * 60,
            max_connections: 10_000,
        }
    }
}

/// The limits of one outermost script service invocation (with every service it calls): a
/// script that passes one is stopped and the call answers 500 `script_limit` naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ScriptSettings {
    /// Seconds a script service invocation may run.
    #[arg(
        long,
        env = "IRONWORX_SCRIPT_TIMEOUT_SECONDS",
        default_value_t = ScriptSettings::default().script_timeout_seconds,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub script_timeout_seconds: u64,

    /// Memory a script service invocation may allocate, in MiB.
    #[arg(
        long,
        env = "IRONWORX_SCRIPT_MEMORY_MIB",
        default_value_t = ScriptSettings::default().script_memory_mib,
        value_parser = clap::value_parser!(u64).range(4..=4096),
        global = true
    )]
    pub script_memory_mib: u64,

    /// How deeply script services may call services (the outermost call is depth 1).
    #[arg(
        long,
        env = "IRONWORX_SCRIPT_MAX_CALL_DEPTH",
        default_value_t = ScriptSettings::default().script_max_call_depth,
        value_parser = clap::value_parser!(u64).range(1..=256),
        global = true
    )]
    pub script_max_call_depth: u64,

    /// Largest result a script service may return, in bytes of JSON.
    #[arg(
        long,
        env = "IRONWORX_SCRIPT_MAX_RESULT_BYTES",
        default_value_t = ScriptSettings::default().script_max_result_bytes,
        value_parser = clap::value_parser!(u64).range(1024..=(1024 * 1024 * 1024)),
        global = true
    )]
    pub script_max_result_bytes: u64,

    /// Fire no Timer or Scheduler event in this process (their Things stay as they are).
    #[arg(
        long,
        env = "IRONWORX_DISABLE_TIMERS",
        default_value_t = ScriptSettings::default().disable_timers,
        global = true
    )]
    pub disable_timers: bool,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings {
            script_timeout_seconds: 30,
            script_memory_mib: 64,
            script_max_call_depth: 32,
            script_max_result_bytes: 16 * 1024 * 1024,
            disable_timers: false,
        }
    }
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A directory could not be created or made absolute.
    #[error("cannot prepare directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path cannot be written into a database URL.
    #[error("path {0} is not valid UTF-8")]
    NonUtf8Path(PathBuf),
}

/// The resolved configuration the server runs with.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the HTTP server binds.
    pub bind: SocketAddr,
    /// Absolute data directory (exists).
    pub data_dir: PathBuf,
    /// Database URL, with the SQLite default already filled in.
    pub database_url: String,
    /// How long a request waits for the database (`--database-timeout-ms`).
    pub database_timeout: Duration,
    /// Absolute storage directory (exists).
    pub storage_dir: PathBuf,
    /// Bootstrap password of `Administrator`; `None` lets bootstrap generate one.
    pub admin_password: Option<String>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Authentication settings.
    pub auth: AuthSettings,
    /// Request and import limits.
    pub limits: LimitSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_timeout", &self.database_timeout)
            .field("storage_dir", &self.storage_dir)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("log_format", &self.log_format)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Config {
    /// Resolves `settings`, taking the Administrator password from `IRONWORX_ADMIN_PASSWORD`
    /// (an empty value counts as unset: a password is generated). Creates the data and storage
    /// directories.
    pub fn resolve(settings: Settings) -> Result<Config, ConfigError> {
        let admin_password = std::env::var(ADMIN_PASSWORD_ENV).ok();
        Self::resolve_with_password(settings, admin_password)
    }

    /// Like [`Config::resolve`], with the Administrator password given explicitly.
    pub fn resolve_with_password(
        settings: Settings,
        admin_password: Option<String>,
    ) -> Result<Config, ConfigError> {
        let data_dir = prepare_dir(&settings.data_dir)?;
        let storage_dir = match &settings.storage_dir {
            Some(dir) => prepare_dir(dir)?,
            None => prepare_dir(&data_dir.join(DEFAULT_STORAGE_DIR))?,
        };
        let database_url = match settings.database_url {
            Some(url) if !url.trim().is_empty() => url,
            _ => sqlite_url(&data_dir.join(DEFAULT_DATABASE_FILE))?,
        };
        Ok(Config {
            bind: settings.bind,
            data_dir,
            database_url,
            database_timeout: Duration::from_millis(settings.database_timeout_ms),
            storage_dir,
            admin_password: admin_password.filter(|p| !p.is_empty()),
            log_format: settings.log_format,
            auth: settings.auth,
            limits: settings.limits,
        })
    }

    /// Whether the database is PostgreSQL (as opposed to SQLite).
    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.database_url)
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL of a SQLite database file at `path` (absolute), created on first connection.
///
/// `%`, `?` and `#` in the path are percent-encoded, as the SQLite driver decodes them.
pub fn sqlite_url(path: &Path) -> Result<String, ConfigError> {
    let text = path
        .to_str()
        .ok_or_else(|| ConfigError::NonUtf8Path(path.to_path_buf()))?;
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            _ => encoded.push(c),
        }
    }
    Ok(format!("sqlite://{encoded}?mode=rwc"))
}

/// `url` with the password of its user-info part (if any) replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:<redacted>{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

/// Creates `dir` when missing and returns its absolute, canonical form.
fn prepare_dir(dir: &Path) -> Result<PathBuf, ConfigError> {
    let wrap = |source| ConfigError::Directory {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    std::fs::canonicalize(dir).map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        settings: Settings,
    }

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        TestCli::try_parse_from(all)
            .expect("arguments parse")
            .settings
    }

    #[test]
    fn defaults_match_the_contract() {
        // Only meaningful when the environment does not override them.
        if std::env::vars().any(|(k, _)| k.starts_with("IRONWORX_")) {
            return;
        }
        let s = settings(&[]);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./ironworx-data"));
        assert_eq!(s.database_url, None);
        assert_eq!(s.storage_dir, None);
        assert_eq!(s.log_format, LogFormat::Text);
        // The flags take their defaults from `Default`, which holds the contract's values.
        assert_eq!(s.auth, AuthSettings::default());
        assert_eq!(s.auth.password_min_length, 14);
        assert_eq!(
            (s.auth.lockout_attempts, s.auth.lockout_window_minutes),
            (5, 15)
        );
        assert_eq!(s.limits, LimitSettings::default());
        assert_eq!(s.limits.transport, TransportSettings::default());
        assert_eq!(
            (
                s.limits.transport.header_timeout_seconds,
                s.limits.transport.body_timeout_seconds,
                s.limits.transport.upload_timeout_seconds
            ),
            (5, 60, 1800)
        );
        assert_eq!(s.limits.max_pbkdf2_iterations, 210_000);
        assert_eq!(
            (
                s.limits.script.script_timeout_seconds,
                s.limits.script.script_memory_mib
            ),
            (30, 64)
        );
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list() {
        if std::env::var_os("IRONWORX_CORS_ALLOWED_ORIGINS").is_none() {
            assert!(settings(&[]).auth.cors_allowed_origins.is_empty());
        }
        let s = settings(&[
            "--cors-allowed-origins",
            "https://App.example, http://localhost:3000/",
        ]);
        assert_eq!(
            s.auth.cors_allowed_origins,
            ["https://app.example", "http://localhost:3000"]
        );
        for bad in ["*", "app.example", "https://app.example/path"] {
            assert!(
                TestCli::try_parse_from(["test", "--cors-allowed-origins", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn transport_limits_are_checked() {
        assert!(
            TestCli::try_parse_from(["test", "--body-idle-timeout-seconds", "0"]).is_err(),
            "a zero idle timeout would cut every body"
        );
        assert!(TestCli::try_parse_from(["test", "--max-connections", "0"]).is_err());
        let s = settings(&["--upload-timeout-seconds", "7", "--max-connections", "50"]);
        assert_eq!(s.limits.transport.upload_timeout_seconds, 7);
        assert_eq!(s.limits.transport.max_connections, 50);
    }

    #[test]
    fn database_timeout_has_a_default_and_a_range() {
        if std::env::var_os("IRONWORX_DATABASE_TIMEOUT_MS").is_none() {
            assert_eq!(settings(&[]).database_timeout_ms, 3000);
        }
        let s = settings(&["--database-timeout-ms", "1500"]);
        assert_eq!(s.database_timeout_ms, 1500);
        for bad in ["0", "99", "600001"] {
            assert!(
                TestCli::try_parse_from(["test", "--database-timeout-ms", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn pbkdf2_bound_has_a_range() {
        let s = settings(&["--max-pbkdf2-iterations", "100000"]);
        assert_eq!(s.limits.import().max_pbkdf2_iterations, 100_000);
        for bad in ["999", "1000001"] {
            assert!(
                TestCli::try_parse_from(["test", "--max-pbkdf2-iterations", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn resolution_fills_in_sqlite_and_storage_inside_the_data_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let s = settings(&["--data-dir", data.to_str().expect("utf-8")]);
        let config = Config::resolve_with_password(s, None).expect("resolves");

        let data = std::fs::canonicalize(&data).expect("data dir created");
        assert_eq!(config.data_dir, data);
        assert_eq!(config.storage_dir, data.join("ThingworxStorage"));
        assert!(config.storage_dir.is_dir());
        assert_eq!(
            config.database_url,
            format!("sqlite://{}/ironworx.db?mode=rwc", data.display())
        );
        assert!(!config.is_postgres());
        assert_eq!(config.admin_password, None);
    }

    #[test]
    fn explicit_settings_win() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("d");
        let storage = tmp.path().join("s");
        let s = settings(&[
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--storage-dir",
            storage.to_str().expect("utf-8"),
            "--database-url",
            "postgres://u:secret@db:5432/ironworx",
            "--log-format",
            "json",
        ]);
        let config = Config::resolve_with_password(s, Some("pw".to_owned())).expect("resolves");
        assert_eq!(config.bind.to_string(), "0.0.0.0:0");
        assert_eq!(
            config.storage_dir,
            std::fs::canonicalize(&storage).expect("storage created")
        );
        assert_eq!(config.database_url, "postgres://u:secret@db:5432/ironworx");
        assert!(config.is_postgres());
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.admin_password.as_deref(), Some("pw"));
    }

    #[test]
    fn empty_admin_password_counts_as_unset() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = settings(&["--data-dir", tmp.path().to_str().expect("utf-8")]);
        let config = Config::resolve_with_password(s, Some(String::new())).expect("resolves");
        assert_eq!(config.admin_password, None);
    }

    #[test]
    fn debug_redacts_secrets() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = settings(&[
            "--data-dir",
            tmp.path().to_str().expect("utf-8"),
            "--database-url",
            "postgres://u:hunter2@db/x",
        ]);
        let config =
            Config::resolve_with_password(s, Some("top-secret".to_owned())).expect("resolves");
        let shown = format!("{config:?}");
        assert!(!shown.contains("top-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn url_redaction() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/db?x=1"),
            "postgres://u:<redacted>@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("sqlite:///a/b.db?mode=rwc"),
            "sqlite:///a/b.db?mode=rwc"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn sqlite_url_escapes_special_characters() {
        let url = sqlite_url(Path::new("/tmp/a?b#c%d/x.db")).expect("utf-8");
        assert_eq!(url, "sqlite:///tmp/a%3Fb%23c%25d/x.db?mode=rwc");
    }
}
