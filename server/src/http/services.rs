//! `POST /Thingworx/<Collection>/<Name>/Services/<Service>`: the service dispatcher. Built-in
//! resources (`Resources/CollectionFunctions`, `Resources/SecurityServices`) are answered here
//! too; on an entity, a service the server does not know answers 404 like a missing entity.

use actix_web::{HttpRequest, HttpResponse, post, web};

use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::params::Params;
use crate::http::{explain, permissions};
use crate::state::AppState;

/// Calls a service of a built-in resource.
#[post("/Thingworx/Resources/{resource}/Services/{service}")]
pub async fn resource_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (resource, service) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let params = Params::parse(&body)?;
    let result = match (resource.as_str(), service.as_str()) {
        ("CollectionFunctions", service) => {
            permissions::collection_service(&state, &guard, service, &params).await?
        }
        ("SecurityServices", "ExplainPermission") => explain::explain_permission(&guard, &params)?,
        _ => return Err(ApiError::NotFound),
    };
    Ok(HttpResponse::Ok().json(result))
}

/// Calls a service of an entity.
#[post("/Thingworx/{collection}/{name}/Services/{service}")]
pub async fn entity_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (collection, name, service) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (collection, idx) = guard.visible_entity(&collection, &name)?;
    let params = Params::parse(&body)?;
    match permissions::entity_service(&state, &guard, collection, idx, &service, &params).await {
        Some(result) => Ok(HttpResponse::Ok().json(result?)),
        None => Err(ApiError::NotFound),
    }
}
