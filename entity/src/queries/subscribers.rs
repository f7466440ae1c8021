//! Subscriptions by the Thing they listen to: those whose `source` names it, with the
//! collection and name of the entity that holds each.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::queries::QueryResult;
use crate::schema::{entities, subscriptions};
use crate::vocab::Collection;

/// One subscription and the entity that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// The holder's collection.
    pub collection: Collection,
    /// The holder's name.
    pub holder: String,
    /// The subscription.
    pub subscription: subscriptions::Model,
}

/// The enabled subscriptions whose `source` is `source` (a holder that is gone is left out).
pub async fn listening_to<C: ConnectionTrait>(db: &C, source: &str) -> QueryResult<Vec<Held>> {
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::Source.eq(source))
        .filter(subscriptions::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let mut held = Vec::with_capacity(rows.len());
    for subscription in rows {
        let Some(entity) = entities::Entity::find_by_id(subscription.entity_id)
            .one(db)
            .await?
        else {
            continue;
        };
        let Ok(collection) = entity.collection.parse::<Collection>() else {
            continue;
        };
        held.push(Held {
            collection,
            holder: entity.name,
            subscription,
        });
    }
    Ok(held)
}
