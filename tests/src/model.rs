//! Model fixtures written straight to the database: data shapes with their fields, event
//! definitions, property definitions, Script services and Script subscriptions on an entity,
//! Things (Streams and DataTables with their data shape), groups with their members,
//! application keys.

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::{groups, models, parts};
use ironworx_entity::schema::{
    configuration_tables, event_definitions, field_definitions, property_definitions,
    service_definitions, service_implementations, subscriptions,
};
use ironworx_entity::vocab::MemberType;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

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

/// The service `service` on the entity `entity_id`, implemented by the Script `code`, with
/// `params` (name, base type) and a result of `result_type` (`NOTHING`: none), stored as an
/// import stores them; then an audit row, so every server reads it again.
///
/// # Panics
/// When the database refuses.
pub async fn script_service(
    db: &DatabaseConnection,
    entity_id: i64,
    service: &str,
    params: &[(&str, &str)],
    result_type: &str,
    code: &str,
) {
    let fields: Vec<_> = params
        .iter()
        .zip(0..)
        .map(|((name, base_type), ordinal)| {
            json!({
                "name": name, "baseType": base_type, "description": "",
                "ordinal": ordinal, "aspects": {},
            })
        })
        .collect();
    parts::service_definitions::insert(
        db,
        vec![service_definitions::Model {
            id: 0,
            entity_id,
            name: service.to_owned(),
            description: String::new(),
            category: String::new(),
            is_allow_override: false,
            is_local_only: false,
            is_open: false,
            is_private: false,
            aspects: Some(json!({})),
            result_type: Some(json!({
                "name": "result", "baseType": result_type, "description": "",
                "ordinal": 0, "aspects": {},
            })),
            parameters: Some(json!(fields)),
        }],
    )
    .await
    .expect("service definition");
    parts::service_implementations::insert(
        db,
        vec![service_implementations::Model {
            id: 0,
            entity_id,
            name: service.to_owned(),
            description: String::new(),
            handler_name: "Script".to_owned(),
            configuration: Some(json!([{
                "name": "Script", "description": "", "isMultiRow": false, "ordinal": 0,
                "dataShapeName": "", "isHidden": false,
                "fields": [{"name": "code", "baseType": "STRING", "description": "",
                            "ordinal": 0, "aspects": {}}],
                "rows": [{"code": code}],
            }])),
        }],
    )
    .await
    .expect("service implementation");
    crate::http::bump(db, "AddServiceDefinition").await;
}

/// An enabled Script subscription `name` of entity `entity_id` to `event` of `source` (empty:
/// the entity itself), for `DataChange` of `source_property`, running `code`.
pub async fn script_subscription(
    db: &DatabaseConnection,
    entity_id: i64,
    name: &str,
    (source, event, source_property): (&str, &str, &str),
    code: &str,
) {
    parts::subscriptions::insert(
        db,
        vec![subscriptions::Model {
            id: 0,
            entity_id,
            name: name.to_owned(),
            description: String::new(),
            enabled: true,
            event_name: event.to_owned(),
            source: source.to_owned(),
            source_property: source_property.to_owned(),
            source_type: if source.is_empty() { "" } else { "Thing" }.to_owned(),
            handler_name: "Script".to_owned(),
            configuration: Some(json!([{
                "name": "Script", "description": "", "isMultiRow": false, "ordinal": 0,
                "dataShapeName": "", "isHidden": false,
                "fields": [{"name": "code", "baseType": "STRING", "description": "",
                            "ordinal": 0, "aspects": {}}],
                "rows": [{"code": code}],
            }])),
        }],
    )
    .await
    .expect("subscription");
    crate::http::bump(db, "AddSubscription").await;
}

