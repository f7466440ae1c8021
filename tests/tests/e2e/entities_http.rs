//! Entity CRUD over HTTP: the `EntityServices` creators and deleters of every kind, allowed for
//! the administrator and refused without a grant; taken and bad names; lists and documents that
//! only show what the caller may see; a document edited and saved back; and the owner's rights.

use ironworx_entity::queries::organizations;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ALICE: (&str, &str) = ("alice", "alice-password-1234");
const BOB: (&str, &str) = ("bob", "bob-password-123456");

const SERVICES: &str = "/Thingworx/Resources/EntityServices/Services";

async fn call(server: &TestServer, who: (&str, &str), service: &str, body: Value) -> StatusCode {
    ironworx_tests::post_json(server, who, &format!("{SERVICES}/{service}"), body)
        .await
        .0
}

async fn post(server: &TestServer, who: (&str, &str), path: &str, body: Value) -> StatusCode {
    ironworx_tests::post_json(server, who, path, body).await.0
}

async fn get(
    server: &TestServer,
    (user, password): (&str, &str),
    path: &str,
) -> (StatusCode, Value) {
    let res = server
        .client()
        .get(server.url(path))
        .basic_auth(user, Some(password))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("send the GET");
    let status = res.status();
    let text = res.text().await.expect("read the body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn put(
    server: &TestServer,
    (user, password): (&str, &str),
    path: &str,
    body: &Value,
) -> StatusCode {
    server
        .client()
        .put(server.url(path))
        .basic_auth(user, Some(password))
        .json(body)
        .send()
        .await
        .expect("send the PUT")
        .status()
}

async fn delete(server: &TestServer, (user, password): (&str, &str), path: &str) -> StatusCode {
    server
        .client()
        .delete(server.url(path))
        .basic_auth(user, Some(password))
        .header("Content-Type", "application/json")
        .send()
        .await
        .expect("send the DELETE")
        .status()
}

fn names(list: &Value) -> Vec<String> {
    list["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// One creation of each kind: (service, collection, name, parameters besides the name).
fn creations() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        (
            "CreateThing",
            "Things",
            "Pump1",
            json!({"thingTemplateName": "GenericThing", "description": "a pump", "tags": "Plant:North"}),
        ),
        (
            "CreateThingTemplate",
            "ThingTemplates",
            "PumpTemplate",
            json!({"baseThingTemplateName": "GenericThing"}),
        ),
        ("CreateThingShape", "ThingShapes", "PumpShape", json!({})),
        (
            "CreateDataShape",
            "DataShapes",
            "PumpReading",
            json!({"fields": {"dataShape": {"fieldDefinitions": {}}, "rows": [
                {"name": "pressure", "baseType": "NUMBER", "description": "bar"},
                {"name": "at", "baseType": "DATETIME"}
            ]}}),
        ),
        (
            "CreateUser",
            "Users",
            "carol",
            json!({"password": "carol-password-12345"}),
        ),
        ("CreateGroup", "Groups", "Operators", json!({})),
        (
            "CreateOrganization",
            "Organizations",
            "Acme",
            json!({"topOUName": "Acme", "topOUDescription": "all of Acme"}),
        ),
        ("CreateProject", "Projects", "PlantProject", json!({})),
        (
            "CreateLocalizationTable",
            "LocalizationTables",
            "fr",
            json!({}),
        ),
    ]
}

fn with_name(params: &Value, name: &str) -> Value {
    let mut params = params.clone();
    params["name"] = json!(name);
    params
}

#[tokio::test]
async fn entity_crud_over_http() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        for (name, password) in [ALICE, BOB] {
            ironworx_tests::create_user(&conn, name, password).await;
        }

        // Without Create nothing is created, whatever the kind.
        for (service, collection, name, params) in creations() {
            let s = call(&server, ALICE, service, with_name(&params, name)).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{backend} {service}");
            let (s, _) = get(&server, ADMIN, &format!("/Thingworx/{collection}/{name}")).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{backend} {service}");
        }

        // The administrator creates one of each; each is then listed and readable.
        for (service, collection, name, params) in creations() {
            let s = call(&server, ADMIN, service, with_name(&params, name)).await;
            assert_eq!(s, StatusCode::OK, "{backend} {service}");
            let (s, doc) = get(&server, ADMIN, &format!("/Thingworx/{collection}/{name}")).await;
            assert_eq!(s, StatusCode::OK, "{backend} {service}");
            assert_eq!(doc["name"], name, "{backend} {service}");
            assert_eq!(doc["owner"]["name"], ADMIN_USER, "{backend} {service}");
            let (s, list) = get(&server, ADMIN, &format!("/Thingworx/{collection}")).await;
            assert_eq!(s, StatusCode::OK, "{backend} {service}");
            assert!(
                names(&list).contains(&name.to_owned()),
                "{backend} {service}"
            );
        }
        let (_, pump) = get(&server, ADMIN, "/Thingworx/Things/Pump1").await;
        assert_eq!(pump["thingTemplate"], "GenericThing", "{backend}");
        assert_eq!(pump["description"], "a pump", "{backend}");
        assert_eq!(
            pump["tags"],
            json!([{"vocabulary": "Plant", "vocabularyTerm": "North"}]),
            "{backend}"
        );
        let (_, shape) = get(&server, ADMIN, "/Thingworx/DataShapes/PumpReading").await;
        assert_eq!(
            shape["fieldDefinitions"]["pressure"]["baseType"], "NUMBER",
            "{backend} {shape}"
        );
        let (_, template) = get(&server, ADMIN, "/Thingworx/ThingTemplates/PumpTemplate").await;
        assert_eq!(template["baseThingTemplate"], "GenericThing", "{backend}");
        // The new user logs in with the password it was given.
        let carol = ("carol", "carol-password-12345");
        let (s, _) = get(&server, carol, "/Thingworx/Things").await;
        assert_eq!(s, StatusCode::OK, "{backend}");

        // A taken name, a bad name, an unknown template, a weak password: nothing is written.
        let (_, _, _, thing) = &creations()[0];
        assert_eq!(
            call(&server, ADMIN, "CreateThing", with_name(thing, "Pump1")).await,
            StatusCode::CONFLICT,
            "{backend}"
        );
        assert_eq!(
            call(&server, ADMIN, "CreateThing", with_name(thing, "bad:name")).await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        assert_eq!(
            call(
                &server,
                ADMIN,
                "CreateThing",
                json!({"name": "Pump2", "thingTemplateName": "NoSuchTemplate"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        assert_eq!(
            call(
                &server,
                ADMIN,
                "CreateDataShape",
                json!({"name": "Broken", "fields": [{"name": "x", "baseType": "NOPE"}]}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        assert_eq!(
            call(
                &server,
                ADMIN,
                "CreateUser",
                json!({"name": "dave", "password": "short"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        for path in [
            "/Thingworx/Things/bad:name",
            "/Thingworx/Things/Pump2",
            "/Thingworx/DataShapes/Broken",
            "/Thingworx/Users/dave",
        ] {
            assert_eq!(
                get(&server, ADMIN, path).await.0,
                StatusCode::NOT_FOUND,
                "{backend} {path}"
            );
        }

        // Built-ins stay; a template in use stays.
        for path in [
            "/Thingworx/Users/Administrator",
            "/Thingworx/Users/System",
            "/Thingworx/ThingTemplates/GenericThing",
        ] {
            assert_eq!(
                delete(&server, ADMIN, path).await,
                StatusCode::BAD_REQUEST,
                "{backend} {path}"
            );
            assert_eq!(
                get(&server, ADMIN, path).await.0,
                StatusCode::OK,
                "{backend} {path}"
            );
        }
        assert_eq!(
            call(
                &server,
                ADMIN,
                "CreateThing",
                json!({"name": "Pump3", "thingTemplateName": "PumpTemplate"}),
            )
            .await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            call(
                &server,
                ADMIN,
                "DeleteThingTemplate",
                json!({"name": "PumpTemplate"})
            )
            .await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        assert_eq!(
            delete(&server, ADMIN, "/Thingworx/Things/Pump3").await,
            StatusCode::OK,
            "{backend}"
        );

        // Deleting needs Delete: refused for alice, done for the administrator, by service or
        // by the DELETE verb.
        for (i, (service, collection, name, _)) in creations().into_iter().enumerate() {
            let delete_service = service.replacen("Create", "Delete", 1);
            let path = format!("/Thingworx/{collection}/{name}");
            assert_eq!(
                call(&server, ALICE, &delete_service, json!({"name": name})).await,
                StatusCode::FORBIDDEN,
                "{backend} {delete_service}"
            );
            assert_eq!(
                delete(&server, ALICE, &path).await,
                StatusCode::FORBIDDEN,
                "{backend} {path}"
            );
            assert_eq!(
                get(&server, ADMIN, &path).await.0,
                StatusCode::OK,
                "{backend} {path}"
            );
            if name == "Acme" {
                continue;
            }
            let s = if i % 2 == 0 {
                call(&server, ADMIN, &delete_service, json!({"name": name})).await
            } else {
                delete(&server, ADMIN, &path).await
            };
            assert_eq!(s, StatusCode::OK, "{backend} {delete_service}");
            assert_eq!(
                get(&server, ADMIN, &path).await.0,
                StatusCode::NOT_FOUND,
                "{backend} {path}"
            );
        }
        assert_eq!(
            call(&server, ADMIN, "DeleteThing", json!({"name": "Pump1"})).await,
            StatusCode::NOT_FOUND,
            "{backend}"
        );

        // The document round trip: an organization's login prompt, edited and saved back.
        let (s, mut acme) = get(&server, ADMIN, "/Thingworx/Organizations/Acme").await;
        assert_eq!(s, StatusCode::OK, "{backend}");
        acme["loginPrompt"] = json!("Welcome to Acme");
        assert_eq!(
            put(&server, ALICE, "/Thingworx/Organizations/Acme", &acme).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        let mut renamed = acme.clone();
        renamed["name"] = json!("Other");
        assert_eq!(
            put(&server, ADMIN, "/Thingworx/Organizations/Acme", &renamed).await,
            StatusCode::BAD_REQUEST,
            "{backend}"
        );
        let (_, unchanged) = get(&server, ADMIN, "/Thingworx/Organizations/Acme").await;
        assert_eq!(unchanged["loginPrompt"], "", "{backend}");
        assert_eq!(
            put(&server, ADMIN, "/Thingworx/Organizations/Acme", &acme).await,
            StatusCode::OK,
            "{backend}"
        );
        let (_, saved) = get(&server, ADMIN, "/Thingworx/Organizations/Acme").await;
        assert_eq!(saved["loginPrompt"], "Welcome to Acme", "{backend}");
        assert_eq!(saved["owner"]["name"], ADMIN_USER, "{backend}");
        let page = server
            .client()
            .get(server.url("/Thingworx/FormLogin/Acme"))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("login page body");
        assert!(page.contains("Welcome to Acme"), "{backend}");

        // The creator owns what it creates: bob, granted Create on Things only, deletes his own
        // Thing without a Delete grant, but not alice's view of it.
        assert_eq!(
            call(
                &server,
                BOB,
                "CreateThing",
                json!({"name": "BobThing", "thingTemplateName": "GenericThing"}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        assert_eq!(
            post(
                &server,
                ADMIN,
                "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission",
                json!({"principal": "bob", "principalType": "User", "type": "Create",
                       "allow": true, "collectionName": "Things"}),
            )
            .await,
            StatusCode::OK,
            "{backend}"
        );
        for thing in ["BobThing", "BobThing2"] {
            assert_eq!(
                call(
                    &server,
                    BOB,
                    "CreateThing",
                    json!({"name": thing, "thingTemplateName": "GenericThing"}),
                )
                .await,
                StatusCode::OK,
                "{backend}"
            );
        }
        assert_eq!(
            call(&server, BOB, "CreateGroup", json!({"name": "BobGroup"}),).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        let (_, doc) = get(&server, ADMIN, "/Thingworx/Things/BobThing").await;
        assert_eq!(doc["owner"]["name"], "bob", "{backend}");
        assert_eq!(
            call(&server, ALICE, "DeleteThing", json!({"name": "BobThing"})).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        assert_eq!(
            call(&server, BOB, "DeleteThing", json!({"name": "BobThing"})).await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            delete(&server, BOB, "/Thingworx/Things/BobThing2").await,
            StatusCode::OK,
            "{backend}"
        );

        // Lists and documents show only what the caller may see: a Thing visible to Acme only.
        assert_eq!(
            call(
                &server,
                ADMIN,
                "CreateThing",
                json!({"name": "Hidden", "thingTemplateName": "GenericThing"}),
            )
            .await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            post(
                &server,
                ADMIN,
                "/Thingworx/Things/Hidden/Services/AddVisibilityPermission",
                json!({"principal": "Acme", "principalType": "Organization"}),
            )
            .await,
            StatusCode::OK,
            "{backend}"
        );
        let (_, list) = get(&server, ALICE, "/Thingworx/Things").await;
        assert!(names(&list).contains(&"Hidden".to_owned()), "{backend}");
        assert_eq!(
            post(
                &server,
                ADMIN,
                "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
                json!({"principal": "Everyone", "principalType": "Organization",
                       "collectionName": "Things"}),
            )
            .await,
            StatusCode::OK,
            "{backend}"
        );
        let (s, list) = get(&server, ALICE, "/Thingworx/Things").await;
        assert_eq!(s, StatusCode::OK, "{backend}");
        assert!(!names(&list).contains(&"Hidden".to_owned()), "{backend}");
        // GetEntityList filters the same way, then by name mask, tags and count.
        let entity_list = |who, body: Value| {
            let server = &server;
            async move {
                let (s, list) = ironworx_tests::post_json(
                    server,
                    who,
                    &format!("{SERVICES}/GetEntityList"),
                    body,
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{list}");
                names(&list)
            }
        };
        let hidden = "Hidden".to_owned();
        assert!(
            !entity_list(ALICE, json!({"type": "Thing"}))
                .await
                .contains(&hidden),
            "{backend}"
        );
        assert!(
            entity_list(ADMIN, json!({"type": "Things"}))
                .await
                .contains(&hidden),
            "{backend}"
        );
        assert_eq!(
            entity_list(ADMIN, json!({"type": "Thing", "nameMask": "hid*"})).await,
            vec![hidden.clone()]
        );
        assert!(
            entity_list(ALICE, json!({"type": "Thing", "nameMask": "hid*"}))
                .await
                .is_empty()
        );
        assert_eq!(
            call(&server, ADMIN, "CreateThing",
                json!({"name": "Tagged1", "thingTemplateName": "GenericThing", "tags": "Plant:South"})).await,
            StatusCode::OK
        );
        let tagged = entity_list(ADMIN, json!({"type": "Thing", "tags": "Plant:South"})).await;
        assert_eq!(tagged, vec!["Tagged1".to_owned()], "{backend}");
        assert_eq!(
            entity_list(ADMIN, json!({"type": "Thing", "maxItems": 1}))
                .await
                .len(),
            1
        );
        for bad in [
            json!({"type": "Gadget"}),
            json!({}),
            json!({"type": "Thing", "maxItems": 0}),
        ] {
            let (s, _) = ironworx_tests::post_json(
                &server,
                ADMIN,
                &format!("{SERVICES}/GetEntityList"),
                bad.clone(),
            )
            .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        }
        let (s, body) = get(&server, ALICE, "/Thingworx/Things/Hidden").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{backend}");
        assert!(!body.to_string().contains("Hidden"), "{backend}");
        assert_eq!(
            delete(&server, ALICE, "/Thingworx/Things/Hidden").await,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        let (_, list) = get(&server, ADMIN, "/Thingworx/Things").await;
        assert!(names(&list).contains(&"Hidden".to_owned()), "{backend}");
        // Once alice is in Acme, she sees it.
        organizations::add_unit_member(&conn, "Acme", "Acme", "alice", MemberType::User)
            .await
            .expect("alice joins Acme");
        let (_, list) = get(&server, ALICE, "/Thingworx/Things").await;
        assert!(names(&list).contains(&"Hidden".to_owned()), "{backend}");
        // Seen now, but reading its document still needs Read.
        let (s, _) = get(&server, ALICE, "/Thingworx/Things/Hidden").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
