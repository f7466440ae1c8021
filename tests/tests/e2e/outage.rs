//! Database outages fail fast and heal (README, Configuration: `--database-timeout-ms`): while
//! the database cannot be reached, an authorized data request answers 503
//! `database_unavailable` within the configured time (never a hang, never a 500) and `/ready`
//! answers 503; once the database is back, the same server answers 200 again without a restart.
//!
//! PostgreSQL is reached through a proxy ([`ironworx_tests::proxy::DbProxy`]) that plays the
//! outage: a stopped database (live connections closed, the port refusing) and one gone from
//! the network (live and new connections open but silent). The machine's PostgreSQL itself
//! keeps running.
//!
//! SQLite: the tests run as root, whom file permissions do not stop, and a file renamed or
//! replaced under the server stays readable through the descriptors its connections hold. So
//! the file is made unreadable in place: its bytes (and the WAL's) are overwritten with bytes
//! that are not a database and the WAL index is invalidated, so the server's open connections
//! really fail to read it (`SQLITE_NOTADB`); putting the saved bytes back is the recovery.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::users;
use ironworx_server::auth::app_key::key_hash;
use ironworx_tests::proxy::DbProxy;
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, Backend, POSTGRES_ENV, ServerOptions, TestDb, TestServer, connect,
    postgres_admin_url,
};
use reqwest::StatusCode;
use serde_json::Value;

/// The database timeout the servers run with, in milliseconds.
const TIMEOUT_MS: u64 = 1500;
/// What an answer may take beyond the timeout (scheduling, the HTTP round trip).
const MARGIN: Duration = Duration::from_millis(1000);
/// How long the server may take to answer 200 again once the database is back.
const RECOVERY: Duration = Duration::from_secs(15);
const KEY: &str = "5d0c3a8e-2f41-4c7b-9a6d-1e8f7b2c4a90";
const DATA: &str = "/Thingworx/Users";

#[derive(Debug, Clone, Copy)]
enum Credential {
    Basic,
    AppKey,
}

fn options() -> ServerOptions {
    ServerOptions::default().env("IRONWORX_DATABASE_TIMEOUT_MS", TIMEOUT_MS.to_string())
}

/// An application key of `Administrator`, written straight into `db`.
async fn make_key(db: &TestDb) {
    let conn = connect(db).await;
    let admin = users::get_user(&conn, ADMIN_USER).await.expect("admin");
    app_keys::create_app_key(
        &conn,
        &NewAppKey {
            name: "OutageKey".into(),
            key_hash: Some(key_hash(KEY)),
            user_id: Some(admin.entity.id),
            ..NewAppKey::default()
        },
    )
    .await
    .expect("key");
    conn.close().await.expect("close");
}

/// `GET /Thingworx/Users` with `credential`: the status, the body and the time it took.
async fn data(server: &TestServer, credential: Credential) -> (StatusCode, Value, Duration) {
    let request = server.client().get(server.url(DATA));
    let request = match credential {
        Credential::Basic => request.basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD)),
        Credential::AppKey => request.header("appKey", KEY),
    };
    let started = Instant::now();
    let res = request.send().await.expect("the server answers");
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

async fn ready(server: &TestServer) -> (StatusCode, Duration) {
    let started = Instant::now();
    let res = server
        .client()
        .get(server.url("/ready"))
        .send()
        .await
        .expect("the server answers");
    (res.status(), started.elapsed())
}

async fn assert_answers(server: &TestServer, what: &str) {
    for credential in [Credential::Basic, Credential::AppKey] {
        let (status, body, _) = data(server, credential).await;
        assert_eq!(status, StatusCode::OK, "{what}, {credential:?}: {body}");
    }
    assert_eq!(ready(server).await.0, StatusCode::OK, "{what}");
}

/// Every request answers 503 `database_unavailable`, each within the timeout (and a margin).
async fn assert_unavailable(server: &TestServer, what: &str) {
    let bound = Duration::from_millis(TIMEOUT_MS) + MARGIN;
    for round in 0..2 {
        for credential in [Credential::Basic, Credential::AppKey] {
            let (status, body, elapsed) = data(server, credential).await;
            eprintln!("{what}, {credential:?} #{round}: {status} in {elapsed:?}");
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{what}, {credential:?}: {body}"
            );
            assert_eq!(body["code"], "database_unavailable", "{what}: {body}");
            assert!(
                body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("--database-timeout-ms")),
                "{what}: {body}"
            );
            assert!(elapsed < bound, "{what}, {credential:?}: took {elapsed:?}");
        }
        let (status, elapsed) = ready(server).await;
        eprintln!("{what}, /ready #{round}: {status} in {elapsed:?}");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: /ready");
        assert!(elapsed < bound, "{what}: /ready took {elapsed:?}");
    }
    let health = server
        .client()
        .get(server.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK, "{what}: the process lives");
}

