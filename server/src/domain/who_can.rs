//! Who can do what on one entity: every user's and group's effective decision for each
//! permission on one resource, decided from the authorization index by
//! [`crate::authz::decide`], as a request would be. Only a security administrator may ask,
//! and only about an entity they see (404 otherwise, as on every route).

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionCategory, PermissionKind};

use crate::authz::{EntityIdx, Outcome, Request, Target, decide};
use crate::domain::Ctx;
use crate::error::ApiError;

/// One principal's decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `Users` or `Groups`.
    pub collection: Collection,
    /// The principal's name.
    pub name: String,
    /// The decision for each permission of [`kinds`], in that order.
    pub allowed: Vec<bool>,
}

/// The permissions asked about `resource`: every one but `Create` for `*`, the run-time
/// permissions for a named property, service or event.
pub fn kinds(resource: &str) -> Vec<PermissionKind> {
    PermissionKind::ALL
        .iter()
        .copied()
        .filter(|k| *k != PermissionKind::Create)
        .filter(|k| resource == ANY_RESOURCE || k.category() == PermissionCategory::RunTime)
        .collect()
}

/// Every user's and group's decisions on entity `idx` for `resource`, users first, by name.
pub fn who_can(ctx: &Ctx, idx: EntityIdx, resource: &str) -> Result<Vec<Row>, ApiError> {
    ctx.require_security_admin("who can")?;
    if ctx.decide(
        Target::Entity(idx),
        PermissionKind::Visibility,
        ANY_RESOURCE,
    ) != Outcome::Allow
    {
        return Err(ApiError::NotFound);
    }
    let resource = if resource.is_empty() {
        ANY_RESOURCE
    } else {
        resource
    };
    let kinds = kinds(resource);
    let mut rows = Vec::new();
    for i in 0..ctx.index.entity_count() {
        let Ok(principal) = EntityIdx::try_from(i) else {
            continue;
        };
        let Some(node) = ctx.index.entity(principal) else {
            continue;
        };
        if !matches!(node.collection, Collection::Users | Collection::Groups) {
            continue;
        }
        let allowed = kinds
            .iter()
            .map(|&kind| {
                decide(
                    &ctx.index,
                    &Request {
                        user: principal,
                        target: Target::Entity(idx),
                        kind,
                        resource,
                    },
                ) == Outcome::Allow
            })
            .collect();
        rows.push(Row {
            collection: node.collection,
            name: node.name.clone(),
            allowed,
        });
    }
    rows.sort_by(|a, b| {
        (a.collection != Collection::Users, &a.name)
            .cmp(&(b.collection != Collection::Users, &b.name))
    });
    Ok(rows)
}
