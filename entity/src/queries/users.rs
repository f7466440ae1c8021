//! Users: creation (every new user joins `Users`), credentials as stored hashes, enabled and
//! locked state, failed-login counters, language preferences and extension values.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ActiveValue::Unchanged, ColumnTrait, ConnectionTrait,
    EntityTrait, QueryFilter, QuerySelect,
};

use crate::queries::entities::{EntityFields, EntityRow, find_entity, insert_entity};
use crate::queries::{QueryError, QueryResult, groups};
use crate::schema::{user_extension_values, users};
use crate::vocab::{Collection, MemberType};

pub use crate::schema::users::Model as UserRow;

/// The algorithm name of a password hashed by the server (a PHC string).
pub const ARGON2ID: &str = "argon2id";
/// The algorithm name of a password imported from ThingWorx (`iterations:salt:hash` in hex).
pub const PBKDF2_SHA512: &str = "PBKDF2WithHmacSHA512";
/// The group every new user joins.
pub const ALL_USERS_GROUP: &str = "Users";

/// The most memory (KiB), passes and lanes an argon2id hash may state to be verified: four
/// times the server's own memory and a few times its passes. A hash stating more (an import
/// can carry any) is never verified, since every guess at its password would pay that cost.
pub const ARGON2_MAX_COST: Argon2Cost = Argon2Cost {
    memory_kib: 4 * 19_456,
    passes: 8,
    lanes: 4,
};

/// What an argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) states its cost to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// `m`: memory in KiB.
    pub memory_kib: u64,
    /// `t`: passes over the memory.
    pub passes: u64,
    /// `p`: lanes.
    pub lanes: u64,
}

impl Argon2Cost {
    /// The cost `phc` states; `None` when it states none that can be read.
    pub fn of(phc: &str) -> Option<Argon2Cost> {
        let params = phc.split('$').find(|part| part.starts_with("m="))?;
        let mut cost = Argon2Cost {
            memory_kib: 0,
            passes: 0,
            lanes: 0,
        };
        for pair in params.split(',') {
            let (key, value) = pair.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match key {
                "m" => cost.memory_kib = value,
                "t" => cost.passes = value,
                "p" => cost.lanes = value,
                _ => {}
            }
        }
        Some(cost)
    }

    /// Whether this cost stays within [`ARGON2_MAX_COST`].
    pub fn is_bounded(&self) -> bool {
        self.memory_kib <= ARGON2_MAX_COST.memory_kib
            && self.passes <= ARGON2_MAX_COST.passes
            && self.lanes <= ARGON2_MAX_COST.lanes
    }
}

/// A stored password: the hash and the parameters needed to verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordRecord {
    /// The hash: an argon2id PHC string, or ThingWorx's `iterations:salt:hash`.
    pub hash: String,
    /// [`ARGON2ID`] or [`PBKDF2_SHA512`].
    pub algorithm: String,
    /// PBKDF2 iterations (0 for argon2id, whose parameters live in the PHC string).
    pub iterations: i32,
    /// PBKDF2 salt size in bytes.
    pub salt_bytes: i32,
    /// PBKDF2 hash size in bytes.
    pub hash_bytes: i32,
}

impl PasswordRecord {
    /// An argon2id PHC string.
    pub fn argon2id(phc: String) -> Self {
        PasswordRecord {
            hash: phc,
            algorithm: ARGON2ID.to_owned(),
            iterations: 0,
            salt_bytes: 0,
            hash_bytes: 0,
        }
    }
}

/// A user to create.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    /// The user name (an e-mail address is fine; no `& : / +`).
    pub name: String,
    /// Common entity attributes.
    pub fields: EntityFields,
    /// The password, already hashed; `None` for users without a local password.
    pub password: Option<PasswordRecord>,
    /// Disabled users cannot authenticate.
    pub disabled: bool,
    /// `false` for users nobody may log in as (`System`).
    pub login_forbidden: bool,
    /// Preferred languages, best first, comma separated.
    pub language_preferences: String,
    /// The mashup shown on mobile devices.
    pub mobile_mashup: String,
}

/// A user: its entity row and its user row.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    /// The entity row (name, description, tags, …).
    pub entity: EntityRow,
    /// The user row (credentials and state).
    pub user: UserRow,
}

/// Creates a user and adds it to the `Users` group when that group exists.
pub async fn create_user<C: ConnectionTrait>(db: &C, new: &NewUser) -> QueryResult<UserRecord> {
    let entity = insert_entity(db, Collection::Users, &new.name, &new.fields).await?;
    let password = new.password.clone();
    let user = users::ActiveModel {
        entity_id: Set(entity.id),
        enabled: Set(!new.disabled),
        locked: Set(false),
        locked_until: Set(None),
        login_allowed: Set(!new.login_forbidden),
        password_hash: Set(password.as_ref().map(|p| p.hash.clone())),
        password_algorithm: Set(password
            .as_ref()
            .map(|p| p.algorithm.clone())
            .unwrap_or_default()),
        password_iterations: Set(password.as_ref().map_or(0, |p| p.iterations)),
        password_salt_bytes: Set(password.as_ref().map_or(0, |p| p.salt_bytes)),
        password_hash_bytes: Set(password.as_ref().map_or(0, |p| p.hash_bytes)),
        password_changed_at: Set(password.as_ref().map(|_| entity.created_at)),
        language_preferences: Set(new.language_preferences.clone()),
        failed_login_count: Set(0),
        failed_login_window_start: Set(None),
        last_login_at: Set(None),
        mobile_mashup: Set(new.mobile_mashup.clone()),
        scim_id: Set(String::new()),
        scim_external_id: Set(String::new()),
    }
    .insert(db)
    .await?;
    if find_entity(db, Collection::Groups, ALL_USERS_GROUP)
        .await?
        .is_some()
    {
        groups::add_member(db, ALL_USERS_GROUP, &new.name, MemberType::User).await?;
    }
    Ok(UserRecord { entity, user })
}

