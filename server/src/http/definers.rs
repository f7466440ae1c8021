//! The services of ThingTemplates and ThingShapes besides their permissions: their property,
//! service and event definitions and metadata, run as a Thing's are
//! (`http::things::model_service`: design-time Metadata to read, Update to change; a change
//! reaches every implementing Thing at once, through the model's change triggers), and
//! `GetImplementingThings` and `GetImplementingThingsWithData` (design-time Read on the
//! template or shape; only the Things the caller may see, and with data only the inherited
//! properties it may read on each).

use std::collections::HashSet;

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionKind};
use serde_json::Value;

use crate::authz::{EntityIdx, Outcome, Target};
use crate::domain::definers::implementing;
use crate::domain::things::{self, Selection};
use crate::error::ApiError;
use crate::http::entities::{LIST_FIELDS, visible_rows};
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::things::{ThingModel, model_service};
use crate::state::AppState;

/// Runs service `service` of the ThingTemplate or ThingShape `idx`; `None` for another
/// collection or a service this module does not answer.
pub async fn entity_service(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
    idx: EntityIdx,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    if !matches!(
        collection,
        Collection::ThingTemplates | Collection::ThingShapes
    ) {
        return None;
    }
    match service {
        "GetImplementingThings" => {
            Some(implementing_things(state, guard, (collection, idx), false).await)
        }
        "GetImplementingThingsWithData" => {
            Some(implementing_things(state, guard, (collection, idx), true).await)
        }
        _ => model_service(state, guard, (collection, idx), service, body).await,
    }
}

async fn implementing_things(
    state: &AppState,
    guard: &Guard,
    (collection, idx): (Collection, EntityIdx),
    with_data: bool,
) -> Result<Value, ApiError> {
    let names: HashSet<String> = implementing(guard, idx)
        .into_iter()
        .filter(|&t| {
            guard.decide(Target::Entity(t), PermissionKind::Visibility, ANY_RESOURCE)
                == Outcome::Allow
        })
        .filter_map(|t| guard.index.entity(t).map(|e| e.name.clone()))
        .collect();
    let rows: Vec<(String, Value)> = visible_rows(state, guard, Collection::Things)
        .await?
        .into_iter()
        .filter(|(row, _)| names.contains(&row.name))
        .map(|(row, json)| (row.name, json))
        .collect();
    if !with_data {
        return Ok(infotable(
            LIST_FIELDS,
            rows.into_iter().map(|(_, j)| j).collect(),
        ));
    }
    let name = guard
        .index
        .entity(idx)
        .map(|e| e.name.clone())
        .ok_or(ApiError::NotFound)?;
    let model: ThingModel =
        crate::http::things::model::load_in(&state.db, collection, &name).await?;
    let mut fields: Vec<(&str, &str)> = LIST_FIELDS
        .iter()
        .map(|(name, base_type)| (*name, base_type.as_str()))
        .collect();
    for p in &model.properties {
        if !fields.iter().any(|(n, _)| *n == p.name) {
            fields.push((p.name.as_str(), p.base_type.as_str()));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for (thing, mut row) in rows {
        // Only the properties the caller may read; a Thing with none readable has no values.
        match things::read_properties(state, guard, &thing, Selection::All).await {
            Ok(values) => {
                if let (Some(values), Some(row)) = (
                    values.pointer("/rows/0").and_then(Value::as_object),
                    row.as_object_mut(),
                ) {
                    for p in &model.properties {
                        if let Some(value) = values.get(&p.name) {
                            row.insert(p.name.clone(), value.clone());
                        }
                    }
                }
            }
            Err(ApiError::Forbidden { .. }) => {}
            Err(other) => return Err(other),
        }
        out.push(row);
    }
    Ok(infotable(&fields, out))
}
