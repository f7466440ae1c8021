//! `POST /Thingworx/<Collection>/<Name>/Services/<Service>`: the service dispatcher. Built-in
//! resources (`Resources/CollectionFunctions`, `Resources/SecurityServices`) are answered here
//! too; on an entity, a service the server does not know answers 404 like a missing entity.

use actix_web::{HttpRequest, HttpResponse, post, web};
use ironworx_entity::vocab::Collection;

use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::params::Params;
use crate::http::{app_keys, entities, explain, permission_sets, permissions, transfer, users};
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
            match permission_sets::collection_service(&state, &guard, service, &params).await {
                Some(result) => result?,
                None => permissions::collection_service(&state, &guard, service, &params).await?,
            }
        }
        ("SecurityServices", "ExplainPermission") => explain::explain_permission(&guard, &params)?,
        ("CurrentSessionInfo", service) => {
            users::current_session_info(&state, &guard, service, &params).await?
        }
        ("SourceControlFunctions", service) => {
            match transfer::source_control(&state, &guard, service, &body).await {
                Some(result) => result?,
                None => return Err(ApiError::NotFound),
            }
        }
        ("RuntimeLocalizationFunctions", service) => {
            crate::http::localization::runtime_service(&state, &guard, service, &body).await?
        }
        ("EntityServices", service) => {
            let mut result = entities::entity_services(&state, &guard, service, &body).await;
            if result.is_none() {
                result = app_keys::entity_services(&state, &guard, service, &body).await;
            }
            if result.is_none() {
                result =
                    crate::http::membership::entity_services(&state, &guard, service, &body).await;
            }
            match result {
                Some(result) => result?,
                None => return Err(ApiError::NotFound),
            }
        }
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
    let mut result =
        permissions::entity_service(&state, &guard, collection, idx, &service, &params).await;
    if result.is_none() {
        result =
            permission_sets::entity_service(&state, &guard, collection, idx, &service, &params)
                .await;
    }
    if result.is_none() && collection == Collection::Users {
        result = users::user_service(&state, &guard, idx, &service, &body).await;
    }
    if result.is_none() && collection == Collection::ApplicationKeys {
        result = app_keys::key_service(&state, &guard, idx, &service, &body).await;
    }
    if result.is_none() && collection == Collection::LocalizationTables {
        result =
            crate::http::localization::table_service(&state, &guard, idx, &service, &body).await;
    }
    // Groups, Organizations and SetOwner on any entity.
    if result.is_none() {
        result = crate::http::membership::entity_service(
            &state, &guard, collection, idx, &service, &body,
        )
        .await;
    }
    // Stream and DataTable services, before the other Thing services.
    if result.is_none() && collection == Collection::Things {
        result = crate::http::data::thing_service(&state, &guard, idx, &service, &body).await;
    }
    // Thing services answer their own responses (a user-defined service is a 501).
    if result.is_none()
        && collection == Collection::Things
        && let Some(answer) =
            crate::http::things::thing_service(&state, &guard, idx, &service, &body).await
    {
        return answer;
    }
    match result {
        Some(result) => Ok(HttpResponse::Ok().json(result?)),
        None => Err(ApiError::NotFound),
    }
}
