//! Thing properties and Thing services over HTTP: typed values, inherited definitions from a
//! template and shapes, the allowed and the denied case of every route, wrong-typed writes that
//! change nothing, definitions added and removed, the lifecycle services, user-defined services
//! (501) and a Thing the caller cannot see (404 everywhere).

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
use ironworx_entity::queries::parts::{
    property_definitions, property_values, service_definitions, service_implementations,
};
use ironworx_tests::model::property_row;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
/// Granted exactly PropertyRead on `Speed`.
const READER: (&str, &str) = ("reader", "reader-password-1");
/// PropertyRead, PropertyWrite and ServiceInvoke on `*`.
const WRITER: (&str, &str) = ("writer", "writer-password-1");
/// PropertyWrite allowed on `*` and denied on `Speed`.
const DENIED: (&str, &str) = ("denied", "denied-password-1");
/// Design-time Metadata and Update on the Thing.
const DESIGNER: (&str, &str) = ("designer", "designer-password-1");

const THING: &str = "/Thingworx/Things/Motor1";

fn definition(
    owner: i64,
    name: &str,
    base_type: &str,
    aspects: Value,
) -> property_definitions::Model {
    property_row(owner, name, base_type, Some(aspects))
}

/// Users; a shape on the Thing (`Label`), a template (`Rpm`, and a `Reset` Script service)
/// implementing a shape (`Torque`); the Thing `Motor1` with properties of every kind.
async fn seed(db: &DatabaseConnection) {
    for (name, password) in [READER, WRITER, DENIED, DESIGNER] {
        ironworx_tests::create_user(db, name, password).await;
    }
    let fields = EntityFields::default();
    let motor_shape = models::create_thing_shape(db, "MotorShape", &fields, "")
        .await
        .expect("shape");
    let label_shape = models::create_thing_shape(db, "LabelShape", &fields, "")
        .await
        .expect("shape");
    let template =
        models::create_thing_template(db, "MotorTemplate", &fields, &TemplateFields::default())
            .await
            .expect("template");
    models::set_implemented_shapes(db, template.id, &["MotorShape".into()])
        .await
        .expect("template shapes");
    let thing = models::create_thing(
        db,
        "Motor1",
        &fields,
        &ThingFields {
            thing_template: "MotorTemplate".into(),
            ..ThingFields::default()
        },
    )
    .await
    .expect("thing");
    models::set_implemented_shapes(db, thing.id, &["LabelShape".into()])
        .await
        .expect("thing shapes");
    let plain = json!({});
    property_definitions::insert(
        db,
        vec![definition(
            motor_shape.id,
            "Torque",
            "NUMBER",
            plain.clone(),
        )],
    )
    .await
    .expect("shape property");
    property_definitions::insert(
        db,
        vec![definition(label_shape.id, "Label", "STRING", plain.clone())],
    )
    .await
    .expect("shape property");
    property_definitions::insert(
        db,
        vec![definition(template.id, "Rpm", "INTEGER", plain.clone())],
    )
    .await
    .expect("template property");
    property_definitions::insert(
        db,
        vec![
            definition(thing.id, "Speed", "NUMBER", json!({"defaultValue": 1.5})),
            definition(thing.id, "Running", "BOOLEAN", plain.clone()),
            definition(thing.id, "Started", "DATETIME", plain.clone()),
            definition(thing.id, "Config", "JSON", plain.clone()),
            definition(thing.id, "Position", "LOCATION", plain.clone()),
            definition(thing.id, "Table", "INFOTABLE", plain.clone()),
            definition(thing.id, "Labels", "TAGS", plain.clone()),
            definition(thing.id, "Operator", "USERNAME", plain.clone()),
            definition(thing.id, "Count", "LONG", plain.clone()),
            definition(
                thing.id,
                "Serial",
                "STRING",
                json!({"isReadOnly": true, "defaultValue": "S-1"}),
            ),
        ],
    )
    .await
    .expect("thing properties");
    service_definitions::insert(
        db,
        vec![service_definitions::Model {
            id: 0,
            entity_id: template.id,
            name: "Reset".into(),
            description: String::new(),
            category: String::new(),
            is_allow_override: false,
            is_local_only: false,
            is_open: false,
            is_private: false,
            aspects: None,
            result_type: None,
            parameters: None,
        }],
    )
    .await
    .expect("service");
    service_implementations::insert(
        db,
        vec![service_implementations::Model {
            id: 0,
            entity_id: template.id,
            name: "Reset".into(),
            description: String::new(),
            handler_name: "Script".into(),
            configuration: Some(json!({"code": "me.Speed = 0;"})),
        }],
    )
    .await
    .expect("implementation");
}

