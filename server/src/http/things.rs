//! Thing properties over REST: `GET /Thingworx/Things/<T>/Properties/<p>` answers the current
//! value as an InfoTable, after the PropertyRead check on that property.

use actix_web::{HttpRequest, HttpResponse, get, web};
use ironworx_entity::queries::parts;
use ironworx_entity::vocab::PermissionKind;
use serde_json::{Value, json};

use crate::authz::Target;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::state::AppState;

/// Reads one property of a Thing.
#[get("/Thingworx/Things/{name}/Properties/{property}")]
pub async fn get_property(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, property) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity("Things", &name)?;
    guard.require(Target::Entity(idx), PermissionKind::PropertyRead, &property)?;
    let id = guard
        .index
        .entity(idx)
        .map(|e| e.id)
        .ok_or(ApiError::NotFound)?;
    let values = parts::property_values::list(&state.db, id)
        .await
        .map_err(ApiError::internal)?;
    let value = values
        .into_iter()
        .find(|v| v.name == property)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("Thing '{name}' has no property '{property}'"))
        })?;
    let row = json!({ property.clone(): value.value.unwrap_or(Value::Null) });
    Ok(HttpResponse::Ok().json(infotable(
        &[(property.as_str(), value.base_type.as_str())],
        vec![row],
    )))
}
