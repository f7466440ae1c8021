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
    /// A user name (`GetUserSessions`, `TerminateUserSession`, `TerminateUserSessions`).
    pub user_name: Option<String>,
    /// A session's id as `GetUserSessions` lists it (`TerminateUserSession`); a number or its
    /// text.
    pub session_id: Option<Value>,
    /// A collection name.
    pub collection_name: Option<String>,
    /// An entity type (collection or entity element name).
    pub entity_type: Option<String>,
    /// An entity name.
    pub entity_name: Option<String>,
    /// A permission kind (`ExplainPermission`).
    pub permission: Option<String>,
    /// Whether the access asked about is made from inside a script service
    /// (`ExplainPermission`); a boolean or its text.
    pub wrapped: Option<Value>,
    /// A group name (the `…ForGroup` services).
    pub group: Option<String>,
    /// A permission kind (`GetPermissionsFor…`).
    pub permission_name: Option<String>,
    /// A permission set (`Set…PermissionsAsJSON`): a JSON object, or its text.
    pub permissions: Option<Value>,
    /// A state of the model (`GetEffectivePermissionChanges`): `live` or an instant.
    pub before: Option<String>,
    /// A state of the model (`GetEffectivePermissionChanges`): `live` or an instant.
    pub after: Option<String>,
    /// An entity name (`GetEffectivePermissionChanges`).
    pub entity: Option<String>,
}

impl Params {
    /// Parses a service body: empty, or a JSON object.
    pub fn parse(body: &Bytes) -> Result<Params, ApiError> {
        parse_body(body)
    }
}

/// Deepest nesting of arrays and objects a JSON body may have.
pub const MAX_JSON_DEPTH: usize = 64;

/// Refuses a JSON text nested deeper than [`MAX_JSON_DEPTH`], before it is parsed (a linear
/// scan that skips strings), so that no parser recursion depends on the input.
pub fn check_depth(body: &[u8]) -> Result<(), ApiError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(ApiError::BadRequest(format!(
                        "JSON nested deeper than {MAX_JSON_DEPTH} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a JSON body (depth checked first) into `T`.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    check_depth(body)?;
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// Parses a service body into the parameters of one service: empty or `null` means all
/// defaults, anything else must be a JSON object (never an array, which would fill a
/// structure by position). A parameter given twice counts once, with its last value, as
/// [`text_of`] reads it.
pub fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    match object(body)? {
        None => Ok(T::default()),
        Some(map) => T::deserialize(Value::Object(map))
            .map_err(|e| ApiError::BadRequest(format!("malformed parameters: {e}"))),
    }
}

/// The JSON object of a service body; `None` when the body is empty or `null`.
pub fn object(body: &[u8]) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match json::<Value>(body)? {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        other => Err(ApiError::BadRequest(format!(
            "the parameters must be a JSON object, not {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text of parameter `name` of a service body's [`object`], when it holds it as a string
/// (anything else is left to the service's own parsing to refuse).
pub fn text_of(object: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

pub use crate::error::required;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_nothing_mean_no_parameters() {
        for body in ["", "  \n", "null", " null\r\n"] {
            let p: Params = parse_body(body.as_bytes()).expect(body);
            assert!(p.name.is_none(), "{body:?}");
        }
        assert!(parse_body::<Params>(b"nul").is_err());
        // An array would fill the structure by position, past the checks that read the
        // parameters by name.
        let err = parse_body::<Params>(br#"["p", "User"]"#).expect_err("an array");
        assert!(err.to_string().contains("JSON object"), "{err}");
        let object = object(br#"{"user": "a", "user": "b"}"#)
            .expect("an object")
            .expect("not empty");
        assert_eq!(text_of(&object, "user").as_deref(), Some("b"));
        let p: Params = parse_body(br#"{"user": "a", "user": "b"}"#).expect("parsed");
        assert_eq!(
            p.user.as_deref(),
            Some("b"),
            "the check and the service agree"
        );
    }

    #[test]
    fn depth_is_bounded_outside_strings() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_depth(deep(MAX_JSON_DEPTH).as_bytes()).is_ok());
        assert!(check_depth(deep(MAX_JSON_DEPTH + 1).as_bytes()).is_err());
        let quoted = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(check_depth(quoted.as_bytes()).is_ok(), "{quoted}");
        assert!(json::<Value>(quoted.as_bytes()).is_ok());
        let err = json::<Value>(deep(1000).as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("deeper than 64"), "{err}");
    }
}
