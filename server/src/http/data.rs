//! Stream and DataTable Things: their services (`AddStreamEntry`, `GetStreamEntriesWithData`,
//! `QueryStreamEntriesWithData`, `PurgeStreamEntries`; `AddOrUpdateDataTableEntry`,
//! `GetDataTableEntries`, `QueryDataTableEntries`, `DeleteDataTableEntries`,
//! `DeleteDataTableEntry`), the data shape that types their values, and the ThingWorx filter
//! query evaluated over their rows.
//!
//! A Thing is a Stream (a DataTable) when its template chain reaches the built-in template
//! `Stream` (`DataTable`). Its data shape is the aspect `dataShape` of the Thing, or else of the
//! nearest template in its chain that has one (the aspect an export writes as
//! `aspect.dataShape`). Values are checked against the shape's base types before anything is
//! written; data writes are transactional but not audited (the audit log and its change
//! sequence are for model and security changes, which every node reloads).

use std::cmp::Ordering;
use std::collections::HashSet;

use ironworx_entity::queries::data::{self, DataTableRow, StreamEntryRow};
use ironworx_entity::queries::entities::EntityRow;
use ironworx_entity::queries::streams::{self, EntryPage};
use ironworx_entity::queries::{QueryError, models, now_ms, parts};
use ironworx_entity::vocab::Tag;
use ironworx_importer::values::{canonical, parse_date};
use serde::Deserialize;
use serde_json::{Map, Number, Value, json};

use crate::authz::EntityIdx;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::parse_body;
use crate::state::AppState;

/// `maxItems` when the caller gives none (ThingWorx's default).
pub const DEFAULT_MAX_ITEMS: u64 = 500;
/// The deepest nesting of `And`/`Or` a filter query may have.
pub const MAX_QUERY_DEPTH: usize = 8;
/// The most filter nodes one query may hold.
pub const MAX_QUERY_NODES: usize = 256;
/// Rows read from the database per page while filtering.
const PAGE_ROWS: u64 = 1_000;
/// The longest chain of base data shapes followed.
const MAX_SHAPE_DEPTH: usize = 16;

/// The built-in template of Stream Things.
pub const STREAM_TEMPLATE: &str = "Stream";
/// The built-in template of DataTable Things.
pub const DATA_TABLE_TEMPLATE: &str = "DataTable";

const STREAM_SERVICES: &[&str] = &[
    "AddStreamEntry",
    "GetStreamEntriesWithData",
    "QueryStreamEntriesWithData",
    "PurgeStreamEntries",
];

const TABLE_SERVICES: &[&str] = &[
    "AddOrUpdateDataTableEntry",
    "AddOrUpdateDataTableEntries",
    "GetDataTableEntries",
    "QueryDataTableEntries",
    "DeleteDataTableEntries",
    "DeleteDataTableEntry",
];

/// The columns every stream entry and data-table row carries besides its data-shape fields.
const SYSTEM_COLUMNS: &[(&str, &str)] = &[
    ("timestamp", "DATETIME"),
    ("source", "STRING"),
    ("sourceType", "STRING"),
    ("location", "LOCATION"),
    ("tags", "TAGS"),
];

/// Which kind of data Thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Appends timestamped entries.
    Stream,
    /// Keeps one row per primary key.
    DataTable,
}

/// A field of a data shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// Part of the primary key (DataTables).
    pub primary_key: bool,
}

/// The parameters of the data services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DataParams {
    timestamp: Option<Value>,
    location: Option<Value>,
    source: Option<String>,
    source_type: Option<String>,
    tags: Option<Value>,
    values: Option<Value>,
    max_items: Option<Value>,
    start_date: Option<Value>,
    end_date: Option<Value>,
    oldest_first: Option<Value>,
    query: Option<Value>,
    immediate: Option<Value>,
}

