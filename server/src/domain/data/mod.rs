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

mod filter;
mod params;
mod results;
mod stream_services;
mod table_services;
#[cfg(test)]
mod tests;
mod writes;

use std::cmp::Ordering;

use ironworx_entity::queries::data::{self, DataTableRow, StreamEntryRow};
use ironworx_entity::queries::entities::EntityRow;
use ironworx_entity::queries::streams::{self, EntryPage};
use ironworx_entity::queries::{models, now_ms, parts};
use ironworx_entity::vocab::{BaseType, Tag};
use ironworx_importer::values::{canonical, parse_date};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::authz::EntityIdx;
use crate::domain::Ctx;
pub use crate::domain::shapes::{Field, check_row, normalize, rows_of, shape_fields};
use crate::domain::things::values::table as infotable_of;
use crate::error::ApiError;
use crate::state::AppState;
pub use filter::Filter;
pub use filter::Op;
pub use filter::compile;
use filter::*;
use params::*;
pub(crate) use params::{date, max_items};
use results::*;
use stream_services::*;
use table_services::*;
pub use writes::{DataOp, Writes, apply};
use writes::{stream_overlay, table_overlay};

/// `maxItems` when the caller gives none (ThingWorx's default).
pub const DEFAULT_MAX_ITEMS: u64 = 500;
/// The deepest nesting of `And`/`Or` a filter query may have.
pub const MAX_QUERY_DEPTH: usize = 8;
/// The most filter nodes one query may hold.
pub const MAX_QUERY_NODES: usize = 256;
/// Rows read from the database per page while filtering.
const PAGE_ROWS: u64 = 1_000;
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
    "AddDataTableEntry",
    "AddDataTableEntries",
    "UpdateDataTableEntry",
    "UpdateDataTableEntries",
    "GetDataTableEntry",
    "GetDataTableEntryByKey",
    "GetDataTableEntries",
    "GetDataTableEntryCount",
    "FindDataTableEntries",
    "QueryDataTableEntries",
    "DeleteDataTableEntries",
    "DeleteDataTableEntry",
    "DeleteDataTableEntryByKey",
    "PurgeDataTableEntries",
    "CreateValues",
];

/// The columns every stream entry and data-table row carries besides its data-shape fields.
const SYSTEM_COLUMNS: &[(&str, BaseType)] = &[
    ("timestamp", BaseType::Datetime),
    ("source", BaseType::String),
    ("sourceType", BaseType::String),
    ("location", BaseType::Location),
    ("tags", BaseType::Tags),
];

/// Which kind of data Thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Appends timestamped entries.
    Stream,
    /// Keeps one row per primary key.
    DataTable,
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
    key: Option<Value>,
}

/// Whether `service` is a Stream or DataTable service.
pub fn is_data_service(service: &str) -> bool {
    STREAM_SERVICES.contains(&service) || TABLE_SERVICES.contains(&service)
}

