//! Form login over HTTP: each organization's login page (its own prompt, escaped; unknown
//! organizations fall back to `Everyone`; security headers and the CSRF cookie), the
//! double-submit CSRF check, wrong passwords, the membership rule of contract §4 item 4,
//! the session cookie, the landing page and logout.

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::vocab::MemberType;
use ironworx_tests::forms::{Reply, browser, get, login, open_form, post_form};
use ironworx_tests::{TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use reqwest::header;
use sea_orm::DatabaseConnection;
use serde_json::json;

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-password-1";
const BOB: &str = "bob";
const BOB_PASSWORD: &str = "bob-password-22";
const ORG_A: &str = "Alpha";
const ORG_B: &str = "Bravo";
const PROMPT_A: &str = "Alpha staff only <script>alert('a')</script>";
const PROMPT_A_ESCAPED: &str = "Alpha staff only &lt;script&gt;alert(&#39;a&#39;)&lt;/script&gt;";
const PROMPT_B: &str = "Welcome to Bravo & friends";
const PROMPT_B_ESCAPED: &str = "Welcome to Bravo &amp; friends";
const PROMPT_EVERYONE: &str = "Everyone may sign in here";
const BRAVO_HOME: &str = "BravoHome";
const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const EXPLAIN: &str = "/Thingworx/Resources/SecurityServices/Services/ExplainPermission";
const CSP: &str = "default-src 'none'; img-src data:; style-src 'self' 'unsafe-inline'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn add_user(db: &DatabaseConnection, name: &str, password: &str) {
    ironworx_tests::create_user(db, name, password).await;
}

async fn add_organization(
    db: &DatabaseConnection,
    name: &str,
    home_mashup: &str,
    login: LoginPage,
    member: &str,
) {
    let fields = EntityFields {
        home_mashup: home_mashup.into(),
        ..EntityFields::default()
    };
    organizations::create_organization(db, name, &fields, &login)
        .await
        .expect("organization");
    organizations::add_unit_member(db, name, name, member, MemberType::User)
        .await
        .expect("member");
}

/// alice in organization Alpha (an image, a hostile prompt, an inline style), bob in Bravo
/// (home mashup BravoHome), and a prompt on Everyone's page.
async fn seed(db: &DatabaseConnection) {
    add_user(db, ALICE, ALICE_PASSWORD).await;
    add_user(db, BOB, BOB_PASSWORD).await;
    add_organization(
        db,
        ORG_A,
        "",
        LoginPage {
            login_prompt: PROMPT_A.into(),
            login_image: PNG_1X1.into(),
            login_style: r##"{"backgroundColor":"#fafafa","foregroundColor":"red}</style><script>"}"##
                .into(),
            login_button_style: "Alpha Button\"><script>".into(),
            ..LoginPage::default()
        },
        ALICE,
    )
    .await;
    add_organization(
        db,
        ORG_B,
        BRAVO_HOME,
        LoginPage {
            login_prompt: PROMPT_B.into(),
            login_image: "not an image <img src=x onerror=alert(1)>".into(),
            ..LoginPage::default()
        },
        BOB,
    )
    .await;
    organizations::set_login_page(
        db,
        "Everyone",
        &LoginPage {
            login_prompt: PROMPT_EVERYONE.into(),
            ..LoginPage::default()
        },
    )
    .await
    .expect("Everyone's page");
}

/// A REST call authenticated by `cookies` alone.
async fn rest_status(server: &TestServer, cookies: &str) -> StatusCode {
    server
        .client()
        .post(server.url(EXPLAIN))
        .header(header::COOKIE, cookies)
        .json(&json!({"entityType": "Things", "entityName": "", "permission": "Create"}))
        .send()
        .await
        .expect("request")
        .status()
}

fn assert_security_headers(reply: &Reply, what: &str) {
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-security-policy"), CSP, "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
}

