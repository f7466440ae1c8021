//! The web console over plain HTTP, on both databases: a session is required (a redirect to the
//! login page otherwise), pages carry the console's strict CSP and `no-store`, every form is
//! checked for its CSRF token (a post without it changes nothing), and an administrator's
//! changes (group, member, rules) go through the REST services, show under "who can" and
//! "explain", are previewed before a membership removal and appear in the audit view; a
//! non-administrator gets the same 403 as REST on administration pages and cannot change
//! anything by posting forms.

use ironworx_tests::forms::{Reply, get, login, post_form};
use ironworx_tests::{ADMIN_PASSWORD, TestServer, backends, connect, post_json};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::json;

pub(crate) const ADMIN: (&str, &str) = ("Administrator", ADMIN_PASSWORD);
const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-password-1";
const THING: &str = "/Thingworx/Console/Entities/Things/Pump1";
const SERVICES: &str = "/Thingworx/Resources/EntityServices/Services";

pub(crate) async fn ok(server: &TestServer, path: &str, body: serde_json::Value) {
    let (status, answer) = post_json(server, ADMIN, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
}

/// Pump1 with the property Temperature, and alice.
async fn setup(server: &TestServer) {
    ok(
        server,
        &format!("{SERVICES}/CreateThing"),
        json!({"name": "Pump1", "thingTemplateName": "GenericThing"}),
    )
    .await;
    ok(
        server,
        "/Thingworx/Things/Pump1/Services/AddPropertyDefinition",
        json!({"name": "Temperature", "type": "NUMBER"}),
    )
    .await;
}

/// Signs in through the Everyone login page: the cookies of the session and its CSRF token.
pub(crate) async fn sign_in(server: &TestServer, user: &str, password: &str) -> (String, String) {
    let reply = login(server, "Everyone", user, password).await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "{user}: {}",
        reply.body
    );
    let session = reply
        .cookie("JSESSIONID")
        .expect("session cookie")
        .value
        .clone();
    let csrf = reply.cookie("CSRFID").expect("CSRF cookie").value.clone();
    (format!("JSESSIONID={session}; CSRFID={csrf}"), csrf)
}

/// Follows a `303` after a console form and returns the page it leads to.
pub(crate) async fn follow(server: &TestServer, reply: &Reply, cookies: &str) -> Reply {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = get(server, reply.location(), cookies).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

/// The `<tr>` whose opening tag holds `marker`.
pub(crate) fn row<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"));
    let end = body[start..]
        .find("</tr>")
        .map_or(body.len(), |e| start + e);
    &body[start..end]
}

async fn rule(
    server: &TestServer,
    cookies: &str,
    csrf: &str,
    principal: (&str, &str),
    effect: &str,
) -> Reply {
    let reply = post_form(
        server,
        &format!("{THING}/Rules"),
        cookies,
        &[
            ("x-csrf-id", csrf),
            ("action", "add"),
            ("scope", "Own"),
            ("permission", "PropertyRead"),
            ("resource", "Temperature"),
            ("principal_type", principal.0),
            ("principal", principal.1),
            ("effect", effect),
        ],
    )
    .await;
    follow(server, &reply, cookies).await
}

async fn alice_reads(server: &TestServer) -> StatusCode {
    server
        .client()
        .get(server.url("/Thingworx/Things/Pump1/Properties/Temperature"))
        .basic_auth(ALICE, Some(ALICE_PASSWORD))
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .expect("request")
        .status()
}

async fn remove_alice(server: &TestServer, cookies: &str, csrf: &str, step: &str) -> Reply {
    post_form(
        server,
        "/Thingworx/Console/Groups/Operators/Members",
        cookies,
        &[
            ("x-csrf-id", csrf),
            ("action", "remove"),
            ("member", ALICE),
            ("member_type", "User"),
            ("step", step),
        ],
    )
    .await
}

