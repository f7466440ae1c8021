//! Run-time data of Things: stream entries (appended, read by time range, purged) and
//! data-table rows (one per key, added or replaced).

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::queries::QueryResult;
use crate::schema::{data_table_rows, property_values, stream_entries};

pub use crate::schema::data_table_rows::Model as DataTableRow;
pub use crate::schema::property_values::Model as PropertyValueRow;
pub use crate::schema::stream_entries::Model as StreamEntryRow;

/// Stream entries of a Thing between two times (inclusive), newest first, at most `limit`.
pub async fn stream_entries_between<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    from: i64,
    to: i64,
    limit: u64,
) -> QueryResult<Vec<StreamEntryRow>> {
    Ok(stream_entries::Entity::find()
        .filter(stream_entries::Column::EntityId.eq(thing_id))
        .filter(stream_entries::Column::EntryTime.between(from, to))
        .order_by_desc(stream_entries::Column::EntryTime)
        .order_by_desc(stream_entries::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Deletes the stream entries of a Thing between two times (inclusive); returns how many.
pub async fn purge_stream_entries<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    from: i64,
    to: i64,
) -> QueryResult<u64> {
    Ok(stream_entries::Entity::delete_many()
        .filter(stream_entries::Column::EntityId.eq(thing_id))
        .filter(stream_entries::Column::EntryTime.between(from, to))
        .exec(db)
        .await?
        .rows_affected)
}

/// How many stream entries a Thing holds.
pub async fn count_stream_entries<C: ConnectionTrait>(db: &C, thing_id: i64) -> QueryResult<u64> {
    Ok(stream_entries::Entity::find()
        .filter(stream_entries::Column::EntityId.eq(thing_id))
        .count(db)
        .await?)
}

/// Adds a data-table row, or replaces the row with the same key.
pub async fn upsert_data_table_row<C: ConnectionTrait>(
    db: &C,
    row: &DataTableRow,
) -> QueryResult<()> {
    let existing = data_table_rows::Entity::find()
        .filter(data_table_rows::Column::EntityId.eq(row.entity_id))
        .filter(data_table_rows::Column::RowKey.eq(row.row_key.as_str()))
        .one(db)
        .await?;
    let mut active = data_table_rows::ActiveModel {
        entity_id: Set(row.entity_id),
        row_key: Set(row.row_key.clone()),
        entry_time: Set(row.entry_time),
        source: Set(row.source.clone()),
        source_type: Set(row.source_type.clone()),
        tags: Set(row.tags.clone()),
        location: Set(row.location.clone()),
        entry_values: Set(row.entry_values.clone()),
        ..Default::default()
    };
    match existing {
        Some(old) => {
            active.id = sea_orm::ActiveValue::Unchanged(old.id);
            active.update(db).await?;
        }
        None => {
            active.insert(db).await?;
        }
    }
    Ok(())
}

/// The data-table row with this key, if any.
pub async fn data_table_row<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    key: &str,
) -> QueryResult<Option<DataTableRow>> {
    Ok(data_table_rows::Entity::find()
        .filter(data_table_rows::Column::EntityId.eq(thing_id))
        .filter(data_table_rows::Column::RowKey.eq(key))
        .one(db)
        .await?)
}

/// Deletes the data-table row with this key; returns whether it existed.
pub async fn delete_data_table_row<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    key: &str,
) -> QueryResult<bool> {
    Ok(data_table_rows::Entity::delete_many()
        .filter(data_table_rows::Column::EntityId.eq(thing_id))
        .filter(data_table_rows::Column::RowKey.eq(key))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// Writes the current value of a property (replacing the previous one).
pub async fn set_property_value<C: ConnectionTrait>(
    db: &C,
    value: &PropertyValueRow,
) -> QueryResult<()> {
    // One statement, so that two concurrent first writes of a property (from two requests or
    // two server processes) cannot both insert: the second updates.
    let active = property_values::ActiveModel {
        entity_id: Set(value.entity_id),
        name: Set(value.name.clone()),
        base_type: Set(value.base_type.clone()),
        value: Set(value.value.clone()),
        value_time: Set(value.value_time),
        quality: Set(value.quality.clone()),
        ..Default::default()
    };
    property_values::Entity::insert(active)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                property_values::Column::EntityId,
                property_values::Column::Name,
            ])
            .update_columns([
                property_values::Column::BaseType,
                property_values::Column::Value,
                property_values::Column::ValueTime,
                property_values::Column::Quality,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
