//! Localization services: `LocalizationTables/<t>/Services/AddOrUpdateToken(name, value)`
//! (design-time `Update` on the table, or a security administrator) and
//! `Resources/RuntimeLocalizationFunctions` `GetEffectiveToken(token)` and
//! `GetEffectiveTokenForLanguage(language, token)`, open to every authenticated user.
//! The resolution is [`crate::domain::localization::effective_token`].

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::localization as tokens;
use ironworx_entity::vocab::{BaseType, Collection};
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::domain::localization::{self, effective_token};
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
    tokens::set_token(&txn, &table, name, &value).await?;
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &guard.caller.name,
            "AddOrUpdateToken",
            Collection::LocalizationTables,
            &table,
            json!({ "name": name }),
        ),
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
    if !localization::SERVICES.contains(&service) {
        return Err(ApiError::NotFound);
    }
    let p: LocalizationParams = parse_body(body)?;
    let token = required(&p.token, "token")?;
    let language = match service {
        "GetEffectiveTokenForLanguage" => Some(required(&p.language, "language")?),
        _ => None,
    };
    let value = effective_token(&state.db, &guard.caller.name, language, token).await?;
    Ok(primitive(BaseType::String, json!(value)))
}