#[tokio::test]
async fn each_organization_shows_its_own_login_page() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[("IRONWORX_PASSWORD_MIN_LENGTH", "8")]).await;
        let conn = connect(&db).await;
        seed(&conn).await;

        let a = get(&server, "/Thingworx/FormLogin/Alpha", "").await;
        assert_eq!(a.status, StatusCode::OK, "{backend}: {}", a.body);
        assert_security_headers(&a, "login page");
        assert!(
            a.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html")),
            "{backend}"
        );
        assert!(a.body.contains(PROMPT_A_ESCAPED), "{backend}: {}", a.body);
        assert!(!a.body.contains("<script"), "{backend}: {}", a.body);
        assert!(!a.body.contains(PROMPT_B_ESCAPED), "{backend}");
        assert!(
            a.body
                .contains(&format!("src=\"data:image/png;base64,{PNG_1X1}\"")),
            "{backend}: the image is shown"
        );
        assert!(a.body.contains("background-color: #fafafa"), "{backend}");
        assert!(!a.body.contains("red}"), "{backend}: unsafe style dropped");
        assert!(
            a.body.contains("twx-style-Alpha-Button---script-"),
            "{backend}"
        );
        assert_eq!(a.field("OrganizationName").as_deref(), Some(ORG_A));
        assert_eq!(a.field("x-thingworx-session").as_deref(), Some("true"));
        for name in ["thingworx-form-userid", "thingworx-form-password"] {
            assert!(
                a.body.contains(&format!("name=\"{name}\"")),
                "{backend}: {name}"
            );
        }
        assert!(a.body.contains("action=\"/Thingworx/action-login\""));
        let csrf = a.cookie("CSRFID").expect("CSRF cookie");
        assert!(csrf.http_only && csrf.strict, "{backend}: {csrf:?}");
        assert_eq!(csrf.path.as_deref(), Some("/Thingworx"));
        assert_eq!(csrf.value.len(), 43, "32 random bytes, base64url");
        assert_eq!(a.field("x-csrf-id").as_deref(), Some(csrf.value.as_str()));
        let again = get(&server, "/Thingworx/FormLogin/Alpha", "").await;
        assert_ne!(
            again.cookie("CSRFID").map(|c| c.value.clone()),
            Some(csrf.value.clone()),
            "{backend}: every new visitor gets a new token"
        );

        let b = get(&server, "/Thingworx/FormLogin/Bravo", "").await;
        assert_eq!(b.status, StatusCode::OK, "{backend}");
        assert!(b.body.contains(PROMPT_B_ESCAPED), "{backend}: {}", b.body);
        assert!(!b.body.contains("Alpha staff only"), "{backend}");
        assert!(
            !b.body.contains("<img"),
            "{backend}: a bad image is left out"
        );
        assert!(!b.body.contains("onerror"), "{backend}");
        assert_eq!(b.field("OrganizationName").as_deref(), Some(ORG_B));

        // Unknown or no organization: Everyone's page, not a 404.
        for path in [
            "/Thingworx/FormLogin/NoSuchOrganization",
            "/Thingworx/FormLogin",
            "/Thingworx/FormLogin/Everyone",
        ] {
            let page = get(&server, path, "").await;
            assert_eq!(page.status, StatusCode::OK, "{backend}: {path}");
            assert!(page.body.contains(PROMPT_EVERYONE), "{backend}: {path}");
            assert_eq!(
                page.field("OrganizationName").as_deref(),
                Some("Everyone"),
                "{backend}: {path}"
            );
        }

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn form_login_checks_csrf_password_and_membership_then_logs_out() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[("IRONWORX_PASSWORD_MIN_LENGTH", "8")]).await;
        let conn = connect(&db).await;
        seed(&conn).await;

        // Without the CSRF field, with a wrong one, or without the cookie: 403, no session,
        // even with the right password.
        let csrf = open_form(&server, ORG_A).await;
        let other = open_form(&server, ORG_A).await;
        let credentials = [
            ("thingworx-form-userid", ALICE),
            ("thingworx-form-password", ALICE_PASSWORD),
            ("OrganizationName", ORG_A),
        ];
        let cases: [(&str, Option<&str>, &str); 3] = [
            ("no field", None, "with the cookie"),
            ("wrong field", Some(other.as_str()), "with the cookie"),
            ("no cookie", Some(csrf.as_str()), ""),
        ];
        for (why, field, cookie) in cases {
            let mut form = credentials.to_vec();
            if let Some(field) = field {
                form.push(("x-csrf-id", field));
            }
            let cookies = if cookie.is_empty() {
                String::new()
            } else {
                format!("CSRFID={csrf}")
            };
            let reply = post_form(&server, "/Thingworx/action-login", &cookies, &form).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{backend}: {why}");
            assert!(
                reply.body.contains("expired"),
                "{backend}: {why}: {}",
                reply.body
            );
            assert!(reply.cookie("JSESSIONID").is_none(), "{backend}: {why}");
            assert_security_headers(&reply, why);
        }

        // Wrong password: 401, the page again with a generic message, no session.
        let reply = login(&server, ORG_A, ALICE, "not-her-password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{backend}");
        assert!(
            reply.body.contains("Invalid user name or password"),
            "{backend}: {}",
            reply.body
        );
        assert!(reply.body.contains(PROMPT_A_ESCAPED), "{backend}");
        assert!(reply.cookie("JSESSIONID").is_none(), "{backend}");
        assert!(reply.headers.get("www-authenticate").is_none(), "{backend}");
        let unknown = login(&server, ORG_A, "nobody", "whatever-1").await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{backend}");
        assert!(unknown.body.contains("Invalid user name or password"));

        // A user who is not a member of Bravo is refused there: 403, no session.
        let reply = login(&server, ORG_B, ALICE, ALICE_PASSWORD).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            reply.body
        );
        assert!(
            reply.body.contains("not a member of organization Bravo"),
            "{backend}: {}",
            reply.body
        );
        assert!(reply.cookie("JSESSIONID").is_none(), "{backend}");

        // A member logs in on its organization: 303 to the landing page with a session cookie.
        let reply = login(&server, ORG_A, ALICE, ALICE_PASSWORD).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{backend}: {}",
            reply.body
        );
        assert!(
            reply.location().starts_with("/Thingworx/Home"),
            "{backend}: {}",
            reply.location()
        );
        let session = reply.cookie("JSESSIONID").expect("session cookie").clone();
        assert!(session.http_only, "{backend}: {session:?}");
        assert!(session.strict, "{backend}: {session:?}");
        assert!(!session.value.is_empty());
        let csrf = reply
            .cookie("CSRFID")
            .expect("a new CSRF token")
            .value
            .clone();
        let cookies = format!("JSESSIONID={}; CSRFID={csrf}", session.value);

        // Anyone may log in through Everyone; Bravo's member lands on Bravo's home mashup.
        let everyone = login(&server, "Everyone", ALICE, ALICE_PASSWORD).await;
        assert_eq!(everyone.status, StatusCode::SEE_OTHER, "{backend}");
        assert!(everyone.cookie("JSESSIONID").is_some(), "{backend}");
        let bravo = login(&server, ORG_B, BOB, BOB_PASSWORD).await;
        assert_eq!(
            bravo.status,
            StatusCode::SEE_OTHER,
            "{backend}: {}",
            bravo.body
        );
        assert_eq!(
            bravo.location(),
            format!("/Thingworx/Runtime/index.html#mashup={BRAVO_HOME}"),
            "{backend}"
        );

        // With the session: the landing page and REST calls.
        let home = get(&server, reply.location(), &cookies).await;
        assert_eq!(home.status, StatusCode::OK, "{backend}: {}", home.body);
        assert!(
            home.body.contains("Signed in as alice (Alpha)"),
            "{backend}: {}",
            home.body
        );
        assert_security_headers(&home, "landing page");
        assert_eq!(home.field("x-csrf-id").as_deref(), Some(csrf.as_str()));
        assert_eq!(home.field("OrganizationName").as_deref(), Some(ORG_A));
        let home_elsewhere = get(&server, "/Thingworx/Home?org=Bravo", &cookies).await;
        assert!(
            home_elsewhere
                .body
                .contains("Signed in as alice (Everyone)"),
            "{backend}: no claim of an organization alice is not in"
        );
        assert_eq!(
            rest_status(&server, &cookies).await,
            StatusCode::OK,
            "{backend}"
        );
        let anonymous = get(&server, "/Thingworx/Home", "").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(anonymous.location(), "/Thingworx/FormLogin/Everyone");

        // Logout needs the CSRF token (or X-Requested-With): without it, 403 and still signed in.
        let refused = post_form(
            &server,
            "/Thingworx/Logout",
            &cookies,
            &[("OrganizationName", ORG_A)],
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(
            rest_status(&server, &cookies).await,
            StatusCode::OK,
            "{backend}"
        );

        let out = post_form(
            &server,
            "/Thingworx/Logout",
            &cookies,
            &[("OrganizationName", ORG_A), ("x-csrf-id", &csrf)],
        )
        .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{backend}: {}", out.body);
        assert_eq!(out.location(), "/Thingworx/FormLogin/Alpha", "{backend}");
        let removal = out.cookie("JSESSIONID").expect("removal cookie");
        assert!(removal.removal, "{backend}: {removal:?}");

        // The old cookie no longer authenticates anywhere.
        let home = get(&server, "/Thingworx/Home", &cookies).await;
        assert_eq!(home.status, StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(
            home.location(),
            "/Thingworx/FormLogin/Everyone",
            "{backend}"
        );
        assert_eq!(
            rest_status(&server, &cookies).await,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );

        // A script logs out with X-Requested-With instead of the form token.
        let session = bravo
            .cookie("JSESSIONID")
            .expect("bob's session")
            .value
            .clone();
        let bob_cookies = format!("JSESSIONID={session}");
        assert_eq!(rest_status(&server, &bob_cookies).await, StatusCode::OK);
        let res = browser()
            .post(server.url("/Thingworx/Logout"))
            .header(header::COOKIE, &bob_cookies)
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("logout");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(
            rest_status(&server, &bob_cookies).await,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
