//! The part of a credential lookup shared by application keys and sessions: the credential's
//! user and the change sequence, joined into the statement that reads the credential, whose SQL
//! is rendered once per backend.

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
/// and the change sequence, read by the same statement. Both are outer joins: a missing user
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
        );
}

/// Reads what [`join_user_and_sequence`] added to a row.
pub(crate) fn read_user_and_sequence(
    row: &sea_orm::QueryResult,
) -> QueryResult<(Option<CredentialUser>, i64)> {
    let user = Option::<UserRow>::from_query_result(row, USER_PREFIX)?;
    let name: Option<String> = row.try_get("", USER_NAME)?;
    let collection: Option<String> = row.try_get("", USER_COLLECTION)?;
    let sequence: Option<i64> = row.try_get("", SEQUENCE)?;
    let user = match (user, name, collection) {
        (Some(user), Some(name), Some(collection)) => Some(CredentialUser {
            id: user.entity_id,
            name,
            collection,
            user,
        }),
        _ => None,
    };
    Ok((user, sequence.unwrap_or(0)))
}
