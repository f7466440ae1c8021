//! Authentication and names against the real server, on SQLite and PostgreSQL: failed logins
//! lock a user for the client address they came from only (strangers cannot lock an account
//! out, guessing stays stopped), a disabled user's password login answers like any wrong
//! password, principal names refuse invisible characters and look-alike spellings (a user
//! name typed at login is normalized), and imported PBKDF2 hashes have a bounded cost.

use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_server::auth::app_key::key_hash;
use ironworx_tests::forms::open_form;
use ironworx_tests::http::{Caller, upload};
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect, create_user, post_json,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const WHO_AM_I: &str = "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser";
const PROXY: (&str, &str) = ("IRONWORX_TRUSTED_PROXY_HEADER", "X-Forwarded-For");
const ATTACKER: &str = "203.0.113.7";
const OPERATOR: &str = "198.51.100.9";
const KEY: &str = "0c9e4d2a-51f7-4b8e-9d3c-7a6b5e4f3d21";

/// `GetCurrentUser` with Basic credentials from `client` (through the trusted proxy header).
async fn basic_from(server: &TestServer, client: &str, who: (&str, &str)) -> (StatusCode, String) {
    let res = server
        .client()
        .post(server.url(WHO_AM_I))
        .header("X-Forwarded-For", client)
        .basic_auth(who.0, Some(who.1))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

/// A form login through `Everyone` from `client`: the status and the page.
async fn form_from(server: &TestServer, client: &str, who: (&str, &str)) -> (StatusCode, String) {
    let csrf = open_form(server, "Everyone").await;
    let res = ironworx_tests::forms::browser()
        .post(server.url("/Thingworx/action-login"))
        .header("X-Forwarded-For", client)
        .header("Accept", "text/html")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", format!("CSRFID={csrf}"))
        .body(ironworx_tests::forms::urlencoded(&[
            ("thingworx-form-userid", who.0),
            ("thingworx-form-password", who.1),
            ("OrganizationName", "Everyone"),
            ("x-csrf-id", &csrf),
        ]))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

async fn user_service(server: &TestServer, user: &str, service: &str) -> Value {
    let path = format!("/Thingworx/Users/{user}/Services/{service}");
    let (status, body) = post_json(server, ADMIN, &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Five wrong Administrator passwords from one address lock Administrator for that address
/// only, on both processes; everyone else keeps logging in (Basic and form login), a success
/// forgets an address's failures, and `UnlockUser` lifts every address lock.
#[tokio::test]
async fn failed_logins_lock_a_user_for_their_address_only() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[PROXY]).await;
        let b = TestServer::start(&db, &[PROXY]).await;
        let wrong = (ADMIN_USER, "not-the-password");

        for _ in 0..5 {
            let (status, body) = basic_from(&a, ATTACKER, wrong).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
        }
        // Locked for the attacker's address, on the other process too, whatever the password.
        for server in [&a, &b] {
            let (status, body) = basic_from(server, ATTACKER, ADMIN).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
            assert!(body.contains("the user is locked"), "{backend}: {body}");
            let (status, body) = form_from(server, ATTACKER, ADMIN).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
            assert!(body.contains("locked"), "{backend}: {body}");
        }
        // Any other address logs in normally, by Basic and by form, on both processes.
        for server in [&a, &b] {
            let (status, body) = basic_from(server, OPERATOR, ADMIN).await;
            assert_eq!(status, StatusCode::OK, "{backend}: {body}");
            let (status, body) = form_from(server, OPERATOR, ADMIN).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{backend}: {body}");
        }
        // The administrative lock is not set: IsLocked says so.
        let locked = user_service(&b, ADMIN_USER, "IsLocked").await;
        assert_eq!(locked["rows"][0]["result"], json!(false), "{backend}");

        // A success forgets the failures of its address: 4 + 4 failures around it lock nothing.
        let other = "192.0.2.44";
        for round in 0..2 {
            for _ in 0..4 {
                basic_from(&a, other, wrong).await;
            }
            let (status, body) = basic_from(&b, other, ADMIN).await;
            assert_eq!(status, StatusCode::OK, "{backend} round {round}: {body}");
        }

        // An IPv6 client is one /64 network.
        for _ in 0..5 {
            basic_from(&b, "2001:db8:1:2::1", wrong).await;
        }
        assert_eq!(
            basic_from(&a, "2001:db8:1:2::99", ADMIN).await.0,
            StatusCode::UNAUTHORIZED,
            "{backend}: same /64"
        );
        assert_eq!(
            basic_from(&a, "2001:db8:1:3::1", ADMIN).await.0,
            StatusCode::OK,
            "{backend}: another /64"
        );

        // UnlockUser (through A) lifts every address lock, seen by B at once.
        user_service(&a, ADMIN_USER, "UnlockUser").await;
        for client in [ATTACKER, "2001:db8:1:2::1"] {
            let (status, body) = basic_from(&b, client, ADMIN).await;
            assert_eq!(status, StatusCode::OK, "{backend} {client}: {body}");
        }

        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        db.drop_database().await;
    }
}

/// A disabled user's password login (Basic or form) answers "invalid user name or password",
/// with the right password as with a wrong one, and counts as a failure; its application key
/// still says "disabled".
#[tokio::test]
async fn a_disabled_user_answers_like_a_wrong_password() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[PROXY, ("IRONWORX_LOCKOUT_ATTEMPTS", "3")]).await;
        let conn = connect(&db).await;
        create_user(&conn, "carol", "carol-password-123").await;
        let carol = users::get_user(&conn, "carol").await.expect("carol");
        app_keys::create_app_key(
            &conn,
            &NewAppKey {
                name: "CarolKey".into(),
                key_hash: Some(key_hash(KEY)),
                user_id: Some(carol.entity.id),
                ..NewAppKey::default()
            },
        )
        .await
        .expect("key");
        let right = ("carol", "carol-password-123");
        let wrong = ("carol", "carol-password-999");
        // Verified once, so that the Basic credentials are known to the server.
        assert_eq!(
            basic_from(&server, OPERATOR, right).await.0,
            StatusCode::OK,
            "{backend}"
        );
        user_service(&server, "carol", "DisableUser").await;

        let answers = [
            basic_from(&server, OPERATOR, right).await,
            basic_from(&server, OPERATOR, wrong).await,
        ];
        for (status, body) in &answers {
            assert_eq!(*status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
            assert!(body.contains("invalid user name or password"), "{body}");
            assert!(!body.contains("disabled"), "{backend}: {body}");
        }
        assert_eq!(
            answers[0], answers[1],
            "{backend}: the password makes no difference"
        );
        let forms = [
            form_from(&server, ATTACKER, right).await,
            form_from(&server, ATTACKER, wrong).await,
        ];
        for (status, body) in &forms {
            assert_eq!(*status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
            assert!(body.contains("Invalid user name or password"), "{body}");
            assert!(!body.contains("disabled"), "{backend}: {body}");
        }
        // Counted as failures: the third from the address locks it.
        form_from(&server, ATTACKER, right).await;
        let (_, body) = basic_from(&server, ATTACKER, right).await;
        assert!(body.contains("locked"), "{backend}: {body}");

        // The key's holder proved a credential already: it is told the user is disabled.
        let res = server
            .client()
            .post(server.url(WHO_AM_I))
            .header("appKey", KEY)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.text().await.expect("body").contains("disabled"));

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

async fn create(
    server: &TestServer,
    service: &str,
    name: &str,
    extra: Value,
) -> (StatusCode, String) {
    let mut params = extra;
    params["name"] = json!(name);
    let path = format!("/Thingworx/Resources/EntityServices/Services/{service}");
    let (status, body) = post_json(server, ADMIN, &path, params).await;
    (status, body.to_string())
}

/// Principal names with invisible characters or compatibility look-alikes are refused, other
/// names must be NFC; a user name typed at login is brought to NFKC.
#[tokio::test]
async fn look_alike_names_are_refused() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let user = json!({"password": "look-alike-password-1"});
        let org = json!({"topOUName": "Top"});
        for (service, name, extra, says) in [
            ("CreateGroup", "Administrators\u{200B}", json!({}), "U+200B"),
            ("CreateGroup", "\u{202E}srotartsinimdA", json!({}), "U+202E"),
            (
                "CreateUser",
                "Administrator\u{2060}",
                user.clone(),
                "U+2060",
            ),
            ("CreateOrganization", "Acme\u{FEFF}", org.clone(), "U+FEFF"),
            (
                "CreateThing",
                "Pump\u{E000}",
                json!({"thingTemplateName": "GenericThing"}),
                "U+E000",
            ),
            (
                "CreateGroup",
                "\u{FF21}dministrators",
                json!({}),
                "'Administrators'",
            ),
            ("CreateUser", "\u{FB01}nance", user.clone(), "'finance'"),
            (
                "CreateThing",
                "Cafe\u{301}",
                json!({"thingTemplateName": "GenericThing"}),
                "'Café'",
            ),
        ] {
            let (status, body) = create(&server, service, name, extra).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend} {service} {name:?}: {body}"
            );
            assert!(body.contains(says), "{backend} {service}: {body}");
        }
        let (status, body) =
            create(&server, "CreateGroup", "\u{FF21}dministrators", json!({})).await;
        assert!(
            status == StatusCode::BAD_REQUEST && body.contains("NFKC"),
            "{body}"
        );
        // What may be created: accented names in NFC and NFKC, non-Latin scripts.
        for (service, name, extra) in [
            (
                "CreateThing",
                "Café",
                json!({"thingTemplateName": "GenericThing"}),
            ),
            ("CreateGroup", "Opérateurs", json!({})),
            ("CreateUser", "zoë", user.clone()),
        ] {
            let (status, body) = create(&server, service, name, extra).await;
            assert_eq!(status, StatusCode::OK, "{backend} {service} {name}: {body}");
        }
        // Typed at login in full-width letters, the name is found.
        let (status, body) =
            basic_from(&server, OPERATOR, ("ｚｏë", "look-alike-password-1")).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert!(body.contains("zoë"), "{backend}: {body}");

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

