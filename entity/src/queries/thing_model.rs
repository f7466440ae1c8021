//! What a server process reads to hold the Thing model in memory: every Thing, ThingTemplate
//! and ThingShape with its template, shapes and property definitions (all of them, or those of
//! some entities), what changed since a change sequence value (`model_changes`, filled by the
//! database's triggers), and the property values of a Thing or those written since a value
//! sequence value (`value_sequence`, bumped with every value written).

use std::collections::BTreeSet;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use crate::queries::QueryResult;
use crate::schema::{
    entities, implemented_shapes, property_definitions, property_values, thing_templates, things,
};
use crate::vocab::Collection;

pub use crate::schema::property_definitions::Model as PropertyDefinitionRow;

/// How many change sequence values `model_changes` keeps (as its migration keeps them).
pub const MODEL_CHANGES_KEPT: i64 = 1_000;

/// Entities read again at most after a change; more than that reads everything.
pub const CHANGED_ENTITIES_MAX: usize = 2_000;

/// Ids per `IN (…)` list, far below every backend's bind-parameter limit.
const IDS_PER_STATEMENT: usize = 500;

/// An entity that defines properties: a Thing, a ThingTemplate or a ThingShape.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct DefinerRow {
    /// Its entity id.
    pub id: i64,
    /// Its collection (`Things`, `ThingTemplates`, `ThingShapes`).
    pub collection: String,
    /// Its name.
    pub name: String,
}

/// The model rows of some entities (or of all of them).
#[derive(Clone, Debug, Default)]
pub struct ModelRows {
    /// The Things, ThingTemplates and ThingShapes.
    pub definers: Vec<DefinerRow>,
    /// Thing parts: (entity id, its template's name).
    pub things: Vec<(i64, String)>,
    /// ThingTemplate parts: (entity id, its base template's name).
    pub templates: Vec<(i64, String)>,
    /// Implemented shapes: (entity id, shape name), in declaration order per entity.
    pub shapes: Vec<(i64, String)>,
    /// Property definitions, in definition order per entity.
    pub definitions: Vec<PropertyDefinitionRow>,
}

/// What changed in the model since a change sequence value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelChanges {
    /// The record does not reach back that far, or too many entities changed: read everything.
    All {
        /// The change sequence value now.
        sequence: i64,
    },
    /// These entities changed (maybe none).
    Entities {
        /// The change sequence value the changes were read at.
        sequence: i64,
        /// The entities whose model rows changed.
        entities: BTreeSet<i64>,
    },
}

const DEFINER_COLLECTIONS: [Collection; 3] = [
    Collection::Things,
    Collection::ThingTemplates,
    Collection::ThingShapes,
];

/// Every Thing, ThingTemplate and ThingShape with its model rows (`ids: None`), or those of
/// the entities `ids`. Call it inside a transaction for a consistent snapshot.
pub async fn read_model_rows<C: ConnectionTrait>(
    db: &C,
    ids: Option<&BTreeSet<i64>>,
) -> QueryResult<ModelRows> {
    let mut rows = ModelRows::default();
    let chunks: Vec<Option<Vec<i64>>> = match ids {
        None => vec![None],
        Some(ids) => {
            let ids: Vec<i64> = ids.iter().copied().collect();
            ids.chunks(IDS_PER_STATEMENT)
                .map(|c| Some(c.to_vec()))
                .collect()
        }
    };
    for chunk in chunks {
        let mut definers = entities::Entity::find()
            .select_only()
            .column(entities::Column::Id)
            .column(entities::Column::Collection)
            .column(entities::Column::Name)
            .filter(
                entities::Column::Collection.is_in(DEFINER_COLLECTIONS.iter().map(|c| c.as_str())),
            );
        let mut thing_rows = things::Entity::find()
            .select_only()
            .column(things::Column::EntityId)
            .column(things::Column::ThingTemplate);
        let mut template_rows = thing_templates::Entity::find()
            .select_only()
            .column(thing_templates::Column::EntityId)
            .column(thing_templates::Column::BaseThingTemplate);
        let mut shape_rows = implemented_shapes::Entity::find()
            .select_only()
            .column(implemented_shapes::Column::EntityId)
            .column(implemented_shapes::Column::ShapeName)
            .order_by_asc(implemented_shapes::Column::EntityId)
            .order_by_asc(implemented_shapes::Column::Ordinal)
            .order_by_asc(implemented_shapes::Column::Id);
        let mut definition_rows = property_definitions::Entity::find()
            .order_by_asc(property_definitions::Column::EntityId)
            .order_by_asc(property_definitions::Column::Ordinal)
            .order_by_asc(property_definitions::Column::Id);
        if let Some(chunk) = &chunk {
            let ids = chunk.iter().copied();
            definers = definers.filter(entities::Column::Id.is_in(ids.clone()));
            thing_rows = thing_rows.filter(things::Column::EntityId.is_in(ids.clone()));
            template_rows =
                template_rows.filter(thing_templates::Column::EntityId.is_in(ids.clone()));
            shape_rows = shape_rows.filter(implemented_shapes::Column::EntityId.is_in(ids.clone()));
            definition_rows =
                definition_rows.filter(property_definitions::Column::EntityId.is_in(ids));
        }
        rows.definers
            .extend(definers.into_model::<DefinerRow>().all(db).await?);
        rows.things
            .extend(thing_rows.into_tuple::<(i64, String)>().all(db).await?);
        rows.templates
            .extend(template_rows.into_tuple::<(i64, String)>().all(db).await?);
        rows.shapes
            .extend(shape_rows.into_tuple::<(i64, String)>().all(db).await?);
        rows.definitions.extend(definition_rows.all(db).await?);
    }
    Ok(rows)
}

