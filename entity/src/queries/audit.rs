//! The change sequence and the append-only audit log. Every security change bumps the single-row
//! sequence in the same transaction as the change, so the sequence orders commits: a node that has
//! seen value `n` has seen every change up to `n`.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::Value as Json;

use crate::queries::{QueryError, QueryResult, now_ms};
use crate::schema::{audit_log, change_sequence};

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
    /// Through which door it was made (`REST <service>`, `import`, `cli`, `console`).
    pub door: String,
    /// The client address of the request that made it, when there was one.
    pub address: String,
}

impl Change {
    /// `actor`'s change `action` of the entity `name` of `collection`, with `detail`; the door
    /// and address come from the task's [`Origin`].
    pub fn on(
        actor: &str,
        action: &str,
        collection: crate::vocab::Collection,
        name: &str,
        detail: impl Into<Option<Json>>,
    ) -> Change {
        Change {
            target_collection: collection.as_str().to_owned(),
            target_name: name.to_owned(),
            ..Change::by(actor, action, detail)
        }
    }

    /// `actor`'s action `action` on no one entity (a bootstrap step, an import), with
    /// `detail`.
    pub fn by(actor: &str, action: &str, detail: impl Into<Option<Json>>) -> Change {
        Change {
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.into(),
            ..Default::default()
        }
    }
}

/// Where the changes of the current task come from: the door and the client address, recorded
/// on every audit row whose [`Change`] leaves them empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// `REST <service>`, `import`, `cli`, `console`.
    pub door: String,
    /// The client address, when there is one.
    pub address: String,
}

tokio::task_local! {
    /// The origin of the changes the current task makes (set by each door around its work).
    pub static ORIGIN: Origin;
}

/// This server process, as the audit log names it: `<pid>@<host>`.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{}@{host}", std::process::id())
}

/// Bumps the change sequence and appends `change` to the audit log; returns the new sequence
/// value. Call it inside the transaction that makes the change.
pub async fn record<C: ConnectionTrait>(db: &C, change: &Change) -> QueryResult<i64> {
    let seq = bump_sequence(db).await?;
    let origin = ORIGIN.try_with(Origin::clone).unwrap_or_default();
    let or = |own: &str, task: String| {
        if own.is_empty() { task } else { own.to_owned() }
    };
    audit_log::ActiveModel {
        at: Set(now_ms()),
        change_seq: Set(seq),
        actor: Set(change.actor.clone()),
        action: Set(change.action.clone()),
        target_collection: Set(change.target_collection.clone()),
        target_name: Set(change.target_name.clone()),
        detail: Set(change.detail.clone()),
        door: Set(or(&change.door, origin.door)),
        address: Set(or(&change.address, origin.address)),
        process: Set(process_name()),
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
    // A trigger stamps what the transaction touched with `value`, in this same statement.
    let value = row.try_get_by_index::<i64>(0)?;
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

/// Which audit rows [`history`] reads: every field left empty keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Only rows recorded at or after this instant (milliseconds since the epoch).
    pub since: Option<i64>,
    /// Only rows recorded at or before this instant (milliseconds since the epoch).
    pub until: Option<i64>,
    /// Only changes made by this user.
    pub actor: Option<String>,
    /// Only changes of this entity (collection, name).
    pub target: Option<(String, String)>,
    /// Only rows older than this row id (the page before it).
    pub before_id: Option<i64>,
    /// At most this many rows.
    pub limit: u64,
}

/// The audit rows `query` selects, newest first.
pub async fn history<C: ConnectionTrait>(db: &C, query: &History) -> QueryResult<Vec<AuditRow>> {
    let mut select = audit_log::Entity::find();
    if let Some(since) = query.since {
        select = select.filter(audit_log::Column::At.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(audit_log::Column::At.lte(until));
    }
    if let Some(actor) = &query.actor {
        select = select.filter(audit_log::Column::Actor.eq(actor.as_str()));
    }
    if let Some((collection, name)) = &query.target {
        select = select
            .filter(audit_log::Column::TargetCollection.eq(collection.as_str()))
            .filter(audit_log::Column::TargetName.eq(name.as_str()));
    }
    if let Some(before) = query.before_id {
        select = select.filter(audit_log::Column::Id.lt(before));
    }
    Ok(select
        .order_by_desc(audit_log::Column::Id)
        .limit(query.limit)
        .all(db)
        .await?)
}
