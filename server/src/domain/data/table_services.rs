//! The DataTable services: adds and updates by primary key, reads by key, by values and by
//! filters, counts, deletions.

use super::*;

/// How a write treats a key that has (or has not) a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Put {
    /// Adds the row or replaces the one of its key.
    AddOrUpdate,
    /// Adds the row; a key that has one is refused.
    Add,
    /// Replaces the row of its key; a key that has none is refused.
    Update,
}

/// Which parameters a read honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Query {
    /// None but `maxItems` (GetDataTableEntries).
    All,
    /// The field values of `values` (FindDataTableEntries).
    Values,
    /// Values, tags, source and the filter `query` (QueryDataTableEntries).
    Full,
}

pub(super) async fn put_rows(
    state: &AppState,
    ctx: &Ctx,
    thing: &DataThing,
    p: &DataParams,
    put: Put,
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let rows = rows_of(p.values.as_ref().unwrap_or(&Value::Null))?;
    if rows.is_empty() {
        return Err(ApiError::BadRequest("missing parameter 'values'".into()));
    }
    let largest = state.config.limits.max_page_rows;
    if rows.len() as u64 > largest {
        return Err(ApiError::BadRequest(format!(
            "at most {largest} rows per call"
        )));
    }
    let origin = origin(ctx, p)?;
    let mut checked = Vec::with_capacity(rows.len());
    for row in &rows {
        let values = thing.check_row(row)?;
        let key = thing.key(&values)?;
        checked.push((key, values));
    }
    if put != Put::AddOrUpdate {
        for (key, _) in &checked {
            let exists = row_by_key(state, thing, key, writes).await?.is_some();
            if put == Put::Add && exists {
                return Err(ApiError::BadRequest(format!(
                    "the DataTable already has a row with the primary key {key}"
                )));
            }
            if put == Put::Update && !exists {
                return Err(ApiError::BadRequest(format!(
                    "the DataTable has no row with the primary key {key}"
                )));
            }
        }
    }
    let ops = checked
        .into_iter()
        .map(|(key, values)| {
            DataOp::Upsert(DataTableRow {
                id: 0,
                entity_id: thing.id,
                row_key: key,
                entry_time: origin.time,
                source: origin.source.clone(),
                source_type: origin.source_type.clone(),
                tags: origin.tags.clone(),
                location: origin.location.clone(),
                entry_values: Some(Value::Object(values)),
            })
        })
        .collect();
    writes.make(state, ops).await?;
    Ok(json!({}))
}

/// Every (non-null) value of `wanted` equals the row's.
pub(super) fn matches_values(row: &Map<String, Value>, wanted: &Map<String, Value>) -> bool {
    wanted.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| {
        row.get(k)
            .is_some_and(|have| compare(have, v) == Some(Ordering::Equal))
    })
}

/// The `values` of a query or delete, checked against the data shape.
pub(super) fn wanted_values(
    thing: &DataThing,
    p: &DataParams,
) -> Result<Map<String, Value>, ApiError> {
    let rows = rows_of(p.values.as_ref().unwrap_or(&Value::Null))?;
    match rows.as_slice() {
        [] => Ok(Map::new()),
        [row] => thing.check_row(row),
        _ => Err(ApiError::BadRequest(
            "parameter 'values' must hold one row".into(),
        )),
    }
}

/// Reads the rows of a DataTable that pass `keep`, at most `limit`, in insertion order, as
/// the writes kept in `writes` leave them; with `for_update`, every row read stays locked until
/// the transaction `db` is ends (see [`streams::data_table_rows_page`]).
pub(super) async fn scan_table<C: sea_orm::ConnectionTrait>(
    db: &C,
    thing: &DataThing,
    limit: u64,
    for_update: bool,
    writes: &Writes<'_>,
    keep: impl Fn(&Map<String, Value>) -> bool,
) -> Result<Vec<(DataTableRow, Map<String, Value>)>, ApiError> {
    let pending = writes.pending(thing.id);
    let stored_limit = if pending.is_empty() { limit } else { u64::MAX };
    let stored_keep = |record: &Map<String, Value>| !pending.is_empty() || keep(record);
    let mut after = 0;
    let mut found = Vec::new();
    'pages: loop {
        let page =
            streams::data_table_rows_page(db, thing.id, after, PAGE_ROWS, for_update).await?;
        for row in page.iter() {
            after = row.id;
            let record = table_record(thing, row);
            if stored_keep(&record) {
                found.push((row.clone(), record));
                if found.len() as u64 >= stored_limit {
                    break 'pages;
                }
            }
        }
        if (page.len() as u64) < PAGE_ROWS {
            break;
        }
    }
    if pending.is_empty() {
        return Ok(found);
    }
    let rows = table_overlay(found.into_iter().map(|(row, _)| row).collect(), &pending);
    Ok(rows
        .into_iter()
        .map(|row| {
            let record = table_record(thing, &row);
            (row, record)
        })
        .filter(|(_, record)| keep(record))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}

