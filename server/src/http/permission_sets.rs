//! Whole permission sets of an entity or a collection over REST: the `Get…Permissions`
//! InfoTables, the `Get…PermissionsAsJSON` documents and `Set…PermissionsAsJSON`, which
//! replaces a set (own rules, or `Instance…` rules of templates and shapes); the sets are read
//! and replaced by [`crate::domain::rules`].

use std::collections::BTreeMap;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{
    ANY_RESOURCE, BaseType, Collection, PermissionCategory, PermissionKind, PrincipalType,
};
use serde_json::{Map, Value, json};

use crate::authz::EntityIdx;
use crate::domain::rules::{self, Holder, RuleScope as Scope};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::{infotable, primitive};
use crate::http::params::Params;
use crate::http::permissions::scope_and_category;
use crate::state::AppState;

/// What a set service does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// `Get…Permissions`: an InfoTable.
    Table,
    /// `Get…PermissionsAsJSON`: the ThingWorx JSON document.
    Json,
    /// `Set…PermissionsAsJSON`: replace the set.
    Replace,
}

/// A parsed set service name such as `GetInstanceRunTimePermissionsAsJSON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SetService {
    action: Action,
    scope: Scope,
    category: PermissionCategory,
}

impl SetService {
    fn parse(service: &str) -> Option<SetService> {
        let (get, rest) = if let Some(rest) = service.strip_prefix("Get") {
            (true, rest)
        } else {
            (false, service.strip_prefix("Set")?)
        };
        let (json, rest) = match rest.strip_suffix("AsJSON") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let action = match (get, json) {
            (true, false) => Action::Table,
            (true, true) => Action::Json,
            (false, true) => Action::Replace,
            (false, false) => return None,
        };
        let (scope, category) = scope_and_category(rest.strip_suffix("Permissions")?)?;
        // Collections answer the InfoTable only, as in ThingWorx.
        if scope == Scope::Collection && action != Action::Table {
            return None;
        }
        Some(SetService {
            action,
            scope,
            category,
        })
    }
}

/// Runs a set service on the entity `idx`; `None` when `service` is not one.
pub async fn entity_service(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: EntityIdx,
    service: &str,
    p: &Params,
) -> Option<Result<Value, ApiError>> {
    let set = SetService::parse(service).filter(|s| s.scope != Scope::Collection)?;
    let holder = Holder::of(set.scope, collection, idx);
    Some(
        async {
            if set.action == Action::Replace {
                let found = rules_from_json(set.category, p.permissions.as_ref())?;
                rules::replace(state, guard, holder, set.category, &found).await?;
                return Ok(json!({}));
            }
            let found = rules::rules(state, guard, holder, set.category).await?;
            Ok(match set.action {
                Action::Table => table(set.category, &found),
                _ => primitive(BaseType::Json, document(set.category, &found)),
            })
        }
        .await,
    )
}

/// `Resources/CollectionFunctions` `GetCollection…Permissions(collectionName)`; `None` when
/// `service` is not one.
pub async fn collection_service(
    state: &AppState,
    guard: &Guard,
    service: &str,
    p: &Params,
) -> Option<Result<Value, ApiError>> {
    let set = SetService::parse(service).filter(|s| s.scope == Scope::Collection)?;
    Some(
        async {
            let name = crate::http::params::required(&p.collection_name, "collectionName")?;
            let collection: Collection =
                name.parse()
                    .map_err(|e: ironworx_entity::vocab::VocabError| {
                        ApiError::BadRequest(e.to_string())
                    })?;
            let holder = Holder::Collection(collection);
            let found = rules::rules(state, guard, holder, set.category).await?;
            Ok(table(set.category, &found))
        }
        .await,
    )
}

/// The InfoTable form: `Permissions {isPermitted, name, type, permissionName}`, with
/// `resourceName` for run time (`RunTimePermissions`).
fn table(category: PermissionCategory, rules: &[Rule]) -> Value {
    let run_time = category == PermissionCategory::RunTime;
    let mut fields = vec![
        ("isPermitted", BaseType::Boolean),
        ("name", BaseType::String),
        ("type", BaseType::String),
        ("permissionName", BaseType::String),
    ];
    if run_time {
        fields.insert(2, ("resourceName", BaseType::String));
    }
    let rows = rules
        .iter()
        .map(|r| {
            let mut row = json!({
                "isPermitted": r.allow,
                "name": r.principal_name,
                "type": r.principal_type.as_str(),
                "permissionName": r.kind.as_str(),
            });
            if run_time {
                row["resourceName"] = json!(r.resource);
            }
            row
        })
        .collect();
    infotable(&fields, rows)
}

