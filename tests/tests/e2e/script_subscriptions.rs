//! Subscriptions through the real server on SQLite and PostgreSQL: a DataChange subscription
//! (the Thing's own, another Thing's and a template's with the first as their source) writes
//! properties read back over REST, with `eventData`, `eventName`, `source` and
//! `sourceProperty`; a custom event fired over REST and by a script runs its subscription, and
//! `ThingStart` on `EnableThing` and `RestartThing`; a subscription that throws writes nothing
//! while the firing request succeeds; a subscription runs as the user who fired
//! the event, so what that user may not do is denied to it; a Timer Thing (updateRate 200 ms)
//! and a Scheduler Thing (every second) fire and their subscriptions run as their
//! `runAsUser`. On PostgreSQL, with two server processes on one database: one write runs its
//! subscription once, and each Timer tick is fired by one process.

use std::time::{Duration, Instant};

use ironworx_entity::queries::entities::find_entity;
use ironworx_entity::vocab::Collection;
use ironworx_tests::http::{Caller, admin_call, entity_services, send};
use ironworx_tests::model::{configuration_table, data_shape, script_service, script_subscription};
use ironworx_tests::things::{
    generic_thing as thing, grant_user as grant, read_property as read, thing_id as id_of,
    write_property as write_as,
};
use ironworx_tests::{Backend, TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const OPERATOR: &str = "Operator";
const PASSWORD: &str = "operator-password-1";

async fn start(db: &TestDb) -> TestServer {
    TestServer::start(db, &[("IRONWORX_SCRIPT_TIMEOUT_SECONDS", "5")]).await
}

async fn finish(db: TestDb, server: TestServer) {
    assert!(server.stop().await.success());
    db.drop_database().await;
}

/// A subscription of `holder` to `event` of `source` (empty: itself).
async fn subscription(
    conn: &DatabaseConnection,
    holder: &str,
    name: &str,
    listens: (&str, &str, &str),
    code: &str,
) {
    let id = id_of(conn, holder).await;
    script_subscription(conn, id, name, listens, code).await;
}

async fn write(server: &TestServer, thing: &str, property: &str, value: Value) {
    write_as(server, &Caller::admin(), thing, property, value).await;
}

/// Waits until `property` of `thing` reads `expected` (subscriptions run after the request
/// answered); fails after 15 s.
async fn wait_for(server: &TestServer, thing: &str, property: &str, expected: &Value) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = read(server, thing, property).await;
        if &now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{thing}.{property} is {now}, never {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn data_change_subscriptions_write_properties() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        thing(
            &server,
            "Line",
            &[
                ("speed", "NUMBER"),
                ("doubled", "NUMBER"),
                ("seen", "STRING"),
                ("other", "NUMBER"),
            ],
        )
        .await;
        thing(
            &server,
            "Watcher",
            &[("copy", "NUMBER"), ("from", "STRING")],
        )
        .await;
        subscription(
            &conn,
            "Line",
            "Double",
            ("", "DataChange", "speed"),
            "me.doubled = eventData.newValue.value * 2;\n\
             me.seen = [eventName, source, sourceProperty, eventData.oldValue.value,\n\
             eventData.getRowCount(), eventTime instanceof Date].join(',');",
        )
        .await;
        subscription(
            &conn,
            "Watcher",
            "Copy",
            ("Line", "DataChange", "speed"),
            "me.copy = eventData.newValue.value;\nme.from = source + '/' + me.name;",
        )
        .await;
        // A template's subscription with a source runs on each Thing built on the template.
        entity_services(
            &server,
            "CreateThingTemplate",
            &json!({"name": "WatchTemplate", "baseThingTemplateName": "GenericThing"}),
        )
        .await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Watcher2", "thingTemplateName": "WatchTemplate"}),
        )
        .await;
        admin_call(
            &server,
            "/Thingworx/Things/Watcher2/Services/AddPropertyDefinition",
            &json!({"name": "copy", "type": "NUMBER"}),
        )
        .await;
        let template = find_entity(&conn, Collection::ThingTemplates, "WatchTemplate")
            .await
            .expect("read")
            .expect("the template exists")
            .id;
        script_subscription(
            &conn,
            template,
            "Copy",
            ("Line", "DataChange", "speed"),
            "me.copy = eventData.newValue.value + 1;",
        )
        .await;
        write(&server, "Line", "speed", json!(10)).await;
        wait_for(&server, "Line", "doubled", &json!(20.0)).await;
        wait_for(&server, "Watcher2", "copy", &json!(11.0)).await;
        wait_for(&server, "Watcher", "copy", &json!(10.0)).await;
        write(&server, "Line", "speed", json!(21)).await;
        wait_for(&server, "Line", "doubled", &json!(42.0)).await;
        assert_eq!(
            read(&server, "Line", "seen").await,
            json!("DataChange,Line,speed,10,1,true"),
            "{backend}"
        );
        wait_for(&server, "Watcher", "copy", &json!(21.0)).await;
        assert_eq!(
            read(&server, "Watcher", "from").await,
            json!("Line/Watcher")
        );
        // A write to another property runs neither.
        write(&server, "Line", "other", json!(1)).await;
        write(&server, "Line", "speed", json!(1)).await;
        wait_for(&server, "Line", "doubled", &json!(2.0)).await;
        finish(db, server).await;
    }
}