/// Runs a Stream or DataTable service of Thing `idx` once `allowed` passes; `None` when
/// `service` is not one, or the Thing is not of the kind the service belongs to.
pub async fn thing_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
    allowed: impl FnOnce() -> Result<(), ApiError>,
) -> Option<Result<Value, ApiError>> {
    let wanted = if STREAM_SERVICES.contains(&service) {
        DataKind::Stream
    } else if TABLE_SERVICES.contains(&service) {
        DataKind::DataTable
    } else {
        return None;
    };
    let Some(name) = guard.index.entity(idx).map(|e| e.name.clone()) else {
        return Some(Err(ApiError::NotFound));
    };
    match data_kind(&state.db, &name).await {
        Err(err) => Some(Err(err)),
        Ok(Some((entity, kind, chain))) if kind == wanted => Some(match allowed() {
            Ok(()) => run(state, guard, service, body, &entity, &chain).await,
            Err(denied) => Err(denied),
        }),
        Ok(_) => None,
    }
}

/// The kind of the Thing `name` (`None` for other Things), its entity row and template chain.
pub async fn data_kind<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<(EntityRow, DataKind, Vec<String>)>, ApiError> {
    let (entity, thing) = models::get_thing(db, name).await?;
    let chain = models::template_chain(db, &thing.thing_template).await?;
    let kind = if chain.iter().any(|t| t == STREAM_TEMPLATE) {
        Some(DataKind::Stream)
    } else if chain.iter().any(|t| t == DATA_TABLE_TEMPLATE) {
        Some(DataKind::DataTable)
    } else {
        None
    };
    Ok(kind.map(|k| (entity, k, chain)))
}

async fn run(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
    entity: &EntityRow,
    chain: &[String],
) -> Result<Value, ApiError> {
    let p: DataParams = parse_body(body)?;
    let fields = match thing_fields(&state.db, entity, chain).await? {
        Some(fields) => fields,
        // A Stream without a data shape keeps the base fields only (timestamp, source,
        // sourceType, location, tags).
        None if STREAM_SERVICES.contains(&service) => Vec::new(),
        None => {
            return Err(ApiError::BadRequest(format!(
                "Thing '{}' has no data shape",
                entity.name
            )));
        }
    };
    let thing = DataThing {
        id: entity.id,
        fields,
    };
    match service {
        "AddStreamEntry" => add_stream_entry(state, guard, &thing, &p).await,
        "GetStreamEntriesWithData" => query_stream(state, &thing, &p, false).await,
        "QueryStreamEntriesWithData" => query_stream(state, &thing, &p, true).await,
        "PurgeStreamEntries" => purge_stream(state, &thing, &p).await,
        "AddOrUpdateDataTableEntry" | "AddOrUpdateDataTableEntries" => {
            add_or_update(state, guard, &thing, &p).await
        }
        "GetDataTableEntries" => query_table(state, &thing, &p, false).await,
        "QueryDataTableEntries" => query_table(state, &thing, &p, true).await,
        "DeleteDataTableEntry" => delete_entry(state, &thing, &p).await,
        "DeleteDataTableEntries" => delete_entries(state, &thing, &p).await,
        _ => Err(ApiError::NotFound),
    }
}

/// A Stream or DataTable Thing and the fields of its data shape.
struct DataThing {
    id: i64,
    fields: Vec<Field>,
}

impl DataThing {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The InfoTable columns of a result: the system columns, then the data-shape fields.
    fn columns(&self) -> Vec<(&str, &str)> {
        let mut columns: Vec<(&str, &str)> = SYSTEM_COLUMNS.to_vec();
        for field in &self.fields {
            if !columns.iter().any(|(name, _)| *name == field.name) {
                columns.push((field.name.as_str(), field.base_type.as_str()));
            }
        }
        columns
    }

    /// The base type of a column a query may name.
    fn column_type(&self, name: &str) -> Option<&str> {
        SYSTEM_COLUMNS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .or_else(|| self.field(name).map(|f| f.base_type.as_str()))
    }

    /// Checks a row of values against the data shape: every field must exist and its value
    /// fit the field's base type. Returns the canonical values.
    fn check_row(&self, row: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
        check_row(&self.fields, row)
    }

