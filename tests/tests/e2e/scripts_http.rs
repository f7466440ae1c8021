//! Script services through the real server on SQLite and PostgreSQL: parameters and results of
//! every base type, `me` and `Things[]` reads and writes, a service calling another Thing's
//! service, InfoTables built from a data shape, a changed script, a template's script, a
//! script added over REST, the log; a denied access inside a script (403, nothing
//! written), the System-user rule for wrapped calls, a thrown error that rolls back every
//! write; an infinite loop, a memory hog, a call too deep and a result too large stopped with
//! the limit named while other requests are answered; nothing one call leaves seen by the next.

use std::time::{Duration, Instant};

use ironworx_entity::queries::entities::find_entity;
use ironworx_entity::queries::parts::service_implementations;
use ironworx_entity::vocab::Collection;
use ironworx_tests::http::{Caller, Reply, admin_call, entity_services, send};
use ironworx_tests::model::{data_shape, script_service};
use ironworx_tests::things::{
    call_service as call, generic_thing as thing, grant_user as grant, read_property as read,
    thing_id as id_of, write_property,
};
use ironworx_tests::{TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const OPERATOR: &str = "Operator";
const PASSWORD: &str = "operator-password-1";

async fn start(db: &TestDb) -> TestServer {
    TestServer::start(
        db,
        &[
            ("IRONWORX_SCRIPT_TIMEOUT_SECONDS", "2"),
            ("IRONWORX_SCRIPT_MEMORY_MIB", "16"),
            ("IRONWORX_SCRIPT_MAX_CALL_DEPTH", "8"),
            ("IRONWORX_SCRIPT_MAX_RESULT_BYTES", "65536"),
        ],
    )
    .await
}

async fn finish(db: TestDb, server: TestServer) {
    assert!(server.stop().await.success());
    db.drop_database().await;
}

fn operator() -> Caller {
    Caller::Basic(OPERATOR.to_owned(), PASSWORD.to_owned())
}

/// A Script service on the Thing `thing`.
async fn service(
    conn: &DatabaseConnection,
    thing: &str,
    name: &str,
    params: &[(&str, &str)],
    result_type: &str,
    code: &str,
) {
    let id = id_of(conn, thing).await;
    script_service(conn, id, name, params, result_type, code).await;
}

async fn write(server: &TestServer, thing: &str, property: &str, value: Value) {
    write_property(server, &Caller::admin(), thing, property, value).await;
}

/// The `result` of a primitive answer.
fn result(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    &reply.json["rows"][0]["result"]
}

#[tokio::test]
async fn script_services_type_values_and_reach_things() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        let admin = Caller::admin();
        thing(&server, "Calc", &[]).await;

        // Every base type in and out, and the JavaScript type each parameter has.
        let cases = [
            ("NUMBER", json!(2.5), json!(2.5), "number"),
            ("INTEGER", json!(7), json!(7), "number"),
            (
                "LONG",
                json!(3_000_000_000_i64),
                json!(3_000_000_000_i64),
                "number",
            ),
            ("STRING", json!("hello"), json!("hello"), "string"),
            ("THINGNAME", json!("Calc"), json!("Calc"), "string"),
            ("BOOLEAN", json!(true), json!(true), "boolean"),
            (
                "DATETIME",
                json!("2020-01-01T00:00:00.000Z"),
                json!(1_577_836_800_000_i64),
                "Date",
            ),
            ("JSON", json!({"a": [1, 2]}), json!({"a": [1, 2]}), "object"),
        ];
        for (base_type, _, _, _) in &cases {
            service(
                &conn,
                "Calc",
                &format!("Echo{base_type}"),
                &[("x", base_type)],
                base_type,
                "result = x;",
            )
            .await;
            service(
                &conn,
                "Calc",
                &format!("Kind{base_type}"),
                &[("x", base_type)],
                "STRING",
                "result = x instanceof Date ? 'Date' : typeof x;",
            )
            .await;
        }
        for (base_type, given, expected, kind) in &cases {
            let echo = call(
                &server,
                &admin,
                "Calc",
                &format!("Echo{base_type}"),
                json!({"x": given}),
            )
            .await;
            assert_eq!(result(&echo), expected, "{backend} {base_type}");
            assert_eq!(
                echo.json["dataShape"]["fieldDefinitions"]["result"]["baseType"],
                json!(base_type),
                "{backend} {base_type}"
            );
            let typed = call(
                &server,
                &admin,
                "Calc",
                &format!("Kind{base_type}"),
                json!({"x": given}),
            )
            .await;
            assert_eq!(result(&typed), &json!(kind), "{backend} {base_type}");
        }
        // A parameter of the wrong type is refused before anything runs.
        let wrong = call(&server, &admin, "Calc", "EchoNUMBER", json!({"x": "warm"})).await;
        assert_eq!(
            wrong.status,
            StatusCode::BAD_REQUEST,
            "{backend}: {}",
            wrong.text
        );

        // INFOTABLE: in as an InfoTable object, out with its data shape.
        data_shape(
            &conn,
            "Reading",
            &[
                ("name", "STRING", false),
                ("value", "NUMBER", false),
                ("at", "DATETIME", false),
            ],
        )
        .await;
        ironworx_tests::http::bump(&conn, "CreateDataShape").await;
        service(
            &conn,
            "Calc",
            "Tables",
            &[("input", "INFOTABLE")],
            "INFOTABLE",
            "var t = Resources['InfoTableFunctions'].CreateInfoTableFromDataShape(\
             {infoTableName: 'out', dataShapeName: 'Reading'});\n\
             t.AddRow({name: 'a', value: input.getRowCount(), at: new Date(1000)});\n\
             var v = DataShapes['Reading'].CreateValues();\n\
             v.AddRow({name: 'b', value: input.rows[0].value * 2, at: new Date(2000)});\n\
             t.AddRow(v.getRow(0));\n\
             t.AddRow({name: Object.keys(t.dataShape.fields).sort().join(','), \
                       value: t.rows.length, at: null});\n\
             logger.info('built a table of ' + t.getRowCount() + ' rows');\n\
             result = t;",
        )
        .await;
        let input = json!({
            "dataShape": {"fieldDefinitions": {"value": {"name": "value", "baseType": "NUMBER"}}},
            "rows": [{"value": 21}, {"value": 1}],
        });
        let tables = call(&server, &admin, "Calc", "Tables", json!({"input": input})).await;
        assert_eq!(tables.status, StatusCode::OK, "{backend}: {}", tables.text);
        assert_eq!(
            tables.json["rows"],
            json!([
                {"name": "a", "value": 2, "at": 1000},
                {"name": "b", "value": 42, "at": 2000},
                {"name": "at,name,value", "value": 2, "at": null},
            ]),
            "{backend}"
        );
        assert_eq!(
            tables.json["dataShape"]["fieldDefinitions"]["at"]["baseType"],
            json!("DATETIME"),
            "{backend}"
        );

        service(
            &conn,
            "Calc",
            "Finder",
            &[],
            "STRING",
            "var t = DataShapes['Reading'].CreateValues();\n\
             t.AddRow({name: 'a', value: 1}); t.AddRow({name: 'b', value: 2});\n\
             t.AddRow({name: 'b', value: 3});\n\
             var found = t.Find({name: 'b'});\n\
             var deleted = t.Delete({name: 'b'});\n\
             result = [found.value, deleted, t.getRowCount(), t.length,\n\
                       JSON.stringify(t.ToJSON().rows), t.dataShape.fields.value.baseType].join('|');",
        )
        .await;
        let finder = call(&server, &admin, "Calc", "Finder", json!({})).await;
        assert_eq!(
            result(&finder),
            &json!("2|2|1|1|[{\"name\":\"a\",\"value\":1}]|NUMBER"),
            "{backend}"
        );

        // `me` and `Things[]`: reads and writes, committed when the service returns.
        thing(
            &server,
            "Counter",
            &[("count", "NUMBER"), ("label", "STRING")],
        )
        .await;
        thing(&server, "Store", &[("value", "NUMBER")]).await;
        write(&server, "Counter", "count", json!(1)).await;
        service(
            &conn,
            "Counter",
            "Bump",
            &[],
            "NUMBER",
            "me.count = me.count + 1;\n\
             me.label = 'bumped by ' + me.name;\n\
             Things['Store'].value = me.count * 10;\n\
             result = Things['Store'].value + (Things['Nowhere'] === undefined ? 0 : 1000);",
        )
        .await;
        let bumped = call(&server, &admin, "Counter", "Bump", json!({})).await;
        assert_eq!(result(&bumped), &json!(20.0), "{backend}");
        assert_eq!(
            read(&server, "Counter", "count").await,
            json!(2.0),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Counter", "label").await,
            json!("bumped by Counter"),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Store", "value").await,
            json!(20.0),
            "{backend}"
        );

        // A service calling another Thing's service and one of its own.
        service(
            &conn,
            "Store",
            "Double",
            &[("x", "NUMBER")],
            "NUMBER",
            "result = x * 2;",
        )
        .await;
        service(
            &conn,
            "Counter",
            "Combine",
            &[("x", "NUMBER")],
            "NUMBER",
            "result = Things['Store'].Double({x: x}) + me.Bump();",
        )
        .await;
        let combined = call(&server, &admin, "Counter", "Combine", json!({"x": 21})).await;
        assert_eq!(result(&combined), &json!(72.0), "{backend}");
        assert_eq!(
            read(&server, "Counter", "count").await,
            json!(3.0),
            "{backend}"
        );

        // A changed script runs in its new form; without its code it no longer runs.
        service(
            &conn,
            "Store",
            "Triple",
            &[("x", "NUMBER")],
            "NUMBER",
            "result = x * 3;",
        )
        .await;
        let first = call(&server, &admin, "Store", "Triple", json!({"x": 2})).await;
        assert_eq!(result(&first), &json!(6.0), "{backend}");
        let store = id_of(&conn, "Store").await;
        let mut implementations = service_implementations::list(&conn, store)
            .await
            .expect("implementations");
        for implementation in &mut implementations {
            if implementation.name == "Triple"
                && let Some(config) = implementation.configuration.as_mut()
            {
                config[0]["rows"][0]["code"] = json!("result = x * 4;");
            }
        }
        service_implementations::replace(&conn, store, implementations)
            .await
            .expect("change the code");
        ironworx_tests::http::bump(&conn, "UpdateServiceDefinition").await;
        let changed = call(&server, &admin, "Store", "Triple", json!({"x": 2})).await;
        assert_eq!(result(&changed), &json!(8.0), "{backend}");
        service_implementations::replace(&conn, store, vec![])
            .await
            .expect("drop the implementations");
        ironworx_tests::http::bump(&conn, "RemoveServiceDefinition").await;
        let gone = call(&server, &admin, "Store", "Triple", json!({"x": 2})).await;
        assert_eq!(
            gone.status,
            StatusCode::NOT_IMPLEMENTED,
            "{backend}: {}",
            gone.text
        );

        // A Script service added over REST, as clients send one (`code` beside the signature).
        admin_call(
            &server,
            "/Thingworx/Things/Store/Services/AddServiceDefinition",
            &json!({
                "name": "Greet",
                "parameters": {"rows": [{"name": "who", "baseType": "STRING"}]},
                "resultType": {"rows": [{"name": "result", "baseType": "STRING"}]},
                "code": "result = 'Hello, ' + who + '!';",
            }),
        )
        .await;
        let greeting = call(&server, &admin, "Store", "Greet", json!({"who": "Ada"})).await;
        assert_eq!(result(&greeting), &json!("Hello, Ada!"), "{backend}");
        admin_call(
            &server,
            "/Thingworx/Things/Store/Services/RemoveServiceDefinition",
            &json!({"name": "Greet"}),
        )
        .await;
        let removed = call(&server, &admin, "Store", "Greet", json!({"who": "Ada"})).await;
        assert_eq!(
            removed.status,
            StatusCode::NOT_FOUND,
            "{backend}: {}",
            removed.text
        );
        assert!(
            service_implementations::list(&conn, store)
                .await
                .expect("implementations")
                .iter()
                .all(|i| i.name != "Greet"),
            "{backend}"
        );

        // A service a template defines runs on its Things, with `me` the Thing called.
        entity_services(
            &server,
            "CreateThingTemplate",
            &json!({"name": "Machine", "baseThingTemplateName": "GenericThing"}),
        )
        .await;
        let machine = find_entity(&conn, Collection::ThingTemplates, "Machine")
            .await
            .expect("read")
            .expect("the template exists")
            .id;
        script_service(
            &conn,
            machine,
            "WhoAmI",
            &[],
            "STRING",
            "result = 'I am ' + me.name;",
        )
        .await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Press1", "thingTemplateName": "Machine"}),
        )
        .await;
        let who = call(&server, &admin, "Press1", "WhoAmI", json!({})).await;
        assert_eq!(result(&who), &json!("I am Press1"), "{backend}");

        // logger writes to the server log with the entity and the service.
        let log = server.stderr();
        assert!(
            log.lines()
                .any(|line| line.contains("built a table of 3 rows")
                    && line.contains("Calc")
                    && line.contains("Tables")
                    && line.contains(ironworx_tests::ADMIN_USER)),
            "{backend}: {log}"
        );

        drop(conn);
        finish(db, server).await;
    }
}

