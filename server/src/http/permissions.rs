//! The permission services of every securable entity and of `Resources/CollectionFunctions`:
//! `Add…`/`Delete…` for run time, design time and visibility (own, `Instance…` on templates and
//! shapes, `Collection…`), and the `Check…` services. Changes are written in one transaction with
//! their audit row, and the index is rebuilt before the response, so the caller reads its write.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{
    ANY_RESOURCE, BaseType, Collection, PermissionCategory, PermissionKind,
};
use serde_json::{Value, json};

use crate::authz::{Outcome, Target};
use crate::domain::rules::{self, Holder, RuleScope};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::primitive;
use crate::http::params::{self, Params};
use crate::state::AppState;

/// The scope and category a service name spells after its verb: `InstanceRunTime`,
/// `CollectionVisibility`, `DesignTime` (the entity's own rules), …
pub fn scope_and_category(name: &str) -> Option<(RuleScope, PermissionCategory)> {
    let (scope, rest) = if let Some(rest) = name.strip_prefix("Instance") {
        (RuleScope::Instance, rest)
    } else if let Some(rest) = name.strip_prefix("Collection") {
        (RuleScope::Collection, rest)
    } else {
        (RuleScope::Own, name)
    };
    let category = match rest {
        "RunTime" => PermissionCategory::RunTime,
        "DesignTime" => PermissionCategory::DesignTime,
        "Visibility" => PermissionCategory::Visibility,
        _ => return None,
    };
    Some((scope, category))
}

/// A parsed `Add…Permission` / `Delete…Permission` service name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleService {
    /// Add (`true`) or delete.
    pub add: bool,
    /// Own, instance or collection.
    pub scope: RuleScope,
    /// Run time, design time or visibility.
    pub category: PermissionCategory,
}

impl RuleService {
    /// Parses names like `AddInstanceRunTimePermission` or `DeleteCollectionVisibilityPermission`.
    pub fn parse(service: &str) -> Option<RuleService> {
        let (add, rest) = if let Some(rest) = service.strip_prefix("Add") {
            (true, rest)
        } else {
            (false, service.strip_prefix("Delete")?)
        };
        let (scope, category) = scope_and_category(rest.strip_suffix("Permission")?)?;
        Some(RuleService {
            add,
            scope,
            category,
        })
    }
}

/// The rule a service call names ([`rules::named_rule`]); its permission must be of the
/// service's category.
fn rule_of(service: RuleService, p: &Params) -> Result<Rule, ApiError> {
    let principal = params::required(&p.principal, "principal")?;
    let principal_type = params::principal_type(&p.principal_type)?;
    let kind = match service.category {
        PermissionCategory::Visibility => PermissionKind::Visibility,
        category => {
            let kind = params::kind(&p.kind, "type")?;
            if kind.category() != category {
                return Err(ApiError::BadRequest(format!(
                    "'{kind}' is not a {} permission",
                    rules::category_words(category)
                )));
            }
            kind
        }
    };
    let allow = match (service.add, service.category) {
        (true, PermissionCategory::Visibility) | (false, _) => true,
        (true, _) => params::boolean(&p.allow, "allow")?,
    };
    let resource = p.resource.as_deref().unwrap_or_default();
    let rule = rules::named_rule(
        kind,
        resource,
        (principal_type, principal),
        allow,
        service.add,
    );
    rule.validate()?;
    Ok(rule)
}

/// Runs a permission service on entity `name` of `collection`; `None` when `service` is not one.
pub async fn entity_service(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: crate::authz::EntityIdx,
    service: &str,
    p: &Params,
) -> Option<Result<Value, ApiError>> {
    if let Some(rule_service) = RuleService::parse(service) {
        if rule_service.scope == RuleScope::Collection {
            return None;
        }
        return Some(
            async {
                let rule = rule_of(rule_service, p)?;
                let holder = Holder::of(rule_service.scope, collection, idx);
                rules::change(state, guard, holder, rule_service.add, &rule).await?;
                Ok(json!({}))
            }
            .await,
        );
    }
    let result = match service {
        "CheckPermission"
        | "CheckPermissionForUser"
        | "CheckDesignTimePermission"
        | "CheckDesignTimePermissionForUser"
        | "CheckPermissionForGroup"
        | "CheckDesignTimePermissionForGroup" => check(guard, idx, service, p),
        "GetPermissionsForCurrentUser" | "GetPermissionsForUser" | "GetPermissionsForGroup" => {
            permissions_for(state, guard, collection, idx, service, p).await
        }
        _ => return None,
    };
    Some(result)
}

/// The user a `…ForUser` service names, the group a `…ForGroup` service names, or the caller
/// (who may ask about whom is enforced from the catalog before the service runs).
fn subject(guard: &Guard, service: &str, p: &Params) -> Result<crate::authz::EntityIdx, ApiError> {
    if service.ends_with("ForGroup") {
        let name = params::required(&p.group, "group")?;
        return guard
            .index
            .lookup(Collection::Groups, name)
            .ok_or_else(|| ApiError::BadRequest(format!("unknown group '{name}'")));
    }
    if !service.ends_with("ForUser") {
        return Ok(guard.user);
    }
    let name = params::required(&p.user, "user")?;
    guard
        .index
        .lookup(Collection::Users, name)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{name}'")))
}

