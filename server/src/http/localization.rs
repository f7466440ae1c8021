//! Localization services: `LocalizationTables/<t>/Services/AddOrUpdateToken(name, value)`
//! (design-time `Update` on the table, or a security administrator) and
//! `Resources/RuntimeLocalizationFunctions` `GetEffectiveToken(token)` and
//! `GetEffectiveTokenForLanguage(language, token)`, open to every authenticated user.
//!
//! Resolution: the languages asked for, best first, each matching a table only by its exact
//! name; then `Default`; then `System`. A token found nowhere answers `???<token>???`.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::{localization, users};
use ironworx_entity::vocab::Collection;
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::primitive;
use crate::http::params::{parse_body, required};
use crate::state::AppState;

/// The parameters of the localization services.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LocalizationParams {
    /// A token's name (`AddOrUpdateToken`).
    pub name: Option<String>,
    /// A token's value.
    pub value: Option<String>,
    /// The token looked up.
    pub token: Option<String>,
    /// The language looked up first.
    pub language: Option<String>,
}

/// Runs a service of localization table `idx`; `None` when `service` is not one.
pub async fn table_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    if service != "AddOrUpdateToken" {
        return None;
    }
    Some(add_or_update(state, guard, idx, body).await)
}

async fn add_or_update(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: LocalizationParams = parse_body(body)?;
    let name = required(&p.name, "name")?;
    let value = p.value.clone().unwrap_or_default();
    let table = guard
        .index
        .entity(idx)
        .map(|e| e.name.clone())
        .ok_or(ApiError::NotFound)?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    localization::set_token(&txn, &table, name, &value).await?;
    crate::http::write::commit_audited(
        txn,
        &Change {
            actor: guard.caller.name.clone(),
            action: "AddOrUpdateToken".into(),
            target_collection: Collection::LocalizationTables.as_str().to_owned(),
            target_name: table,
            detail: Some(json!({ "name": name })),
            ..Default::default()
        },
    )
    .await?;
    Ok(json!({}))
}

/// `Resources/RuntimeLocalizationFunctions` services.
pub async fn runtime_service(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    if !matches!(
        service,
        "GetEffectiveToken" | "GetEffectiveTokenForLanguage"
    ) {
        return Err(ApiError::NotFound);
    }
    let p: LocalizationParams = parse_body(body)?;
    let token = required(&p.token, "token")?;
    let languages: Vec<String> = match service {
        "GetEffectiveToken" => users::get_user(&state.db, &guard.caller.name)
            .await?
            .user
            .language_preferences
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        "GetEffectiveTokenForLanguage" => vec![required(&p.language, "language")?.to_owned()],
        _ => return Err(ApiError::NotFound),
    };
    for table in languages
        .iter()
        .map(String::as_str)
        .chain(["Default", "System"])
    {
        if let Some(value) = localization::token(&state.db, table, token).await? {
            return Ok(primitive("STRING", json!(value)));
        }
    }
    Ok(primitive("STRING", json!(format!("???{token}???"))))
}
