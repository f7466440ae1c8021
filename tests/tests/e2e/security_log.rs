//! The security log on a real server, on SQLite and PostgreSQL: a form login, failed logins
//! (wrong password, unknown user), a lockout, refused application keys (unknown, expired,
//! outside the whitelist) and a logout are recorded; `Logs/SecurityLog/QueryLogEntries` filters
//! them by user, date and text, oldest or newest first, at most `maxItems`, for security
//! administrators and `Auditors` only, and never shows a password or a key; `ironworx audit
//! --security-log` prints them. Also the audit record's sorts, and `QueryAuditHistory` on an
//! entity for anyone who may see it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironworx_entity::queries::groups;
use ironworx_entity::vocab::MemberType;
use ironworx_tests::model::app_key as add_key;
use ironworx_tests::things::generic_thing;
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect, create_user, post_json,
    server_binary,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const LOG: &str = "/Thingworx/Logs/SecurityLog/Services/QueryLogEntries";
const WHO_AM_I: &str = "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser";
const PROXY: (&str, &str) = ("IRONWORX_TRUSTED_PROXY_HEADER", "X-Forwarded-For");
const ATTACKER: &str = "203.0.113.7";
const PASSWORD: &str = "alice-password-1234";
const WRONG: &str = "wrong-password-5678";
const AUDITOR: (&str, &str) = ("auditor", "auditor-password-1234");
const PLAIN: (&str, &str) = ("plain", "plain-password-1234");
const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const GOOD_KEY: &str = "5a0e1c2d-3b4f-4a6e-8d9c-0b1a2c3d4e5f";
const EXPIRED_KEY: &str = "expired-key-secret-0001";
const ELSEWHERE_KEY: &str = "elsewhere-key-secret-01";
const UNKNOWN_KEY: &str = "unknown-key-secret-0001";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `GetCurrentUser` with Basic credentials from `client`: the status.
async fn basic_from(server: &TestServer, client: &str, user: &str, password: &str) -> StatusCode {
    server
        .client()
        .post(server.url(WHO_AM_I))
        .header("X-Forwarded-For", client)
        .basic_auth(user, Some(password))
        .json(&json!({}))
        .send()
        .await
        .expect("request")
        .status()
}

/// `GetCurrentUser` with application key `key`: the status.
async fn with_key(server: &TestServer, key: &str) -> StatusCode {
    server
        .client()
        .post(server.url(WHO_AM_I))
        .header("appKey", key)
        .json(&json!({}))
        .send()
        .await
        .expect("request")
        .status()
}

/// `QueryLogEntries` as `caller`: the status, the raw body and the rows.
async fn log(
    server: &TestServer,
    caller: (&str, &str),
    body: Value,
) -> (StatusCode, String, Vec<Value>) {
    let res = server
        .client()
        .post(server.url(LOG))
        .basic_auth(caller.0, Some(caller.1))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let raw = res.text().await.expect("body");
    let rows = serde_json::from_str::<Value>(&raw)
        .ok()
        .and_then(|v| v["rows"].as_array().cloned())
        .unwrap_or_default();
    (status, raw, rows)
}

