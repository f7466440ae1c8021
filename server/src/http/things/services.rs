//! The services of `Things/<T>`: property values (`GetPropertyValues`, `SetPropertyValues`,
//! `UpdatePropertyValues`; ServiceInvoke on the service, then PropertyRead or PropertyWrite on
//! each property), property definitions (`GetPropertyDefinitions`, `GetPropertyDefinition`:
//! design-time Metadata; `AddPropertyDefinition`, `RemovePropertyDefinition`: design-time Update;
//! ThingTemplates and ThingShapes have them too, and a change there reaches every implementing
//! Thing), and the lifecycle (`EnableThing`, `DisableThing`, `RestartThing`, `IsEnabled`: ServiceInvoke).
//! A service the Thing's definers define themselves is checked for ServiceInvoke; a `Script`
//! then runs (`crate::script`), any other implementation (a query, …) answers 501.

use actix_web::HttpResponse;
use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::models;
use ironworx_entity::queries::now_ms;
use ironworx_entity::queries::parts::{property_definitions, property_values};
use ironworx_entity::vocab::{BaseType, Collection, EntityName, PermissionKind};
use ironworx_importer::values as typed;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{self, ThingModel};
use super::{Entry, not_implemented, values};
use crate::authz::{EntityIdx, Target};
use crate::domain::things::{self, Selection, THING_SERVICES};
use crate::domain::write::commit_audited;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::{infotable, primitive};
use crate::http::params::{self, parse_body};
use crate::state::AppState;

/// The property-definition services every Thing, ThingTemplate and ThingShape has.
pub(super) const DEFINITION_SERVICES: &[&str] = &[
    "GetPropertyDefinitions",
    "GetPropertyDefinition",
    "AddPropertyDefinition",
    "RemovePropertyDefinition",
];

/// The values `dataChangeType` may take.
const DATA_CHANGE_TYPES: &[&str] = &["VALUE", "ALWAYS", "NEVER", "ON", "OFF"];

/// The qualities a value may carry.
const QUALITIES: &[&str] = &["GOOD", "BAD", "UNKNOWN", "OUT_OF_RANGE"];

/// The parameters of the Thing services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ThingParams {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    base_type: Option<String>,
    read_only: Option<Value>,
    remote: Option<Value>,
    logged: Option<Value>,
    persistent: Option<Value>,
    default_value: Option<Value>,
    data_change_type: Option<String>,
    data_change_threshold: Option<Value>,
    category: Option<String>,
    data_shape: Option<String>,
    remote_property_name: Option<String>,
    timeout: Option<Value>,
    push_type: Option<String>,
    push_threshold: Option<Value>,
    values: Option<Value>,
}

