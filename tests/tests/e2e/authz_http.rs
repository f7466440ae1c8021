//! The authorization core over HTTP: denials and their wording, 404 for what a caller cannot
//! see, explanations, permission services, and changes made through any path (another server
//! process, or a direct write to the database) enforced on the very next request.

use ironworx_entity::queries::audit;
use ironworx_entity::queries::data;
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::groups;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::schema::property_values;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const ANALYST: &str = "analyst";
const ANALYST_PASSWORD: &str = "analyst-password-1234";

/// A user in group DataAnalyst and a stream Thing with a Temperature value, written straight
/// to the database while the server runs.
async fn seed(db: &DatabaseConnection) {
    ironworx_tests::create_user(db, ANALYST, ANALYST_PASSWORD).await;
    groups::create_group(db, "DataAnalyst", &EntityFields::default())
        .await
        .expect("group");
    groups::add_member(db, "DataAnalyst", ANALYST, MemberType::User)
        .await
        .expect("member");
    let thing = models::create_thing(
        db,
        "SensorDataStream",
        &EntityFields::default(),
        &ThingFields {
            thing_template: "Stream".into(),
            ..ThingFields::default()
        },
    )
    .await
    .expect("thing");
    data::set_property_value(
        db,
        &property_values::Model {
            id: 0,
            entity_id: thing.id,
            name: "Temperature".into(),
            base_type: "NUMBER".into(),
            value: Some(json!(21.5)),
            value_time: 1_700_000_000_000,
            quality: "GOOD".into(),
        },
    )
    .await
    .expect("value");
}