async fn post(
    server: &TestServer,
    who: (&str, &str),
    service: &str,
    body: Value,
) -> (StatusCode, Value) {
    ironworx_tests::post_json(server, who, &format!("{THING}/Services/{service}"), body).await
}

async fn get(server: &TestServer, who: (&str, &str), path: &str) -> (StatusCode, String) {
    let res = server
        .client()
        .get(server.url(path))
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

async fn put(
    server: &TestServer,
    who: (&str, &str),
    path: &str,
    body: Value,
) -> (StatusCode, String) {
    let res = server
        .client()
        .put(server.url(path))
        .basic_auth(who.0, Some(who.1))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

/// The value of `property` of Motor1 as the administrator reads it.
async fn value(server: &TestServer, property: &str) -> Value {
    let (status, body) = get(server, ADMIN, &format!("{THING}/Properties/{property}")).await;
    assert_eq!(status, StatusCode::OK, "{property}: {body}");
    let table: Value = serde_json::from_str(&body).expect("json");
    table["rows"][0][property].clone()
}

async fn grant(server: &TestServer, user: &str, resource: &str, kind: &str, allow: bool) {
    let (status, body) = post(
        server,
        ADMIN,
        "AddRunTimePermission",
        json!({"principal": user, "principalType": "User", "resource": resource, "type": kind, "allow": allow}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn grant_design(server: &TestServer, user: &str, kind: &str) {
    let (status, body) = post(
        server,
        ADMIN,
        "AddDesignTimePermission",
        json!({"principal": user, "principalType": "User", "type": kind, "allow": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn denied(status: StatusCode, body: &str, permission: &str, resource: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let wording = format!("Not authorized for {permission} on {resource} in Motor1");
    assert!(body.contains(&wording), "{body} lacks {wording}");
}

async fn setup(backend: ironworx_tests::Backend) -> (TestDb, TestServer, DatabaseConnection) {
    let db = TestDb::create(backend).await;
    let server = TestServer::start(&db, &[]).await;
    let conn = connect(&db).await;
    seed(&conn).await;
    grant(&server, READER.0, "Speed", "PropertyRead", true).await;
    for kind in ["PropertyRead", "PropertyWrite", "ServiceInvoke"] {
        grant(&server, WRITER.0, "*", kind, true).await;
    }
    grant(&server, DENIED.0, "*", "PropertyRead", true).await;
    grant(&server, DENIED.0, "*", "PropertyWrite", true).await;
    grant(&server, DENIED.0, "Speed", "PropertyWrite", false).await;
    grant_design(&server, DESIGNER.0, "Metadata").await;
    grant_design(&server, DESIGNER.0, "Update").await;
    (db, server, conn)
}

async fn teardown(db: TestDb, server: TestServer, conn: DatabaseConnection) {
    assert!(server.stop().await.success());
    conn.close().await.expect("close");
    db.drop_database().await;
}

#[tokio::test]
async fn property_routes_read_and_write_typed_values() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;
        let speed = format!("{THING}/Properties/Speed");

        // Exactly PropertyRead on Speed: it reads Speed (its default, typed) and nothing else.
        let (status, body) = get(&server, READER, &speed).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let table: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(table["rows"][0]["Speed"], json!(1.5));
        let field = &table["dataShape"]["fieldDefinitions"]["Speed"];
        assert_eq!(field["baseType"], "NUMBER");
        assert_eq!(field["aspects"]["isReadOnly"], json!(false));
        let (status, body) = get(&server, READER, &format!("{THING}/Properties/Running")).await;
        denied(status, &body, "PropertyRead", "Running");
        let (status, body) = put(&server, READER, &speed, json!({"Speed": 9})).await;
        denied(status, &body, "PropertyWrite", "Speed");
        assert_eq!(value(&server, "Speed").await, json!(1.5));

        // Reading all properties gives the readable ones; a caller who can read none is refused.
        let (status, body) = get(&server, READER, &format!("{THING}/Properties/*")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let table: Value = serde_json::from_str(&body).expect("json");
        let fields = table["dataShape"]["fieldDefinitions"]
            .as_object()
            .expect("fields");
        assert_eq!(fields.keys().collect::<Vec<_>>(), vec!["Speed"]);
        let (status, body) = get(&server, DESIGNER, &format!("{THING}/Properties/*")).await;
        denied(status, &body, "PropertyRead", "*");

        // Allowed writes, and wrong-typed ones that change nothing.
        let (status, body) = put(&server, WRITER, &speed, json!({"Speed": 42})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert_eq!(value(&server, "Speed").await, json!(42.0));
        for bad in [
            json!({"Speed": "fast"}),
            json!({"Speed": true}),
            json!({"Running": true}),
            json!([1]),
        ] {
            let (status, body) = put(&server, WRITER, &speed, bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let all = format!("{THING}/Properties/*");
        let (status, body) = put(
            &server,
            WRITER,
            &all,
            json!({"Running": true, "Speed": "fast"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("Speed"), "{body}");
        assert_eq!(value(&server, "Speed").await, json!(42.0));
        assert_eq!(
            value(&server, "Running").await,
            Value::Null,
            "nothing written"
        );
        let (status, _) = put(&server, WRITER, &all, json!({"Running": true, "Nope": 1})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = put(
            &server,
            WRITER,
            &format!("{THING}/Properties/Nope"),
            json!({"Nope": 1}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = put(
            &server,
            WRITER,
            &format!("{THING}/Properties/Serial"),
            json!({"Serial": "S-2"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "read-only: {body}");
        assert_eq!(value(&server, "Serial").await, json!("S-1"));

        // A deny on the named property beats the allow on `*`, and refuses a whole write.
        let (status, body) = put(&server, DENIED, &speed, json!({"Speed": 7})).await;
        denied(status, &body, "PropertyWrite", "Speed");
        let (status, body) = put(&server, DENIED, &all, json!({"Running": true, "Speed": 7})).await;
        denied(status, &body, "PropertyWrite", "Speed");
        assert_eq!(value(&server, "Running").await, Value::Null);
        assert_eq!(value(&server, "Speed").await, json!(42.0));
        let (status, body) = put(&server, DENIED, &all, json!({"Running": true})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(value(&server, "Running").await, json!(true));

        // Every base type keeps its canonical JSON.
        let table_value = json!({"dataShape": {"fieldDefinitions": {"a": {"name": "a", "baseType": "INTEGER"}}}, "rows": [{"a": 1}]});
        let (status, body) = put(
            &server,
            WRITER,
            &all,
            json!({
                "Started": "2020-01-01T00:00:00.000Z",
                "Config": {"mode": ["auto"]},
                "Position": {"latitude": 48.1, "longitude": 11.5},
                "Table": table_value,
                "Labels": "Plant:Line1",
                "Operator": "writer",
                "Count": 3_000_000_000_i64,
            }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            value(&server, "Started").await,
            json!(1_577_836_800_000_i64)
        );
        assert_eq!(value(&server, "Config").await, json!({"mode": ["auto"]}));
        assert_eq!(
            value(&server, "Position").await,
            json!({"latitude": 48.1, "longitude": 11.5, "elevation": 0.0})
        );
        assert_eq!(value(&server, "Table").await, table_value);
        assert_eq!(value(&server, "Labels").await, json!("Plant:Line1"));
        assert_eq!(value(&server, "Operator").await, json!("writer"));
        assert_eq!(value(&server, "Count").await, json!(3_000_000_000_i64));
        for (property, bad) in [
            ("Started", json!("yesterday")),
            ("Position", json!({"latitude": "north"})),
            ("Table", json!(5)),
            ("Labels", json!("no colon")),
            ("Count", json!(1.5)),
            ("Config", json!("{not json")),
        ] {
            let before = value(&server, property).await;
            let (status, body) = put(&server, WRITER, &all, json!({ property: bad })).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{property}: {body}");
            assert_eq!(
                value(&server, property).await,
                before,
                "{property} unchanged"
            );
        }

        // Definitions inherited from the template, its shape and the Thing's shape.
        for (property, written, read) in [
            ("Rpm", json!(1200), json!(1200)),
            ("Torque", json!(3.5), json!(3.5)),
            ("Label", json!("left"), json!("left")),
        ] {
            let path = format!("{THING}/Properties/{property}");
            let (status, body) = put(&server, WRITER, &path, json!({ property: written })).await;
            assert_eq!(status, StatusCode::OK, "{property}: {body}");
            assert_eq!(value(&server, property).await, read);
        }
        let (status, _) = put(
            &server,
            WRITER,
            &format!("{THING}/Properties/Rpm"),
            json!({"Rpm": 1.5}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(value(&server, "Rpm").await, json!(1200));

        teardown(db, server, conn).await;
    }
}

#[tokio::test]
async fn thing_services_check_their_permissions() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;

        // Value services: ServiceInvoke on the service, then the property permissions.
        let (status, table) = post(&server, WRITER, "GetPropertyValues", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {table}");
        assert_eq!(table["rows"][0]["Speed"], json!(1.5));
        assert_eq!(table["rows"][0]["Serial"], json!("S-1"));
        assert_eq!(
            table["dataShape"]["fieldDefinitions"]["Rpm"]["baseType"],
            "INTEGER"
        );
        let (status, body) = post(&server, READER, "GetPropertyValues", json!({})).await;
        denied(
            status,
            &body.to_string(),
            "ServiceInvoke",
            "GetPropertyValues",
        );

        let one_row =
            |row: Value| json!({"values": {"dataShape": {"fieldDefinitions": {}}, "rows": [row]}});
        let (status, body) = post(
            &server,
            WRITER,
            "SetPropertyValues",
            one_row(json!({"Speed": 5, "Running": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(value(&server, "Speed").await, json!(5.0));
        assert_eq!(value(&server, "Running").await, json!(true));
        let (status, body) = post(
            &server,
            WRITER,
            "SetPropertyValues",
            one_row(json!({"Speed": 6, "Running": "maybe"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(value(&server, "Speed").await, json!(5.0));
        let (status, body) = post(
            &server,
            READER,
            "SetPropertyValues",
            one_row(json!({"Speed": 6})),
        )
        .await;
        denied(
            status,
            &body.to_string(),
            "ServiceInvoke",
            "SetPropertyValues",
        );
        let (status, _) = post(&server, WRITER, "SetPropertyValues", json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "values are required");

        let vtq = json!({"values": {"rows": [
            {"name": "Speed", "value": 8.5, "time": 1_700_000_000_000_i64, "quality": "BAD"},
            {"name": "Rpm", "value": 900},
        ]}});
        let (status, body) = post(&server, WRITER, "UpdatePropertyValues", vtq.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(value(&server, "Speed").await, json!(8.5));
        assert_eq!(value(&server, "Rpm").await, json!(900));
        let thing = models::get_thing(&conn, "Motor1").await.expect("thing").0;
        let rows = property_values::list(&conn, thing.id)
            .await
            .expect("values");
        let speed = rows.iter().find(|r| r.name == "Speed").expect("Speed row");
        assert_eq!(
            (speed.value_time, speed.quality.as_str()),
            (1_700_000_000_000, "BAD")
        );
        let (status, body) = post(&server, READER, "UpdatePropertyValues", vtq).await;
        denied(
            status,
            &body.to_string(),
            "ServiceInvoke",
            "UpdatePropertyValues",
        );
        // Granted ServiceInvoke, the denied user still may not write Speed.
        grant(&server, DENIED.0, "*", "ServiceInvoke", true).await;
        let (status, body) = post(
            &server,
            DENIED,
            "UpdatePropertyValues",
            json!({"values": {"rows": [{"name": "Running", "value": false}, {"name": "Speed", "value": 1}]}}),
        )
        .await;
        denied(status, &body.to_string(), "PropertyWrite", "Speed");
        assert_eq!(value(&server, "Running").await, json!(true));

        // Definitions: design-time Metadata to read them, Update to change them.
        let (status, table) = post(&server, DESIGNER, "GetPropertyDefinitions", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{table}");
        let rows = table["rows"].as_array().expect("rows");
        let source = |name: &str| {
            rows.iter().find(|r| r["name"] == name).map(|r| {
                (
                    r["sourceType"].clone(),
                    r["sourceName"].clone(),
                    r["baseType"].clone(),
                )
            })
        };
        assert_eq!(
            source("Speed"),
            Some((json!("Thing"), json!("Motor1"), json!("NUMBER")))
        );
        assert_eq!(
            source("Rpm"),
            Some((
                json!("ThingTemplate"),
                json!("MotorTemplate"),
                json!("INTEGER")
            ))
        );
        assert_eq!(
            source("Torque"),
            Some((json!("ThingShape"), json!("MotorShape"), json!("NUMBER")))
        );
        assert_eq!(
            source("Label"),
            Some((json!("ThingShape"), json!("LabelShape"), json!("STRING")))
        );
        let (status, body) = post(&server, WRITER, "GetPropertyDefinitions", json!({})).await;
        denied(status, &body.to_string(), "Metadata", "*");
        let (status, table) = post(
            &server,
            DESIGNER,
            "GetPropertyDefinition",
            json!({"name": "Rpm"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(table["rows"][0]["sourceName"], "MotorTemplate");
        let (status, body) = post(
            &server,
            WRITER,
            "GetPropertyDefinition",
            json!({"name": "Rpm"}),
        )
        .await;
        denied(status, &body.to_string(), "Metadata", "*");

        let add = json!({"name": "Pressure", "type": "NUMBER", "description": "bar", "defaultValue": "2.5", "logged": true});
        let (status, body) = post(&server, WRITER, "AddPropertyDefinition", add.clone()).await;
        denied(status, &body.to_string(), "Update", "*");
        let (status, body) = post(&server, DESIGNER, "AddPropertyDefinition", add.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(value(&server, "Pressure").await, json!(2.5));
        let (status, body) = post(&server, DESIGNER, "AddPropertyDefinition", add).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _) = post(
            &server,
            DESIGNER,
            "AddPropertyDefinition",
            json!({"name": "Rpm", "type": "STRING"}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "inherited names are taken too"
        );
        for bad in [
            json!({"name": "Flow", "type": "NOSUCHTYPE"}),
            json!({"type": "NUMBER"}),
            json!({"name": "Flow", "type": "NUMBER", "defaultValue": "lots"}),
            json!({"name": "bad name!", "type": "NUMBER"}),
        ] {
            let (status, body) =
                post(&server, DESIGNER, "AddPropertyDefinition", bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let pressure = format!("{THING}/Properties/Pressure");
        let (status, body) = put(&server, WRITER, &pressure, json!({"Pressure": 3})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(value(&server, "Pressure").await, json!(3.0));

        let (status, body) = post(
            &server,
            WRITER,
            "RemovePropertyDefinition",
            json!({"name": "Pressure"}),
        )
        .await;
        denied(status, &body.to_string(), "Update", "*");
        let (status, body) = post(
            &server,
            DESIGNER,
            "RemovePropertyDefinition",
            json!({"name": "Rpm"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "inherited: {body}");
        assert!(body.to_string().contains("MotorTemplate"), "{body}");
        let (status, body) = post(
            &server,
            DESIGNER,
            "RemovePropertyDefinition",
            json!({"name": "Pressure"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A removed property no longer exists: 404, like a property never defined.
        let (status, body) = get(&server, ADMIN, &pressure).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = put(&server, WRITER, &pressure, json!({"Pressure": 3})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post(
            &server,
            DESIGNER,
            "RemovePropertyDefinition",
            json!({"name": "Pressure"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Lifecycle: ServiceInvoke on the service.
        for service in ["DisableThing", "EnableThing", "RestartThing", "IsEnabled"] {
            let (status, body) = post(&server, READER, service, json!({})).await;
            denied(status, &body.to_string(), "ServiceInvoke", service);
        }
        let (status, _) = post(&server, WRITER, "DisableThing", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, enabled) = post(&server, WRITER, "IsEnabled", json!({})).await;
        assert_eq!(enabled["rows"][0]["result"], json!(false));
        assert!(
            !models::get_thing(&conn, "Motor1")
                .await
                .expect("thing")
                .1
                .enabled
        );
        for service in ["EnableThing", "RestartThing"] {
            let (status, body) = post(&server, WRITER, service, json!({})).await;
            assert_eq!(status, StatusCode::OK, "{service}: {body}");
        }
        let (_, enabled) = post(&server, WRITER, "IsEnabled", json!({})).await;
        assert_eq!(enabled["rows"][0]["result"], json!(true));

        // A Script service defined by the template: ServiceInvoke first, then 501.
        let (status, body) = post(&server, READER, "Reset", json!({})).await;
        denied(status, &body.to_string(), "ServiceInvoke", "Reset");
        let (status, body) = post(&server, WRITER, "Reset", json!({})).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
        let message = body["message"].as_str().expect("message");
        assert!(
            message.contains("Reset") && message.contains("Script"),
            "{message}"
        );
        let (status, _) = post(&server, WRITER, "NoSuchService", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Without visibility the Thing does not exist for the caller, on every route.
        let (status, body) = ironworx_tests::post_json(
            &server,
            ADMIN,
            "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
            json!({"collectionName": "Things", "principal": "Everyone", "principalType": "Organization"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hidden = get(&server, WRITER, &format!("{THING}/Properties/Speed")).await;
        let missing = get(
            &server,
            WRITER,
            "/Thingworx/Things/NoSuchThing/Properties/Speed",
        )
        .await;
        assert_eq!(hidden.0, StatusCode::NOT_FOUND, "{}", hidden.1);
        assert_eq!(hidden, missing, "invisible answers like missing");
        let (status, _) = put(
            &server,
            WRITER,
            &format!("{THING}/Properties/Speed"),
            json!({"Speed": 1}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for service in ["GetPropertyValues", "Reset", "IsEnabled"] {
            let (status, body) = post(&server, WRITER, service, json!({})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{service}: {body}");
        }
        assert_eq!(
            value(&server, "Speed").await,
            json!(8.5),
            "the administrator still sees it"
        );

        teardown(db, server, conn).await;
    }
}

/// Service and event definitions and the metadata characteristics: inherited definitions with
/// their source, design-time Metadata to read and Update to change, conflicts and removal of
/// inherited definitions refused, bad signatures refused without a change.
#[tokio::test]
async fn service_and_event_definitions_and_metadata() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;
        let names = |table: &Value| -> Vec<String> {
            table["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };

        // Reading needs Metadata: WRITER (run time only) is refused on every route.
        let (status, body) = post(&server, WRITER, "GetServiceDefinitions", json!({})).await;
        denied(status, &body.to_string(), "Metadata", "*");
        for part in [
            "Metadata",
            "ServiceDefinitions",
            "EventDefinitions",
            "PropertyDefinitions",
        ] {
            let (status, body) = get(&server, WRITER, &format!("{THING}/{part}")).await;
            denied(status, &body, "Metadata", "*");
        }
        let (status, body) = post(&server, DESIGNER, "GetServiceDefinitions", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            names(&body),
            vec!["Reset"],
            "{backend}: inherited from the template"
        );

        // Adding needs Update; the new service is the Thing's own and comes first.
        let add = json!({
            "name": "Calibrate",
            "description": "zero the sensor",
            "parameters": {"rows": [
                {"name": "offset", "baseType": "NUMBER"},
                {"name": "note", "baseType": "STRING", "description": "why"}]},
            "resultType": {"rows": [{"name": "result", "baseType": "BOOLEAN"}]},
        });
        let (status, body) = post(&server, WRITER, "AddServiceDefinition", add.clone()).await;
        denied(status, &body.to_string(), "Update", "*");
        let (status, body) = post(&server, DESIGNER, "AddServiceDefinition", add.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = post(&server, DESIGNER, "AddServiceDefinition", add).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = post(
            &server,
            DESIGNER,
            "AddServiceDefinition",
            json!({"name": "Reset"}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "an inherited name is taken");
        let (status, _) = post(
            &server,
            DESIGNER,
            "AddServiceDefinition",
            json!({"name": "Bad", "parameters": {"rows": [{"name": "x", "baseType": "WIDGET"}]}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, body) = post(&server, DESIGNER, "GetServiceDefinitions", json!({})).await;
        assert_eq!(names(&body), vec!["Calibrate", "Reset"], "{backend}");
        let calibrate = &body["rows"][0];
        assert_eq!(calibrate["description"], "zero the sensor");
        assert_eq!(calibrate["parameterDefinitions"][1]["name"], "note");
        assert_eq!(calibrate["parameterDefinitions"][1]["baseType"], "STRING");
        assert_eq!(calibrate["resultType"]["baseType"], "BOOLEAN");

        // A defined service without an implementation: ServiceInvoke, then 501.
        let (status, body) = post(&server, WRITER, "Calibrate", json!({})).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");

        // Events: a data shape is required.
        let (status, _) = post(
            &server,
            DESIGNER,
            "AddEventDefinition",
            json!({"name": "Overheat"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = post(
            &server,
            DESIGNER,
            "AddEventDefinition",
            json!({"name": "Overheat", "dataShape": "AlertEvent", "category": "alarms"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = get(&server, DESIGNER, &format!("{THING}/EventDefinitions")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let events: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(names(&events), vec!["Overheat"]);
        assert_eq!(events["rows"][0]["dataShape"], "AlertEvent");

        // The metadata document: every definition keyed by name with its source.
        let (status, body) = get(&server, DESIGNER, &format!("{THING}/Metadata")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let meta: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(meta["name"], "Motor1");
        assert_eq!(meta["thingTemplate"], "MotorTemplate");
        assert_eq!(
            meta["serviceDefinitions"]["Reset"]["sourceType"],
            "ThingTemplate"
        );
        assert_eq!(
            meta["serviceDefinitions"]["Reset"]["sourceName"],
            "MotorTemplate"
        );
        assert_eq!(
            meta["serviceDefinitions"]["Calibrate"]["sourceType"],
            "Thing"
        );
        assert_eq!(
            meta["propertyDefinitions"]["Torque"]["sourceName"],
            "MotorShape"
        );
        assert_eq!(meta["propertyDefinitions"]["Speed"]["baseType"], "NUMBER");
        assert_eq!(meta["eventDefinitions"]["Overheat"]["category"], "alarms");
        let (status, _) = get(&server, DESIGNER, &format!("{THING}/NoSuchPart")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Removing: only the Thing's own definitions.
        let (status, _) = post(
            &server,
            DESIGNER,
            "RemoveServiceDefinition",
            json!({"name": "Reset"}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "inherited from the template"
        );
        let (status, _) = post(
            &server,
            DESIGNER,
            "RemoveServiceDefinition",
            json!({"name": "Nothing"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = post(
            &server,
            WRITER,
            "RemoveEventDefinition",
            json!({"name": "Overheat"}),
        )
        .await;
        denied(status, &body.to_string(), "Update", "*");
        for (service, name) in [
            ("RemoveServiceDefinition", "Calibrate"),
            ("RemoveEventDefinition", "Overheat"),
        ] {
            let (status, body) = post(&server, DESIGNER, service, json!({"name": name})).await;
            assert_eq!(status, StatusCode::OK, "{service}: {body}");
        }
        let (_, body) = post(&server, DESIGNER, "GetServiceDefinitions", json!({})).await;
        assert_eq!(names(&body), vec!["Reset"]);
        let (_, body) = post(&server, DESIGNER, "GetEventDefinitions", json!({})).await;
        assert!(names(&body).is_empty(), "{body}");
        teardown(db, server, conn).await;
    }
}
