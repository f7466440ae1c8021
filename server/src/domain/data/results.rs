//! Rows as the services answer them: records of entries and table rows, tag matching, the InfoTable
//! result.

use super::*;

/// One result row: the system columns, then every data-shape field (null when unset).
pub(super) fn record(
    thing: &DataThing,
    time: i64,
    source: &str,
    source_type: &str,
    location: Option<&str>,
    tags: &str,
    values: Option<&Value>,
) -> Map<String, Value> {
    let mut row = Map::new();
    for field in &thing.fields {
        let value = values
            .and_then(|v| v.get(&field.name))
            .cloned()
            .unwrap_or(Value::Null);
        row.insert(field.name.clone(), value);
    }
    row.insert("timestamp".into(), json!(time));
    row.insert("source".into(), json!(source));
    row.insert("sourceType".into(), json!(source_type));
    row.insert(
        "location".into(),
        location
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null),
    );
    row.insert("tags".into(), json!(tags));
    row
}

pub(super) fn entry_record(thing: &DataThing, e: &StreamEntryRow) -> Map<String, Value> {
    record(
        thing,
        e.entry_time,
        &e.source,
        &e.source_type,
        e.location.as_deref(),
        &e.tags,
        e.entry_values.as_ref(),
    )
}

pub(super) fn table_record(thing: &DataThing, r: &DataTableRow) -> Map<String, Value> {
    record(
        thing,
        r.entry_time,
        &r.source,
        &r.source_type,
        r.location.as_deref(),
        &r.tags,
        r.entry_values.as_ref(),
    )
}

pub(super) fn has_tags(row_tags: &str, wanted: &[Tag]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let have = Tag::parse_list(row_tags).unwrap_or_default();
    wanted.iter().all(|t| have.contains(t))
}

pub(super) fn result(thing: &DataThing, rows: Vec<Map<String, Value>>) -> Value {
    let columns: Vec<(&str, &str, Value)> = thing
        .columns()
        .into_iter()
        .map(|(name, base_type)| (name, base_type, json!({})))
        .collect();
    infotable_of(&columns, rows.into_iter().map(Value::Object).collect())
}