/// The user `name`, if it exists (one query: the entity row joined with the user row).
pub async fn find_user<C: ConnectionTrait>(db: &C, name: &str) -> QueryResult<Option<UserRecord>> {
    let found = crate::schema::entities::Entity::find()
        .filter(crate::schema::entities::Column::Collection.eq(Collection::Users.as_str()))
        .filter(crate::schema::entities::Column::Name.eq(name))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    match found {
        None => Ok(None),
        Some((entity, Some(user))) => Ok(Some(UserRecord { entity, user })),
        Some((_, None)) => Err(QueryError::not_found(Collection::Users, name)),
    }
}

/// The user `name`, or a not-found error.
pub async fn get_user<C: ConnectionTrait>(db: &C, name: &str) -> QueryResult<UserRecord> {
    find_user(db, name)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::Users, name))
}

/// Writes a user row back as given (state, counters, preferences, SCIM ids).
pub async fn save_user<C: ConnectionTrait>(db: &C, user: &UserRow) -> QueryResult<UserRow> {
    let mut active: users::ActiveModel = user.clone().into();
    active.entity_id = Unchanged(user.entity_id);
    Ok(active.reset_all().update(db).await?)
}

/// Replaces the stored password of a user.
pub async fn set_password<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    password: &PasswordRecord,
    at: i64,
) -> QueryResult<()> {
    users::ActiveModel {
        entity_id: Unchanged(user_id),
        password_hash: Set(Some(password.hash.clone())),
        password_algorithm: Set(password.algorithm.clone()),
        password_iterations: Set(password.iterations),
        password_salt_bytes: Set(password.salt_bytes),
        password_hash_bytes: Set(password.hash_bytes),
        password_changed_at: Set(Some(at)),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// The stored password of a user, when it has one.
pub fn password_of(user: &UserRow) -> Option<PasswordRecord> {
    user.password_hash.as_ref().map(|hash| PasswordRecord {
        hash: hash.clone(),
        algorithm: user.password_algorithm.clone(),
        iterations: user.password_iterations,
        salt_bytes: user.password_salt_bytes,
        hash_bytes: user.password_hash_bytes,
    })
}

/// Enables or disables a user.
pub async fn set_enabled<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    enabled: bool,
) -> QueryResult<()> {
    users::ActiveModel {
        entity_id: Unchanged(user_id),
        enabled: Set(enabled),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Locks a user (until `until`, or until unlocked when `None`), or unlocks it and clears its
/// failed-login counter.
pub async fn set_locked<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    locked: bool,
    until: Option<i64>,
) -> QueryResult<()> {
    let mut active = users::ActiveModel {
        entity_id: Unchanged(user_id),
        locked: Set(locked),
        locked_until: Set(if locked { until } else { None }),
        ..Default::default()
    };
    if !locked {
        active.failed_login_count = Set(0);
        active.failed_login_window_start = Set(None);
    }
    active.update(db).await?;
    Ok(())
}

/// Sets the preferred languages of a user (best first, comma separated).
pub async fn set_language_preferences<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    preferences: &str,
) -> QueryResult<()> {
    users::ActiveModel {
        entity_id: Unchanged(user_id),
        language_preferences: Set(preferences.to_owned()),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Every user, by name.
pub async fn list_users<C: ConnectionTrait>(db: &C) -> QueryResult<Vec<UserRecord>> {
    let entities = crate::queries::entities::list_entities(db, Collection::Users).await?;
    let mut users_by_id: std::collections::HashMap<i64, UserRow> = users::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.entity_id, u))
        .collect();
    Ok(entities
        .into_iter()
        .filter_map(|entity| {
            users_by_id
                .remove(&entity.id)
                .map(|user| UserRecord { entity, user })
        })
        .collect())
}

/// The user row of entity `entity_id`, if there is one.
pub async fn user_row<C: ConnectionTrait>(db: &C, entity_id: i64) -> QueryResult<Option<UserRow>> {
    Ok(users::Entity::find_by_id(entity_id).one(db).await?)
}

/// The user row of entity `entity_id` read for update inside a transaction: a row lock on
/// PostgreSQL (SQLite's write transaction already holds the database's write lock).
pub async fn user_row_for_update<C: ConnectionTrait>(
    txn: &C,
    entity_id: i64,
) -> QueryResult<Option<UserRow>> {
    let mut query = users::Entity::find_by_id(entity_id);
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.one(txn).await?)
}

/// Deletes the extension values of user `user_id` (a newer version replaces them all).
pub async fn delete_extension_values<C: ConnectionTrait>(db: &C, user_id: i64) -> QueryResult<()> {
    let column = user_extension_values::Column::UserId;
    crate::queries::bulk::delete_where::<_, user_extension_values::Entity>(db, column, user_id)
        .await?;
    Ok(())
}
