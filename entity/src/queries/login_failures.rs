//! Failed password logins per user and client address: the counter of a window, the lock it
//! sets for that address alone, and their removal (a successful login from the address, an
//! unlock of the user). Stored in the database, so every server process counts together.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};

use crate::queries::QueryResult;
use crate::schema::login_failures::{self, Column, Entity};

pub use crate::schema::login_failures::Model as LoginFailureRow;

/// When failed logins lock a user for one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Failures within the window that lock (at least 1).
    pub attempts: u32,
    /// The window failures are counted over, in milliseconds.
    pub window_ms: i64,
    /// How long a lock lasts, in milliseconds; `None`: until the user is unlocked.
    pub lock_ms: Option<i64>,
}

/// What counting one failure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// The failure was counted; the address is not locked.
    Counted,
    /// This failure locked the user for the address.
    Locked,
    /// The address was locked already.
    AlreadyLocked,
}

/// Whether `row` locks its address at `now` (a lock until `i64::MAX` lasts until unlocked).
pub fn is_locked(row: &LoginFailureRow, now: i64) -> bool {
    row.locked_until.is_some_and(|until| until > now)
}

/// The failures of `user_id` from `client`, if any are counted.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    client: &str,
) -> QueryResult<Option<LoginFailureRow>> {
    Ok(Entity::find_by_id((user_id, client.to_owned()))
        .one(db)
        .await?)
}

/// Counts one failed login of `user_id` from `client` under `policy`, and locks the user for
/// that address when the failures within the window reach the policy's attempts (a failure
/// after such a lock ends, while its window lasts, locks again). Rows of the
/// user whose window and lock have both ended are removed on the way, so the table holds only
/// addresses that failed recently. Call it inside a write transaction: on PostgreSQL the row
/// is locked until the transaction ends, so concurrent failures count one after the other.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    client: &str,
    now: i64,
    policy: FailurePolicy,
) -> QueryResult<Counted> {
    let window_start = now.saturating_sub(policy.window_ms);
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::WindowStart.lte(window_start))
        .filter(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?;
    Entity::insert(login_failures::ActiveModel {
        user_id: Set(user_id),
        client: Set(client.to_owned()),
        failures: Set(0),
        window_start: Set(now),
        locked_until: Set(None),
    })
    .on_conflict_do_nothing_on([Column::UserId, Column::Client])
    .exec_without_returning(db)
    .await?;
    let mut query = Entity::find_by_id((user_id, client.to_owned()));
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(db).await? else {
        return Ok(Counted::Counted);
    };
    if is_locked(&row, now) {
        return Ok(Counted::AlreadyLocked);
    }
    let mut active = row.clone().into_active_model();
    let failures = if row.window_start <= window_start {
        active.window_start = Set(now);
        1
    } else {
        row.failures.saturating_add(1)
    };
    active.failures = Set(failures);
    let attempts = i32::try_from(policy.attempts.max(1)).unwrap_or(i32::MAX);
    let counted = if failures >= attempts {
        let until = policy
            .lock_ms
            .map_or(i64::MAX, |lock| now.saturating_add(lock));
        active.locked_until = Set(Some(until));
        Counted::Locked
    } else {
        Counted::Counted
    };
    active.update(db).await?;
    Ok(counted)
}

/// Forgets the failures of `user_id` from `client` (a successful login from there).
pub async fn clear<C: ConnectionTrait>(db: &C, user_id: i64, client: &str) -> QueryResult<()> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Client.eq(client))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets every failure and address lock of `user_id` (the user is unlocked).
pub async fn clear_user<C: ConnectionTrait>(db: &C, user_id: i64) -> QueryResult<()> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
