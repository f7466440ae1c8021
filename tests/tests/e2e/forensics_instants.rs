//! Past instants rebuilt from the full audit record, on a running server: the forum scenario
//! (an administrator moves a user between groups and removes a template's instance rule over
//! REST; the calls answer 403; `diff live@<before> live` names exactly the lost permissions and
//! the rules that decided; the audit query says who, through which door and from where; an
//! expectations file written before fails on it), and a diff between two instants spanning an
//! import, a membership change and a rule change.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, TemplateFields};
use ironworx_importer::model::values::format_date;
use ironworx_tests::cli::run;
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect, create_user, model,
    post_json,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const PASSWORD: &str = "instants-password-1234";
const DIFF: &str = "/Thingworx/Resources/SecurityServices/Services/GetEffectivePermissionChanges";
const HISTORY: &str = "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A pause so that instants on either side of a change differ.
async fn tick() -> i64 {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let at = now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    at
}

/// alice and bob in StreamReaders (Visitors exists, empty); Thing SensorDataStream of template
/// SensorTemplate defines `temperature`; the template's instance rule lets StreamReaders read
/// the properties of its Things (added over REST).
async fn seed(db: &TestDb, server: &TestServer) {
    let conn = connect(db).await;
    for name in ["alice", "bob"] {
        create_user(&conn, name, PASSWORD).await;
    }
    model::group_of_users(&conn, "StreamReaders", &["alice", "bob"]).await;
    model::group_of_users(&conn, "Visitors", &[]).await;
    models::create_thing_template(
        &conn,
        "SensorTemplate",
        &EntityFields::default(),
        &TemplateFields {
            base_thing_template: "GenericThing".into(),
            ..TemplateFields::default()
        },
    )
    .await
    .expect("template");
    let thing = model::data_thing(&conn, "SensorDataStream", "SensorTemplate", "").await;
    model::property_definition(&conn, thing, "temperature", "NUMBER").await;
    conn.close().await.expect("close");
    admin(
        server,
        "ThingTemplates/SensorTemplate/Services/AddInstanceRunTimePermission",
        json!({"principal": "StreamReaders", "principalType": "Group", "resource": "*",
               "type": "PropertyRead", "allow": true}),
    )
    .await;
}

async fn admin(server: &TestServer, path: &str, body: Value) {
    let (status, answer) = post_json(server, ADMIN, &format!("/Thingworx/{path}"), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
}

async fn read(server: &TestServer, user: &str) -> StatusCode {
    server
        .client()
        .get(server.url("/Thingworx/Things/SensorDataStream/Properties/temperature"))
        .basic_auth(user, Some(PASSWORD))
        .send()
        .await
        .expect("read")
        .status()
}

/// (user, entity, permission, resource, allowed before, allowed after) of each change of a
/// `diff --format json`, in order.
fn changes(out: &str) -> Vec<(String, String, String, String, bool, bool)> {
    let diff: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    diff["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (
                s("user"),
                s("entity"),
                s("permission"),
                s("resource"),
                c["before"]["allowed"] == true,
                c["after"]["allowed"] == true,
            )
        })
        .collect()
}

fn lost(user: &str, resource: &str) -> (String, String, String, String, bool, bool) {
    (
        user.into(),
        "Things/SensorDataStream".into(),
        "PropertyRead".into(),
        resource.into(),
        true,
        false,
    )
}

async fn diff(db: &TestDb, data: &Path, before: &str, after: &str) -> String {
    let (code, out, err) = run(db, data, &["diff", before, after, "--format", "json"]).await;
    assert_eq!(code, 0, "diff {before} {after}: {out}{err}");
    out
}

const EXPECTATIONS: &str = r#"[[expect]]
user = "alice"
entity = "Things/SensorDataStream"
permission = "PropertyRead"
resource = "temperature"
allowed = true

[[expect]]
user = "bob"
entity = "Things/SensorDataStream"
permission = "PropertyRead"
resource = "temperature"
allowed = true
"#;

