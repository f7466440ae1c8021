//! `Resources/SecurityServices/ExplainPermission(user, entityType, entityName, permission,
//! resource, wrapped)`: every rule the evaluator looked at, in order, and the one that decided;
//! each row names the user whose rules it is (`evaluatedFor`: the user asked about, or `System`
//! when `wrapped` asks about an access from inside a script service and the user alone is not
//! allowed).
//!
//! Anyone may explain their own decisions; explaining another user's needs a security
//! administrator. A caller who cannot see the entity gets 404, as on every other route, so an
//! explanation never reveals an entity.

use ironworx_entity::vocab::{BaseType, PermissionKind};
use serde_json::{Value, json};

use crate::authz::Step;
use crate::domain::explain::{Question, explain_as};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{self, Params};

/// The fields of an explanation row.
pub const FIELDS: &[(&str, BaseType)] = &[
    ("layer", BaseType::String),
    ("principal", BaseType::String),
    ("principalType", BaseType::String),
    ("resource", BaseType::String),
    ("effect", BaseType::String),
    ("decisive", BaseType::Boolean),
    ("detail", BaseType::String),
    ("evaluatedFor", BaseType::UserName),
];

/// The explanation as InfoTable rows; the rows from `system_from` on are the `System` user's.
pub fn rows(steps: &[Step], user: &str, system_from: Option<usize>) -> Vec<Value> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let evaluated_for = match system_from {
                Some(from) if i >= from => ironworx_entity::vocab::builtin::SYSTEM,
                _ => user,
            };
            json!({
                "layer": s.layer.label(),
                "principal": s.principal.as_ref().map(|(_, n)| n.as_str()).unwrap_or(""),
                "principalType": s.principal.as_ref().map(|(t, _)| t.as_str()).unwrap_or(""),
                "resource": s.resource,
                "effect": s.effect.label(),
                "decisive": s.decisive,
                "detail": s.detail,
                "evaluatedFor": evaluated_for,
            })
        })
        .collect()
}

/// Explains one decision.
pub fn explain_permission(guard: &Guard, p: &Params) -> Result<Value, ApiError> {
    let user = p
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(&guard.caller.name);
    let entity_type = params::required(&p.entity_type, "entityType")?;
    let kind = params::kind(&p.permission, "permission")?;
    let entity = p.entity_name.as_deref().unwrap_or("");
    if entity.is_empty() && kind != PermissionKind::Create {
        return Err(ApiError::BadRequest(
            "missing parameter 'entityName' (only Create is asked of a whole collection)".into(),
        ));
    }
    let question = Question {
        user,
        entity_type,
        entity,
        kind,
        resource: p.resource.as_deref().unwrap_or(""),
        wrapped: p.wrapped.is_some() && params::boolean(&p.wrapped, "wrapped")?,
    };
    let explanation = explain_as(guard, &question)?;
    Ok(infotable(
        FIELDS,
        rows(&explanation.steps, user, explanation.system_from),
    ))
}