/// `GetPermissionsForCurrentUser` / `GetPermissionsForUser(name, user, permissionName)`: one
/// `UserPermissions {name, isPermitted}` row per resource. `name` `*` (or empty) lists every
/// property, service or event (as the kind asks) that the entity and whatever it inherits from
/// define; an entity defining none answers the `*` row.
async fn permissions_for(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: crate::authz::EntityIdx,
    service: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let user = subject(guard, service, p)?;
    let kind = params::kind(&p.permission_name, "permissionName")?;
    let asked = p
        .name
        .as_deref()
        .filter(|n| !n.is_empty() && *n != ANY_RESOURCE);
    let resources: Vec<String> = match (asked, kind.category()) {
        (Some(name), PermissionCategory::RunTime) => vec![name.to_owned()],
        (None, PermissionCategory::RunTime) => {
            let mut names = defined_resources(state, guard, collection, idx, kind).await?;
            if names.is_empty() {
                names.push(ANY_RESOURCE.to_owned());
            }
            names
        }
        _ => vec![ANY_RESOURCE.to_owned()],
    };
    let rows = resources
        .into_iter()
        .map(|resource| {
            let outcome = crate::authz::decide(
                &guard.index,
                &crate::authz::Request {
                    user,
                    target: Target::Entity(idx),
                    kind,
                    resource: &resource,
                },
            );
            json!({ "name": resource, "isPermitted": outcome == Outcome::Allow })
        })
        .collect();
    Ok(crate::http::infotable::infotable(
        &[
            ("name", BaseType::String),
            ("isPermitted", BaseType::Boolean),
        ],
        rows,
    ))
}

/// The names of the properties, services or events (as `kind` asks) an entity defines, with
/// those a Thing inherits from its templates and shapes, first definition first.
pub async fn defined_resources(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: crate::authz::EntityIdx,
    kind: PermissionKind,
) -> Result<Vec<String>, ApiError> {
    use ironworx_entity::queries::parts::{
        event_definitions, property_definitions, service_definitions,
    };
    let entity = guard.index.entity(idx).ok_or(ApiError::NotFound)?;
    let definers: Vec<i64> = if collection == Collection::Things {
        crate::http::things::model::load(&state.db, &entity.name)
            .await?
            .definers
            .iter()
            .map(|d| d.id)
            .collect()
    } else {
        vec![entity.id]
    };
    let mut names: Vec<String> = Vec::new();
    for owner in definers {
        let defined: Vec<String> = match kind {
            PermissionKind::PropertyRead | PermissionKind::PropertyWrite => {
                property_definitions::list(&state.db, owner)
                    .await?
                    .into_iter()
                    .map(|d| d.name)
                    .collect()
            }
            PermissionKind::ServiceInvoke => service_definitions::list(&state.db, owner)
                .await?
                .into_iter()
                .map(|d| d.name)
                .collect(),
            _ => event_definitions::list(&state.db, owner)
                .await?
                .into_iter()
                .map(|d| d.name)
                .collect(),
        };
        for name in defined {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// The `Check…` services: whether the caller (or a named user) holds a permission.
fn check(
    guard: &Guard,
    idx: crate::authz::EntityIdx,
    service: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    // Who is asked about first: naming another user or a group is a security
    // administrator's question, refused before the parameters are looked at.
    let user = subject(guard, service, p)?;
    let kind = params::kind(&p.kind, "type")?;
    let design = service.starts_with("CheckDesignTime");
    if design && kind.category() != PermissionCategory::DesignTime {
        return Err(ApiError::BadRequest(format!(
            "'{kind}' is not a design-time permission"
        )));
    }
    let resource = p
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(ANY_RESOURCE);
    let outcome = crate::authz::decide(
        &guard.index,
        &crate::authz::Request {
            user,
            target: Target::Entity(idx),
            kind,
            resource,
        },
    );
    Ok(primitive(
        BaseType::Boolean,
        json!(outcome == Outcome::Allow),
    ))
}

/// `Resources/CollectionFunctions`: the `…Collection…Permission(…, collectionName)` services.
pub async fn collection_service(
    state: &AppState,
    guard: &Guard,
    service: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let rule_service = RuleService::parse(service)
        .filter(|s| s.scope == RuleScope::Collection)
        .ok_or(ApiError::NotFound)?;
    let name = params::required(&p.collection_name, "collectionName")?;
    let collection: Collection = name
        .parse()
        .map_err(|e: ironworx_entity::vocab::VocabError| ApiError::BadRequest(e.to_string()))?;
    let rule = rule_of(rule_service, p)?;
    rules::change(
        state,
        guard,
        Holder::Collection(collection),
        rule_service.add,
        &rule,
    )
    .await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        assert_eq!(
            RuleService::parse("AddInstanceRunTimePermission"),
            Some(RuleService {
                add: true,
                scope: RuleScope::Instance,
                category: PermissionCategory::RunTime
            })
        );
        assert_eq!(
            RuleService::parse("DeleteCollectionVisibilityPermission"),
            Some(RuleService {
                add: false,
                scope: RuleScope::Collection,
                category: PermissionCategory::Visibility
            })
        );
        assert_eq!(
            RuleService::parse("AddDesignTimePermission").map(|s| s.scope),
            Some(RuleScope::Own)
        );
        assert_eq!(RuleService::parse("AddPermission"), None);
        assert_eq!(RuleService::parse("GetRunTimePermissions"), None);
    }
}