/// An import of one user carrying a PBKDF2 hash claiming `iterations`.
fn user_export(name: &str, iterations: u32) -> Vec<u8> {
    let hash = ironworx_server::auth::pbkdf2::hash("secret", &[9u8; 16], 1, 32).replacen(
        "1:",
        &format!("{iterations}:"),
        1,
    );
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Entities build=\"b12\" majorVersion=\"9\" \
         minorVersion=\"3\" modelPersistenceProviderPackage=\"PostgresPersistenceProviderPackage\" \
         revision=\"0\" schemaVersion=\"1050\" universal=\"\"><Users><User name=\"{name}\" \
         description=\"\" enabled=\"true\" locked=\"false\" passwordHash=\"{hash}\" \
         passwordHashAlgorithm=\"PBKDF2WithHmacSHA512\" passwordHashIterationCount=\"{iterations}\" \
         passwordHashSaltSizeInBytes=\"16\" passwordHashSizeInBytes=\"32\"></User></Users></Entities>\n"
    );
    xml.into_bytes()
}

async fn import(server: &TestServer, name: &str, xml: Vec<u8>) -> (StatusCode, String) {
    let reply = upload(server, &Caller::admin(), &format!("{name}.xml"), &xml).await;
    (reply.status, reply.text)
}

/// A PBKDF2 record claiming `iterations` for `password`.
fn pbkdf2(password: &str, iterations: u32) -> PasswordRecord {
    PasswordRecord {
        hash: ironworx_server::auth::pbkdf2::hash(password, &[5u8; 16], iterations, 64),
        algorithm: users::PBKDF2_SHA512.into(),
        iterations: i32::try_from(iterations).expect("fits"),
        salt_bytes: 16,
        hash_bytes: 64,
    }
}

