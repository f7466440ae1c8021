//! Ticks of Timer and Scheduler Things: the claim of one tick by the process that fires it,
//! the Things built on a template (through derived templates), and the removal of old ticks.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::queries::QueryResult;
use crate::schema::timer_ticks::{self, Column, Entity};
use crate::schema::{thing_templates, things};

/// Claims tick `tick` (epoch ms) of Thing `thing_id`: whether this call won it (the first
/// insert of the pair on the database wins; every later one loses).
pub async fn claim<C: ConnectionTrait>(db: &C, thing_id: i64, tick: i64) -> QueryResult<bool> {
    let inserted = Entity::insert(timer_ticks::ActiveModel {
        thing_id: sea_orm::ActiveValue::Set(thing_id),
        tick: sea_orm::ActiveValue::Set(tick),
    })
    .on_conflict(
        OnConflict::columns([Column::ThingId, Column::Tick])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

/// Removes the ticks older than `before` (epoch ms).
pub async fn forget_before<C: ConnectionTrait>(db: &C, before: i64) -> QueryResult<u64> {
    Ok(Entity::delete_many()
        .filter(Column::Tick.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

/// The entity ids of the Things built on ThingTemplate `template` or on a template derived
/// from it.
pub async fn things_on<C: ConnectionTrait>(db: &C, template: &str) -> QueryResult<Vec<i64>> {
    let mut templates = vec![template.to_owned()];
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    while let Some(current) = templates.pop() {
        if !seen.insert(current.clone()) {
            continue;
        }
        ids.extend(
            things::Entity::find()
                .filter(things::Column::ThingTemplate.eq(current.as_str()))
                .all(db)
                .await?
                .into_iter()
                .map(|t| t.entity_id),
        );
        let derived = thing_templates::Entity::find()
            .filter(thing_templates::Column::BaseThingTemplate.eq(current.as_str()))
            .all(db)
            .await?;
        for t in derived {
            if let Some(e) = crate::queries::entities::find_entity_by_id(db, t.entity_id).await? {
                templates.push(e.name);
            }
        }
    }
    ids.sort_unstable();
    Ok(ids)
}
