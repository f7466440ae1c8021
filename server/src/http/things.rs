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

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpRequest, HttpResponse, web};
use ironworx_entity::vocab::{Collection, PermissionKind};
use serde_json::{Value, json};

use crate::authz::Target;
use crate::domain::things::{self, ALL, Entry, Selection, values};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::state::AppState;

#[cfg(feature = "bench-bare")]
pub use bare::bare_property;
pub use definitions::{characteristic, one_definition};
pub use model::ThingModel;
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
    let which = selection(property);
    let table = things::read_properties(state, &guard, name, which).await?;
    Ok(HttpResponse::Ok().json(table))
}

/// `*` names every property.
fn selection(property: &str) -> Selection<'_> {
    if property == ALL {
        Selection::All
    } else {
        Selection::One(property)
    }
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
    let which = selection(property);
    // Rights first: a caller without them learns nothing from the body's check.
    let (_, idx) = guard.visible_entity(Collection::Things.as_str(), name)?;
    if let Selection::One(property) = which {
        guard.require(Target::Entity(idx), PermissionKind::PropertyWrite, property)?;
    }
    let values = match crate::http::params::json::<Value>(body)? {
        Value::Object(values) => values,
        _ => {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object of property values".into(),
            ));
        }
    };
    things::write_properties(state, &guard, name, which, values).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Runs a modelling service (property, service and event definitions, metadata) of the Thing,
/// ThingTemplate or ThingShape `idx` of `collection`; `None` when `service` is not one (or the
/// entity is gone from the index).
pub async fn model_service(
    state: &AppState,
    guard: &Guard,
    (collection, idx): (ironworx_entity::vocab::Collection, crate::authz::EntityIdx),
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let name = guard.index.entity(idx)?.name.clone();
    let on = (collection, idx);
    if services::DEFINITION_SERVICES.contains(&service) {
        return Some(services::definition_service(state, guard, on, &name, service, body).await);
    }
    if definitions::SERVICES.contains(&service) {
        return Some(definitions::service(state, guard, on, &name, service, body).await);
    }
    None
}

/// The 501 answer of a service the server cannot run.
fn not_implemented(message: String) -> HttpResponse {
    HttpResponse::NotImplemented().json(json!({ "code": "not_implemented", "message": message }))
}
