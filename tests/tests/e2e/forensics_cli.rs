//! `ironworx diff` and `ironworx verify` on a real database: a membership change between two
//! exports (and between an export and `live`) lists exactly the permissions it took, with the
//! rule that decided before and after; filters; JSON; expectations that pass, fail with exit 1
//! and the explanation, JUnit XML; bad files and unknown names.

use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser};
use ironworx_entity::queries::{entities, groups};
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType};
use ironworx_tests::cli::run;
use ironworx_tests::{TestDb, backends, model};
use serde_json::{Value, json};

/// alice and bob in group Operators, which may read every property of Thing
/// SensorDataStream (defining `temperature`).
async fn seed(db: &TestDb) {
    let conn = ironworx_tests::import_export::bootstrapped(db).await;
    for name in ["alice", "bob"] {
        users::create_user(
            &conn,
            &NewUser {
                name: name.into(),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
    }
    model::group_of_users(&conn, "Operators", &["alice", "bob"]).await;
    let thing = model::data_thing(&conn, "SensorDataStream", "GenericThing", "").await;
    model::property_definition(&conn, thing, "temperature", "NUMBER").await;
    permissions::set_entity_rule(
        &conn,
        thing,
        false,
        &Rule::any(
            PermissionKind::PropertyRead,
            PrincipalType::Group,
            "Operators",
            Effect::Allow,
        ),
    )
    .await
    .expect("rule");
    conn.close().await.expect("close");
}

async fn remove_bob(db: &TestDb) {
    let conn = ironworx_tests::connect(db).await;
    assert!(
        groups::remove_member(&conn, "Operators", "bob", MemberType::User)
            .await
            .expect("remove")
    );
    conn.close().await.expect("close");
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test]
async fn diff_lists_exactly_the_permissions_a_membership_change_took() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let dir = tempfile::tempdir().expect("exports");
        let before = dir.path().join("before");
        let after = dir.path().join("after.zip");
        let (before, after) = (
            before.to_str().expect("utf-8"),
            after.to_str().expect("utf-8"),
        );
        seed(&db).await;
        let (code, _, err) = run(
            &db,
            data.path(),
            &["export", "--mode", "storage", "--format", "xml", before],
        )
        .await;
        assert_eq!(code, 0, "{backend}: {err}");
        remove_bob(&db).await;
        let (code, _, err) = run(
            &db,
            data.path(),
            &["export", "--mode", "storage", "--format", "zip", after],
        )
        .await;
        assert_eq!(code, 0, "{backend}: {err}");

        // Two exports: exactly bob's PropertyRead on `*` and on `temperature`.
        let (code, out, err) = run(
            &db,
            data.path(),
            &["diff", before, after, "--format", "json"],
        )
        .await;
        assert_eq!(code, 0, "{backend}: {err}");
        let diff = json(&out);
        assert_eq!(diff["lost"], 2, "{backend}: {out}");
        assert_eq!(diff["gained"], 0, "{backend}: {out}");
        let changes = diff["changes"].as_array().expect("changes");
        let asked: Vec<(&str, &str, &str, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c["user"].as_str().unwrap_or(""),
                    c["entity"].as_str().unwrap_or(""),
                    c["permission"].as_str().unwrap_or(""),
                    c["resource"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            asked,
            vec![
                ("bob", "Things/SensorDataStream", "PropertyRead", "*"),
                (
                    "bob",
                    "Things/SensorDataStream",
                    "PropertyRead",
                    "temperature"
                ),
            ],
            "{backend}: {out}"
        );
        for c in changes {
            assert_eq!(c["before"]["allowed"], true);
            assert_eq!(c["before"]["rule"]["layer"], "Entity");
            assert_eq!(c["before"]["rule"]["principal"], "Operators");
            assert_eq!(c["before"]["rule"]["principalType"], "Group");
            assert_eq!(c["before"]["rule"]["effect"], "ALLOW");
            assert_eq!(c["after"]["allowed"], false);
            assert_eq!(c["after"]["outcome"], "DENY");
            assert_eq!(c["after"]["rule"]["layer"], "Default");
            assert!(
                c["after"]["rule"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("default is deny")),
                "{c}"
            );
        }

        // The same as text, grouped by user and entity.
        let (code, out, _) = run(&db, data.path(), &["diff", before, after]).await;
        assert_eq!(code, 0);
        assert!(
            out.starts_with("bob\n  Things/SensorDataStream\n    PropertyRead on *: allowed -> denied\n      before: Entity Group Operators * ALLOW"),
            "{backend}: {out}"
        );
        assert!(
            out.contains("2 change(s): 2 allowed -> denied, 0 denied -> allowed"),
            "{out}"
        );

        // An export against the live database: the export after the change is the live
        // state; the one before differs by the same two permissions.
        let (code, out, err) = run(&db, data.path(), &["diff", "live", after]).await;
        assert_eq!(code, 0, "{backend}: {err}");
        assert_eq!(out, "no effective permission changed\n", "{backend}");
        let (code, out, _) = run(
            &db,
            data.path(),
            &["diff", before, "live", "--format", "json"],
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(json(&out)["changes"], diff["changes"], "{backend}: {out}");

        // A binary .twx export (file mode: no collection rules, so the bootstrap's stay) of
        // the live model reads back as the same state.
        let twx = dir.path().join("now.twx");
        let twx = twx.to_str().expect("utf-8");
        let (code, _, err) = run(
            &db,
            data.path(),
            &["export", "--mode", "file", "--format", "twx", twx],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = run(&db, data.path(), &["diff", twx, "live"]).await;
        assert_eq!(code, 0, "{backend}: {err}");
        assert_eq!(out, "no effective permission changed\n", "{backend}");

        // Filters.
        let count = |out: &str| json(out)["changes"].as_array().map_or(0, Vec::len);
        for (filter, expected) in [
            (&["--user", "alice"][..], 0),
            (&["--user", "bob"][..], 2),
            (&["--group", "Operators"][..], 2),
            (&["--permission", "PropertyWrite"][..], 0),
            (&["--permission", "PropertyRead"][..], 2),
            (
                &["--entity-type", "Things", "--entity", "SensorDataStream"][..],
                2,
            ),
            (&["--entity-type", "ThingTemplates"][..], 0),
        ] {
            let mut args = vec!["diff", before, "live", "--format", "json"];
            args.extend_from_slice(filter);
            let (code, out, err) = run(&db, data.path(), &args).await;
            assert_eq!(code, 0, "{filter:?}: {err}");
            assert_eq!(count(&out), expected, "{backend} {filter:?}: {out}");
        }
        let (code, _, err) = run(
            &db,
            data.path(),
            &["diff", before, "live", "--group", "Nobody"],
        )
        .await;
        assert_ne!(code, 0);
        assert!(
            err.contains("group 'Nobody' exists in neither state"),
            "{err}"
        );

        // A rule granted since: denied -> allowed, with the new rule after.
        let conn = ironworx_tests::connect(&db).await;
        let thing = entities::get_entity(&conn, Collection::Things, "SensorDataStream")
            .await
            .expect("thing");
        permissions::set_entity_rule(
            &conn,
            thing.id,
            false,
            &Rule::any(
                PermissionKind::PropertyWrite,
                PrincipalType::User,
                "alice",
                Effect::Allow,
            ),
        )
        .await
        .expect("rule");
        conn.close().await.expect("close");
        let (code, out, err) = run(
            &db,
            data.path(),
            &["diff", after, "live", "--format", "json"],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let gained = json(&out);
        assert_eq!(
            (&gained["lost"], &gained["gained"]),
            (&json!(0), &json!(2)),
            "{backend}: {out}"
        );
        for c in gained["changes"].as_array().expect("changes") {
            assert_eq!(c["user"], "alice");
            assert_eq!(c["permission"], "PropertyWrite");
            assert_eq!(c["before"]["rule"]["layer"], "Default");
            assert_eq!(c["after"]["allowed"], true);
            assert_eq!(c["after"]["rule"]["layer"], "Entity");
            assert_eq!(c["after"]["rule"]["principal"], "alice");
            assert_eq!(c["after"]["rule"]["principalType"], "User");
        }

        // An instant older than the audit record is refused with the earliest available.
        let (code, _, err) = run(
            &db,
            data.path(),
            &["diff", "live@2026-01-01T00:00:00Z", "live"],
        )
        .await;
        assert_ne!(code, 0);
        assert!(err.contains("the earliest instant available"), "{err}");
        db.drop_database().await;
    }
}

const EXPECTATIONS: &str = r#"# Who may read the stream's data.
[[expect]]
user = "alice"
entity = "Things/SensorDataStream"
permission = "PropertyRead"
resource = "temperature"
allowed = true

[[expect]]
group = "Operators"
entity = "Things/SensorDataStream"
permission = "PropertyRead"
allowed = true

[[expect]]
user = "bob"
entity = "Things/SensorDataStream"
permission = "PropertyRead"
resource = "temperature"
allowed = true

[[expect]]
user = "bob"
entity = "Things/SensorDataStream"
permission = "PropertyWrite"
allowed = false

[[expect]]
user = "alice"
entity = "Things"
permission = "Create"
allowed = false

[[expect]]
user = "alice"
entity = "Things/SensorDataStream"
permission = "Visibility"
allowed = true
"#;

#[tokio::test]
async fn verify_checks_expectations_and_explains_failures() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let dir = tempfile::tempdir().expect("files");
        let file = dir.path().join("expectations.toml");
        std::fs::write(&file, EXPECTATIONS).expect("write");
        let file = file.to_str().expect("utf-8");
        let before = dir.path().join("before.zip");
        let before = before.to_str().expect("utf-8");
        seed(&db).await;
        let (code, _, err) = run(
            &db,
            data.path(),
            &["export", "--mode", "storage", "--format", "zip", before],
        )
        .await;
        assert_eq!(code, 0, "{err}");

        // Before the change everything holds, live and in the export.
        for against in ["live", before] {
            let (code, out, err) =
                run(&db, data.path(), &["verify", file, "--against", against]).await;
            assert_eq!(code, 0, "{backend} {against}: {out}{err}");
            assert!(out.contains("expectations: 7 met, 0 failed"), "{out}");
        }

        // bob leaves Operators: his read fails with the explanation, exit 1.
        remove_bob(&db).await;
        let (code, out, _) = run(&db, data.path(), &["verify", file]).await;
        assert_eq!(code, 1, "{backend}: {out}");
        assert!(out.contains("expectations: 5 met, 1 failed"), "{out}");
        let fail = out
            .lines()
            .position(|l| l.starts_with("FAIL"))
            .expect("a FAIL line");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[fail].contains(":16: bob: PropertyRead on temperature of Things/SensorDataStream should be allowed: expected allowed, is DENIED (403 Forbidden)"),
            "{out}"
        );
        assert!(
            lines[fail + 1..]
                .iter()
                .take_while(|l| l.starts_with("      "))
                .any(|l| l.contains("Default") && l.ends_with("<= decides")),
            "{out}"
        );
        // The export taken before still meets them.
        let (code, _, _) = run(&db, data.path(), &["verify", file, "--against", before]).await;
        assert_eq!(code, 0);

        // JSON.
        let (code, out, _) = run(&db, data.path(), &["verify", file, "--format", "json"]).await;
        assert_eq!(code, 1);
        let report = json(&out);
        assert_eq!(report["failed"], 1);
        assert_eq!(report["met"], 5);
        let failed: Vec<&Value> = report["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["passed"] == false)
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["user"], "bob");
        assert_eq!(failed[0]["actual"], "DENIED (403 Forbidden)");
        assert!(failed[0]["explanation"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["decisive"] == true && s["layer"] == "Default")
        }));

        // JUnit: well-formed, one testcase per case, the failure with its explanation.
        let (code, out, _) = run(&db, data.path(), &["verify", file, "--format", "junit"]).await;
        assert_eq!(code, 1);
        let junit = junit_summary(&out);
        assert_eq!(junit.testcases, 6, "{out}");
        assert_eq!(junit.failures.len(), 1, "{out}");
        assert!(
            junit.failures[0].contains("expected allowed, is DENIED"),
            "{out}"
        );
        assert!(junit.failures[0].contains("<= decides"), "{out}");
        assert!(out.contains("failures=\"1\""), "{out}");
        db.drop_database().await;
    }
}

