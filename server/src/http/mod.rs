//! The HTTP surface: routes, request limits and their registration on the actix app.

pub mod app_keys;
pub mod audit;
pub mod body_timeout;
pub mod catalog;
pub mod console;
pub mod cors;
pub mod csrf;
pub mod definers;
pub mod diff;
pub mod dispatch;
pub mod entities;
pub mod error;
pub mod events;
pub mod explain;
pub mod guard;
pub mod headers;
pub mod health;
pub mod import_export;
pub mod infotable;
pub mod localization;
pub mod login;
pub mod membership;
pub mod openapi;
pub mod origin;
pub mod params;
pub mod permission_sets;
pub mod permissions;
pub mod render;
pub mod things;
pub mod users;

use actix_web::error::JsonPayloadError;
use actix_web::web;

use crate::error::ApiError;

/// Registers every route with the default limits.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes(cfg, &crate::config::LimitSettings::default());
}

/// Registers every route and the request-body limit of `limits`.
pub fn routes(cfg: &mut web::ServiceConfig, limits: &crate::config::LimitSettings) {
    cfg.app_data(json_config(limits.body_bytes()))
        .app_data(payload_config(limits.body_bytes()))
        .service(health::health)
        .service(health::ready)
        .service(login::services())
        .service(console::services())
        .service(dispatch::resource_service)
        .service(dispatch::entity_service)
        .service(things::get_property)
        .service(events::fire)
        .service(events::subscribe)
        .service(import_export::importer)
        .service(import_export::exporter)
        .service(things::characteristic)
        .service(things::one_definition)
        .service(openapi::openapi_json)
        // Entity CRUD last: its `/Thingworx/{collection}[/{name}]` paths would match the
        // fixed paths registered above.
        .service(entities::list_collection)
        .service(entities::read_entity)
        .service(entities::save_entity)
        .service(entities::delete_entity)
        .default_service(web::to(unmatched));
    // Benchmark builds only: the property read without authentication, beside the real one.
    #[cfg(feature = "bench-bare")]
    cfg.service(things::bare_property);
}

/// Any request no route answers: a JSON 404. Under an entity the caller may see
/// (`/Thingworx/<Collection>/<Name>/<rest>`) it names the route the entity lacks; a missing or
/// invisible entity, or any other path, is the generic 404.
async fn unmatched(
    req: actix_web::HttpRequest,
    state: web::Data<crate::state::AppState>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let under_entity = req
        .path()
        .strip_prefix("/Thingworx/")
        .and_then(|rest| {
            let mut parts = rest.splitn(3, '/');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .filter(|(collection, name, rest)| {
            !collection.is_empty() && !name.is_empty() && !rest.is_empty()
        });
    let Some((collection, name, rest)) = under_entity else {
        return Err(ApiError::NotFound);
    };
    let guard = guard::Guard::of(&req, &state).await?;
    let (collection, _) = guard.visible_entity(collection, name)?;
    Err(ApiError::missing(
        collection,
        name,
        &format!("{} route", req.method()),
        rest,
    ))
}

/// Raw body settings (service calls, property writes, entity documents): the same size limit
/// as JSON bodies; a larger body answers 413 before it is read whole.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// JSON extractor settings: the size limit, and errors mapped onto [`ApiError`].
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::TooLarge(limit as u64)
        }
        JsonPayloadError::ContentType => {
            ApiError::BadRequest("expected Content-Type: application/json".to_owned())
        }
        JsonPayloadError::Deserialize(err) => {
            ApiError::BadRequest(format!("malformed JSON: {err}"))
        }
        JsonPayloadError::Serialize(err) => ApiError::internal(err),
        other => ApiError::BadRequest(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, post, test};

    use crate::state::AppState;

    #[post("/echo")]
    async fn echo(body: web::Json<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().json(body.into_inner())
    }

    async fn state() -> (tempfile::TempDir, AppState) {
        crate::state::for_tests("h.db", async |_, _| {}).await
    }

    #[actix_web::test]
    async fn health_and_ready() {
        let (_tmp, state) = state().await;
        let db = state.db.clone();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(state))
                .configure(configure),
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body, serde_json::json!({"status": "ok"}));

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/ready").to_request()).await;
        assert_eq!(res.status(), 200);

        db.close_by_ref().await.expect("closes");
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/ready").to_request()).await;
        assert_eq!(res.status(), 503);
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
        assert_eq!(res.status(), 200);
    }

    #[actix_web::test]
    async fn json_limits_and_errors_use_api_error() {
        let app = test::init_service(App::new().configure(configure).service(echo)).await;

        let big = serde_json::json!({ "x": "a".repeat(crate::config::LimitSettings::default().body_bytes()) });
        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/echo")
                .set_json(&big)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 413);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], "payload_too_large");

        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/echo")
                .insert_header(("content-type", "application/json"))
                .set_payload("{not json")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], "bad_request");
    }
}
