//! Reads what the plan step needs to know about the database.

use super::*;

/// Reads what the plan step needs to know about the database.
pub async fn known<C: ConnectionTrait>(db: &C) -> Result<crate::plan::Known, ImportError> {
    let mut known = crate::plan::Known::default();
    for (collection, principal_type) in [
        (Collection::Users, PrincipalType::User),
        (Collection::Groups, PrincipalType::Group),
        (Collection::Organizations, PrincipalType::Organization),
    ] {
        for name in bulk::all_entity_ids(db, collection).await?.into_keys() {
            known.principals.insert((principal_type, name));
        }
    }
    let orgs = bulk::all_entity_ids(db, Collection::Organizations).await?;
    let org_names: HashMap<i64, String> = orgs.into_iter().map(|(n, id)| (id, n)).collect();
    for unit in ironworx_entity::queries::organizations::unit_rows(db, None).await? {
        if let Some(org) = org_names.get(&unit.organization_id) {
            known.principals.insert((
                PrincipalType::OrganizationalUnit,
                ironworx_entity::vocab::unit_principal_name(org, &unit.name),
            ));
        }
    }
    // Templates and shapes: their bases, shapes and property types (for values of Things).
    let templates = bulk::all_entity_ids(db, Collection::ThingTemplates).await?;
    let shapes = bulk::all_entity_ids(db, Collection::ThingShapes).await?;
    let template_names: HashMap<i64, String> =
        templates.iter().map(|(n, id)| (*id, n.clone())).collect();
    let shape_names: HashMap<i64, String> = shapes.iter().map(|(n, id)| (*id, n.clone())).collect();
    let template_ids: Vec<i64> = template_names.keys().copied().collect();
    let template_rows = bulk::rows_of::<_, thing_templates::Entity>(
        db,
        thing_templates::Column::EntityId,
        thing_templates::Column::EntityId,
        Some(&template_ids),
        |r| r.entity_id,
    )
    .await?;
    for row in template_rows.into_values().flatten() {
        if let Some(name) = template_names.get(&row.entity_id) {
            known
                .template_bases
                .insert(name.clone(), row.base_thing_template);
        }
    }
    let owner_ids: Vec<i64> = template_ids
        .iter()
        .chain(shape_names.keys())
        .copied()
        .collect();
    let implemented = bulk::rows_of::<_, implemented_shapes::Entity>(
        db,
        implemented_shapes::Column::EntityId,
        implemented_shapes::Column::Id,
        Some(&template_ids),
        |r| r.entity_id,
    )
    .await?;
    for (id, mut rows) in implemented {
        rows.sort_by_key(|r| r.ordinal);
        if let Some(name) = template_names.get(&id) {
            known.template_shapes.insert(
                name.clone(),
                rows.into_iter().map(|r| r.shape_name).collect(),
            );
        }
    }
    let properties = bulk::rows_of::<_, property_definitions::Entity>(
        db,
        property_definitions::Column::EntityId,
        property_definitions::Column::Id,
        Some(&owner_ids),
        |r| r.entity_id,
    )
    .await?;
    for (id, rows) in properties {
        let key = match (template_names.get(&id), shape_names.get(&id)) {
            (Some(t), _) => (Collection::ThingTemplates, t.clone()),
            (_, Some(s)) => (Collection::ThingShapes, s.clone()),
            _ => continue,
        };
        known.property_types.insert(
            key,
            rows.into_iter().map(|r| (r.name, r.base_type)).collect(),
        );
    }
    Ok(known)
}
