//! Principals: group members and organization units.

use super::*;

// ------------------------------------------------------------------------------------------
// Principals: members, units.
// ------------------------------------------------------------------------------------------

/// Every `Member` under `<Members>` (doubly nested in exports, tolerated singly).
pub(super) fn read_members(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    out: &mut Vec<Member>,
) -> Result<(), ImportError> {
    for child in list.children() {
        match child.name() {
            "Members" => read_members(ctx, child, out)?,
            "Member" => {
                let name = child.attr_str("name");
                let member_type = child
                    .attr_str("type")
                    .parse::<MemberType>()
                    .map_err(|e| ctx.invalid(child, format!("member '{name}': {e}")))?;
                if name.is_empty() {
                    return Err(ctx.invalid(child, "a <Member> without a name".into()));
                }
                out.push(Member {
                    name: name.to_owned(),
                    member_type,
                });
            }
            other => ctx.unplaced_child("Members", other),
        }
    }
    Ok(())
}

pub(super) fn read_units(
    ctx: &mut Ctx<'_>,
    organization: &str,
    connections: Option<Node<'_>>,
    units_node: Option<Node<'_>>,
) -> Result<Vec<Unit>, ImportError> {
    let mut edges: Vec<(&str, &str)> = Vec::new();
    if let Some(list) = connections {
        for edge in list.children() {
            if edge.name() == "Connection" {
                edges.push((edge.attr_str("from"), edge.attr_str("to")));
            } else {
                ctx.unplaced_child("Connections", edge.name());
            }
        }
    }
    let mut units = Vec::new();
    if let Some(list) = units_node {
        for node in list.children() {
            if node.name() != "OrganizationalUnit" {
                ctx.unplaced_child("OrganizationalUnits", node.name());
                continue;
            }
            let mut unit = Unit::default();
            for (key, value) in node.attrs() {
                match key {
                    "name" => unit.name = value.to_owned(),
                    "description" => unit.description = value.to_owned(),
                    _ => ctx.unplaced_attr("OrganizationalUnit", key),
                }
            }
            for child in node.children() {
                if child.name() == "Members" {
                    read_members(ctx, child, &mut unit.members)?;
                } else {
                    ctx.unplaced_child("OrganizationalUnit", child.name());
                }
            }
            match edges.iter().find(|(_, to)| *to == unit.name) {
                Some(("", _)) => unit.parent = None,
                Some((from, _)) => unit.parent = Some((*from).to_owned()),
                None => {
                    if unit.name != organization {
                        ctx.note(format!(
                            "unit '{}' has no <Connection>; read as having no parent",
                            unit.name
                        ));
                    }
                }
            }
            units.push(unit);
        }
    }
    for (_, to) in &edges {
        if !units.iter().any(|u| u.name == *to) {
            ctx.note(format!(
                "<Connection> names unit '{to}' that <OrganizationalUnits> does not list"
            ));
        }
    }
    // Root first: the unit attached by the edge with an empty `from`, else the one named
    // after the organization.
    let root = edges
        .iter()
        .find(|(from, _)| from.is_empty())
        .and_then(|(_, to)| units.iter().position(|u| u.name == *to))
        .or_else(|| units.iter().position(|u| u.name == organization));
    if let Some(index) = root {
        let unit = units.remove(index);
        units.insert(0, unit);
    }
    Ok(units)
}
