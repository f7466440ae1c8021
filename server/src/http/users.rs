//! The services of `Users/<u>`: passwords (`ChangePassword` on one's own user needs no grant,
//! `AssignNewPassword` needs one), `EnableUser`/`DisableUser`, `LockUser`/`UnlockUser`,
//! `GetGroups` and `SetLanguagePreferences`. A changed password or a disabled user ends that
//! user's sessions at once; `UnlockUser` also lifts the locks failed logins set for single
//! client addresses, while `IsLocked` answers the lock an administrator sets; every change is
//! audited.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::{login_failures, now_ms, sessions as session_rows, users};
use ironworx_entity::vocab::{BaseType, Collection, builtin};
use serde_json::{Value, json};

use crate::auth::password::{check_policy, hash_new, verify_stored};
use crate::authz::EntityIdx;
use crate::domain::sessions;
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
    if service == "GetGroups" {
        let groups = guard
            .index
            .user(idx)
            .map(|u| u.groups.clone())
            .unwrap_or_default();
        let rows = groups.into_iter().map(|g| json!({ "name": g })).collect();
        return Ok(infotable(&[("name", BaseType::GroupName)], rows));
    }
    let record = users::get_user(&state.db, &name).await?;
    let id = record.entity.id;
    let protected = name == builtin::ADMINISTRATOR;
    let now = now_ms();
    // The reads answer without a write transaction.
    match service {
        "IsEnabled" => return Ok(primitive(BaseType::Boolean, json!(record.user.enabled))),
        "IsLocked" => {
            let locked = crate::auth::password::is_locked(&record.user, now);
            return Ok(primitive(BaseType::Boolean, json!(locked)));
        }
        _ => {}
    }
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
            ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
            json!({})
        }
        "AssignNewPassword" => {
            let new = new_password(state, &p)?;
            users::set_password(&txn, id, &hash_new(&new).await?, now).await?;
            ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
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
                ended = session_rows::revoke_user_sessions(&txn, id, now).await?;
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
        _ => return Err(ApiError::NotFound),
    };
    crate::domain::write::commit_audited(
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
    sessions::record_ended(state, &guard.caller.name, &name, service, ended).await;
    Ok(result)
}

/// The fields of `GetUserSessions` (the `UserSession` data shape).
const SESSION_FIELDS: &[(&str, BaseType)] = &[
    ("id", BaseType::Long),
    ("created", BaseType::Datetime),
    ("lastSeen", BaseType::Datetime),
    ("expires", BaseType::Datetime),
    ("address", BaseType::String),
    ("organization", BaseType::String),
];

/// `Resources/CurrentSessionInfo`: who the caller is, and the sessions of a user
/// ([`crate::domain::sessions`]).
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
    let named = p.user_name.as_deref().or(p.user.as_deref());
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
        "GetUserSessions" => {
            let open = sessions::list(state, guard, named).await?;
            infotable(
                SESSION_FIELDS,
                open.into_iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "created": s.created_at,
                            "lastSeen": s.last_seen_at,
                            "expires": s.expires_at,
                            "address": s.address,
                            "organization": s.organization,
                        })
                    })
                    .collect(),
            )
        }
        "TerminateUserSession" => {
            let id = p
                .session_id
                .as_ref()
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
                .ok_or_else(|| ApiError::BadRequest("missing parameter 'sessionId'".into()))?;
            let ended = sessions::end_one(state, guard, named, id).await?;
            primitive(BaseType::Integer, json!(ended))
        }
        "TerminateUserSessions" => {
            let ended = sessions::end_all(state, guard, named).await?;
            primitive(BaseType::Integer, json!(ended))
        }
        _ => return Err(ApiError::NotFound),
    })
}
