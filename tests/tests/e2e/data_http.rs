//! Stream and DataTable Things and Thing events over HTTP: entries by time range, paged and
//! filtered; rows upserted by key, queried and deleted (a delete judging each row as another
//! writer committed it); wrong-typed values refused with nothing written; each service allowed
//! with a grant and denied without; events fired and received by a Server-Sent Events
//! subscriber; and invisible Things answering 404 everywhere.

use ironworx_entity::queries::data;
use ironworx_entity::queries::streams;
use ironworx_tests::model::{
    data_shape, data_thing as thing, event_definition, property_definition,
};
use ironworx_tests::sse::{EventStream, subscribe};
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ALICE: (&str, &str) = ("alice", "alice-password-1234");
const BOB: (&str, &str) = ("bob", "bob-password-12345");

async fn seed_users(db: &DatabaseConnection) {
    for (name, password) in [ALICE, BOB] {
        ironworx_tests::create_user(db, name, password).await;
    }
}

async fn call(
    server: &TestServer,
    who: (&str, &str),
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    ironworx_tests::post_json(server, who, path, body).await
}

async fn service(
    server: &TestServer,
    who: (&str, &str),
    thing: &str,
    name: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(
        server,
        who,
        &format!("/Thingworx/Things/{thing}/Services/{name}"),
        body,
    )
    .await
}

