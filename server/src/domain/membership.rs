//! Group and organization membership, organizational units and ownership: the changes
//! `AddMember`, `DeleteMember`, `AddOrganizationalUnit` and `SetOwner` make and the member
//! lists, each checked here once for every door (REST, the console). Changing a group or an
//! organization needs design-time `Update` on it (or a security administrator), reading its
//! members design-time `Read` (or a security administrator); `SetOwner` is a security
//! administrator's. Every change is one transaction with its audit row.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::{QueryError, entities, groups, organizations};
use ironworx_entity::vocab::{Collection, MemberType, PrincipalType};
use serde_json::{Value, json};

use crate::authz::EntityIdx;
use crate::domain::Ctx;
use crate::domain::need::{Need, SECURITY_ADMIN, SECURITY_CHANGE, SECURITY_READ};
use crate::error::ApiError;
use crate::state::AppState;

/// One membership or ownership change of a group, an organization or any entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange<'a> {
    /// Adds `member` to the group (`add`) or removes it.
    GroupMember {
        /// The user or group.
        member: &'a str,
        /// Whether it is a user or a group.
        kind: MemberType,
        /// Adds (`true`) or removes.
        add: bool,
    },
    /// A new unit of the organization.
    Unit {
        /// The unit it hangs under.
        parent: &'a str,
        /// Its name.
        name: &'a str,
        /// Free text.
        description: &'a str,
    },
    /// Adds `member` to the organization's unit `unit` (`add`) or removes it.
    UnitMember {
        /// The unit.
        unit: &'a str,
        /// The user or group.
        member: &'a str,
        /// Whether it is a user or a group.
        kind: MemberType,
        /// Adds (`true`) or removes.
        add: bool,
    },
    /// A new owner of the entity.
    Owner {
        /// The owning user or group.
        name: &'a str,
        /// Whether it is a user or a group.
        kind: PrincipalType,
    },
}

impl MembershipChange<'_> {
    /// The ThingWorx service that makes this change (the audit row's action).
    pub fn service(&self) -> &'static str {
        match self {
            MembershipChange::GroupMember { add: true, .. }
            | MembershipChange::UnitMember { add: true, .. } => "AddMember",
            MembershipChange::GroupMember { add: false, .. }
            | MembershipChange::UnitMember { add: false, .. } => "DeleteMember",
            MembershipChange::Unit { .. } => "AddOrganizationalUnit",
            MembershipChange::Owner { .. } => "SetOwner",
        }
    }

    /// What the caller needs for this change.
    fn need(&self) -> &'static Need {
        match self {
            MembershipChange::Owner { .. } => &SECURITY_ADMIN,
            _ => &SECURITY_CHANGE,
        }
    }

    /// Whether entities of `collection` take this change.
    fn applies_to(&self, collection: Collection) -> bool {
        match self {
            MembershipChange::GroupMember { .. } => collection == Collection::Groups,
            MembershipChange::Unit { .. } | MembershipChange::UnitMember { .. } => {
                collection == Collection::Organizations
            }
            MembershipChange::Owner { .. } => true,
        }
    }

    /// The audit row's detail.
    fn detail(&self) -> Value {
        match *self {
            MembershipChange::GroupMember { member, kind, .. } => {
                json!({ "member": member, "type": kind.as_str() })
            }
            MembershipChange::Unit { parent, name, .. } => {
                json!({ "parentName": parent, "name": name })
            }
            MembershipChange::UnitMember {
                unit, member, kind, ..
            } => json!({ "name": unit, "member": member, "type": kind.as_str() }),
            MembershipChange::Owner { name, kind } => {
                json!({ "owner": name, "type": kind.as_str() })
            }
        }
    }
}

/// A query failure where a missing thing is bad input (an unknown member or unit), not a 404.
pub fn input_error(err: QueryError) -> ApiError {
    match err {
        QueryError::NotFound { what, name } => {
            ApiError::BadRequest(format!("unknown {what} '{name}'"))
        }
        other => ApiError::from(other),
    }
}

/// The name, row id and collection of entity `idx`, after `need` is enforced for `service` on
/// it.
fn checked(
    ctx: &Ctx,
    idx: EntityIdx,
    need: &Need,
    service: &str,
) -> Result<(String, i64, Collection), ApiError> {
    ctx.enforce(need, Some(idx), service, &|_| None)?;
    let entity = ctx.index.entity(idx).ok_or(ApiError::NotFound)?;
    Ok((entity.name.clone(), entity.id, entity.collection))
}

