//! The forensic services over HTTP on a real server: `GetEffectivePermissionChanges` answers an
//! InfoTable to security administrators and members of `Auditors`, the security-admin 403 to
//! anyone else, and a 400 naming what is available for a state it cannot rebuild.

use ironworx_entity::queries::groups;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
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

#[tokio::test]
async fn effective_permission_changes_for_admins_and_auditors_only() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, "plain", PASSWORD).await;
        ironworx_tests::create_user(&conn, "auditor", PASSWORD).await;
        groups::add_member(&conn, "Auditors", "auditor", MemberType::User)
            .await
            .expect("member");
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
