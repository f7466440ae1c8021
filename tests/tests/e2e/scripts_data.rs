//! DataTable and Stream services from scripts and the DataTable services ThingWorx clients
//! call, through the real server on SQLite and PostgreSQL: a script reads the rows it wrote
//! before they commit (`GetDataTableEntry` after `AddOrUpdateDataTableEntry`, a Stream query
//! after `AddStreamEntry`), InfoTable fields of the first row by name (`values.Article = …`,
//! `entry.Stock`), all its data writes commit with it or not at all, and a script without the
//! right to a DataTable service is refused with the REST call's 403 and writes nothing;
//! `ThingTemplates[…]`, `Users[…]`, `Groups[…]` and `Resources["CurrentSessionInfo"]` answer
//! as the REST services do.

use ironworx_tests::http::{Caller, Reply, admin_call, entity_services, send};
use ironworx_tests::model::{data_shape, data_thing, script_service};
use ironworx_tests::things::{call_service as call, thing_id};
use ironworx_tests::{TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const OPERATOR: &str = "Operator";
const PASSWORD: &str = "operator-password-1";

/// The script of `Produce`: adds `amount` to the stock of `article`, logs it, and answers the
/// stock it reads back times 1000 plus the log entries it sees.
const PRODUCE: &str = "var key = Things['Stock'].CreateValues();\n\
    key.Article = article;\n\
    var entry = Things['Stock'].GetDataTableEntry({values: key});\n\
    var have = entry.getRowCount() === 0 ? 0 : entry.Stock;\n\
    var update = Things['Stock'].CreateValues();\n\
    update.Article = article;\n\
    update.Stock = have + amount;\n\
    Things['Stock'].AddOrUpdateDataTableEntry({values: update, sourceType: undefined});\n\
    var line = DataShapes['LogRow'].CreateValues();\n\
    line.message = article + ' +' + amount;\n\
    Things['Log'].AddStreamEntry({values: line});\n\
    var again = Things['Stock'].GetDataTableEntry({values: key});\n\
    var seen = Things['Log'].GetStreamEntriesWithData({maxItems: 100});\n\
    result = again.Stock * 1000 + seen.length;";

async fn service(conn: &DatabaseConnection, name: &str, params: &[(&str, &str)], code: &str) {
    let id = thing_id(conn, "Line").await;
    script_service(conn, id, name, params, "NUMBER", code).await;
}

/// The `(Article, Stock)` rows of `Stock` and the messages of `Log`, read over REST.
async fn stored(server: &TestServer) -> (Vec<(Value, Value)>, Vec<Value>) {
    let admin = Caller::admin();
    let rows = call(server, &admin, "Stock", "GetDataTableEntries", json!({})).await;
    assert_eq!(rows.status, StatusCode::OK, "{}", rows.text);
    let log = call(server, &admin, "Log", "GetStreamEntriesWithData", json!({})).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let each = |reply: &Reply| reply.json["rows"].as_array().cloned().unwrap_or_default();
    (
        each(&rows)
            .iter()
            .map(|r| (r["Article"].clone(), r["Stock"].clone()))
            .collect(),
        each(&log).iter().map(|r| r["message"].clone()).collect(),
    )
}

#[tokio::test]
async fn scripts_use_data_tables_and_streams_all_or_nothing() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        let admin = Caller::admin();
        data_shape(
            &conn,
            "StockRow",
            &[("Article", "STRING", true), ("Stock", "INTEGER", false)],
        )
        .await;
        data_shape(&conn, "LogRow", &[("message", "STRING", false)]).await;
        data_thing(&conn, "Stock", "DataTable", "StockRow").await;
        data_thing(&conn, "Log", "Stream", "LogRow").await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Line", "thingTemplateName": "GenericThing"}),
        )
        .await;
        let params = [("article", "STRING"), ("amount", "INTEGER")];
        service(&conn, "Produce", &params, PRODUCE).await;
        service(
            &conn,
            "ProduceThenFail",
            &params,
            &format!("{PRODUCE}\nthrow new Error('line stopped');"),
        )
        .await;

        // The DataTable services clients call, over REST.
        let tires = json!({"values": {"rows": [{"Article": "Tires", "Stock": 5}]}});
        let added = call(&server, &admin, "Stock", "AddDataTableEntry", tires.clone()).await;
        assert_eq!(added.status, StatusCode::OK, "{backend}: {}", added.text);
        let again = call(&server, &admin, "Stock", "AddDataTableEntry", tires).await;
        assert_eq!(
            again.status,
            StatusCode::BAD_REQUEST,
            "{backend}: {}",
            again.text
        );
        let missing = json!({"values": {"rows": [{"Article": "Wheels", "Stock": 1}]}});
        let update = call(&server, &admin, "Stock", "UpdateDataTableEntry", missing).await;
        assert_eq!(
            update.status,
            StatusCode::BAD_REQUEST,
            "{backend}: {}",
            update.text
        );
        let by_key = call(
            &server,
            &admin,
            "Stock",
            "GetDataTableEntryByKey",
            json!({"key": "Tires"}),
        )
        .await;
        assert_eq!(
            by_key.json["rows"][0]["Stock"],
            json!(5),
            "{backend}: {}",
            by_key.text
        );
        let count = call(
            &server,
            &admin,
            "Stock",
            "GetDataTableEntryCount",
            json!({}),
        )
        .await;
        assert_eq!(
            count.json["rows"][0]["result"],
            json!(1),
            "{backend}: {}",
            count.text
        );

        // A script reads what it wrote before it commits; its writes commit together.
        let produced = call(
            &server,
            &admin,
            "Line",
            "Produce",
            json!({"article": "Tires", "amount": 3}),
        )
        .await;
        assert_eq!(
            produced.status,
            StatusCode::OK,
            "{backend}: {}",
            produced.text
        );
        assert_eq!(
            produced.json["rows"][0]["result"],
            json!(8001.0),
            "{backend}"
        );
        let first = call(
            &server,
            &admin,
            "Line",
            "Produce",
            json!({"article": "Seats", "amount": 2}),
        )
        .await;
        assert_eq!(
            first.json["rows"][0]["result"],
            json!(2002.0),
            "{backend}: {}",
            first.text
        );
        let after = (
            vec![(json!("Tires"), json!(8)), (json!("Seats"), json!(2))],
            vec![json!("Seats +2"), json!("Tires +3")],
        );
        assert_eq!(stored(&server).await, after, "{backend}");

        // A throw after the same writes leaves nothing of them.
        let failed = call(
            &server,
            &admin,
            "Line",
            "ProduceThenFail",
            json!({"article": "Tires", "amount": 100}),
        )
        .await;
        assert_eq!(
            failed.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{backend}"
        );
        assert_eq!(
            failed.json["code"],
            json!("script_error"),
            "{backend}: {}",
            failed.text
        );
        assert_eq!(stored(&server).await, after, "{backend}");

        // A caller who may run Produce but not the DataTable's services is refused as REST
        // refuses them, and nothing is written.
        entity_services(
            &server,
            "CreateUser",
            &json!({"name": OPERATOR, "password": PASSWORD}),
        )
        .await;
        admin_call(
            &server,
            "/Thingworx/Things/Line/Services/AddRunTimePermission",
            &json!({"principal": OPERATOR, "principalType": "User", "resource": "Produce",
                    "type": "ServiceInvoke", "allow": true}),
        )
        .await;
        let operator = Caller::Basic(OPERATOR.to_owned(), PASSWORD.to_owned());
        let denied = call(
            &server,
            &operator,
            "Line",
            "Produce",
            json!({"article": "Tires", "amount": 1}),
        )
        .await;
        assert_eq!(
            denied.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            denied.text
        );
        assert_eq!(
            denied.json["message"],
            json!("Not authorized for ServiceInvoke on CreateValues in Stock"),
            "{backend}"
        );
        assert_eq!(stored(&server).await, after, "{backend}");

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