/// The server answers 200 again (data with both credentials, and `/ready`) within
/// [`RECOVERY`] of the database coming back, without a restart.
async fn assert_recovers(server: &TestServer, what: &str) {
    let started = Instant::now();
    loop {
        let basic = data(server, Credential::Basic).await;
        let key = data(server, Credential::AppKey).await;
        let (ready, _) = ready(server).await;
        if basic.0 == StatusCode::OK && key.0 == StatusCode::OK && ready == StatusCode::OK {
            eprintln!("{what}: answering 200 again after {:?}", started.elapsed());
            return;
        }
        assert!(
            started.elapsed() < RECOVERY,
            "{what}: still {} / {} / {ready} after {RECOVERY:?}: {} {}\n{}",
            basic.0,
            key.0,
            basic.1,
            key.1,
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn postgres_outages_answer_503_in_time_and_heal() {
    if postgres_admin_url().is_none() {
        eprintln!("skipping PostgreSQL: {POSTGRES_ENV} is not set");
        return;
    }
    let db = TestDb::create(Backend::Postgres).await;
    let proxy = DbProxy::start(db.url()).await.expect("proxy");
    let url = proxy.url(db.url()).expect("proxied url");
    let server = TestServer::start_with(&db, options().database_url(url)).await;
    make_key(&db).await;
    assert_answers(&server, "before").await;

    // A stopped database: its connections close, its port refuses.
    proxy.refuse().await;
    assert_unavailable(&server, "PostgreSQL refusing").await;
    proxy.forward().await.expect("forward");
    assert_recovers(&server, "PostgreSQL back from refusing").await;

    // A database gone from the network: nothing answers, nothing is closed. This is the
    // case that waited on the pool before the timeout existed.
    proxy.blackhole().await.expect("blackhole");
    assert_unavailable(&server, "PostgreSQL silent").await;
    proxy.forward().await.expect("forward");
    assert_recovers(&server, "PostgreSQL back from silence").await;

    let status = server.stop().await;
    assert!(status.success(), "{status}");
    drop(proxy);
    db.drop_database().await;
}

/// The database file's path in a `sqlite://<path>?…` URL.
fn sqlite_file(url: &str) -> PathBuf {
    let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
    PathBuf::from(path.split('?').next().expect("path"))
}

/// The bytes of a SQLite database and its WAL, kept while they are overwritten in place.
struct Damaged {
    file: PathBuf,
    saved: Vec<(PathBuf, Vec<u8>)>,
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Zeroes the first bytes of the WAL index (`-shm`), which every connection maps: its header
/// no longer checks, so each connection rebuilds it from the WAL and drops its page cache
/// before it reads again.
fn invalidate_wal_index(file: &Path) {
    use std::io::Write;
    let shm = with_suffix(file, "-shm");
    let mut index = std::fs::OpenOptions::new()
        .write(true)
        .open(&shm)
        .expect("open the WAL index");
    index
        .write_all(&[0u8; 136])
        .expect("invalidate the WAL index");
}

/// Overwrites, in place (the same inodes the server has open), `path` with `bytes`.
fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for writing");
    file.set_len(0).expect("truncate");
    file.write_all(bytes).expect("write");
    file.sync_all().expect("sync");
}

impl Damaged {
    /// Replaces the contents of the database file with zeros and empties its WAL.
    fn damage(file: &Path) -> Damaged {
        let mut saved = Vec::new();
        for path in [file.to_path_buf(), with_suffix(file, "-wal")] {
            if let Ok(bytes) = std::fs::read(&path) {
                saved.push((path, bytes));
            }
        }
        for (path, bytes) in &saved {
            overwrite(
                path,
                &vec![
                    0u8;
                    if path == file {
                        bytes.len().max(4096)
                    } else {
                        0
                    }
                ],
            );
        }
        invalidate_wal_index(file);
        Damaged {
            file: file.to_path_buf(),
            saved,
        }
    }

    /// Puts the saved bytes back.
    fn restore(self) {
        for (path, bytes) in &self.saved {
            overwrite(path, bytes);
        }
        invalidate_wal_index(&self.file);
    }
}

#[tokio::test]
async fn an_unreadable_sqlite_file_answers_503_in_time_and_heals() {
    let db = TestDb::create(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, options()).await;
    make_key(&db).await;
    assert_answers(&server, "before").await;

    let damaged = Damaged::damage(&sqlite_file(db.url()));
    assert_unavailable(&server, "SQLite file unreadable").await;
    damaged.restore();
    assert_recovers(&server, "SQLite file back").await;

    let status = server.stop().await;
    assert!(status.success(), "{status}");
}
