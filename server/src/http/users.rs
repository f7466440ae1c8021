//! The services of `Users/<u>`: passwords (`ChangePassword` on one's own user needs no grant,
//! `AssignNewPassword` needs one), `EnableUser`/`DisableUser`, `LockUser`/`UnlockUser`,
//! `GetGroups` and `SetLanguagePreferences`. A changed password or a disabled user ends that
//! user's sessions at once; `UnlockUser` also lifts the locks failed logins set for single
//! client addresses, while `IsLocked` answers the lock an administrator sets; every change is
//! audited.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::{login_failures, now_ms, sessions, users};
use ironworx_entity::vocab::{BaseType, Collection, builtin};
use serde_json::{Value, json};

use crate::auth::password::{check_policy, hash_new, verify_stored};
use crate::authz::EntityIdx;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::{infotable, primitive};
use crate::http::params::Params;
use crate::state::AppState;

/// The parameters of the user services.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserParams {
    /// The current password (`ChangePassword`).
    pub old_password: Option<String>,
    /// The new password.
    pub new_password: Option<String>,
    /// The new password again.
    pub new_password_confirm: Option<String>,
    /// Preferred languages, best first, comma separated.
    pub preferences: Option<String>,
}

const SERVICES: &[&str] = &[
    "ChangePassword",
    "AssignNewPassword",
    "EnableUser",
    "DisableUser",
    "LockUser",
    "UnlockUser",
    "GetGroups",
    "SetLanguagePreferences",
    "IsEnabled",
    "IsLocked",
];

fn new_password(state: &AppState, p: &UserParams) -> Result<String, ApiError> {
    let new = p
        .new_password
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter 'newPassword'".into()))?;
    if p.new_password_confirm.as_deref() != Some(new.as_str()) {
        return Err(ApiError::BadRequest(
            "newPassword and newPasswordConfirm differ".into(),
        ));
    }
    check_policy(&state.config.auth, &new)?;
    Ok(new)
}

/// Runs a service of user `idx`; `None` when `service` is not a user service.
pub async fn user_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    if !SERVICES.contains(&service) {
        return None;
    }
    Some(run(state, guard, idx, service, body).await)
}

async fn run(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: UserParams = crate::http::params::parse_body(body)?;
    let name = guard
        .index
        .entity(idx)
        .map(|e| e.name.clone())
        .ok_or(ApiError::NotFound)?;
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
    let result = match service {
        "ChangePassword" => {
            let old = p.old_password.clone().unwrap_or_default();
            if !verify_stored(
                users::password_of(&record.user),
                &old,
                state.config.limits.max_pbkdf2_iterations,
            )
            .await?
            {
                return Err(ApiError::BadRequest("the old password is wrong".into()));
            }
            let new = new_password(state, &p)?;
            users::set_password(&txn, id, &hash_new(&new).await?, now).await?;
            ended = sessions::revoke_user_sessions(&txn, id, now).await?;
            json!({})
        }
        "AssignNewPassword" => {
            let new = new_password(state, &p)?;
            users::set_password(&txn, id, &hash_new(&new).await?, now).await?;
            ended = sessions::revoke_user_sessions(&txn, id, now).await?;
            json!({})
        }
        "EnableUser" | "DisableUser" => {
            let enable = service == "EnableUser";
            if !enable && protected {
                return Err(ApiError::BadRequest(
                    "Administrator cannot be disabled".into(),
                ));
            }
            users::set_enabled(&txn, id, enable).await?;
            if !enable {
                ended = sessions::revoke_user_sessions(&txn, id, now).await?;
            }
            json!({})
        }
        "LockUser" | "UnlockUser" => {
            let lock = service == "LockUser";
            if lock && protected {
                return Err(ApiError::BadRequest(
                    "Administrator cannot be locked".into(),
                ));
            }
            users::set_locked(&txn, id, lock, None).await?;
            if !lock {
                login_failures::clear_user(&txn, id).await?;
            }
            json!({})
        }
        "SetLanguagePreferences" => {
            let prefs = p.preferences.clone().unwrap_or_default();
            if prefs.len() > 1024 || prefs.chars().any(char::is_control) {
                return Err(ApiError::BadRequest("invalid language preferences".into()));
            }
            users::set_language_preferences(&txn, id, &prefs).await?;
            detail = json!({ "preferences": prefs });
            json!({})
        }
        "GetGroups" => {
            let groups = guard
                .index
                .user(idx)
                .map(|u| u.groups.clone())
                .unwrap_or_default();
            let rows = groups.into_iter().map(|g| json!({ "name": g })).collect();
            return Ok(infotable(&[("name", BaseType::GroupName)], rows));
        }
        "IsEnabled" => return Ok(primitive(BaseType::Boolean, json!(record.user.enabled))),
        "IsLocked" => {
            return Ok(primitive(
                BaseType::Boolean,
                json!(crate::auth::password::is_locked(&record.user, now)),
            ));
        }
        _ => return Err(ApiError::NotFound),
    };
    crate::http::write::commit_audited(
        txn,
        &Change::on(
            &guard.caller.name,
            service,
            Collection::Users,
            &name,
            detail,
        ),
    )
    .await?;
    if ended > 0 {
        sessions_ended(state, guard, &name, service, ended).await;
    }
    Ok(result)
}

