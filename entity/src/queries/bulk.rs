//! Batched writes and reads for imports and exports: many entity rows at once (with their ids
//! back), rows of any table in multi-row statements, and the removal of everything an entity
//! owns before a newer version replaces it. None of them bumps the change sequence: the caller
//! bumps it once for the whole batch.

use std::collections::HashMap;

use sea_orm::ActiveValue::{NotSet, Unchanged};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait,
    IntoActiveModel, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::queries::QueryResult;
use crate::queries::parts::BATCH_ROWS;
use crate::schema::{
    configuration_tables, entities, entity_permissions, entity_tags, event_definitions,
    field_definitions, implemented_shapes, property_definitions, property_values,
    service_definitions, service_implementations, subscriptions, vocabulary_terms,
};
use crate::vocab::Collection;

/// Ids in one `IN (…)` list: far below every backend's bind-parameter limit.
pub(crate) const IN_LIST: usize = 500;

/// Inserts `rows` in multi-row statements of [`BATCH_ROWS`] (the caller leaves auto-increment
/// ids unset).
pub async fn insert_all<C, A>(db: &C, rows: Vec<A>) -> QueryResult<()>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(BATCH_ROWS).collect();
        A::Entity::insert_many(batch)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Inserts new entity rows (their `id` is ignored) and returns each name's new id.
pub async fn insert_entities<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    rows: Vec<entities::Model>,
) -> QueryResult<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<entities::ActiveModel> = rows
            .by_ref()
            .take(BATCH_ROWS)
            .map(|row| {
                let mut active = row.into_active_model();
                active.not_set(entities::Column::Id);
                active
            })
            .collect();
        let inserted = entities::Entity::insert_many(batch)
            .exec_with_returning(db)
            .await?;
        for row in inserted {
            debug_assert_eq!(row.collection, collection.as_str());
            ids.insert(row.name, row.id);
        }
    }
    Ok(ids)
}

/// The ids of the entities of `collection` among `names` that exist.
pub async fn entity_ids<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    names: &[String],
) -> QueryResult<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(names.len());
    for chunk in names.chunks(IN_LIST) {
        let found: Vec<(i64, String)> = entities::Entity::find()
            .select_only()
            .column(entities::Column::Id)
            .column(entities::Column::Name)
            .filter(entities::Column::Collection.eq(collection.as_str()))
            .filter(entities::Column::Name.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(found.into_iter().map(|(id, name)| (name, id)));
    }
    Ok(ids)
}

/// Every entity name of `collection` with its id.
pub async fn all_entity_ids<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
) -> QueryResult<HashMap<String, i64>> {
    let found: Vec<(i64, String)> = entities::Entity::find()
        .select_only()
        .column(entities::Column::Id)
        .column(entities::Column::Name)
        .filter(entities::Column::Collection.eq(collection.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().map(|(id, name)| (name, id)).collect())
}

macro_rules! delete_owned {
    ($db:expr, $ids:expr, $($table:ident),*) => {
        $(
            $table::Entity::delete_many()
                .filter($table::Column::EntityId.is_in($ids.iter().copied()))
                .exec($db)
                .await?;
        )*
    };
}

/// Deletes what the entities with these ids own that a newer version replaces: definitions,
/// implementations, subscriptions, fields, values, configuration tables, implemented shapes,
/// tags and their own and instance rules. The entity rows and their kind rows stay.
pub async fn delete_replaceable_parts<C: ConnectionTrait>(db: &C, ids: &[i64]) -> QueryResult<()> {
    for chunk in ids.chunks(IN_LIST) {
        delete_owned!(
            db,
            chunk,
            property_definitions,
            service_definitions,
            event_definitions,
            service_implementations,
            subscriptions,
            field_definitions,
            property_values,
            configuration_tables,
            implemented_shapes,
            entity_tags,
            entity_permissions
        );
    }
    Ok(())
}

/// Every row of an entity-owned table whose owner is among `ids` (every row when `ids` is
/// `None`), grouped by owner, each group in `order`.
pub async fn rows_of<C, E>(
    db: &C,
    owner: E::Column,
    order: E::Column,
    ids: Option<&[i64]>,
    owner_of: impl Fn(&E::Model) -> i64,
) -> QueryResult<HashMap<i64, Vec<E::Model>>>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let mut out: HashMap<i64, Vec<E::Model>> = HashMap::new();
    let mut add = |rows: Vec<E::Model>| {
        for row in rows {
            out.entry(owner_of(&row)).or_default().push(row);
        }
    };
    match ids {
        None => add(E::find().order_by_asc(order).all(db).await?),
        Some(ids) => {
            for chunk in ids.chunks(IN_LIST) {
                add(E::find()
                    .filter(owner.is_in(chunk.iter().copied()))
                    .order_by_asc(order)
                    .all(db)
                    .await?);
            }
        }
    }
    Ok(out)
}

