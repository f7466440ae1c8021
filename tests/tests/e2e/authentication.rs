//! Authentication over HTTP: Basic, application keys and session tokens; every failure (wrong
//! password, unknown user, locked, disabled, expired key, key from an address outside its
//! whitelist, key in the URL, tampered or expired session token), lockout for the client
//! address and throttling, and imported PBKDF2 passwords rehashed to argon2id.

use base64::Engine;
use ironworx_entity::queries::app_keys;
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::login_failures;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::sessions::{self, NewSession};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::queries::{data, now_ms, settings};
use ironworx_entity::schema::property_values;
use ironworx_entity::vocab::{Effect, PermissionKind, PrincipalType};
use ironworx_server::auth::app_key::key_hash;
use ironworx_tests::model::app_key as add_key;
use ironworx_tests::{TestDb, TestServer, backends, connect};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::json;

const PROPERTY: &str = "/Thingworx/Things/Pump/Properties/Pressure";
const KEY: &str = "3f1e9a2c-6b7d-4e8f-9a0b-1c2d3e4f5a6b";

async fn add_user(db: &DatabaseConnection, name: &str, password: PasswordRecord) {
    users::create_user(
        db,
        &NewUser {
            name: name.into(),
            password: Some(password),
            ..NewUser::default()
        },
    )
    .await
    .expect("user");
}

async fn argon(password: &str) -> PasswordRecord {
    PasswordRecord::argon2id(ironworx_server::auth::hashing::hash_password(password).expect("hash"))
}

/// Users alice, bob and legacy (an imported PBKDF2 hash), and a Thing every user may read.
async fn seed(db: &DatabaseConnection) {
    add_user(db, "alice", argon("alice-password").await).await;
    add_user(db, "bob", argon("bob-password").await).await;
    add_user(
        db,
        "legacy",
        PasswordRecord {
            hash: ironworx_server::auth::pbkdf2::hash("legacy-password", &[42u8; 64], 100_000, 64),
            algorithm: users::PBKDF2_SHA512.into(),
            iterations: 100_000,
            salt_bytes: 64,
            hash_bytes: 64,
        },
    )
    .await;
    let pump = models::create_thing(
        db,
        "Pump",
        &EntityFields::default(),
        &ThingFields::default(),
    )
    .await
    .expect("thing");
    data::set_property_value(
        db,
        &property_values::Model {
            id: 0,
            entity_id: pump.id,
            name: "Pressure".into(),
            base_type: "NUMBER".into(),
            value: Some(json!(3.5)),
            value_time: 0,
            quality: "GOOD".into(),
        },
    )
    .await
    .expect("value");
    permissions::set_entity_rule(
        db,
        pump.id,
        false,
        &Rule::any(
            PermissionKind::PropertyRead,
            PrincipalType::Group,
            "Users",
            Effect::Allow,
        ),
    )
    .await
    .expect("rule");
}

