//! Model fixtures written straight to the database: data shapes with their fields, and event
//! definitions on an entity.

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::{models, parts};
use ironworx_entity::schema::{event_definitions, field_definitions};
use sea_orm::DatabaseConnection;
use serde_json::json;

/// The DataShape `name` with `fields` (name, base type, primary key), in order.
pub async fn data_shape(db: &DatabaseConnection, name: &str, fields: &[(&str, &str, bool)]) {
    let shape = models::create_data_shape(db, name, &EntityFields::default(), "")
        .await
        .expect("data shape");
    let rows = fields
        .iter()
        .zip(0..)
        .map(
            |((field, base_type, key), ordinal)| field_definitions::Model {
                id: 0,
                entity_id: shape.id,
                name: (*field).to_owned(),
                base_type: (*base_type).to_owned(),
                description: String::new(),
                ordinal,
                aspects: key.then(|| json!({"isPrimaryKey": true})),
            },
        )
        .collect();
    parts::field_definitions::insert(db, rows)
        .await
        .expect("fields");
}

/// The event `name` on the entity `entity_id`, its data shaped by `data_shape`.
pub async fn event_definition(
    db: &DatabaseConnection,
    entity_id: i64,
    name: &str,
    data_shape: &str,
) {
    parts::event_definitions::insert(
        db,
        vec![event_definitions::Model {
            id: 0,
            entity_id,
            name: name.to_owned(),
            description: String::new(),
            category: String::new(),
            data_shape: data_shape.to_owned(),
            is_local_only: false,
            aspects: None,
        }],
    )
    .await
    .expect("event");
}