/// Runs a Stream or DataTable service of Thing `idx` with `params` once `allowed` passes,
/// its writes going to `writes`; `None` when `service` is not one, or the Thing is not of the
/// kind the service belongs to.
pub async fn thing_service(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    service: &str,
    params: Map<String, Value>,
    writes: &mut Writes<'_>,
    allowed: impl FnOnce() -> Result<(), ApiError>,
) -> Option<Result<Value, ApiError>> {
    let wanted = if STREAM_SERVICES.contains(&service) {
        DataKind::Stream
    } else if TABLE_SERVICES.contains(&service) {
        DataKind::DataTable
    } else {
        return None;
    };
    let Some(name) = ctx.index.entity(idx).map(|e| e.name.clone()) else {
        return Some(Err(ApiError::NotFound));
    };
    match data_kind(&state.db, &name).await {
        Err(err) => Some(Err(err)),
        Ok(Some((entity, kind, chain))) if kind == wanted => Some(match allowed() {
            Ok(()) => run(state, ctx, service, params, &entity, &chain, writes).await,
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
    ctx: &Ctx,
    service: &str,
    params: Map<String, Value>,
    entity: &EntityRow,
    chain: &[String],
    writes: &mut Writes<'_>,
) -> Result<Value, ApiError> {
    let p: DataParams = DataParams::deserialize(Value::Object(params))
        .map_err(|e| ApiError::BadRequest(format!("malformed parameters: {e}")))?;
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
        "AddStreamEntry" => add_stream_entry(state, ctx, &thing, &p, writes).await,
        "GetStreamEntriesWithData" => query_stream(state, &thing, &p, false, writes).await,
        "QueryStreamEntriesWithData" => query_stream(state, &thing, &p, true, writes).await,
        "PurgeStreamEntries" => purge_stream(state, &thing, &p, writes).await,
        "AddOrUpdateDataTableEntry" | "AddOrUpdateDataTableEntries" => {
            put_rows(state, ctx, &thing, &p, Put::AddOrUpdate, writes).await
        }
        "AddDataTableEntry" | "AddDataTableEntries" => {
            put_rows(state, ctx, &thing, &p, Put::Add, writes).await
        }
        "UpdateDataTableEntry" | "UpdateDataTableEntries" => {
            put_rows(state, ctx, &thing, &p, Put::Update, writes).await
        }
        "GetDataTableEntry" | "GetDataTableEntryByKey" => {
            get_entry(
                state,
                &thing,
                &p,
                service == "GetDataTableEntryByKey",
                writes,
            )
            .await
        }
        "GetDataTableEntries" => query_table(state, &thing, &p, Query::All, writes).await,
        "FindDataTableEntries" => query_table(state, &thing, &p, Query::Values, writes).await,
        "QueryDataTableEntries" => query_table(state, &thing, &p, Query::Full, writes).await,
        "GetDataTableEntryCount" => count_entries(state, &thing, writes).await,
        "CreateValues" => Ok(result(&thing, Vec::new())),
        "DeleteDataTableEntry" => delete_entry(state, &thing, &p, false, writes).await,
        "DeleteDataTableEntryByKey" => delete_entry(state, &thing, &p, true, writes).await,
        "DeleteDataTableEntries" => delete_entries(state, &thing, &p, false, writes).await,
        "PurgeDataTableEntries" => delete_entries(state, &thing, &p, true, writes).await,
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
        let mut columns: Vec<(&str, &str)> = SYSTEM_COLUMNS
            .iter()
            .map(|(name, base_type)| (*name, base_type.as_str()))
            .collect();
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
            .map(|(_, t)| t.as_str())
            .or_else(|| self.field(name).map(|f| f.base_type.as_str()))
    }

    /// Checks a row of values against the data shape: every field must exist and its value
    /// fit the field's base type. Returns the canonical values.
    fn check_row(&self, row: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
        check_row(&self.fields, row)
    }

    /// The values naming the row of `key` (the `key` parameter of the `…ByKey` services): the
    /// value of the only primary key field.
    fn key_values(&self, key: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
        let key_fields: Vec<&Field> = self.fields.iter().filter(|f| f.primary_key).collect();
        let [field] = key_fields.as_slice() else {
            return Err(ApiError::BadRequest(
                "a key names a row only when the data shape has one primary key field".into(),
            ));
        };
        let key = key
            .filter(|k| !k.is_null())
            .ok_or_else(|| ApiError::BadRequest("missing parameter 'key'".into()))?;
        let mut row = Map::new();
        row.insert(field.name.clone(), key.clone());
        self.check_row(&row)
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

/// The fields of the data shape of a Stream or DataTable Thing; `None` when neither it nor
/// its templates name one. An entity names it in its aspect `dataShape` or, as exports from
/// the Composer write it, in the `dataShape` of its configuration table `Settings`.
async fn thing_fields(
    db: &sea_orm::DatabaseConnection,
    entity: &EntityRow,
    chain: &[String],
) -> Result<Option<Vec<Field>>, ApiError> {
    let mut shape = shape_of(db, entity).await?;
    for template in chain {
        if shape.is_some() {
            break;
        }
        let (row, _) = models::get_thing_template(db, template).await?;
        shape = shape_of(db, &row).await?;
    }
    match shape {
        Some(shape) => shape_fields(db, &shape).await.map(Some),
        None => Ok(None),
    }
}

/// The data shape `entity` names, if any.
async fn shape_of(
    db: &sea_orm::DatabaseConnection,
    entity: &EntityRow,
) -> Result<Option<String>, ApiError> {
    if let Some(shape) = shape_aspect(entity) {
        return Ok(Some(shape));
    }
    let tables = parts::configuration_tables::list(db, entity.id).await?;
    Ok(tables
        .iter()
        .filter(|t| t.name == "Settings")
        .filter_map(|t| t.rows.as_ref()?.get(0)?.get("dataShape")?.as_str())
        .find(|s| !s.is_empty())
        .map(str::to_owned))
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