/// The row of `key`, as the kept writes leave it: the last kept write of the key decides,
/// else the stored row.
async fn row_by_key(
    state: &AppState,
    thing: &DataThing,
    key: &str,
    writes: &Writes<'_>,
) -> Result<Option<DataTableRow>, ApiError> {
    let kept = writes
        .pending(thing.id)
        .into_iter()
        .rev()
        .find_map(|op| match op {
            DataOp::Upsert(row) if row.row_key == key => Some(Some(row.clone())),
            DataOp::Delete { row_key, .. } if row_key == key => Some(None),
            _ => None,
        });
    match kept {
        Some(row) => Ok(row),
        None => Ok(data::data_table_row(&state.db, thing.id, key).await?),
    }
}

pub(super) async fn query_table(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    query: Query,
    writes: &Writes<'_>,
) -> Result<Value, ApiError> {
    let limit = max_items(&p.max_items, state.config.limits.max_page_rows)?;
    let wanted = if query == Query::All {
        Map::new()
    } else {
        wanted_values(thing, p)?
    };
    let (filter, wanted_tags, source) = if query == Query::Full {
        (
            compile(p.query.as_ref(), &|name| thing.column_type(name))?,
            tags(&p.tags)?,
            p.source.clone().filter(|s| !s.is_empty()),
        )
    } else {
        (None, Vec::new(), None)
    };
    let found = scan_table(&state.db, thing, limit, false, writes, |row| {
        matches_values(row, &wanted)
            && source
                .as_deref()
                .is_none_or(|s| row.get("source").and_then(Value::as_str) == Some(s))
            && has_tags(
                row.get("tags").and_then(Value::as_str).unwrap_or(""),
                &wanted_tags,
            )
            && filter.as_ref().is_none_or(|f| f.matches(row))
    })
    .await?;
    Ok(result(thing, found.into_iter().map(|(_, r)| r).collect()))
}

/// GetDataTableEntry (the primary key in `values`) and GetDataTableEntryByKey (`key`): the
/// row of the key, or no row.
pub(super) async fn get_entry(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    by_key: bool,
    writes: &Writes<'_>,
) -> Result<Value, ApiError> {
    let wanted = if by_key {
        thing.key_values(p.key.as_ref())?
    } else {
        wanted_values(thing, p)?
    };
    let key = thing.key(&wanted)?;
    let row = row_by_key(state, thing, &key, writes).await?;
    let records = row.iter().map(|r| table_record(thing, r)).collect();
    Ok(result(thing, records))
}

pub(super) async fn count_entries(
    state: &AppState,
    thing: &DataThing,
    writes: &Writes<'_>,
) -> Result<Value, ApiError> {
    let count = if writes.pending(thing.id).is_empty() {
        streams::count_data_table_rows(&state.db, thing.id).await?
    } else {
        let rows = scan_table(&state.db, thing, u64::MAX, false, writes, |_| true).await?;
        rows.len() as u64
    };
    Ok(infotable_of(
        &[("result", BaseType::Number, json!({}))],
        vec![json!({ "result": count })],
    ))
}

/// DeleteDataTableEntry (the primary key in `values`) and DeleteDataTableEntryByKey (`key`).
pub(super) async fn delete_entry(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    by_key: bool,
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let wanted = if by_key {
        thing.key_values(p.key.as_ref())?
    } else {
        wanted_values(thing, p)?
    };
    let row_key = thing.key(&wanted)?;
    let op = DataOp::Delete {
        entity_id: thing.id,
        row_key,
    };
    writes.make(state, vec![op]).await?;
    Ok(json!({}))
}

/// DeleteDataTableEntries (the rows matching `values`) and PurgeDataTableEntries (every row).
pub(super) async fn delete_entries(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    every: bool,
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let wanted = if every {
        Map::new()
    } else {
        let wanted = wanted_values(thing, p)?;
        if wanted.values().all(Value::is_null) {
            return Err(ApiError::BadRequest(
                "DeleteDataTableEntries needs at least one field value in 'values'".into(),
            ));
        }
        wanted
    };
    let keep = |row: &Map<String, Value>| matches_values(row, &wanted);
    let deletes = |found: Vec<(DataTableRow, Map<String, Value>)>| -> Vec<DataOp> {
        found
            .into_iter()
            .map(|(row, _)| DataOp::Delete {
                entity_id: thing.id,
                row_key: row.row_key,
            })
            .collect()
    };
    if let Writes::Now = writes {
        // The scan and the delete in one write transaction, the rows read locked: a row
        // changed or added meanwhile is either seen as it is or not deleted.
        let txn = crate::db::begin_write(&state.db).await?;
        let found = scan_table(&txn, thing, u64::MAX, true, writes, keep).await?;
        super::writes::apply(&txn, &deletes(found)).await?;
        txn.commit().await?;
    } else {
        let found = scan_table(&state.db, thing, u64::MAX, false, writes, keep).await?;
        writes.make(state, deletes(found)).await?;
    }
    Ok(json!({}))
}
