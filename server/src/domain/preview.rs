//! What a planned change would flip before it is saved: the model's facts are read once, the
//! change is applied to a copy, and [`crate::domain::diff::compare`] lists every (user, entity,
//! permission, resource) decision that differs, with the rule that decides before and after.
//! Only a security administrator may ask, as only one may make such a change.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType};

use crate::authz::Facts;
use crate::domain::Ctx;
use crate::domain::diff::{Change, Filter, explained, flipped};
pub use crate::domain::rules::RuleScope;
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
    /// of an entity, or the rules of its collection.
    Rule {
        /// The entity's collection.
        collection: Collection,
        /// The entity's name.
        entity: String,
        /// Which of the entity's rules.
        scope: RuleScope,
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

/// Applies `planned` to `facts`.
fn apply(facts: &mut Facts, planned: &Planned) -> Result<(), ApiError> {
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
        }
        Planned::Rule {
            collection,
            entity,
            scope,
            add,
            rule,
        } => {
            let id = id_of(facts, *collection, entity)?;
            // One rule per permission, resource and principal: a new one replaces the old.
            let same = |r: &Rule| {
                r.kind == rule.kind
                    && r.resource == rule.resource
                    && r.principal_type == rule.principal_type
                    && r.principal_name == rule.principal_name
            };
            if *scope == RuleScope::Collection {
                facts
                    .collection_rules
                    .retain(|(c, r)| !(c == collection && same(r)));
                if *add {
                    facts.collection_rules.push((*collection, rule.clone()));
                }
            } else {
                let instance = *scope == RuleScope::Instance;
                facts
                    .entity_rules
                    .retain(|(e, i, r)| !(*e == id && *i == instance && same(r)));
                if *add {
                    facts.entity_rules.push((id, instance, rule.clone()));
                }
            }
        }
    }
    Ok(())
}

/// What a planned change would flip: the first flips, explained, and how many there are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// The first flips (as many as were asked for), with the rule deciding on either side.
    pub changes: Vec<Change>,
    /// How many decisions flip in all.
    pub total: usize,
}

/// The decisions `planned` would flip, for a security administrator: all of them counted,
/// the first `shown` explained.
pub async fn preview(
    state: &AppState,
    ctx: &Ctx,
    planned: &Planned,
    shown: usize,
) -> Result<Preview, ApiError> {
    ctx.require_security_admin("previews of changes")?;
    let (facts, definitions) = read_facts(&state.db).await.map_err(ApiError::internal)?;
    let mut changed = facts.clone();
    apply(&mut changed, planned)?;
    let before = Snapshot::new(&facts, definitions.clone());
    let after = Snapshot::new(&changed, definitions);
    let flips = flipped(&before, &after, &Filter::default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let changes = explained([&before, &after], &flips[..flips.len().min(shown)]);
    Ok(Preview {
        changes,
        total: flips.len(),
    })
}
