//! Application keys, checked here once for every door (REST, the console): creating one
//! (`CreateApplicationKey`, which answers the key id this once), deleting one
//! (`DeleteApplicationKey`), and the services of `ApplicationKeys/<k>` that read and change a
//! key. A key id is stored only hashed and sealed, and `GetKeyID` opens it for those allowed. A
//! key acts as its user, so only a security administrator makes a key for, or hands one to,
//! someone else. Every change is one transaction with its audit row.

use ironworx_entity::queries::app_keys::{self, AppKeyRecord, NewAppKey};
use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::{now_ms, users};
use ironworx_entity::vocab::{Collection, PermissionKind};
use serde_json::{Value, json};

use crate::auth::app_key::{key_hash, validate_whitelist};
use crate::authz::EntityIdx;
use crate::domain::Ctx;
use crate::domain::need::{INVOKE, Need, On, Res, VISIBLE, check, named, needs, needs_for};
use crate::error::ApiError;
use crate::state::AppState;

/// What `CreateApplicationKey` needs: Create on the collection; naming another `user` than the
/// caller needs a security administrator.
pub const CREATE: Need = needs_for(
    &[check(
        PermissionKind::Create,
        On::Collection(Collection::ApplicationKeys),
        Res::Any,
    )],
    "user",
);

/// What `DeleteApplicationKey` needs: the key its `name` names visible (404), then Delete on
/// it.
pub const DELETE: Need = needs(&[
    check(
        PermissionKind::Visibility,
        named(Collection::ApplicationKeys),
        Res::Any,
    ),
    check(
        PermissionKind::Delete,
        named(Collection::ApplicationKeys),
        Res::Any,
    ),
]);

/// A service of `ApplicationKeys/<k>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyService {
    /// `GetKeyID`: the key id.
    GetKeyId,
    /// The user the key acts as.
    GetUserName,
    /// Makes the key act as another user.
    SetUserName,
    /// Whether the key has expired.
    IsExpired,
    /// When the key expires.
    GetExpirationDate,
    /// Sets when the key expires.
    SetExpirationDate,
    /// Sets the expiration to now plus the configured lifetime.
    ResetExpirationDateToDefault,
    /// Sets the client using the key.
    SetClientName,
    /// `SetIPWhitelist`: the addresses the key may be used from.
    SetIpWhitelist,
}

impl KeyService {
    /// Every key service.
    pub const ALL: &'static [KeyService] = &[
        KeyService::GetKeyId,
        KeyService::GetUserName,
        KeyService::SetUserName,
        KeyService::IsExpired,
        KeyService::GetExpirationDate,
        KeyService::SetExpirationDate,
        KeyService::ResetExpirationDateToDefault,
        KeyService::SetClientName,
        KeyService::SetIpWhitelist,
    ];

    /// The service's ThingWorx name.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyService::GetKeyId => "GetKeyID",
            KeyService::GetUserName => "GetUserName",
            KeyService::SetUserName => "SetUserName",
            KeyService::IsExpired => "IsExpired",
            KeyService::GetExpirationDate => "GetExpirationDate",
            KeyService::SetExpirationDate => "SetExpirationDate",
            KeyService::ResetExpirationDateToDefault => "ResetExpirationDateToDefault",
            KeyService::SetClientName => "SetClientName",
            KeyService::SetIpWhitelist => "SetIPWhitelist",
        }
    }

    /// The key service named `name`, if it is one.
    pub fn parse(name: &str) -> Option<KeyService> {
        KeyService::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    /// What the caller needs (the catalog declares this): the key visible and `ServiceInvoke`
    /// on the service; handing the key to another user than the caller (`SetUserName`, whose
    /// `name` is that user) needs a security administrator.
    pub const fn need(self) -> Need {
        const INVOKED: &[crate::domain::need::Check] = &[VISIBLE, INVOKE];
        match self {
            KeyService::SetUserName => needs_for(INVOKED, "name"),
            _ => needs(INVOKED),
        }
    }
}

