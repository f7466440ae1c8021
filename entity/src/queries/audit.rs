//! The change sequence and the append-only audit log. Every security change bumps the single-row
//! sequence in the same transaction as the change, so the sequence orders commits: a node that has
//! seen value `n` has seen every change up to `n`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, Statement,
};
use serde_json::Value as Json;

use crate::queries::{QueryError, QueryResult, now_ms};
use crate::schema::{audit_log, change_sequence, fact_changes};

pub use crate::schema::audit_log::Model as AuditRow;

/// The PostgreSQL notification channel that carries every new change sequence value.
pub const CHANGE_CHANNEL: &str = "ironworx_changes";

/// One security change to record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    /// Who made it (a user name, `System` for the server itself).
    pub actor: String,
    /// What was done (`AddRunTimePermission`, `AddMember`, `Bootstrap`, …).
    pub action: String,
    /// The collection of the changed entity, when there is one.
    pub target_collection: String,
    /// The changed entity's name, when there is one.
    pub target_name: String,
    /// The parameters of the change (never a secret).
    pub detail: Option<Json>,
}

/// Bumps the change sequence and appends `change` to the audit log; returns the new sequence
/// value. Call it inside the transaction that makes the change.
pub async fn record<C: ConnectionTrait>(db: &C, change: &Change) -> QueryResult<i64> {
    let seq = bump_sequence(db).await?;
    audit_log::ActiveModel {
        at: Set(now_ms()),
        change_seq: Set(seq),
        actor: Set(change.actor.clone()),
        action: Set(change.action.clone()),
        target_collection: Set(change.target_collection.clone()),
        target_name: Set(change.target_name.clone()),
        detail: Set(change.detail.clone()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(seq)
}

/// Bumps the change sequence without an audit row (for changes that are not security changes
/// but still invalidate in-memory state, such as an entity definition edit); returns the new value.
pub async fn bump_sequence<C: ConnectionTrait>(db: &C) -> QueryResult<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "UPDATE change_sequence SET value = value + 1 WHERE id = 1 RETURNING value",
        ))
        .await?
        .ok_or_else(|| QueryError::Refused("the change sequence row is missing".into()))?;
    let value = row.try_get_by_index::<i64>(0)?;
    stamp_fact_changes(db, value).await?;
    if backend == DbBackend::Postgres {
        // Delivered at commit, to every server process listening on this database.
        db.execute_raw(Statement::from_string(
            backend,
            format!("NOTIFY {CHANGE_CHANNEL}, '{value}'"),
        ))
        .await?;
    }
    Ok(value)
}

/// How many change sequence values `fact_changes` keeps: a process whose index is older than
/// that reads every fact again.
pub const FACT_CHANGES_KEPT: i64 = 1_000;

/// Gives what this transaction's changes touched (the rows its triggers added to
/// `fact_changes`) the sequence value `value`, and drops what is older than
/// [`FACT_CHANGES_KEPT`] values. Other transactions' rows are not visible until they commit,
/// and each stamps its own when it bumps. When something other than rules changed (a row for
/// entity 0), one row says so in place of all of them: a reader reads everything anyway.
async fn stamp_fact_changes<C: ConnectionTrait>(db: &C, value: i64) -> QueryResult<()> {
    let pending = fact_changes::Column::Seq.is_null();
    let anything = fact_changes::Entity::find()
        .filter(pending.clone())
        .filter(fact_changes::Column::EntityId.eq(0))
        .one(db)
        .await?
        .is_some();
    if anything {
        fact_changes::Entity::delete_many()
            .filter(pending)
            .exec(db)
            .await?;
        fact_changes::ActiveModel {
            seq: Set(Some(value)),
            entity_id: Set(0),
            ..Default::default()
        }
        .insert(db)
        .await?;
    } else {
        fact_changes::Entity::update_many()
            .col_expr(fact_changes::Column::Seq, Expr::value(value))
            .filter(pending)
            .exec(db)
            .await?;
    }
    fact_changes::Entity::delete_many()
        .filter(fact_changes::Column::Seq.lte(value - FACT_CHANGES_KEPT))
        .exec(db)
        .await?;
    Ok(())
}

/// The current change sequence value.
pub async fn current_sequence<C: ConnectionTrait>(db: &C) -> QueryResult<i64> {
    Ok(change_sequence::Entity::find_by_id(1)
        .one(db)
        .await?
        .map(|r| r.value)
        .unwrap_or(0))
}

/// The audit rows after sequence `after`, oldest first.
pub async fn changes_since<C: ConnectionTrait>(db: &C, after: i64) -> QueryResult<Vec<AuditRow>> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::ChangeSeq.gt(after))
        .order_by_asc(audit_log::Column::Id)
        .all(db)
        .await?)
}
