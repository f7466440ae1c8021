//! The REST face of the services of `Users/<u>` ([`crate::domain::accounts`], which checks and
//! makes them): their parameters parsed and their answers shaped as InfoTables; and
//! `Resources/CurrentSessionInfo`, the caller and the sessions of a user
//! ([`crate::domain::sessions`]).

use ironworx_entity::queries::users;
use ironworx_entity::vocab::BaseType;
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::domain::accounts::{self, UserChange, UserService};
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

/// Runs a service of user `idx`; `None` when `service` is not a user service.
pub async fn user_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let service = UserService::parse(service)?;
    Some(run(state, guard, idx, service, body).await)
}

/// The text of an optional parameter (empty when missing).
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

async fn run(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: UserService,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: UserParams = crate::http::params::parse_body(body)?;
    let (new, confirm) = (text(&p.new_password), text(&p.new_password_confirm));
    let change = match service {
        UserService::GetGroups => {
            let rows = accounts::groups(guard, idx)?
                .into_iter()
                .map(|g| json!({ "name": g }))
                .collect();
            return Ok(infotable(&[("name", BaseType::GroupName)], rows));
        }
        UserService::IsEnabled | UserService::IsLocked => {
            let flag = if service == UserService::IsEnabled {
                accounts::is_enabled(state, guard, idx).await?
            } else {
                accounts::is_locked(state, guard, idx).await?
            };
            return Ok(primitive(BaseType::Boolean, json!(flag)));
        }
        UserService::ChangePassword => UserChange::ChangePassword {
            old: text(&p.old_password),
            new,
            confirm,
        },
        UserService::AssignNewPassword => UserChange::AssignNewPassword { new, confirm },
        UserService::EnableUser => UserChange::Enabled(true),
        UserService::DisableUser => UserChange::Enabled(false),
        UserService::LockUser => UserChange::Locked(true),
        UserService::UnlockUser => UserChange::Locked(false),
        UserService::SetLanguagePreferences => {
            UserChange::LanguagePreferences(text(&p.preferences))
        }
    };
    accounts::change(state, guard, idx, change).await?;
    Ok(json!({}))
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