/// A new key's fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewKey<'a> {
    /// Its entity name (empty: missing).
    pub name: &'a str,
    /// Free text.
    pub description: &'a str,
    /// The user it acts as; the caller when `None`.
    pub user: Option<&'a str>,
    /// When it expires (epoch ms); the configured lifetime from now when `None`.
    pub expiration: Option<i64>,
    /// The addresses it may be used from (blank: any).
    pub whitelist: &'a str,
    /// The client using it.
    pub client_name: &'a str,
    /// Its project.
    pub project_name: &'a str,
    /// Its tags.
    pub tags: &'a str,
}

/// One change of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChange<'a> {
    /// `SetUserName`: the user it acts as (empty: missing).
    User(&'a str),
    /// `SetExpirationDate` (epoch ms).
    Expiration(i64),
    /// `ResetExpirationDateToDefault`.
    DefaultExpiration,
    /// `SetClientName`.
    ClientName(&'a str),
    /// `SetIPWhitelist` (blank: any address).
    IpWhitelist(&'a str),
}

impl KeyChange<'_> {
    /// The service that makes this change (the audit row's action).
    pub fn service(&self) -> KeyService {
        match self {
            KeyChange::User(_) => KeyService::SetUserName,
            KeyChange::Expiration(_) => KeyService::SetExpirationDate,
            KeyChange::DefaultExpiration => KeyService::ResetExpirationDateToDefault,
            KeyChange::ClientName(_) => KeyService::SetClientName,
            KeyChange::IpWhitelist(_) => KeyService::SetIpWhitelist,
        }
    }
}

/// `name`, or 400 naming the missing parameter `param` when it is empty.
fn given<'a>(name: &'a str, param: &str) -> Result<&'a str, ApiError> {
    if name.is_empty() {
        Err(ApiError::BadRequest(format!("missing parameter '{param}'")))
    } else {
        Ok(name)
    }
}

/// The row id of the user `name`, or 400 when there is none.
async fn user_id(state: &AppState, name: &str) -> Result<i64, ApiError> {
    let user = users::find_user(&state.db, name)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{name}'")))?;
    Ok(user.entity.id)
}

/// Now plus the configured lifetime of keys created without an expiration date (epoch ms).
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

/// `CreateApplicationKey`: creates `key` for the caller, in one transaction with its audit
/// row; answers the new key id, which is shown this once.
pub async fn create(state: &AppState, ctx: &Ctx, key: &NewKey<'_>) -> Result<String, ApiError> {
    let subject = key.user.map(str::to_owned);
    ctx.enforce(&CREATE, None, "CreateApplicationKey", &|param| {
        (param == "user").then(|| subject.clone()).flatten()
    })?;
    let name = given(key.name, "name")?;
    let user_name = key.user.unwrap_or(&ctx.caller.name);
    let user = user_id(state, user_name).await?;
    validate_whitelist(key.whitelist).map_err(ApiError::BadRequest)?;
    let expiration = key.expiration.unwrap_or_else(|| default_expiration(state));
    let key_id = uuid::Uuid::new_v4().to_string();
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    app_keys::create_app_key(
        &txn,
        &NewAppKey {
            name: name.to_owned(),
            fields: EntityFields {
                description: key.description.to_owned(),
                project_name: key.project_name.to_owned(),
                tags: key.tags.to_owned(),
                ..EntityFields::owned_by(ctx.caller.user_id)
            },
            key_hash: Some(key_hash(&key_id)),
            key_sealed: Some(state.auth.sealer.seal(&key_id)?),
            user_id: Some(user),
            expiration_date: Some(expiration),
            client_name: key.client_name.to_owned(),
            ip_whitelist: key.whitelist.to_owned(),
        },
    )
    .await?;
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &ctx.caller.name,
            "CreateApplicationKey",
            Collection::ApplicationKeys,
            name,
            json!({ "user": user_name, "expirationDate": expiration, "whitelist": key.whitelist }),
        ),
    )
    .await?;
    Ok(key_id)
}

