//! The services of `Users/<u>`, checked here once for every door (REST, the console): the
//! changes (passwords, enabling, locking, language preferences) and the reads (`IsEnabled`,
//! `IsLocked`, `GetGroups`). Each needs the user visible and `ServiceInvoke` on the service;
//! `ChangePassword`, `GetGroups` and `SetLanguagePreferences` on one's own user need no grant
//! (the evaluator's self-service). A changed password or a disabled user ends that user's
//! sessions at once; `UnlockUser` also lifts the locks failed logins set for single client
//! addresses, while `IsLocked` answers the lock an administrator sets. Every change is one
//! transaction with its audit row.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::{login_failures, now_ms, sessions as session_rows, users};
use ironworx_entity::vocab::{Collection, builtin};
use serde_json::json;

use crate::auth::password::{check_policy, hash_new, verify_stored};
use crate::authz::EntityIdx;
use crate::domain::Ctx;
use crate::domain::need::{INVOKE, Need, VISIBLE, needs};
use crate::error::ApiError;
use crate::state::AppState;

/// A service of `Users/<u>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserService {
    /// Changes one's password, given the old one.
    ChangePassword,
    /// Sets a new password.
    AssignNewPassword,
    /// Enables the user.
    EnableUser,
    /// Disables the user.
    DisableUser,
    /// Locks the user.
    LockUser,
    /// Unlocks the user.
    UnlockUser,
    /// Sets the preferred languages.
    SetLanguagePreferences,
    /// Whether the user is enabled.
    IsEnabled,
    /// Whether the user is locked.
    IsLocked,
    /// The user's groups.
    GetGroups,
}

impl UserService {
    /// Every user service.
    pub const ALL: &'static [UserService] = &[
        UserService::ChangePassword,
        UserService::AssignNewPassword,
        UserService::EnableUser,
        UserService::DisableUser,
        UserService::LockUser,
        UserService::UnlockUser,
        UserService::SetLanguagePreferences,
        UserService::IsEnabled,
        UserService::IsLocked,
        UserService::GetGroups,
    ];

    /// The service's ThingWorx name.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserService::ChangePassword => "ChangePassword",
            UserService::AssignNewPassword => "AssignNewPassword",
            UserService::EnableUser => "EnableUser",
            UserService::DisableUser => "DisableUser",
            UserService::LockUser => "LockUser",
            UserService::UnlockUser => "UnlockUser",
            UserService::SetLanguagePreferences => "SetLanguagePreferences",
            UserService::IsEnabled => "IsEnabled",
            UserService::IsLocked => "IsLocked",
            UserService::GetGroups => "GetGroups",
        }
    }

    /// The user service named `name`, if it is one.
    pub fn parse(name: &str) -> Option<UserService> {
        UserService::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }

    /// What the caller needs (the catalog declares this): the user visible and
    /// `ServiceInvoke` on the service, which a user holds on its own User entity for the
    /// self-service ones.
    pub const fn need(self) -> Need {
        Need {
            self_service: matches!(
                self,
                UserService::ChangePassword
                    | UserService::GetGroups
                    | UserService::SetLanguagePreferences
            ),
            ..needs(&[VISIBLE, INVOKE])
        }
    }
}

/// One change of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange<'a> {
    /// `ChangePassword`: the old password must match.
    ChangePassword {
        /// The current password.
        old: &'a str,
        /// The new password (empty: missing).
        new: &'a str,
        /// The new password again.
        confirm: &'a str,
    },
    /// `AssignNewPassword`.
    AssignNewPassword {
        /// The new password (empty: missing).
        new: &'a str,
        /// The new password again.
        confirm: &'a str,
    },
    /// `EnableUser` (`true`) or `DisableUser`.
    Enabled(bool),
    /// `LockUser` (`true`) or `UnlockUser`.
    Locked(bool),
    /// `SetLanguagePreferences`: languages, best first, comma separated.
    LanguagePreferences(&'a str),
}

impl UserChange<'_> {
    /// The service that makes this change (the audit row's action).
    pub fn service(&self) -> UserService {
        match self {
            UserChange::ChangePassword { .. } => UserService::ChangePassword,
            UserChange::AssignNewPassword { .. } => UserService::AssignNewPassword,
            UserChange::Enabled(true) => UserService::EnableUser,
            UserChange::Enabled(false) => UserService::DisableUser,
            UserChange::Locked(true) => UserService::LockUser,
            UserChange::Locked(false) => UserService::UnlockUser,
            UserChange::LanguagePreferences(_) => UserService::SetLanguagePreferences,
        }
    }
}

