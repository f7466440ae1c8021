//! End-to-end test harness: throw-away databases on SQLite and PostgreSQL, and the real server
//! started as a child process (the `ironworx-under-test` binary of this crate, which runs the
//! same code as `ironworx`).
//!
//! A typical test:
//!
//! ```no_run
//! use ironworx_tests::{backends, TestDb, TestServer};
//!
//! # async fn example() -> reqwest::Result<()> {
//! for backend in backends() {
//!     let db = TestDb::create(backend).await;
//!     let server = TestServer::start(&db, &[]).await;
//!     let res = server.client().get(server.url("/health")).send().await?;
//!     assert_eq!(res.status(), 200);
//!     assert!(server.stop().await.success());
//!     db.drop_database().await;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! PostgreSQL runs only when `IRONWORX_TEST_POSTGRES` holds an administrative URL (for example
//! `postgres://postgres@127.0.0.1:5432/test`); each [`TestDb`] then creates its own database
//! `ironworx_test_<uuid>` and drops it afterwards.
//!
//! The helpers panic with a descriptive message (the server's stderr included) when the
//! environment fails them: in a test that is the failure to report.

pub mod cli;
pub mod forms;
pub mod http;
pub mod import_export;
pub mod model;
pub mod proxy;
pub mod sse;
pub mod things;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Environment variable holding the administrative PostgreSQL URL that enables the
/// PostgreSQL runs.
pub const POSTGRES_ENV: &str = "IRONWORX_TEST_POSTGRES";

/// Name of the built-in administrator.
pub const ADMIN_USER: &str = "Administrator";

/// Administrator password the servers of [`TestServer::start`] are bootstrapped with.
pub const ADMIN_PASSWORD: &str = "Ironworx-Test-Admin-7";

/// Name of the server binary built by this crate.
pub const SERVER_BINARY: &str = "ironworx-under-test";

/// Prefix of the stdout line announcing the listening address.
pub const LISTENING_PREFIX: &str = "ironworx listening on ";

/// How long a server may take to print its listening line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Timeout of each request made through [`TestServer::client`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A database engine the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server named by `IRONWORX_TEST_POSTGRES`.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// The backends to run a test on: always SQLite; PostgreSQL when `IRONWORX_TEST_POSTGRES` is
/// set (otherwise says on stderr that it is skipped).
pub fn backends() -> Vec<Backend> {
    match postgres_admin_url() {
        Some(_) => vec![Backend::Sqlite, Backend::Postgres],
        None => {
            eprintln!("skipping PostgreSQL: {POSTGRES_ENV} is not set");
            vec![Backend::Sqlite]
        }
    }
}

/// The administrative PostgreSQL URL, when configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A throw-away database: a SQLite file in a temporary directory, or a PostgreSQL database
/// created for this test and dropped by [`TestDb::drop_database`] (or, failing that, on drop).
pub struct TestDb {
    url: String,
    kind: DbKind,
}

enum DbKind {
    Sqlite {
        _dir: TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend())
            .field("url", &self.url)
            .finish()
    }
}

impl TestDb {
    /// A new, empty database on `backend`. PostgreSQL needs `IRONWORX_TEST_POSTGRES`.
    ///
    /// # Panics
    /// When the database cannot be created.
    pub async fn create(backend: Backend) -> TestDb {
        Self::try_create(backend)
            .await
            .unwrap_or_else(|err| panic!("cannot create a {backend} test database: {err:#}"))
    }