/// The administrator grants (or denies) `kind` on `resource` of `thing` to user `user`.
async fn grant(server: &TestServer, thing: &str, user: &str, kind: &str, resource: &str) {
    let (status, body) = service(
        server,
        ADMIN,
        thing,
        "AddRunTimePermission",
        json!({"principal": user, "principalType": "User", "resource": resource, "type": kind, "allow": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "grant {kind}: {body}");
}

fn rows(table: &Value) -> Vec<Value> {
    table["rows"].as_array().expect("rows").clone()
}

fn column(table: &Value, field: &str) -> Vec<Value> {
    rows(table).iter().map(|r| r[field].clone()).collect()
}

fn assert_forbidden(
    status: StatusCode,
    body: &Value,
    permission: &str,
    resource: &str,
    thing: &str,
) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let expected = format!("Not authorized for {permission} on {resource} in {thing}");
    assert_eq!(body["message"], json!(expected), "{body}");
}

/// Removes collection visibility on Things from organization `Everyone`: no Thing is visible
/// to a user who is not an administrator any more.
async fn hide_things(server: &TestServer) {
    let (status, body) = call(
        server,
        ADMIN,
        "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
        json!({"collectionName": "Things", "principal": "Everyone", "principalType": "Organization"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

const STREAM_SERVICES: &[&str] = &[
    "AddStreamEntry",
    "GetStreamEntriesWithData",
    "QueryStreamEntriesWithData",
    "PurgeStreamEntries",
];

#[tokio::test]
async fn stream_entries_by_time_range_paged_and_filtered() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed_users(&conn).await;
        data_shape(
            &conn,
            "Reading",
            &[
                ("temperature", "NUMBER", false),
                ("label", "STRING", false),
                ("ok", "BOOLEAN", false),
            ],
        )
        .await;
        let id = thing(&conn, "Sensors", "Stream", "Reading").await;

        // Without a grant every service is a 403 naming ServiceInvoke and the service.
        for name in STREAM_SERVICES {
            let (status, body) = service(&server, ALICE, "Sensors", name, json!({})).await;
            assert_forbidden(status, &body, "ServiceInvoke", name, "Sensors");
        }
        grant(&server, "Sensors", "alice", "ServiceInvoke", "*").await;
        grant(
            &server,
            "Sensors",
            "bob",
            "ServiceInvoke",
            "GetStreamEntriesWithData",
        )
        .await;

        // Five entries, one per second of a made-up clock.
        for (i, label) in ["alpha", "beta", "bravo", "gamma", "delta"]
            .iter()
            .enumerate()
        {
            let n = i64::try_from(i).expect("small") + 1;
            let tags = if n % 2 == 0 {
                "Plant:North"
            } else {
                "Plant:South"
            };
            let (status, body) = service(
                &server,
                ALICE,
                "Sensors",
                "AddStreamEntry",
                json!({
                    "timestamp": n * 1000,
                    "source": if n == 5 { "probe" } else { "alice" },
                    "tags": tags,
                    "location": {"latitude": 1.5, "longitude": 2.5},
                    "values": {"dataShape": {"fieldDefinitions": {}}, "rows": [
                        {"temperature": n * 10, "label": label, "ok": n != 3}
                    ]}
                }),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        }
        assert_eq!(
            data::count_stream_entries(&conn, id).await.expect("count"),
            5
        );

        // Wrong-typed or unknown values are 400 and write nothing.
        for values in [
            json!({"temperature": "hot"}),
            json!({"label": 12}),
            json!({"ok": "maybe"}),
            json!({"pressure": 1}),
        ] {
            let (status, body) = service(
                &server,
                ALICE,
                "Sensors",
                "AddStreamEntry",
                json!({"timestamp": 9000, "values": values}),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend}: {values} {body}"
            );
        }
        let (status, _) = service(
            &server,
            ALICE,
            "Sensors",
            "AddStreamEntry",
            json!({"timestamp": "yesterday", "values": {"temperature": 1}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            data::count_stream_entries(&conn, id).await.expect("count"),
            5,
            "{backend}: refused entries wrote nothing"
        );

        // By time range, newest first by default, oldest first on request, paged.
        let get =
            |body: Value| service(&server, ALICE, "Sensors", "GetStreamEntriesWithData", body);
        let (status, table) = get(json!({"startDate": 2000, "endDate": 4000})).await;
        assert_eq!(status, StatusCode::OK, "{table}");
        assert_eq!(
            column(&table, "timestamp"),
            [json!(4000), json!(3000), json!(2000)]
        );
        assert_eq!(
            column(&table, "label"),
            [json!("gamma"), json!("bravo"), json!("beta")]
        );
        assert_eq!(
            table["dataShape"]["fieldDefinitions"]["temperature"]["baseType"],
            "NUMBER"
        );
        assert_eq!(rows(&table)[0]["tags"], json!("Plant:North"));
        assert_eq!(rows(&table)[0]["location"]["latitude"], json!(1.5));
        let (_, table) =
            get(json!({"startDate": 2000, "endDate": 4000, "oldestFirst": true})).await;
        assert_eq!(
            column(&table, "timestamp"),
            [json!(2000), json!(3000), json!(4000)]
        );
        let (_, table) = get(json!({"maxItems": 2})).await;
        assert_eq!(column(&table, "timestamp"), [json!(5000), json!(4000)]);
        let (_, table) = get(json!({"maxItems": 2, "oldestFirst": true, "startDate": 2001})).await;
        assert_eq!(column(&table, "timestamp"), [json!(3000), json!(4000)]);
        let (_, table) = get(json!({"source": "probe"})).await;
        assert_eq!(column(&table, "label"), [json!("delta")]);
        let (_, table) = get(json!({"tags": "Plant:North"})).await;
        assert_eq!(column(&table, "label"), [json!("gamma"), json!("beta")]);
        for bad in [
            json!({"maxItems": 10_001}),
            json!({"maxItems": 0}),
            json!({"startDate": 5000, "endDate": 1000}),
            json!({"tags": "no-vocabulary"}),
        ] {
            let (status, body) = get(bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let (status, _) = get(json!({"maxItems": 10_000})).await;
        assert_eq!(status, StatusCode::OK, "the upper limit itself is allowed");

        // Filter queries.
        let query = |q: Value| {
            service(
                &server,
                ALICE,
                "Sensors",
                "QueryStreamEntriesWithData",
                json!({"query": q, "oldestFirst": true}),
            )
        };
        let (status, table) =
            query(json!({"filters": {"type": "GT", "fieldName": "temperature", "value": 25}}))
                .await;
        assert_eq!(status, StatusCode::OK, "{table}");
        assert_eq!(
            column(&table, "label"),
            [json!("bravo"), json!("gamma"), json!("delta")]
        );
        let (_, table) = query(json!({"filters": {"type": "And", "filters": [
            {"type": "GE", "fieldName": "temperature", "value": 20},
            {"type": "LT", "fieldName": "temperature", "value": "40"}
        ]}}))
        .await;
        assert_eq!(column(&table, "label"), [json!("beta"), json!("bravo")]);
        let (_, table) = query(json!({"filters": {"type": "Or", "filters": [
            {"type": "LIKE", "fieldName": "label", "value": "B*"},
            {"type": "EQ", "fieldName": "ok", "value": false},
            {"type": "And", "filters": [
                {"type": "NE", "fieldName": "label", "value": "delta"},
                {"type": "LE", "fieldName": "timestamp", "value": 1000}
            ]}
        ]}}))
        .await;
        assert_eq!(
            column(&table, "label"),
            [json!("alpha"), json!("beta"), json!("bravo")]
        );
        let (_, table) =
            query(json!({"filters": {"type": "EQ", "fieldName": "source", "value": "probe"}}))
                .await;
        assert_eq!(column(&table, "label"), [json!("delta")]);
        let mut deep = json!({"type": "EQ", "fieldName": "label", "value": "x"});
        for _ in 0..8 {
            deep = json!({"type": "And", "filters": [deep]});
        }
        for bad in [
            json!({"filters": {"type": "EQ", "fieldName": "pressure", "value": 1}}),
            json!({"filters": {"type": "GT", "fieldName": "temperature", "value": "warm"}}),
            json!({"filters": {"type": "Between", "fieldName": "temperature", "value": 1}}),
            json!({"filters": deep}),
            json!("{not json"),
        ] {
            let (status, body) = query(bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }

        // Bob holds ServiceInvoke on the read only.
        let (status, table) = service(
            &server,
            BOB,
            "Sensors",
            "GetStreamEntriesWithData",
            json!({}),
        )
        .await;
        assert_eq!((status, rows(&table).len()), (StatusCode::OK, 5), "{table}");
        for name in [
            "AddStreamEntry",
            "QueryStreamEntriesWithData",
            "PurgeStreamEntries",
        ] {
            let (status, body) = service(&server, BOB, "Sensors", name, json!({})).await;
            assert_forbidden(status, &body, "ServiceInvoke", name, "Sensors");
        }

        // Purge a time range.
        let (status, _) = service(
            &server,
            ALICE,
            "Sensors",
            "PurgeStreamEntries",
            json!({"startDate": 4000}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "both ends are required");
        let (status, body) = service(
            &server,
            ALICE,
            "Sensors",
            "PurgeStreamEntries",
            json!({"startDate": 1000, "endDate": 2000, "immediate": true}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            data::count_stream_entries(&conn, id).await.expect("count"),
            3
        );
        let (_, table) = get(json!({"oldestFirst": true})).await;
        assert_eq!(
            column(&table, "timestamp"),
            [json!(3000), json!(4000), json!(5000)]
        );

        // DataTable services are unknown on a Stream.
        let (status, _) =
            service(&server, ALICE, "Sensors", "GetDataTableEntries", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Invisible: 404 on every service, the same as a missing Thing.
        hide_things(&server).await;
        for name in STREAM_SERVICES {
            let (status, body) = service(&server, ALICE, "Sensors", name, json!({})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: {name} {body}");
            assert_eq!(body["message"], json!("Entity Not Found"));
        }
        assert_eq!(
            data::count_stream_entries(&conn, id).await.expect("count"),
            3
        );

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

const TABLE_SERVICES: &[&str] = &[
    "AddOrUpdateDataTableEntry",
    "GetDataTableEntries",
    "QueryDataTableEntries",
    "DeleteDataTableEntries",
    "DeleteDataTableEntry",
];

#[tokio::test]
async fn data_table_upserts_by_key_queries_and_deletes() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed_users(&conn).await;
        data_shape(
            &conn,
            "Part",
            &[
                ("partNo", "STRING", true),
                ("qty", "INTEGER", false),
                ("color", "STRING", false),
            ],
        )
        .await;
        let id = thing(&conn, "Parts", "DataTable", "Part").await;
        let count = || streams::count_data_table_rows(&conn, id);

        for name in TABLE_SERVICES {
            let (status, body) = service(&server, ALICE, "Parts", name, json!({})).await;
            assert_forbidden(status, &body, "ServiceInvoke", name, "Parts");
        }
        grant(&server, "Parts", "alice", "ServiceInvoke", "*").await;
        grant(
            &server,
            "Parts",
            "bob",
            "ServiceInvoke",
            "GetDataTableEntries",
        )
        .await;

        let upsert = |values: Value| {
            service(
                &server,
                ALICE,
                "Parts",
                "AddOrUpdateDataTableEntry",
                json!({"values": values}),
            )
        };
        for values in [
            json!({"partNo": "p1", "qty": 1, "color": "red"}),
            json!({"partNo": "p2", "qty": "2", "color": "blue"}),
            json!({"rows": [{"partNo": "p3", "qty": 3, "color": "red"}]}),
        ] {
            let (status, body) = upsert(values).await;
            assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        }
        // The same key replaces the row.
        let (status, _) = upsert(json!({"partNo": "p1", "qty": 5, "color": "green"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(count().await.expect("count"), 3);

        // Wrong types, unknown fields and a missing key are 400 and write nothing.
        for values in [
            json!({"partNo": "p4", "qty": "many"}),
            json!({"partNo": "p1", "qty": 1.5}),
            json!({"partNo": 4, "qty": 1}),
            json!({"partNo": "p4", "weight": 1}),
            json!({"qty": 1}),
            json!({"rows": [{"partNo": "p5", "qty": 1}, {"partNo": "p6", "qty": "x"}]}),
        ] {
            let (status, body) = upsert(values.clone()).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend}: {values} {body}"
            );
        }
        assert_eq!(
            count().await.expect("count"),
            3,
            "{backend}: nothing written"
        );

        let (status, table) =
            service(&server, ALICE, "Parts", "GetDataTableEntries", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{table}");
        assert_eq!(
            column(&table, "partNo"),
            [json!("p1"), json!("p2"), json!("p3")]
        );
        assert_eq!(column(&table, "qty"), [json!(5), json!(2), json!(3)]);
        assert_eq!(column(&table, "color")[0], json!("green"));
        let (_, table) = service(
            &server,
            ALICE,
            "Parts",
            "GetDataTableEntries",
            json!({"maxItems": 2}),
        )
        .await;
        assert_eq!(rows(&table).len(), 2);
        let (status, _) = service(
            &server,
            ALICE,
            "Parts",
            "GetDataTableEntries",
            json!({"maxItems": 20_000}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let query = |body: Value| service(&server, ALICE, "Parts", "QueryDataTableEntries", body);
        let (status, table) =
            query(json!({"query": {"filters": {"type": "GE", "fieldName": "qty", "value": 3}}}))
                .await;
        assert_eq!(status, StatusCode::OK, "{table}");
        assert_eq!(column(&table, "partNo"), [json!("p1"), json!("p3")]);
        let (_, table) = query(json!({"values": {"color": "red"}})).await;
        assert_eq!(column(&table, "partNo"), [json!("p3")]);
        let (_, table) = query(json!({
            "values": {"color": "blue"},
            "query": {"filters": {"type": "LIKE", "fieldName": "partNo", "value": "p*"}}
        }))
        .await;
        assert_eq!(column(&table, "partNo"), [json!("p2")]);
        let (status, _) = query(json!({"values": {"qty": "lots"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Bob may read but not write or delete.
        let (status, table) =
            service(&server, BOB, "Parts", "GetDataTableEntries", json!({})).await;
        assert_eq!((status, rows(&table).len()), (StatusCode::OK, 3));
        for name in [
            "AddOrUpdateDataTableEntry",
            "QueryDataTableEntries",
            "DeleteDataTableEntries",
            "DeleteDataTableEntry",
        ] {
            let (status, body) = service(
                &server,
                BOB,
                "Parts",
                name,
                json!({"values": {"partNo": "p1"}}),
            )
            .await;
            assert_forbidden(status, &body, "ServiceInvoke", name, "Parts");
        }
        assert_eq!(count().await.expect("count"), 3);

        // Deletes: one by key, then every row matching values.
        let (status, _) = service(
            &server,
            ALICE,
            "Parts",
            "DeleteDataTableEntry",
            json!({"values": {"qty": 2}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the key is required");
        let (status, body) = service(
            &server,
            ALICE,
            "Parts",
            "DeleteDataTableEntry",
            json!({"values": {"partNo": "p2"}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(count().await.expect("count"), 2);
        let (status, _) =
            service(&server, ALICE, "Parts", "DeleteDataTableEntries", json!({})).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "no values: nothing to match"
        );
        let (status, _) = upsert(json!({"partNo": "p7", "qty": 7, "color": "red"})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = service(
            &server,
            ALICE,
            "Parts",
            "DeleteDataTableEntries",
            json!({"values": {"color": "red"}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, table) = service(&server, ALICE, "Parts", "GetDataTableEntries", json!({})).await;
        assert_eq!(column(&table, "partNo"), [json!("p1")]);

        // Stream services are unknown on a DataTable; a DataTable without a data shape says so.
        let (status, _) = service(&server, ALICE, "Parts", "AddStreamEntry", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        thing(&conn, "Shapeless", "DataTable", "").await;
        let (status, body) = service(
            &server,
            ADMIN,
            "Shapeless",
            "GetDataTableEntries",
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        hide_things(&server).await;
        for name in TABLE_SERVICES {
            let (status, body) = service(
                &server,
                ALICE,
                "Parts",
                name,
                json!({"values": {"partNo": "p1"}}),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: {name} {body}");
        }
        assert_eq!(count().await.expect("count"), 1);

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// DeleteDataTableEntries reads the rows it deletes inside its own write transaction: a row
/// repainted by another writer while the service waits for it is judged as repainted.
#[tokio::test]
async fn delete_data_table_entries_judges_rows_as_committed() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        data_shape(
            &conn,
            "Part",
            &[("partNo", "STRING", true), ("color", "STRING", false)],
        )
        .await;
        let id = thing(&conn, "Parts", "DataTable", "Part").await;
        for no in ["p1", "p2"] {
            let values = json!({"values": {"partNo": no, "color": "red"}});
            let (status, body) =
                service(&server, ADMIN, "Parts", "AddOrUpdateDataTableEntry", values).await;
            assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        }
        // Another writer repaints p1 blue and commits while the delete of red rows waits.
        let txn = sea_orm::TransactionTrait::begin(&conn)
            .await
            .expect("begin");
        let page = streams::data_table_rows_page(&txn, id, 0, 10, true).await;
        let mut p1 = page
            .expect("rows")
            .into_iter()
            .find(|r| r.entry_values.as_ref().is_some_and(|v| v["partNo"] == "p1"));
        let p1 = p1.as_mut().expect("p1");
        if let Some(values) = p1.entry_values.as_mut() {
            values["color"] = json!("blue");
        }
        data::upsert_data_table_row(&txn, p1)
            .await
            .expect("repaint");
        let red = json!({"values": {"color": "red"}});
        let ((status, body), ()) = tokio::join!(
            service(&server, ADMIN, "Parts", "DeleteDataTableEntries", red),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                txn.commit().await.expect("commit");
            }
        );
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let (_, table) = service(&server, ADMIN, "Parts", "GetDataTableEntries", json!({})).await;
        assert_eq!(
            column(&table, "partNo"),
            [json!("p1")],
            "{backend}: {table}"
        );
        assert_eq!(
            column(&table, "color"),
            [json!("blue")],
            "{backend}: {table}"
        );
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// Reads the event stream until a `data:` line arrives; its JSON.
async fn fire_event(
    server: &TestServer,
    who: (&'static str, &'static str),
    event: &'static str,
    data: Value,
) -> (StatusCode, Value) {
    call(
        server,
        who,
        &format!("/Thingworx/Things/Pump/Events/{event}"),
        data,
    )
    .await
}

#[tokio::test]
async fn events_fire_and_reach_subscribers() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed_users(&conn).await;
        data_shape(&conn, "OverheatData", &[("level", "NUMBER", false)]).await;
        let pump = thing(&conn, "Pump", "GenericThing", "").await;
        event_definition(&conn, pump, "Overheat", "OverheatData").await;
        let fire = |who, event, data| fire_event(&server, who, event, data);

        // Without grants: 403 naming the permission, for subscribing and for firing.
        let res = subscribe(&server, ALICE, "Pump", "Overheat").await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_forbidden(status, &body, "EventSubscribe", "Overheat", "Pump");
        let (status, body) = fire(ALICE, "Overheat", json!({"level": 1})).await;
        assert_forbidden(status, &body, "EventInvoke", "Overheat", "Pump");

        grant(&server, "Pump", "alice", "EventSubscribe", "Overheat").await;
        grant(&server, "Pump", "bob", "EventInvoke", "Overheat").await;
        // Each grant is only the one permission.
        let (status, body) = fire(ALICE, "Overheat", json!({"level": 1})).await;
        assert_forbidden(status, &body, "EventInvoke", "Overheat", "Pump");
        let res = subscribe(&server, BOB, "Pump", "Overheat").await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_forbidden(status, &body, "EventSubscribe", "Overheat", "Pump");

        // Alice subscribes; the stream opens with a comment, then Bob fires.
        let res = subscribe(&server, ALICE, "Pump", "Overheat").await;
        assert_eq!(res.status(), StatusCode::OK, "{backend}");
        let content_type = res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let mut events = EventStream::open(res).await;

        // Wrong-typed data and unknown events are refused and deliver nothing.
        let (status, body) = fire(BOB, "Overheat", json!({"level": "very"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = fire(BOB, "Overheat", json!({"pressure": 1})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        grant(&server, "Pump", "bob", "EventInvoke", "Explode").await;
        let (status, body) = fire(BOB, "Explode", json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        let (status, body) = fire(BOB, "Overheat", json!({"level": 3})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let firing = events.next_data().await;
        assert_eq!(firing["source"], json!("Pump"), "{firing}");
        assert_eq!(firing["eventName"], json!("Overheat"), "{firing}");
        assert_eq!(firing["eventData"]["level"].as_f64(), Some(3.0), "{firing}");
        let (status, _) = fire(BOB, "Overheat", json!({"rows": [{"level": 4}]})).await;
        assert_eq!(status, StatusCode::OK);
        let firing = events.next_data().await;
        assert_eq!(firing["eventData"]["level"].as_f64(), Some(4.0), "{firing}");
        drop(events);

        // Invisible: 404 for both routes.
        hide_things(&server).await;
        let res = subscribe(&server, ALICE, "Pump", "Overheat").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let (status, _) = fire(BOB, "Overheat", json!({"level": 1})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn a_property_write_fires_data_change() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        let pump = thing(&conn, "Pump", "GenericThing", "").await;
        property_definition(&conn, pump, "speed", "NUMBER").await;
        let admin = ADMIN;
        let res = subscribe(&server, admin, "Pump", "DataChange").await;
        assert_eq!(res.status(), StatusCode::OK, "{backend}");
        let mut events = EventStream::open(res).await;
        let put = server
            .client()
            .put(server.url("/Thingworx/Things/Pump/Properties/speed"))
            .basic_auth(admin.0, Some(admin.1))
            .json(&json!({"speed": 42.5}))
            .send()
            .await
            .expect("write");
        assert!(put.status().is_success(), "{}", put.status());
        let firing = events.next_data().await;
        assert_eq!(firing["eventName"], json!("DataChange"), "{firing}");
        assert_eq!(firing["eventData"]["name"], json!("speed"), "{firing}");
        assert_eq!(
            firing["eventData"]["newValue"]["value"].as_f64(),
            Some(42.5),
            "{firing}"
        );
        drop(events);
        server.stop().await;
        db.drop_database().await;
    }
}
