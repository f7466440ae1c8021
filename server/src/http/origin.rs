//! The origin of every change made through the API: each request runs with its door
//! (`REST <service>`, the last path segment after `Services/`, else the method and path) and
//! its client address set, so the audit rows it writes say where the change came from.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use ironworx_entity::queries::audit::{ORIGIN, Origin};

use crate::state::AppState;

/// The door a request path names.
pub fn door(method: &str, path: &str) -> String {
    match path.rsplit_once("/Services/") {
        Some((_, service)) => format!("REST {}", service.trim_end_matches('/')),
        None => format!("REST {method} {path}"),
    }
}

/// Runs the request with its origin set.
pub async fn scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let address = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| crate::auth::client_ip(req.request(), &state.config.auth))
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let origin = Origin {
        door: door(req.method().as_str(), req.path()),
        address,
    };
    ORIGIN.scope(origin, next.call(req)).await
}

#[cfg(test)]
mod tests {
    use super::door;

    #[test]
    fn a_service_call_is_its_service_name() {
        assert_eq!(
            door("POST", "/Thingworx/Groups/Ops/Services/AddMember"),
            "REST AddMember"
        );
        assert_eq!(
            door("PUT", "/Thingworx/Things/T"),
            "REST PUT /Thingworx/Things/T"
        );
    }
}