#[tokio::test]
async fn the_forum_scenario_names_what_was_lost_who_did_it_and_fails_expectations() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let data = tempfile::tempdir().expect("data dir");
        let dir = tempfile::tempdir().expect("files");
        let file = dir.path().join("expectations.toml");
        std::fs::write(&file, EXPECTATIONS).expect("write");
        let file = file.to_str().expect("utf-8");
        seed(&db, &server).await;
        for user in ["alice", "bob"] {
            assert_eq!(
                read(&server, user).await,
                StatusCode::OK,
                "{backend} {user}"
            );
        }
        let (code, out, err) = run(&db, data.path(), &["verify", file]).await;
        assert_eq!(code, 0, "{backend}: {out}{err}");

        // The administrator moves bob to Visitors, then removes the template's instance rule.
        let before = tick().await;
        admin(
            &server,
            "Groups/StreamReaders/Services/DeleteMember",
            json!({"member": "bob", "type": "User"}),
        )
        .await;
        admin(
            &server,
            "Groups/Visitors/Services/AddMember",
            json!({"member": "bob", "type": "User"}),
        )
        .await;
        let middle = tick().await;
        admin(
            &server,
            "ThingTemplates/SensorTemplate/Services/DeleteInstanceRunTimePermission",
            json!({"principal": "StreamReaders", "principalType": "Group", "resource": "*",
                   "type": "PropertyRead"}),
        )
        .await;
        for user in ["alice", "bob"] {
            assert_eq!(
                read(&server, user).await,
                StatusCode::FORBIDDEN,
                "{backend} {user}"
            );
        }

        // The diff from before names exactly what was lost, with the rules that decided.
        let (at_before, at_middle) = (
            format!("live@{}", format_date(before)),
            format!("live@{}", format_date(middle)),
        );
        let out = diff(&db, data.path(), &at_before, "live").await;
        assert_eq!(
            changes(&out),
            [
                lost("alice", "*"),
                lost("alice", "temperature"),
                lost("bob", "*"),
                lost("bob", "temperature"),
            ],
            "{backend}: {out}"
        );
        let parsed: Value = serde_json::from_str(&out).expect("json");
        for c in parsed["changes"].as_array().expect("changes") {
            assert_eq!(c["before"]["rule"]["layer"], "ThingTemplateInstance", "{c}");
            assert_eq!(c["before"]["rule"]["principal"], "StreamReaders", "{c}");
            assert_eq!(c["after"]["rule"]["layer"], "Default", "{c}");
        }
        // Each step alone: the move took bob's, the rule removal alice's.
        let out = diff(&db, data.path(), &at_before, &at_middle).await;
        assert_eq!(
            changes(&out),
            [lost("bob", "*"), lost("bob", "temperature")],
            "{backend}: {out}"
        );
        let out = diff(&db, data.path(), &at_middle, "live").await;
        assert_eq!(
            changes(&out),
            [lost("alice", "*"), lost("alice", "temperature")],
            "{backend}: {out}"
        );
        let text = {
            let (code, out, err) = run(&db, data.path(), &["diff", &at_before, "live"]).await;
            assert_eq!(code, 0, "{err}");
            out
        };
        assert!(text.contains("SensorTemplate"), "{backend}: {text}");

        // The same over REST, with two instants.
        let (status, table) = post_json(
            &server,
            ADMIN,
            DIFF,
            json!({"before": format_date(before), "after": format!("live@{}", format_date(now_ms()))}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {table}");
        assert_eq!(table["rows"].as_array().map(Vec::len), Some(4), "{table}");
        assert_eq!(table["rows"][0]["user"], "alice", "{table}");
        assert_eq!(table["rows"][0]["before"], "allowed", "{table}");

        // Who did it, through which door, from where.
        let (status, history) =
            post_json(&server, ADMIN, HISTORY, json!({"startDate": before})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {history}");
        let rows = history["rows"].as_array().cloned().unwrap_or_default();
        let mut actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
        actions.sort_unstable();
        assert_eq!(
            actions,
            [
                "AddMember",
                "DeleteInstanceRunTimePermission",
                "DeleteMember"
            ],
            "{backend}: {history}"
        );
        for row in &rows {
            assert_eq!(row["user"], ADMIN_USER, "{row}");
            assert_eq!(
                row["door"],
                format!("REST {}", row["action"].as_str().unwrap_or_default()),
                "{row}"
            );
            assert_eq!(row["address"], "127.0.0.1", "{row}");
            assert!(
                row["process"].as_str().unwrap_or_default().contains('@'),
                "{row}"
            );
        }

        // The expectations written before now fail, with the explanation; then they held.
        let (code, out, _) = run(&db, data.path(), &["verify", file]).await;
        assert_eq!(code, 1, "{backend}: {out}");
        assert!(out.contains("expectations: 0 met, 2 failed"), "{out}");
        assert!(out.contains("Default"), "{out}");
        let (code, out, err) =
            run(&db, data.path(), &["verify", file, "--against", &at_before]).await;
        assert_eq!(code, 0, "{backend}: {out}{err}");

        // Older than the record: refused with the earliest instant available.
        let (code, _, err) = run(
            &db,
            data.path(),
            &["diff", "live@2000-01-01T00:00:00Z", "live"],
        )
        .await;
        assert_ne!(code, 0);
        assert!(err.contains("the earliest instant available"), "{err}");

        server.stop().await;
        db.drop_database().await;
    }
}

const IMPORT: &str = r#"<Entities majorVersion="9" minorVersion="3" universal="">
<Things><Thing name="ImportedSensor" thingTemplate="GenericThing" enabled="true">
<RunTimePermissions><Permissions resourceName="*"><PropertyRead>
<Principal isPermitted="true" name="StreamReaders" type="Group"></Principal>
</PropertyRead></Permissions></RunTimePermissions>
</Thing></Things></Entities>"#;

#[tokio::test]
async fn a_diff_between_instants_spans_an_import_a_membership_and_a_rule_change() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let data = tempfile::tempdir().expect("data dir");
        let dir = tempfile::tempdir().expect("files");
        let export = dir.path().join("imported.xml");
        std::fs::write(&export, IMPORT).expect("write");
        seed(&db, &server).await;
        let start = tick().await;

        // An import while the server runs: StreamReaders may read ImportedSensor.
        let (code, out, err) = run(
            &db,
            data.path(),
            &["import", "--mode", "file", export.to_str().expect("utf-8")],
        )
        .await;
        assert_eq!(code, 0, "{backend}: {out}{err}");
        let imported = tick().await;
        // alice leaves StreamReaders; bob is granted ServiceInvoke on the stream.
        admin(
            &server,
            "Groups/StreamReaders/Services/DeleteMember",
            json!({"member": "alice", "type": "User"}),
        )
        .await;
        admin(
            &server,
            "Things/SensorDataStream/Services/AddRunTimePermission",
            json!({"principal": "bob", "principalType": "User", "resource": "*",
                   "type": "ServiceInvoke", "allow": true}),
        )
        .await;
        let end = tick().await;

        let at = |ms: i64| format!("live@{}", format_date(ms));
        // alice and bob, and what the changes were about (a new entity also shows every
        // user's Visibility and the administrators' everything).
        let changes = |out: &str| {
            changes(out)
                .into_iter()
                .filter(|c| {
                    ["alice", "bob"].contains(&c.0.as_str())
                        && ["PropertyRead", "ServiceInvoke"].contains(&c.2.as_str())
                })
                .collect::<Vec<_>>()
        };
        let reads = |entity: &str, user: &str, gained: bool| {
            (
                user.to_owned(),
                entity.to_owned(),
                "PropertyRead".to_owned(),
                "*".to_owned(),
                !gained,
                gained,
            )
        };
        // The import alone gave both readers ImportedSensor.
        let out = diff(&db, data.path(), &at(start), &at(imported)).await;
        assert_eq!(
            changes(&out),
            [
                reads("Things/ImportedSensor", "alice", true),
                reads("Things/ImportedSensor", "bob", true),
            ],
            "{backend}: {out}"
        );
        // Across all three: alice's import gain is gone again, her stream read lost; bob keeps
        // the import and gains ServiceInvoke.
        let out = diff(&db, data.path(), &at(start), &at(end)).await;
        let got = changes(&out);
        let mut expected = vec![
            lost("alice", "*"),
            lost("alice", "temperature"),
            reads("Things/ImportedSensor", "bob", true),
        ];
        expected.extend(got.iter().filter(|c| c.2 == "ServiceInvoke").cloned());
        expected.sort();
        assert_eq!(got, expected, "{backend}: {out}");
        assert!(
            got.iter().any(|c| c.0 == "bob"
                && c.1 == "Things/SensorDataStream"
                && c.2 == "ServiceInvoke"
                && c.3 == "*"
                && c.5),
            "{backend}: {out}"
        );
        assert!(
            got.iter()
                .filter(|c| c.2 == "ServiceInvoke")
                .all(|c| c.0 == "bob" && c.5),
            "{backend}: {out}"
        );
        // `live` is the last instant.
        assert_eq!(changes(&diff(&db, data.path(), &at(end), "live").await), []);

        server.stop().await;
        db.drop_database().await;
    }
}

