//! A user's login sessions as services see them: the open ones listed under an opaque id (the
//! session's row id, which the signed token in the cookie neither carries nor can be derived
//! from), and ending one or all of them, each ending audited and recorded in the security log.
//! Another user's sessions are a security administrator's ([`Ctx::require_subject`]); one's own
//! are one's own, as `CurrentSessionInfo/TerminateUserSessions` is in ThingWorx.

use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::{now_ms, sessions, users};
use ironworx_entity::vocab::Collection;
use serde_json::json;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::state::AppState;

/// One open session of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSession {
    /// The opaque id that ends it ([`end_one`]); never usable as a credential.
    pub id: i64,
    /// When it was opened (epoch ms).
    pub created_at: i64,
    /// The last request it carried, to within a minute (epoch ms).
    pub last_seen_at: i64,
    /// When it ends at the latest (epoch ms).
    pub expires_at: i64,
    /// The client address it was opened from, or empty.
    pub address: String,
    /// The organization whose login page opened it, or empty.
    pub organization: String,
}

/// The user whose sessions a call is about: `named`, or the caller when none is named; another
/// user's needs a security administrator (checked here, once, for every door).
fn subject(ctx: &Ctx, named: Option<&str>, service: &str) -> Result<String, ApiError> {
    let name = named
        .filter(|n| !n.is_empty())
        .unwrap_or(&ctx.caller.name)
        .to_owned();
    ctx.require_subject(&name, service)?;
    Ok(name)
}

/// The row id and the name of the user `name`, or 400 when there is none (only a security
/// administrator gets this far with another user's name).
async fn user_row(state: &AppState, name: &str) -> Result<(i64, String), ApiError> {
    let record = users::find_user(&state.db, name)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{name}'")))?;
    Ok((record.entity.id, record.entity.name))
}

/// `GetUserSessions`: the open sessions of the user `named` (the caller when `None`), newest
/// first. Sessions idle longer than `--session-idle-minutes` are left out: they end on their
/// next use.
pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    named: Option<&str>,
) -> Result<Vec<OpenSession>, ApiError> {
    let name = subject(ctx, named, "GetUserSessions")?;
    let (id, _) = user_row(state, &name).await?;
    let now = now_ms();
    let idle = i64::try_from(
        state
            .config
            .auth
            .session_idle_minutes
            .saturating_mul(60_000),
    )
    .unwrap_or(i64::MAX);
    Ok(sessions::open_user_sessions(&state.db, id, now)
        .await?
        .into_iter()
        .filter(|s| now.saturating_sub(s.last_seen_at) <= idle)
        .map(|s| OpenSession {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            address: s.peer_addr,
            organization: s.organization,
        })
        .collect())
}

/// `TerminateUserSession`: ends the session `session` of the user `named` (the caller when
/// `None`); answers 1 when it was open, 0 when it had ended or is not that user's.
pub async fn end_one(
    state: &AppState,
    ctx: &Ctx,
    named: Option<&str>,
    session: i64,
) -> Result<u64, ApiError> {
    let (id, name) = user_row(state, &subject(ctx, named, "TerminateUserSession")?).await?;
    end(state, ctx, &name, "TerminateUserSession", async |txn| {
        let ended = sessions::revoke_user_session(txn, id, session, now_ms()).await?;
        Ok(u64::from(ended))
    })
    .await
}

/// `TerminateUserSessions`: ends every session of the user `named` (the caller when `None`);
/// answers how many were open.
pub async fn end_all(state: &AppState, ctx: &Ctx, named: Option<&str>) -> Result<u64, ApiError> {
    let (id, name) = user_row(state, &subject(ctx, named, "TerminateUserSessions")?).await?;
    end(state, ctx, &name, "TerminateUserSessions", async |txn| {
        Ok(sessions::revoke_user_sessions(txn, id, now_ms()).await?)
    })
    .await
}

/// Runs `revoke` in a transaction audited as `service` on the user `name`, then records the
/// sessions it ended in the security log.
async fn end(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    service: &'static str,
    revoke: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<u64, ApiError>,
) -> Result<u64, ApiError> {
    let txn = crate::db::begin_write(&state.db).await?;
    let ended = revoke(&txn).await?;
    let change = Change::on(
        &ctx.caller.name,
        service,
        Collection::Users,
        name,
        json!({ "ended": ended }),
    );
    audit::record(&txn, &change).await?;
    txn.commit().await.map_err(ApiError::internal)?;
    record_ended(state, &ctx.caller.name, name, service, ended).await;
    Ok(ended)
}

/// Records in the security log that `service`, called by `by`, ended `ended` sessions of the
/// user `user` (nothing when it ended none).
pub async fn record_ended(state: &AppState, by: &str, user: &str, service: &str, ended: u64) {
    if ended == 0 {
        return;
    }
    let event = crate::auth::security_log::Event {
        kind: crate::auth::security_log::SESSIONS_TERMINATED,
        user,
        door: crate::auth::security_log::REST,
        message: format!("{service} by {by} ended {ended} session(s) of {user}"),
        ..Default::default()
    };
    crate::auth::security_log::record(state, event).await;
}
