//! What a planned change would flip before it is saved: the model's facts are read once, the
//! change is applied to a copy, and [`crate::domain::diff::compare`] lists every (user, entity,
//! permission, resource) decision that differs, with the rule that decides before and after.
//! Only a security administrator may ask, as only one may make such a change.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType};

use crate::authz::{AuthzIndex, Facts};
use crate::domain::Ctx;
use crate::domain::diff::{Change, Filter, compare};
use crate::domain::snapshot::{Snapshot, read_facts};
use crate::error::ApiError;
use crate::state::AppState;

/// A change to preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// `member` (a user or a group) leaves `group`.
    RemoveMember {
        /// The group.
        group: String,
        /// The member's name.
        member: String,
        /// A user or a group.
        member_type: MemberType,
    },
    /// `member` joins `group`.
    AddMember {
        /// The group.
        group: String,
        /// The member's name.
        member: String,
        /// A user or a group.
        member_type: MemberType,
    },
    /// `rule` is added to (or, when `add` is false, removed from) the own or instance rules
    /// of an entity.
    Rule {
        /// The entity's collection.
        collection: Collection,
        /// The entity's name.
        entity: String,
        /// Instance rules (of a template or shape) rather than the entity's own.
        instance: bool,
        /// Added or removed.
        add: bool,
        /// The rule.
        rule: Rule,
    },
}

fn id_of(facts: &Facts, collection: Collection, name: &str) -> Result<i64, ApiError> {
    facts
        .entities
        .iter()
        .find(|e| e.collection == collection && e.name == name)
        .map(|e| e.id)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown {} '{name}'", collection.as_str())))
}

fn member_collection(member_type: MemberType) -> Collection {
    match member_type {
        MemberType::User => Collection::Users,
        MemberType::Group => Collection::Groups,
    }
}

/// Applies `planned` to `facts`, and says which part of the comparison can change.
fn apply(facts: &mut Facts, planned: &Planned) -> Result<Filter, ApiError> {
    match planned {
        Planned::RemoveMember {
            group,
            member,
            member_type,
        }
        | Planned::AddMember {
            group,
            member,
            member_type,
        } => {
            let group_id = id_of(facts, Collection::Groups, group)?;
            let member_id = id_of(facts, member_collection(*member_type), member)?;
            let pair = (group_id, member_id);
            if matches!(planned, Planned::RemoveMember { .. }) {
                facts.memberships.retain(|m| *m != pair);
            } else if !facts.memberships.contains(&pair) {
                facts.memberships.push(pair);
            }
            Ok(match member_type {
                MemberType::User => Filter {
                    user: Some(member.clone()),
                    ..Filter::default()
                },
                MemberType::Group => Filter {
                    group: Some(member.clone()),
                    ..Filter::default()
                },
            })
        }
        Planned::Rule {
            collection,
            entity,
            instance,
            add,
            rule,
        } => {
            let id = id_of(facts, *collection, entity)?;
            let same = |r: &Rule| {
                r.kind == rule.kind
                    && r.resource == rule.resource
                    && r.principal_type == rule.principal_type
                    && r.principal_name == rule.principal_name
            };
            facts
                .entity_rules
                .retain(|(e, i, r)| !(*e == id && *i == *instance && same(r)));
            if *add {
                facts.entity_rules.push((id, *instance, rule.clone()));
            }
            // Instance rules reach every instance; own rules only the entity.
            Ok(if *instance {
                Filter::default()
            } else {
                Filter {
                    collection: Some(*collection),
                    entity: Some(entity.clone()),
                    ..Filter::default()
                }
            })
        }
    }
}

/// The decisions `planned` would flip, for a security administrator.
pub async fn preview(
    state: &AppState,
    ctx: &Ctx,
    planned: &Planned,
) -> Result<Vec<Change>, ApiError> {
    ctx.require_security_admin("previews of changes")?;
    let (facts, definitions) = read_facts(&state.db).await.map_err(ApiError::internal)?;
    let mut changed = facts.clone();
    let filter = apply(&mut changed, planned)?;
    let before = Snapshot::new(AuthzIndex::build(&facts), definitions.clone());
    let after = Snapshot::new(AuthzIndex::build(&changed), definitions);
    compare(&before, &after, &filter).map_err(|e| ApiError::BadRequest(e.to_string()))
}