    /// The primary key of checked values, as stored (`row_key`).
    fn key(&self, values: &Map<String, Value>) -> Result<String, ApiError> {
        let key_fields: Vec<&Field> = self.fields.iter().filter(|f| f.primary_key).collect();
        if key_fields.is_empty() {
            return Err(ApiError::BadRequest(
                "the data shape of this DataTable has no primary key field".into(),
            ));
        }
        let mut key = Vec::with_capacity(key_fields.len());
        for field in key_fields {
            match values.get(&field.name) {
                Some(v) if !v.is_null() && v.as_str() != Some("") => key.push(v.clone()),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "missing primary key field '{}'",
                        field.name
                    )));
                }
            }
        }
        Ok(Value::Array(key).to_string())
    }
}

/// Checks `row` against `fields` (see [`DataThing::check_row`]); shared with event data.
pub fn check_row(
    fields: &[Field],
    row: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut checked = Map::new();
    for (name, value) in row {
        let field = fields.iter().find(|f| &f.name == name).ok_or_else(|| {
            ApiError::BadRequest(format!("field '{name}' is not in the data shape"))
        })?;
        let value = canonical(&field.base_type, value.clone())
            .map_err(|e| ApiError::BadRequest(format!("field '{name}': {e}")))?;
        checked.insert(name.clone(), normalize(&field.base_type, value));
    }
    Ok(checked)
}

/// NUMBER values are doubles, so that `5` and `"5"` are the same value.
fn normalize(base_type: &str, value: Value) -> Value {
    match (&value, base_type) {
        (Value::Number(n), "NUMBER") => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(value, Value::Number),
        _ => value,
    }
}

/// The fields of the data shape of a Stream or DataTable Thing; `None` when neither it nor
/// its templates name one.
async fn thing_fields(
    db: &sea_orm::DatabaseConnection,
    entity: &EntityRow,
    chain: &[String],
) -> Result<Option<Vec<Field>>, ApiError> {
    let mut shape = shape_aspect(entity);
    for template in chain {
        if shape.is_some() {
            break;
        }
        let (row, _) = models::get_thing_template(db, template).await?;
        shape = shape_aspect(&row);
    }
    match shape {
        Some(shape) => shape_fields(db, &shape).await.map(Some),
        None => Ok(None),
    }
}

fn shape_aspect(entity: &EntityRow) -> Option<String> {
    entity
        .aspects
        .as_ref()
        .and_then(|a| a.get("dataShape"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The fields of DataShape `name` with those of its base shapes (base fields first; a field
/// the derived shape redefines keeps the derived definition).
pub async fn shape_fields<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Vec<Field>, ApiError> {
    let mut levels = Vec::new();
    let mut seen = HashSet::new();
    let mut current = name.to_owned();
    while !current.is_empty() && levels.len() < MAX_SHAPE_DEPTH && seen.insert(current.clone()) {
        let (row, shape) = match models::get_data_shape(db, &current).await {
            Ok(found) => found,
            Err(QueryError::NotFound { .. }) => {
                return Err(ApiError::BadRequest(format!(
                    "data shape '{current}' does not exist"
                )));
            }
            Err(err) => return Err(err.into()),
        };
        let mut rows = parts::field_definitions::list(db, row.id).await?;
        rows.sort_by_key(|f| f.ordinal);
        levels.push(rows);
        current = shape.base_data_shape;
    }
    let mut fields: Vec<Field> = Vec::new();
    for level in levels.into_iter().rev() {
        for row in level {
            let primary_key = row
                .aspects
                .as_ref()
                .and_then(|a| a.get("isPrimaryKey"))
                .is_some_and(|v| v == &json!(true) || v == &json!("true"));
            let field = Field {
                name: row.name,
                base_type: row.base_type,
                primary_key,
            };
            match fields.iter_mut().find(|f| f.name == field.name) {
                Some(existing) => *existing = field,
                None => fields.push(field),
            }
        }
    }
    Ok(fields)
}

/// The rows of a `values` parameter: an InfoTable (`{"dataShape":…,"rows":[…]}`), one object,
/// or either as JSON text.
pub fn rows_of(value: &Value) -> Result<Vec<Map<String, Value>>, ApiError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) if text.trim().is_empty() => Ok(Vec::new()),
        Value::String(text) => {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| ApiError::BadRequest(format!("parameter 'values': {e}")))?;
            match parsed {
                Value::String(_) => Err(ApiError::BadRequest(
                    "parameter 'values' must be an object or an InfoTable".into(),
                )),
                other => rows_of(&other),
            }
        }
        Value::Object(object)
            if object.get("rows").is_some_and(Value::is_array)
                && object.keys().all(|k| k == "rows" || k == "dataShape") =>
        {
            object
                .get("rows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|row| match row {
                    Value::Object(r) => Ok(r.clone()),
                    _ => Err(ApiError::BadRequest(
                        "every row of 'values' must be an object".into(),
                    )),
                })
                .collect()
        }
        Value::Object(object) => Ok(vec![object.clone()]),
        _ => Err(ApiError::BadRequest(
            "parameter 'values' must be an object or an InfoTable".into(),
        )),
    }
}

