//! Statements only PostgreSQL has: the transaction-scoped advisory lock that serialises
//! migrations between processes, and `pg_notify` for the cross-process event relay. They fail
//! only as the database does, so they return its error as is.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// Takes the advisory lock `key` until the end of the transaction `db` is.
pub async fn advisory_xact_lock<C: ConnectionTrait>(db: &C, key: i64) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// Sends `payload` on notification channel `channel` (delivered at the commit of the
/// transaction `db` is, at once outside one).
pub async fn notify<C: ConnectionTrait>(db: &C, channel: &str, payload: &str) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}