#[tokio::test]
async fn script_access_follows_the_callers_rights() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        entity_services(
            &server,
            "CreateUser",
            &json!({"name": OPERATOR, "password": PASSWORD}),
        )
        .await;
        thing(&server, "Line", &[("count", "NUMBER")]).await;
        thing(&server, "Secret", &[("value", "NUMBER")]).await;
        write(&server, "Line", "count", json!(1)).await;
        write(&server, "Secret", "value", json!(7)).await;
        for service in ["Touch", "Catch", "Peek", "Fail", "Relay"] {
            grant(&server, "Line", OPERATOR, service, "ServiceInvoke").await;
        }
        grant(&server, "Line", OPERATOR, "*", "PropertyRead").await;
        grant(&server, "Line", OPERATOR, "*", "PropertyWrite").await;
        service(
            &conn,
            "Line",
            "Touch",
            &[],
            "NOTHING",
            "me.count = 5;\nThings['Secret'].value = 1;",
        )
        .await;
        service(
            &conn,
            "Line",
            "Catch",
            &[],
            "STRING",
            "try { Things['Secret'].value = 1; result = 'written'; }\n\
             catch (e) { result = 'caught: ' + e.message; }",
        )
        .await;
        service(
            &conn,
            "Line",
            "Peek",
            &[],
            "NUMBER",
            "result = Things['Secret'].value;",
        )
        .await;
        service(&conn, "Line", "Hidden", &[], "NOTHING", "me.count = 9;").await;
        service(
            &conn,
            "Line",
            "Relay",
            &[],
            "STRING",
            "me.count = 2;\nresult = Things['Secret'].Reveal({prefix: 'v='});",
        )
        .await;
        service(
            &conn,
            "Secret",
            "Reveal",
            &[("prefix", "STRING")],
            "STRING",
            "result = prefix + me.value;",
        )
        .await;
        service(
            &conn,
            "Line",
            "Fail",
            &[],
            "NOTHING",
            "me.count = 100;\n\
             Things['Secret'].value = 100;\n\
             throw new Error('nope');",
        )
        .await;

        // A denied access answers the direct call's 403, and nothing the script wrote stays.
        let denied = call(&server, &operator(), "Line", "Touch", json!({})).await;
        assert_eq!(
            denied.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            denied.text
        );
        assert_eq!(
            denied.json["message"],
            json!("Not authorized for PropertyWrite on value in Secret"),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Line", "count").await,
            json!(1.0),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Secret", "value").await,
            json!(7.0),
            "{backend}"
        );
        // Caught, it is an error like any other.
        let caught = call(&server, &operator(), "Line", "Catch", json!({})).await;
        assert_eq!(
            result(&caught),
            &json!("caught: Not authorized for PropertyWrite on value in Secret"),
            "{backend}"
        );

        // The System-user rule: a right System holds is enough inside a script, never outside.
        let peek = call(&server, &operator(), "Line", "Peek", json!({})).await;
        assert_eq!(
            peek.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            peek.text
        );
        grant(&server, "Secret", "System", "value", "PropertyRead").await;
        let peek = call(&server, &operator(), "Line", "Peek", json!({})).await;
        assert_eq!(result(&peek), &json!(7.0), "{backend}");
        let direct = send(
            &server,
            &operator(),
            Method::GET,
            "/Thingworx/Things/Secret/Properties/value",
            None,
        )
        .await;
        assert_eq!(
            direct.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            direct.text
        );
        // ExplainPermission names whose rules decide an access from inside a script.
        let explain = async |wrapped: bool| {
            let body = json!({"entityType": "Things", "entityName": "Secret",
                              "permission": "PropertyRead", "resource": "value",
                              "wrapped": wrapped});
            send(
                &server,
                &operator(),
                Method::POST,
                "/Thingworx/Resources/SecurityServices/Services/ExplainPermission",
                Some(&body),
            )
            .await
        };
        let decisive = |reply: &Reply| -> Vec<(Value, Value)> {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            reply.json["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .filter(|r| r["decisive"] == json!(true))
                .map(|r| (r["evaluatedFor"].clone(), r["effect"].clone()))
                .collect()
        };
        assert_eq!(
            decisive(&explain(true).await),
            vec![(json!("System"), json!("ALLOW"))],
            "{backend}"
        );
        let direct_rule = decisive(&explain(false).await);
        assert_eq!(direct_rule.len(), 1, "{backend}: {direct_rule:?}");
        assert_eq!(direct_rule[0].0, json!(OPERATOR), "{backend}");
        assert_ne!(direct_rule[0].1, json!("ALLOW"), "{backend}");
        // Without ServiceInvoke the service does not run at all.
        let uninvited = call(&server, &operator(), "Line", "Hidden", json!({})).await;
        assert_eq!(
            uninvited.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            uninvited.text
        );
        assert_eq!(
            read(&server, "Line", "count").await,
            json!(1.0),
            "{backend}"
        );

        // A nested service call needs ServiceInvoke of the caller or System too.
        let relay = call(&server, &operator(), "Line", "Relay", json!({})).await;
        assert_eq!(
            relay.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            relay.text
        );
        assert_eq!(
            relay.json["message"],
            json!("Not authorized for ServiceInvoke on Reveal in Secret"),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Line", "count").await,
            json!(1.0),
            "{backend}"
        );
        grant(&server, "Secret", "System", "Reveal", "ServiceInvoke").await;
        let relay = call(&server, &operator(), "Line", "Relay", json!({})).await;
        assert_eq!(result(&relay), &json!("v=7"), "{backend}");
        assert_eq!(
            read(&server, "Line", "count").await,
            json!(2.0),
            "{backend}"
        );
        write(&server, "Line", "count", json!(1)).await;
        let direct = call(&server, &operator(), "Secret", "Reveal", json!({})).await;
        assert_eq!(
            direct.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            direct.text
        );

        // A thrown error rolls back every write (the administrator may write both Things).
        let failed = call(&server, &Caller::admin(), "Line", "Fail", json!({})).await;
        assert_eq!(
            failed.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{backend}"
        );
        assert_eq!(
            failed.json,
            json!({"code": "script_error", "message": "nope", "entity": "Line",
                   "service": "Fail", "line": 3}),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Line", "count").await,
            json!(1.0),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Secret", "value").await,
            json!(7.0),
            "{backend}"
        );

        drop(conn);
        finish(db, server).await;
    }
}

