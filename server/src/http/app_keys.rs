//! Application keys over REST: `EntityServices/CreateApplicationKey` and
//! `DeleteApplicationKey`, and the services of `ApplicationKeys/<k>`. A key id is shown when the
//! key is created and by `GetKeyID` to those allowed; it is stored only hashed and sealed. A key
//! acts as its user, so only a security administrator may make a key for someone else.

use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::{now_ms, users};
use ironworx_entity::vocab::{BaseType, Collection};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::app_key::{key_hash, validate_whitelist};
use crate::authz::EntityIdx;
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

fn default_expiration(state: &AppState) -> i64 {
    let lifetime = i64::try_from(
        state
            .config
            .auth
            .app_key_lifetime_hours
            .saturating_mul(3_600_000),
    )
    .unwrap_or(i64::MAX);
    now_ms().saturating_add(lifetime)
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

async fn create(state: &AppState, guard: &Guard, body: &[u8]) -> Result<Value, ApiError> {
    let p = KeyParams::parse(body)?;
    let name = p
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter 'name'".into()))?;
    let user_name = p.user.clone().unwrap_or_else(|| guard.caller.name.clone());
    let user = users::find_user(&state.db, &user_name)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{user_name}'")))?;
    let whitelist = p.whitelist.clone().unwrap_or_default();
    validate_whitelist(&whitelist).map_err(ApiError::BadRequest)?;
    let expiration = millis(&p.expiration_date)?.unwrap_or_else(|| default_expiration(state));
    let key_id = uuid::Uuid::new_v4().to_string();
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    app_keys::create_app_key(
        &txn,
        &NewAppKey {
            name: name.clone(),
            fields: EntityFields {
                description: p.description.clone().unwrap_or_default(),
                project_name: p.project_name.clone().unwrap_or_default(),
                tags: p.tags.clone().unwrap_or_default(),
                ..EntityFields::owned_by(guard.caller.user_id)
            },
            key_hash: Some(key_hash(&key_id)),
            key_sealed: Some(state.auth.sealer.seal(&key_id)?),
            user_id: Some(user.entity.id),
            expiration_date: Some(expiration),
            client_name: p.client_name.clone().unwrap_or_default(),
            ip_whitelist: whitelist.clone(),
        },
    )
    .await?;
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &guard.caller.name,
            "CreateApplicationKey",
            Collection::ApplicationKeys,
            &name,
            json!({ "user": user_name, "expirationDate": expiration, "whitelist": whitelist }),
        ),
    )
    .await?;
    Ok(primitive(BaseType::String, json!(key_id)))
}

async fn delete(state: &AppState, guard: &Guard, body: &[u8]) -> Result<Value, ApiError> {
    let p = KeyParams::parse(body)?;
    let name = p
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter 'name'".into()))?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    entities::delete_entity(&txn, Collection::ApplicationKeys, &name).await?;
    crate::domain::write::commit_audited(
        txn,
        &Change {
            actor: guard.caller.name.clone(),
            action: "DeleteApplicationKey".into(),
            target_collection: Collection::ApplicationKeys.as_str().into(),
            target_name: name,
            detail: None,
            ..Default::default()
        },
    )
    .await?;
    Ok(json!({}))
}

const SERVICES: &[&str] = &[
    "GetKeyID",
    "GetUserName",
    "SetUserName",
    "IsExpired",
    "GetExpirationDate",
    "SetExpirationDate",
    "ResetExpirationDateToDefault",
    "SetClientName",
    "SetIPWhitelist",
];

/// The services of `ApplicationKeys/<k>`; `None` when `service` is not one of them.
pub async fn key_service(
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
    let p = KeyParams::parse(body)?;
    let name = guard
        .index
        .entity(idx)
        .map(|e| e.name.clone())
        .ok_or(ApiError::NotFound)?;
    let record = app_keys::get_app_key(&state.db, &name).await?;
    let mut key = record.key.clone();
    let user_name = match key.user_id {
        Some(id) => entities::find_entity_by_id(&state.db, id)
            .await?
            .map(|e| e.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    match service {
        "GetKeyID" => {
            let key_id = key
                .key_sealed
                .as_deref()
                .and_then(|s| state.auth.sealer.open(s))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "the key id of '{name}' is not available (imported without its secret)"
                    ))
                })?;
            return Ok(primitive(BaseType::String, json!(key_id)));
        }
        "GetUserName" => return Ok(primitive(BaseType::UserName, json!(user_name))),
        "IsExpired" => {
            return Ok(primitive(
                BaseType::Boolean,
                json!(key.expiration_date.is_some_and(|at| at <= now_ms())),
            ));
        }
        "GetExpirationDate" => {
            return Ok(primitive(BaseType::Datetime, json!(key.expiration_date)));
        }
        "SetUserName" => {
            let new_user = p
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::BadRequest("missing parameter 'name'".into()))?;
            let user = users::find_user(&state.db, &new_user)
                .await?
                .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{new_user}'")))?;
            key.user_id = Some(user.entity.id);
        }
        "SetExpirationDate" => {
            key.expiration_date = Some(millis(&p.expiration_date)?.ok_or_else(|| {
                ApiError::BadRequest("missing parameter 'expirationDate'".into())
            })?);
        }
        "ResetExpirationDateToDefault" => key.expiration_date = Some(default_expiration(state)),
        "SetClientName" => key.client_name = p.name.clone().unwrap_or_default(),
        "SetIPWhitelist" => {
            let list = p.list.clone().unwrap_or_default();
            validate_whitelist(&list).map_err(ApiError::BadRequest)?;
            key.ip_whitelist = list;
        }
        _ => return Err(ApiError::NotFound),
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    app_keys::save_app_key(&txn, &key).await?;
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &guard.caller.name,
            service,
            Collection::ApplicationKeys,
            &name,
            json!({
                "userId": key.user_id,
                "expirationDate": key.expiration_date,
                "clientName": key.client_name,
                "whitelist": key.ip_whitelist,
            }),
        ),
    )
    .await?;
    Ok(json!({}))
}