async fn get(server: &TestServer, path: &str, user: &str, password: &str) -> (StatusCode, String) {
    let res = server
        .client()
        .get(server.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

async fn call(
    server: &TestServer,
    path: &str,
    user: &str,
    password: &str,
    body: Value,
) -> (StatusCode, Value) {
    ironworx_tests::post_json(server, (user, password), path, body).await
}

fn decisive(explanation: &Value) -> Value {
    let rows = explanation["rows"].as_array().expect("rows");
    let decisive: Vec<_> = rows
        .iter()
        .filter(|r| r["decisive"] == json!(true))
        .collect();
    assert_eq!(
        decisive.len(),
        1,
        "exactly one decisive row: {explanation:#}"
    );
    decisive[0].clone()
}

const PROPERTY: &str = "/Thingworx/Things/SensorDataStream/Properties/Temperature";
const EXPLAIN: &str = "/Thingworx/Resources/SecurityServices/Services/ExplainPermission";

#[tokio::test]
async fn grant_explain_revoke_and_hide_over_http() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed(&conn).await;

        // Authentication failures are 401, the same for an unknown user and a wrong password.
        let (s1, b1) = get(&server, PROPERTY, ANALYST, "wrong").await;
        let (s2, b2) = get(&server, PROPERTY, "nobody", "wrong").await;
        assert_eq!(
            (s1, s2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(b1, b2, "{backend}: no hint whether the user exists");
        let res = server
            .client()
            .get(server.url(PROPERTY))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        // Nothing grants PropertyRead yet: 403 with ThingWorx's wording.
        let (status, body) = get(&server, PROPERTY, ANALYST, ANALYST_PASSWORD).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {body}");
        assert!(
            body.contains("Not authorized for PropertyRead on Temperature in SensorDataStream"),
            "{body}"
        );
        let (status, explanation) = call(
            &server,
            EXPLAIN,
            ANALYST,
            ANALYST_PASSWORD,
            json!({"entityType": "Things", "entityName": "SensorDataStream", "permission": "PropertyRead", "resource": "Temperature"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{explanation}");
        let row = decisive(&explanation);
        assert_eq!(
            (row["layer"].as_str(), row["effect"].as_str()),
            (Some("Default"), Some("DENY"))
        );
        let detail = row["detail"].as_str().expect("detail");
        assert!(
            detail.contains("DataAnalyst") && detail.contains("default is deny"),
            "{detail}"
        );

        // The administrator grants the group; the very next request succeeds.
        let (status, body) = call(
            &server,
            "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
            ADMIN_USER,
            ADMIN_PASSWORD,
            json!({"principal": "DataAnalyst", "principalType": "Group", "resource": "*", "type": "PropertyRead", "allow": true}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let (status, body) = get(&server, PROPERTY, ANALYST, ANALYST_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value["rows"][0]["Temperature"], json!(21.5));
        assert_eq!(
            value["dataShape"]["fieldDefinitions"]["Temperature"]["baseType"],
            "NUMBER"
        );
        let (_, explanation) = call(
            &server,
            EXPLAIN,
            ADMIN_USER,
            ADMIN_PASSWORD,
            json!({"user": ANALYST, "entityType": "Thing", "entityName": "SensorDataStream", "permission": "PropertyRead", "resource": "Temperature"}),
        )
        .await;
        let row = decisive(&explanation);
        assert_eq!(
            (
                row["layer"].as_str(),
                row["effect"].as_str(),
                row["principal"].as_str(),
                row["principalType"].as_str()
            ),
            (
                Some("Entity"),
                Some("ALLOW"),
                Some("DataAnalyst"),
                Some("Group")
            )
        );

        // The change is audited.
        let rows = audit::changes_since(&conn, 0).await.expect("audit");
        let last = rows.last().expect("a row");
        assert_eq!(
            (
                last.actor.as_str(),
                last.action.as_str(),
                last.target_name.as_str()
            ),
            (ADMIN_USER, "AddRunTimePermission", "SensorDataStream")
        );

        // CheckPermission answers for the caller.
        let (status, check) = call(
            &server,
            "/Thingworx/Things/SensorDataStream/Services/CheckPermission",
            ANALYST,
            ANALYST_PASSWORD,
            json!({"name": "Temperature", "type": "PropertyRead"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(check["rows"][0]["result"], json!(true));

        // A change made straight in the database is seen by the next request.
        groups::remove_member(&conn, "DataAnalyst", ANALYST, MemberType::User)
            .await
            .expect("remove");
        let (status, _) = get(&server, PROPERTY, ANALYST, ANALYST_PASSWORD).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{backend}: stale allow after removal"
        );
        groups::add_member(&conn, "DataAnalyst", ANALYST, MemberType::User)
            .await
            .expect("add");
        assert_eq!(
            get(&server, PROPERTY, ANALYST, ANALYST_PASSWORD).await.0,
            StatusCode::OK
        );

        // Non-administrators cannot change permissions or read others' explanations.
        let (status, body) = call(
            &server,
            "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
            ANALYST,
            ANALYST_PASSWORD,
            json!({"principal": ANALYST, "principalType": "User", "resource": "*", "type": "PropertyWrite", "allow": true}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.to_string()
                .contains("Not authorized for Update on * in SensorDataStream"),
            "{body}"
        );
        let (status, _) = call(
            &server,
            "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionRunTimePermission",
            ANALYST,
            ANALYST_PASSWORD,
            json!({"collectionName": "Things", "principal": ANALYST, "principalType": "User", "resource": "*", "type": "PropertyWrite", "allow": true}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            &server,
            EXPLAIN,
            ANALYST,
            ANALYST_PASSWORD,
            json!({"user": ADMIN_USER, "entityType": "Things", "entityName": "SensorDataStream", "permission": "PropertyRead"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Bad input is a 400 that says what is wrong.
        for (body, needle) in [
            (
                json!({"principal": "DataAnalyst", "principalType": "Group", "type": "Execute", "allow": true}),
                "unknown permission",
            ),
            (
                json!({"principal": "DataAnalyst", "principalType": "Group", "type": "Read", "allow": true}),
                "not a run-time permission",
            ),
            (
                json!({"principal": "Ghost", "principalType": "Group", "type": "PropertyRead", "allow": true}),
                "unknown principal",
            ),
            (
                json!({"principalType": "Group", "type": "PropertyRead", "allow": true}),
                "missing parameter 'principal'",
            ),
            (
                json!({"principal": "DataAnalyst", "principalType": "Group", "type": "PropertyRead"}),
                "missing parameter 'allow'",
            ),
        ] {
            let (status, answer) = call(
                &server,
                "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
                ADMIN_USER,
                ADMIN_PASSWORD,
                body,
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert!(
                answer.to_string().contains(needle),
                "{answer} lacks {needle}"
            );
        }

        // Take away collection visibility from Everyone: the Thing no longer exists for the
        // analyst, on every route, exactly like a Thing that does not exist.
        let (status, body) = call(
            &server,
            "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
            ADMIN_USER,
            ADMIN_PASSWORD,
            json!({"collectionName": "Things", "principal": "Everyone", "principalType": "Organization"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hidden = get(&server, PROPERTY, ANALYST, ANALYST_PASSWORD).await;
        let missing = get(
            &server,
            "/Thingworx/Things/NoSuchThing/Properties/Temperature",
            ANALYST,
            ANALYST_PASSWORD,
        )
        .await;
        assert_eq!(hidden.0, StatusCode::NOT_FOUND, "{backend}: {}", hidden.1);
        assert_eq!(
            hidden, missing,
            "an invisible Thing answers exactly like a missing one"
        );
        assert!(hidden.1.contains("Entity Not Found"));
        for (path, body) in [
            (
                EXPLAIN,
                json!({"entityType": "Things", "entityName": "SensorDataStream", "permission": "PropertyRead"}),
            ),
            (
                "/Thingworx/Things/SensorDataStream/Services/CheckPermission",
                json!({"name": "Temperature", "type": "PropertyRead"}),
            ),
        ] {
            let (status, _) = call(&server, path, ANALYST, ANALYST_PASSWORD, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        // The administrator still sees why.
        let (_, explanation) = call(
            &server,
            EXPLAIN,
            ADMIN_USER,
            ADMIN_PASSWORD,
            json!({"user": ANALYST, "entityType": "Things", "entityName": "SensorDataStream", "permission": "PropertyRead", "resource": "Temperature"}),
        )
        .await;
        let row = decisive(&explanation);
        assert_eq!(
            (row["layer"].as_str(), row["effect"].as_str()),
            (Some("Visibility"), Some("DENY"))
        );
        assert!(
            row["detail"].as_str().expect("detail").contains("404"),
            "{row}"
        );

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// Two server processes on one database: a deny written through one is enforced by the other
/// on its next request. On PostgreSQL this is how users scale out; on SQLite the same holds for
/// two processes sharing the file.
#[tokio::test]
async fn a_deny_written_through_one_server_is_enforced_by_the_other() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[]).await;
        let b = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed(&conn).await;
        let grant = json!({"principal": "DataAnalyst", "principalType": "Group", "resource": "Temperature", "type": "PropertyRead", "allow": true});
        let (status, _) = call(
            &a,
            "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
            ADMIN_USER,
            ADMIN_PASSWORD,
            grant,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            get(&b, PROPERTY, ANALYST, ANALYST_PASSWORD).await.0,
            StatusCode::OK,
            "{backend}: B sees A's grant"
        );

        for round in 0..5 {
            // A deny for the user on the same row beats the group's allow.
            let deny = json!({"principal": ANALYST, "principalType": "User", "resource": "Temperature", "type": "PropertyRead", "allow": false});
            let (status, _) = call(
                &a,
                "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
                ADMIN_USER,
                ADMIN_PASSWORD,
                deny,
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let (status, body) = get(&b, PROPERTY, ANALYST, ANALYST_PASSWORD).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{backend} round {round}: B served a stale allow: {body}"
            );
            // Lifted through B, enforced by A.
            let lift = json!({"principal": ANALYST, "principalType": "User", "resource": "Temperature", "type": "PropertyRead"});
            let (status, _) = call(
                &b,
                "/Thingworx/Things/SensorDataStream/Services/DeleteRunTimePermission",
                ADMIN_USER,
                ADMIN_PASSWORD,
                lift,
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                get(&a, PROPERTY, ANALYST, ANALYST_PASSWORD).await.0,
                StatusCode::OK,
                "{backend} round {round}"
            );
        }
        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// On PostgreSQL a server learns of another server's change from a notification, without
/// waiting for a request of its own: its index is rebuilt as soon as the change commits.
#[tokio::test]
async fn postgres_notifications_rebuild_the_index_of_other_servers() {
    if !backends().contains(&ironworx_tests::Backend::Postgres) {
        return;
    }
    let db = TestDb::create(ironworx_tests::Backend::Postgres).await;
    let debug = [("RUST_LOG", "info,ironworx_server::live_index=debug")];
    let a = TestServer::start(&db, &debug).await;
    let b = TestServer::start(&db, &debug).await;
    let conn = connect(&db).await;
    seed(&conn).await;
    let rebuilt = |s: &TestServer| s.stderr().matches("authorization index rebuilt").count();
    // Let B settle after the seeding writes, then change something through A only.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = rebuilt(&b);
    let grant = json!({"principal": "DataAnalyst", "principalType": "Group", "resource": "*", "type": "PropertyRead", "allow": true});
    let (status, _) = call(
        &a,
        "/Thingworx/Things/SensorDataStream/Services/AddRunTimePermission",
        ADMIN_USER,
        ADMIN_PASSWORD,
        grant,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while rebuilt(&b) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "B never rebuilt its index without a request:\n{}",
            b.stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(a.stop().await.success());
    assert!(b.stop().await.success());
    conn.close().await.expect("close");
    db.drop_database().await;
}
