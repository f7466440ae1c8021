//! The REST face of application keys ([`crate::domain::app_keys`], which checks and makes
//! them): `EntityServices/CreateApplicationKey` and `DeleteApplicationKey`, and the services of
//! `ApplicationKeys/<k>`, their parameters parsed and their answers shaped as InfoTables.

use ironworx_entity::vocab::BaseType;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::domain::app_keys::{self, KeyChange, KeyService, NewKey};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::primitive;
use crate::state::AppState;

/// The parameters of the application key services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KeyParams {
    /// The key's entity name, or a user name (`SetUserName`), or a client name (`SetClientName`).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The user the key acts as.
    pub user: Option<String>,
    /// Expiration, epoch milliseconds.
    pub expiration_date: Option<Value>,
    /// The IP whitelist at creation.
    pub whitelist: Option<String>,
    /// The IP whitelist (`SetIPWhitelist`).
    pub list: Option<String>,
    /// The client using the key.
    pub client_name: Option<String>,
    /// The project of the key.
    pub project_name: Option<String>,
    /// Tags.
    pub tags: Option<String>,
}

impl KeyParams {
    fn parse(body: &[u8]) -> Result<KeyParams, ApiError> {
        crate::http::params::parse_body(body)
    }
}

fn millis(value: &Option<Value>) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest("expirationDate must be epoch milliseconds".into())
            }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest("expirationDate must be epoch milliseconds".into())),
        Some(_) => Err(ApiError::BadRequest(
            "expirationDate must be epoch milliseconds".into(),
        )),
    }
}

/// `EntityServices/CreateApplicationKey` and `DeleteApplicationKey`.
pub async fn entity_services(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    match service {
        "CreateApplicationKey" => Some(create(state, guard, body).await),
        "DeleteApplicationKey" => Some(delete(state, guard, body).await),
        _ => None,
    }
}

/// The text of an optional parameter (empty when missing).
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

async fn create(state: &AppState, guard: &Guard, body: &[u8]) -> Result<Value, ApiError> {
    let p = KeyParams::parse(body)?;
    let expiration = millis(&p.expiration_date)?;
    let key = NewKey {
        name: text(&p.name),
        description: text(&p.description),
        user: p.user.as_deref(),
        expiration,
        whitelist: text(&p.whitelist),
        client_name: text(&p.client_name),
        project_name: text(&p.project_name),
        tags: text(&p.tags),
    };
    let key_id = app_keys::create(state, guard, &key).await?;
    Ok(primitive(BaseType::String, json!(key_id)))
}

async fn delete(state: &AppState, guard: &Guard, body: &[u8]) -> Result<Value, ApiError> {
    let p = KeyParams::parse(body)?;
    app_keys::delete(state, guard, text(&p.name)).await?;
    Ok(json!({}))
}

/// The services of `ApplicationKeys/<k>`; `None` when `service` is not one of them.
pub async fn key_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let service = KeyService::parse(service)?;
    Some(run(state, guard, idx, service, body).await)
}

async fn run(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: KeyService,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p = KeyParams::parse(body)?;
    let change = match service {
        KeyService::SetUserName => KeyChange::User(text(&p.name)),
        KeyService::SetExpirationDate => KeyChange::Expiration(
            millis(&p.expiration_date)?
                .ok_or_else(|| ApiError::BadRequest("missing parameter 'expirationDate'".into()))?,
        ),
        KeyService::ResetExpirationDateToDefault => KeyChange::DefaultExpiration,
        KeyService::SetClientName => KeyChange::ClientName(text(&p.name)),
        KeyService::SetIpWhitelist => KeyChange::IpWhitelist(text(&p.list)),
        read => return answer(state, guard, idx, read).await,
    };
    app_keys::change(state, guard, idx, change).await?;
    Ok(json!({}))
}

/// The answer of the read `service` of key `idx`: the InfoTable of a primitive.
async fn answer(
    state: &AppState,
    ctx: &Guard,
    idx: EntityIdx,
    service: KeyService,
) -> Result<Value, ApiError> {
    let value = match service {
        KeyService::GetKeyId => json!(app_keys::key_id(state, ctx, idx).await?),
        KeyService::GetUserName => json!(app_keys::user_name(state, ctx, idx).await?),
        KeyService::IsExpired => json!(app_keys::is_expired(state, ctx, idx).await?),
        KeyService::GetExpirationDate => json!(app_keys::expiration_date(state, ctx, idx).await?),
        _ => return Err(ApiError::NotFound),
    };
    let base_type = match service {
        KeyService::GetKeyId => BaseType::String,
        KeyService::GetUserName => BaseType::UserName,
        KeyService::IsExpired => BaseType::Boolean,
        _ => BaseType::Datetime,
    };
    Ok(primitive(base_type, value))
}
