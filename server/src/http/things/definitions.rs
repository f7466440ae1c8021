//! Service and event definitions of a Thing, ThingTemplate or ThingShape and its metadata:
//! `GetServiceDefinitions`, `GetEventDefinitions`, `GetMetadata`, `GetMetadataAsJSON` and the
//! Thing's `GET …/Metadata`, `…/PropertyDefinitions`, `…/ServiceDefinitions`,
//! `…/EventDefinitions` characteristics (design-time Metadata), and
//! `Add…`/`Remove…ServiceDefinition`, `Add…`/`Remove…EventDefinition` (design-time Update).
//! Definitions are inherited like properties: the first definer that defines a name wins.

use actix_web::{HttpRequest, HttpResponse, get, web};
use ironworx_entity::queries::parts::{
    event_definitions, service_definitions, service_implementations,
};
use ironworx_entity::vocab::{BaseType, Collection, EntityName};
use ironworx_importer::model::FieldDefinition;
use ironworx_importer::stored;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{self, ThingModel};
use super::values;
use crate::authz::EntityIdx;
use crate::domain::events::BUILTIN_EVENTS;
use crate::domain::write::commit_audited;
use crate::error::ApiError;
use crate::http::catalog::Method;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{self, parse_body};
use crate::state::AppState;

/// The definition services this module answers.
pub const SERVICES: &[&str] = &[
    "GetServiceDefinitions",
    "GetEventDefinitions",
    "GetMetadata",
    "GetMetadataAsJSON",
    "AddServiceDefinition",
    "RemoveServiceDefinition",
    "AddEventDefinition",
    "RemoveEventDefinition",
];

/// The parameters of the definition services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DefinitionParams {
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    /// `INFOTABLE<FieldDefinition>`: the service's parameters.
    parameters: Option<Value>,
    /// `INFOTABLE<FieldDefinition>`: one row, the service's result.
    result_type: Option<Value>,
    /// The event's data shape.
    data_shape: Option<String>,
    /// A service's JavaScript: it is implemented by a `Script` with this code.
    code: Option<String>,
}

/// Runs a definition service of the Thing (ThingTemplate, ThingShape) `idx`, named `name`, of
/// `collection`.
pub async fn service(
    state: &AppState,
    guard: &Guard,
    (collection, _): (Collection, EntityIdx),
    name: &str,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: DefinitionParams = parse_body(body)?;
    if service.starts_with("Get") {
        let model = model::load_in(&state.db, collection, name).await?;
        return match service {
            "GetServiceDefinitions" => {
                Ok(services_table(&effective_services(state, &model).await?))
            }
            "GetEventDefinitions" => Ok(events_table(&effective_events(state, &model).await?)),
            _ => metadata(state, &model).await,
        };
    }
    change(state, guard, collection, name, service, &p).await?;
    Ok(json!({}))
}