fn actions(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn security_log_records_and_answers_authentication_events() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[PROXY, ("IRONWORX_LOCKOUT_ATTEMPTS", "3")]).await;
        let conn = connect(&db).await;
        create_user(&conn, "alice", PASSWORD).await;
        create_user(&conn, AUDITOR.0, AUDITOR.1).await;
        create_user(&conn, PLAIN.0, PLAIN.1).await;
        groups::add_member(&conn, "Auditors", AUDITOR.0, MemberType::User)
            .await
            .expect("member");
        let future = now_ms() + 3_600_000;
        let past = now_ms() - 1;
        for (name, key, expiration, whitelist) in [
            ("GoodKey", GOOD_KEY, future, ""),
            ("ExpiredKey", EXPIRED_KEY, past, ""),
            ("ElsewhereKey", ELSEWHERE_KEY, future, "10.0.*.*"),
        ] {
            add_key(&conn, name, key, "alice", Some(expiration), whitelist).await;
        }
        let start = now_ms();

        // A form login opens a session; the logout ends it.
        let login = ironworx_tests::forms::login(&server, "Everyone", "alice", PASSWORD).await;
        assert_eq!(
            login.status,
            StatusCode::SEE_OTHER,
            "{backend}: {}",
            login.body
        );
        let session = login.cookie("JSESSIONID").expect("session").value.clone();
        let logout = server
            .client()
            .post(server.url("/Thingworx/Logout"))
            .header("Cookie", format!("JSESSIONID={session}"))
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("logout");
        assert!(
            logout.status().is_success(),
            "{backend}: {}",
            logout.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let middle = now_ms();
        tokio::time::sleep(Duration::from_millis(20)).await;

        // Refused logins: an unknown user, then a wrong password until the address is locked.
        assert_eq!(
            basic_from(&server, ATTACKER, "mallory", WRONG).await,
            StatusCode::UNAUTHORIZED
        );
        for _ in 0..3 {
            assert_eq!(
                basic_from(&server, ATTACKER, "alice", WRONG).await,
                StatusCode::UNAUTHORIZED
            );
        }
        // Application keys: a good one is not recorded; unknown, expired and elsewhere are.
        assert_eq!(
            with_key(&server, GOOD_KEY).await,
            StatusCode::OK,
            "{backend}"
        );
        for key in [UNKNOWN_KEY, EXPIRED_KEY, ELSEWHERE_KEY] {
            assert_eq!(
                with_key(&server, key).await,
                StatusCode::UNAUTHORIZED,
                "{backend}"
            );
        }

        // Everyone else: the 403 of the other security-admin services.
        let (status, raw, _) = log(&server, PLAIN, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {raw}");
        let (status, raw, _) = log(&server, ADMIN, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {raw}");

        // Everything, newest first, for an Auditors member.
        let (status, raw, rows) = log(&server, AUDITOR, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {raw}");
        let got = actions(&rows);
        for wanted in [
            "LoginSucceeded",
            "Logout",
            "LoginFailed",
            "UserLocked",
            "ApplicationKeyFailed",
        ] {
            assert!(
                got.iter().any(|a| a == wanted),
                "{backend}: {wanted} in {got:?}"
            );
        }
        assert_eq!(
            got.iter().filter(|a| *a == "ApplicationKeyFailed").count(),
            3,
            "{got:?}"
        );
        for secret in [
            PASSWORD,
            WRONG,
            GOOD_KEY,
            EXPIRED_KEY,
            ELSEWHERE_KEY,
            UNKNOWN_KEY,
            &session,
        ] {
            assert!(
                !raw.contains(secret),
                "{backend}: a secret in the answer: {raw}"
            );
        }
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| r["id"].as_i64().unwrap_or_default())
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] > w[1]),
            "{backend}: newest first {ids:?}"
        );
        let row = |action: &str| {
            rows.iter()
                .find(|r| r["action"] == action)
                .cloned()
                .unwrap_or_default()
        };
        let succeeded = row("LoginSucceeded");
        assert_eq!(succeeded["user"], "alice");
        assert_eq!(succeeded["door"], "form");
        assert_eq!(succeeded["organization"], "Everyone");
        assert_eq!(succeeded["level"], "INFO");
        assert!(succeeded["timestamp"].as_i64().unwrap_or_default() >= start);
        let locked = row("UserLocked");
        assert_eq!(locked["user"], "alice");
        assert_eq!(locked["origin"], ATTACKER);
        let keys: Vec<&Value> = rows
            .iter()
            .filter(|r| r["action"] == "ApplicationKeyFailed")
            .collect();
        let entities: Vec<&str> = keys
            .iter()
            .map(|r| r["entity"].as_str().unwrap_or_default())
            .collect();
        assert!(
            entities.contains(&"ApplicationKeys/ExpiredKey"),
            "{entities:?}"
        );
        assert!(
            entities.contains(&"ApplicationKeys/ElsewhereKey"),
            "{entities:?}"
        );
        assert!(entities.contains(&""), "{entities:?}");
        assert!(keys.iter().any(|r| {
            r["message"]
                .as_str()
                .unwrap_or_default()
                .contains("expired")
        }));
        assert!(keys.iter().any(|r| {
            r["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not allowed from this address")
        }));
        let failed: Vec<&Value> = rows
            .iter()
            .filter(|r| r["action"] == "LoginFailed")
            .collect();
        assert!(
            failed
                .iter()
                .any(|r| r["user"] == "mallory" && r["door"] == "basic"),
            "{failed:?}"
        );
        assert!(failed.iter().any(|r| r["user"] == "alice"), "{failed:?}");
        assert!(failed.iter().all(|r| {
            r["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("login failed for ")
        }));

        // By user, by text (any case), by date, oldest first, at most maxItems.
        let (_, _, alice) = log(&server, AUDITOR, json!({"user": "alice"})).await;
        assert!(
            alice.len() >= 5 && alice.iter().all(|r| r["user"] == "alice"),
            "{alice:?}"
        );
        let (_, _, locks) = log(&server, AUDITOR, json!({"searchExpression": "LOCKED FOR"})).await;
        assert_eq!(actions(&locks), ["UserLocked"], "{backend}");
        let (_, _, later) = log(&server, AUDITOR, json!({"startDate": middle})).await;
        assert!(!later.is_empty());
        assert!(
            !actions(&later)
                .iter()
                .any(|a| a == "LoginSucceeded" || a == "Logout")
        );
        let (_, _, early) = log(&server, AUDITOR, json!({"endDate": middle})).await;
        assert_eq!(actions(&early), ["Logout", "LoginSucceeded"], "{backend}");
        let (_, _, oldest) = log(&server, AUDITOR, json!({"oldestFirst": true})).await;
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(oldest, reversed, "{backend}");
        let (_, _, one) = log(&server, AUDITOR, json!({"maxItems": 1})).await;
        assert_eq!(one, rows[..1], "{backend}");
        let (status, _, _) = log(&server, AUDITOR, json!({"maxItems": 0})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = log(&server, AUDITOR, json!({"oldestFirst": "sometimes"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // The command line prints the same entries.
        let data = tempfile::tempdir().expect("dir");
        let out = tokio::process::Command::new(server_binary().expect("binary"))
            .args([
                "audit",
                "--security-log",
                "--user",
                "alice",
                "--search",
                "logged",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--database-url")
            .arg(db.url())
            .env("IRONWORX_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .await
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("LoginSucceeded alice: alice logged in (via form"),
            "{stdout}"
        );
        assert!(
            stdout.contains("Logout alice: alice logged out"),
            "{stdout}"
        );
        assert!(!stdout.contains("LoginFailed"), "{stdout}");
        for secret in [PASSWORD, WRONG, GOOD_KEY, EXPIRED_KEY] {
            assert!(!stdout.contains(secret));
        }

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

async fn admin_call(server: &TestServer, path: &str, body: Value) {
    ironworx_tests::http::admin_call(server, path, &body).await;
}

#[tokio::test]
async fn audit_sorts_and_entity_history_for_whoever_sees_the_entity() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        create_user(&conn, PLAIN.0, PLAIN.1).await;
        generic_thing(&server, "Seen", &[]).await;
        generic_thing(&server, "Hidden", &[]).await;
        // Things are visible to Everyone through the collection; Seen alone keeps it.
        admin_call(
            &server,
            "/Thingworx/Things/Seen/Services/AddVisibilityPermission",
            json!({"principal": "Everyone", "principalType": "Organization"}),
        )
        .await;
        admin_call(
            &server,
            "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
            json!({"principal": "Everyone", "principalType": "Organization",
                   "collectionName": "Things"}),
        )
        .await;
        for name in ["Seen", "Hidden"] {
            admin_call(
                &server,
                &format!("/Thingworx/Things/{name}/Services/AddRunTimePermission"),
                json!({"principal": "Users", "principalType": "Group", "resource": "*",
                       "type": "PropertyRead", "allow": true}),
            )
            .await;
        }

        // Sorts on any field, both ways, and maxItems after sorting.
        let criteria =
            "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistoryWithQueryCriteria";
        let sorted = |field: &str, ascending: bool, max: u32| json!({"maxItems": max, "query": {"sorts": [{"fieldName": field, "isAscending": ascending}]}});
        let ids = |table: &Value| -> Vec<i64> {
            table["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| r["id"].as_i64().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (status, up) = post_json(&server, ADMIN, criteria, sorted("id", true, 500)).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {up}");
        let up = ids(&up);
        let (_, by_time) =
            post_json(&server, ADMIN, criteria, sorted("timestamp", true, 500)).await;
        let times: Vec<i64> = by_time["rows"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| r["timestamp"].as_i64().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            times.len() == up.len() && times.windows(2).all(|w| w[0] <= w[1]),
            "{times:?}"
        );
        assert!(
            up.len() >= 3 && up.windows(2).all(|w| w[0] < w[1]),
            "{backend}: {up:?}"
        );
        let (_, down) = post_json(&server, ADMIN, criteria, sorted("id", false, 500)).await;
        let mut reversed = up.clone();
        reversed.reverse();
        assert_eq!(ids(&down), reversed, "{backend}");
        let (_, first) = post_json(&server, ADMIN, criteria, sorted("id", true, 2)).await;
        assert_eq!(ids(&first), up[..2], "{backend}");
        let (_, by_entity) =
            post_json(&server, ADMIN, criteria, sorted("entityName", false, 500)).await;
        let names: Vec<String> = by_entity["rows"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| r["entityName"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            names.windows(2).all(|w| w[0] >= w[1]),
            "{backend}: {names:?}"
        );
        let (status, body) = post_json(
            &server,
            ADMIN,
            criteria,
            json!({"query": {"sorts": [{"fieldName": "nope"}]}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // A user who sees an entity reads its history; an entity it cannot see answers as
        // one that does not exist.
        let history = |name: &str| format!("/Thingworx/Things/{name}/Services/QueryAuditHistory");
        let (status, seen) = post_json(&server, PLAIN, &history("Seen"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {seen}");
        let rows = seen["rows"].as_array().cloned().unwrap_or_default();
        assert!(!rows.is_empty(), "{backend}: {seen}");
        assert!(rows.iter().all(|r| r["entity"] == "Things/Seen"), "{seen}");
        let hidden = post_json(&server, PLAIN, &history("Hidden"), json!({})).await;
        let missing = post_json(&server, PLAIN, &history("NoSuchThing"), json!({})).await;
        assert_eq!(hidden.0, StatusCode::NOT_FOUND, "{backend}: {hidden:?}");
        let scrub = |v: &Value, name: &str| v.to_string().replace(name, "X");
        assert_eq!(
            scrub(&hidden.1, "Hidden"),
            scrub(&missing.1, "NoSuchThing"),
            "{backend}"
        );
        // The subsystem-wide services stay the auditors'.
        let (status, _) = post_json(
            &server,
            PLAIN,
            "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory",
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// A password assigned by an administrator and a disabled user end the user's sessions, and
/// the security log says so (never with the password).
#[tokio::test]
async fn sessions_ended_by_a_password_or_disabling_are_logged() {
    const NEW_PASSWORD: &str = "bob-new-password-9876";
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        create_user(&conn, "bob", PASSWORD).await;
        for (service, body) in [
            (
                "AssignNewPassword",
                json!({"newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD}),
            ),
            ("DisableUser", json!({})),
        ] {
            let password = if service == "DisableUser" {
                NEW_PASSWORD
            } else {
                PASSWORD
            };
            let login = ironworx_tests::forms::login(&server, "Everyone", "bob", password).await;
            assert_eq!(
                login.status,
                StatusCode::SEE_OTHER,
                "{backend}: {}",
                login.body
            );
            admin_call(
                &server,
                &format!("/Thingworx/Users/bob/Services/{service}"),
                body,
            )
            .await;
        }
        let (status, raw, rows) = log(&server, ADMIN, json!({"user": "bob"})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {raw}");
        let ended: Vec<&str> = rows
            .iter()
            .filter(|r| r["action"] == json!("SessionsTerminated"))
            .filter_map(|r| r["message"].as_str())
            .collect();
        assert_eq!(ended.len(), 2, "{backend}: {raw}");
        assert!(
            ended.iter().any(|m| m.starts_with("AssignNewPassword")),
            "{ended:?}"
        );
        assert!(
            ended.iter().any(|m| m.starts_with("DisableUser")),
            "{ended:?}"
        );
        assert!(!raw.contains(NEW_PASSWORD), "{backend}: {raw}");
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
