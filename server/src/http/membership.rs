//! The REST face of membership and ownership ([`crate::domain::membership`]): `Groups/<g>`
//! (`AddMember`, `DeleteMember`, `GetGroupMembers`), `Organizations/<o>`
//! (`AddOrganizationalUnit`, `AddMember`, `DeleteMember`, `GetMembers`,
//! `GetOrganizationConnections`) and `SetOwner` on any entity, parsed from their parameters;
//! and `Resources/EntityServices/Services/SetEntityPermission`
//! ([`crate::domain::rules::set_entity_permission`]).

use ironworx_entity::vocab::{BaseType, Collection, MemberType, PrincipalType, Tag};
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::domain::membership::{self, MembershipChange};
use crate::domain::rules::{self, Selection};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{boolean, parse_body, required};
use crate::state::AppState;

/// The parameters of the membership services.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MembershipParams {
    /// A member's name.
    pub member: Option<String>,
    /// `User` or `Group`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A unit's name (organizations), a new owner or a principal (`SetEntityPermission`).
    pub name: Option<String>,
    /// The parent unit of a new unit.
    pub parent_name: Option<String>,
    /// Free text for a new unit.
    pub description: Option<String>,
    /// Allow (`true`) or deny (`false`).
    pub allow: Option<Value>,
    /// The project whose entities `SetEntityPermission` writes on.
    pub project_name: Option<String>,
    /// `Vocabulary:Term` pairs joined by `;`, or an array of `{vocabulary, vocabularyTerm}`.
    pub tags: Option<Value>,
}

const GROUP_SERVICES: &[&str] = &["AddMember", "DeleteMember", "GetGroupMembers"];
const ORGANIZATION_SERVICES: &[&str] = &[
    "AddOrganizationalUnit",
    "AddMember",
    "DeleteMember",
    "GetMembers",
    "GetOrganizationConnections",
];

/// Runs a membership or ownership service of entity `idx`; `None` when `service` is not one.
pub async fn entity_service(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let known = service == "SetOwner"
        || (collection == Collection::Groups && GROUP_SERVICES.contains(&service))
        || (collection == Collection::Organizations && ORGANIZATION_SERVICES.contains(&service));
    if !known {
        return None;
    }
    Some(run(state, guard, collection, idx, service, body).await)
}

/// `Resources/EntityServices` services of this module; `None` when `service` is not one.
pub async fn entity_services(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    match service {
        "SetEntityPermission" => Some(set_entity_permission(state, guard, body).await),
        _ => None,
    }
}

fn member_type(p: &MembershipParams) -> Result<MemberType, ApiError> {
    required(&p.kind, "type")?
        .parse()
        .map_err(|e: ironworx_entity::vocab::VocabError| {
            ApiError::BadRequest(format!("parameter 'type': {e}"))
        })
}

/// The owner type of `SetOwner`: `User` when none is given.
fn owner_type(p: &MembershipParams) -> Result<PrincipalType, ApiError> {
    Ok(match p.kind.as_deref().filter(|k| !k.is_empty()) {
        None => PrincipalType::User,
        Some(_) => match member_type(p)? {
            MemberType::User => PrincipalType::User,
            MemberType::Group => PrincipalType::Group,
        },
    })
}

