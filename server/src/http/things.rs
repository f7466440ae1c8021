//! Thing properties and Thing services over REST: `GET`/`PUT /Thingworx/Things/<T>/Properties/<p>`
//! (and `Properties/*`, `Properties`), and the services of `Things/<T>` (values, property
//! definitions, lifecycle; user-defined services answer 501).
//!
//! Decisions: an invisible Thing is 404 on every route; a property is checked for PropertyRead or
//! PropertyWrite on its name before anything else, so a caller without the right learns nothing
//! about it; a property the Thing does not have is 404 when the URL names it and 400 when a body
//! does; reading all properties returns the readable ones (403 when none is readable), writing
//! several is all or nothing (one denial, unknown name, read-only property or wrong-typed value
//! refuses the whole write). Value writes are run-time data: transactional, not audited, and they
//! do not bump the change sequence (nothing cached depends on them); definition and lifecycle
//! changes are audited.

#[cfg(feature = "bench-bare")]
mod bare;
mod definitions;
pub(crate) mod model;
mod services;
mod values;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpRequest, HttpResponse, web};
use ironworx_entity::queries::now_ms;
use ironworx_entity::vocab::PermissionKind;
use serde_json::{Map, Value, json};

use std::sync::Arc;

use crate::authz::{EntityIdx, Outcome, Target};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::model::{ThingDefinitions, ThingValues};
use crate::state::AppState;

#[cfg(feature = "bench-bare")]
pub use bare::bare_property;
pub use definitions::characteristic;
pub use model::{PropertyWrite, ThingModel, write_properties};
pub use services::thing_service;

/// The property routes of Things: `GET` and `PUT` on `/Thingworx/Things/<T>/Properties/<p>`,
/// `…/Properties/*` and `…/Properties` (all properties). Registered by `http::configure`.
#[allow(
    non_camel_case_types,
    reason = "registered under the name of the route function it replaced"
)]
pub struct get_property;

impl HttpServiceFactory for get_property {
    fn register(self, config: &mut AppService) {
        web::resource("/Thingworx/Things/{name}/Properties/{property}")
            .route(web::get().to(read_property))
            .route(web::put().to(write_property))
            .register(config);
        web::resource("/Thingworx/Things/{name}/Properties")
            .route(web::get().to(read_all_properties))
            .route(web::put().to(write_all_properties))
            .register(config);
    }
}

/// `*`: every property.
const ALL: &str = "*";

async fn read_property(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, property) = path.into_inner();
    read(&req, &state, &name, &property).await
}

async fn read_all_properties(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read(&req, &state, &path.into_inner(), ALL).await
}

async fn read(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    property: &str,
) -> Result<HttpResponse, ApiError> {
    let guard = Guard::of(req, state).await?;
    let (_, idx) = guard.visible_entity("Things", name)?;
    if property != ALL {
        guard.require(Target::Entity(idx), PermissionKind::PropertyRead, property)?;
    }
    let thing = thing_of(state, &guard, name).await?;
    let answer = state
        .models
        .with_values(
            thing.id,
            guard.sequences.values,
            |stored| -> Result<Value, ApiError> {
                let properties = properties_of(&thing, stored);
                if property == ALL {
                    let readable: Vec<&PropertyInfo> = properties
                        .iter()
                        .filter(|p| {
                            guard.decide(Target::Entity(idx), PermissionKind::PropertyRead, p.name)
                                == Outcome::Allow
                        })
                        .collect();
                    if readable.is_empty() {
                        guard.require(Target::Entity(idx), PermissionKind::PropertyRead, ALL)?;
                    }
                    return Ok(info_table(&readable, stored));
                }
                let found = properties
                    .iter()
                    .find(|p| p.name == property)
                    .ok_or(ApiError::NotFound)?;
                Ok(info_table(&[found], stored))
            },
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(answer?))
}

/// The Thing `name` from the model in memory, as current as the caller's index; 404 when it
/// is not there (deleted since the index was read).
async fn thing_of(
    state: &AppState,
    guard: &Guard,
    name: &str,
) -> Result<Arc<ThingDefinitions>, ApiError> {
    state
        .models
        .thing(name, guard.sequences)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)
}

/// One property of a Thing as the value routes see it: from its effective definition, or, for
/// a value stored without one (imported data), from the value.
#[derive(Clone, Copy, Debug)]
struct PropertyInfo<'a> {
    name: &'a str,
    base_type: &'a str,
    aspects: Option<&'a Value>,
}

impl PropertyInfo<'_> {
    /// Whether writes through the API are refused.
    fn is_read_only(&self) -> bool {
        self.aspects
            .and_then(|a| a.get("isReadOnly"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Every property of `thing`: its effective definitions in order, then the values stored
/// without a definition.
fn properties_of<'a>(
    thing: &'a ThingDefinitions,
    stored: &'a ThingValues,
) -> Vec<PropertyInfo<'a>> {
    let defined = thing.properties.iter().map(|p| PropertyInfo {
        name: &p.definition.name,
        base_type: &p.definition.base_type,
        aspects: p.definition.aspects.as_ref(),
    });
    let undefined = stored
        .iter()
        .filter(|(name, _)| thing.property(name).is_none())
        .map(|(name, value)| PropertyInfo {
            name,
            base_type: &value.base_type,
            aspects: None,
        });
    defined.chain(undefined).collect()
}

/// The one-row InfoTable of `properties` with their aspects and current values.
fn info_table(properties: &[&PropertyInfo], stored: &ThingValues) -> Value {
    let fields: Vec<(&str, &str, Value)> = properties
        .iter()
        .map(|p| (p.name, p.base_type, values::field_aspects(p.aspects)))
        .collect();
    let row: Map<String, Value> = properties
        .iter()
        .map(|p| {
            let value = match stored.get(p.name) {
                Some(held) => held.value.clone(),
                None => values::default_value(p.base_type, p.aspects),
            };
            (p.name.to_owned(), value)
        })
        .collect();
    values::table(&fields, vec![Value::Object(row)])
}

/// The one-row InfoTable of `properties` with their aspects.
fn values_table(properties: &[&model::Property]) -> Value {
    let fields: Vec<(&str, &str, Value)> = properties
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.base_type.as_str(),
                values::field_aspects(p.aspects()),
            )
        })
        .collect();
    let row: Map<String, Value> = properties
        .iter()
        .map(|p| (p.name.clone(), p.value()))
        .collect();
    values::table(&fields, vec![Value::Object(row)])
}