/// Calls run one after another in reused script contexts: nothing one call (of one user)
/// leaves, global variables, changed built-ins or what it read, is seen by the next (of
/// another user), and every call reads the values as they are when it starts.
#[tokio::test]
async fn script_calls_share_nothing() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        entity_services(
            &server,
            "CreateUser",
            &json!({"name": OPERATOR, "password": PASSWORD}),
        )
        .await;
        thing(&server, "Line", &[("count", "NUMBER")]).await;
        thing(&server, "Secret", &[("value", "NUMBER")]).await;
        write(&server, "Secret", "value", json!(7)).await;
        for service in ["Stash", "Snoop", "Count"] {
            grant(&server, "Line", OPERATOR, service, "ServiceInvoke").await;
        }
        grant(&server, "Line", OPERATOR, "count", "PropertyRead").await;
        service(
            &conn,
            "Line",
            "Stash",
            &[],
            "NUMBER",
            "stash = Things['Secret'].value; globalThis.also = stash;\n\
             try { Object.prototype.leak = stash; } catch (e) {}\n\
             try { String.prototype.trim = function () { return stash; }; } catch (e) {}\n\
             Things = { Secret: { value: stash } };\n\
             result = stash;",
        )
        .await;
        service(
            &conn,
            "Line",
            "Snoop",
            &[],
            "STRING",
            "var seen = [typeof stash, typeof also, String(({}).leak), ' x '.trim()];\n\
             try { seen.push(String(Things['Secret'].value)); } catch (e) { seen.push('denied'); }\n\
             result = seen.join(',');",
        )
        .await;
        service(&conn, "Line", "Count", &[], "NUMBER", "result = me.count;").await;
        let admin = Caller::admin();
        for round in 0..4 {
            let stashed = call(&server, &admin, "Line", "Stash", json!({})).await;
            assert_eq!(result(&stashed), &json!(7.0), "{backend} {round}");
            let snooped = call(&server, &operator(), "Line", "Snoop", json!({})).await;
            assert_eq!(
                result(&snooped),
                &json!("undefined,undefined,undefined,x,denied"),
                "{backend} {round}"
            );
            write(&server, "Line", "count", json!(round)).await;
            let counted = call(&server, &operator(), "Line", "Count", json!({})).await;
            assert_eq!(
                result(&counted).as_f64(),
                Some(f64::from(round)),
                "{backend} {round}"
            );
        }
        finish(db, server).await;
    }
}