#[tokio::test]
async fn console_pages_check_sessions_csrf_and_rights_like_rest() {
    for backend in backends() {
        let db = ironworx_tests::TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, ALICE, ALICE_PASSWORD).await;
        setup(&server).await;

        // No session: the login page.
        let anonymous = get(&server, "/Thingworx/Console/Groups", "").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{backend}");
        assert_eq!(anonymous.location(), "/Thingworx/FormLogin/Everyone");

        let (admin, csrf) = sign_in(&server, ADMIN.0, ADMIN.1).await;
        let home = get(&server, "/Thingworx/Console/", &admin).await;
        assert_eq!(home.status, StatusCode::OK, "{backend}: {}", home.body);
        let csp = home.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
        assert!(home.body.contains("id=\"nav-groups\""), "{backend}");
        assert!(!home.body.contains(" style=\"") && !home.body.contains("<style"));
        let htmx = get(
            &server,
            "/Thingworx/Console/assets/htmx-2.0.11.min.js",
            &admin,
        )
        .await;
        assert_eq!(htmx.status, StatusCode::OK);
        assert!(htmx.body.contains("htmx"), "{backend}");

        // A form without its token changes nothing.
        let forged = post_form(
            &server,
            "/Thingworx/Console/Groups",
            &admin,
            &[("name", "Operators")],
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{backend}");
        assert!(
            forged.body.contains("nothing was changed"),
            "{}",
            forged.body
        );
        let missing = get(&server, "/Thingworx/Console/Groups/Operators", &admin).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{backend}");

        // Group, member, a grant to the group.
        let created = post_form(
            &server,
            "/Thingworx/Console/Groups",
            &admin,
            &[("x-csrf-id", &csrf), ("name", "Operators")],
        )
        .await;
        follow(&server, &created, &admin).await;
        let added = post_form(
            &server,
            "/Thingworx/Console/Groups/Operators/Members",
            &admin,
            &[
                ("x-csrf-id", &csrf),
                ("action", "add"),
                ("member", ALICE),
                ("member_type", "User"),
                ("step", "save"),
            ],
        )
        .await;
        let group = follow(&server, &added, &admin).await;
        assert!(group.body.contains("id=\"member-User-alice\""), "{backend}");
        let page = rule(&server, &admin, &csrf, ("Group", "Operators"), "allow").await;
        assert!(
            page.body.contains("Saved allow PropertyRead"),
            "{}",
            page.body
        );
        assert_eq!(alice_reads(&server).await, StatusCode::OK, "{backend}");

        // Who can: alice (through Operators) may read Temperature.
        let who = get(
            &server,
            &format!("{THING}/WhoCan?resource=Temperature"),
            &admin,
        )
        .await;
        assert_eq!(who.status, StatusCode::OK, "{}", who.body);
        let alice_row = row(&who.body, "id=\"who-User-alice\"");
        assert!(
            alice_row.contains("<td class=\"allow\">yes</td>"),
            "{backend}: {alice_row}"
        );

        // The preview of removing alice lists what she would lose, and saves nothing.
        let preview = remove_alice(&server, &admin, &csrf, "preview").await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        let flip = row(
            &preview.body,
            "<tr class=\"flip\"><td>alice</td><td>Things/Pump1</td><td>PropertyRead</td><td>Temperature</td>",
        );
        assert!(flip.contains("denied"), "{flip}");
        assert_eq!(alice_reads(&server).await, StatusCode::OK, "{backend}");

        // A deny for alice: explain names it decisive.
        rule(&server, &admin, &csrf, ("User", ALICE), "deny").await;
        let explain = get(
            &server,
            &format!("{THING}/Explain?user=alice&permission=PropertyRead&resource=Temperature"),
            &admin,
        )
        .await;
        assert!(explain.body.contains("is denied"), "{}", explain.body);
        let decisive = row(&explain.body, "id=\"decisive-step\"");
        assert!(
            decisive.contains("<td>deny</td>") && decisive.contains("User alice"),
            "{decisive}"
        );
        assert_eq!(
            alice_reads(&server).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );

        // Removal saved after its preview.
        let saved = remove_alice(&server, &admin, &csrf, "save").await;
        let group = follow(&server, &saved, &admin).await;
        assert!(
            !group.body.contains("id=\"member-User-alice\""),
            "{backend}"
        );
        assert!(group.body.contains("Removed User alice from Operators."));
        // Where the group is used: the grant on Pump1, for an administrator only.
        let used = row(
            &group.body,
            "<tr class=\"used-in\"><td><a href=\"/Thingworx/Console/Entities/Things/Pump1\">Things/Pump1</a></td><td>Own</td><td>PropertyRead</td><td>Temperature</td>",
        );
        assert!(used.contains(">allow<"), "{backend}: {used}");
        assert!(group.body.contains("id=\"member-of\""), "{backend}");

        // Each change is in the audit view.
        let audit = get(
            &server,
            "/Thingworx/Console/Audit?user=Administrator",
            &admin,
        )
        .await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
        for action in [
            "CreateGroup",
            "AddMember",
            "AddRunTimePermission",
            "DeleteMember",
        ] {
            assert!(
                audit.body.contains(&format!("<td>{action}</td>")),
                "{backend}: {action}"
            );
        }
        let filtered = get(
            &server,
            "/Thingworx/Console/Audit?action=DeleteMember",
            &admin,
        )
        .await;
        assert!(!filtered.body.contains("<td>CreateGroup</td>"), "{backend}");

        // alice: no administration links; the pages answer 403 as REST does; her forms
        // change nothing.
        let (alice, alice_csrf) = sign_in(&server, ALICE, ALICE_PASSWORD).await;
        let home = get(&server, "/Thingworx/Console/", &alice).await;
        assert_eq!(home.status, StatusCode::OK, "{backend}");
        assert!(!home.body.contains("nav-groups") && !home.body.contains("nav-audit"));
        for path in [
            "/Thingworx/Console/Groups",
            "/Thingworx/Console/Audit",
            &format!("{THING}/WhoCan"),
        ] {
            let page = get(&server, path, &alice).await;
            assert!(
                matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{backend}: {path}: {}",
                page.status
            );
        }
        let (rest, _) = post_json(
            &server,
            (ALICE, ALICE_PASSWORD),
            "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory",
            json!({}),
        )
        .await;
        assert_eq!(
            rest,
            get(&server, "/Thingworx/Console/Audit", &alice)
                .await
                .status
        );
        let refused = post_form(
            &server,
            "/Thingworx/Console/Groups",
            &alice,
            &[("x-csrf-id", &alice_csrf), ("name", "Intruders")],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            refused.body
        );
        let intruders = get(&server, "/Thingworx/Console/Groups/Intruders", &admin).await;
        assert_eq!(intruders.status, StatusCode::NOT_FOUND, "{backend}");

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