#[tokio::test]
async fn custom_event_subscriptions_run_for_rest_and_scripts() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        thing(
            &server,
            "Line",
            &[
                ("level", "NUMBER"),
                ("seen", "STRING"),
                ("starts", "NUMBER"),
            ],
        )
        .await;
        data_shape(&conn, "AlarmShape", &[("level", "NUMBER", false)]).await;
        admin_call(
            &server,
            "/Thingworx/Things/Line/Services/AddEventDefinition",
            &json!({"name": "Alarm", "dataShape": "AlarmShape"}),
        )
        .await;
        subscription(
            &conn,
            "Line",
            "OnAlarm",
            ("", "Alarm", ""),
            "me.level = eventData.level;\nme.seen = eventName + '@' + source;",
        )
        .await;
        let id = id_of(&conn, "Line").await;
        script_service(&conn, id, "Raise", &[], "NOTHING", "me.Alarm({level: 6});").await;
        let fired = send(
            &server,
            &Caller::admin(),
            Method::POST,
            "/Thingworx/Things/Line/Events/Alarm",
            Some(&json!({"level": 4})),
        )
        .await;
        assert_eq!(fired.status, StatusCode::OK, "{backend} {}", fired.text);
        wait_for(&server, "Line", "level", &json!(4.0)).await;
        assert_eq!(read(&server, "Line", "seen").await, json!("Alarm@Line"));
        let raised = send(
            &server,
            &Caller::admin(),
            Method::POST,
            "/Thingworx/Things/Line/Services/Raise",
            Some(&json!({})),
        )
        .await;
        assert_eq!(raised.status, StatusCode::OK, "{backend} {}", raised.text);
        wait_for(&server, "Line", "level", &json!(6.0)).await;

        // ThingStart: enabling the (new, disabled) Thing, and restarting it.
        write(&server, "Line", "starts", json!(0)).await;
        subscription(
            &conn,
            "Line",
            "OnStart",
            ("", "ThingStart", ""),
            "me.starts = me.starts + 1;",
        )
        .await;
        for (service, starts) in [("EnableThing", 1.0), ("RestartThing", 2.0)] {
            admin_call(
                &server,
                &format!("/Thingworx/Things/Line/Services/{service}"),
                &json!({}),
            )
            .await;
            wait_for(&server, "Line", "starts", &json!(starts)).await;
        }
        finish(db, server).await;
    }
}

