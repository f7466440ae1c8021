//! The caller's context at the HTTP edge: authenticate the request once and take the index
//! and sequences current as of it ([`Guard::of`]); handlers then ask the context
//! ([`crate::domain::Ctx`]) what the caller may do.

use actix_web::HttpRequest;
use ironworx_entity::vocab::Collection;

use crate::auth::authenticate_sequenced;
use crate::authz::EntityIdx;
use crate::error::ApiError;
use crate::http::catalog::{Method, route_need};
use crate::state::AppState;

pub use crate::domain::ctx::{Ctx as Guard, SECURITY_ADMINISTRATORS};

impl Guard {
    /// Authenticates the request and brings the index up to date.
    pub async fn of(req: &HttpRequest, state: &AppState) -> Result<Guard, ApiError> {
        // An application key or a session is read with the sequences in one statement.
        let (caller, index, sequences) = authenticate_sequenced(req, state).await?;
        let user = index
            .lookup(Collection::Users, &caller.name)
            .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
        Ok(Guard {
            caller,
            user,
            index,
            sequences,
        })
    }

    /// Enforces what the catalog declares for route `method path` on `entity` (the entity the
    /// path names).
    pub fn enforce_route(
        &self,
        method: Method,
        path: &str,
        entity: Option<EntityIdx>,
    ) -> Result<(), ApiError> {
        self.enforce(route_need(method, path)?, entity, "", &|_| None)
    }
}
