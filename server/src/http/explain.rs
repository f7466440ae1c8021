//! `Resources/SecurityServices/ExplainPermission(user, entityType, entityName, permission,
//! resource)`: every rule the evaluator looked at, in order, and the one that decided.
//!
//! Anyone may explain their own decisions; explaining another user's needs a security
//! administrator. A caller who cannot see the entity gets 404, as on every other route, so an
//! explanation never reveals an entity.

use ironworx_entity::vocab::PermissionKind;
use serde_json::{Value, json};

use crate::authz::Step;
use crate::domain::explain::{Question, explain_as};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{self, Params};

/// The fields of an explanation row.
pub const FIELDS: &[(&str, &str)] = &[
    ("layer", "STRING"),
    ("principal", "STRING"),
    ("principalType", "STRING"),
    ("resource", "STRING"),
    ("effect", "STRING"),
    ("decisive", "BOOLEAN"),
    ("detail", "STRING"),
];

/// The explanation as InfoTable rows.
pub fn rows(steps: &[Step]) -> Vec<Value> {
    steps
        .iter()
        .map(|s| {
            json!({
                "layer": s.layer.label(),
                "principal": s.principal.as_ref().map(|(_, n)| n.as_str()).unwrap_or(""),
                "principalType": s.principal.as_ref().map(|(t, _)| t.as_str()).unwrap_or(""),
                "resource": s.resource,
                "effect": s.effect.label(),
                "decisive": s.decisive,
                "detail": s.detail,
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
    };
    let explanation = explain_as(guard, &question)?;
    Ok(infotable(FIELDS, rows(&explanation.steps)))
}