/// Subscriptions run one after another: once `marked` is set, those that ran
/// before it have ended.
#[tokio::test]
async fn a_failing_or_denied_subscription_writes_nothing() {
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
        let operator = Caller::Basic(OPERATOR.to_owned(), PASSWORD.to_owned());
        thing(
            &server,
            "Line",
            &[
                ("fail", "NUMBER"),
                ("touch", "NUMBER"),
                ("partial", "NUMBER"),
                ("mark", "NUMBER"),
                ("marked", "NUMBER"),
            ],
        )
        .await;
        thing(&server, "Secret", &[("value", "NUMBER")]).await;
        grant(&server, "Line", OPERATOR, "*", "PropertyRead").await;
        grant(&server, "Line", OPERATOR, "*", "PropertyWrite").await;
        subscription(
            &conn,
            "Line",
            "Fails",
            ("", "DataChange", "fail"),
            "me.partial = 1;\nthrow new Error('boom');",
        )
        .await;
        subscription(
            &conn,
            "Line",
            "Touches",
            ("", "DataChange", "touch"),
            "me.partial = 2;\nThings['Secret'].value = eventData.newValue.value;",
        )
        .await;
        subscription(
            &conn,
            "Line",
            "Marks",
            ("", "DataChange", "mark"),
            "me.marked = eventData.newValue.value * 10;",
        )
        .await;

        write(&server, "Line", "partial", json!(0)).await;
        write(&server, "Secret", "value", json!(0)).await;

        // The throw: the firing write succeeded, the subscription's write is dropped.
        write(&server, "Line", "fail", json!(1)).await;
        assert_eq!(read(&server, "Line", "fail").await, json!(1.0));
        write(&server, "Line", "mark", json!(1)).await;
        wait_for(&server, "Line", "marked", &json!(10.0)).await;
        assert_eq!(
            read(&server, "Line", "partial").await,
            json!(0.0),
            "{backend}"
        );

        // The operator may write Line but not Secret: the subscription of its write is denied
        // and keeps nothing.
        write_as(&server, &operator, "Line", "touch", json!(5)).await;
        write(&server, "Line", "mark", json!(2)).await;
        wait_for(&server, "Line", "marked", &json!(20.0)).await;
        assert_eq!(
            read(&server, "Secret", "value").await,
            json!(0.0),
            "{backend}"
        );
        assert_eq!(
            read(&server, "Line", "partial").await,
            json!(0.0),
            "{backend}"
        );

        // The same firing by the administrator runs it.
        write(&server, "Line", "touch", json!(7)).await;
        wait_for(&server, "Secret", "value", &json!(7.0)).await;
        assert_eq!(
            read(&server, "Line", "partial").await,
            json!(2.0),
            "{backend}"
        );
        finish(db, server).await;
    }
}

/// The Thing `name` on the built-in template `template` (`Timer`, `Scheduler`) with its
/// `Settings` row and a NUMBER `count` (0) that its subscription to `event` adds one to, and
/// a STRING `ticks` it appends each tick's `timestamp` to.
async fn timed_thing(
    server: &TestServer,
    conn: &DatabaseConnection,
    (name, template, event): (&str, &str, &str),
    settings: Value,
) {
    entity_services(
        server,
        "CreateThing",
        &json!({"name": name, "thingTemplateName": template}),
    )
    .await;
    for (property, base_type) in [("count", "NUMBER"), ("ticks", "STRING")] {
        admin_call(
            server,
            &format!("/Thingworx/Things/{name}/Services/AddPropertyDefinition"),
            &json!({"name": property, "type": base_type}),
        )
        .await;
    }
    write(server, name, "count", json!(0)).await;
    write(server, name, "ticks", json!("")).await;
    subscription(
        conn,
        name,
        "Count",
        ("", event, ""),
        "me.count = me.count + 1;\nme.ticks = me.ticks + ',' + eventData.timestamp;",
    )
    .await;
    let id = id_of(conn, name).await;
    configuration_table(conn, id, "Settings", settings).await;
}

/// The ticks a timed Thing's subscription recorded, in order.
async fn ticks(server: &TestServer, thing: &str) -> Vec<i64> {
    read(server, thing, "ticks")
        .await
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| t.parse::<f64>().ok())
        .map(|t| t as i64)
        .collect()
}

/// The ticks `thing` recorded and the runs it counted. The timer keeps firing between the two
/// reads, so they are read again (a few times at most) while a run landed in between.
async fn ticks_and_count(server: &TestServer, thing: &str) -> (Vec<i64>, f64) {
    let mut read_last = (Vec::new(), 0.0);
    for _ in 0..5 {
        let recorded = ticks(server, thing).await;
        let count = read(server, thing, "count").await.as_f64().unwrap_or(0.0);
        if count == recorded.len() as f64 {
            return (recorded, count);
        }
        read_last = (recorded, count);
    }
    read_last
}

