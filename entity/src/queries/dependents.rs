//! What entity CRUD asks before a write: the entities that depend on a ThingTemplate or a
//! ThingShape (so that one in use is not deleted), and the description of an organization's
//! root unit.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::queries::QueryResult;
use crate::queries::entities::names_by_id;
use crate::schema::{implemented_shapes, organizational_units, thing_templates, things};

/// The Things built on ThingTemplate `template` and the templates derived from it, by name.
pub async fn template_dependents<C: ConnectionTrait>(
    db: &C,
    template: &str,
) -> QueryResult<Vec<String>> {
    let mut ids: Vec<i64> = things::Entity::find()
        .filter(things::Column::ThingTemplate.eq(template))
        .order_by_asc(things::Column::EntityId)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.entity_id)
        .collect();
    ids.extend(
        thing_templates::Entity::find()
            .filter(thing_templates::Column::BaseThingTemplate.eq(template))
            .order_by_asc(thing_templates::Column::EntityId)
            .all(db)
            .await?
            .into_iter()
            .map(|t| t.entity_id),
    );
    sorted_names(db, ids).await
}

/// The Things and ThingTemplates implementing ThingShape `shape`, by name.
pub async fn shape_dependents<C: ConnectionTrait>(db: &C, shape: &str) -> QueryResult<Vec<String>> {
    let ids: Vec<i64> = implemented_shapes::Entity::find()
        .filter(implemented_shapes::Column::ShapeName.eq(shape))
        .order_by_asc(implemented_shapes::Column::EntityId)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.entity_id)
        .collect();
    sorted_names(db, ids).await
}

async fn sorted_names<C: ConnectionTrait>(db: &C, ids: Vec<i64>) -> QueryResult<Vec<String>> {
    let mut names: Vec<String> = names_by_id(db, ids).await?.into_values().collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Sets the description of the root unit of the organization with entity id `organization_id`.
pub async fn set_root_unit_description<C: ConnectionTrait>(
    db: &C,
    organization_id: i64,
    description: &str,
) -> QueryResult<()> {
    let root = organizational_units::Entity::find()
        .filter(organizational_units::Column::OrganizationId.eq(organization_id))
        .filter(organizational_units::Column::ParentId.is_null())
        .one(db)
        .await?;
    if let Some(root) = root {
        let mut active: organizational_units::ActiveModel = root.into();
        active.description = Set(description.to_owned());
        active.update(db).await?;
    }
    Ok(())
}