fn principal_json(rule: &Rule) -> Value {
    json!({
        "isPermitted": rule.allow,
        "name": rule.principal_name,
        "type": rule.principal_type.as_str(),
    })
}

fn kinds_object<'a>(
    kinds: &[PermissionKind],
    rules: impl Iterator<Item = &'a Rule> + Clone,
) -> Map<String, Value> {
    kinds
        .iter()
        .map(|kind| {
            let principals: Vec<Value> = rules
                .clone()
                .filter(|r| r.kind == *kind)
                .map(principal_json)
                .collect();
            (kind.as_str().to_owned(), Value::Array(principals))
        })
        .collect()
}

/// The ThingWorx JSON document of a set: run time is one block per resource (`*` always
/// present, every kind listed), design time one list per kind, visibility one list.
fn document(category: PermissionCategory, rules: &[Rule]) -> Value {
    let kinds = PermissionKind::of_category(category);
    match category {
        PermissionCategory::RunTime => {
            let mut resources: Vec<&str> = vec![ANY_RESOURCE];
            for rule in rules {
                if !resources.contains(&rule.resource.as_str()) {
                    resources.push(&rule.resource);
                }
            }
            let blocks: Vec<Value> = resources
                .iter()
                .map(|resource| {
                    let mut block = Map::new();
                    block.insert("resourceName".into(), json!(resource));
                    block.extend(kinds_object(
                        kinds,
                        rules.iter().filter(|r| r.resource == *resource),
                    ));
                    Value::Object(block)
                })
                .collect();
            json!({ "permissions": blocks })
        }
        _ => Value::Object(kinds_object(kinds, rules.iter())),
    }
}