/// Waits until `thing` counted at least `least` ticks; fails after 15 s.
async fn wait_for_ticks(server: &TestServer, thing: &str, least: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while read(server, thing, "count").await.as_f64().unwrap_or(0.0) < least {
        assert!(
            Instant::now() < deadline,
            "{thing} never ticked {least} times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn timers_and_schedulers_fire_their_events() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = start(&db).await;
        let conn = connect(&db).await;
        timed_thing(
            &server,
            &conn,
            ("Clock", "Timer", "Timer"),
            json!({"enabled": true, "runAsUser": "Administrator", "updateRate": 200.0}),
        )
        .await;
        timed_thing(
            &server,
            &conn,
            ("Cron", "Scheduler", "ScheduledEvent"),
            json!({"enabled": true, "runAsUser": "Administrator", "schedule": "* * * * * ?"}),
        )
        .await;
        // Disabled, or with no user: never fires.
        timed_thing(
            &server,
            &conn,
            ("Off", "Timer", "Timer"),
            json!({"enabled": false, "runAsUser": "Administrator", "updateRate": 200.0}),
        )
        .await;
        timed_thing(
            &server,
            &conn,
            ("Nobody", "Timer", "Timer"),
            json!({"enabled": true, "runAsUser": "", "updateRate": 200.0}),
        )
        .await;
        wait_for_ticks(&server, "Clock", 1.0).await;
        let started = Instant::now();
        let first = read(&server, "Clock", "count")
            .await
            .as_f64()
            .unwrap_or(0.0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ran = read(&server, "Clock", "count")
            .await
            .as_f64()
            .unwrap_or(0.0)
            - first;
        let expected = started.elapsed().as_millis() as f64 / 200.0;
        assert!(
            ran >= expected - 4.0 && ran <= expected + 2.0,
            "{backend}: {ran} ticks in {:?}",
            started.elapsed()
        );
        let recorded = ticks(&server, "Clock").await;
        assert!(
            recorded
                .windows(2)
                .all(|w| w[1] > w[0] && (w[1] - w[0]) % 200 == 0),
            "{backend}: {recorded:?}"
        );
        wait_for_ticks(&server, "Cron", 1.0).await;
        assert!(
            ticks(&server, "Cron").await.iter().all(|t| t % 1000 == 0),
            "{backend}"
        );
        for off in ["Off", "Nobody"] {
            assert_eq!(
                read(&server, off, "count").await,
                json!(0.0),
                "{backend} {off}"
            );
        }
        finish(db, server).await;
    }
}

/// Two processes on one PostgreSQL database: a write through either runs its subscription
/// once, and each tick of a Timer is fired by one of them.
#[tokio::test]
async fn two_processes_run_each_firing_once() {
    for backend in backends() {
        if backend != Backend::Postgres {
            println!("{backend}: skipped, processes share a database on PostgreSQL only");
            continue;
        }
        let db = TestDb::create(backend).await;
        let a = start(&db).await;
        let b = start(&db).await;
        let conn = connect(&db).await;
        thing(&a, "Line", &[("speed", "NUMBER"), ("runs", "NUMBER")]).await;
        write(&a, "Line", "runs", json!(0)).await;
        subscription(
            &conn,
            "Line",
            "Count",
            ("", "DataChange", "speed"),
            "me.runs = me.runs + 1;",
        )
        .await;
        for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
            write(server, "Line", "speed", json!(i)).await;
            let runs = json!((i + 1) as f64);
            wait_for(&a, "Line", "runs", &runs).await;
            wait_for(&b, "Line", "runs", &runs).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(read(&b, "Line", "runs").await, json!(4.0));

        timed_thing(
            &a,
            &conn,
            ("Clock", "Timer", "Timer"),
            json!({"enabled": true, "runAsUser": "Administrator", "updateRate": 200.0}),
        )
        .await;
        wait_for_ticks(&b, "Clock", 2.0).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (recorded, count) = ticks_and_count(&a, "Clock").await;
        // One firer: every tick once, consecutive ticks 200 ms apart, as many runs as ticks.
        assert!(recorded.len() >= 8, "{recorded:?}");
        assert!(
            recorded.windows(2).all(|w| w[1] - w[0] == 200),
            "{recorded:?}"
        );
        assert_eq!(count, recorded.len() as f64, "{recorded:?}");
        assert!(a.stop().await.success());
        finish(db, b).await;
    }
}