/// What changed in the model since change sequence value `since`: the entities
/// `model_changes` names, or everything when it no longer reaches back that far, when the
/// sequence went back (another history), or when more than [`CHANGED_ENTITIES_MAX`] changed.
/// Changes not stamped yet count too. Call it inside a transaction for a consistent snapshot.
pub async fn read_model_changes<C: ConnectionTrait>(
    db: &C,
    since: i64,
) -> QueryResult<ModelChanges> {
    let sequence = crate::queries::audit::current_sequence(db).await?;
    if sequence < since || sequence - since >= MODEL_CHANGES_KEPT {
        return Ok(ModelChanges::All { sequence });
    }
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "SELECT DISTINCT entity_id FROM model_changes WHERE seq > $1 OR seq IS NULL"
                }
                _ => "SELECT DISTINCT entity_id FROM model_changes WHERE seq > ? OR seq IS NULL",
            },
            [since.into()],
        ))
        .await?;
    let mut entities = BTreeSet::new();
    for row in rows {
        entities.insert(row.try_get::<i64>("", "entity_id")?);
        if entities.len() > CHANGED_ENTITIES_MAX {
            return Ok(ModelChanges::All { sequence });
        }
    }
    Ok(ModelChanges::Entities { sequence, entities })
}

/// A property value with the value sequence value that wrote it.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct StampedValue {
    /// The Thing's entity id.
    pub entity_id: i64,
    /// The property.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// The value.
    pub value: Option<serde_json::Value>,
    /// Its time (epoch ms).
    pub value_time: i64,
    /// Its quality.
    pub quality: String,
    /// The value sequence value that wrote it (0: before values were stamped).
    pub seq: i64,
}

fn stamped() -> sea_orm::Select<property_values::Entity> {
    property_values::Entity::find()
        .select_only()
        .column(property_values::Column::EntityId)
        .column(property_values::Column::Name)
        .column(property_values::Column::BaseType)
        .column(property_values::Column::Value)
        .column(property_values::Column::ValueTime)
        .column(property_values::Column::Quality)
        .column_as(Expr::cust("COALESCE(seq, 0)"), "seq")
}

/// The current value sequence value.
pub async fn value_sequence<C: ConnectionTrait>(db: &C) -> QueryResult<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT value FROM value_sequence WHERE id = 1",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "value")?,
        None => 0,
    })
}

/// Every stored value of the Thing `entity_id`.
pub async fn values_of<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
) -> QueryResult<Vec<StampedValue>> {
    Ok(stamped()
        .filter(property_values::Column::EntityId.eq(entity_id))
        .order_by_asc(property_values::Column::Id)
        .into_model::<StampedValue>()
        .all(db)
        .await?)
}

/// Every value written after value sequence value `since`, oldest first.
pub async fn values_since<C: ConnectionTrait>(
    db: &C,
    since: i64,
) -> QueryResult<Vec<StampedValue>> {
    Ok(stamped()
        .filter(Expr::cust("seq").gt(since))
        .order_by_asc(Expr::cust("seq"))
        .into_model::<StampedValue>()
        .all(db)
        .await?)
}