/// Reads a `Set…PermissionsAsJSON` document (an object or its text) into rules, refusing
/// unknown kinds, bad principal types and a principal both allowed and denied in one cell.
fn rules_from_json(
    category: PermissionCategory,
    permissions: Option<&Value>,
) -> Result<Vec<Rule>, ApiError> {
    let bad = |m: String| ApiError::BadRequest(format!("parameter 'permissions': {m}"));
    let parsed;
    let doc = match permissions {
        None | Some(Value::Null) => return Err(bad("missing".into())),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| bad(format!("malformed JSON: {e}")))?;
            &parsed
        }
        Some(other) => other,
    };
    let mut cells: BTreeMap<(PermissionKind, String, PrincipalType, String), bool> =
        BTreeMap::new();
    let mut add = |kind: PermissionKind, resource: &str, entry: &Value| -> Result<(), ApiError> {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(format!("a {kind} entry has no name")))?;
        let principal_type: PrincipalType = entry
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("the {kind} entry for '{name}' has no type")))?
            .parse()
            .map_err(|e: ironworx_entity::vocab::VocabError| bad(e.to_string()))?;
        let allow = match entry.get("isPermitted") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => return Err(bad(format!("isPermitted must be a boolean, not {other}"))),
        };
        let key = (kind, resource.to_owned(), principal_type, name.to_owned());
        match cells.insert(key, allow) {
            Some(previous) if previous != allow => Err(bad(format!(
                "{principal_type} '{name}' is both allowed and denied {kind} on '{resource}'"
            ))),
            _ => Ok(()),
        }
    };
    let kinds_of = |block: &Map<String, Value>,
                    resource: &str,
                    skip: &[&str],
                    add: &mut dyn FnMut(PermissionKind, &str, &Value) -> Result<(), ApiError>|
     -> Result<(), ApiError> {
        for (key, entries) in block {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let kind: PermissionKind = key
                .parse()
                .ok()
                .filter(|k: &PermissionKind| k.category() == category)
                .ok_or_else(|| {
                    bad(format!(
                        "'{key}' is not a {} permission",
                        rules::category_words(category)
                    ))
                })?;
            let entries = entries
                .as_array()
                .ok_or_else(|| bad(format!("'{key}' must be a list")))?;
            for entry in entries {
                add(kind, resource, entry)?;
            }
        }
        Ok(())
    };
    let object = doc
        .as_object()
        .ok_or_else(|| bad("must be a JSON object".into()))?;
    match category {
        PermissionCategory::RunTime => {
            let blocks = match object.get("permissions") {
                Some(Value::Array(blocks)) => blocks,
                None => return Err(bad("expected the field 'permissions'".into())),
                Some(_) => return Err(bad("'permissions' must be a list".into())),
            };
            for block in blocks {
                let block = block
                    .as_object()
                    .ok_or_else(|| bad("each resource block must be an object".into()))?;
                let resource = block
                    .get("resourceName")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or(ANY_RESOURCE);
                kinds_of(block, resource, &["resourceName"], &mut add)?;
            }
        }
        _ => kinds_of(object, ANY_RESOURCE, &[], &mut add)?,
    }
    let rules: Vec<Rule> = cells
        .into_iter()
        .map(
            |((kind, resource, principal_type, principal_name), allow)| Rule {
                kind,
                resource,
                principal_type,
                principal_name,
                // Visibility is grant-only.
                allow: allow || kind == PermissionKind::Visibility,
            },
        )
        .collect();
    for rule in &rules {
        rule.validate()?;
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        let s = SetService::parse("GetInstanceRunTimePermissionsAsJSON").expect("parses");
        assert_eq!(
            (s.action, s.scope, s.category),
            (Action::Json, Scope::Instance, PermissionCategory::RunTime)
        );
        let s = SetService::parse("SetVisibilityPermissionsAsJSON").expect("parses");
        assert_eq!(s.action, Action::Replace);
        let s = SetService::parse("GetCollectionDesignTimePermissions").expect("parses");
        assert_eq!((s.action, s.scope), (Action::Table, Scope::Collection));
        assert!(SetService::parse("SetRunTimePermissions").is_none());
        assert!(SetService::parse("SetCollectionRunTimePermissionsAsJSON").is_none());
        assert!(SetService::parse("GetPropertyValues").is_none());
    }

    #[test]
    fn run_time_document_round_trips() {
        let text = r#"{"permissions":[{"resourceName":"*","PropertyRead":[{"isPermitted":true,"name":"Operators","type":"Group"}],"PropertyWrite":[],"ServiceInvoke":[],"EventInvoke":[],"EventSubscribe":[]},{"resourceName":"Reset","ServiceInvoke":[{"isPermitted":false,"name":"Operators","type":"Group"}]}]}"#;
        let rules =
            rules_from_json(PermissionCategory::RunTime, Some(&json!(text))).expect("parses");
        assert_eq!(rules.len(), 2);
        let doc = document(PermissionCategory::RunTime, &rules);
        let again = rules_from_json(PermissionCategory::RunTime, Some(&doc)).expect("parses");
        assert_eq!(rules, again);
        assert_eq!(doc["permissions"][0]["resourceName"], "*");
        assert_eq!(
            doc["permissions"][1]["ServiceInvoke"][0]["isPermitted"],
            false
        );
        assert_eq!(doc["permissions"][1]["PropertyRead"], json!([]));
    }

    #[test]
    fn refuses_bad_documents() {
        let rt = PermissionCategory::RunTime;
        for doc in [
            json!("not json"),
            json!({"permissions": [{"resourceName": "*", "Read": []}]}),
            json!({"permissions": [{"resourceName": "*", "PropertyRead": [{"name": "G", "type": "Galaxy"}]}]}),
            json!({"permissions": [{"resourceName": "*", "PropertyRead": [
                {"name": "G", "type": "Group", "isPermitted": true},
                {"name": "G", "type": "Group", "isPermitted": false}]}]}),
            json!({"permissions": [{"resourceName": "*", "PropertyRead": [{"name": "Acme", "type": "Organization"}]}]}),
        ] {
            assert!(rules_from_json(rt, Some(&doc)).is_err(), "{doc}");
        }
        let dt = PermissionCategory::DesignTime;
        let rules = rules_from_json(
            dt,
            Some(&json!({"Create":[],"Read":[{"isPermitted":true,"name":"Users","type":"Group"}],"Update":[],"Delete":[],"Metadata":[]})),
        )
        .expect("parses");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].kind, PermissionKind::Read);
        assert_eq!(document(dt, &rules)["Read"][0]["name"], "Users");
    }
}