// --- parameters ------------------------------------------------------------------------------

/// `maxItems`: a whole number from 1 to `largest` (`--max-page-rows`), by default
/// [`DEFAULT_MAX_ITEMS`].
fn max_items(value: &Option<Value>, largest: u64) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "parameter 'maxItems' must be a whole number from 1 to {largest}"
        ))
    };
    let n = match value {
        None | Some(Value::Null) => return Ok(DEFAULT_MAX_ITEMS.min(largest)),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if n.fract() != 0.0 || n < 1.0 || n > largest as f64 {
        return Err(bad());
    }
    // In range 1..=largest and whole, so the conversion is exact.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be a whole number from 1 to `largest`"
    )]
    Ok(n as u64)
}

/// A DATETIME parameter: epoch milliseconds, or ISO-8601 text.
fn date(value: &Option<Value>, name: &str) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "parameter '{name}' must be a date (epoch milliseconds or ISO-8601)"
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| parse_date(s))
            .map(Some)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

fn flag(value: &Option<Value>, name: &str) -> Result<bool, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameter '{name}' must be a boolean, not {other}"
        ))),
    }
}

/// A TAGS parameter: `Vocabulary:Term;…` text, a list of such texts, or a list of
/// `{"vocabulary","vocabularyTerm"}` objects.
fn tags(value: &Option<Value>) -> Result<Vec<Tag>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(format!("parameter 'tags': {e}"));
    let text = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    Value::Object(o) => {
                        let vocabulary = o.get("vocabulary").and_then(Value::as_str);
                        let term = o.get("vocabularyTerm").and_then(Value::as_str);
                        match (vocabulary, term) {
                            (Some(v), Some(t)) => parts.push(format!("{v}:{t}")),
                            _ => return Err(bad(&"a tag needs 'vocabulary' and 'vocabularyTerm'")),
                        }
                    }
                    other => return Err(bad(&format!("'{other}' is not a tag"))),
                }
            }
            parts.join(";")
        }
        Some(other) => return Err(bad(&format!("'{other}' is not a list of tags"))),
    };
    Tag::parse_list(&text).map_err(|e| bad(&e))
}

/// A LOCATION parameter, kept as its JSON text.
fn location(value: &Option<Value>) -> Result<Option<String>, ApiError> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => canonical("LOCATION", v.clone())
            .map_err(|e| ApiError::BadRequest(format!("parameter 'location': {e}")))?,
    };
    match &value {
        Value::Null => Ok(None),
        Value::Object(o)
            if o.get("latitude").is_some_and(Value::is_number)
                && o.get("longitude").is_some_and(Value::is_number)
                && o.get("elevation").is_none_or(Value::is_number) =>
        {
            Ok(Some(value.to_string()))
        }
        _ => Err(ApiError::BadRequest(
            "parameter 'location' must have numeric 'latitude' and 'longitude'".into(),
        )),
    }
}

/// The time range of a read: `startDate` to `endDate`, both inclusive, open ends allowed.
fn range(p: &DataParams) -> Result<(i64, i64), ApiError> {
    let from = date(&p.start_date, "startDate")?.unwrap_or(i64::MIN);
    let to = date(&p.end_date, "endDate")?.unwrap_or(i64::MAX);
    if from > to {
        return Err(ApiError::BadRequest(
            "startDate is after endDate".to_owned(),
        ));
    }
    Ok((from, to))
}

