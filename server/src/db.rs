//! Database connection pool, migrations and write transactions, for SQLite and PostgreSQL.

use std::time::Duration;

use ironworx_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::is_postgres_url;

/// Largest SQLite pool: one writer at a time anyway, a few concurrent readers (WAL).
pub const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Largest PostgreSQL pool per server process.
pub const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// How long a SQLite connection waits for a lock held by another writer.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Key of the PostgreSQL advisory lock that serialises migrations between processes
/// sharing one database (the ASCII bytes of `IRONWORX`).
pub const MIGRATION_LOCK_KEY: i64 = 0x4952_4F4E_574F_5258;

/// Opens a connection pool to `url` (`sqlite:…` or `postgres://…`) with the default
/// `--database-timeout-ms`; see [`connect_with_timeout`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with_timeout(
        url,
        Duration::from_millis(crate::config::DEFAULT_DATABASE_TIMEOUT_MS),
    )
    .await
}

/// How long the first connection at start waits for a PostgreSQL server that refuses or does
/// not answer yet (one starting next to this process), retrying.
pub const STARTUP_WAIT: Duration = Duration::from_secs(30);

/// Opens a connection pool to `url` (`sqlite:…` or `postgres://…`).
///
/// `timeout` bounds how long a caller waits for a connection: one from the pool, a new one,
/// and the ping that checks an idle one before it is handed out (so a connection the database
/// dropped, or that no longer answers, is closed and replaced instead of being used). Past
/// it the call fails with [`DbErr::ConnectionAcquire`], which [`is_unreachable`] recognises.
///
/// SQLite connections use WAL journaling, `synchronous = NORMAL`, enforced foreign keys and a
/// 5 s busy timeout; the file is created when missing. Statement logging is off.
pub async fn connect_with_timeout(
    url: &str,
    timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let max = if is_postgres_url(url) {
        POSTGRES_MAX_CONNECTIONS
    } else {
        SQLITE_MAX_CONNECTIONS
    };
    open(url, timeout, max, true).await
}

/// Connections of the pool that reads credentials ([`connect_credential_reads`]).
pub const CREDENTIAL_READ_CONNECTIONS: u32 = 8;

/// Opens the pool that serves the one statement of an authenticated request (the credential
/// with its user and the sequences). Its connections are not pinged before use, which saves a
/// round trip per request; the caller bounds each statement by `timeout` and retries one that
/// met a connection the database dropped (`crate::auth::reads`). A connection is still pinged
/// when it goes back to the pool, and closed if it fails.
pub async fn connect_credential_reads(
    url: &str,
    timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    open(url, timeout, CREDENTIAL_READ_CONNECTIONS, false).await
}

async fn open(
    url: &str,
    timeout: Duration,
    max_connections: u32,
    ping_before_use: bool,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .acquire_timeout(timeout)
        .test_before_acquire(ping_before_use)
        .max_connections(max_connections);
    let postgres = is_postgres_url(url);
    if !postgres {
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .create_if_missing(true)
        });
    }
    // Switching a new SQLite file to WAL takes a lock that the busy timeout does not cover:
    // when another process is creating the same file at that moment, try again shortly.
    let started = std::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Err(e) if is_locked(&e) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) if postgres && is_unreachable(&e) && started.elapsed() < STARTUP_WAIT => {
                tracing::info!(error = %e, "database not reachable yet; waiting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            result => return result,
        }
    }
}

pub use crate::error::is_unreachable;

/// Applies every pending migration.
///
/// The migrations run inside one transaction that holds a lock, so that several processes
/// starting at once on one database apply them exactly once: a transaction-scoped advisory lock
/// on PostgreSQL, the write lock (`BEGIN IMMEDIATE`) on SQLite.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            ironworx_entity::queries::postgres::advisory_xact_lock(&txn, MIGRATION_LOCK_KEY)
                .await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await
        }
        _ => {
            let txn = begin_write_waiting(db, SQLITE_MIGRATION_WAIT).await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await
        }
    }
}

/// How long a SQLite migration waits for another process's migration to finish.
pub const SQLITE_MIGRATION_WAIT: Duration = Duration::from_secs(60);

/// [`begin_write`], retried while SQLite reports the database locked, for at most `wait`
/// (each attempt itself waits the busy timeout).
async fn begin_write_waiting(
    db: &DatabaseConnection,
    wait: Duration,
) -> Result<DatabaseTransaction, DbErr> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match begin_write(db).await {
            Err(err) if is_locked(&err) && tokio::time::Instant::now() < deadline => {
                tracing::info!("database locked by another process; waiting");
            }
            other => return other,
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` ("database is locked").
fn is_locked(err: &DbErr) -> bool {
    err.to_string().contains("database is locked")
}

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at once, so two writers queue
/// on the busy timeout instead of failing when a read transaction upgrades to a write.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Statement};

    async fn pragma(db: &DatabaseConnection, name: &str) -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("pragma runs")
            .expect("pragma answers");
        row.try_get_by_index::<i64>(0)
            .map(|v| v.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .expect("pragma value")
    }

    #[tokio::test]
    async fn sqlite_pragmas_are_set() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let url = crate::config::sqlite_url(&tmp.path().join("t.db")).expect("url");
        let db = connect(&url).await.expect("connects");
        assert_eq!(pragma(&db, "journal_mode").await, "wal");
        assert_eq!(pragma(&db, "synchronous").await, "1"); // NORMAL
        assert_eq!(pragma(&db, "foreign_keys").await, "1");
        assert_eq!(pragma(&db, "busy_timeout").await, "5000");
        db.close().await.expect("closes");
    }

    #[tokio::test]
    async fn unreadable_files_are_unreachable_and_refused_statements_are_not() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: it cannot be opened.
        let dir = tmp.path().join("dir.db");
        std::fs::create_dir(&dir).expect("dir");
        let err = connect(&crate::config::sqlite_url(&dir).expect("url"))
            .await
            .expect_err("a directory is no database");
        assert!(is_unreachable(&err), "{err}");
        // A file that is not a database: it cannot be read.
        let text = tmp.path().join("text.db");
        std::fs::write(&text, vec![b'x'; 8192]).expect("write");
        let err = connect(&crate::config::sqlite_url(&text).expect("url"))
            .await
            .expect_err("text is no database");
        assert!(is_unreachable(&err), "{err}");

        let url = crate::config::sqlite_url(&tmp.path().join("ok.db")).expect("url");
        let db = connect(&url).await.expect("connects");
        let err = db
            .execute_unprepared("SELECT * FROM no_such_table")
            .await
            .expect_err("no such table");
        assert!(!is_unreachable(&err), "{err}");
        db.close().await.expect("closes");
    }

    #[tokio::test]
    async fn sqlite_migrate_is_idempotent_and_write_transactions_commit() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let url = crate::config::sqlite_url(&tmp.path().join("m.db")).expect("url");
        let db = connect(&url).await.expect("connects");
        migrate(&db).await.expect("first migrate");
        migrate(&db).await.expect("second migrate is a no-op");

        let txn = begin_write(&db).await.expect("begins");
        txn.execute_unprepared("CREATE TABLE probe (x INTEGER)")
            .await
            .expect("writes");
        txn.commit().await.expect("commits");
        db.ping().await.expect("pings");
        db.close().await.expect("closes");
    }
}