/// The configuration table `name` of entity `entity_id` with one row `row` (its fields typed
/// by their values), as an import stores it.
pub async fn configuration_table(
    db: &DatabaseConnection,
    entity_id: i64,
    name: &str,
    row: serde_json::Value,
) {
    let fields: Vec<_> = row
        .as_object()
        .map(|o| {
            o.iter()
                .zip(0..)
                .map(|((field, value), ordinal)| {
                    let base_type = match value {
                        serde_json::Value::Bool(_) => "BOOLEAN",
                        serde_json::Value::Number(_) => "NUMBER",
                        _ => "STRING",
                    };
                    json!({"name": field, "baseType": base_type, "description": "",
                           "ordinal": ordinal, "aspects": {}})
                })
                .collect()
        })
        .unwrap_or_default();
    parts::configuration_tables::insert(
        db,
        vec![configuration_tables::Model {
            id: 0,
            entity_id,
            name: name.to_owned(),
            is_shared: false,
            description: String::new(),
            is_multi_row: false,
            ordinal: 0,
            data_shape_name: String::new(),
            is_hidden: false,
            field_definitions: Some(json!(fields)),
            rows: Some(json!([row])),
        }],
    )
    .await
    .expect("configuration table");
    crate::http::bump(db, "SetConfigurationTable").await;
}

/// A Thing of `template` (`GenericThing`, `Stream`, `DataTable`, …) whose data shape is
/// `shape` (empty: none); its entity id.
///
/// # Panics
/// When the Thing cannot be written.
pub async fn data_thing(db: &DatabaseConnection, name: &str, template: &str, shape: &str) -> i64 {
    let aspects = (!shape.is_empty()).then(|| json!({"dataShape": shape}));
    models::create_thing(
        db,
        name,
        &EntityFields {
            aspects,
            ..EntityFields::default()
        },
        &models::ThingFields {
            thing_template: template.into(),
            ..models::ThingFields::default()
        },
    )
    .await
    .expect("data thing")
    .id
}

/// The application key `name` with key value `key` for `user`, expiring at `expiration`
/// (milliseconds since the epoch) and allowed from `whitelist`.
///
/// # Panics
/// When the user does not exist or the key cannot be created.
pub async fn app_key(
    db: &DatabaseConnection,
    name: &str,
    key: &str,
    user: &str,
    expiration: Option<i64>,
    whitelist: &str,
) {
    let owner = ironworx_entity::queries::users::get_user(db, user)
        .await
        .expect("owner");
    ironworx_entity::queries::app_keys::create_app_key(
        db,
        &ironworx_entity::queries::app_keys::NewAppKey {
            name: name.into(),
            key_hash: Some(ironworx_server::auth::app_key::key_hash(key)),
            user_id: Some(owner.entity.id),
            expiration_date: expiration,
            ip_whitelist: whitelist.into(),
            ..Default::default()
        },
    )
    .await
    .expect("key");
}

/// The row of property `name` of base type `base_type` on the entity `entity_id`, with
/// `aspects`.
pub fn property_row(
    entity_id: i64,
    name: &str,
    base_type: &str,
    aspects: Option<Value>,
) -> property_definitions::Model {
    property_definitions::Model {
        id: 0,
        entity_id,
        name: name.into(),
        base_type: base_type.into(),
        description: String::new(),
        category: String::new(),
        ordinal: 0,
        is_local_only: false,
        aspects,
    }
}

/// The property `name` of base type `base_type` defined on the entity `entity_id`.
///
/// # Panics
/// When the definition cannot be written.
pub async fn property_definition(
    db: &DatabaseConnection,
    entity_id: i64,
    name: &str,
    base_type: &str,
) {
    let row = property_row(entity_id, name, base_type, None);
    parts::property_definitions::insert(db, vec![row])
        .await
        .expect("property definition");
}

/// The group `name` with the users `members`.
///
/// # Panics
/// When the group or a membership cannot be written.
pub async fn group_of_users(db: &DatabaseConnection, name: &str, members: &[&str]) {
    groups::create_group(db, name, &EntityFields::default())
        .await
        .expect("group");
    for member in members {
        groups::add_member(db, name, member, MemberType::User)
            .await
            .expect("member");
    }
}
