//! Application keys: an entity with an owner user, an expiration, a client name and an IP
//! whitelist. The key itself is stored only as a hash (and optionally sealed for `GetKeyID`).
//! Authentication reads a key with its user and the change sequence in one statement
//! ([`find_credential`]); the user part of that statement is in [`crate::queries::credentials`].

use std::sync::OnceLock;

use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult,
    QueryFilter,
};

use crate::queries::credentials::{
    CredentialUser, Sequences, cached_statement, join_user_and_sequence, read_user_and_sequence,
    select_all,
};
use crate::queries::entities::{EntityFields, EntityRow, get_entity, insert_entity};
use crate::queries::{QueryError, QueryResult};
use crate::schema::application_keys;
use crate::vocab::Collection;

pub use crate::schema::application_keys::Model as AppKeyRow;

/// An application key to create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewAppKey {
    /// The entity name.
    pub name: String,
    /// Common entity attributes.
    pub fields: EntityFields,
    /// The hash of the key id, `None` for a key whose secret was blanked in an export.
    pub key_hash: Option<String>,
    /// The key id sealed with the server's key, so `GetKeyID` can show it to those allowed.
    pub key_sealed: Option<String>,
    /// The user the key acts as.
    pub user_id: Option<i64>,
    /// When it expires (epoch ms); `None` never.
    pub expiration_date: Option<i64>,
    /// The client using it.
    pub client_name: String,
    /// Comma-separated addresses, wildcards or CIDR blocks; blank means any address.
    pub ip_whitelist: String,
}

/// An application key: its entity row and its key row.
#[derive(Clone, Debug, PartialEq)]
pub struct AppKeyRecord {
    /// The entity row.
    pub entity: EntityRow,
    /// The key row.
    pub key: AppKeyRow,
}

/// Creates an application key.
pub async fn create_app_key<C: ConnectionTrait>(
    db: &C,
    new: &NewAppKey,
) -> QueryResult<AppKeyRecord> {
    let entity = insert_entity(db, Collection::ApplicationKeys, &new.name, &new.fields).await?;
    let key = application_keys::ActiveModel {
        entity_id: Set(entity.id),
        key_hash: Set(new.key_hash.clone()),
        key_sealed: Set(new.key_sealed.clone()),
        user_id: Set(new.user_id),
        expiration_date: Set(new.expiration_date),
        client_name: Set(new.client_name.clone()),
        ip_whitelist: Set(new.ip_whitelist.clone()),
        last_used_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(|e| QueryError::conflict_or(e, "application key id", &new.name))?;
    Ok(AppKeyRecord { entity, key })
}

/// The application key `name`.
pub async fn get_app_key<C: ConnectionTrait>(db: &C, name: &str) -> QueryResult<AppKeyRecord> {
    let entity = get_entity(db, Collection::ApplicationKeys, name).await?;
    let key = application_keys::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::ApplicationKeys, name))?;
    Ok(AppKeyRecord { entity, key })
}

/// The key row whose hash is `key_hash`, if any.
pub async fn find_by_hash<C: ConnectionTrait>(
    db: &C,
    key_hash: &str,
) -> QueryResult<Option<AppKeyRow>> {
    Ok(application_keys::Entity::find()
        .filter(application_keys::Column::KeyHash.eq(key_hash))
        .one(db)
        .await?)
}

/// Writes a key row back as given.
pub async fn save_app_key<C: ConnectionTrait>(db: &C, key: &AppKeyRow) -> QueryResult<AppKeyRow> {
    let active: application_keys::ActiveModel = key.clone().into();
    Ok(active.reset_all().update(db).await?)
}

/// Records the last use of a key; writes nothing else, so a change made to the key meanwhile
/// (expiration, whitelist, user) is kept.
pub async fn touch_app_key<C: ConnectionTrait>(db: &C, entity_id: i64, at: i64) -> QueryResult<()> {
    application_keys::ActiveModel {
        entity_id: sea_orm::ActiveValue::Unchanged(entity_id),
        last_used_at: Set(Some(at)),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// An application key as authentication reads it, in one statement: the key row, its user
/// (when the key has one and it exists) and the change sequence at that moment.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCredential {
    /// The key row.
    pub key: AppKeyRow,
    /// Its user.
    pub user: Option<CredentialUser>,
    /// The sequences read by the same statement.
    pub sequence: Sequences,
}

const KEY_PREFIX: &str = "k_";

/// The key whose hash is `key_hash`, with its user and the change sequence, in one statement.
pub async fn find_credential<C: ConnectionTrait>(
    db: &C,
    key_hash: &str,
) -> QueryResult<Option<KeyCredential>> {
    static SQL: [OnceLock<Option<String>>; 2] = [OnceLock::new(), OnceLock::new()];
    let statement = cached_statement(&SQL, db.get_database_backend(), key_query, key_hash);
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let key = AppKeyRow::from_query_result(&row, KEY_PREFIX)?;
    let (user, sequence) = read_user_and_sequence(&row)?;
    Ok(Some(KeyCredential {
        key,
        user,
        sequence,
    }))
}

fn key_query(key_hash: &str) -> SelectStatement {
    let mut query = Query::select();
    select_all::<application_keys::Entity>(&mut query, KEY_PREFIX);
    query.from(application_keys::Entity).and_where(
        Expr::col((application_keys::Entity, application_keys::Column::KeyHash)).eq(key_hash),
    );
    join_user_and_sequence(
        &mut query,
        Expr::col((application_keys::Entity, application_keys::Column::UserId)),
    );
    query
}

/// The key row of entity `entity_id`, if there is one.
pub async fn key_row<C: ConnectionTrait>(db: &C, entity_id: i64) -> QueryResult<Option<AppKeyRow>> {
    Ok(application_keys::Entity::find_by_id(entity_id)
        .one(db)
        .await?)
}