/// The name of user `idx` after the need of `service` is enforced on it; an entity of another
/// collection has no such service (404).
fn checked(ctx: &Ctx, idx: EntityIdx, service: UserService) -> Result<String, ApiError> {
    ctx.enforce(&service.need(), Some(idx), service.as_str(), &|_| None)?;
    match ctx.index.entity(idx) {
        Some(entity) if entity.collection == Collection::Users => Ok(entity.name.clone()),
        _ => Err(ApiError::NotFound),
    }
}

/// A new password given twice, checked against the password policy.
fn new_password<'a>(state: &AppState, new: &'a str, confirm: &str) -> Result<&'a str, ApiError> {
    if new.is_empty() {
        return Err(ApiError::BadRequest(
            "missing parameter 'newPassword'".into(),
        ));
    }
    if confirm != new {
        return Err(ApiError::BadRequest(
            "newPassword and newPasswordConfirm differ".into(),
        ));
    }
    check_policy(&state.config.auth, new)?;
    Ok(new)
}

/// Makes `change` on user `idx` for the caller, in one transaction with its audit row; the
/// sessions it ends are recorded in the security log.
pub async fn change(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    change: UserChange<'_>,
) -> Result<(), ApiError> {
    let service = change.service();
    let name = checked(ctx, idx, service)?;
    let record = users::get_user(&state.db, &name).await?;
    let id = record.entity.id;
    let protected = name == builtin::ADMINISTRATOR;
    let now = now_ms();
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let mut detail = json!({});
    // Sessions a password change or disabling the user ended.
    let mut ended = 0;
    match change {
        UserChange::ChangePassword { old, new, confirm } => {
            if !verify_stored(
                users::password_of(&record.user),
                old,
                state.config.limits.max_pbkdf2_iterations,
            )
            .await?
            {
                return Err(ApiError::BadRequest("the old password is wrong".into()));
            }
            let new = new_password(state, new, confirm)?;
            users::set_password(&txn, id, &hash_new(new).await?, now).await?;
            ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
        }
        UserChange::AssignNewPassword { new, confirm } => {
            let new = new_password(state, new, confirm)?;
            users::set_password(&txn, id, &hash_new(new).await?, now).await?;
            ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
        }
        UserChange::Enabled(enable) => {
            if !enable && protected {
                return Err(ApiError::BadRequest(
                    "Administrator cannot be disabled".into(),
                ));
            }
            users::set_enabled(&txn, id, enable).await?;
            if !enable {
                ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
            }
        }
        UserChange::Locked(lock) => {
            if lock && protected {
                return Err(ApiError::BadRequest(
                    "Administrator cannot be locked".into(),
                ));
            }
            users::set_locked(&txn, id, lock, None).await?;
            if !lock {
                login_failures::clear_user(&txn, id).await?;
            }
        }
        UserChange::LanguagePreferences(prefs) => {
            if prefs.len() > 1024 || prefs.chars().any(char::is_control) {
                return Err(ApiError::BadRequest("invalid language preferences".into()));
            }
            users::set_language_preferences(&txn, id, prefs).await?;
            detail = json!({ "preferences": prefs });
        }
    }
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &ctx.caller.name,
            service.as_str(),
            Collection::Users,
            &name,
            detail,
        ),
    )
    .await?;
    crate::domain::sessions::record_ended(state, &ctx.caller.name, &name, service.as_str(), ended)
        .await;
    Ok(())
}

/// `IsEnabled`: whether user `idx` is enabled.
pub async fn is_enabled(state: &AppState, ctx: &Ctx, idx: EntityIdx) -> Result<bool, ApiError> {
    let name = checked(ctx, idx, UserService::IsEnabled)?;
    Ok(users::get_user(&state.db, &name).await?.user.enabled)
}

/// `IsLocked`: whether user `idx` is locked by an administrator now (not the locks failed
/// logins set for single client addresses).
pub async fn is_locked(state: &AppState, ctx: &Ctx, idx: EntityIdx) -> Result<bool, ApiError> {
    let name = checked(ctx, idx, UserService::IsLocked)?;
    let record = users::get_user(&state.db, &name).await?;
    Ok(crate::auth::password::is_locked(&record.user, now_ms()))
}

/// `GetGroups`: the groups of user `idx`, transitively, as the index holds them.
pub fn groups(ctx: &Ctx, idx: EntityIdx) -> Result<Vec<String>, ApiError> {
    checked(ctx, idx, UserService::GetGroups)?;
    Ok(ctx
        .index
        .user(idx)
        .map(|u| u.groups.clone())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_service_is_what_the_evaluator_grants() {
        for service in UserService::ALL {
            let own = crate::authz::decide::SELF_SERVICES.contains(&service.as_str());
            assert_eq!(service.need().self_service, own, "{}", service.as_str());
        }
    }
}
