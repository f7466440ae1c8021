//! Password logins: throttling per address, lockout of a user for one client address (shared
//! by every server process through the `login_failures` table), argon2id and imported PBKDF2
//! verification, the rehash of an imported hash on success, and the password policy for new
//! passwords. The administrative lock (`users.locked`) is set only by `LockUser` and imports.

use std::net::IpAddr;

use ironworx_entity::queries::login_failures::{self, Counted, FailurePolicy};
use ironworx_entity::queries::now_ms;
use ironworx_entity::queries::users::{self, PasswordRecord, UserRecord};
use ironworx_entity::vocab::normalize_principal_name;

use crate::auth::AuthHost;
use crate::auth::Caller;
use crate::auth::throttle::client_key;
use crate::config::AuthSettings;
use crate::error::ApiError;

/// The reason given for every bad user name or password, so the answer never tells which.
pub const BAD_CREDENTIALS: &str = "invalid user name or password";

/// The reason given to a password login from an address the user is locked for, and to any
/// credential of a user an administrator locked.
pub const LOCKED: &str = "the user is locked";

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
    let phc = actix_web::web::block(move || crate::auth::hashing::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(PasswordRecord::argon2id(phc))
}

/// Whether `password` matches the stored record; an unknown user, a user without a password
/// or a record that cannot be verified (malformed, or an imported PBKDF2 hash claiming more
/// than `max_pbkdf2_iterations`) is checked against a dummy hash, so every answer costs the same.
pub async fn verify_stored(
    stored: Option<PasswordRecord>,
    password: &str,
    max_pbkdf2_iterations: u32,
) -> Result<bool, ApiError> {
    let password = password.to_owned();
    actix_web::web::block(move || {
        let verified = match &stored {
            Some(p) if p.algorithm == users::ARGON2ID => {
                Some(crate::auth::hashing::verify_password(&password, &p.hash))
            }
            Some(p) if p.algorithm == users::PBKDF2_SHA512 => {
                crate::auth::pbkdf2::verify(&password, &p.hash, max_pbkdf2_iterations)
            }
            _ => None,
        };
        verified.unwrap_or_else(|| {
            crate::auth::hashing::verify_password(&password, crate::auth::dummy_hash());
            false
        })
    })
    .await
    .map_err(ApiError::internal)
}

/// Whether the user is locked by an administrator now (a lock with an end in the past no
/// longer holds).
pub fn is_locked(user: &users::UserRow, now: i64) -> bool {
    user.locked && user.locked_until.is_none_or(|until| until > now)
}

/// The user name as a login looks it up: in Unicode NFKC form, as principal names are stored.
pub fn login_name(name: &str) -> String {
    normalize_principal_name(name)
}

/// The user a login names: the NFKC form of `typed` first, then `typed` itself when it differs
/// (a user stored before names had to be in NFKC).
pub async fn find_login_user(
    state: &impl AuthHost,
    typed: &str,
) -> Result<Option<UserRecord>, ApiError> {
    let name = login_name(typed);
    let found = users::find_user(state.db(), &name)
        .await
        .map_err(ApiError::internal)?;
    if found.is_some() || name == typed {
        return Ok(found);
    }
    users::find_user(state.db(), typed)
        .await
        .map_err(ApiError::internal)
}

/// How the `login_failures` table names the client an attempt came from ([`client_key`];
/// empty when the address is unknown).
pub fn client_label(peer: Option<IpAddr>) -> String {
    peer.map(|ip| client_key(ip).to_string())
        .unwrap_or_default()
}

/// For a password login of `user_id` from `peer` whose credentials were verified before:
/// refuses it while the user is locked for that address, else forgets the address's failures
/// as any successful login does.
pub async fn check_address(
    state: &impl AuthHost,
    user_id: i64,
    peer: Option<IpAddr>,
    now: i64,
) -> Result<(), ApiError> {
    let client = client_label(peer);
    let row = login_failures::find(state.db(), user_id, &client).await?;
    match row {
        Some(row) if login_failures::is_locked(&row, now) => {
            Err(ApiError::Unauthorized(LOCKED.into()))
        }
        Some(_) => Ok(login_failures::clear(state.db(), user_id, &client).await?),
        None => Ok(()),
    }
}