    /// Like [`TestDb::create`], returning the error.
    pub async fn try_create(backend: Backend) -> anyhow::Result<TestDb> {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => {
                let admin_url =
                    postgres_admin_url().with_context(|| format!("{POSTGRES_ENV} is not set"))?;
                Self::postgres(&admin_url).await
            }
        }
    }

    fn sqlite() -> anyhow::Result<TestDb> {
        let dir = tempfile::Builder::new()
            .prefix("ironworx-test-db-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let path = dir.path().join("ironworx.db");
        let path = path
            .to_str()
            .with_context(|| format!("temporary path {} is not UTF-8", path.display()))?;
        Ok(TestDb {
            url: format!("sqlite://{path}?mode=rwc"),
            kind: DbKind::Sqlite { _dir: dir },
        })
    }

    async fn postgres(admin_url: &str) -> anyhow::Result<TestDb> {
        let name = format!("ironworx_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_connect(admin_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await.ok();
        Ok(TestDb {
            url: with_database(admin_url, &name)?,
            kind: DbKind::Postgres {
                admin_url: admin_url.to_owned(),
                name,
                dropped: false,
            },
        })
    }

    /// The engine of this database.
    pub fn backend(&self) -> Backend {
        match self.kind {
            DbKind::Sqlite { .. } => Backend::Sqlite,
            DbKind::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The URL the server is given with `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Removes the database now: a PostgreSQL database is dropped `WITH (FORCE)`, a SQLite
    /// directory deleted.
    ///
    /// # Panics
    /// When PostgreSQL refuses to drop the database.
    pub async fn drop_database(mut self) {
        if let DbKind::Postgres {
            admin_url,
            name,
            dropped,
        } = &mut self.kind
        {
            if let Err(err) = drop_postgres_database(admin_url, name).await {
                panic!("{err:#}");
            }
            *dropped = true;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let DbKind::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.kind
        {
            // Drop may run inside a runtime: do the async cleanup on a thread of its own.
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let cleanup = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(drop_postgres_database(&admin_url, &name))
            });
            match cleanup.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => eprintln!("warning: {err:#}"),
                Err(_) => eprintln!("warning: database cleanup panicked"),
            }
        }
    }
}

async fn admin_connect(admin_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(admin_url);
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to {POSTGRES_ENV} ({admin_url})"))
}

async fn drop_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = admin_connect(admin_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .with_context(|| format!("cannot drop test database {name}"))?;
    admin.close().await.ok();
    Ok(())
}

/// `url` with its database name (the path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let authority_start = url
        .find("://")
        .map(|i| i + 3)
        .with_context(|| format!("not a URL: {url}"))?;
    let rest = &url[authority_start..];
    let (location, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = &location[..location.find('/').unwrap_or(location.len())];
    Ok(format!(
        "{}{authority}/{name}{query}",
        &url[..authority_start]
    ))
}

/// A connection pool to `db`, with the server's own settings (`ironworx_server::db::connect`),
/// for tests that look at the database directly. Does not migrate.
///
/// # Panics
/// When the database does not answer.
pub async fn connect(db: &TestDb) -> DatabaseConnection {
    ironworx_server::db::connect(db.url())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {}: {err}", db.url()))
}

/// The path of the server binary: from `NEXTEST_BIN_EXE_…`/`CARGO_BIN_EXE_…` when set at run
/// time, otherwise next to the running test executable (`target/<profile>/`). Cargo builds it
/// whenever it builds this crate's integration tests.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    for var in [
        format!("NEXTEST_BIN_EXE_{SERVER_BINARY}"),
        format!("CARGO_BIN_EXE_{SERVER_BINARY}"),
    ] {
        if let Some(path) = std::env::var_os(var) {
            return Ok(PathBuf::from(path));
        }
    }
    let exe = std::env::current_exe().context("cannot locate the test executable")?;
    let mut dir = exe.parent();
    if dir.is_some_and(|d| d.ends_with("deps")) {
        dir = dir.and_then(Path::parent);
    }
    let path = dir
        .context("the test executable has no parent directory")?
        .join(format!("{SERVER_BINARY}{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        path.is_file(),
        "{} is not built: run the tests through `cargo test --workspace` (or nextest), which \
         builds it",
        path.display()
    );
    Ok(path)
}

/// Creates user `name` with an argon2id hash of `password`, through the shared queries.
///
/// # Panics
/// When the user cannot be created.
pub async fn create_user(db: &DatabaseConnection, name: &str, password: &str) {
    let hash = ironworx_server::auth::hashing::hash_password(password).expect("hash the password");
    ironworx_entity::queries::users::create_user(
        db,
        &ironworx_entity::queries::users::NewUser {
            name: name.into(),
            password: Some(ironworx_entity::queries::users::PasswordRecord::argon2id(
                hash,
            )),
            ..Default::default()
        },
    )
    .await
    .expect("create the user");
}

/// POSTs `body` as JSON to `path` with Basic credentials `(user, password)`; the status and
/// the body parsed as JSON (or as a JSON string when it is not JSON).
///
/// # Panics
/// When the request cannot be sent.
pub async fn post_json(
    server: &TestServer,
    (user, password): (&str, &str),
    path: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let res = server
        .client()
        .post(server.url(path))
        .basic_auth(user, Some(password))
        .json(&body)
        .send()
        .await
        .expect("send the request");
    let status = res.status();
    let text = res.text().await.expect("read the body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// How to start a [`TestServer`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `IRONWORX_ADMIN_PASSWORD`; `None` leaves it unset (bootstrap generates one).
    pub admin_password: Option<String>,
    /// Data directory to use; `None` makes a temporary one owned by the server.
    pub data_dir: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Database URL to give the server instead of the [`TestDb`]'s own (for example through a
    /// [`proxy::DbProxy`]).
    pub database_url: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
            data_dir: None,
            env: Vec::new(),
            args: Vec::new(),
            database_url: None,
        }
    }
}

impl ServerOptions {
    /// Leaves `IRONWORX_ADMIN_PASSWORD` unset.
    pub fn without_admin_password(mut self) -> Self {
        self.admin_password = None;
        self
    }

    /// Uses `dir` as the data directory (kept after the server stops, e.g. for a restart).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Gives the server `url` instead of the database's own URL.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// A running server: `ironworx-under-test serve --bind 127.0.0.1:0 --data-dir <dir>
/// --database-url <url>`. Killed on drop; [`TestServer::stop`] stops it gracefully.
pub struct TestServer {
    child: Option<Child>,
    pid: u32,
    base_url: String,
    data_dir: PathBuf,
    _owned_data_dir: Option<TempDir>,
    admin_password: Option<String>,
    client: reqwest::Client,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("pid", &self.pid)
            .field("base_url", &self.base_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on `db` with `IRONWORX_ADMIN_PASSWORD` = [`ADMIN_PASSWORD`] and the
    /// extra environment `extra_env`, and waits until it listens.
    ///
    /// # Panics
    /// When the server does not start; the message holds its stderr.
    pub async fn start(db: &TestDb, extra_env: &[(&str, &str)]) -> TestServer {
        Self::start_with(db, options_with_env(ServerOptions::default(), extra_env)).await
    }

    /// Like [`TestServer::start`] with `IRONWORX_ADMIN_PASSWORD` unset (bootstrap generates
    /// the password, prints it and writes `initial-admin-password` in the data directory).
    pub async fn start_without_admin_password(
        db: &TestDb,
        extra_env: &[(&str, &str)],
    ) -> TestServer {
        let options = ServerOptions::default().without_admin_password();
        Self::start_with(db, options_with_env(options, extra_env)).await
    }

    /// Starts a server on `db` as `options` say, and waits until it listens (at most
    /// [`STARTUP_TIMEOUT`]).
    ///
    /// # Panics
    /// When the server does not start; the message holds its stderr.
    pub async fn start_with(db: &TestDb, options: ServerOptions) -> TestServer {
        Self::try_start_with(db, options)
            .await
            .unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Like [`TestServer::start_with`], returning the error (for tests of failing starts).
    pub async fn try_start_with(db: &TestDb, options: ServerOptions) -> anyhow::Result<TestServer> {
        let binary = server_binary()?;
        let (data_dir, owned_data_dir) = match options.data_dir {
            Some(dir) => (dir, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("ironworx-test-data-")
                    .tempdir()
                    .context("cannot create a temporary data directory")?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };

        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--database-url")
            .arg(options.database_url.as_deref().unwrap_or(db.url()))
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IRONWORX_") {
                command.env_remove(key);
            }
        }
        if let Some(password) = &options.admin_password {
            command.env("IRONWORX_ADMIN_PASSWORD", password);
        }
        for (key, value) in &options.env {
            command.env(key, value);
        }

        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout_pipe = child.stdout.take().context("no stdout pipe")?;
        let stderr_pipe = child.stderr.take().context("no stderr pipe")?;

        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = tokio::spawn(collect_text(stderr_pipe, Arc::clone(&stderr)));
        let mut lines = BufReader::new(stdout_pipe).lines();

        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let base_url = loop {
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    let found = line.strip_prefix(LISTENING_PREFIX).map(str::to_owned);
                    lock(&stdout).push(line);
                    if let Some(url) = found {
                        break url.trim().to_owned();
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = tokio::time::timeout(STOP_TIMEOUT, child.wait()).await;
                    // The stderr pipe closes when the process exits.
                    let _ = tokio::time::timeout(Duration::from_secs(5), stderr_reader).await;
                    bail!(
                        "the server exited before listening ({}); stderr:\n{}",
                        match status {
                            Ok(Ok(status)) => status.to_string(),
                            _ => "exit status unknown".to_owned(),
                        },
                        lock(&stderr)
                    );
                }
                Err(_) => {
                    child.start_kill().ok();
                    bail!(
                        "the server did not listen within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                        lock(&stderr)
                    );
                }
            }
        };
        let stdout_reader = tokio::spawn(collect_lines(lines, Arc::clone(&stdout)));

        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;

        Ok(TestServer {
            child: Some(child),
            pid,
            base_url,
            data_dir,
            _owned_data_dir: owned_data_dir,
            admin_password: options.admin_password,
            client,
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The `IRONWORX_ADMIN_PASSWORD` the server was given, if any.
    pub fn admin_password(&self) -> Option<&str> {
        self.admin_password.as_deref()
    }

    /// An HTTP client sending `Accept: application/json`, without a cookie store.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Every line the server printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        lock(&self.stdout).clone()
    }

    /// Everything the server wrote on stderr (its log) so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Sends SIGTERM and waits (at most [`STOP_TIMEOUT`]) for the exit status.
    ///
    /// # Panics
    /// When the signal cannot be sent or the server does not exit in time (it is then killed).
    pub async fn stop(self) -> ExitStatus {
        self.try_stop()
            .await
            .unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Sends SIGKILL (no chance to finish anything) and waits for the process to end.
    ///
    /// # Panics
    /// When the server was already stopped or cannot be waited for.
    pub async fn kill(mut self) {
        let mut child = self.child.take().expect("the server is running");
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("wait for the killed server");
    }

    /// Like [`TestServer::stop`], returning the error.
    pub async fn try_stop(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .context("the server was already stopped")?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await
            .context("cannot run kill")?;
        ensure!(sent.success(), "kill -TERM {} failed: {sent}", self.pid);
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status.context("cannot wait for the server")?;
                for reader in self.readers.drain(..) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
                }
                Ok(status)
            }
            Err(_) => {
                child.start_kill().ok();
                bail!(
                    "the server did not exit within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            child.start_kill().ok();
        }
    }
}

fn options_with_env(options: ServerOptions, extra_env: &[(&str, &str)]) -> ServerOptions {
    extra_env
        .iter()
        .fold(options, |options, (key, value)| options.env(*key, *value))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn collect_lines<R: AsyncRead + Unpin>(
    mut lines: tokio::io::Lines<BufReader<R>>,
    sink: Arc<Mutex<Vec<String>>>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        lock(&sink).push(line);
    }
}

async fn collect_text<R: AsyncRead + Unpin>(pipe: R, sink: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut text = lock(&sink);
        text.push_str(&line);
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").expect("url"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x").expect("url"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x").expect("url"),
            "postgres://h:5432/x"
        );
        assert!(with_database("nonsense", "x").is_err());
    }

    /// The harness itself: start, probe, stop gracefully, on every configured backend.
    #[tokio::test]
    async fn server_starts_answers_and_stops_cleanly() -> anyhow::Result<()> {
        for backend in backends() {
            let db = TestDb::create(backend).await;
            let server = TestServer::start(&db, &[]).await;
            assert!(server.base_url().starts_with("http://127.0.0.1:"));

            let health = server.client().get(server.url("/health")).send().await?;
            assert_eq!(health.status(), 200, "{backend}");
            let body: serde_json::Value = health.json().await?;
            assert_eq!(body, serde_json::json!({"status": "ok"}));

            let ready = server.client().get(server.url("/ready")).send().await?;
            assert_eq!(ready.status(), 200, "{backend}");

            let status = server.stop().await;
            assert!(status.success(), "{backend}: exited with {status}");

            // The database is usable from the test once the server is gone.
            let conn = connect(&db).await;
            conn.ping().await?;
            conn.close().await?;
            db.drop_database().await;
        }
        Ok(())
    }

    /// A server whose database cannot be opened fails with its stderr in the error.
    #[tokio::test]
    async fn a_failing_start_reports_stderr() {
        let db = TestDb {
            url: "sqlite:///nonexistent-ironworx-dir/x.db?mode=ro".to_owned(),
            kind: DbKind::Sqlite {
                _dir: tempfile::tempdir().expect("tempdir"),
            },
        };
        let err = TestServer::try_start_with(&db, ServerOptions::default())
            .await
            .expect_err("the server cannot start");
        let text = format!("{err:#}");
        assert!(text.contains("exited before listening"), "{text}");
        assert!(text.contains("cannot connect"), "{text}");
    }
}