/// An import whose PBKDF2 hash claims more iterations than `--max-pbkdf2-iterations` is
/// refused, naming the user and the limit; a stored hash above the bound never matches.
#[tokio::test]
async fn pbkdf2_iterations_are_bounded() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let (status, body) = import(&server, "slowpoke", user_export("slowpoke", 10_000_000)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {body}");
        assert!(
            body.contains("slowpoke") && body.contains("210000"),
            "{backend}: {body}"
        );
        let (status, body) = import(&server, "thingworx", user_export("thingworx", 100_000)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{backend}: ThingWorx's own count: {body}"
        );

        // Stored behind the server's back above the bound: refused with the right password.
        let conn = connect(&db).await;
        users::create_user(
            &conn,
            &NewUser {
                name: "heavy".into(),
                password: Some(pbkdf2("heavy-password", 250_000)),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
        let (status, body) = basic_from(&server, OPERATOR, ("heavy", "heavy-password")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}: {body}");
        assert!(body.contains("invalid user name or password"), "{body}");
        assert!(server.stop().await.success());

        // A server allowed more accepts it (and rehashes it to argon2id).
        let server = TestServer::start(&db, &[("IRONWORX_MAX_PBKDF2_ITERATIONS", "300000")]).await;
        let (status, body) = basic_from(&server, OPERATOR, ("heavy", "heavy-password")).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