async fn run(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: MembershipParams = parse_body(body)?;
    let add = service == "AddMember";
    let change = match (collection, service) {
        (Collection::Groups, "GetGroupMembers") => {
            let members = membership::group_members(state, guard, idx).await?;
            return Ok(member_table(members, false));
        }
        (Collection::Organizations, "GetMembers") => {
            let unit = required(&p.name, "name")?;
            let members = membership::unit_members(state, guard, idx, unit).await?;
            return Ok(member_table(members, true));
        }
        (Collection::Organizations, "GetOrganizationConnections") => {
            let edges = membership::connections(state, guard, idx).await?;
            let rows = edges
                .into_iter()
                .map(|e| json!({ "from": e.from, "to": e.to, "connectionType": e.kind }))
                .collect();
            return Ok(infotable(
                &[
                    ("from", BaseType::String),
                    ("to", BaseType::String),
                    ("connectionType", BaseType::String),
                ],
                rows,
            ));
        }
        (_, "SetOwner") => MembershipChange::Owner {
            name: required(&p.name, "name")?,
            kind: owner_type(&p)?,
        },
        (Collection::Groups, "AddMember" | "DeleteMember") => MembershipChange::GroupMember {
            member: required(&p.member, "member")?,
            kind: member_type(&p)?,
            add,
        },
        (Collection::Organizations, "AddOrganizationalUnit") => MembershipChange::Unit {
            parent: required(&p.parent_name, "parentName")?,
            name: required(&p.name, "name")?,
            description: p.description.as_deref().unwrap_or(""),
        },
        (Collection::Organizations, "AddMember" | "DeleteMember") => MembershipChange::UnitMember {
            unit: required(&p.name, "name")?,
            member: required(&p.member, "member")?,
            kind: member_type(&p)?,
            add,
        },
        _ => return Err(ApiError::NotFound),
    };
    membership::change(state, guard, idx, change).await?;
    Ok(json!({}))
}

/// Members as an infotable of `name` and `type` (and an empty `description` for units).
fn member_table(members: Vec<(String, MemberType)>, described: bool) -> Value {
    let mut fields = vec![("name", BaseType::String), ("type", BaseType::String)];
    if described {
        fields.push(("description", BaseType::String));
    }
    let rows = members
        .into_iter()
        .map(|(name, kind)| json!({ "name": name, "type": kind.as_str(), "description": "" }))
        .collect();
    infotable(&fields, rows)
}

/// The tags of a `tags` parameter: text `Vocabulary:Term;…` or an array of
/// `{vocabulary, vocabularyTerm}`.
fn tag_list(value: &Option<Value>) -> Result<Vec<Tag>, ApiError> {
    let bad = |e: ironworx_entity::vocab::VocabError| {
        ApiError::BadRequest(format!("parameter 'tags': {e}"))
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Tag::parse_list(s).map_err(bad),
        Some(Value::Array(items)) => {
            let mut text = Vec::with_capacity(items.len());
            for item in items {
                let vocabulary = item["vocabulary"].as_str().unwrap_or_default();
                let term = item["vocabularyTerm"].as_str().unwrap_or_default();
                text.push(format!("{vocabulary}:{term}"));
            }
            Tag::parse_list(&text.join(";")).map_err(bad)
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameter 'tags' must be text or an array, not {other}"
        ))),
    }
}

/// `SetEntityPermission(name, type, allow, projectName, tags)`: allow (or deny) principal
/// `name` every run-time permission on `*` of every entity of the project or carrying one of
/// the tags, in one transaction. Security administrators only.
async fn set_entity_permission(
    state: &AppState,
    guard: &Guard,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: MembershipParams = parse_body(body)?;
    let principal = required(&p.name, "name")?;
    let principal_type = match member_type(&p)? {
        MemberType::User => PrincipalType::User,
        MemberType::Group => PrincipalType::Group,
    };
    let allow = boolean(&p.allow, "allow")?;
    let project = p.project_name.as_deref().filter(|s| !s.is_empty());
    let tags = tag_list(&p.tags)?;
    let selection = Selection {
        project,
        tags: &tags,
    };
    rules::set_entity_permission(state, guard, (principal_type, principal), allow, selection)
        .await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_as_text_or_array() {
        let text = tag_list(&Some(json!("Plant:North;Plant:South"))).expect("text tags");
        let array = tag_list(&Some(json!([
            {"vocabulary": "Plant", "vocabularyTerm": "North"},
            {"vocabulary": "Plant", "vocabularyTerm": "South"}
        ])))
        .expect("array tags");
        assert_eq!(text, array);
        assert_eq!(text.len(), 2);
        assert!(tag_list(&Some(json!("no-colon"))).is_err());
        assert!(tag_list(&Some(json!(3))).is_err());
    }
}
