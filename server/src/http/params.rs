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

/// Parses a service body into the parameters of one service: empty, or the JSON `null`
/// (whitespace around it allowed), means all defaults, as ThingWorx takes it; anything else
/// must be a JSON object.
pub fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if is_no_parameters(body) {
        return Ok(T::default());
    }
    json(body)
}

/// Whether a service body carries no parameters: nothing but whitespace, or `null`.
pub fn is_no_parameters(body: &[u8]) -> bool {
    body.trim_ascii().is_empty() || body.trim_ascii() == b"null"
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
