//! The DataTable services: add or update, queries by values and filters, deletions.

use super::*;

pub(super) async fn add_or_update(
    state: &AppState,
    guard: &Guard,
    thing: &DataThing,
    p: &DataParams,
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
    let origin = origin(guard, p)?;
    let mut checked = Vec::with_capacity(rows.len());
    for row in &rows {
        let values = thing.check_row(row)?;
        let key = thing.key(&values)?;
        checked.push((key, values));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    for (key, values) in checked {
        data::upsert_data_table_row(
            &txn,
            &DataTableRow {
                id: 0,
                entity_id: thing.id,
                row_key: key,
                entry_time: origin.time,
                source: origin.source.clone(),
                source_type: origin.source_type.clone(),
                tags: origin.tags.clone(),
                location: origin.location.clone(),
                entry_values: Some(Value::Object(values)),
            },
        )
        .await?;
    }
    txn.commit().await?;
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

/// Reads the rows of a DataTable that pass `keep`, at most `limit`, in insertion order.
pub(super) async fn scan_table<C: sea_orm::ConnectionTrait>(
    db: &C,
    thing: &DataThing,
    limit: u64,
    keep: impl Fn(&Map<String, Value>) -> bool,
) -> Result<Vec<(DataTableRow, Map<String, Value>)>, ApiError> {
    let mut after = 0;
    let mut found = Vec::new();
    loop {
        let page = streams::data_table_rows_page(db, thing.id, after, PAGE_ROWS).await?;
        for row in page.iter() {
            after = row.id;
            let record = table_record(thing, row);
            if keep(&record) {
                found.push((row.clone(), record));
                if found.len() as u64 >= limit {
                    return Ok(found);
                }
            }
        }
        if (page.len() as u64) < PAGE_ROWS {
            return Ok(found);
        }
    }
}

pub(super) async fn query_table(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    with_query: bool,
) -> Result<Value, ApiError> {
    let limit = max_items(&p.max_items, state.config.limits.max_page_rows)?;
    let (filter, wanted, wanted_tags, source) = if with_query {
        (
            compile(p.query.as_ref(), &|name| thing.column_type(name))?,
            wanted_values(thing, p)?,
            tags(&p.tags)?,
            p.source.clone().filter(|s| !s.is_empty()),
        )
    } else {
        (None, Map::new(), Vec::new(), None)
    };
    let found = scan_table(&state.db, thing, limit, |row| {
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

pub(super) async fn delete_entry(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
) -> Result<Value, ApiError> {
    let wanted = wanted_values(thing, p)?;
    let key = thing.key(&wanted)?;
    let txn = crate::db::begin_write(&state.db).await?;
    data::delete_data_table_row(&txn, thing.id, &key).await?;
    txn.commit().await?;
    Ok(json!({}))
}

pub(super) async fn delete_entries(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
) -> Result<Value, ApiError> {
    let wanted = wanted_values(thing, p)?;
    if wanted.values().all(Value::is_null) {
        return Err(ApiError::BadRequest(
            "DeleteDataTableEntries needs at least one field value in 'values'".into(),
        ));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let found = scan_table(&txn, thing, u64::MAX, |row| matches_values(row, &wanted)).await?;
    for (row, _) in found {
        data::delete_data_table_row(&txn, thing.id, &row.row_key).await?;
    }
    txn.commit().await?;
    Ok(json!({}))
}