/// Retention drops what the record holds from before the cut: an instant before it is refused
/// with the cut as the earliest instant, one after it still rebuilds; the server accepts the
/// setting and applies it at start.
#[tokio::test]
async fn retention_moves_the_earliest_instant() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[("IRONWORX_AUDIT_RETENTION_DAYS", "30")]).await;
        let data = tempfile::tempdir().expect("data dir");
        seed(&db, &server).await;
        let old = tick().await;
        admin(
            &server,
            "Groups/StreamReaders/Services/DeleteMember",
            json!({"member": "bob", "type": "User"}),
        )
        .await;
        let cut = tick().await;
        admin(
            &server,
            "Groups/StreamReaders/Services/DeleteMember",
            json!({"member": "alice", "type": "User"}),
        )
        .await;
        let conn = connect(&db).await;
        let dropped = ironworx_entity::queries::model_history::prune(&conn, cut)
            .await
            .expect("prune");
        assert!(dropped > 0, "{backend}");
        assert_eq!(
            ironworx_entity::queries::model_history::earliest(&conn)
                .await
                .expect("earliest"),
            cut
        );
        conn.close().await.expect("close");

        let (code, _, err) = run(
            &db,
            data.path(),
            &["diff", &format!("live@{}", format_date(old)), "live"],
        )
        .await;
        assert_ne!(code, 0, "{backend}");
        assert!(
            err.contains(&format!(
                "the audit record starts at {}, the earliest instant available",
                format_date(cut)
            )),
            "{backend}: {err}"
        );
        let out = diff(
            &db,
            data.path(),
            &format!("live@{}", format_date(cut)),
            "live",
        )
        .await;
        assert_eq!(
            changes(&out),
            [lost("alice", "*"), lost("alice", "temperature")],
            "{backend}: {out}"
        );
        server.stop().await;
        db.drop_database().await;
    }
}
