//! Paged reads of Stream and DataTable data: stream entries by time range in either order and
//! data-table rows in insertion order, each continued after the last row of the previous page
//! (keyset paging), so that callers filtering in memory never hold more than one page.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::queries::QueryResult;
use crate::queries::data::{DataTableRow, StreamEntryRow};
use crate::schema::{data_table_rows, stream_entries};

/// Which stream entries one page reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryPage {
    /// The Stream Thing's entity id.
    pub thing_id: i64,
    /// The earliest entry time (epoch ms, inclusive).
    pub from: i64,
    /// The latest entry time (epoch ms, inclusive).
    pub to: i64,
    /// Oldest first when true, newest first otherwise.
    pub oldest_first: bool,
    /// Only entries of this source, when set.
    pub source: Option<String>,
    /// Continue after this `(entry_time, id)`, the last row of the previous page.
    pub after: Option<(i64, i64)>,
    /// At most this many rows.
    pub limit: u64,
}

/// One page of stream entries, in the order `page` asks for (ties broken by id).
pub async fn stream_entries_page<C: ConnectionTrait>(
    db: &C,
    page: &EntryPage,
) -> QueryResult<Vec<StreamEntryRow>> {
    let mut query = stream_entries::Entity::find()
        .filter(stream_entries::Column::EntityId.eq(page.thing_id))
        .filter(stream_entries::Column::EntryTime.between(page.from, page.to));
    if let Some(source) = &page.source {
        query = query.filter(stream_entries::Column::Source.eq(source.as_str()));
    }
    if let Some((time, id)) = page.after {
        let continued = if page.oldest_first {
            Condition::any()
                .add(stream_entries::Column::EntryTime.gt(time))
                .add(
                    Condition::all()
                        .add(stream_entries::Column::EntryTime.eq(time))
                        .add(stream_entries::Column::Id.gt(id)),
                )
        } else {
            Condition::any()
                .add(stream_entries::Column::EntryTime.lt(time))
                .add(
                    Condition::all()
                        .add(stream_entries::Column::EntryTime.eq(time))
                        .add(stream_entries::Column::Id.lt(id)),
                )
        };
        query = query.filter(continued);
    }
    query = if page.oldest_first {
        query
            .order_by_asc(stream_entries::Column::EntryTime)
            .order_by_asc(stream_entries::Column::Id)
    } else {
        query
            .order_by_desc(stream_entries::Column::EntryTime)
            .order_by_desc(stream_entries::Column::Id)
    };
    Ok(query.limit(page.limit).all(db).await?)
}

/// One page of the rows of a DataTable Thing in insertion order, after row id `after_id`.
/// With `for_update`, the rows read stay locked against other writers until the transaction
/// `db` is ends (a row lock on PostgreSQL; SQLite's write transaction holds the whole database).
pub async fn data_table_rows_page<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    after_id: i64,
    limit: u64,
    for_update: bool,
) -> QueryResult<Vec<DataTableRow>> {
    let mut query = data_table_rows::Entity::find()
        .filter(data_table_rows::Column::EntityId.eq(thing_id))
        .filter(data_table_rows::Column::Id.gt(after_id))
        .order_by_asc(data_table_rows::Column::Id)
        .limit(limit);
    if for_update && db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.all(db).await?)
}

/// How many rows a DataTable Thing holds.
pub async fn count_data_table_rows<C: ConnectionTrait>(db: &C, thing_id: i64) -> QueryResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(data_table_rows::Entity::find()
        .filter(data_table_rows::Column::EntityId.eq(thing_id))
        .count(db)
        .await?)
}