/// `me.<Event>(data)` and `FireEvent` deliver to subscribers as the REST event route does,
/// after the invocation's writes commit; an invocation that throws delivers nothing, and a
/// caller without EventInvoke gets the direct call's 403.
#[tokio::test]
async fn script_events_are_delivered_after_commit() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        entity_services(
            &server,
            "CreateUser",
            &json!({"name": OPERATOR, "password": PASSWORD}),
        )
        .await;
        thing(&server, "Line", &[("count", "NUMBER")]).await;
        data_shape(&conn, "AlarmShape", &[("level", "NUMBER", false)]).await;
        admin_call(
            &server,
            "/Thingworx/Things/Line/Services/AddEventDefinition",
            &json!({"name": "Alarm", "dataShape": "AlarmShape"}),
        )
        .await;
        service(
            &conn,
            "Line",
            "Raise",
            &[],
            "NOTHING",
            "me.count = 3;\nme.Alarm({level: 1});\n\
             var data = DataShapes['AlarmShape'].CreateValues(); data.AddRow({level: 2});\n\
             me.FireEvent({eventName: 'Alarm', eventData: data});",
        )
        .await;
        service(
            &conn,
            "Line",
            "RaiseThenFail",
            &[],
            "NOTHING",
            "me.Alarm({level: 9});\nthrow new Error('no');",
        )
        .await;
        grant(&server, "Line", OPERATOR, "Raise", "ServiceInvoke").await;
        let res = ironworx_tests::sse::subscribe(
            &server,
            (ironworx_tests::ADMIN_USER, ironworx_tests::ADMIN_PASSWORD),
            "Line",
            "Alarm",
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{backend}");
        let mut events = ironworx_tests::sse::EventStream::open(res).await;
        let admin = Caller::admin();
        let failed = call(&server, &admin, "Line", "RaiseThenFail", json!({})).await;
        assert_eq!(
            failed.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            failed.text
        );
        let denied = call(&server, &operator(), "Line", "Raise", json!({})).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text);
        let raised = call(&server, &admin, "Line", "Raise", json!({})).await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.text);
        for level in [1.0, 2.0] {
            let firing = events.next_data().await;
            assert_eq!(firing["eventName"], json!("Alarm"), "{backend} {firing}");
            assert_eq!(firing["source"], json!("Line"), "{backend} {firing}");
            assert_eq!(
                firing["eventData"]["level"].as_f64(),
                Some(level),
                "{backend} {firing}"
            );
        }
        assert_eq!(read(&server, "Line", "count").await.as_f64(), Some(3.0));
        finish(db, server).await;
    }
}