/// The name of entity `idx` of `collection` after `need` is enforced for `service` on it; an
/// entity of another collection has no such service (404).
fn checked_in(
    ctx: &Ctx,
    idx: EntityIdx,
    collection: Collection,
    service: &str,
) -> Result<String, ApiError> {
    let (name, _, actual) = checked(ctx, idx, &SECURITY_READ, service)?;
    if actual == collection {
        Ok(name)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Makes `change` on entity `idx` for the caller, in one transaction with its audit row; a
/// change its collection does not take is a 404, as an unknown service is.
pub async fn change(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    change: MembershipChange<'_>,
) -> Result<(), ApiError> {
    let service = change.service();
    let (name, id, collection) = checked(ctx, idx, change.need(), service)?;
    if !change.applies_to(collection) {
        return Err(ApiError::NotFound);
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    match change {
        MembershipChange::Owner { name: owner, kind } => {
            let Some(owner_id) = entities::owner_id_of(&txn, kind, owner).await? else {
                return Err(ApiError::BadRequest(format!(
                    "unknown principal: {kind} '{owner}'"
                )));
            };
            entities::set_owner(&txn, id, owner_id).await?;
        }
        MembershipChange::GroupMember { member, kind, add } => {
            let written = if add {
                groups::add_member(&txn, &name, member, kind).await
            } else {
                groups::remove_member(&txn, &name, member, kind)
                    .await
                    .map(drop)
            };
            written.map_err(input_error)?;
        }
        MembershipChange::Unit {
            parent,
            name: unit,
            description,
        } => organizations::add_unit(&txn, &name, parent, unit, description)
            .await
            .map_err(input_error)?,
        MembershipChange::UnitMember {
            unit,
            member,
            kind,
            add,
        } => {
            let written = if add {
                organizations::add_unit_member(&txn, &name, unit, member, kind).await
            } else {
                organizations::remove_unit_member(&txn, &name, unit, member)
                    .await
                    .map(drop)
            };
            written.map_err(input_error)?;
        }
    }
    crate::domain::write::commit_audited(
        txn,
        &Change::on(
            &ctx.caller.name,
            service,
            collection,
            &name,
            change.detail(),
        ),
    )
    .await?;
    Ok(())
}

/// The members of group `idx` (`GetGroupMembers`): name and kind, direct members only.
pub async fn group_members(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
) -> Result<Vec<(String, MemberType)>, ApiError> {
    let name = checked_in(ctx, idx, Collection::Groups, "GetGroupMembers")?;
    Ok(groups::list_members(&state.db, &name).await?)
}

/// The members of unit `unit` of organization `idx` (`GetMembers`).
pub async fn unit_members(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    unit: &str,
) -> Result<Vec<(String, MemberType)>, ApiError> {
    let name = checked_in(ctx, idx, Collection::Organizations, "GetMembers")?;
    organizations::list_unit_members(&state.db, &name, unit)
        .await
        .map_err(input_error)
}

/// One edge of an organization's tree (`GetOrganizationConnections`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The parent unit.
    pub from: String,
    /// The child unit, or the member.
    pub to: String,
    /// `Organization` for a child unit, `User` or `Group` for a member.
    pub kind: &'static str,
}

/// The organization `idx` as edges: unit to child unit first, then unit to member.
pub async fn connections(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
) -> Result<Vec<Connection>, ApiError> {
    let name = checked_in(
        ctx,
        idx,
        Collection::Organizations,
        "GetOrganizationConnections",
    )?;
    let units = organizations::list_units(&state.db, &name).await?;
    let mut edges: Vec<Connection> = units
        .iter()
        .filter_map(|unit| {
            Some(Connection {
                from: unit.parent.clone()?,
                to: unit.name.clone(),
                kind: "Organization",
            })
        })
        .collect();
    for unit in &units {
        for (member, kind) in organizations::list_unit_members(&state.db, &name, &unit.name).await?
        {
            edges.push(Connection {
                from: unit.name.clone(),
                to: member,
                kind: kind.as_str(),
            });
        }
    }
    Ok(edges)
}
