//! Service parameters: ThingWorx services take a JSON object (or nothing) as their body; every
//! parameter is optional on the wire and each service says which ones it needs.

use actix_web::web::Bytes;
use ironworx_entity::vocab::{PermissionKind, PrincipalType};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// The parameters the security services read.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// A principal's name.
    pub principal: Option<String>,
    /// `User`, `Group`, `Organization` or `OrganizationalUnit`.
    pub principal_type: Option<String>,
    /// A property, service or event name, or `*`.
    pub resource: Option<String>,
    /// A permission kind.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Allow (`true`) or deny (`false`); a boolean or its text.
    pub allow: Option<Value>,
    /// A resource name (the `Check…` services) or a principal name.
    pub name: Option<String>,
    /// A user name.
    pub user: Option<String>,
    /// A user name (`TerminateUserSessions`).
    pub user_name: Option<String>,
    /// A collection name.
    pub collection_name: Option<String>,
    /// An entity type (collection or entity element name).
    pub entity_type: Option<String>,
    /// An entity name.
    pub entity_name: Option<String>,
    /// A permission kind (`ExplainPermission`).
    pub permission: Option<String>,
    /// A group name (the `…ForGroup` services).
    pub group: Option<String>,
    /// A permission kind (`GetPermissionsFor…`).
    pub permission_name: Option<String>,
    /// A permission set (`Set…PermissionsAsJSON`): a JSON object, or its text.
    pub permissions: Option<Value>,
}

impl Params {
    /// Parses a service body: empty, or a JSON object.
    pub fn parse(body: &Bytes) -> Result<Params, ApiError> {
        parse_body(body)
    }
}

/// Parses a service body into the parameters of one service: empty means all defaults,
/// anything else must be a JSON object.
pub fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// A required text parameter.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("missing parameter '{name}'")))
}

/// A required permission kind.
pub fn kind(value: &Option<String>, name: &str) -> Result<PermissionKind, ApiError> {
    required(value, name)?
        .parse()
        .map_err(|e: ironworx_entity::vocab::VocabError| {
            ApiError::BadRequest(format!("parameter '{name}': {e}"))
        })
}

/// A required principal type.
pub fn principal_type(value: &Option<String>) -> Result<PrincipalType, ApiError> {
    required(value, "principalType")?
        .parse()
        .map_err(|e: ironworx_entity::vocab::VocabError| {
            ApiError::BadRequest(format!("parameter 'principalType': {e}"))
        })
}

/// A required boolean, given as JSON `true`/`false` or the text `"true"`/`"false"`.
pub fn boolean(value: &Option<Value>, name: &str) -> Result<bool, ApiError> {
    match value {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameter '{name}' must be a boolean, not {other}"
        ))),
        None => Err(ApiError::BadRequest(format!("missing parameter '{name}'"))),
    }
}
