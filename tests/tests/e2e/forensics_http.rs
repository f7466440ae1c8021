//! The forensic services over HTTP on a real server: `GetEffectivePermissionChanges` answers an
//! InfoTable to security administrators and members of `Auditors`, the security-admin 403 to
//! anyone else, and a 400 naming what is available for a state it cannot rebuild; the audit
//! queries (`AuditSubsystem` and `QueryAuditHistory` on an entity) filter by date, category,
//! maxItems and query; `ironworx audit` prints the same entries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironworx_entity::queries::groups;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::cli::run;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect, model};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const DIFF: &str = "/Thingworx/Resources/SecurityServices/Services/GetEffectivePermissionChanges";
const PASSWORD: &str = "forensics-password-1234";

fn field_names(table: &Value) -> Vec<String> {
    let mut names: Vec<String> = table["dataShape"]["fieldDefinitions"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// `plain`, and `auditor` in `Auditors`.
async fn seed_users(conn: &DatabaseConnection) {
    ironworx_tests::create_user(conn, "plain", PASSWORD).await;
    ironworx_tests::create_user(conn, "auditor", PASSWORD).await;
    groups::add_member(conn, "Auditors", "auditor", MemberType::User)
        .await
        .expect("member");
}

#[tokio::test]
async fn effective_permission_changes_for_admins_and_auditors_only() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed_users(&conn).await;
        let live = json!({"before": "live", "after": "live"});

        // Anyone else: the 403 of the security-admin services.
        let (status, body) =
            ironworx_tests::post_json(&server, ("plain", PASSWORD), DIFF, live.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {body}");
        assert!(
            body.to_string()
                .contains("Not authorized for Update on * in GetEffectivePermissionChanges"),
            "{backend}: {body}"
        );

        // An administrator and an Auditors member: an InfoTable, empty between equal states.
        for caller in [(ADMIN_USER, ADMIN_PASSWORD), ("auditor", PASSWORD)] {
            let (status, table) =
                ironworx_tests::post_json(&server, caller, DIFF, live.clone()).await;
            assert_eq!(status, StatusCode::OK, "{backend} {}: {table}", caller.0);
            assert_eq!(
                field_names(&table),
                [
                    "after",
                    "afterRule",
                    "before",
                    "beforeRule",
                    "entity",
                    "permission",
                    "resource",
                    "user"
                ],
                "{backend}"
            );
            assert_eq!(table["rows"], json!([]), "{backend}");
        }

        // Filters as the command line takes them.
        let (status, table) = ironworx_tests::post_json(
            &server,
            ("auditor", PASSWORD),
            DIFF,
            json!({"before": "live", "after": "live", "user": "plain", "group": "Users",
                   "entityType": "Things", "permission": "PropertyRead"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {table}");

        // What cannot be compared is a 400 saying why.
        let refused = [
            (
                json!({"before": "2026-01-01T00:00:00Z", "after": "live"}),
                "earliest instant available",
            ),
            (
                json!({"before": "live", "after": "yesterday"}),
                "neither 'live' nor an RFC 3339 instant",
            ),
            (json!({"after": "live"}), "before"),
            (
                json!({"before": "live", "after": "live", "entity": "T"}),
                "needs 'entityType'",
            ),
            (
                json!({"before": "live", "after": "live", "entityType": "Nope"}),
                "unknown entityType",
            ),
            (
                json!({"before": "live", "after": "live", "user": "nobody"}),
                "exists in neither state",
            ),
        ];
        for (body, why) in refused {
            let (status, answer) =
                ironworx_tests::post_json(&server, ("auditor", PASSWORD), DIFF, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend} {body}: {answer}"
            );
            assert!(
                answer.to_string().contains(why),
                "{backend} {body}: {answer}"
            );
        }
    }
}

const HISTORY: &str = "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory";
const CRITERIA: &str =
    "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistoryWithQueryCriteria";
const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const AUDITOR: (&str, &str) = ("auditor", PASSWORD);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Grants group Users PropertyRead on Thing `thing`, as the administrator.
async fn grant(server: &TestServer, thing: &str) {
    let (status, body) = ironworx_tests::post_json(
        server,
        ADMIN,
        &format!("/Thingworx/Things/{thing}/Services/AddRunTimePermission"),
        json!({"principal": "Users", "principalType": "Group", "resource": "*",
               "type": "PropertyRead", "allow": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// (action, entity) of each row, in order.
fn entries(table: &Value) -> Vec<(String, String)> {
    table["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["action"].as_str().unwrap_or_default().to_owned(),
                        r["entity"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn query(server: &TestServer, caller: (&str, &str), path: &str, body: Value) -> Value {
    let (status, table) = ironworx_tests::post_json(server, caller, path, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {table}");
    table
}

#[tokio::test]
async fn audit_history_filters_by_date_category_items_query_and_entity() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed_users(&conn).await;
        for name in ["T1", "T2"] {
            model::data_thing(&conn, name, "GenericThing", "").await;
        }

        grant(&server, "T1").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let middle = now_ms();
        tokio::time::sleep(Duration::from_millis(50)).await;
        grant(&server, "T2").await;

        // Anyone else: the security-admin 403 on the subsystem; on an entity it may see, that
        // entity's entries.
        for path in [HISTORY, CRITERIA] {
            let (status, body) =
                ironworx_tests::post_json(&server, ("plain", PASSWORD), path, json!({})).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{backend} {path}: {body}");
        }
        let (status, body) = ironworx_tests::post_json(
            &server,
            ("plain", PASSWORD),
            "/Thingworx/Things/T1/Services/QueryAuditHistory",
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert_eq!(
            entries(&body),
            [("AddRunTimePermission".into(), "Things/T1".into())],
            "{backend}"
        );

        // Everything, newest first, for an administrator and an Auditors member alike.
        let all = query(&server, AUDITOR, HISTORY, json!({})).await;
        let got = entries(&all);
        assert_eq!(
            got.first(),
            Some(&("AddRunTimePermission".into(), "Things/T2".into())),
            "{backend}: {all:#}"
        );
        assert!(got.contains(&("AddRunTimePermission".into(), "Things/T1".into())));
        assert!(
            got.iter().any(|(a, _)| a == "Bootstrap"),
            "{backend}: {got:?}"
        );
        assert_eq!(all, query(&server, ADMIN, HISTORY, json!({})).await);
        let row = &all["rows"][0];
        assert_eq!(row["user"], ADMIN_USER);
        assert_eq!(row["auditCategory"], "Security");
        assert!(row["timestamp"].as_i64().unwrap_or_default() > middle);
        assert!(
            row["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Administrator ran AddRunTimePermission on Things/T2"),
            "{row}"
        );

        // maxItems.
        let one = query(&server, AUDITOR, HISTORY, json!({"maxItems": 1})).await;
        assert_eq!(
            entries(&one),
            [("AddRunTimePermission".into(), "Things/T2".into())]
        );

        // Dates, as epoch milliseconds.
        let after = entries(&query(&server, AUDITOR, HISTORY, json!({"startDate": middle})).await);
        assert_eq!(
            after,
            [("AddRunTimePermission".into(), "Things/T2".into())],
            "{backend}"
        );
        let before = entries(&query(&server, AUDITOR, HISTORY, json!({"endDate": middle})).await);
        assert!(before.contains(&("AddRunTimePermission".into(), "Things/T1".into())));
        assert!(!before.iter().any(|(_, e)| e == "Things/T2"), "{before:?}");

        // Category.
        let security = query(
            &server,
            AUDITOR,
            HISTORY,
            json!({"auditCategory": "Security"}),
        )
        .await;
        let rows = security["rows"].as_array().cloned().unwrap_or_default();
        assert!(rows.len() >= 2);
        assert!(rows.iter().all(|r| r["auditCategory"] == "Security"));
        let system = entries(
            &query(
                &server,
                AUDITOR,
                HISTORY,
                json!({"auditCategory": "System"}),
            )
            .await,
        );
        assert!(system.iter().any(|(a, _)| a == "Bootstrap"), "{system:?}");
        assert!(!system.iter().any(|(a, _)| a == "AddRunTimePermission"));
        let (status, body) =
            ironworx_tests::post_json(&server, AUDITOR, HISTORY, json!({"auditCategory": "Nope"}))
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // A ThingWorx query over the entry fields.
        let filters = json!({"filters": {"type": "EQ", "fieldName": "entityName", "value": "T1"}});
        let t1 = entries(&query(&server, AUDITOR, CRITERIA, json!({"query": filters})).await);
        assert_eq!(t1, [("AddRunTimePermission".into(), "Things/T1".into())]);
        let like = json!({"filters": {"type": "LIKE", "fieldName": "message", "value": "*T2*"}});
        let t2 = entries(&query(&server, AUDITOR, CRITERIA, json!({"query": like})).await);
        assert_eq!(t2, [("AddRunTimePermission".into(), "Things/T2".into())]);
        let (status, body) =
            ironworx_tests::post_json(&server, AUDITOR, HISTORY, json!({"query": filters})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let bad = json!({"filters": {"type": "EQ", "fieldName": "nope", "value": 1}});
        let (status, body) =
            ironworx_tests::post_json(&server, AUDITOR, CRITERIA, json!({"query": bad})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // On an entity: only its entries.
        let on_t1 = entries(
            &query(
                &server,
                ADMIN,
                "/Thingworx/Things/T1/Services/QueryAuditHistory",
                json!({}),
            )
            .await,
        );
        assert_eq!(
            on_t1,
            [("AddRunTimePermission".into(), "Things/T1".into())],
            "{backend}"
        );

        // The command line prints the same entries.
        let data = tempfile::tempdir().expect("data dir");
        let (code, out, err) = run(&db, data.path(), &["audit", "--entity", "Things/T2"]).await;
        assert_eq!(code, 0, "{backend}: {err}");
        assert!(
            out.contains("Administrator ran AddRunTimePermission on Things/T2"),
            "{out}"
        );
        assert!(out.contains("[Security]"), "{out}");
        assert!(
            out.contains("(via REST AddRunTimePermission from 127.0.0.1 in "),
            "{out}"
        );
        assert!(!out.contains("Things/T1"), "{out}");
        let (code, out, err) = run(
            &db,
            data.path(),
            &["audit", "--user", ADMIN_USER, "--format", "json"],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let printed: Value = serde_json::from_str(&out).expect("json");
        let cli_entries = entries(&json!({"rows": printed}));
        assert_eq!(cli_entries.first(), got.first(), "{backend}");
        let (code, out, _) = run(
            &db,
            data.path(),
            &["audit", "--until", "2000-01-01T00:00:00Z"],
        )
        .await;
        assert_eq!((code, out.as_str()), (0, "no audit entries\n"));
        let (code, _, err) = run(&db, data.path(), &["audit", "--since", "yesterday"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("RFC 3339"), "{err}");
        let (code, _, err) = run(&db, data.path(), &["audit", "--entity", "T2"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("<Collection>/<Name>"), "{err}");
    }
}
