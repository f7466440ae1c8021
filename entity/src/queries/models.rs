//! Things, ThingTemplates, ThingShapes and DataShapes: their typed parts, the template chain
//! and the shapes a Thing implements.

use std::collections::HashSet;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::queries::entities::{EntityFields, EntityRow, find_entity, get_entity, insert_entity};
use crate::queries::{QueryError, QueryResult, parts};
use crate::schema::{data_shapes, implemented_shapes, thing_shapes, thing_templates, things};
use crate::vocab::{Collection, EntityName};

pub use crate::schema::data_shapes::Model as DataShapeRow;
pub use crate::schema::thing_shapes::Model as ThingShapeRow;
pub use crate::schema::thing_templates::Model as TemplateRow;
pub use crate::schema::things::Model as ThingRow;

/// What a Thing adds to an entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThingFields {
    /// Its ThingTemplate.
    pub thing_template: String,
    /// Disabled Things do not run.
    pub disabled: bool,
    /// Published to Analytics.
    pub published: bool,
    /// Its identifier for remote connections.
    pub identifier: String,
    /// The value stream logging its properties.
    pub value_stream: String,
    /// The value stream inherited from its template.
    pub inherited_value_stream: String,
    /// Its Java thing package.
    pub thing_package: String,
    /// The effective thing package.
    pub effective_thing_package: String,
}

/// What a ThingTemplate adds to an entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateFields {
    /// The template it derives from, empty for a root template.
    pub base_thing_template: String,
    /// Its Java thing package.
    pub thing_package: String,
    /// The effective thing package.
    pub effective_thing_package: String,
    /// The value stream of its Things.
    pub value_stream: String,
}

/// Creates a Thing.
pub async fn create_thing<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
    thing: &ThingFields,
) -> QueryResult<EntityRow> {
    if !thing.thing_template.is_empty() {
        EntityName::parse(&thing.thing_template)?;
    }
    let entity = insert_entity(db, Collection::Things, name, fields).await?;
    things::ActiveModel {
        entity_id: Set(entity.id),
        thing_template: Set(thing.thing_template.clone()),
        enabled: Set(!thing.disabled),
        published: Set(thing.published),
        identifier: Set(thing.identifier.clone()),
        value_stream: Set(thing.value_stream.clone()),
        inherited_value_stream: Set(thing.inherited_value_stream.clone()),
        thing_package: Set(thing.thing_package.clone()),
        effective_thing_package: Set(thing.effective_thing_package.clone()),
    }
    .insert(db)
    .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(entity)
}

/// The Thing part of the Thing `name`.
pub async fn get_thing<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> QueryResult<(EntityRow, ThingRow)> {
    let entity = get_entity(db, Collection::Things, name).await?;
    let thing = things::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::Things, name))?;
    Ok((entity, thing))
}

/// Enables or disables a Thing.
pub async fn set_thing_enabled<C: ConnectionTrait>(
    db: &C,
    id: i64,
    enabled: bool,
) -> QueryResult<()> {
    things::ActiveModel {
        entity_id: sea_orm::ActiveValue::Unchanged(id),
        enabled: Set(enabled),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Creates a ThingTemplate. Its base must exist, and the chain may not loop.
pub async fn create_thing_template<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
    template: &TemplateFields,
) -> QueryResult<EntityRow> {
    if !template.base_thing_template.is_empty() {
        if template.base_thing_template == name {
            return Err(QueryError::Refused(format!(
                "ThingTemplate '{name}' cannot derive from itself"
            )));
        }
        get_entity(
            db,
            Collection::ThingTemplates,
            &template.base_thing_template,
        )
        .await?;
    }
    let entity = insert_entity(db, Collection::ThingTemplates, name, fields).await?;
    thing_templates::ActiveModel {
        entity_id: Set(entity.id),
        base_thing_template: Set(template.base_thing_template.clone()),
        thing_package: Set(template.thing_package.clone()),
        effective_thing_package: Set(template.effective_thing_package.clone()),
        value_stream: Set(template.value_stream.clone()),
    }
    .insert(db)
    .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(entity)
}

/// The template part of the ThingTemplate `name`.
pub async fn get_thing_template<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> QueryResult<(EntityRow, TemplateRow)> {
    let entity = get_entity(db, Collection::ThingTemplates, name).await?;
    let row = thing_templates::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::ThingTemplates, name))?;
    Ok((entity, row))
}

/// The chain of templates from `template` up to its root, `template` first. A base that is
/// missing ends the chain; a loop is an error.
pub async fn template_chain<C: ConnectionTrait>(
    db: &C,
    template: &str,
) -> QueryResult<Vec<String>> {
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut current = template.to_owned();
    while !current.is_empty() {
        if !seen.insert(current.clone()) {
            return Err(QueryError::Refused(format!(
                "the template chain of '{template}' loops at '{current}'"
            )));
        }
        let Some(entity) = find_entity(db, Collection::ThingTemplates, &current).await? else {
            break;
        };
        chain.push(current);
        current = thing_templates::Entity::find_by_id(entity.id)
            .one(db)
            .await?
            .map(|t| t.base_thing_template)
            .unwrap_or_default();
    }
    Ok(chain)
}

/// Creates a ThingShape.
pub async fn create_thing_shape<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
    class_name: &str,
) -> QueryResult<EntityRow> {
    let entity = insert_entity(db, Collection::ThingShapes, name, fields).await?;
    thing_shapes::ActiveModel {
        entity_id: Set(entity.id),
        class_name: Set(class_name.to_owned()),
    }
    .insert(db)
    .await?;
    Ok(entity)
}

/// The shape part of the ThingShape `name`.
pub async fn get_thing_shape<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> QueryResult<(EntityRow, ThingShapeRow)> {
    let entity = get_entity(db, Collection::ThingShapes, name).await?;
    let row = thing_shapes::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::ThingShapes, name))?;
    Ok((entity, row))
}

/// Creates a DataShape.
pub async fn create_data_shape<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
    base_data_shape: &str,
) -> QueryResult<EntityRow> {
    let entity = insert_entity(db, Collection::DataShapes, name, fields).await?;
    data_shapes::ActiveModel {
        entity_id: Set(entity.id),
        base_data_shape: Set(base_data_shape.to_owned()),
    }
    .insert(db)
    .await?;
    Ok(entity)
}

/// The data-shape part of the DataShape `name`.
pub async fn get_data_shape<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> QueryResult<(EntityRow, DataShapeRow)> {
    let entity = get_entity(db, Collection::DataShapes, name).await?;
    let row = data_shapes::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::DataShapes, name))?;
    Ok((entity, row))
}

/// Replaces the ThingShapes an entity implements, in the given order.
pub async fn set_implemented_shapes<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
    shapes: &[String],
) -> QueryResult<()> {
    for shape in shapes {
        EntityName::parse(shape)?;
    }
    let rows = shapes
        .iter()
        .zip(0..)
        .map(|(shape, ordinal)| implemented_shapes::Model {
            id: 0,
            entity_id,
            shape_name: shape.clone(),
            ordinal,
        })
        .collect();
    parts::implemented_shapes::replace(db, entity_id, rows).await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// The ThingShapes an entity implements, in declaration order.
pub async fn implemented_shape_names<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
) -> QueryResult<Vec<String>> {
    let mut rows = parts::implemented_shapes::list(db, entity_id).await?;
    rows.sort_by_key(|r| r.ordinal);
    Ok(rows.into_iter().map(|r| r.shape_name).collect())
}