#[tokio::test]
async fn script_limits_stop_scripts_while_others_are_answered() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        let admin = Caller::admin();
        thing(&server, "Busy", &[("count", "NUMBER")]).await;
        write(&server, "Busy", "count", json!(3)).await;
        service(
            &conn,
            "Busy",
            "Spin",
            &[],
            "NOTHING",
            "me.count = 4;\nwhile (true) {}",
        )
        .await;
        service(
            &conn,
            "Busy",
            "Hog",
            &[],
            "NOTHING",
            "var a = [];\nwhile (true) { a.push('x'.repeat(100000)); }",
        )
        .await;
        service(
            &conn,
            "Busy",
            "Deep",
            &[],
            "NUMBER",
            "result = me.Deep() + 1;",
        )
        .await;
        service(
            &conn,
            "Busy",
            "Big",
            &[],
            "STRING",
            "result = 'x'.repeat(100000);",
        )
        .await;

        // The loop runs on its own thread: a property read is answered meanwhile.
        let started = Instant::now();
        let (spin, answered) =
            tokio::join!(call(&server, &admin, "Busy", "Spin", json!({})), async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let value = read(&server, "Busy", "count").await;
                (value, started.elapsed())
            });
        assert_eq!(spin.status, StatusCode::INTERNAL_SERVER_ERROR, "{backend}");
        assert_eq!(
            spin.json["code"],
            json!("script_limit"),
            "{backend}: {}",
            spin.text
        );
        assert_eq!(spin.json["limit"], json!("timeout"), "{backend}");
        assert!(
            spin.json["message"]
                .as_str()
                .is_some_and(|m| m.contains("--script-timeout-seconds")),
            "{backend}: {}",
            spin.text
        );
        assert_eq!(answered.0, json!(3.0), "{backend}");
        assert!(
            answered.1 < Duration::from_millis(1800),
            "{backend}: the read waited {:?}",
            answered.1
        );
        assert!(started.elapsed() >= Duration::from_secs(2), "{backend}");
        assert_eq!(
            read(&server, "Busy", "count").await,
            json!(3.0),
            "{backend}"
        );

        let hog = call(&server, &admin, "Busy", "Hog", json!({})).await;
        assert_eq!(
            hog.json["code"],
            json!("script_limit"),
            "{backend}: {}",
            hog.text
        );
        assert_eq!(hog.json["limit"], json!("memory"), "{backend}");
        assert_eq!(hog.json["entity"], json!("Busy"), "{backend}");
        assert_eq!(hog.json["service"], json!("Hog"), "{backend}");

        let deep = call(&server, &admin, "Busy", "Deep", json!({})).await;
        assert_eq!(
            deep.json["code"],
            json!("script_limit"),
            "{backend}: {}",
            deep.text
        );
        assert_eq!(deep.json["limit"], json!("call depth"), "{backend}");

        let big = call(&server, &admin, "Busy", "Big", json!({})).await;
        assert_eq!(
            big.json["code"],
            json!("script_limit"),
            "{backend}: {}",
            big.text
        );
        assert_eq!(big.json["limit"], json!("result size"), "{backend}");

        // The server is still whole.
        let ok = send(&server, &admin, Method::GET, "/health", None).await;
        assert_eq!(ok.status, StatusCode::OK, "{backend}");

        drop(conn);
        finish(db, server).await;
    }
}