/// Runs service `service` of the Thing `idx`: `None` when neither the server nor the Thing's
/// definers define it (the dispatcher answers 404).
pub async fn thing_service(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<HttpResponse, ApiError>> {
    let name = guard.index.entity(idx)?.name.clone();
    if THING_SERVICES.contains(&service) {
        return Some(builtin(state, guard, &name, service, body).await);
    }
    if let Some(answer) =
        super::model_service(state, guard, (Collection::Things, idx), service, body).await
    {
        return Some(answer.map(|v| HttpResponse::Ok().json(v)));
    }
    if let Some(answer) = script(state, guard, idx, &name, service, body).await {
        return Some(answer.map(|v| HttpResponse::Ok().json(v)));
    }
    user_defined(state, guard, idx, &name, service).await
}

/// A `Script` service of the Thing: ServiceInvoke, then it runs with the body's parameters;
/// `None` when the Thing has no script service of that name.
async fn script(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    name: &str,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    match state.scripts.resolve(state, guard, name, service).await {
        Ok(Some(prepared)) if prepared.is_script() => {}
        Ok(_) => return None,
        Err(e) => return Some(Err(e)),
    }
    Some(
        async {
            guard.require(Target::Entity(idx), PermissionKind::ServiceInvoke, service)?;
            let params = params::object(body)?.unwrap_or_default();
            crate::script::invoke(state, guard, name, service, params).await
        }
        .await,
    )
}

/// A service defined by the Thing, its templates or shapes that does not run as a script:
/// ServiceInvoke, then 501.
async fn user_defined(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    name: &str,
    service: &str,
) -> Option<Result<HttpResponse, ApiError>> {
    let model = match model::load(&state.db, name).await {
        Ok(model) => model,
        Err(e) => return Some(Err(e)),
    };
    let defined = match model::defined_service(&state.db, &model, service).await {
        Ok(defined) => defined?,
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = guard.require(Target::Entity(idx), PermissionKind::ServiceInvoke, service) {
        return Some(Err(e));
    }
    let definer = model
        .definers
        .get(defined.definer)
        .map(|d| format!("{} '{}'", d.kind(), d.name))
        .unwrap_or_default();
    let message = match defined.implementation {
        Some(i) => format!(
            "service '{service}' of Thing '{name}' (defined by {definer}) is implemented by a \
             {} handler that this server does not run (it runs Script services whose code \
             is in their `Script` configuration table)",
            i.handler_name
        ),
        None => format!(
            "service '{service}' of Thing '{name}' (defined by {definer}) has no implementation"
        ),
    };
    Some(Ok(not_implemented(message)))
}

async fn builtin(
    state: &AppState,
    guard: &Guard,
    name: &str,
    service: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let p: ThingParams = parse_body(body)?;
    let result = match service {
        "GetPropertyValues" => things::read_properties(state, guard, name, Selection::All).await?,
        "SetPropertyValues" => {
            let rows = table_rows(&p.values)?;
            let [row] = rows.as_slice() else {
                return Err(ApiError::BadRequest(format!(
                    "parameter 'values' must hold exactly one row, not {}",
                    rows.len()
                )));
            };
            let now = now_ms();
            let entries = row
                .iter()
                .map(|(name, value)| Entry {
                    name: name.clone(),
                    value: value.clone(),
                    time: now,
                    quality: "GOOD".to_owned(),
                })
                .collect();
            things::write_entries(state, guard, name, Selection::All, entries).await?;
            json!({})
        }
        "UpdatePropertyValues" => {
            let rows = table_rows(&p.values)?;
            let entries = rows.iter().map(named_vtq).collect::<Result<Vec<_>, _>>()?;
            things::write_entries(state, guard, name, Selection::All, entries).await?;
            json!({})
        }
        "EnableThing" | "DisableThing" => {
            let enable = service == "EnableThing";
            let txn = crate::db::begin_write(&state.db)
                .await
                .map_err(ApiError::internal)?;
            let (entity, thing) = models::get_thing(&txn, name).await?;
            models::set_thing_enabled(&txn, entity.id, enable).await?;
            commit_audited(
                txn,
                &change(guard, service, (Collection::Things, name), json!({})),
            )
            .await?;
            if enable && !thing.enabled {
                thing_start(state, guard, name);
            }
            json!({})
        }
        "RestartThing" => {
            models::get_thing(&state.db, name).await?;
            thing_start(state, guard, name);
            json!({})
        }
        "IsEnabled" => {
            let (_, thing) = models::get_thing(&state.db, name).await?;
            primitive(BaseType::Boolean, json!(thing.enabled))
        }
        _ => return Err(ApiError::NotFound),
    };
    Ok(HttpResponse::Ok().json(result))
}

/// Fires `ThingStart` of the Thing `name` by the caller: when `EnableThing` enables it and
/// when `RestartThing` restarts it (its subscriptions run as the caller).
fn thing_start(state: &AppState, guard: &Guard, name: &str) {
    state
        .events
        .publish_by(name, "ThingStart", json!({}), Some(&guard.caller.name), 0);
}

/// Runs a property-definition service of the Thing (ThingTemplate, ThingShape) `idx`, named
/// `name`: design-time Metadata to read, Update to change.
pub(super) async fn definition_service(
    state: &AppState,
    guard: &Guard,
    (collection, idx): (Collection, EntityIdx),
    name: &str,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: ThingParams = parse_body(body)?;
    match service {
        "GetPropertyDefinitions" => {
            let model = model::load_in(&state.db, collection, name).await?;
            Ok(definitions_table(&model, model.properties.iter().collect()))
        }
        "GetPropertyDefinition" => {
            let property = params::required(&p.name, "name")?;
            let model = model::load_in(&state.db, collection, name).await?;
            let found = model
                .property(property)
                .ok_or_else(|| ApiError::missing(collection, name, "property", property))?;
            Ok(definitions_table(&model, vec![found]))
        }
        "AddPropertyDefinition" => {
            add_definition(state, guard, (collection, name), &p).await?;
            Ok(json!({}))
        }
        _ => {
            remove_definition(state, guard, (collection, idx), name, &p).await?;
            Ok(json!({}))
        }
    }
}

fn change(
    guard: &Guard,
    action: &str,
    (collection, entity): (Collection, &str),
    detail: Value,
) -> Change {
    Change::on(&guard.caller.name, action, collection, entity, detail)
}

/// The rows of an InfoTable parameter, given as an object or as its JSON text.
fn table_rows(values: &Option<Value>) -> Result<Vec<Map<String, Value>>, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("parameter 'values': {why}"));
    let table = match values {
        None | Some(Value::Null) => return Err(bad("missing")),
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|_| bad("not an InfoTable"))?
        }
        Some(other) => other.clone(),
    };
    let rows = table
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("an InfoTable with rows is expected"))?;
    rows.iter()
        .map(|row| {
            row.as_object()
                .cloned()
                .ok_or_else(|| bad("rows must be objects"))
        })
        .collect()
}