#[tokio::test]
async fn scripts_name_templates_users_groups_and_the_session() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        let admin = Caller::admin();
        for name in ["Line", "Other"] {
            entity_services(
                &server,
                "CreateThing",
                &json!({"name": name, "thingTemplateName": "GenericThing"}),
            )
            .await;
        }
        let id = thing_id(&conn, "Line").await;
        let code = "var s = Resources['CurrentSessionInfo'];\n\
            var groups = s.GetCurrentUserGroups().rows.map(function (r) { return r.name; });\n\
            var things = ThingTemplates['GenericThing'].GetImplementingThings().rows\n\
                .map(function (r) { return r.name; })\n\
                .filter(function (n) { return n === 'Line' || n === 'Other'; });\n\
            result = [s.GetCurrentUser(), groups.sort().join(','), things.join(','),\n\
                Users['Administrator'].name, String(Users['Nobody']),\n\
                String(Groups['Nobody']), String(ThingShapes['Nobody'])].join('|');";
        script_service(&conn, id, "Names", &[], "STRING", code).await;
        let reply = call(&server, &admin, "Line", "Names", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{backend}: {}", reply.text);
        // The session as REST answers it to the same caller.
        let groups = send(
            &server,
            &admin,
            Method::POST,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserGroups",
            Some(&json!({})),
        )
        .await;
        let mut names: Vec<String> = groups.json["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        let expected = format!(
            "Administrator|{}|Line,Other|Administrator|undefined|undefined|undefined",
            names.join(",")
        );
        assert_eq!(
            reply.json["rows"][0]["result"],
            json!(expected),
            "{backend}"
        );

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