/// `GET /Thingworx/Things/<T>/{Metadata,PropertyDefinitions,ServiceDefinitions,EventDefinitions}`.
#[get("/Thingworx/Things/{name}/{characteristic}")]
pub async fn characteristic(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, characteristic) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity(Collection::Things.as_str(), &name)?;
    if !matches!(
        characteristic.as_str(),
        "Metadata" | "PropertyDefinitions" | "ServiceDefinitions" | "EventDefinitions"
    ) {
        return Err(ApiError::missing(
            Collection::Things,
            &name,
            "GET route",
            &characteristic,
        ));
    }
    guard.enforce_route(
        Method::Get,
        &format!("/Thingworx/Things/{{name}}/{characteristic}"),
        Some(idx),
    )?;
    let model = model::load(&state.db, &name).await?;
    let body = match characteristic.as_str() {
        "PropertyDefinitions" => {
            super::services::definitions_table(&model, model.properties.iter().collect())
        }
        "ServiceDefinitions" => services_table(&effective_services(&state, &model).await?),
        "EventDefinitions" => events_table(&effective_events(&state, &model).await?),
        _ => metadata(&state, &model).await?,
    };
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /Thingworx/Things/<T>/{PropertyDefinitions,ServiceDefinitions,EventDefinitions}/<d>`:
/// one effective definition, as the metadata document holds it (with its source), under the
/// same rights as the list (design-time Metadata); a name the Thing lacks is a 404 naming it.
#[get("/Thingworx/Things/{name}/{characteristic}/{item}")]
pub async fn one_definition(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, listing, item) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity(Collection::Things.as_str(), &name)?;
    let (key, what, route) = match listing.as_str() {
        "PropertyDefinitions" => (
            "propertyDefinitions",
            "property",
            "/Thingworx/Things/{name}/PropertyDefinitions/{property}",
        ),
        "ServiceDefinitions" => (
            "serviceDefinitions",
            "service",
            "/Thingworx/Things/{name}/ServiceDefinitions/{service}",
        ),
        "EventDefinitions" => (
            "eventDefinitions",
            "event",
            "/Thingworx/Things/{name}/EventDefinitions/{event}",
        ),
        _ => {
            return Err(ApiError::missing(
                Collection::Things,
                &name,
                "GET route",
                &format!("{listing}/{item}"),
            ));
        }
    };
    guard.enforce_route(Method::Get, route, Some(idx))?;
    let model = model::load(&state.db, &name).await?;
    let mut document = metadata(&state, &model).await?;
    let found = document
        .get_mut(key)
        .and_then(|definitions| definitions.get_mut(&item))
        .map(Value::take);
    let found = match found {
        Some(found) => found,
        // The events every Thing has without defining them.
        None if what == "event" && BUILTIN_EVENTS.contains(&item.as_str()) => json!({
            "name": item,
            "description": "",
            "category": "",
            "dataShape": "",
            "isLocalOnly": false,
            "aspects": {},
            "isBuiltIn": true,
        }),
        None => return Err(ApiError::missing(Collection::Things, &name, what, &item)),
    };
    Ok(HttpResponse::Ok().json(found))
}

/// A definition with the definer it comes from.
struct Sourced<T> {
    definer: usize,
    definition: T,
}

async fn effective_services(
    state: &AppState,
    model: &ThingModel,
) -> Result<Vec<Sourced<service_definitions::Model>>, ApiError> {
    effective(
        model,
        |id| service_definitions::list(&state.db, id),
        |d| d.name.as_str(),
    )
    .await
}

async fn effective_events(
    state: &AppState,
    model: &ThingModel,
) -> Result<Vec<Sourced<event_definitions::Model>>, ApiError> {
    effective(
        model,
        |id| event_definitions::list(&state.db, id),
        |d| d.name.as_str(),
    )
    .await
}

/// The definitions of the Thing's definers, nearest first, listed by `list`; the first
/// definer of a name wins.
async fn effective<T, Fut>(
    model: &ThingModel,
    list: impl Fn(i64) -> Fut,
    name: impl Fn(&T) -> &str,
) -> Result<Vec<Sourced<T>>, ApiError>
where
    Fut: std::future::Future<Output = Result<Vec<T>, ironworx_entity::queries::QueryError>>,
{
    let mut found: Vec<Sourced<T>> = Vec::new();
    for (definer, d) in model.definers.iter().enumerate() {
        for definition in list(d.id).await? {
            if !found
                .iter()
                .any(|s| name(&s.definition) == name(&definition))
            {
                found.push(Sourced {
                    definer,
                    definition,
                });
            }
        }
    }
    Ok(found)
}

fn source<T>(model: &ThingModel, s: &Sourced<T>) -> (&'static str, String) {
    model
        .definers
        .get(s.definer)
        .map(|d| (d.kind(), d.name.clone()))
        .unwrap_or(("Thing", String::new()))
}

fn service_json(s: &service_definitions::Model) -> Value {
    json!({
        "name": s.name,
        "description": s.description,
        "category": s.category,
        "isAllowOverride": s.is_allow_override,
        "isLocalOnly": s.is_local_only,
        "isOpen": s.is_open,
        "isPrivate": s.is_private,
        "aspects": s.aspects.clone().unwrap_or_else(|| json!({})),
        "parameterDefinitions": s.parameters.clone().unwrap_or_else(|| json!([])),
        "resultType": s.result_type.clone().unwrap_or(Value::Null),
    })
}

fn event_json(e: &event_definitions::Model) -> Value {
    json!({
        "name": e.name,
        "description": e.description,
        "category": e.category,
        "dataShape": e.data_shape,
        "isLocalOnly": e.is_local_only,
        "aspects": e.aspects.clone().unwrap_or_else(|| json!({})),
    })
}

fn services_table(services: &[Sourced<service_definitions::Model>]) -> Value {
    infotable(
        &[
            ("name", BaseType::String),
            ("description", BaseType::String),
            ("category", BaseType::String),
            ("isAllowOverride", BaseType::Boolean),
            ("isLocalOnly", BaseType::Boolean),
            ("isOpen", BaseType::Boolean),
            ("isPrivate", BaseType::Boolean),
            ("aspects", BaseType::Json),
            ("parameterDefinitions", BaseType::Json),
            ("resultType", BaseType::Json),
        ],
        services
            .iter()
            .map(|s| service_json(&s.definition))
            .collect(),
    )
}

fn events_table(events: &[Sourced<event_definitions::Model>]) -> Value {
    infotable(
        &[
            ("name", BaseType::String),
            ("description", BaseType::String),
            ("category", BaseType::String),
            ("dataShape", BaseType::DataShapeName),
            ("isLocalOnly", BaseType::Boolean),
            ("aspects", BaseType::Json),
        ],
        events.iter().map(|e| event_json(&e.definition)).collect(),
    )
}

/// The Thing's metadata document: its definitions keyed by name, each with its source.
async fn metadata(state: &AppState, model: &ThingModel) -> Result<Value, ApiError> {
    let mut properties = Map::new();
    for p in &model.properties {
        let d = p.definition.as_ref();
        let definer = model.definers.get(p.definer);
        properties.insert(
            p.name.clone(),
            json!({
                "name": p.name,
                "description": d.map(|d| d.description.as_str()).unwrap_or(""),
                "baseType": p.base_type,
                "category": d.map(|d| d.category.as_str()).unwrap_or(""),
                "ordinal": d.map_or(0, |d| d.ordinal),
                "aspects": values::field_aspects(p.aspects()),
                "sourceType": definer.map_or("Thing", model::Definer::kind),
                "sourceName": definer.map_or("", |d| d.name.as_str()),
            }),
        );
    }
    let mut services = Map::new();
    for s in effective_services(state, model).await? {
        let (kind, name) = source(model, &s);
        let mut value = service_json(&s.definition);
        value["sourceType"] = json!(kind);
        value["sourceName"] = json!(name);
        services.insert(s.definition.name.clone(), value);
    }
    let mut events = Map::new();
    for e in effective_events(state, model).await? {
        let (kind, name) = source(model, &e);
        let mut value = event_json(&e.definition);
        value["sourceType"] = json!(kind);
        value["sourceName"] = json!(name);
        events.insert(e.definition.name.clone(), value);
    }
    let mut document = json!({
        "name": model.name(),
        "implementedShapes": model
            .definers
            .iter()
            .filter(|d| d.collection == Collection::ThingShapes)
            .map(|d| d.name.clone())
            .collect::<Vec<_>>(),
        "propertyDefinitions": properties,
        "serviceDefinitions": services,
        "eventDefinitions": events,
    });
    if let Some(thing) = &model.thing {
        document["thingTemplate"] = json!(thing.thing_template);
        document["isEnabled"] = json!(thing.enabled);
    }
    Ok(document)
}

/// The rows of an `INFOTABLE<FieldDefinition>` parameter (an InfoTable, or a plain list of
/// rows), as field definitions with their base types checked (`resultType` may also be
/// `NOTHING`, a service that answers nothing).
fn fields(value: Option<&Value>, name: &str) -> Result<Vec<FieldDefinition>, ApiError> {
    let nothing_allowed = name == "resultType";
    let rows = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(rows)) => rows,
        Some(table) => table.get("rows").and_then(Value::as_array).ok_or_else(|| {
            ApiError::BadRequest(format!("parameter '{name}' must be an InfoTable"))
        })?,
    };
    rows.iter()
        .enumerate()
        .map(|(ordinal, row)| {
            let field = row
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("parameter '{name}': a row has no name"))
                })?;
            let base_type = row
                .get("baseType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let allowed = base_type.parse::<BaseType>().is_ok_and(|t| {
                if nothing_allowed {
                    t.is_result_type()
                } else {
                    t.is_property_type()
                }
            });
            if !allowed {
                return Err(ApiError::BadRequest(format!(
                    "parameter '{name}': field '{field}' has unknown base type '{base_type}'"
                )));
            }
            Ok(FieldDefinition {
                name: field.to_owned(),
                base_type: base_type.to_owned(),
                description: row
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
                aspects: row
                    .get("aspects")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Adds or removes one service or event definition of the Thing (template, shape) itself,
/// audited.
async fn change(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    thing: &str,
    service: &str,
    p: &DefinitionParams,
) -> Result<(), ApiError> {
    let name = params::required(&p.name, "name")?;
    let events = service.ends_with("EventDefinition");
    let adding = service.starts_with("Add");
    if adding {
        EntityName::parse(name)
            .map_err(|e| ApiError::BadRequest(format!("parameter 'name': {e}")))?;
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let model = model::load_in(&txn, collection, thing).await?;
    let id = model.id();
    let what = if events { "event" } else { "service" };
    let defined_by = |definer: usize| {
        model
            .definers
            .get(definer)
            .map(|d| format!("{} '{}'", d.kind(), d.name))
            .unwrap_or_default()
    };
    if events {
        let mut found = None;
        for (definer, d) in model.definers.iter().enumerate() {
            let list = event_definitions::list(&txn, d.id).await?;
            if list.iter().any(|e| e.name == name) {
                found = Some(definer);
                break;
            }
        }
        if adding {
            if let Some(definer) = found {
                return Err(ApiError::Conflict(format!(
                    "event '{name}' (defined by {})",
                    defined_by(definer)
                )));
            }
            let data_shape = params::required(&p.data_shape, "dataShape")?;
            event_definitions::insert(
                &txn,
                vec![event_definitions::Model {
                    id: 0,
                    entity_id: id,
                    name: name.to_owned(),
                    description: p.description.clone().unwrap_or_default(),
                    category: p.category.clone().unwrap_or_default(),
                    data_shape: data_shape.to_owned(),
                    is_local_only: false,
                    aspects: Some(json!({})),
                }],
            )
            .await?;
        } else {
            remove_own(found, what, name, (collection, thing), &defined_by)?;
            let kept = event_definitions::list(&txn, id)
                .await?
                .into_iter()
                .filter(|e| e.name != name)
                .collect();
            event_definitions::replace(&txn, id, kept).await?;
        }
    } else {
        let mut found = None;
        for (definer, d) in model.definers.iter().enumerate() {
            let list = service_definitions::list(&txn, d.id).await?;
            if list.iter().any(|s| s.name == name) {
                found = Some(definer);
                break;
            }
        }
        if adding {
            if let Some(definer) = found {
                return Err(ApiError::Conflict(format!(
                    "service '{name}' (defined by {})",
                    defined_by(definer)
                )));
            }
            let parameters = fields(p.parameters.as_ref(), "parameters")?;
            let result = fields(p.result_type.as_ref(), "resultType")?;
            if result.len() > 1 {
                return Err(ApiError::BadRequest(
                    "parameter 'resultType' holds one field".into(),
                ));
            }
            service_definitions::insert(
                &txn,
                vec![service_definitions::Model {
                    id: 0,
                    entity_id: id,
                    name: name.to_owned(),
                    description: p.description.clone().unwrap_or_default(),
                    category: p.category.clone().unwrap_or_default(),
                    is_allow_override: false,
                    is_local_only: false,
                    is_open: false,
                    is_private: false,
                    aspects: Some(json!({})),
                    result_type: result.first().map(stored::field_to_json),
                    parameters: Some(stored::fields_to_json(&parameters)),
                }],
            )
            .await?;
            if let Some(code) = p.code.as_deref() {
                service_implementations::insert(
                    &txn,
                    vec![crate::script::catalog::script_implementation(
                        id, name, code,
                    )],
                )
                .await?;
            }
        } else {
            remove_own(found, what, name, (collection, thing), &defined_by)?;
            let kept = service_definitions::list(&txn, id)
                .await?
                .into_iter()
                .filter(|s| s.name != name)
                .collect();
            service_definitions::replace(&txn, id, kept).await?;
            let kept = service_implementations::list(&txn, id)
                .await?
                .into_iter()
                .filter(|i| i.name != name)
                .collect();
            service_implementations::replace(&txn, id, kept).await?;
        }
    }
    commit_audited(
        txn,
        &ironworx_entity::queries::audit::Change::on(
            &guard.caller.name,
            service,
            collection,
            thing,
            json!({ "name": name }),
        ),
    )
    .await?;
    Ok(())
}

/// Only the entity's own definitions (definer 0) can be removed from it: 404 when nothing
/// defines the name, 400 when an inherited definer does.
pub(super) fn remove_own(
    found: Option<usize>,
    what: &str,
    name: &str,
    (collection, entity): (Collection, &str),
    defined_by: &dyn Fn(usize) -> String,
) -> Result<(), ApiError> {
    match found {
        None => Err(ApiError::missing(collection, entity, what, name)),
        Some(definer) if definer != 0 => Err(ApiError::BadRequest(format!(
            "{what} '{name}' is defined by {}, not by {} '{entity}'; remove it there",
            defined_by(definer),
            collection.element_name()
        ))),
        Some(_) => Ok(()),
    }
}
