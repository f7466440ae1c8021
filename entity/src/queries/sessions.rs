//! Login sessions: the server-side record behind a session token, so that logout, disabling a
//! user or changing its password ends the session at once on every node. Authentication reads
//! a session with its user and the change sequence in one statement ([`find_credential`]).

use std::sync::OnceLock;

use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder,
};

use crate::queries::QueryResult;
use crate::queries::credentials::{
    CredentialUser, Sequences, cached_statement, join_user_and_sequence, read_user_and_sequence,
    select_all,
};
use crate::schema::sessions;

pub use crate::schema::sessions::Model as SessionRow;

/// A session to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// The random id the signed token carries.
    pub token_id: String,
    /// The user.
    pub user_id: i64,
    /// The organization whose login page was used, or empty.
    pub organization: String,
    /// The client address.
    pub peer_addr: String,
    /// When it was opened (epoch ms).
    pub created_at: i64,
    /// When it ends at the latest (epoch ms).
    pub expires_at: i64,
}

/// Opens a session.
pub async fn open_session<C: ConnectionTrait>(db: &C, new: &NewSession) -> QueryResult<SessionRow> {
    Ok(sessions::ActiveModel {
        token_id: Set(new.token_id.clone()),
        user_id: Set(new.user_id),
        organization: Set(new.organization.clone()),
        peer_addr: Set(new.peer_addr.clone()),
        created_at: Set(new.created_at),
        last_seen_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The session with this token id, revoked or not.
pub async fn find_session<C: ConnectionTrait>(
    db: &C,
    token_id: &str,
) -> QueryResult<Option<SessionRow>> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::TokenId.eq(token_id))
        .one(db)
        .await?)
}

/// A session as authentication reads it, in one statement: the session row, its user (when it
/// exists) and the change sequence at that moment.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionCredential {
    /// The session row, revoked or not.
    pub session: SessionRow,
    /// Its user.
    pub user: Option<CredentialUser>,
    /// The sequences read by the same statement.
    pub sequence: Sequences,
}

const SESSION_PREFIX: &str = "s_";

/// The session with this token id, with its user and the change sequence, in one statement.
pub async fn find_credential<C: ConnectionTrait>(
    db: &C,
    token_id: &str,
) -> QueryResult<Option<SessionCredential>> {
    static SQL: [OnceLock<Option<String>>; 2] = [OnceLock::new(), OnceLock::new()];
    let statement = cached_statement(&SQL, db.get_database_backend(), session_query, token_id);
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let session = SessionRow::from_query_result(&row, SESSION_PREFIX)?;
    let (user, sequence) = read_user_and_sequence(&row)?;
    Ok(Some(SessionCredential {
        session,
        user,
        sequence,
    }))
}

fn session_query(token_id: &str) -> SelectStatement {
    let mut query = Query::select();
    select_all::<sessions::Entity>(&mut query, SESSION_PREFIX);
    query
        .from(sessions::Entity)
        .and_where(Expr::col((sessions::Entity, sessions::Column::TokenId)).eq(token_id));
    join_user_and_sequence(
        &mut query,
        Expr::col((sessions::Entity, sessions::Column::UserId)),
    );
    query
}

/// Records activity on a session.
pub async fn touch_session<C: ConnectionTrait>(db: &C, id: i64, at: i64) -> QueryResult<()> {
    sessions::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        last_seen_at: Set(at),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Revokes the open sessions `filter` selects; returns how many were open.
async fn revoke_where<C: ConnectionTrait>(db: &C, filter: Condition, at: i64) -> QueryResult<u64> {
    let res = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(at))
        .filter(filter)
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Revokes one session; returns whether it was open.
pub async fn revoke_session<C: ConnectionTrait>(
    db: &C,
    token_id: &str,
    at: i64,
) -> QueryResult<bool> {
    let filter = Condition::all().add(sessions::Column::TokenId.eq(token_id));
    Ok(revoke_where(db, filter, at).await? > 0)
}

/// Revokes every open session of a user; returns how many were open.
pub async fn revoke_user_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    at: i64,
) -> QueryResult<u64> {
    revoke_where(
        db,
        Condition::all().add(sessions::Column::UserId.eq(user_id)),
        at,
    )
    .await
}

/// Revokes the session of row `id` when it belongs to `user_id` and is open; returns whether
/// it was.
pub async fn revoke_user_session<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    id: i64,
    at: i64,
) -> QueryResult<bool> {
    let filter = Condition::all()
        .add(sessions::Column::Id.eq(id))
        .add(sessions::Column::UserId.eq(user_id));
    Ok(revoke_where(db, filter, at).await? > 0)
}

/// The sessions of a user `filter` selects, newest first.
async fn sessions_of<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    filter: Condition,
) -> QueryResult<Vec<SessionRow>> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(filter)
        .order_by_desc(sessions::Column::Id)
        .all(db)
        .await?)
}

/// Every session of a user, newest first.
pub async fn user_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> QueryResult<Vec<SessionRow>> {
    sessions_of(db, user_id, Condition::all()).await
}

/// The sessions of a user not ended by a logout, a revocation or their lifetime at `now`,
/// newest first. Idle sessions are among them: the idle limit is a setting of the server.
pub async fn open_user_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    now: i64,
) -> QueryResult<Vec<SessionRow>> {
    let open = Condition::all()
        .add(sessions::Column::RevokedAt.is_null())
        .add(sessions::Column::ExpiresAt.gt(now));
    sessions_of(db, user_id, open).await
}
