//! Two server processes on one database behave as one server (contract §4 item 11): a session
//! opened through one works on the other and a logout through one ends it on both; a lockout
//! for a client address counted through one, or an administrator's lock set through one, is
//! enforced by the other; a property written through one is read through the other; an
//! application key made through one works on the other until it is deleted through the first;
//! on PostgreSQL, an event fired through one reaches the subscribers of the other.

use ironworx_entity::queries::models;
use ironworx_tests::forms::login;
use ironworx_tests::model::{data_shape, event_definition};
use ironworx_tests::sse::{EventStream, subscribe};
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, Backend, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ALICE: (&str, &str) = ("alice", "alice-password-1");
const BOB: (&str, &str) = ("bob", "bob-password-123");
const WHO_AM_I: &str = "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser";
const TEMPERATURE: &str = "/Thingworx/Things/Pump1/Properties/Temperature";
/// The client address failed logins come from, and another one.
const FAILING: &str = "203.0.113.5";
const ELSEWHERE: &str = "198.51.100.5";
const PROXY: (&str, &str) = ("IRONWORX_TRUSTED_PROXY_HEADER", "X-Forwarded-For");

async fn ok(server: &TestServer, who: (&str, &str), path: &str, body: Value) -> Value {
    let (status, body) = ironworx_tests::post_json(server, who, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// `GetCurrentUser` with the header `name: value`: the status and the user it names.
async fn whoami(server: &TestServer, name: header::HeaderName, value: &str) -> (StatusCode, Value) {
    let res = server
        .client()
        .post(server.url(WHO_AM_I))
        .header(name, value)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["rows"][0]["result"].clone())
}

async fn basic(server: &TestServer, who: (&str, &str)) -> StatusCode {
    basic_from(server, "192.0.2.1", who).await
}

/// Basic credentials from `client`, as the trusted proxy header says.
async fn basic_from(server: &TestServer, client: &str, who: (&str, &str)) -> StatusCode {
    server
        .client()
        .post(server.url(WHO_AM_I))
        .header("X-Forwarded-For", client)
        .basic_auth(who.0, Some(who.1))
        .json(&json!({}))
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn two_processes_share_sessions_lockouts_properties_and_keys() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[PROXY]).await;
        let b = TestServer::start(&db, &[PROXY]).await;
        let conn = connect(&db).await;
        for (name, password) in [ALICE, BOB] {
            ironworx_tests::create_user(&conn, name, password).await;
        }

        // A session opened on A is good on B; a logout on B ends it on A.
        let reply = login(&a, "Everyone", ALICE.0, ALICE.1).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{backend}: {}",
            reply.body
        );
        let session = reply.cookie("JSESSIONID").expect("session").value.clone();
        let cookie = format!("JSESSIONID={session}");
        assert_eq!(
            whoami(&b, header::COOKIE, &cookie).await,
            (StatusCode::OK, json!("alice")),
            "{backend}: A's session on B"
        );
        let out = b
            .client()
            .post(b.url("/Thingworx/Logout"))
            .header(header::COOKIE, &cookie)
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("logout");
        assert!(
            out.status().is_success() || out.status().is_redirection(),
            "{}",
            out.status()
        );
        assert_eq!(
            whoami(&a, header::COOKIE, &cookie).await.0,
            StatusCode::UNAUTHORIZED,
            "{backend}: logged out through B, refused by A"
        );

        // Failed logins counted on A lock the user for their address on B (5 within the
        // window); another address is not locked; an unlock through B frees the address on A.
        assert_eq!(basic(&b, BOB).await, StatusCode::OK, "{backend}");
        for _ in 0..5 {
            assert_eq!(
                basic_from(&a, FAILING, (BOB.0, "wrong-password")).await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            basic_from(&b, FAILING, BOB).await,
            StatusCode::UNAUTHORIZED,
            "{backend}: locked through A's counter, refused by B with the right password"
        );
        assert_eq!(
            basic_from(&b, ELSEWHERE, BOB).await,
            StatusCode::OK,
            "{backend}: another address is not locked"
        );
        ok(
            &b,
            ADMIN,
            "/Thingworx/Users/bob/Services/UnlockUser",
            json!({}),
        )
        .await;
        assert_eq!(
            basic_from(&a, FAILING, BOB).await,
            StatusCode::OK,
            "{backend}: unlocked through B"
        );

        // An administrator's lock through A: B refuses a user whose credentials it just verified.
        assert_eq!(basic(&b, ALICE).await, StatusCode::OK);
        ok(
            &a,
            ADMIN,
            "/Thingworx/Users/alice/Services/LockUser",
            json!({}),
        )
        .await;
        assert_eq!(
            basic(&b, ALICE).await,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        ok(
            &a,
            ADMIN,
            "/Thingworx/Users/alice/Services/UnlockUser",
            json!({}),
        )
        .await;
        assert_eq!(basic(&b, ALICE).await, StatusCode::OK, "{backend}");

        // A property written through A is read through B, and B's permission change holds on A.
        let services = "/Thingworx/Resources/EntityServices/Services";
        ok(
            &a,
            ADMIN,
            &format!("{services}/CreateThing"),
            json!({"name": "Pump1", "thingTemplateName": "GenericThing"}),
        )
        .await;
        ok(
            &a,
            ADMIN,
            "/Thingworx/Things/Pump1/Services/AddPropertyDefinition",
            json!({"name": "Temperature", "type": "NUMBER"}),
        )
        .await;
        for kind in ["PropertyRead", "PropertyWrite"] {
            ok(
                &b,
                ADMIN,
                "/Thingworx/Things/Pump1/Services/AddRunTimePermission",
                json!({"principal": "alice", "principalType": "User", "resource": "*",
                       "type": kind, "allow": true}),
            )
            .await;
        }
        let put = a
            .client()
            .put(a.url(TEMPERATURE))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .json(&json!({"Temperature": 42.5}))
            .send()
            .await
            .expect("write");
        assert_eq!(
            put.status(),
            StatusCode::OK,
            "{backend}: {}",
            put.text().await.unwrap_or_default()
        );
        let read = b
            .client()
            .get(b.url(TEMPERATURE))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .send()
            .await
            .expect("read");
        assert_eq!(read.status(), StatusCode::OK);
        let table: Value = read.json().await.expect("json");
        assert_eq!(table["rows"][0]["Temperature"], json!(42.5), "{backend}");
        ok(
            &b,
            ADMIN,
            "/Thingworx/Things/Pump1/Services/AddRunTimePermission",
            json!({"principal": "alice", "principalType": "User", "resource": "Temperature",
                   "type": "PropertyRead", "allow": false}),
        )
        .await;
        let refused = a
            .client()
            .get(a.url(TEMPERATURE))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .send()
            .await
            .expect("read");
        assert_eq!(
            refused.status(),
            StatusCode::FORBIDDEN,
            "{backend}: B's deny enforced by A"
        );

        // An application key made through A works on B until deleted through A.
        let created = ok(
            &a,
            ADMIN,
            &format!("{services}/CreateApplicationKey"),
            json!({"name": "AliceKey", "user": "alice"}),
        )
        .await;
        let key = created["rows"][0]["result"]
            .as_str()
            .expect("key id")
            .to_owned();
        let app_key = header::HeaderName::from_static("appkey");
        assert_eq!(
            whoami(&b, app_key.clone(), &key).await,
            (StatusCode::OK, json!("alice"))
        );
        ok(
            &a,
            ADMIN,
            &format!("{services}/DeleteApplicationKey"),
            json!({"name": "AliceKey"}),
        )
        .await;
        assert_eq!(
            whoami(&b, app_key, &key).await.0,
            StatusCode::UNAUTHORIZED,
            "{backend}: deleted through A, refused by B"
        );

        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// Grants (or, with `service` `DeleteRunTimePermission`, removes) alice's `kind` on `resource`
/// of Pump, through `server`.
async fn alice_rule(server: &TestServer, service: &str, kind: &str, resource: &str) {
    ok(
        server,
        ADMIN,
        &format!("/Thingworx/Things/Pump/Services/{service}"),
        json!({"principal": "alice", "principalType": "User", "resource": resource, "type": kind, "allow": true}),
    )
    .await;
}

/// On PostgreSQL, an event fired through one process reaches a subscriber of the other: small
/// and large data, a DataChange from a property write, and a revoked right ends the stream.
#[tokio::test]
async fn events_fired_on_one_process_reach_subscribers_of_the_other() {
    for backend in backends() {
        if backend != Backend::Postgres {
            println!("{backend}: skipped, events cross processes on PostgreSQL only");
            continue;
        }
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[]).await;
        let b = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, ALICE.0, ALICE.1).await;
        let services = "/Thingworx/Resources/EntityServices/Services";
        ok(
            &a,
            ADMIN,
            &format!("{services}/CreateThing"),
            json!({"name": "Pump", "thingTemplateName": "GenericThing"}),
        )
        .await;
        ok(
            &a,
            ADMIN,
            "/Thingworx/Things/Pump/Services/AddPropertyDefinition",
            json!({"name": "speed", "type": "NUMBER"}),
        )
        .await;
        data_shape(&conn, "ReportData", &[("text", "STRING", false)]).await;
        let pump = models::get_thing(&conn, "Pump").await.expect("pump").0.id;
        event_definition(&conn, pump, "Report", "ReportData").await;
        alice_rule(&a, "AddRunTimePermission", "EventSubscribe", "Report").await;
        alice_rule(&a, "AddRunTimePermission", "EventSubscribe", "DataChange").await;

        let res = subscribe(&b, ALICE, "Pump", "Report").await;
        assert_eq!(res.status(), StatusCode::OK, "alice subscribes on B");
        let mut report = EventStream::open(res).await;
        let res = subscribe(&b, ALICE, "Pump", "DataChange").await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut changes = EventStream::open(res).await;

        // A small firing, then one far larger than one notification, with multi-byte text.
        let large = "Ünïcødé ✓ 😀 ".repeat(2_000);
        for text in ["first", large.as_str()] {
            ok(
                &a,
                ADMIN,
                "/Thingworx/Things/Pump/Events/Report",
                json!({ "text": text }),
            )
            .await;
            let firing = report.next_data().await;
            assert_eq!(firing["source"], json!("Pump"));
            assert_eq!(firing["eventName"], json!("Report"));
            assert_eq!(
                firing["eventData"]["text"],
                json!(text),
                "fired on A, read on B"
            );
        }

        // A property write on A fires DataChange for B's subscriber.
        let put = a
            .client()
            .put(a.url("/Thingworx/Things/Pump/Properties/speed"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .json(&json!({"speed": 7}))
            .send()
            .await
            .expect("write");
        assert!(put.status().is_success(), "{}", put.status());
        let firing = changes.next_data().await;
        assert_eq!(firing["eventName"], json!("DataChange"), "{firing}");
        assert_eq!(firing["eventData"]["name"], json!("speed"), "{firing}");
        assert_eq!(firing["eventData"]["newValue"]["value"].as_f64(), Some(7.0));

        // The right is removed through A: B ends alice's stream at the next firing.
        alice_rule(&a, "DeleteRunTimePermission", "EventSubscribe", "Report").await;
        ok(
            &a,
            ADMIN,
            "/Thingworx/Things/Pump/Events/Report",
            json!({ "text": "after the revocation" }),
        )
        .await;
        assert_eq!(
            report.until_end().await,
            Vec::<Value>::new(),
            "a revoked subscriber gets no more firings and its stream ends"
        );
        drop((report, changes));
        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// A template chain with a shape, and a Thing of it, as an export holds them; `extra` is
/// spliced into the base template's property definitions (a newer version of it).
fn chain_export(extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Entities majorVersion="9" minorVersion="3" schemaVersion="1000" universal="password">
  <ThingShapes>
    <ThingShape name="FreshShape">
      <PropertyDefinitions>
        <PropertyDefinition name="shaped" baseType="STRING" ordinal="1"/>
      </PropertyDefinitions>
    </ThingShape>
  </ThingShapes>
  <ThingTemplates>
    <ThingTemplate name="FreshBase" baseThingTemplate="GenericThing">
      <ThingShape>
        <PropertyDefinitions>
          <PropertyDefinition name="level" baseType="NUMBER" ordinal="1"/>
          {extra}
        </PropertyDefinitions>
      </ThingShape>
    </ThingTemplate>
    <ThingTemplate name="FreshMid" baseThingTemplate="FreshBase">
      <ImplementedShapes><ImplementedShape name="FreshShape" type="ThingShape"/></ImplementedShapes>
    </ThingTemplate>
  </ThingTemplates>
  <Things>
    <Thing name="FreshThing" thingTemplate="FreshMid" enabled="true"/>
  </Things>
</Entities>"#
    )
}

/// The property `property` of `thing` through `server`: the status and the value.
async fn property(server: &TestServer, thing: &str, property: &str) -> (StatusCode, Value) {
    let res = server
        .client()
        .get(server.url(&format!("/Thingworx/Things/{thing}/Properties/{property}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .expect("request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["rows"][0][property].clone())
}

async fn put_property(server: &TestServer, thing: &str, property: &str, value: Value) {
    let res = server
        .client()
        .put(server.url(&format!("/Thingworx/Things/{thing}/Properties/{property}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-Requested-With", "XMLHttpRequest")
        .json(&json!({ property: value }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "PUT {thing}.{property}");
}

/// Each process holds the Thing model in memory; a change made through one (an import of a
/// newer template, a property definition added or removed, a value written, a Thing deleted
/// and made again on another template) is what the other answers on its very next request.
#[tokio::test]
async fn the_thing_model_in_memory_is_current_on_both_processes() {
    use ironworx_tests::http::{Caller, upload};
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[]).await;
        let b = TestServer::start(&db, &[]).await;
        let admin = Caller::admin();
        let reply = upload(&a, &admin, "chain.xml", chain_export("").as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{backend}: {}", reply.text);
        // Through the chain: the base template's property and the shape of the middle one.
        assert_eq!(
            property(&b, "FreshThing", "level").await,
            (StatusCode::OK, Value::Null),
            "{backend}: no value and no default yet"
        );
        assert_eq!(property(&b, "FreshThing", "shaped").await.0, StatusCode::OK);
        assert_eq!(
            property(&b, "FreshThing", "added").await.0,
            StatusCode::NOT_FOUND
        );

        // A newer version of the base template, imported through B, is read through A at
        // once (A held the Thing since its first read).
        assert_eq!(property(&a, "FreshThing", "level").await.0, StatusCode::OK);
        let newer =
            chain_export(r#"<PropertyDefinition name="added" baseType="STRING" ordinal="2"/>"#);
        let reply = upload(&b, &admin, "chain.xml", newer.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{backend}: {}", reply.text);
        assert_eq!(
            property(&a, "FreshThing", "added").await,
            (StatusCode::OK, Value::Null),
            "{backend}: the template's new property, through A"
        );

        // Values written through one process, read through the other on the next request.
        for round in 0..20 {
            let (writer, reader) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
            put_property(writer, "FreshThing", "level", json!(round)).await;
            assert_eq!(
                property(reader, "FreshThing", "level").await,
                (StatusCode::OK, json!(round as f64)),
                "{backend}: round {round}"
            );
        }

        // A property definition added to the Thing through A, removed through B.
        let add = "/Thingworx/Things/FreshThing/Services/AddPropertyDefinition";
        let (status, body) =
            ironworx_tests::post_json(&a, ADMIN, add, json!({"name": "own", "type": "INTEGER"}))
                .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert_eq!(
            property(&b, "FreshThing", "own").await,
            (StatusCode::OK, Value::Null),
            "{backend}"
        );
        let remove = "/Thingworx/Things/FreshThing/Services/RemovePropertyDefinition";
        let (status, body) =
            ironworx_tests::post_json(&b, ADMIN, remove, json!({"name": "own"})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert_eq!(
            property(&a, "FreshThing", "own").await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );

        // Deleted through A: gone on B; made again through B on the root template, without
        // the chain's properties and without the old values, on A.
        let services = "/Thingworx/Resources/EntityServices/Services";
        ok(
            &a,
            ADMIN,
            &format!("{services}/DeleteThing"),
            json!({"name": "FreshThing"}),
        )
        .await;
        assert_eq!(
            property(&b, "FreshThing", "level").await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        ok(
            &b,
            ADMIN,
            &format!("{services}/CreateThing"),
            json!({"name": "FreshThing", "thingTemplateName": "FreshBase"}),
        )
        .await;
        assert_eq!(
            property(&a, "FreshThing", "level").await,
            (StatusCode::OK, Value::Null),
            "{backend}: a new Thing does not keep the old Thing's value"
        );
        assert_eq!(
            property(&a, "FreshThing", "shaped").await.0,
            StatusCode::NOT_FOUND,
            "{backend}: FreshBase implements no shape"
        );
        db.drop_database().await;
    }
}
