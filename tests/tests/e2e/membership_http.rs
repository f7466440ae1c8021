//! Membership and ownership over HTTP: group and organization services, `SetOwner` and
//! `SetEntityPermission`, each refused to a caller without the right and taking effect on the
//! very next request.

use ironworx_entity::queries::data;
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::schema::property_values;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const ALICE: (&str, &str) = ("alice", "alice-password-1");
const BOB: (&str, &str) = ("bob", "bob-password-123");
const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ENTITY_SERVICES: &str = "/Thingworx/Resources/EntityServices/Services";

/// A stream Thing with a Temperature value, in `project` (or none) with `tags`.
async fn thing(db: &DatabaseConnection, name: &str, project: &str, tags: &str) {
    let row = models::create_thing(
        db,
        name,
        &EntityFields {
            project_name: project.into(),
            tags: tags.into(),
            ..EntityFields::default()
        },
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
            entity_id: row.id,
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

async fn call(
    server: &TestServer,
    who: (&str, &str),
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    ironworx_tests::post_json(server, who, path, body).await
}

async fn read_property(server: &TestServer, who: (&str, &str), thing: &str) -> StatusCode {
    server
        .client()
        .get(server.url(&format!("/Thingworx/Things/{thing}/Properties/Temperature")))
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .expect("request")
        .status()
}

async fn create(server: &TestServer, kind: &str, body: Value) {
    let (s, b) = call(
        server,
        ADMIN,
        &format!("{ENTITY_SERVICES}/Create{kind}"),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "Create{kind}: {b}");
}

fn rows(v: &Value) -> Vec<Value> {
    v["rows"].as_array().expect("rows").clone()
}

async fn setup(backend: ironworx_tests::Backend) -> (TestDb, TestServer, DatabaseConnection) {
    let db = TestDb::create(backend).await;
    let server = TestServer::start(&db, &[]).await;
    let conn = connect(&db).await;
    for (name, password) in [ALICE, BOB] {
        ironworx_tests::create_user(&conn, name, password).await;
    }
    (db, server, conn)
}

#[tokio::test]
async fn group_membership_takes_effect_on_the_next_request() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;
        thing(&conn, "Pump1", "", "").await;
        create(&server, "Group", json!({ "name": "Operators" })).await;
        create(&server, "Group", json!({ "name": "Inner" })).await;
        let (s, b) = call(
            &server,
            ADMIN,
            "/Thingworx/Things/Pump1/Services/AddRunTimePermission",
            json!({"principal": "Operators", "principalType": "Group", "resource": "*",
                   "type": "PropertyRead", "allow": true}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            read_property(&server, ALICE, "Pump1").await,
            StatusCode::FORBIDDEN
        );

        let add = "/Thingworx/Groups/Operators/Services/AddMember";
        let delete = "/Thingworx/Groups/Operators/Services/DeleteMember";
        let list = "/Thingworx/Groups/Operators/Services/GetGroupMembers";
        let alice = json!({"member": "alice", "type": "User"});

        // Without design-time Update on the group, bob can neither change nor read it.
        let (s, b) = call(&server, BOB, add, alice.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}: {b}");
        assert!(b.to_string().contains("Not authorized for Update"), "{b}");
        let (s, _) = call(&server, BOB, list, json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(
            read_property(&server, ALICE, "Pump1").await,
            StatusCode::FORBIDDEN
        );

        // Bad input changes nothing.
        for body in [
            json!({"member": "nobody", "type": "User"}),
            json!({"member": "alice", "type": "Robot"}),
            json!({"type": "User"}),
            json!({"member": "Operators", "type": "Group"}),
        ] {
            let (s, b) = call(&server, ADMIN, add, body.clone()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {body} -> {b}");
        }

        // Granted design-time Update, bob adds alice; she reads on the very next request.
        let (s, b) = call(
            &server,
            ADMIN,
            "/Thingworx/Groups/Operators/Services/AddDesignTimePermission",
            json!({"principal": "bob", "principalType": "User", "type": "Update", "allow": true}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = call(&server, BOB, add, alice.clone()).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {b}");
        assert_eq!(read_property(&server, ALICE, "Pump1").await, StatusCode::OK);

        // Nesting, and the cycle it would make refused.
        let (s, b) = call(
            &server,
            ADMIN,
            add,
            json!({"member": "Inner", "type": "Group"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = call(
            &server,
            ADMIN,
            "/Thingworx/Groups/Inner/Services/AddMember",
            json!({"member": "Operators", "type": "Group"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {b}");

        let (s, members) = call(&server, ADMIN, list, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{members}");
        let pairs: Vec<(String, String)> = rows(&members)
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or("").to_owned(),
                    r["type"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("alice".to_owned(), "User".to_owned()),
                ("Inner".to_owned(), "Group".to_owned())
            ],
            "{backend}"
        );

        // Removed: refused on the very next request.
        let (s, b) = call(&server, ADMIN, delete, alice.clone()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            read_property(&server, ALICE, "Pump1").await,
            StatusCode::FORBIDDEN
        );

        // A member of a nested group reads through it.
        let (s, b) = call(
            &server,
            ADMIN,
            "/Thingworx/Groups/Inner/Services/AddMember",
            alice.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(read_property(&server, ALICE, "Pump1").await, StatusCode::OK);

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

#[tokio::test]
async fn organization_units_and_members() {
    for backend in backends() {
        let (db, server, _conn) = setup(backend).await;
        create(&server, "Organization", json!({ "name": "Acme" })).await;
        let org = "/Thingworx/Organizations/Acme/Services";

        let unit = json!({"parentName": "Acme", "name": "Sales"});
        let (s, _) = call(
            &server,
            BOB,
            &format!("{org}/AddOrganizationalUnit"),
            unit.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        let (s, b) = call(
            &server,
            ADMIN,
            &format!("{org}/AddOrganizationalUnit"),
            json!({"parentName": "NoSuchUnit", "name": "Sales"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {b}");
        let (s, b) = call(
            &server,
            ADMIN,
            &format!("{org}/AddOrganizationalUnit"),
            unit,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");

        let member = json!({"name": "Sales", "member": "alice", "type": "User"});
        let (s, _) = call(&server, BOB, &format!("{org}/AddMember"), member.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        let (s, b) = call(
            &server,
            ADMIN,
            &format!("{org}/AddMember"),
            json!({"name": "Sales", "member": "nobody", "type": "User"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {b}");
        let (s, b) = call(&server, ADMIN, &format!("{org}/AddMember"), member.clone()).await;
        assert_eq!(s, StatusCode::OK, "{b}");

        let orgs = "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizations";
        let (_, mine) = call(&server, ALICE, orgs, json!({})).await;
        assert!(
            rows(&mine).iter().any(|r| r["name"] == "Acme"),
            "{backend}: {mine}"
        );

        let (s, _) = call(
            &server,
            BOB,
            &format!("{org}/GetMembers"),
            json!({"name": "Sales"}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        let (s, members) = call(
            &server,
            ADMIN,
            &format!("{org}/GetMembers"),
            json!({"name": "Sales"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{members}");
        assert_eq!(rows(&members).len(), 1);
        assert_eq!(rows(&members)[0]["name"], "alice");
        assert_eq!(rows(&members)[0]["type"], "User");

        let (s, _) = call(
            &server,
            BOB,
            &format!("{org}/GetOrganizationConnections"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        let (s, conns) = call(
            &server,
            ADMIN,
            &format!("{org}/GetOrganizationConnections"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{conns}");
        let conns = rows(&conns);
        assert!(
            conns.contains(
                &json!({"from": "Acme", "to": "Sales", "connectionType": "Organization"})
            ),
            "{conns:?}"
        );
        assert!(
            conns.contains(&json!({"from": "Sales", "to": "alice", "connectionType": "User"})),
            "{conns:?}"
        );

        let (s, b) = call(&server, ADMIN, &format!("{org}/DeleteMember"), member).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, mine) = call(&server, ALICE, orgs, json!({})).await;
        assert!(
            !rows(&mine).iter().any(|r| r["name"] == "Acme"),
            "{backend}: {mine}"
        );

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

#[tokio::test]
async fn set_owner_is_for_security_administrators() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;
        thing(&conn, "Pump1", "", "").await;
        let set_owner = "/Thingworx/Things/Pump1/Services/SetOwner";
        assert_eq!(
            read_property(&server, BOB, "Pump1").await,
            StatusCode::FORBIDDEN
        );

        let (s, b) = call(&server, BOB, set_owner, json!({"name": "bob"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}: {b}");
        assert_eq!(
            read_property(&server, BOB, "Pump1").await,
            StatusCode::FORBIDDEN
        );
        let (s, b) = call(&server, ADMIN, set_owner, json!({"name": "nobody"})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {b}");

        let (s, b) = call(
            &server,
            ADMIN,
            set_owner,
            json!({"name": "bob", "type": "User"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // The owner has every right, on the very next request.
        assert_eq!(read_property(&server, BOB, "Pump1").await, StatusCode::OK);

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

async fn permitted(server: &TestServer, thing: &str, user: &str, kind: &str) -> bool {
    let (s, b) = call(
        server,
        ADMIN,
        &format!("/Thingworx/Things/{thing}/Services/CheckPermissionForUser"),
        json!({"name": "*", "type": kind, "user": user}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["rows"][0]["result"] == json!(true)
}

const RUN_TIME: [&str; 5] = [
    "PropertyRead",
    "PropertyWrite",
    "ServiceInvoke",
    "EventInvoke",
    "EventSubscribe",
];

#[tokio::test]
async fn set_entity_permission_on_a_project_and_on_tags() {
    for backend in backends() {
        let (db, server, conn) = setup(backend).await;
        create(&server, "Project", json!({ "name": "Plant" })).await;
        create(&server, "Group", json!({ "name": "Operators" })).await;
        thing(&conn, "Pump1", "Plant", "").await;
        thing(&conn, "Pump2", "Plant", "").await;
        thing(&conn, "Outside", "", "").await;
        thing(&conn, "Tagged", "", "Site:North").await;
        let set = format!("{ENTITY_SERVICES}/SetEntityPermission");
        let grant = json!({"name": "bob", "type": "User", "allow": true, "projectName": "Plant"});

        // Only security administrators; bad input changes nothing.
        let (s, b) = call(&server, ALICE, &set, grant.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}: {b}");
        for body in [
            json!({"name": "bob", "type": "User", "allow": true}),
            json!({"name": "nobody", "type": "User", "allow": true, "projectName": "Plant"}),
            json!({"name": "bob", "type": "Robot", "allow": true, "projectName": "Plant"}),
            json!({"name": "bob", "type": "User", "projectName": "Plant"}),
            json!({"name": "bob", "type": "User", "allow": true, "projectName": "NoSuchProject"}),
            json!({"name": "bob", "type": "User", "allow": true, "tags": "no-colon"}),
        ] {
            let (s, b) = call(&server, ADMIN, &set, body.clone()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {body} -> {b}");
        }
        for kind in RUN_TIME {
            assert!(
                !permitted(&server, "Pump1", "bob", kind).await,
                "{backend}: {kind}"
            );
        }
        assert_eq!(
            read_property(&server, BOB, "Pump1").await,
            StatusCode::FORBIDDEN
        );

        let (s, b) = call(&server, ADMIN, &set, grant).await;
        assert_eq!(s, StatusCode::OK, "{backend}: {b}");
        for thing in ["Pump1", "Pump2"] {
            for kind in RUN_TIME {
                assert!(
                    permitted(&server, thing, "bob", kind).await,
                    "{backend}: {thing} {kind}"
                );
            }
        }
        for kind in RUN_TIME {
            assert!(
                !permitted(&server, "Outside", "bob", kind).await,
                "{backend}: {kind}"
            );
            assert!(
                !permitted(&server, "Tagged", "bob", kind).await,
                "{backend}: {kind}"
            );
        }
        assert_eq!(read_property(&server, BOB, "Pump2").await, StatusCode::OK);
        assert_eq!(
            read_property(&server, BOB, "Outside").await,
            StatusCode::FORBIDDEN
        );

        // By tag, for a group: a grant, then a deny that replaces it.
        let (s, b) = call(
            &server,
            ADMIN,
            "/Thingworx/Groups/Operators/Services/AddMember",
            json!({"member": "alice", "type": "User"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let by_tag = |allow: bool| json!({"name": "Operators", "type": "Group", "allow": allow, "tags": "Site:North"});
        let (s, b) = call(&server, ADMIN, &set, by_tag(true)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            read_property(&server, ALICE, "Tagged").await,
            StatusCode::OK
        );
        assert_eq!(
            read_property(&server, ALICE, "Pump1").await,
            StatusCode::FORBIDDEN
        );
        let (s, b) = call(&server, ADMIN, &set, by_tag(false)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        for kind in RUN_TIME {
            assert!(
                !permitted(&server, "Tagged", "alice", kind).await,
                "{backend}: {kind}"
            );
        }
        assert_eq!(
            read_property(&server, ALICE, "Tagged").await,
            StatusCode::FORBIDDEN
        );

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

async fn effective(server: &TestServer, who: (&str, &str), service: &str, body: Value) -> Value {
    let (s, b) = call(
        server,
        who,
        &format!("/Thingworx/Resources/RuntimeLocalizationFunctions/Services/{service}"),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["rows"][0]["result"].clone()
}

#[tokio::test]
async fn localization_fallback_order() {
    for backend in backends() {
        let (db, server, _conn) = setup(backend).await;
        for table in ["de", "pt", "Default"] {
            let (s, b) = call(
                &server,
                ADMIN,
                &format!("{ENTITY_SERVICES}/CreateLocalizationTable"),
                json!({ "name": table }),
            )
            .await;
            assert!(
                s == StatusCode::OK || s == StatusCode::CONFLICT,
                "{backend}: {table}: {b}"
            );
        }
        let add = |table: &str| {
            format!("/Thingworx/LocalizationTables/{table}/Services/AddOrUpdateToken")
        };
        let (s, b) = call(
            &server,
            BOB,
            &add("de"),
            json!({"name": "greeting", "value": "Hallo"}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}: {b}");
        let (s, b) = call(&server, ADMIN, &add("de"), json!({"value": "Hallo"})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{backend}: {b}");
        for (table, name, value) in [
            ("de", "greeting", "Hallo"),
            ("pt", "greeting", "Ola"),
            ("Default", "greeting", "Hello"),
            ("Default", "only", "DefaultOnly"),
        ] {
            let (s, b) = call(
                &server,
                ADMIN,
                &add(table),
                json!({"name": name, "value": value}),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{backend}: {b}");
        }
        let prefs = "/Thingworx/Users/alice/Services/SetLanguagePreferences";
        let (s, b) = call(&server, ALICE, prefs, json!({"preferences": "fr,de"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let token = |t: &str| json!({ "token": t });
        assert_eq!(
            effective(&server, ALICE, "GetEffectiveToken", token("greeting")).await,
            "Hallo"
        );
        assert_eq!(
            effective(&server, ALICE, "GetEffectiveToken", token("only")).await,
            "DefaultOnly"
        );
        // No guessing from pt-BR to pt.
        let (s, b) = call(&server, ALICE, prefs, json!({"preferences": "pt-BR"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            effective(&server, ALICE, "GetEffectiveToken", token("greeting")).await,
            "Hello"
        );
        assert_eq!(
            effective(
                &server,
                BOB,
                "GetEffectiveTokenForLanguage",
                json!({"language": "pt", "token": "greeting"})
            )
            .await,
            "Ola"
        );
        // An update replaces the value on the next request.
        let (s, b) = call(
            &server,
            ADMIN,
            &add("pt"),
            json!({"name": "greeting", "value": "Oi"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            effective(
                &server,
                BOB,
                "GetEffectiveTokenForLanguage",
                json!({"language": "pt", "token": "greeting"})
            )
            .await,
            "Oi"
        );
        assert_eq!(
            effective(&server, BOB, "GetEffectiveToken", token("missing")).await,
            "???missing???"
        );

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
