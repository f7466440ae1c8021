//! The Stream services: AddStreamEntry, QueryStreamEntries (with the filter variants) and
//! PurgeStreamEntries.

use super::*;

pub(super) async fn add_stream_entry(
    state: &AppState,
    ctx: &Ctx,
    thing: &DataThing,
    p: &DataParams,
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let rows = rows_of(p.values.as_ref().unwrap_or(&Value::Null))?;
    if rows.len() > 1 {
        return Err(ApiError::BadRequest(
            "parameter 'values' of AddStreamEntry must hold one row".into(),
        ));
    }
    let values = match rows.first() {
        Some(row) => thing.check_row(row)?,
        None => Map::new(),
    };
    let origin = origin(ctx, p)?;
    let entry = StreamEntryRow {
        id: 0,
        entity_id: thing.id,
        entry_time: origin.time,
        source: origin.source,
        source_type: origin.source_type,
        tags: origin.tags,
        location: origin.location,
        entry_values: Some(Value::Object(values)),
    };
    writes.make(state, vec![DataOp::Append(entry)]).await?;
    Ok(json!({}))
}

pub(super) async fn query_stream(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    with_query: bool,
    writes: &Writes<'_>,
) -> Result<Value, ApiError> {
    let limit = max_items(&p.max_items, state.config.limits.max_page_rows)?;
    let (from, to) = range(p)?;
    let oldest_first = flag(&p.oldest_first, "oldestFirst")?;
    let wanted_tags = tags(&p.tags)?;
    let filter = if with_query {
        compile(p.query.as_ref(), &|name| thing.column_type(name))?
    } else {
        None
    };
    let source = p.source.clone().filter(|s| !s.is_empty());
    let keep = |entry: &StreamEntryRow| -> Option<Map<String, Value>> {
        if !has_tags(&entry.tags, &wanted_tags) {
            return None;
        }
        let row = entry_record(thing, entry);
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&row))
            .then_some(row)
    };
    let pending = writes.pending(thing.id);
    let mut page = EntryPage {
        thing_id: thing.id,
        from,
        to,
        oldest_first,
        source: source.clone(),
        after: None,
        limit: PAGE_ROWS,
    };
    let mut rows = Vec::new();
    let mut stored = Vec::new();
    'pages: loop {
        let entries = streams::stream_entries_page(&state.db, &page).await?;
        for entry in &entries {
            page.after = Some((entry.entry_time, entry.id));
            if !pending.is_empty() {
                stored.push(entry.clone());
                continue;
            }
            if let Some(row) = keep(entry) {
                rows.push(row);
                if rows.len() as u64 >= limit {
                    break 'pages;
                }
            }
        }
        if (entries.len() as u64) < PAGE_ROWS {
            break;
        }
    }
    if pending.is_empty() {
        return Ok(result(thing, rows));
    }
    // The entries this invocation added or purged, seen as the query would see them stored.
    let mut entries: Vec<StreamEntryRow> = stream_overlay(stored, &pending)
        .into_iter()
        .filter(|e| e.entry_time >= from && e.entry_time <= to)
        .filter(|e| source.as_deref().is_none_or(|s| e.source == s))
        .collect();
    if !oldest_first {
        entries.reverse();
    }
    let rows = entries
        .iter()
        .filter_map(keep)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(result(thing, rows))
}

pub(super) async fn purge_stream(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let from = date(&p.start_date, "startDate")?
        .ok_or_else(|| ApiError::BadRequest("missing parameter 'startDate'".into()))?;
    let to = date(&p.end_date, "endDate")?
        .ok_or_else(|| ApiError::BadRequest("missing parameter 'endDate'".into()))?;
    if from > to {
        return Err(ApiError::BadRequest("startDate is after endDate".into()));
    }
    // Purges are always immediate; the flag is accepted for compatibility.
    flag(&p.immediate, "immediate")?;
    let op = DataOp::Purge {
        entity_id: thing.id,
        from,
        to,
    };
    writes.make(state, vec![op]).await?;
    Ok(json!({}))
}