/// Where an entry or row came from: the given source, or the caller.
struct Origin {
    time: i64,
    source: String,
    source_type: String,
    tags: String,
    location: Option<String>,
}

fn origin(guard: &Guard, p: &DataParams) -> Result<Origin, ApiError> {
    let source = p
        .source
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| guard.caller.name.clone());
    let source_type = p
        .source_type
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "User".to_owned());
    Ok(Origin {
        time: date(&p.timestamp, "timestamp")?.unwrap_or_else(now_ms),
        source,
        source_type,
        tags: Tag::join_list(&tags(&p.tags)?),
        location: location(&p.location)?,
    })
}

// --- results ---------------------------------------------------------------------------------

/// One result row: the system columns, then every data-shape field (null when unset).
fn record(
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

fn entry_record(thing: &DataThing, e: &StreamEntryRow) -> Map<String, Value> {
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

fn table_record(thing: &DataThing, r: &DataTableRow) -> Map<String, Value> {
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

fn has_tags(row_tags: &str, wanted: &[Tag]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let have = Tag::parse_list(row_tags).unwrap_or_default();
    wanted.iter().all(|t| have.contains(t))
}

fn result(thing: &DataThing, rows: Vec<Map<String, Value>>) -> Value {
    infotable(
        &thing.columns(),
        rows.into_iter().map(Value::Object).collect(),
    )
}

// --- streams ---------------------------------------------------------------------------------

async fn add_stream_entry(
    state: &AppState,
    guard: &Guard,
    thing: &DataThing,
    p: &DataParams,
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
    let origin = origin(guard, p)?;
    let txn = crate::db::begin_write(&state.db).await?;
    parts::stream_entries::insert(
        &txn,
        vec![StreamEntryRow {
            id: 0,
            entity_id: thing.id,
            entry_time: origin.time,
            source: origin.source,
            source_type: origin.source_type,
            tags: origin.tags,
            location: origin.location,
            entry_values: Some(Value::Object(values)),
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(json!({}))
}

async fn query_stream(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
    with_query: bool,
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
    let mut page = EntryPage {
        thing_id: thing.id,
        from,
        to,
        oldest_first,
        source: p.source.clone().filter(|s| !s.is_empty()),
        after: None,
        limit: PAGE_ROWS,
    };
    let mut rows = Vec::new();
    'pages: loop {
        let entries = streams::stream_entries_page(&state.db, &page).await?;
        for entry in &entries {
            page.after = Some((entry.entry_time, entry.id));
            if !has_tags(&entry.tags, &wanted_tags) {
                continue;
            }
            let row = entry_record(thing, entry);
            if filter.as_ref().is_none_or(|f| f.matches(&row)) {
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
    Ok(result(thing, rows))
}

async fn purge_stream(
    state: &AppState,
    thing: &DataThing,
    p: &DataParams,
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
    let txn = crate::db::begin_write(&state.db).await?;
    data::purge_stream_entries(&txn, thing.id, from, to).await?;
    txn.commit().await?;
    Ok(json!({}))
}

// --- data tables -----------------------------------------------------------------------------

async fn add_or_update(
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
fn matches_values(row: &Map<String, Value>, wanted: &Map<String, Value>) -> bool {
    wanted.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| {
        row.get(k)
            .is_some_and(|have| compare(have, v) == Some(Ordering::Equal))
    })
}

/// The `values` of a query or delete, checked against the data shape.
fn wanted_values(thing: &DataThing, p: &DataParams) -> Result<Map<String, Value>, ApiError> {
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
async fn scan_table<C: sea_orm::ConnectionTrait>(
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

async fn query_table(
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

async fn delete_entry(
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

async fn delete_entries(
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

// --- filter queries --------------------------------------------------------------------------

/// A comparison of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

/// A compiled ThingWorx filter query.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `fieldName <op> value`.
    Compare {
        /// The column.
        field: String,
        /// The comparison.
        op: Op,
        /// The canonical value compared with.
        value: Value,
    },
    /// `fieldName LIKE pattern` (`*` or `%` for any text, case-insensitive).
    Like {
        /// The column.
        field: String,
        /// The lower-cased pattern.
        pattern: String,
    },
    /// Every filter holds.
    And(Vec<Filter>),
    /// Some filter holds.
    Or(Vec<Filter>),
}

impl Filter {
    /// Whether `row` passes.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        match self {
            Filter::Compare { field, op, value } => {
                let have = row.get(field).unwrap_or(&Value::Null);
                let ordering = compare(have, value);
                match op {
                    Op::Eq => ordering == Some(Ordering::Equal),
                    Op::Ne => ordering != Some(Ordering::Equal),
                    Op::Gt => ordering == Some(Ordering::Greater),
                    Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                    Op::Lt => ordering == Some(Ordering::Less),
                    Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                }
            }
            Filter::Like { field, pattern } => match row.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => like(&s.to_lowercase(), pattern),
                Some(other) => like(&other.to_string().to_lowercase(), pattern),
            },
            Filter::And(filters) => filters.iter().all(|f| f.matches(row)),
            Filter::Or(filters) => filters.iter().any(|f| f.matches(row)),
        }
    }
}

/// Orders two canonical values of one column; `None` when they cannot be compared.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (x, y) if x == y => Some(Ordering::Equal),
        _ => None,
    }
}

/// Matches `text` against `pattern`, where `*` and `%` stand for any text.
fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split(['*', '%']).collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return text == pattern;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Compiles a query parameter (`{"filters":{…}}`, or that as JSON text) over the columns
/// `column_type` knows; `None` when there is no filter.
pub fn compile<'c>(
    query: Option<&Value>,
    column_type: &dyn Fn(&str) -> Option<&'c str>,
) -> Result<Option<Filter>, ApiError> {
    let parsed;
    let query = match query {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| ApiError::BadRequest(format!("parameter 'query': {e}")))?;
            &parsed
        }
        Some(other) => other,
    };
    let Value::Object(object) = query else {
        return Err(ApiError::BadRequest(
            "parameter 'query' must be an object like {\"filters\":{…}}".into(),
        ));
    };
    if let Some(key) = object.keys().find(|k| *k != "filters") {
        return Err(ApiError::BadRequest(format!(
            "parameter 'query': '{key}' is not supported (only 'filters')"
        )));
    }
    let mut nodes = 0;
    match object.get("filters") {
        None | Some(Value::Null) => Ok(None),
        Some(node) => compile_node(node, column_type, 1, &mut nodes).map(Some),
    }
}

fn compile_node<'c>(
    node: &Value,
    column_type: &dyn Fn(&str) -> Option<&'c str>,
    depth: usize,
    nodes: &mut usize,
) -> Result<Filter, ApiError> {
    let bad = |what: String| ApiError::BadRequest(format!("parameter 'query': {what}"));
    if depth > MAX_QUERY_DEPTH {
        return Err(bad(format!(
            "filters nest deeper than {MAX_QUERY_DEPTH} levels"
        )));
    }
    *nodes += 1;
    if *nodes > MAX_QUERY_NODES {
        return Err(bad(format!("more than {MAX_QUERY_NODES} filters")));
    }
    let Value::Object(node) = node else {
        return Err(bad("a filter must be an object".into()));
    };
    let kind = node
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a filter needs a 'type'".into()))?;
    let kind = kind.to_ascii_uppercase();
    if kind == "AND" || kind == "OR" {
        let children = node
            .get("filters")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("filter {kind} needs a 'filters' list")))?;
        let children = children
            .iter()
            .map(|c| compile_node(c, column_type, depth + 1, nodes))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if kind == "AND" {
            Filter::And(children)
        } else {
            Filter::Or(children)
        });
    }
    let op = match kind.as_str() {
        "EQ" => Some(Op::Eq),
        "NE" => Some(Op::Ne),
        "GT" => Some(Op::Gt),
        "GE" => Some(Op::Ge),
        "LT" => Some(Op::Lt),
        "LE" => Some(Op::Le),
        "LIKE" => None,
        _ => {
            return Err(bad(format!(
                "filter type '{kind}' is not supported (EQ, NE, GT, GE, LT, LE, LIKE, And, Or)"
            )));
        }
    };
    let field = node
        .get("fieldName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("filter {kind} needs a 'fieldName'")))?;
    let base_type = column_type(field).ok_or_else(|| bad(format!("unknown field '{field}'")))?;
    let value = node
        .get("value")
        .ok_or_else(|| bad(format!("filter {kind} needs a 'value'")))?;
    match op {
        Some(op) => {
            let value = canonical(base_type, value.clone())
                .map_err(|e| bad(format!("field '{field}': {e}")))?;
            Ok(Filter::Compare {
                field: field.to_owned(),
                op,
                value: normalize(base_type, value),
            })
        }
        None => {
            let pattern = value
                .as_str()
                .ok_or_else(|| bad("a LIKE value must be text".into()))?;
            Ok(Filter::Like {
                field: field.to_owned(),
                pattern: pattern.to_lowercase(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_PAGE_ROWS;

    fn columns(name: &str) -> Option<&'static str> {
        match name {
            "n" => Some("NUMBER"),
            "s" => Some("STRING"),
            _ => None,
        }
    }

    fn row(n: f64, s: &str) -> Map<String, Value> {
        let mut row = Map::new();
        row.insert("n".into(), json!(n));
        row.insert("s".into(), json!(s));
        row
    }

    #[test]
    fn filters_compare_and_nest() {
        let q = json!({"filters": {"type": "And", "filters": [
            {"type": "GE", "fieldName": "n", "value": "2"},
            {"type": "Or", "filters": [
                {"type": "LIKE", "fieldName": "s", "value": "ab*"},
                {"type": "EQ", "fieldName": "s", "value": "zz"}
            ]}
        ]}});
        let f = compile(Some(&q), &columns)
            .expect("compiles")
            .expect("a filter");
        assert!(f.matches(&row(2.0, "ABC")));
        assert!(f.matches(&row(3.0, "zz")));
        assert!(!f.matches(&row(1.0, "abc")));
        assert!(!f.matches(&row(5.0, "xab")));
    }

    #[test]
    fn bad_queries_are_refused() {
        let cases = [
            json!({"filters": {"type": "EQ", "fieldName": "nope", "value": 1}}),
            json!({"filters": {"type": "EQ", "fieldName": "n", "value": "many"}}),
            json!({"filters": {"type": "BETWEEN", "fieldName": "n", "value": 1}}),
            json!({"sorts": []}),
            json!([1]),
        ];
        for q in cases {
            assert!(compile(Some(&q), &columns).is_err(), "{q}");
        }
        let mut deep = json!({"type": "EQ", "fieldName": "n", "value": 1});
        for _ in 0..MAX_QUERY_DEPTH {
            deep = json!({"type": "Or", "filters": [deep]});
        }
        assert!(compile(Some(&json!({"filters": deep})), &columns).is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like("pump-12", "pump*"));
        assert!(like("pump-12", "*12"));
        assert!(like("pump-12", "p%p*2"));
        assert!(!like("pump-12", "pump"));
        assert!(like("pump", "pump"));
        assert!(!like("ab", "a*b*b"));
    }

    #[test]
    fn max_items_is_bounded() {
        assert_eq!(
            max_items(&None, DEFAULT_MAX_PAGE_ROWS).expect("default"),
            DEFAULT_MAX_ITEMS
        );
        assert_eq!(
            max_items(&Some(json!(10_000)), DEFAULT_MAX_PAGE_ROWS).expect("max"),
            10_000
        );
        assert!(max_items(&Some(json!(10_001)), DEFAULT_MAX_PAGE_ROWS).is_err());
        assert!(max_items(&Some(json!(0)), DEFAULT_MAX_PAGE_ROWS).is_err());
        assert!(max_items(&Some(json!(1.5)), DEFAULT_MAX_PAGE_ROWS).is_err());
    }
}