/// One row of a `NamedVTQ` InfoTable: `name`, `value`, `time` (now when absent), `quality`
/// (`GOOD` when absent).
fn named_vtq(row: &Map<String, Value>) -> Result<Entry, ApiError> {
    let name = row
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("every row of 'values' needs a 'name'".into()))?;
    let time = match row.get("time") {
        None | Some(Value::Null) => now_ms(),
        Some(t) => values::check(BaseType::Datetime.as_str(), t.clone())
            .ok()
            .and_then(|t| t.as_i64())
            .ok_or_else(|| {
                ApiError::BadRequest(format!("row '{name}': time {t} is not a DATETIME"))
            })?,
    };
    let quality = match row.get("quality") {
        None | Some(Value::Null) => "GOOD".to_owned(),
        Some(Value::String(q)) if QUALITIES.contains(&q.as_str()) => q.clone(),
        Some(q) => {
            return Err(ApiError::BadRequest(format!(
                "row '{name}': quality {q} is not one of {}",
                QUALITIES.join(", ")
            )));
        }
    };
    Ok(Entry {
        name: name.to_owned(),
        value: row.get("value").cloned().unwrap_or(Value::Null),
        time,
        quality,
    })
}

/// The `PropertyDefinition` InfoTable of `properties`.
pub(super) fn definitions_table(model: &ThingModel, properties: Vec<&model::Property>) -> Value {
    let rows = properties
        .into_iter()
        .map(|p| {
            let definer = model.definers.get(p.definer);
            let d = p.definition.as_ref();
            json!({
                "name": p.name,
                "description": d.map(|d| d.description.as_str()).unwrap_or(""),
                "baseType": p.base_type,
                "category": d.map(|d| d.category.as_str()).unwrap_or(""),
                "ordinal": d.map_or(0, |d| d.ordinal),
                "isLocalOnly": d.is_some_and(|d| d.is_local_only),
                "aspects": values::field_aspects(p.aspects()),
                "sourceType": definer.map_or("Thing", model::Definer::kind),
                "sourceName": definer.map_or("", |d| d.name.as_str()),
            })
        })
        .collect();
    infotable(
        &[
            ("name", BaseType::String),
            ("description", BaseType::String),
            ("baseType", BaseType::BaseTypeName),
            ("category", BaseType::String),
            ("ordinal", BaseType::Integer),
            ("isLocalOnly", BaseType::Boolean),
            ("aspects", BaseType::Json),
            ("sourceType", BaseType::String),
            ("sourceName", BaseType::String),
        ],
        rows,
    )
}

/// An optional boolean parameter (absent: false).
fn flag(value: &Option<Value>, name: &str) -> Result<bool, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        some => params::boolean(some, name),
    }
}

/// An optional number parameter, as a JSON number or its text.
fn number(value: &Option<Value>, name: &str) -> Result<Option<Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => values::check(BaseType::Number.as_str(), v.clone())
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("parameter '{name}' must be a number"))),
    }
}

/// An optional text parameter, empty meaning absent.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// The aspects of a new property definition, keyed and typed as imports keep them.
fn new_aspects(p: &ThingParams, base_type: &str) -> Result<Map<String, Value>, ApiError> {
    let mut aspects = Map::new();
    aspects.insert(
        "isReadOnly".into(),
        Value::Bool(flag(&p.read_only, "readOnly")?),
    );
    aspects.insert(
        "isPersistent".into(),
        Value::Bool(flag(&p.persistent, "persistent")?),
    );
    aspects.insert("isLogged".into(), Value::Bool(flag(&p.logged, "logged")?));
    let data_change_type = text(&p.data_change_type).unwrap_or("VALUE");
    if !DATA_CHANGE_TYPES.contains(&data_change_type) {
        return Err(ApiError::BadRequest(format!(
            "parameter 'dataChangeType' must be one of {}",
            DATA_CHANGE_TYPES.join(", ")
        )));
    }
    aspects.insert("dataChangeType".into(), json!(data_change_type));
    if let Some(threshold) = number(&p.data_change_threshold, "dataChangeThreshold")? {
        aspects.insert("dataChangeThreshold".into(), threshold);
    }
    if let Some(default) = p.default_value.clone().filter(|d| !d.is_null()) {
        let value = values::check(base_type, default)
            .map_err(|why| ApiError::BadRequest(format!("parameter 'defaultValue': {why}")))?;
        if !value.is_null() {
            aspects.insert(
                "defaultValue".into(),
                typed::aspect_from_text(&typed::to_text(base_type, &value)),
            );
        }
    }
    if let Some(shape) = text(&p.data_shape) {
        if base_type != BaseType::Infotable.as_str() {
            return Err(ApiError::BadRequest(
                "parameter 'dataShape' applies to INFOTABLE properties only".into(),
            ));
        }
        EntityName::parse(shape)
            .map_err(|e| ApiError::BadRequest(format!("parameter 'dataShape': {e}")))?;
        aspects.insert("dataShape".into(), json!(shape));
    }
    if flag(&p.remote, "remote")? {
        aspects.insert("isRemote".into(), Value::Bool(true));
        if let Some(remote) = text(&p.remote_property_name) {
            aspects.insert("remotePropertyName".into(), json!(remote));
        }
        if let Some(push) = text(&p.push_type) {
            aspects.insert("pushType".into(), json!(push));
        }
        if let Some(threshold) = number(&p.push_threshold, "pushThreshold")? {
            aspects.insert("pushThreshold".into(), threshold);
        }
        if let Some(timeout) = number(&p.timeout, "timeout")? {
            aspects.insert("timeout".into(), timeout);
        }
    }
    Ok(aspects)
}