/// What a JUnit report holds, read with a strict XML reader (it fails on malformed XML).
struct Junit {
    testcases: usize,
    failures: Vec<String>,
}

fn junit_summary(xml: &str) -> Junit {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut junit = Junit {
        testcases: 0,
        failures: Vec::new(),
    };
    let mut in_failure = false;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML ({e}): {xml}"))
        {
            Event::Start(e) | Event::Empty(e) if e.name().0 == "testcase" => {
                junit.testcases += 1;
            }
            Event::Start(e) if e.name().0 == "failure" => {
                in_failure = true;
                junit.failures.push(String::new());
            }
            Event::End(e) if e.name().0 == "failure" => in_failure = false,
            Event::Text(t) if in_failure => {
                let text = t.xml10_content().into_owned();
                if let Some(last) = junit.failures.last_mut() {
                    last.push_str(&text);
                }
            }
            Event::GeneralRef(r) if in_failure => {
                if let Some(last) = junit.failures.last_mut() {
                    last.push_str(match &*r {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "?",
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    junit
}

#[tokio::test]
async fn verify_refuses_bad_files_with_the_line_and_fails_unknown_names() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let dir = tempfile::tempdir().expect("files");
        seed(&db).await;
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.to_str().expect("utf-8").to_owned()
        };

        let bad = write(
            "bad.toml",
            "[[expect]]\nuser = \"alice\"\nentity = \"Things/SensorDataStream\"\npermission = \"Read\"\nallowed = maybe\n",
        );
        let (code, out, err) = run(&db, data.path(), &["verify", &bad]).await;
        assert_ne!(code, 0);
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("bad.toml is not a valid expectations file: line 5:"),
            "{backend}: {err}"
        );
        let bad = write(
            "permission.toml",
            "[[expect]]\nuser = \"alice\"\nentity = \"Things/SensorDataStream\"\npermission = \"Execute\"\nallowed = true\n",
        );
        let (code, _, err) = run(&db, data.path(), &["verify", &bad]).await;
        assert_ne!(code, 0);
        assert!(
            err.contains("line 4: unknown permission 'Execute'"),
            "{err}"
        );

        let unknown = write(
            "unknown.toml",
            "[[expect]]\nuser = \"ghost\"\nentity = \"Things/SensorDataStream\"\npermission = \"Read\"\nallowed = false\n\n[[expect]]\nuser = \"alice\"\nentity = \"Things/Nope\"\npermission = \"PropertyRead\"\nallowed = false\n\n[[expect]]\ngroup = \"Nobody\"\nentity = \"Things/SensorDataStream\"\npermission = \"Read\"\nallowed = false\n",
        );
        let (code, out, _) = run(&db, data.path(), &["verify", &unknown]).await;
        assert_eq!(code, 1, "{backend}: {out}");
        assert!(
            out.contains(
                "ghost: Read on Things/SensorDataStream should be denied: unknown user 'ghost'"
            ),
            "{out}"
        );
        assert!(out.contains("Things 'Nope' does not exist"), "{out}");
        assert!(out.contains("unknown group 'Nobody'"), "{out}");
        assert!(out.contains("expectations: 0 met, 3 failed"), "{out}");
        db.drop_database().await;
    }
}
