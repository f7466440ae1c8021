//! The names of the properties, services and events each entity defines itself (inherited ones
//! are its templates' and shapes'): what the run-time permissions of an entity can name, read
//! for the whole model at once.

use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};

use crate::queries::QueryResult;
use crate::schema::{event_definitions, property_definitions, service_definitions};

/// What a definition defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DefinitionKind {
    /// A property (PropertyRead, PropertyWrite).
    Property,
    /// A service (ServiceInvoke).
    Service,
    /// An event (EventInvoke, EventSubscribe).
    Event,
}

/// Every definition of every entity as (entity id, kind, name), in definition order per entity
/// and kind. Call it inside a transaction for a consistent snapshot.
pub async fn all_defined<C: ConnectionTrait>(
    db: &C,
) -> QueryResult<Vec<(i64, DefinitionKind, String)>> {
    let properties = property_definitions::Entity::find()
        .select_only()
        .column(property_definitions::Column::EntityId)
        .column(property_definitions::Column::Name)
        .order_by_asc(property_definitions::Column::EntityId)
        .order_by_asc(property_definitions::Column::Ordinal)
        .order_by_asc(property_definitions::Column::Id)
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?;
    let services = service_definitions::Entity::find()
        .select_only()
        .column(service_definitions::Column::EntityId)
        .column(service_definitions::Column::Name)
        .order_by_asc(service_definitions::Column::EntityId)
        .order_by_asc(service_definitions::Column::Id)
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?;
    let events = event_definitions::Entity::find()
        .select_only()
        .column(event_definitions::Column::EntityId)
        .column(event_definitions::Column::Name)
        .order_by_asc(event_definitions::Column::EntityId)
        .order_by_asc(event_definitions::Column::Id)
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?;
    let tagged = |kind: DefinitionKind, rows: Vec<(i64, String)>| {
        rows.into_iter()
            .map(move |(entity, name)| (entity, kind, name))
    };
    Ok(tagged(DefinitionKind::Property, properties)
        .chain(tagged(DefinitionKind::Service, services))
        .chain(tagged(DefinitionKind::Event, events))
        .collect())
}
