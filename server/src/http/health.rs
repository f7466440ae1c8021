//! Liveness (`GET /health`) and readiness (`GET /ready`) probes.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::AppState;

/// How long `/ready` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 `{"status":"ok"}` while the process runs.
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 `{"status":"ok"}` while the database answers, 503 `{"status":"unavailable"}` otherwise.
///
/// The check reads the change sequence, as every request does: a ping alone would not touch a
/// SQLite file, so a file that can no longer be read would still look ready.
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let check = ironworx_entity::queries::audit::current_sequence(&state.db);
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(_)) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
}