async fn status(req: RequestBuilder) -> (StatusCode, String) {
    let res = req.send().await.expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

fn basic(server: &TestServer, user: &str, password: &str) -> RequestBuilder {
    server
        .client()
        .get(server.url(PROPERTY))
        .basic_auth(user, Some(password))
}

#[tokio::test]
async fn basic_credentials_lockout_and_imported_passwords() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(
            &db,
            &[
                ("IRONWORX_LOCKOUT_ATTEMPTS", "3"),
                ("IRONWORX_LOGIN_RATE_PER_MINUTE", "1000"),
            ],
        )
        .await;
        let conn = connect(&db).await;
        seed(&conn).await;

        assert_eq!(
            status(basic(&server, "alice", "alice-password")).await.0,
            StatusCode::OK
        );
        let wrong = status(basic(&server, "alice", "nope")).await;
        let unknown = status(basic(&server, "nobody", "nope")).await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{backend}");
        assert_eq!(
            wrong, unknown,
            "an unknown user answers like a wrong password"
        );
        let res = server
            .client()
            .get(server.url(PROPERTY))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // No challenge to a client that sent no Basic credentials (a browser would offer the
        // ones it cached); one to a client that speaks Basic.
        assert!(!res.headers().contains_key("www-authenticate"));
        let garbage = server
            .client()
            .get(server.url(PROPERTY))
            .header("Authorization", "Basic !!!not-base64")
            .send()
            .await
            .expect("request");
        assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
        assert!(garbage.headers().contains_key("www-authenticate"));
        // System can never log in, whatever its password.
        assert_eq!(
            status(basic(&server, "System", "")).await.0,
            StatusCode::UNAUTHORIZED
        );

        // An imported PBKDF2 password works and is rehashed to argon2id on that login.
        assert_eq!(
            status(basic(&server, "legacy", "legacy-password")).await.0,
            StatusCode::OK,
            "{backend}"
        );
        let legacy = users::get_user(&conn, "legacy").await.expect("legacy").user;
        assert_eq!(legacy.password_algorithm, users::ARGON2ID);
        assert!(
            legacy
                .password_hash
                .as_deref()
                .is_some_and(|h| h.starts_with("$argon2id$"))
        );
        assert_eq!(
            status(basic(&server, "legacy", "legacy-password")).await.0,
            StatusCode::OK
        );
        assert_eq!(
            status(basic(&server, "legacy", "wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );

        // Three failures lock bob for this address (the test's); then even the right password
        // is refused from here, while the administrative lock stays unset.
        for _ in 0..3 {
            assert_eq!(
                status(basic(&server, "bob", "wrong")).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let (code, body) = status(basic(&server, "bob", "bob-password")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{backend}");
        assert!(body.contains("locked"), "{body}");
        let bob = users::get_user(&conn, "bob").await.expect("bob").user;
        assert!(
            !bob.locked,
            "{backend}: failed logins set no administrative lock"
        );
        let failures = login_failures::find(&conn, bob.entity_id, "127.0.0.1")
            .await
            .expect("failures")
            .expect("a row for this address");
        assert!(failures.locked_until.is_some_and(|t| t > now_ms()));
        login_failures::clear_user(&conn, bob.entity_id)
            .await
            .expect("unlock");
        assert_eq!(
            status(basic(&server, "bob", "bob-password")).await.0,
            StatusCode::OK
        );

        // Disabling a user refuses it at once, even with credentials verified a moment ago,
        // and its password login answers like a wrong password.
        let alice = users::get_user(&conn, "alice").await.expect("alice");
        users::set_enabled(&conn, alice.entity.id, false)
            .await
            .expect("disable");
        let (code, body) = status(basic(&server, "alice", "alice-password")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        assert!(body.contains("invalid user name or password"), "{body}");
        users::set_enabled(&conn, alice.entity.id, true)
            .await
            .expect("enable");
        // A success forgets this address's failures (the wrong password and the disabled try).
        assert_eq!(
            status(basic(&server, "alice", "alice-password")).await.0,
            StatusCode::OK
        );
        // A changed password invalidates the verified credentials at once.
        users::set_password(
            &conn,
            alice.entity.id,
            &argon("alice-new-password").await,
            now_ms(),
        )
        .await
        .expect("password");
        assert_eq!(
            status(basic(&server, "alice", "alice-password")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(basic(&server, "alice", "alice-new-password"))
                .await
                .0,
            StatusCode::OK
        );

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn failed_logins_from_one_address_are_throttled() {
    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    let server = TestServer::start(
        &db,
        &[
            ("IRONWORX_LOGIN_RATE_PER_MINUTE", "3"),
            ("IRONWORX_LOCKOUT_ATTEMPTS", "0"),
        ],
    )
    .await;
    let conn = connect(&db).await;
    seed(&conn).await;
    for _ in 0..3 {
        assert_eq!(
            status(basic(&server, "alice", "wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let res = basic(&server, "alice", "alice-password")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // Throttling is per address, not a lockout: the user is not locked.
    assert!(
        !users::get_user(&conn, "alice")
            .await
            .expect("alice")
            .user
            .locked
    );
    conn.close().await.expect("close");
    db.drop_database().await;
}

fn with_key(server: &TestServer, key: &str) -> RequestBuilder {
    server
        .client()
        .get(server.url(PROPERTY))
        .header("appKey", key)
}

#[tokio::test]
async fn application_keys() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed(&conn).await;
        let future = now_ms() + 3_600_000;
        add_key(&conn, "Good", KEY, "alice", Some(future), "127.0.0.1, ::1").await;
        add_key(
            &conn,
            "Expired",
            "expired-key-0001",
            "alice",
            Some(now_ms() - 1),
            "",
        )
        .await;
        add_key(
            &conn,
            "Elsewhere",
            "elsewhere-key-01",
            "alice",
            Some(future),
            "10.0.*.*",
        )
        .await;
        add_key(&conn, "BobKey", "bob-key-00000001", "bob", None, "").await;

        assert_eq!(
            status(with_key(&server, KEY)).await.0,
            StatusCode::OK,
            "{backend}"
        );
        let lower = server
            .client()
            .get(server.url(PROPERTY))
            .header("appkey", KEY);
        assert_eq!(
            status(lower).await.0,
            StatusCode::OK,
            "header names ignore case"
        );
        for (key, needle) in [
            ("expired-key-0001", "expired"),
            ("elsewhere-key-01", "not allowed from this address"),
            ("no-such-key-0000", "invalid application key"),
        ] {
            let (code, body) = status(with_key(&server, key)).await;
            assert_eq!(code, StatusCode::UNAUTHORIZED, "{key}");
            assert!(body.contains(needle), "{key}: {body}");
        }
        // In the URL: refused, even for a good key.
        let (code, body) = status(
            server
                .client()
                .get(format!("{}?appKey={KEY}", server.url(PROPERTY))),
        )
        .await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        assert!(body.contains("not accepted in the URL"), "{body}");
        // The key acts as its user: a disabled or locked user's key stops at once.
        let bob = users::get_user(&conn, "bob").await.expect("bob");
        assert_eq!(
            status(with_key(&server, "bob-key-00000001")).await.0,
            StatusCode::OK
        );
        users::set_enabled(&conn, bob.entity.id, false)
            .await
            .expect("disable");
        assert_eq!(
            status(with_key(&server, "bob-key-00000001")).await.0,
            StatusCode::UNAUTHORIZED
        );
        users::set_enabled(&conn, bob.entity.id, true)
            .await
            .expect("enable");
        users::set_locked(&conn, bob.entity.id, true, None)
            .await
            .expect("lock");
        assert_eq!(
            status(with_key(&server, "bob-key-00000001")).await.0,
            StatusCode::UNAUTHORIZED
        );
        // Keys are stored hashed.
        let stored = app_keys::get_app_key(&conn, "Good").await.expect("key");
        assert_eq!(stored.key.key_hash.as_deref(), Some(key_hash(KEY).as_str()));
        assert!(stored.key.last_used_at.is_some());
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn keys_in_the_url_and_proxy_addresses_when_configured() {
    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    let server = TestServer::start(
        &db,
        &[
            ("IRONWORX_ALLOW_APP_KEY_IN_URL", "true"),
            ("IRONWORX_TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
        ],
    )
    .await;
    let conn = connect(&db).await;
    seed(&conn).await;
    add_key(&conn, "Plant", KEY, "alice", None, "10.0.*.*").await;
    let from = |ip: &str| with_key(&server, KEY).header("X-Forwarded-For", ip.to_owned());
    assert_eq!(status(from("10.0.3.4")).await.0, StatusCode::OK);
    assert_eq!(
        status(from("10.1.3.4, 10.0.0.1")).await.0,
        StatusCode::UNAUTHORIZED,
        "the first address counts"
    );
    let url = format!("{}?appKey={KEY}", server.url(PROPERTY));
    assert_eq!(
        status(
            server
                .client()
                .get(url)
                .header("X-Forwarded-For", "10.0.0.9")
        )
        .await
        .0,
        StatusCode::OK
    );
    conn.close().await.expect("close");
    db.drop_database().await;
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    sid: &'a str,
    iat: u64,
    exp: u64,
}

#[tokio::test]
async fn session_tokens_are_checked_against_their_signature_and_their_row() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        seed(&conn).await;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(
                settings::get(&conn, "session.signing_key")
                    .await
                    .expect("key")
                    .expect("set"),
            )
            .expect("base64");
        let alice = users::get_user(&conn, "alice").await.expect("alice");
        let now = now_ms();
        for (sid, expires) in [
            ("live", now + 3_600_000),
            ("stale", now + 3_600_000),
            ("revoked", now + 3_600_000),
        ] {
            sessions::open_session(
                &conn,
                &NewSession {
                    token_id: sid.into(),
                    user_id: alice.entity.id,
                    organization: "Everyone".into(),
                    peer_addr: String::new(),
                    created_at: if sid == "stale" { now - 7_200_000 } else { now },
                    expires_at: expires,
                },
            )
            .await
            .expect("session");
        }
        sessions::revoke_session(&conn, "revoked", now)
            .await
            .expect("revoke");
        // Tokens are signed here with the server's own HS256 provider.
        ironworx_server::auth::token_crypto::install();
        let token = |sid: &str, key: &[u8], exp: u64| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &Claims {
                    sub: "alice",
                    sid,
                    iat: 0,
                    exp,
                },
                &EncodingKey::from_secret(key),
            )
            .expect("token")
        };
        let exp = u64::try_from(now / 1000 + 3600).expect("exp");
        let with_cookie = |t: String| {
            server
                .client()
                .get(server.url(PROPERTY))
                .header("Cookie", format!("JSESSIONID={t}"))
        };
        assert_eq!(
            status(with_cookie(token("live", &secret, exp))).await.0,
            StatusCode::OK,
            "{backend}"
        );
        for (t, why) in [
            (
                token("live", b"some other key of thirty-two bytes", exp),
                "wrong key",
            ),
            (token("live", &secret, 1_000), "expired token"),
            (token("nosuch", &secret, exp), "no such session"),
            (token("stale", &secret, exp), "idle too long"),
            (token("revoked", &secret, exp), "revoked"),
            (format!("{}x", token("live", &secret, exp)), "tampered"),
        ] {
            assert_eq!(
                status(with_cookie(t)).await.0,
                StatusCode::UNAUTHORIZED,
                "{backend}: {why}"
            );
        }
        // Disabling the user ends its sessions at once.
        users::set_enabled(&conn, alice.entity.id, false)
            .await
            .expect("disable");
        assert_eq!(
            status(with_cookie(token("live", &secret, exp))).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
