//! Password logins: throttling per address, lockout per user (shared by every server process
//! through the users table), argon2id and imported PBKDF2 verification, the rehash of an
//! imported hash on success, and the password policy for new passwords.

use std::net::IpAddr;

use ironworx_entity::queries::users::{self, PasswordRecord, UserRecord};
use ironworx_entity::queries::{QueryError, now_ms};
use sea_orm::{DatabaseTransaction, DbBackend, EntityTrait, QuerySelect};

use crate::auth::Caller;
use crate::config::AuthSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// The reason given for every bad user name or password, so the answer never tells which.
pub const BAD_CREDENTIALS: &str = "invalid user name or password";

/// The longest password accepted (ThingWorx 9: 128 characters).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Checks a new password against the policy.
pub fn check_policy(auth: &AuthSettings, password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < auth.password_min_length {
        return Err(ApiError::BadRequest(format!(
            "the password must be at least {} characters long",
            auth.password_min_length
        )));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(ApiError::BadRequest(format!(
            "the password must be at most {MAX_PASSWORD_LEN} characters long"
        )));
    }
    Ok(())
}

/// Hashes a new password with argon2id, off the async threads.
pub async fn hash_new(password: &str) -> Result<PasswordRecord, ApiError> {
    let password = password.to_owned();
    let phc = actix_web::web::block(move || crate::password::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(PasswordRecord::argon2id(phc))
}

/// Whether `password` matches the stored record; an unknown user or a user without a password
/// is checked against a dummy hash, so every answer costs the same.
pub async fn verify_stored(
    stored: Option<PasswordRecord>,
    password: &str,
) -> Result<bool, ApiError> {
    let password = password.to_owned();
    actix_web::web::block(move || match stored {
        Some(p) if p.algorithm == users::ARGON2ID => {
            crate::password::verify_password(&password, &p.hash)
        }
        Some(p) if p.algorithm == users::PBKDF2_SHA512 => {
            crate::auth::pbkdf2::verify(&password, &p.hash)
        }
        _ => {
            crate::password::verify_password(&password, crate::auth::dummy_hash());
            false
        }
    })
    .await
    .map_err(ApiError::internal)
}

/// Whether the user is locked now (a lock with an end in the past no longer holds).
pub fn is_locked(user: &users::UserRow, now: i64) -> bool {
    user.locked && user.locked_until.is_none_or(|until| until > now)
}

/// Checks a user name and password as a login does. See [`crate::auth::login_with_password`].
pub async fn login(
    state: &AppState,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    login_checked(state, name, password, peer)
        .await
        .map(|(caller, _)| caller)
}

/// Like [`login`], also answering when the user's password was last changed (what the cache of
/// verified Basic credentials keys on).
pub async fn login_checked(
    state: &AppState,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<(Caller, Option<i64>), ApiError> {
    let auth = &state.config.auth;
    if let Some(ip) = peer {
        state.auth.throttle.check(ip, auth.login_rate_per_minute)?;
    }
    let record = users::find_user(&state.db, name)
        .await
        .map_err(ApiError::internal)?;
    let stored = record.as_ref().and_then(|r| users::password_of(&r.user));
    let matches = verify_stored(stored.clone(), password).await?;
    let now = now_ms();
    let Some(record) = record else {
        failed(state, None, peer).await?;
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    if is_locked(&record.user, now) {
        failed(state, None, peer).await?;
        return Err(ApiError::Unauthorized("the user is locked".into()));
    }
    if !matches || !record.user.login_allowed {
        failed(state, Some(&record), peer).await?;
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    if !record.user.enabled {
        return Err(ApiError::Unauthorized("the user is disabled".into()));
    }
    succeeded(state, &record, stored, password, now).await?;
    Ok((
        Caller {
            user_id: record.entity.id,
            name: record.entity.name,
        },
        record.user.password_changed_at,
    ))
}

/// Reads a user row for update inside `txn` (row lock on PostgreSQL, the write lock on SQLite).
async fn user_for_update(
    txn: &DatabaseTransaction,
    user_id: i64,
) -> Result<Option<users::UserRow>, ApiError> {
    let mut query = ironworx_entity::schema::users::Entity::find_by_id(user_id);
    if sea_orm::ConnectionTrait::get_database_backend(txn) == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await.map_err(ApiError::internal)
}

/// Counts a failed login: per address for throttling, per user for lockout.
async fn failed(
    state: &AppState,
    record: Option<&UserRecord>,
    peer: Option<IpAddr>,
) -> Result<(), ApiError> {
    crate::metrics::METRICS.login_failure();
    if let Some(ip) = peer {
        state.auth.throttle.fail(ip);
    }
    let auth = &state.config.auth;
    let Some(record) = record else {
        return Ok(());
    };
    if auth.lockout_attempts == 0 {
        return Ok(());
    }
    let now = now_ms();
    let window =
        i64::try_from(auth.lockout_window_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let Some(mut user) = user_for_update(&txn, record.entity.id).await? else {
        return Ok(());
    };
    let fresh_window = user
        .failed_login_window_start
        .is_none_or(|start| now.saturating_sub(start) > window);
    if fresh_window {
        user.failed_login_count = 1;
        user.failed_login_window_start = Some(now);
    } else {
        user.failed_login_count = user.failed_login_count.saturating_add(1);
    }
    let attempts = i32::try_from(auth.lockout_attempts).unwrap_or(i32::MAX);
    if user.failed_login_count >= attempts && !is_locked(&user, now) {
        user.locked = true;
        user.locked_until =
            match auth.lockout_minutes {
                0 => None,
                minutes => Some(now.saturating_add(
                    i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX),
                )),
            };
        tracing::warn!(user = %record.entity.name, "user locked after repeated failed logins");
    }
    users::save_user(&txn, &user).await.map_err(query_error)?;
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(())
}

/// Records a successful login: clears the failure counter and an expired lock, and replaces an
/// imported PBKDF2 hash by argon2id.
async fn succeeded(
    state: &AppState,
    record: &UserRecord,
    stored: Option<PasswordRecord>,
    password: &str,
    now: i64,
) -> Result<(), ApiError> {
    let rehash = stored.is_some_and(|p| p.algorithm != users::ARGON2ID);
    let needs_write = rehash
        || record.user.failed_login_count != 0
        || record.user.locked
        || record
            .user
            .last_login_at
            .is_none_or(|t| now.saturating_sub(t) > 60_000);
    if !needs_write {
        return Ok(());
    }
    let new_hash = if rehash {
        Some(hash_new(password).await?)
    } else {
        None
    };
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let Some(mut user) = user_for_update(&txn, record.entity.id).await? else {
        return Ok(());
    };
    user.failed_login_count = 0;
    user.failed_login_window_start = None;
    if user.locked && !is_locked(&user, now) {
        user.locked = false;
        user.locked_until = None;
    }
    user.last_login_at = Some(now);
    if let Some(new_hash) = &new_hash {
        user.password_hash = Some(new_hash.hash.clone());
        user.password_algorithm = new_hash.algorithm.clone();
        user.password_iterations = 0;
        user.password_salt_bytes = 0;
        user.password_hash_bytes = 0;
        tracing::info!(user = %record.entity.name, "imported password rehashed with argon2id");
    }
    users::save_user(&txn, &user).await.map_err(query_error)?;
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(())
}

fn query_error(err: QueryError) -> ApiError {
    crate::http::permissions::query_error(err)
}
