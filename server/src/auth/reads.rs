//! The pool that reads credentials: the one statement of an authenticated request, bounded by
//! `--database-timeout-ms` and retried on a connection the database dropped, so that it needs
//! no ping before it runs.

use std::future::Future;
use std::time::Duration;

use ironworx_entity::queries::{QueryError, QueryResult};
use sea_orm::{ConnAcquireErr, DatabaseConnection, DbErr};

/// Credential reads: their own pool, and how long one may take.
#[derive(Clone, Debug)]
pub struct CredentialReads {
    db: DatabaseConnection,
    timeout: Duration,
    /// How many times a read that met an unreachable database is tried again: enough to
    /// pass every connection the pool may hold from before a restart of the database.
    retries: u32,
}

impl CredentialReads {
    /// Reads over `db` (a pool opened by `crate::db::connect_credential_reads`, or any pool
    /// in tests), each bounded by `timeout`.
    pub fn new(db: DatabaseConnection, timeout: Duration) -> CredentialReads {
        CredentialReads {
            db,
            timeout,
            retries: crate::db::CREDENTIAL_READ_CONNECTIONS,
        }
    }

    /// Runs `read` on the pool. A read that finds the database unreachable (a connection it
    /// closed while idle, a refused connection) runs again on another connection until the
    /// retries are spent; past the timeout it fails as a connection that could not be
    /// acquired, which answers 503.
    pub async fn run<T, F, Fut>(&self, read: F) -> QueryResult<T>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = QueryResult<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut retries = self.retries;
        loop {
            match tokio::time::timeout_at(deadline, read(self.db.clone())).await {
                Err(_) => {
                    return Err(QueryError::Db(DbErr::ConnectionAcquire(
                        ConnAcquireErr::Timeout,
                    )));
                }
                Ok(Err(QueryError::Db(err)))
                    if retries > 0 && crate::error::is_unreachable(&err) =>
                {
                    tracing::debug!(error = %err, "credential read on a dropped connection; retrying");
                    retries -= 1;
                }
                Ok(result) => return result,
            }
        }
    }
}