/// Every property the caller may read, as one row; 403 (PropertyRead on `*`) when it may read
/// none of them.
fn readable_values(guard: &Guard, idx: EntityIdx, model: &ThingModel) -> Result<Value, ApiError> {
    let readable: Vec<&model::Property> = model
        .properties
        .iter()
        .filter(|p| {
            guard.decide(Target::Entity(idx), PermissionKind::PropertyRead, &p.name)
                == Outcome::Allow
        })
        .collect();
    if readable.is_empty() {
        guard.require(Target::Entity(idx), PermissionKind::PropertyRead, ALL)?;
    }
    Ok(values_table(&readable))
}

async fn write_property(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, property) = path.into_inner();
    write(&req, &state, &name, &property, &body).await
}

async fn write_all_properties(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    write(&req, &state, &path.into_inner(), ALL, &body).await
}

async fn write(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    property: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let guard = Guard::of(req, state).await?;
    let (_, idx) = guard.visible_entity("Things", name)?;
    if property != ALL {
        guard.require(Target::Entity(idx), PermissionKind::PropertyWrite, property)?;
    }
    let object = match crate::http::params::json::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object of property values".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    if property != ALL && (object.len() != 1 || !object.contains_key(property)) {
        return Err(ApiError::BadRequest(format!(
            "the body must be {{\"{property}\": <value>}}"
        )));
    }
    let now = now_ms();
    let entries: Vec<Entry> = object
        .into_iter()
        .map(|(name, value)| Entry {
            name,
            value,
            time: now,
            quality: "GOOD".to_owned(),
        })
        .collect();
    let thing = thing_of(state, &guard, name).await?;
    let writes = state
        .models
        .with_values(thing.id, guard.sequences.values, |stored| {
            let properties = properties_of(&thing, stored);
            let find = |name: &str| properties.iter().find(|p| p.name == name).copied();
            if property != ALL && find(property).is_none() {
                return Err(ApiError::NotFound);
            }
            check_writes(&guard, idx, &thing.name, find, entries)
        })
        .await
        .map_err(ApiError::internal)??;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    write_properties(&txn, thing.id, &writes).await?;
    txn.commit().await.map_err(ApiError::internal)?;
    model::announce(state, &thing.name, &writes);
    Ok(HttpResponse::Ok().finish())
}

/// A value a caller asks to write, not yet checked.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    value: Value,
    time: i64,
    quality: String,
}

/// Checks what a caller asks to write to the Thing `idx` of the model `model`; see
/// [`check_writes`].
fn prepare_writes(
    guard: &Guard,
    idx: EntityIdx,
    model: &ThingModel,
    entries: Vec<Entry>,
) -> Result<Vec<PropertyWrite>, ApiError> {
    let find = |name: &str| {
        model.property(name).map(|p| PropertyInfo {
            name: &p.name,
            base_type: &p.base_type,
            aspects: p.aspects(),
        })
    };
    check_writes(guard, idx, model.name(), find, entries)
}

/// Checks what a caller asks to write to the Thing `thing`, whose properties `find` looks up:
/// PropertyWrite on every name first (one denial refuses everything), then that each property
/// exists, is not read-only, and that each value fits its base type (400 otherwise). Nothing
/// is written here.
fn check_writes<'a>(
    guard: &Guard,
    idx: EntityIdx,
    thing: &str,
    find: impl Fn(&str) -> Option<PropertyInfo<'a>>,
    entries: Vec<Entry>,
) -> Result<Vec<PropertyWrite>, ApiError> {
    for entry in &entries {
        guard.require(
            Target::Entity(idx),
            PermissionKind::PropertyWrite,
            &entry.name,
        )?;
    }
    let mut writes: Vec<PropertyWrite> = Vec::with_capacity(entries.len());
    for entry in entries {
        let property = find(&entry.name).ok_or_else(|| {
            ApiError::BadRequest(format!("Thing '{thing}' has no property '{}'", entry.name))
        })?;
        if property.is_read_only() {
            return Err(ApiError::BadRequest(format!(
                "property '{}' of Thing '{thing}' is read-only",
                entry.name
            )));
        }
        let value = values::check(property.base_type, entry.value)
            .map_err(|why| ApiError::BadRequest(format!("property '{}': {why}", entry.name)))?;
        let write = PropertyWrite {
            name: entry.name,
            base_type: property.base_type.to_owned(),
            value,
            time: entry.time,
            quality: entry.quality,
        };
        match writes.iter_mut().find(|w| w.name == write.name) {
            Some(earlier) => *earlier = write,
            None => writes.push(write),
        }
    }
    Ok(writes)
}

/// The 501 answer of a service the server cannot run.
fn not_implemented(message: String) -> HttpResponse {
    HttpResponse::NotImplemented().json(json!({ "code": "not_implemented", "message": message }))
}
