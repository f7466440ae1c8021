//! The part of a credential lookup shared by application keys and sessions: the credential's
//! user, the change sequence and the value sequence, joined into the statement that reads the
//! credential, whose SQL is rendered once per backend.

use std::sync::OnceLock;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, SelectStatement};
use sea_orm::{DbBackend, EntityTrait, FromQueryResult, IdenStatic, Iterable, Statement};

use crate::queries::QueryResult;
use crate::queries::users::UserRow;
use crate::schema::{change_sequence, entities, users};

/// The user a credential (an application key, a session) acts as, as authentication needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialUser {
    /// The user's entity id.
    pub id: i64,
    /// Its entity name.
    pub name: String,
    /// The collection of its entity (`Users` for a user).
    pub collection: String,
    /// Its user row (state, lock, last password change).
    pub user: UserRow,
}

const USER_PREFIX: &str = "u_";
const USER_NAME: &str = "e_name";
const USER_COLLECTION: &str = "e_collection";
const SEQUENCE: &str = "change_seq";
const VALUE_SEQUENCE: &str = "value_seq";
const VALUE_SEQUENCE_TABLE: &str = "value_sequence";

/// The two counters a server process compares with what it holds in memory: the change
/// sequence (every change to the security model and the Thing model) and the value sequence
/// (every property value written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequences {
    /// The change sequence value.
    pub changes: i64,
    /// The value sequence value.
    pub values: i64,
}

/// The statement `build(value)` for `backend`. When `value` is its only bound value, its SQL
/// is rendered once per backend (SQLite and PostgreSQL) and kept in `cache`, and only the value
/// changes from call to call.
pub(crate) fn cached_statement(
    cache: &'static [OnceLock<Option<String>>; 2],
    backend: DbBackend,
    build: fn(&str) -> SelectStatement,
    value: &str,
) -> Statement {
    let cell = match backend {
        DbBackend::Postgres => &cache[0],
        DbBackend::Sqlite => &cache[1],
        _ => return backend.build(&build(value)),
    };
    let sql = cell.get_or_init(|| {
        let probe = backend.build(&build(""));
        let one_value = probe.values.as_ref().is_some_and(|v| v.0.len() == 1);
        one_value.then_some(probe.sql)
    });
    match sql {
        Some(sql) => Statement::from_sql_and_values(backend, sql.as_str(), [value.into()]),
        None => backend.build(&build(value)),
    }
}

/// Selects every column of `E` as `<prefix><column>`.
pub(crate) fn select_all<E: EntityTrait>(query: &mut SelectStatement, prefix: &str) {
    for column in E::Column::iter() {
        query.expr_as(
            Expr::col((E::default(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

/// Adds to `query` the user whose entity id is `user_id` (its user row, name and collection)
/// and both [`Sequences`], read by the same statement. All are outer joins: a missing user
/// reads as none, a missing sequence row as 0 (as [`crate::queries::audit::current_sequence`]).
pub(crate) fn join_user_and_sequence(query: &mut SelectStatement, user_id: Expr) {
    select_all::<users::Entity>(query, USER_PREFIX);
    query
        .expr_as(
            Expr::col((entities::Entity, entities::Column::Name)),
            Alias::new(USER_NAME),
        )
        .expr_as(
            Expr::col((entities::Entity, entities::Column::Collection)),
            Alias::new(USER_COLLECTION),
        )
        .expr_as(
            Expr::col((change_sequence::Entity, change_sequence::Column::Value)),
            Alias::new(SEQUENCE),
        )
        .expr_as(
            Expr::col((Alias::new(VALUE_SEQUENCE_TABLE), Alias::new("value"))),
            Alias::new(VALUE_SEQUENCE),
        )
        .left_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::EntityId)).eq(user_id),
        )
        .left_join(
            entities::Entity,
            Expr::col((entities::Entity, entities::Column::Id))
                .eq(Expr::col((users::Entity, users::Column::EntityId))),
        )
        .left_join(
            change_sequence::Entity,
            // A literal, not a bound value: the credential is the statement's only value.
            Expr::col((change_sequence::Entity, change_sequence::Column::Id)).eq(Expr::cust("1")),
        )
        .left_join(
            Alias::new(VALUE_SEQUENCE_TABLE),
            Expr::col((Alias::new(VALUE_SEQUENCE_TABLE), Alias::new("id"))).eq(Expr::cust("1")),
        );
}

/// Reads what [`join_user_and_sequence`] added to a row.
pub(crate) fn read_user_and_sequence(
    row: &sea_orm::QueryResult,
) -> QueryResult<(Option<CredentialUser>, Sequences)> {
    let user = Option::<UserRow>::from_query_result(row, USER_PREFIX)?;
    let name: Option<String> = row.try_get("", USER_NAME)?;
    let collection: Option<String> = row.try_get("", USER_COLLECTION)?;
    let sequence: Option<i64> = row.try_get("", SEQUENCE)?;
    let values: Option<i64> = row.try_get("", VALUE_SEQUENCE)?;
    let user = match (user, name, collection) {
        (Some(user), Some(name), Some(collection)) => Some(CredentialUser {
            id: user.entity_id,
            name,
            collection,
            user,
        }),
        _ => None,
    };
    let sequences = Sequences {
        changes: sequence.unwrap_or(0),
        values: values.unwrap_or(0),
    };
    Ok((user, sequences))
}

/// Both [`Sequences`] now, in one statement (for a credential read without them).
pub async fn read_sequences<C: sea_orm::ConnectionTrait>(db: &C) -> QueryResult<Sequences> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT (SELECT value FROM change_sequence WHERE id = 1) AS change_seq, \
             (SELECT value FROM value_sequence WHERE id = 1) AS value_seq",
        ))
        .await?;
    let Some(row) = row else {
        return Ok(Sequences::default());
    };
    let changes: Option<i64> = row.try_get("", SEQUENCE)?;
    let values: Option<i64> = row.try_get("", VALUE_SEQUENCE)?;
    Ok(Sequences {
        changes: changes.unwrap_or(0),
        values: values.unwrap_or(0),
    })
}