/// Checks a user name and password as a login does. See [`crate::auth::login_with_password`].
pub async fn login(
    state: &impl AuthHost,
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
///
/// A user locked by an administrator, or locked for this address after repeated failures, is
/// refused with "the user is locked" whatever the password (without verifying it). Otherwise
/// the password is verified (a dummy hash for an unknown user) and any refusal, a disabled user
/// included, is the same "invalid user name or password", counted as a failure of this address.
pub async fn login_checked(
    state: &impl AuthHost,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<(Caller, Option<i64>), ApiError> {
    let auth = &state.config().auth;
    if let Some(ip) = peer {
        state
            .auth()
            .throttle
            .check(ip, auth.login_rate_per_minute)?;
    }
    let record = find_login_user(state, name).await?;
    let now = now_ms();
    let client = client_label(peer);
    let failures = match &record {
        Some(record) => login_failures::find(state.db(), record.entity.id, &client).await?,
        None => None,
    };
    if let Some(record) = &record
        && (is_locked(&record.user, now)
            || failures
                .as_ref()
                .is_some_and(|row| login_failures::is_locked(row, now)))
    {
        failed(state, None, peer).await?;
        return Err(ApiError::Unauthorized(LOCKED.into()));
    }
    let stored = record.as_ref().and_then(|r| users::password_of(&r.user));
    let max_iterations = state.config().limits.max_pbkdf2_iterations;
    if let Some(record) = &record
        && let Some(p) = &stored
        && p.algorithm == users::PBKDF2_SHA512
        && crate::auth::pbkdf2::iterations(&p.hash).is_none_or(|n| n > max_iterations)
    {
        tracing::warn!(
            user = %record.entity.name,
            limit = max_iterations,
            "the stored PBKDF2 hash is malformed or claims more iterations than \
             --max-pbkdf2-iterations; it never matches"
        );
    }
    let matches = verify_stored(stored.clone(), password, max_iterations).await?;
    let record = match record {
        Some(r) if matches && r.user.login_allowed && r.user.enabled => r,
        other => {
            failed(state, other.as_ref(), peer).await?;
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
        }
    };
    succeeded(
        state,
        &record,
        stored,
        password,
        &client,
        failures.is_some(),
        now,
    )
    .await?;
    Ok((
        Caller {
            user_id: record.entity.id,
            name: record.entity.name,
        },
        record.user.password_changed_at,
    ))
}

/// How long a window and a lock last, from the configuration.
fn failure_policy(auth: &AuthSettings) -> FailurePolicy {
    let ms = |minutes: u64| i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
    FailurePolicy {
        attempts: auth.lockout_attempts,
        window_ms: ms(auth.lockout_window_minutes),
        lock_ms: match auth.lockout_minutes {
            0 => None,
            minutes => Some(ms(minutes)),
        },
    }
}

/// Counts a failed login: per address for throttling, per user and address for lockout.
async fn failed(
    state: &impl AuthHost,
    record: Option<&UserRecord>,
    peer: Option<IpAddr>,
) -> Result<(), ApiError> {
    crate::metrics::METRICS.login_failure();
    if let Some(ip) = peer {
        state.auth().throttle.fail(ip);
    }
    let auth = &state.config().auth;
    let Some(record) = record else {
        return Ok(());
    };
    if auth.lockout_attempts == 0 {
        return Ok(());
    }
    let client = client_label(peer);
    let txn = crate::db::begin_write(state.db())
        .await
        .map_err(ApiError::internal)?;
    let counted = login_failures::record_failure(
        &txn,
        record.entity.id,
        &client,
        now_ms(),
        failure_policy(auth),
    )
    .await?;
    txn.commit().await.map_err(ApiError::internal)?;
    if counted == Counted::Locked {
        tracing::warn!(
            user = %record.entity.name,
            client = %client,
            "user locked for one client address after repeated failed logins"
        );
        let user = &record.entity.name;
        let event = crate::auth::security_log::Event {
            kind: crate::auth::security_log::USER_LOCKED,
            user,
            door: crate::auth::security_log::PASSWORD,
            peer,
            message: format!("{user} locked for {client} after repeated failed logins"),
            ..Default::default()
        };
        crate::auth::security_log::record(state, event).await;
    }
    Ok(())
}

/// Records a successful login: forgets this address's failures, clears an administrative lock
/// whose end has passed, and replaces an imported PBKDF2 hash by argon2id.
async fn succeeded(
    state: &impl AuthHost,
    record: &UserRecord,
    stored: Option<PasswordRecord>,
    password: &str,
    client: &str,
    had_failures: bool,
    now: i64,
) -> Result<(), ApiError> {
    let rehash = stored.is_some_and(|p| p.algorithm != users::ARGON2ID);
    let needs_write = rehash
        || had_failures
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
    let txn = crate::db::begin_write(state.db())
        .await
        .map_err(ApiError::internal)?;
    let Some(mut user) = users::user_row_for_update(&txn, record.entity.id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(());
    };
    if had_failures {
        login_failures::clear(&txn, record.entity.id, client).await?;
    }
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
    users::save_user(&txn, &user).await?;
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(())
}
