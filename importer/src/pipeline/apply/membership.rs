//! Writes group and unit memberships, refusing a membership cycle.

use super::*;

pub(super) async fn write_memberships<C: ConnectionTrait>(
    db: &C,
    memberships: &[Membership],
    report: &mut Report,
) -> Result<(), ImportError> {
    if memberships.is_empty() {
        return Ok(());
    }
    let users = bulk::all_entity_ids(db, Collection::Users).await?;
    let groups_by_name = bulk::all_entity_ids(db, Collection::Groups).await?;
    let orgs = bulk::all_entity_ids(db, Collection::Organizations).await?;
    let member_id = |m: &crate::model::Member| match m.member_type {
        MemberType::User => users.get(&m.name).copied(),
        MemberType::Group => groups_by_name.get(&m.name).copied(),
    };

    // Group memberships, with a cycle check over the whole graph.
    let existing = all_memberships(db).await?;
    let mut edges: HashSet<(i64, i64)> =
        existing.iter().map(|m| (m.group_id, m.member_id)).collect();
    let mut group_edges: HashMap<i64, Vec<i64>> = HashMap::new();
    for m in &existing {
        if m.member_type == MemberType::Group.as_str() {
            group_edges.entry(m.group_id).or_default().push(m.member_id);
        }
    }
    let mut rows = Vec::new();
    for m in memberships
        .iter()
        .filter(|m| m.container == Collection::Groups)
    {
        let (Some(&group), Some(member)) =
            (groups_by_name.get(&m.container_name), member_id(&m.member))
        else {
            continue;
        };
        if edges.insert((group, member)) {
            if m.member.member_type == MemberType::Group {
                group_edges.entry(group).or_default().push(member);
            }
            rows.push(group_members::ActiveModel {
                id: NotSet,
                group_id: Set(group),
                member_id: Set(member),
                member_type: Set(m.member.member_type.as_str().to_owned()),
            });
        }
    }
    if let Some(group) = find_cycle(&group_edges) {
        let name = groups_by_name
            .iter()
            .find(|(_, id)| **id == group)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        return Err(ImportError::Invalid {
            origin: crate::model::Origin::default(),
            entity: format!("{}/{name}", Collection::Groups.as_str()),
            message: "group membership would make a cycle".into(),
        });
    }
    report.memberships += rows.len();
    insert_all(db, rows).await?;

    // Unit memberships.
    let org_ids: Vec<i64> = memberships
        .iter()
        .filter(|m| m.container == Collection::Organizations)
        .filter_map(|m| orgs.get(&m.container_name).copied())
        .collect();
    if org_ids.is_empty() {
        return Ok(());
    }
    let units = bulk::rows_of::<_, organizational_units::Entity>(
        db,
        organizational_units::Column::OrganizationId,
        organizational_units::Column::Id,
        Some(&org_ids),
        |u| u.organization_id,
    )
    .await?;
    let mut unit_ids: HashMap<(i64, String), i64> = HashMap::new();
    for u in units.into_values().flatten() {
        unit_ids.insert((u.organization_id, u.name), u.id);
    }
    let all_units: Vec<i64> = unit_ids.values().copied().collect();
    let existing = bulk::rows_of::<_, organizational_unit_members::Entity>(
        db,
        organizational_unit_members::Column::UnitId,
        organizational_unit_members::Column::Id,
        Some(&all_units),
        |m| m.unit_id,
    )
    .await?;
    let mut have: HashSet<(i64, i64)> = existing
        .into_values()
        .flatten()
        .map(|m| (m.unit_id, m.member_id))
        .collect();
    let mut rows = Vec::new();
    for m in memberships
        .iter()
        .filter(|m| m.container == Collection::Organizations)
    {
        let Some(&org) = orgs.get(&m.container_name) else {
            continue;
        };
        let Some(unit) = m
            .unit
            .as_ref()
            .and_then(|u| unit_ids.get(&(org, u.clone())))
        else {
            continue;
        };
        let Some(member) = member_id(&m.member) else {
            continue;
        };
        if have.insert((*unit, member)) {
            rows.push(organizational_unit_members::ActiveModel {
                id: NotSet,
                unit_id: Set(*unit),
                member_id: Set(member),
                member_type: Set(m.member.member_type.as_str().to_owned()),
            });
        }
    }
    report.memberships += rows.len();
    insert_all(db, rows).await?;
    Ok(())
}

/// A group that reaches itself through group memberships, if any.
pub(super) fn find_cycle(edges: &HashMap<i64, Vec<i64>>) -> Option<i64> {
    // Iterative three-colour depth-first search.
    let mut state: HashMap<i64, u8> = HashMap::new();
    let mut starts: Vec<i64> = edges.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        if state.contains_key(&start) {
            continue;
        }
        let mut stack: Vec<(i64, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some((node, next)) = stack.pop() {
            let children = edges.get(&node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&child) = children.get(next) {
                stack.push((node, next + 1));
                match state.get(&child) {
                    Some(1) => return Some(child),
                    Some(_) => {}
                    None => {
                        state.insert(child, 1);
                        stack.push((child, 0));
                    }
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
    None
}
