//! Benchmark only (feature `bench-bare`, never in a normal build): a route that does none of
//! the work the property routes do. `PUT /bench/bare` keeps the body in memory and `GET
//! /bench/bare` answers it as JSON, so the HTTP benchmark can set an authorized property read
//! beside a route that returns the same bytes without authentication, authorization, the model
//! or the database.

use std::sync::RwLock;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpResponse, web};

/// The bytes `GET /bench/bare` answers.
static BYTES: RwLock<web::Bytes> = RwLock::new(web::Bytes::new());

/// The bare route. Registered by `http::configure` only with the `bench-bare` feature.
#[allow(
    non_camel_case_types,
    reason = "named like the route registrations it sits beside"
)]
pub struct bare_property;

impl HttpServiceFactory for bare_property {
    fn register(self, config: &mut AppService) {
        web::resource("/bench/bare")
            .route(web::get().to(read_bare))
            .route(web::put().to(keep_bare))
            .register(config);
    }
}

async fn read_bare() -> HttpResponse {
    let bytes = BYTES.read().map(|b| b.clone()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes)
}

async fn keep_bare(body: web::Bytes) -> HttpResponse {
    if let Ok(mut kept) = BYTES.write() {
        *kept = body;
    }
    HttpResponse::NoContent().finish()
}
