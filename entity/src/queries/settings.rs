//! Server settings kept in the database, shared by every node: the bootstrap marker, subsystem
//! settings and generated secrets.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::queries::{QueryError, QueryResult, now_ms};
use crate::schema::settings;

/// The value of `key`, if set.
pub async fn get<C: ConnectionTrait>(db: &C, key: &str) -> QueryResult<Option<String>> {
    Ok(settings::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|s| s.value))
}

/// Sets `key` to `value`, replacing any earlier value.
pub async fn set<C: ConnectionTrait>(db: &C, key: &str, value: &str) -> QueryResult<()> {
    let existing = settings::Entity::find_by_id(key.to_owned()).one(db).await?;
    let active = settings::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now_ms()),
    };
    if existing.is_some() {
        active.update(db).await?;
    } else {
        active.insert(db).await?;
    }
    Ok(())
}

/// Sets `key` only when it is not set yet; returns `false` when it was already set (also when
/// another writer set it at the same moment).
pub async fn set_once<C: ConnectionTrait>(db: &C, key: &str, value: &str) -> QueryResult<bool> {
    if get(db, key).await?.is_some() {
        return Ok(false);
    }
    let inserted = settings::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now_ms()),
    }
    .insert(db)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match QueryError::conflict_or(e, "setting", key) {
            QueryError::Conflict { .. } => Ok(false),
            other => Err(other),
        },
    }
}
