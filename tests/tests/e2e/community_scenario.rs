//! The scenario of a ThingWorx community thread, played over HTTP: a user whose group gained
//! PropertyRead on a Stream Thing reads a property but is refused a stream service with a 403
//! naming ServiceInvoke; ExplainPermission names the missing rule; the administrator grants
//! ServiceInvoke to the group; the very next request succeeds; removing the user from the group
//! denies the very next request.

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::{data, groups};
use ironworx_entity::schema::property_values;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::model::{data_shape, property_definition};
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect, create_user, post_json,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ANALYST: (&str, &str) = ("analyst", "analyst-password-2024");

async fn read_status(server: &TestServer) -> (StatusCode, Value) {
    let res = server
        .client()
        .get(server.url("/Thingworx/Things/SensorDataStream/Properties/status"))
        .basic_auth(ANALYST.0, Some(ANALYST.1))
        .send()
        .await
        .expect("read");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn query(server: &TestServer) -> (StatusCode, Value) {
    post_json(
        server,
        ANALYST,
        "/Thingworx/Things/SensorDataStream/Services/GetStreamEntriesWithData",
        json!({"maxItems": 10}),
    )
    .await
}

#[tokio::test]
async fn a_group_grant_a_missing_service_invoke_and_its_fix() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        create_user(&conn, ANALYST.0, ANALYST.1).await;
        groups::create_group(&conn, "DataAnalyst", &EntityFields::default())
            .await
            .expect("group");
        groups::add_member(&conn, "DataAnalyst", ANALYST.0, MemberType::User)
            .await
            .expect("member");
        data_shape(&conn, "Reading", &[("value", "NUMBER", false)]).await;
        let stream = models::create_thing(
            &conn,
            "SensorDataStream",
            &EntityFields {
                aspects: Some(json!({"dataShape": "Reading"})),
                ..EntityFields::default()
            },
            &ThingFields {
                thing_template: "Stream".into(),
                ..ThingFields::default()
            },
        )
        .await
        .expect("stream");
        property_definition(&conn, stream.id, "status", "STRING").await;
        data::set_property_value(
            &conn,
            &property_values::Model {
                id: 0,
                entity_id: stream.id,
                name: "status".into(),
                base_type: "STRING".into(),
                value: Some(json!("collecting")),
                value_time: 0,
                quality: "GOOD".into(),
            },
        )
        .await
        .expect("value");

        // The group gains PropertyRead on the stream Thing.
        let grant = |kind: &'static str| {
            post_json(
                &server,
                ADMIN,
                "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
                json!({"principal": "DataAnalyst", "principalType": "Group", "resource": "*", "type": kind, "allow": true}),
            )
        };
        let (status, body) = grant("PropertyRead").await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let (status, body) = read_status(&server).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{backend}: the property reads: {body}"
        );
        assert_eq!(body["rows"][0]["status"], json!("collecting"));

        let (status, body) = query(&server).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {body}");
        let text = body.to_string();
        assert!(
            text.contains(
                "Not authorized for ServiceInvoke on GetStreamEntriesWithData in SensorDataStream"
            ),
            "{text}"
        );

        // ExplainPermission names the missing rule.
        let (status, explained) = post_json(
            &server,
            ADMIN,
            "/Thingworx/Resources/SecurityServices/Services/ExplainPermission",
            json!({
                "user": ANALYST.0,
                "entityType": "Things",
                "entityName": "SensorDataStream",
                "permission": "ServiceInvoke",
                "resource": "GetStreamEntriesWithData",
            }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{explained}");
        let rows = explained["rows"].as_array().expect("rows");
        let decisive: Vec<&Value> = rows
            .iter()
            .filter(|r| r["decisive"] == json!(true))
            .collect();
        assert_eq!(decisive.len(), 1, "{explained}");
        assert_eq!(decisive[0]["layer"], json!("Default"), "{explained}");
        assert_eq!(decisive[0]["effect"], json!("DENY"), "{explained}");
        let detail = decisive[0]["detail"].as_str().expect("detail");
        assert!(detail.contains("ServiceInvoke"), "{detail}");

        // The administrator grants ServiceInvoke to the group: the very next request succeeds.
        let (status, body) = grant("ServiceInvoke").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = query(&server).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");

        // Removing the user from the group denies the very next request.
        groups::remove_member(&conn, "DataAnalyst", ANALYST.0, MemberType::User)
            .await
            .expect("remove");
        let (status, body) = query(&server).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {body}");
        let (status, _) = read_status(&server).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}");

        conn.close().await.expect("close");
        server.stop().await;
        db.drop_database().await;
    }
}
