//! Benchmark only (feature `bench-bare`, never in a normal build): the read of one Thing
//! property without authentication or authorization, `GET
//! /bench/bare/Things/<T>/Properties/<p>`. It answers through the same code as the real
//! property read once that one has decided, so the HTTP benchmark can set the two side by side.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

/// The bare property route. Registered by `http::configure` only with the `bench-bare` feature.
#[allow(
    non_camel_case_types,
    reason = "named like the route registrations it sits beside"
)]
pub struct bare_property;

impl HttpServiceFactory for bare_property {
    fn register(self, config: &mut AppService) {
        web::resource("/bench/bare/Things/{name}/Properties/{property}")
            .route(web::get().to(read_bare))
            .register(config);
    }
}

async fn read_bare(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, property) = path.into_inner();
    super::property_answer(&state, &name, &property).await
}
