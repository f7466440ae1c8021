//! Whole permission sets over HTTP: `Get…Permissions`, `Get…PermissionsAsJSON`,
//! `Set…PermissionsAsJSON` (own and instance, text or object form), `GetCollection…Permissions`
//! and `GetPermissionsFor…`; each refused to a caller without the right, a bad document
//! changing nothing, and a replaced set enforced on the very next request.

use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestServer, backends, connect};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ALICE: (&str, &str) = ("alice", "alice-password-1");
const BOB: (&str, &str) = ("bob", "bob-password-123");
const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const PUMP: &str = "/Thingworx/Things/Pump1/Services";

async fn call(
    server: &TestServer,
    who: (&str, &str),
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    ironworx_tests::post_json(server, who, path, body).await
}

async fn ok(server: &TestServer, who: (&str, &str), path: &str, body: Value) -> Value {
    let (status, body) = call(server, who, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn get(server: &TestServer, who: (&str, &str), path: &str) -> StatusCode {
    server
        .client()
        .get(server.url(path))
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .expect("request")
        .status()
}

fn rows(v: &Value) -> Vec<Value> {
    v["rows"].as_array().expect("rows").clone()
}

/// The sorted (resource, kind, principal, allow) cells of a `GetRunTimePermissions` table.
fn run_time_cells(table: &Value) -> Vec<(String, String, String, bool)> {
    let mut cells: Vec<_> = rows(table)
        .iter()
        .map(|r| {
            (
                r["resourceName"].as_str().unwrap_or_default().to_owned(),
                r["permissionName"].as_str().unwrap_or_default().to_owned(),
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["isPermitted"].as_bool().expect("isPermitted"),
            )
        })
        .collect();
    cells.sort();
    cells
}

fn cell(
    resource: &str,
    kind: &str,
    principal: &str,
    allow: bool,
) -> (String, String, String, bool) {
    (resource.into(), kind.into(), principal.into(), allow)
}

/// Pump1 (with properties Temperature and Pressure and a service Reset), PumpTemplate,
/// PumpShape, the group Operators holding alice.
async fn setup(server: &TestServer) {
    let services = "/Thingworx/Resources/EntityServices/Services";
    ok(
        server,
        ADMIN,
        &format!("{services}/CreateThingTemplate"),
        json!({"name": "PumpTemplate", "baseThingTemplateName": "GenericThing"}),
    )
    .await;
    ok(
        server,
        ADMIN,
        &format!("{services}/CreateThingShape"),
        json!({"name": "PumpShape"}),
    )
    .await;
    ok(
        server,
        ADMIN,
        &format!("{services}/CreateThing"),
        json!({"name": "Pump1", "thingTemplateName": "PumpTemplate"}),
    )
    .await;
    ok(
        server,
        ADMIN,
        &format!("{services}/CreateGroup"),
        json!({"name": "Operators"}),
    )
    .await;
    ok(
        server,
        ADMIN,
        "/Thingworx/Groups/Operators/Services/AddMember",
        json!({"member": "alice", "type": "User"}),
    )
    .await;
    for (property, base_type) in [("Temperature", "NUMBER"), ("Pressure", "NUMBER")] {
        ok(
            server,
            ADMIN,
            &format!("{PUMP}/AddPropertyDefinition"),
            json!({"name": property, "type": base_type}),
        )
        .await;
    }
}

#[tokio::test]
async fn run_time_sets_read_replace_and_enforce() {
    for backend in backends() {
        let db = ironworx_tests::TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        for (name, password) in [ALICE, BOB] {
            ironworx_tests::create_user(&conn, name, password).await;
        }
        setup(&server).await;
        let temperature = "/Thingworx/Things/Pump1/Properties/Temperature";

        for (resource, kind, allow) in [
            ("*", "PropertyRead", true),
            ("Reset", "ServiceInvoke", false),
        ] {
            ok(
                &server,
                ADMIN,
                &format!("{PUMP}/AddRunTimePermission"),
                json!({"principal": "Operators", "principalType": "Group", "resource": resource,
                       "type": kind, "allow": allow}),
            )
            .await;
        }
        assert_eq!(
            get(&server, ALICE, temperature).await,
            StatusCode::OK,
            "{backend}"
        );

        // The InfoTable and the JSON document say the same.
        let table = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(
            run_time_cells(&table),
            vec![
                cell("*", "PropertyRead", "Operators", true),
                cell("Reset", "ServiceInvoke", "Operators", false)
            ],
            "{backend}"
        );
        let doc = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetRunTimePermissionsAsJSON"),
            json!({}),
        )
        .await;
        let blocks = doc["rows"][0]["result"]["permissions"]
            .as_array()
            .expect("blocks")
            .clone();
        assert_eq!(blocks.len(), 2, "{doc}");
        assert_eq!(blocks[0]["resourceName"], "*");
        assert_eq!(
            blocks[0]["PropertyRead"],
            json!([{"isPermitted": true, "name": "Operators", "type": "Group"}])
        );
        assert_eq!(blocks[0]["EventSubscribe"], json!([]));
        assert_eq!(blocks[1]["resourceName"], "Reset");
        assert_eq!(blocks[1]["ServiceInvoke"][0]["isPermitted"], false);

        // Without design-time Read (and not a security administrator): refused, set unchanged.
        let (status, body) = call(
            &server,
            BOB,
            &format!("{PUMP}/GetRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.to_string().contains("Not authorized for Read"),
            "{body}"
        );
        let deny_all = json!({"permissions": [{"resourceName": "*",
            "PropertyRead": [{"isPermitted": false, "name": "Operators", "type": "Group"}]}]});
        let (status, body) = call(
            &server,
            BOB,
            &format!("{PUMP}/SetRunTimePermissionsAsJSON"),
            json!({"permissions": deny_all.to_string()}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.to_string().contains("Not authorized for Update"),
            "{body}"
        );

        // Bad documents: 400 and nothing changes.
        for bad in [
            json!({"permissions": [{"resourceName": "*", "PropertyRead": [{"isPermitted": true, "name": "Nobody", "type": "Group"}]}]}),
            json!({"permissions": [{"resourceName": "*", "PropertyRead": [
                {"isPermitted": true, "name": "Operators", "type": "Group"},
                {"isPermitted": false, "name": "Operators", "type": "Group"}]}]}),
            json!({"permissions": [{"resourceName": "*", "Create": []}]}),
            json!("{not json"),
        ] {
            let (status, body) = call(
                &server,
                ADMIN,
                &format!("{PUMP}/SetRunTimePermissionsAsJSON"),
                json!({"permissions": bad}),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let table = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(run_time_cells(&table).len(), 2, "{backend}: {table}");

        // Replace with the text form (as ThingWorx clients send it): the next request is denied.
        ok(
            &server,
            ADMIN,
            &format!("{PUMP}/SetRunTimePermissionsAsJSON"),
            json!({"permissions": deny_all.to_string()}),
        )
        .await;
        let table = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(
            run_time_cells(&table),
            vec![cell("*", "PropertyRead", "Operators", false)]
        );
        assert_eq!(
            get(&server, ALICE, temperature).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );

        // GetPermissionsFor…: one row per defined property.
        let (status, body) = call(
            &server,
            BOB,
            &format!("{PUMP}/GetPermissionsForUser"),
            json!({"user": "alice", "name": "*", "permissionName": "PropertyRead"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let mine = ok(
            &server,
            ALICE,
            &format!("{PUMP}/GetPermissionsForCurrentUser"),
            json!({"name": "*", "permissionName": "PropertyRead"}),
        )
        .await;
        let names: Vec<_> = rows(&mine)
            .iter()
            .map(|r| (r["name"].clone(), r["isPermitted"].clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                (json!("Temperature"), json!(false)),
                (json!("Pressure"), json!(false))
            ]
        );
        ok(&server, ADMIN, &format!("{PUMP}/SetRunTimePermissionsAsJSON"),
            json!({"permissions": {"permissions": [
                {"resourceName": "*", "PropertyRead": [{"isPermitted": true, "name": "Operators", "type": "Group"}]},
                {"resourceName": "Pressure", "PropertyRead": [{"isPermitted": false, "name": "alice", "type": "User"}]}]}})).await;
        let theirs = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetPermissionsForUser"),
            json!({"user": "alice", "name": "*", "permissionName": "PropertyRead"}),
        )
        .await;
        let names: Vec<_> = rows(&theirs)
            .iter()
            .map(|r| (r["name"].clone(), r["isPermitted"].clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                (json!("Temperature"), json!(true)),
                (json!("Pressure"), json!(false))
            ]
        );
        let one = ok(
            &server,
            ALICE,
            &format!("{PUMP}/GetPermissionsForCurrentUser"),
            json!({"name": "Pressure", "permissionName": "PropertyRead"}),
        )
        .await;
        assert_eq!(
            rows(&one),
            vec![json!({"name": "Pressure", "isPermitted": false})]
        );
        assert_eq!(
            get(&server, ALICE, temperature).await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            get(
                &server,
                ALICE,
                "/Thingworx/Things/Pump1/Properties/Pressure"
            )
            .await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        let (status, _) = call(
            &server,
            ALICE,
            &format!("{PUMP}/GetPermissionsForCurrentUser"),
            json!({"name": "*"}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "permissionName is required"
        );

        // …ForGroup: a group as the subject, with the groups it is in; security administrators.
        ok(
            &server,
            ADMIN,
            "/Thingworx/Resources/EntityServices/Services/CreateGroup",
            json!({"name": "NightShift"}),
        )
        .await;
        ok(
            &server,
            ADMIN,
            "/Thingworx/Groups/Operators/Services/AddMember",
            json!({"member": "NightShift", "type": "Group"}),
        )
        .await;
        let check = |group: &'static str, name: &'static str| json!({"group": group, "name": name, "type": "PropertyRead"});
        for (group, resource, expected) in [
            ("Operators", "Temperature", true),
            ("NightShift", "Temperature", true),
            ("NightShift", "Pressure", true),
            ("Users", "Temperature", false),
        ] {
            let answer = ok(
                &server,
                ADMIN,
                &format!("{PUMP}/CheckPermissionForGroup"),
                check(group, resource),
            )
            .await;
            assert_eq!(
                answer["rows"][0]["result"],
                json!(expected),
                "{backend}: {group} {resource}"
            );
        }
        let rows_of = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetPermissionsForGroup"),
            json!({"group": "NightShift", "name": "*", "permissionName": "PropertyRead"}),
        )
        .await;
        assert_eq!(rows(&rows_of).len(), 2, "{backend}: {rows_of}");
        let answer = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/CheckDesignTimePermissionForGroup"),
            json!({"group": "Administrators", "type": "Delete"}),
        )
        .await;
        assert_eq!(
            answer["rows"][0]["result"],
            json!(true),
            "Administrators hold every right"
        );
        let (status, _) = call(
            &server,
            ALICE,
            &format!("{PUMP}/CheckPermissionForGroup"),
            check("Operators", "Temperature"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{backend}: a security administrator's question"
        );
        let (status, _) = call(
            &server,
            ADMIN,
            &format!("{PUMP}/CheckPermissionForGroup"),
            check("NoSuchGroup", "Temperature"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        server.stop().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn design_time_visibility_instance_and_collection_sets() {
    for backend in backends() {
        let db = ironworx_tests::TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        for (name, password) in [ALICE, BOB] {
            ironworx_tests::create_user(&conn, name, password).await;
        }
        setup(&server).await;

        // Design time, object form: alice may read the entity document on the next request.
        assert_eq!(
            get(&server, ALICE, "/Thingworx/Things/Pump1").await,
            StatusCode::FORBIDDEN
        );
        ok(&server, ADMIN, &format!("{PUMP}/SetDesignTimePermissionsAsJSON"),
            json!({"permissions": {"Create": [], "Read": [{"isPermitted": true, "name": "Operators", "type": "Group"}],
                   "Update": [], "Delete": [], "Metadata": []}})).await;
        assert_eq!(
            get(&server, ALICE, "/Thingworx/Things/Pump1").await,
            StatusCode::OK,
            "{backend}"
        );
        let doc = ok(
            &server,
            ALICE,
            &format!("{PUMP}/GetDesignTimePermissionsAsJSON"),
            json!({}),
        )
        .await;
        assert_eq!(
            doc["rows"][0]["result"],
            json!({"Create": [], "Read": [{"isPermitted": true, "name": "Operators", "type": "Group"}],
                   "Update": [], "Delete": [], "Metadata": []}),
            "{backend}"
        );
        let (status, _) = call(
            &server,
            ALICE,
            &format!("{PUMP}/SetDesignTimePermissionsAsJSON"),
            json!({"permissions": {"Read": []}}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "Read does not allow a change"
        );

        // Visibility: the set is grant-only; replacing it with an empty one hides nothing that
        // a collection rule still shows, and the document lists what was set.
        ok(
            &server,
            ADMIN,
            "/Thingworx/Resources/EntityServices/Services/CreateOrganization",
            json!({"name": "Acme"}),
        )
        .await;
        ok(&server, ADMIN, &format!("{PUMP}/SetVisibilityPermissionsAsJSON"),
            json!({"permissions": {"Visibility": [{"isPermitted": true, "name": "Acme", "type": "Organization"}]}})).await;
        let vis = ok(
            &server,
            ADMIN,
            &format!("{PUMP}/GetVisibilityPermissions"),
            json!({}),
        )
        .await;
        assert_eq!(
            rows(&vis),
            vec![
                json!({"isPermitted": true, "name": "Acme", "type": "Organization",
            "permissionName": "Visibility"})
            ],
            "{backend}"
        );
        let (status, _) = call(
            &server,
            ADMIN,
            &format!("{PUMP}/SetVisibilityPermissionsAsJSON"),
            json!({"permissions": {"Visibility": [{"name": "Operators", "type": "Group"}]}}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "visibility names organizations and units"
        );

        // Instance sets: templates carry all three, shapes run time only, Things none.
        let template = "/Thingworx/ThingTemplates/PumpTemplate/Services";
        ok(
            &server,
            ADMIN,
            &format!("{template}/SetInstanceRunTimePermissionsAsJSON"),
            json!({"permissions": {"permissions": [{"resourceName": "*",
                "PropertyRead": [{"isPermitted": true, "name": "Operators", "type": "Group"}]}]}}),
        )
        .await;
        let inst = ok(
            &server,
            ADMIN,
            &format!("{template}/GetInstanceRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(
            run_time_cells(&inst),
            vec![cell("*", "PropertyRead", "Operators", true)]
        );
        let own = ok(
            &server,
            ADMIN,
            &format!("{template}/GetRunTimePermissions"),
            json!({}),
        )
        .await;
        assert!(
            rows(&own).is_empty(),
            "instance rules are not the template's own: {own}"
        );
        assert_eq!(
            get(
                &server,
                ALICE,
                "/Thingworx/Things/Pump1/Properties/Temperature"
            )
            .await,
            StatusCode::OK,
            "{backend}: the template's instance rule reaches the Thing"
        );
        let (status, _) = call(
            &server,
            ADMIN,
            "/Thingworx/ThingShapes/PumpShape/Services/SetInstanceDesignTimePermissionsAsJSON",
            json!({"permissions": {"Read": []}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = call(
            &server,
            ADMIN,
            &format!("{PUMP}/GetInstanceRunTimePermissions"),
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Collection sets: security administrators only.
        let collections = "/Thingworx/Resources/CollectionFunctions/Services";
        ok(
            &server,
            ADMIN,
            &format!("{collections}/AddCollectionRunTimePermission"),
            json!({"collectionName": "Things", "principal": "Operators", "principalType": "Group",
                   "resource": "Reset", "type": "ServiceInvoke", "allow": false}),
        )
        .await;
        let coll = ok(
            &server,
            ADMIN,
            &format!("{collections}/GetCollectionRunTimePermissions"),
            json!({"collectionName": "Things"}),
        )
        .await;
        assert!(
            run_time_cells(&coll).contains(&cell("Reset", "ServiceInvoke", "Operators", false)),
            "{coll}"
        );
        let (status, _) = call(
            &server,
            ALICE,
            &format!("{collections}/GetCollectionRunTimePermissions"),
            json!({"collectionName": "Things"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            &server,
            ADMIN,
            &format!("{collections}/GetCollectionRunTimePermissions"),
            json!({"collectionName": "Nowhere"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        server.stop().await;
        db.drop_database().await;
    }
}