/// `DeleteApplicationKey`: deletes the key `name`, in one transaction with its audit row.
pub async fn delete(state: &AppState, ctx: &Ctx, name: &str) -> Result<(), ApiError> {
    ctx.enforce(&DELETE, None, "DeleteApplicationKey", &|param| {
        (param == "name").then(|| name.to_owned())
    })?;
    let name = given(name, "name")?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    entities::delete_entity(&txn, Collection::ApplicationKeys, name).await?;
    let change = Change::on(
        &ctx.caller.name,
        "DeleteApplicationKey",
        Collection::ApplicationKeys,
        name,
        Value::Null,
    );
    crate::domain::write::commit_audited(
        txn,
        &Change {
            detail: None,
            ..change
        },
    )
    .await?;
    Ok(())
}

/// The stored key `idx` after the need of `service` is enforced on it (`param` answers the
/// call's parameters); an entity of another collection has no such service (404).
async fn checked(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    service: KeyService,
    param: &dyn Fn(&str) -> Option<String>,
) -> Result<AppKeyRecord, ApiError> {
    ctx.enforce(&service.need(), Some(idx), service.as_str(), param)?;
    let name = match ctx.index.entity(idx) {
        Some(entity) if entity.collection == Collection::ApplicationKeys => entity.name.clone(),
        _ => return Err(ApiError::NotFound),
    };
    Ok(app_keys::get_app_key(&state.db, &name).await?)
}

/// The stored key `idx` for the read `service`.
async fn read(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    service: KeyService,
) -> Result<AppKeyRecord, ApiError> {
    checked(state, ctx, idx, service, &|_| None).await
}

/// `GetKeyID`: the id of key `idx`; 400 when it was imported without its secret.
pub async fn key_id(state: &AppState, ctx: &Ctx, idx: EntityIdx) -> Result<String, ApiError> {
    let record = read(state, ctx, idx, KeyService::GetKeyId).await?;
    record
        .key
        .key_sealed
        .as_deref()
        .and_then(|s| state.auth.sealer.open(s))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the key id of '{}' is not available (imported without its secret)",
                record.entity.name
            ))
        })
}

/// `GetUserName`: the user key `idx` acts as (empty when it has none).
pub async fn user_name(state: &AppState, ctx: &Ctx, idx: EntityIdx) -> Result<String, ApiError> {
    let record = read(state, ctx, idx, KeyService::GetUserName).await?;
    Ok(match record.key.user_id {
        Some(id) => entities::find_entity_by_id(&state.db, id)
            .await?
            .map(|e| e.name)
            .unwrap_or_default(),
        None => String::new(),
    })
}

/// `IsExpired`: whether key `idx` has expired.
pub async fn is_expired(state: &AppState, ctx: &Ctx, idx: EntityIdx) -> Result<bool, ApiError> {
    let record = read(state, ctx, idx, KeyService::IsExpired).await?;
    Ok(record.key.expiration_date.is_some_and(|at| at <= now_ms()))
}

/// `GetExpirationDate`: when key `idx` expires (epoch ms), if ever.
pub async fn expiration_date(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
) -> Result<Option<i64>, ApiError> {
    let record = read(state, ctx, idx, KeyService::GetExpirationDate).await?;
    Ok(record.key.expiration_date)
}

/// Makes `change` on key `idx` for the caller, in one transaction with its audit row.
pub async fn change(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    change: KeyChange<'_>,
) -> Result<(), ApiError> {
    let service = change.service();
    let subject = match change {
        KeyChange::User(user) => Some(user.to_owned()),
        _ => None,
    };
    let record = checked(state, ctx, idx, service, &|param| {
        (param == "name").then(|| subject.clone()).flatten()
    })
    .await?;
    let name = record.entity.name;
    let mut key = record.key;
    match change {
        KeyChange::User(user) => key.user_id = Some(user_id(state, given(user, "name")?).await?),
        KeyChange::Expiration(at) => key.expiration_date = Some(at),
        KeyChange::DefaultExpiration => key.expiration_date = Some(default_expiration(state)),
        KeyChange::ClientName(client) => client.clone_into(&mut key.client_name),
        KeyChange::IpWhitelist(list) => {
            validate_whitelist(list).map_err(ApiError::BadRequest)?;
            list.clone_into(&mut key.ip_whitelist);
        }
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    app_keys::save_app_key(&txn, &key).await?;
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &ctx.caller.name,
            service.as_str(),
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
    Ok(())
}
