//! Things over HTTP for the script tests: a GenericThing with properties, its id, a property
//! read and write, a run-time grant to a user, a service call.

use ironworx_entity::queries::entities::find_entity;
use ironworx_entity::vocab::Collection;
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::TestServer;
use crate::http::{Caller, Reply, admin_call, entity_services, send};

/// The Thing `name` on GenericThing with `properties` (name, base type).
pub async fn generic_thing(server: &TestServer, name: &str, properties: &[(&str, &str)]) {
    entity_services(
        server,
        "CreateThing",
        &json!({"name": name, "thingTemplateName": "GenericThing"}),
    )
    .await;
    for (property, base_type) in properties {
        admin_call(
            server,
            &format!("/Thingworx/Things/{name}/Services/AddPropertyDefinition"),
            &json!({"name": property, "type": base_type}),
        )
        .await;
    }
}

/// The entity id of Thing `thing`.
///
/// # Panics
/// When it cannot be read or does not exist.
pub async fn thing_id(conn: &DatabaseConnection, thing: &str) -> i64 {
    find_entity(conn, Collection::Things, thing)
        .await
        .expect("read")
        .expect("the Thing exists")
        .id
}

/// `property` of `thing` as the administrator reads it.
///
/// # Panics
/// When the read does not answer 200.
pub async fn read_property(server: &TestServer, thing: &str, property: &str) -> Value {
    let path = format!("/Thingworx/Things/{thing}/Properties/{property}");
    let reply = send(server, &Caller::admin(), Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["rows"][0][property].clone()
}

/// Writes `property` of `thing` as `caller`.
///
/// # Panics
/// When the write does not answer 200.
pub async fn write_property(
    server: &TestServer,
    caller: &Caller,
    thing: &str,
    property: &str,
    value: Value,
) {
    let path = format!("/Thingworx/Things/{thing}/Properties/{property}");
    let body = json!({ property: value });
    let reply = send(server, caller, Method::PUT, &path, Some(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// The administrator allows `kind` on `resource` of `thing` to the user `principal`.
pub async fn grant_user(
    server: &TestServer,
    thing: &str,
    principal: &str,
    resource: &str,
    kind: &str,
) {
    admin_call(
        server,
        &format!("/Thingworx/Things/{thing}/Services/AddRunTimePermission"),
        &json!({"principal": principal, "principalType": "User", "resource": resource,
                "type": kind, "allow": true}),
    )
    .await;
}

/// Calls service `service` of `thing` as `caller` with `body`.
pub async fn call_service(
    server: &TestServer,
    caller: &Caller,
    thing: &str,
    service: &str,
    body: Value,
) -> Reply {
    let path = format!("/Thingworx/Things/{thing}/Services/{service}");
    send(server, caller, Method::POST, &path, Some(&body)).await
}
