//! Where a group is used: the rules that name it (an entity's own rules, a template's or
//! shape's instance rules, a collection's rules), the groups it belongs to and the units it is
//! a member of. Reading rules across the model is a security administrator's question.

use ironworx_entity::queries::permissions::{RuleUse, rules_naming};
use ironworx_entity::vocab::{Collection, PrincipalType};

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::state::AppState;

/// How many rules of each place (entities, collections) an answer lists at most.
pub const USAGE_ROWS: u64 = 500;

/// Where one group is used.
#[derive(Clone, Debug, Default)]
pub struct GroupUsage {
    /// The rules naming the group, entity rules first; at most [`USAGE_ROWS`] of each place.
    pub rules: Vec<RuleUse>,
    /// Whether more rules name the group than are listed.
    pub truncated: bool,
    /// The groups it belongs to, directly or through other groups.
    pub member_of: Vec<String>,
    /// The units it is a member of, as `Org:Unit`.
    pub units: Vec<String>,
}

/// Where group `name` is used, for a security administrator; 404 for a group that does not
/// exist.
pub async fn group_usage(state: &AppState, ctx: &Ctx, name: &str) -> Result<GroupUsage, ApiError> {
    ctx.require_security_admin("where a group is used")?;
    let idx = ctx
        .index
        .lookup(Collection::Groups, name)
        .ok_or(ApiError::NotFound)?;
    let node = ctx.index.user(idx).cloned().unwrap_or_default();
    let rules = rules_naming(&state.db, PrincipalType::Group, name, USAGE_ROWS).await?;
    let on_entities = rules.iter().filter(|r| r.entity.is_some()).count();
    let truncated = u64::try_from(on_entities).is_ok_and(|n| n >= USAGE_ROWS)
        || u64::try_from(rules.len() - on_entities).is_ok_and(|n| n >= USAGE_ROWS);
    Ok(GroupUsage {
        rules,
        truncated,
        member_of: node.groups,
        units: node.units,
    })
}
