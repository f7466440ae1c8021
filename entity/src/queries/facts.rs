//! Bulk reads of everything authorization decides from, for building the in-memory index:
//! only the columns it needs, in one consistent snapshot when called inside a transaction.

use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};

use crate::queries::QueryResult;
use crate::queries::permissions::{self, EntityRule, Rule};
use crate::schema::{
    entities, group_members, implemented_shapes, organizational_unit_members, organizational_units,
    thing_templates, things,
};
use crate::vocab::Collection;

/// Every row authorization needs, as read from the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactRows {
    /// The change sequence value the rows were read at.
    pub sequence: i64,
    /// (id, collection, name, owner name).
    pub entities: Vec<(i64, String, String, Option<String>)>,
    /// (Thing id, ThingTemplate name).
    pub thing_templates: Vec<(i64, String)>,
    /// (ThingTemplate id, base template name).
    pub template_bases: Vec<(i64, String)>,
    /// (entity id, shape name, ordinal).
    pub implemented_shapes: Vec<(i64, String, i32)>,
    /// (group id, member id).
    pub memberships: Vec<(i64, i64)>,
    /// (unit id, organization id, name, parent unit id).
    pub units: Vec<(i64, i64, String, Option<i64>)>,
    /// (unit id, member id).
    pub unit_members: Vec<(i64, i64)>,
    /// Every entity rule.
    pub entity_rules: Vec<EntityRule>,
    /// Every collection rule.
    pub collection_rules: Vec<(Collection, Rule)>,
}

/// Reads every fact. Call it inside a transaction for a consistent snapshot; the sequence is
/// read first, so the rows are at least as new as it.
pub async fn read_fact_rows<C: ConnectionTrait>(db: &C) -> QueryResult<FactRows> {
    let sequence = crate::queries::audit::current_sequence(db).await?;
    let entities = entities::Entity::find()
        .select_only()
        .columns([
            entities::Column::Id,
            entities::Column::Collection,
            entities::Column::Name,
            entities::Column::OwnerName,
        ])
        .order_by_asc(entities::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let thing_templates = things::Entity::find()
        .select_only()
        .columns([things::Column::EntityId, things::Column::ThingTemplate])
        .into_tuple()
        .all(db)
        .await?;
    let template_bases = thing_templates::Entity::find()
        .select_only()
        .columns([
            thing_templates::Column::EntityId,
            thing_templates::Column::BaseThingTemplate,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let implemented_shapes = implemented_shapes::Entity::find()
        .select_only()
        .columns([
            implemented_shapes::Column::EntityId,
            implemented_shapes::Column::ShapeName,
            implemented_shapes::Column::Ordinal,
        ])
        .order_by_asc(implemented_shapes::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let memberships = group_members::Entity::find()
        .select_only()
        .columns([
            group_members::Column::GroupId,
            group_members::Column::MemberId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let units = organizational_units::Entity::find()
        .select_only()
        .columns([
            organizational_units::Column::Id,
            organizational_units::Column::OrganizationId,
            organizational_units::Column::Name,
            organizational_units::Column::ParentId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let unit_members = organizational_unit_members::Entity::find()
        .select_only()
        .columns([
            organizational_unit_members::Column::UnitId,
            organizational_unit_members::Column::MemberId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let entity_rules = permissions::all_entity_rules(db).await?;
    let mut collection_rules = Vec::new();
    for collection in Collection::ALL {
        for rule in permissions::collection_rules(db, *collection).await? {
            collection_rules.push((*collection, rule));
        }
    }
    Ok(FactRows {
        sequence,
        entities,
        thing_templates,
        template_bases,
        implemented_shapes,
        memberships,
        units,
        unit_members,
        entity_rules,
        collection_rules,
    })
}