/// Names a new property may have: a letter or `_`, then letters, digits or `_`.
fn is_property_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.chars().count() <= 256
        && chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

async fn add_definition(
    state: &AppState,
    guard: &Guard,
    (collection, thing): (Collection, &str),
    p: &ThingParams,
) -> Result<(), ApiError> {
    let property = params::required(&p.name, "name")?;
    if !is_property_name(property) {
        return Err(ApiError::BadRequest(format!(
            "parameter 'name': '{property}' is not a property name (a letter or '_', then \
             letters, digits or '_', at most 256 characters)"
        )));
    }
    let base_type = params::required(&p.base_type, "type")?;
    if BaseType::property(base_type).is_none() {
        return Err(ApiError::BadRequest(format!(
            "unknown base type '{base_type}'"
        )));
    }
    let aspects = new_aspects(p, base_type)?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let model = model::load_in(&txn, collection, thing).await?;
    if let Some(existing) = model.property(property) {
        let by = model
            .definers
            .get(existing.definer)
            .map(|d| format!("{} '{}'", d.kind(), d.name))
            .unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "property '{property}' (defined by {by})"
        )));
    }
    let own = property_definitions::list(&txn, model.id()).await?;
    let ordinal = own.iter().map(|d| d.ordinal + 1).max().unwrap_or(0);
    property_definitions::insert(
        &txn,
        vec![property_definitions::Model {
            id: 0,
            entity_id: model.id(),
            name: property.to_owned(),
            base_type: base_type.to_owned(),
            description: p.description.clone().unwrap_or_default(),
            category: p.category.clone().unwrap_or_default(),
            ordinal,
            is_local_only: false,
            aspects: Some(Value::Object(aspects)),
        }],
    )
    .await?;
    commit_audited(
        txn,
        &change(
            guard,
            "AddPropertyDefinition",
            (collection, thing),
            json!({ "name": property, "type": base_type }),
        ),
    )
    .await?;
    Ok(())
}

async fn remove_definition(
    state: &AppState,
    guard: &Guard,
    (collection, idx): (Collection, EntityIdx),
    thing: &str,
    p: &ThingParams,
) -> Result<(), ApiError> {
    let property = params::required(&p.name, "name")?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let model = model::load_in(&txn, collection, thing).await?;
    let found = model.property(property).map(|p| p.definer);
    super::definitions::remove_own(
        found,
        "property",
        property,
        (collection, thing),
        &|definer| {
            model
                .definers
                .get(definer)
                .map(|d| format!("{} '{}'", d.kind(), d.name))
                .unwrap_or_default()
        },
    )?;
    let own = property_definitions::list(&txn, model.id()).await?;
    if own.iter().any(|d| d.name == property) {
        let kept = own.into_iter().filter(|d| d.name != property).collect();
        property_definitions::replace(&txn, model.id(), kept).await?;
    }
    // Its value goes with it, so that a property added later under this name starts afresh:
    // on the Thing, or on every implementing Thing left without a definition of it.
    let holders = match collection {
        Collection::Things => vec![thing.to_owned()],
        _ => crate::domain::definers::implementing(guard, idx)
            .into_iter()
            .filter_map(|t| guard.index.entity(t).map(|e| e.name.clone()))
            .collect(),
    };
    for holder in holders {
        let held = model::load(&txn, &holder).await?;
        if held
            .property(property)
            .is_some_and(|p| p.definition.is_some())
        {
            continue;
        }
        let stored = property_values::list(&txn, held.id()).await?;
        if stored.iter().any(|v| v.name == property) {
            let kept = stored.into_iter().filter(|v| v.name != property).collect();
            property_values::replace(&txn, held.id(), kept).await?;
        }
    }
    commit_audited(
        txn,
        &change(
            guard,
            "RemovePropertyDefinition",
            (collection, thing),
            json!({ "name": property }),
        ),
    )
    .await?;
    Ok(())
}
