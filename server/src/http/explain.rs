//! `Resources/SecurityServices/ExplainPermission(user, entityType, entityName, permission,
//! resource)`: every rule the evaluator looked at, in order, and the one that decided.
//!
//! Anyone may explain their own decisions; explaining another user's needs a security
//! administrator. A caller who cannot see the entity gets 404, as on every other route, so an
//! explanation never reveals an entity.

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionKind};
use serde_json::{Value, json};

use crate::authz::{Outcome, Request, Step, Target, collection_of, explain, target_of};
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
    let user_name = p
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(&guard.caller.name);
    let own = user_name == guard.caller.name;
    if !own {
        guard.require_security_admin("explanations of other users")?;
    }
    let entity_type = params::required(&p.entity_type, "entityType")?;
    let collection = collection_of(entity_type)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown entityType '{entity_type}'")))?;
    let kind = params::kind(&p.permission, "permission")?;
    let name = p.entity_name.as_deref().unwrap_or("");
    if name.is_empty() && kind != PermissionKind::Create {
        return Err(ApiError::BadRequest(
            "missing parameter 'entityName' (only Create is asked of a whole collection)".into(),
        ));
    }
    let target = target_of(&guard.index, collection, name).ok_or(ApiError::NotFound)?;
    // The caller must see the entity itself before learning anything about it.
    if matches!(target, Target::Entity(_))
        && guard.decide(target, PermissionKind::Visibility, ANY_RESOURCE) != Outcome::Allow
    {
        return Err(ApiError::NotFound);
    }
    let user = guard
        .index
        .lookup(Collection::Users, user_name)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{user_name}'")))?;
    let resource = p
        .resource
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(ANY_RESOURCE);
    let (_, steps) = explain(
        &guard.index,
        &Request {
            user,
            target,
            kind,
            resource,
        },
    );
    Ok(infotable(FIELDS, rows(&steps)))
}