/// Records in the security log that `service`, called by the caller of `guard`, ended
/// `ended` sessions of the user `user`.
async fn sessions_ended(state: &AppState, guard: &Guard, user: &str, service: &str, ended: u64) {
    let event = crate::auth::security_log::Event {
        kind: crate::auth::security_log::SESSIONS_TERMINATED,
        user,
        door: crate::auth::security_log::REST,
        message: format!(
            "{service} by {} ended {ended} session(s) of {user}",
            guard.caller.name
        ),
        ..Default::default()
    };
    crate::auth::security_log::record(state, event).await;
}

/// `Resources/CurrentSessionInfo`: who the caller is.
pub async fn current_session_info(
    state: &AppState,
    guard: &Guard,
    service: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let me = guard.index.user(guard.user).ok_or(ApiError::NotFound)?;
    let names = |list: &[String], base: BaseType| {
        infotable(
            &[("name", base)],
            list.iter().map(|n| json!({ "name": n })).collect(),
        )
    };
    Ok(match service {
        "GetCurrentUser" => primitive(BaseType::UserName, json!(guard.caller.name)),
        "GetCurrentUserGroups" => names(&me.groups, BaseType::GroupName),
        "GetCurrentUserOrganizations" => names(&me.organizations, BaseType::OrganizationName),
        "GetCurrentUserOrganizationalUnits" => names(&me.units, BaseType::String),
        "GetCurrentUserLanguage" => {
            let record = users::get_user(&state.db, &guard.caller.name).await?;
            let first = record
                .user
                .language_preferences
                .split(',')
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_owned();
            primitive(BaseType::String, json!(first))
        }
        "TerminateUserSessions" => {
            let target = p
                .user_name
                .clone()
                .or_else(|| p.user.clone())
                .unwrap_or_else(|| guard.caller.name.clone());
            if target != guard.caller.name {
                guard.require_security_admin("sessions of other users")?;
            }
            let record = users::find_user(&state.db, &target)
                .await?
                .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{target}'")))?;
            let txn = crate::db::begin_write(&state.db)
                .await
                .map_err(ApiError::internal)?;
            let ended = sessions::revoke_user_sessions(&txn, record.entity.id, now_ms()).await?;
            crate::http::write::commit_audited(
                txn,
                &Change::on(
                    &guard.caller.name,
                    "TerminateUserSessions",
                    Collection::Users,
                    &target,
                    json!({ "ended": ended }),
                ),
            )
            .await?;
            sessions_ended(
                state,
                guard,
                &record.entity.name,
                "TerminateUserSessions",
                ended,
            )
            .await;
            primitive(BaseType::Integer, json!(ended))
        }
        _ => return Err(ApiError::NotFound),
    })
}