/// The model a row of active model `A` reads back as.
pub type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// Writes `row` over the row of its primary key when `exists` (the columns it sets), as a new
/// row otherwise; the row as stored.
pub async fn save_row<C, A>(db: &C, row: A, exists: bool) -> QueryResult<ModelOf<A>>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    ModelOf<A>: IntoActiveModel<A>,
{
    Ok(if exists {
        row.update(db).await?
    } else {
        row.insert(db).await?
    })
}

/// Updates the row of primary key `id` with `row`, or inserts `row` when there is none (a kind
/// row missing under its entity row).
pub async fn upsert_row<C, A>(db: &C, row: A, id: i64) -> QueryResult<()>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    ModelOf<A>: IntoActiveModel<A>,
    i64: Into<<<A::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    let exists = A::Entity::find_by_id(id).one(db).await?.is_some();
    save_row(db, row, exists).await?;
    Ok(())
}

/// Deletes every row of `E` whose `column` holds `value`; how many there were.
pub async fn delete_where<C, E>(
    db: &C,
    column: E::Column,
    value: impl Into<sea_orm::Value>,
) -> QueryResult<u64>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    Ok(E::delete_many()
        .filter(column.eq(value))
        .exec(db)
        .await?
        .rows_affected)
}

/// The entity rows with these ids, by id.
pub async fn entity_rows<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> QueryResult<HashMap<i64, entities::Model>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_LIST) {
        let rows = entities::Entity::find()
            .filter(entities::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|r| (r.id, r)));
    }
    Ok(out)
}

/// The entity rows of `collections` (of every collection when empty), the system ones only
/// when `include_system`, and only those of `project` when one is given.
pub async fn entity_rows_where<C: ConnectionTrait>(
    db: &C,
    collections: &[Collection],
    include_system: bool,
    project: Option<&str>,
) -> QueryResult<Vec<entities::Model>> {
    let mut query = entities::Entity::find();
    if !collections.is_empty() {
        query = query
            .filter(entities::Column::Collection.is_in(collections.iter().map(|c| c.as_str())));
    }
    if !include_system {
        query = query.filter(entities::Column::IsSystem.eq(false));
    }
    if let Some(project) = project {
        query = query.filter(entities::Column::ProjectName.eq(project));
    }
    Ok(query.all(db).await?)
}

/// Writes a newer version of a stored entity row over it: every column but its id, collection,
/// name and creation time, which stay.
pub async fn replace_entity_row<C: ConnectionTrait>(
    db: &C,
    row: entities::Model,
) -> QueryResult<()> {
    let id = row.id;
    let mut active = row.into_active_model().reset_all();
    active.id = Unchanged(id);
    active.created_at = NotSet;
    active.collection = NotSet;
    active.name = NotSet;
    active.update(db).await?;
    Ok(())
}

/// Deletes the terms of vocabulary `entity_id` (a newer version replaces them all).
pub async fn delete_vocabulary_terms<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
) -> QueryResult<()> {
    delete_where::<_, vocabulary_terms::Entity>(db, vocabulary_terms::Column::EntityId, entity_id)
        .await?;
    Ok(())
}
