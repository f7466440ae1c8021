//! The services of `Users/<u>`, `Resources/CurrentSessionInfo` and application keys over HTTP:
//! self-service without any grant, administration with one, and each bypass that must not exist.

use ironworx_entity::queries::sessions::{self, NewSession};
use ironworx_entity::queries::users;
use ironworx_entity::queries::{app_keys, now_ms};
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const ALICE: (&str, &str) = ("alice", "alice-password-1");
const BOB: (&str, &str) = ("bob", "bob-password-123");
const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);

async fn seed(db: &DatabaseConnection) {
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

async fn whoami(server: &TestServer, who: (&str, &str)) -> StatusCode {
    call(
        server,
        who,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
        json!({}),
    )
    .await
    .0
}

fn result(v: &Value) -> Value {
    v["rows"][0]["result"].clone()
}

fn names(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn user_services_and_session_info() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[("IRONWORX_PASSWORD_MIN_LENGTH", "12")]).await;
        let conn = connect(&db).await;
        seed(&conn).await;

        // Who am I.
        let (s, me) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
            json!({}),
        )
        .await;
        assert_eq!(
            (s, result(&me)),
            (StatusCode::OK, json!("alice")),
            "{backend}"
        );
        let (_, groups) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserGroups",
            json!({}),
        )
        .await;
        assert_eq!(names(&groups), ["ComposerUsers", "Users"]);
        let (_, orgs) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizations",
            json!({}),
        )
        .await;
        assert_eq!(names(&orgs), ["Composer", "Everyone"]);
        let (_, units) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizationalUnits",
            json!({}),
        )
        .await;
        assert_eq!(names(&units), ["Composer:Composer", "Everyone:Everyone"]);

        // Self-service without any grant.
        let (s, _) = call(
            &server,
            ALICE,
            "/Thingworx/Users/alice/Services/SetLanguagePreferences",
            json!({"preferences": "de,en"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, lang) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserLanguage",
            json!({}),
        )
        .await;
        assert_eq!(result(&lang), json!("de"));
        let (s, groups) = call(
            &server,
            ALICE,
            "/Thingworx/Users/alice/Services/GetGroups",
            json!({}),
        )
        .await;
        assert_eq!(
            (s, names(&groups)),
            (
                StatusCode::OK,
                vec!["ComposerUsers".to_owned(), "Users".to_owned()]
            )
        );

        // ChangePassword: the old password, a matching confirmation and the policy are checked.
        let change = "/Thingworx/Users/alice/Services/ChangePassword";
        for (body, needle) in [
            (
                json!({"oldPassword": "wrong", "newPassword": "alice-password-2", "newPasswordConfirm": "alice-password-2"}),
                "old password",
            ),
            (
                json!({"oldPassword": ALICE.1, "newPassword": "alice-password-2", "newPasswordConfirm": "different-2222"}),
                "differ",
            ),
            (
                json!({"oldPassword": ALICE.1, "newPassword": "short", "newPasswordConfirm": "short"}),
                "at least 12",
            ),
        ] {
            let (s, answer) = call(&server, ALICE, change, body).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{answer}");
            assert!(answer.to_string().contains(needle), "{answer}");
        }
        let alice = users::get_user(&conn, "alice").await.expect("alice");
        let now = now_ms();
        sessions::open_session(
            &conn,
            &NewSession {
                token_id: "alice-s".into(),
                user_id: alice.entity.id,
                organization: String::new(),
                peer_addr: String::new(),
                created_at: now,
                expires_at: now + 3_600_000,
            },
        )
        .await
        .expect("session");
        let (s, answer) = call(&server, ALICE, change, json!({"oldPassword": ALICE.1, "newPassword": "alice-password-2", "newPasswordConfirm": "alice-password-2"})).await;
        assert_eq!(s, StatusCode::OK, "{answer}");
        assert_eq!(
            whoami(&server, ALICE).await,
            StatusCode::UNAUTHORIZED,
            "the old password is gone"
        );
        let alice2 = ("alice", "alice-password-2");
        assert_eq!(whoami(&server, alice2).await, StatusCode::OK);
        let session = sessions::find_session(&conn, "alice-s")
            .await
            .expect("find")
            .expect("row");
        assert!(
            session.revoked_at.is_some(),
            "a changed password ends the user's sessions"
        );

        // No bypass: a user cannot administer another user, nor assign itself a password.
        let (s, answer) = call(
            &server,
            alice2,
            "/Thingworx/Users/bob/Services/AssignNewPassword",
            json!({"newPassword": "hijacked-password", "newPasswordConfirm": "hijacked-password"}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{answer}");
        assert!(
            answer
                .to_string()
                .contains("Not authorized for ServiceInvoke on AssignNewPassword in bob"),
            "{answer}"
        );
        for service in ["AssignNewPassword", "DisableUser", "UnlockUser"] {
            let (s, _) = call(&server, alice2, &format!("/Thingworx/Users/alice/Services/{service}"), json!({"newPassword": "self-assigned-pw", "newPasswordConfirm": "self-assigned-pw"})).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{service}");
        }
        let (s, _) = call(&server, alice2, "/Thingworx/Users/bob/Services/ChangePassword", json!({"oldPassword": BOB.1, "newPassword": "bob-password-999", "newPasswordConfirm": "bob-password-999"})).await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "ChangePassword is self-service only on one's own user"
        );
        let (s, _) = call(
            &server,
            alice2,
            "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSessions",
            json!({"userName": "bob"}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // The administrator administers.
        let (s, _) = call(
            &server,
            ADMIN,
            "/Thingworx/Users/bob/Services/AssignNewPassword",
            json!({"newPassword": "bob-password-456", "newPasswordConfirm": "bob-password-456"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let bob2 = ("bob", "bob-password-456");
        assert_eq!(whoami(&server, BOB).await, StatusCode::UNAUTHORIZED);
        assert_eq!(whoami(&server, bob2).await, StatusCode::OK);
        for (service, expected) in [
            ("DisableUser", StatusCode::UNAUTHORIZED),
            ("EnableUser", StatusCode::OK),
            ("LockUser", StatusCode::UNAUTHORIZED),
            ("UnlockUser", StatusCode::OK),
        ] {
            let (s, _) = call(
                &server,
                ADMIN,
                &format!("/Thingworx/Users/bob/Services/{service}"),
                json!({}),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{service}");
            assert_eq!(
                whoami(&server, bob2).await,
                expected,
                "{backend}: after {service}"
            );
        }
        let (_, locked) = call(
            &server,
            ADMIN,
            "/Thingworx/Users/bob/Services/IsLocked",
            json!({}),
        )
        .await;
        assert_eq!(result(&locked), json!(false));
        for service in ["DisableUser", "LockUser"] {
            let (s, answer) = call(
                &server,
                ADMIN,
                &format!("/Thingworx/Users/Administrator/Services/{service}"),
                json!({}),
            )
            .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{answer}");
        }
        let (s, ended) = call(
            &server,
            ADMIN,
            "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSessions",
            json!({"userName": "bob"}),
        )
        .await;
        assert_eq!((s, result(&ended)), (StatusCode::OK, json!(0)));

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

fn key_request(server: &TestServer, key: &str) -> reqwest::RequestBuilder {
    server
        .client()
        .post(server.url("/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser"))
        .header("appKey", key)
        .json(&json!({}))
}

async fn as_key(server: &TestServer, key: &str) -> (StatusCode, Value) {
    let res = key_request(server, key).send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn application_key_services() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed(&conn).await;
        let create = "/Thingworx/Resources/EntityServices/Services/CreateApplicationKey";

        // Creating keys needs Create on the collection.
        let (s, _) = call(&server, ALICE, create, json!({"name": "AliceKey"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend}");
        let (s, _) = call(&server, ADMIN, "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission", json!({"collectionName": "ApplicationKeys", "principal": "alice", "principalType": "User", "type": "Create", "allow": true})).await;
        assert_eq!(s, StatusCode::OK);
        // A key acts as its user: alice cannot make one for the administrator.
        let (s, _) = call(
            &server,
            ALICE,
            create,
            json!({"name": "Escalate", "user": ADMIN_USER}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, answer) = call(
            &server,
            ALICE,
            create,
            json!({"name": "AliceKey", "whitelist": "10.0.*"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{answer}");
        let (s, created) = call(
            &server,
            ALICE,
            create,
            json!({"name": "AliceKey", "clientName": "dashboard"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{created}");
        let key = result(&created).as_str().expect("the key id").to_owned();
        assert_eq!(
            uuid::Uuid::parse_str(&key)
                .map(|u| u.get_version_num())
                .ok(),
            Some(4)
        );
        let (s, me) = as_key(&server, &key).await;
        assert_eq!((s, result(&me)), (StatusCode::OK, json!("alice")));

        // Stored hashed and sealed, never in clear; expires after the default lifetime.
        let stored = app_keys::get_app_key(&conn, "AliceKey")
            .await
            .expect("key")
            .key;
        assert_ne!(stored.key_hash.as_deref(), Some(key.as_str()));
        assert!(!stored.key_sealed.as_deref().unwrap_or("").contains(&key));
        let lifetime = stored.expiration_date.expect("expires") - now_ms();
        assert!(
            (23 * 3_600_000..=24 * 3_600_000).contains(&lifetime),
            "{lifetime}"
        );

        // The owner reads the key id again; another user may not.
        let path = |s: &str| format!("/Thingworx/ApplicationKeys/AliceKey/Services/{s}");
        let (s, again) = call(&server, ALICE, &path("GetKeyID"), json!({})).await;
        assert_eq!((s, result(&again)), (StatusCode::OK, json!(key)));
        let (s, _) = call(&server, BOB, &path("GetKeyID"), json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, user) = call(&server, ADMIN, &path("GetUserName"), json!({})).await;
        assert_eq!(result(&user), json!("alice"));
        let (s, _) = call(
            &server,
            ALICE,
            &path("SetUserName"),
            json!({"name": ADMIN_USER}),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "no escalation through SetUserName"
        );

        // Whitelist, expiration.
        let (s, _) = call(
            &server,
            ALICE,
            &path("SetIPWhitelist"),
            json!({"list": "10.0.*.*"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(as_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);
        let (s, _) = call(
            &server,
            ALICE,
            &path("SetIPWhitelist"),
            json!({"list": "127.0.0.1, ::1"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(as_key(&server, &key).await.0, StatusCode::OK);
        let (s, _) = call(
            &server,
            ALICE,
            &path("SetExpirationDate"),
            json!({"expirationDate": now_ms() - 1000}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, expired) = call(&server, ALICE, &path("IsExpired"), json!({})).await;
        assert_eq!(result(&expired), json!(true));
        assert_eq!(as_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);
        let (s, _) = call(
            &server,
            ALICE,
            &path("ResetExpirationDateToDefault"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(as_key(&server, &key).await.0, StatusCode::OK);

        // Deleting the key stops it.
        let (s, _) = call(
            &server,
            ALICE,
            "/Thingworx/Resources/EntityServices/Services/DeleteApplicationKey",
            json!({"name": "AliceKey"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(as_key(&server, &key).await.0, StatusCode::UNAUTHORIZED);

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
