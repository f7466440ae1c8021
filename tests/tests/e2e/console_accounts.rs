//! The console's account pages over plain HTTP, on both databases: users (create with a
//! password, disable and enable, lock and unlock, a new password, languages, ending sessions,
//! groups), application keys (created with a lifetime, the key id shown once and never again,
//! revoked), organizations (the unit tree, a unit added, a member added and removed) and "what
//! changed" between two instants, and the preview of a rule change in the rule editor. Each action shows its error in words on bad input, a form
//! without its CSRF token changes nothing, and a non-administrator sees read-only pages (what
//! she may not read shown as unknown) and changes nothing by posting forms, refused as REST
//! refuses her.

use ironworx_entity::queries::now_ms;
use ironworx_importer::model::values::format_date;
use ironworx_tests::forms::{Reply, get, post_form};
use ironworx_tests::{TestServer, backends, connect, post_json};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};

use crate::console_http::{ADMIN, follow, ok, row, sign_in};

const ALICE: (&str, &str) = ("alice", "alice-password-1");
const CAROL: &str = "carol";
const CAROL_PASSWORD: &str = "carol-password-1";
const USERS: &str = "/Thingworx/Console/Users";
const KEYS: &str = "/Thingworx/Console/ApplicationKeys";
const ACME: &str = "/Thingworx/Console/Organizations/Acme";
const SERVICES: &str = "/Thingworx/Resources/EntityServices/Services";

/// An account action on carol's page.
async fn act(server: &TestServer, cookies: &str, csrf: &str, form: &[(&str, &str)]) -> Reply {
    let mut fields = vec![("x-csrf-id", csrf)];
    fields.extend_from_slice(form);
    post_form(
        server,
        &format!("{USERS}/{CAROL}/Actions"),
        cookies,
        &fields,
    )
    .await
}

/// An action that succeeds: the page it leads to, which says what was done.
async fn done(server: &TestServer, cookies: &str, csrf: &str, form: &[(&str, &str)]) -> String {
    let reply = act(server, cookies, csrf, form).await;
    follow(server, &reply, cookies).await.body
}

/// A page refused with `status`, saying why in words.
fn refused(reply: &Reply, status: StatusCode, words: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let message = row(&reply.body, "id=\"error-message\"");
    assert!(message.contains(words), "{message}");
}

/// The status of a REST call as `user`.
async fn rest(server: &TestServer, user: (&str, &str)) -> StatusCode {
    post_json(
        server,
        user,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
        json!({}),
    )
    .await
    .0
}

/// The user the application key `key` acts as, or the refusal.
async fn key_user(server: &TestServer, key: &str) -> Result<String, StatusCode> {
    let res = server
        .client()
        .post(server.url("/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser"))
        .header("appKey", key)
        .header(header::ACCEPT, "application/json")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    if res.status() != StatusCode::OK {
        return Err(res.status());
    }
    let body: Value = res.json().await.expect("json");
    Ok(body["rows"][0]["result"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Whether a non-administrator is refused, as REST refuses (403, or 404 for what it may not see).
fn denied(status: StatusCode) -> bool {
    matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND)
}

async fn users(server: &TestServer, admin: &str, csrf: &str, alice: (&str, &str)) {
    let page = get(server, USERS, admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"user-create-form\""));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");

    // Without its token: nothing created.
    let forged = post_form(
        server,
        USERS,
        admin,
        &[("name", CAROL), ("password", CAROL_PASSWORD)],
    )
    .await;
    refused(&forged, StatusCode::FORBIDDEN, "nothing was changed");
    let missing = get(server, &format!("{USERS}/{CAROL}"), admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // A short password is refused in words; then carol is created.
    let weak = post_form(
        server,
        USERS,
        admin,
        &[("x-csrf-id", csrf), ("name", CAROL), ("password", "x")],
    )
    .await;
    refused(&weak, StatusCode::BAD_REQUEST, "password must be at least");
    let created = post_form(
        server,
        USERS,
        admin,
        &[
            ("x-csrf-id", csrf),
            ("name", CAROL),
            ("password", CAROL_PASSWORD),
        ],
    )
    .await;
    let page = follow(server, &created, admin).await;
    assert!(page.body.contains("Created user carol."), "{}", page.body);
    assert!(page.body.contains("<dd id=\"user-enabled\">yes</dd>"));
    assert_eq!(rest(server, (CAROL, CAROL_PASSWORD)).await, StatusCode::OK);
    let listed = get(server, &format!("{USERS}?q=aro"), admin).await;
    assert!(listed.body.contains(">carol</a>") && !listed.body.contains(">alice</a>"));

    // Disable, enable, lock, unlock.
    let page = done(server, admin, csrf, &[("action", "disable")]).await;
    assert!(page.contains("<dd id=\"user-enabled\">no</dd>"), "{page}");
    assert_ne!(rest(server, (CAROL, CAROL_PASSWORD)).await, StatusCode::OK);
    let page = done(server, admin, csrf, &[("action", "enable")]).await;
    assert!(page.contains("Enabled carol.") && page.contains("<dd id=\"user-enabled\">yes</dd>"));
    let page = done(server, admin, csrf, &[("action", "lock")]).await;
    assert!(page.contains("<dd id=\"user-locked\">yes</dd>"), "{page}");
    let page = done(server, admin, csrf, &[("action", "unlock")]).await;
    assert!(page.contains("<dd id=\"user-locked\">no</dd>"), "{page}");
    assert_eq!(rest(server, (CAROL, CAROL_PASSWORD)).await, StatusCode::OK);

    // A new password: a mismatch is refused in words; then the new one works.
    let mismatch = act(
        server,
        admin,
        csrf,
        &[
            ("action", "password"),
            ("password", "carol-password-2"),
            ("password_confirm", "carol-password-3"),
        ],
    )
    .await;
    refused(&mismatch, StatusCode::BAD_REQUEST, "differ");
    let (carol, _) = sign_in(server, CAROL, CAROL_PASSWORD).await;
    let page = done(
        server,
        admin,
        csrf,
        &[
            ("action", "password"),
            ("password", "carol-password-2"),
            ("password_confirm", "carol-password-2"),
        ],
    )
    .await;
    assert!(page.contains("Set a new password for carol"), "{page}");
    assert_eq!(
        rest(server, ("carol", "carol-password-2")).await,
        StatusCode::OK
    );
    let ended = get(server, "/Thingworx/Console/", &carol).await;
    assert_eq!(
        ended.status,
        StatusCode::SEE_OTHER,
        "the new password ends sessions"
    );

    // Languages; ending sessions counts them.
    let page = done(
        server,
        admin,
        csrf,
        &[("action", "languages"), ("preferences", "fr,en")],
    )
    .await;
    assert!(
        page.contains("name=\"preferences\" type=\"text\" value=\"fr,en\""),
        "{page}"
    );
    let bad = act(
        server,
        admin,
        csrf,
        &[("action", "languages"), ("preferences", "fr\u{7}")],
    )
    .await;
    refused(&bad, StatusCode::BAD_REQUEST, "language preferences");
    let (carol, _) = sign_in(server, CAROL, "carol-password-2").await;
    let page = done(server, admin, csrf, &[("action", "end-sessions")]).await;
    assert!(
        page.contains("Ended ") && page.contains(" of carol."),
        "{page}"
    );
    let ended = get(server, "/Thingworx/Console/", &carol).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);

    // Groups: direct, and through a nested group.
    for (path, body) in [
        (
            format!("{SERVICES}/CreateGroup"),
            json!({"name": "Operators"}),
        ),
        (format!("{SERVICES}/CreateGroup"), json!({"name": "Staff"})),
        (
            "/Thingworx/Groups/Operators/Services/AddMember".to_owned(),
            json!({"member": CAROL, "type": "User"}),
        ),
        (
            "/Thingworx/Groups/Staff/Services/AddMember".to_owned(),
            json!({"member": "Operators", "type": "Group"}),
        ),
    ] {
        ok(server, &path, body).await;
    }
    let page = get(server, &format!("{USERS}/{CAROL}"), admin).await;
    assert!(row(&page.body, "id=\"group-Operators\"").contains("<td>direct</td>"));
    assert!(row(&page.body, "id=\"group-Staff\"").contains("through a nested group"));

    // alice: read-only pages, and her forms change nothing.
    let (alice_cookies, alice_csrf) = alice;
    let page = get(server, USERS, alice_cookies).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("user-create-form"));
    let page = get(server, &format!("{USERS}/{CAROL}"), alice_cookies).await;
    assert!(
        page.status == StatusCode::OK && !page.body.contains("/Actions") || denied(page.status),
        "{}",
        page.body
    );
    let disabled = act(server, alice_cookies, alice_csrf, &[("action", "disable")]).await;
    assert!(denied(disabled.status), "{}", disabled.body);
    // She sees carol but may read nothing of the account, and locking answers as REST does.
    let page = get(server, &format!("{USERS}/{CAROL}"), alice_cookies).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("<dd id=\"user-enabled\">unknown to you</dd>")
    );
    assert!(
        page.body
            .contains("<dd id=\"user-locked\">unknown to you</dd>")
    );
    let lock_path = format!("/Thingworx/Users/{CAROL}/Services/LockUser");
    let (by_rest, _) = post_json(server, ALICE, &lock_path, json!({})).await;
    assert_eq!(by_rest, StatusCode::FORBIDDEN);
    let locked = act(server, alice_cookies, alice_csrf, &[("action", "lock")]).await;
    assert_eq!(locked.status, by_rest, "{}", locked.body);
    let page = get(server, &format!("{USERS}/{CAROL}"), admin).await;
    assert!(page.body.contains("<dd id=\"user-locked\">no</dd>"));
    let created = post_form(
        server,
        USERS,
        alice_cookies,
        &[
            ("x-csrf-id", alice_csrf),
            ("name", "mallory"),
            ("password", CAROL_PASSWORD),
        ],
    )
    .await;
    assert!(denied(created.status), "{}", created.body);
    assert_eq!(
        rest(server, ("carol", "carol-password-2")).await,
        StatusCode::OK
    );
    let mallory = get(server, &format!("{USERS}/mallory"), admin).await;
    assert_eq!(mallory.status, StatusCode::NOT_FOUND);
}

/// The key id shown in a page, if any.
fn shown_key(body: &str) -> Option<String> {
    let start = body.find("id=\"key-value\" class=\"secret\">")?;
    let rest = &body[start..];
    let open = rest.find('>')? + 1;
    let close = rest.find("</output>")?;
    Some(rest[open..close].to_owned())
}

async fn keys(server: &TestServer, admin: &str, csrf: &str, alice: (&str, &str)) {
    let page = get(server, KEYS, admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"key-create-form\""));
    let form = |name: &'static str, days: &'static str| {
        [
            ("x-csrf-id", csrf),
            ("name", name),
            ("user", CAROL),
            ("days", days),
            ("whitelist", ""),
        ]
    };
    let bad = post_form(server, KEYS, admin, &form("k1", "0")).await;
    refused(&bad, StatusCode::BAD_REQUEST, "whole number of days");
    let forged = post_form(server, KEYS, admin, &form("k1", "30")[1..]).await;
    refused(&forged, StatusCode::FORBIDDEN, "nothing was changed");
    assert!(!get(server, KEYS, admin).await.body.contains(">k1</a>"));

    // Created: the id is on this answer only.
    let created = post_form(server, KEYS, admin, &form("k1", "30")).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.headers.get(header::LOCATION).is_none());
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let key = shown_key(&created.body).expect("the key id is shown");
    assert!(key.len() >= 16, "{key}");
    assert_eq!(key_user(server, &key).await, Ok(CAROL.to_owned()));
    for path in [KEYS.to_owned(), format!("{KEYS}/k1")] {
        let page = get(server, &path, admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!page.body.contains(&key), "{path} shows the key again");
    }
    let page = get(server, &format!("{KEYS}/k1"), admin).await;
    assert!(
        page.body.contains("<dd id=\"key-user\">carol</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<dd id=\"key-expired\">no</dd>"));
    assert!(!server.stderr().contains(&key), "the key id is in the log");

    // alice cannot revoke it.
    let (alice_cookies, alice_csrf) = alice;
    let page = get(server, &format!("{KEYS}/k1"), alice_cookies).await;
    assert!(
        denied(page.status) || !page.body.contains("key-revoke-form"),
        "{}",
        page.body
    );
    let revoke = post_form(
        server,
        &format!("{KEYS}/k1/Revoke"),
        alice_cookies,
        &[("x-csrf-id", alice_csrf)],
    )
    .await;
    let (by_rest, _) = post_json(
        server,
        ALICE,
        &format!("{SERVICES}/DeleteApplicationKey"),
        json!({"name": "k1"}),
    )
    .await;
    assert_eq!(revoke.status, by_rest, "{}", revoke.body);
    assert!(denied(revoke.status), "{}", revoke.body);
    assert_eq!(key_user(server, &key).await, Ok(CAROL.to_owned()));

    // Revoked by the administrator: the key no longer works.
    let revoke = post_form(
        server,
        &format!("{KEYS}/k1/Revoke"),
        admin,
        &[("x-csrf-id", csrf)],
    )
    .await;
    let page = follow(server, &revoke, admin).await;
    assert!(
        page.body.contains("Revoked the application key k1."),
        "{}",
        page.body
    );
    assert!(key_user(server, &key).await.is_err());
}

async fn organizations(server: &TestServer, admin: &str, csrf: &str, alice: (&str, &str)) {
    ok(
        server,
        &format!("{SERVICES}/CreateOrganization"),
        json!({"name": "Acme"}),
    )
    .await;
    let list = get(server, "/Thingworx/Console/Organizations", admin).await;
    assert!(list.body.contains(">Acme</a>"), "{}", list.body);
    let unit = post_form(
        server,
        &format!("{ACME}/Units"),
        admin,
        &[
            ("x-csrf-id", csrf),
            ("action", "add-unit"),
            ("parent", "Acme"),
            ("unit", "Plant"),
        ],
    )
    .await;
    let page = follow(server, &unit, admin).await;
    assert!(page.body.contains("Added the unit Plant below Acme."));
    let member = |action: &'static str, kind: &'static str| {
        [
            ("x-csrf-id", csrf),
            ("action", action),
            ("unit", "Plant"),
            ("member", CAROL),
            ("member_type", kind),
        ]
    };
    let bad = post_form(
        server,
        &format!("{ACME}/Members"),
        admin,
        &member("add", "Robot"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let added = post_form(
        server,
        &format!("{ACME}/Members"),
        admin,
        &member("add", "User"),
    )
    .await;
    let page = follow(server, &added, admin).await;
    assert!(page.body.contains("Added User carol to the unit Plant."));
    // Plant is drawn inside Acme's item, with carol inside Plant's.
    let tree = &page.body[page.body.find("id=\"unit-tree\"").expect("tree")..];
    let (acme, plant) = (
        tree.find("id=\"unit-Acme\"").expect("Acme"),
        tree.find("id=\"unit-Plant\"").expect("Plant"),
    );
    assert!(acme < plant && tree[acme..plant].contains("<ul>"), "{tree}");
    assert!(tree[plant..].contains("User carol"), "{tree}");

    let (alice_cookies, alice_csrf) = alice;
    let page = get(server, ACME, alice_cookies).await;
    assert!(
        denied(page.status) || !page.body.contains("org-member-form"),
        "{}",
        page.body
    );
    let mut forged = member("remove", "User");
    forged[0].1 = alice_csrf;
    let removed = post_form(server, &format!("{ACME}/Members"), alice_cookies, &forged).await;
    assert!(denied(removed.status), "{}", removed.body);

    let removed = post_form(
        server,
        &format!("{ACME}/Members"),
        admin,
        &member("remove", "User"),
    )
    .await;
    let page = follow(server, &removed, admin).await;
    assert!(
        page.body
            .contains("Removed User carol from the unit Plant.")
    );
    assert!(!page.body.contains("User carol\n"), "{}", page.body);
}

/// Posts the rule editor's form for carol's PropertyRead on Temperature of Pump1.
async fn carol_rule(
    server: &TestServer,
    admin: &str,
    csrf: &str,
    (action, scope, resource): (&str, &str, &str),
) -> Reply {
    post_form(
        server,
        "/Thingworx/Console/Entities/Things/Pump1/Rules",
        admin,
        &[
            ("x-csrf-id", csrf),
            ("action", action),
            ("scope", scope),
            ("permission", "PropertyRead"),
            ("resource", resource),
            ("principal_type", "User"),
            ("principal", CAROL),
            ("effect", "allow"),
            ("step", "preview"),
        ],
    )
    .await
}

/// The preview of deleting carol's grant lists what she loses and deletes nothing; the
/// preview of a collection rule lists what she would gain on the Thing and saves nothing.
async fn rule_preview(server: &TestServer, admin: &str, csrf: &str) {
    let preview = carol_rule(server, admin, csrf, ("delete", "Own", "Temperature")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let flip = row(
        &preview.body,
        "<tr class=\"flip\"><td>carol</td><td>Things/Pump1</td><td>PropertyRead</td><td>Temperature</td>",
    );
    assert!(flip.contains("denied"), "{flip}");
    assert!(preview.body.contains("name=\"step\" value=\"save\""));
    let editor = get(server, "/Thingworx/Console/Entities/Things/Pump1", admin).await;
    assert!(
        editor.body.contains("<td>User carol</td>"),
        "the preview deleted the rule"
    );
    let collection = carol_rule(server, admin, csrf, ("add", "Collection", "*")).await;
    assert_eq!(collection.status, StatusCode::OK, "{}", collection.body);
    let flip = row(
        &collection.body,
        "<tr class=\"flip\"><td>carol</td><td>Things/Pump1</td><td>PropertyRead</td><td>*</td>",
    );
    assert!(flip.contains("allowed"), "{flip}");
    assert!(
        collection
            .body
            .contains("name=\"scope\" value=\"Collection\"")
    );
    let after = get(server, "/Thingworx/Console/Entities/Things/Pump1", admin).await;
    assert_eq!(
        after.body.matches("<td>User carol</td>").count(),
        editor.body.matches("<td>User carol</td>").count(),
        "the preview saved the collection rule"
    );
}

async fn changes(server: &TestServer, admin: &str, alice: &str, before: &str) {
    let path = format!(
        "/Thingworx/Console/Changes?before={}&after=now&user=carol",
        before.replace(':', "%3A").replace('+', "%2B")
    );
    let page = get(server, &path, admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let group = row(&page.body, "id=\"changes-carol-Things/Pump1\"");
    assert!(group.contains("carol on Things/Pump1"), "{group}");
    let change = row(&page.body, "<tr class=\"change\"><td>PropertyRead</td>");
    assert!(
        change.contains("denied") && change.contains("allowed"),
        "{change}"
    );
    let bad = get(server, "/Thingworx/Console/Changes?before=yesterday", admin).await;
    refused(&bad, StatusCode::BAD_REQUEST, "RFC 3339");
    assert_eq!(
        get(server, &path, alice).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn console_manages_accounts_keys_and_organizations() {
    for backend in backends() {
        let db = ironworx_tests::TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, ALICE.0, ALICE.1).await;
        let (admin, csrf) = sign_in(&server, ADMIN.0, ADMIN.1).await;
        let (alice, alice_csrf) = sign_in(&server, ALICE.0, ALICE.1).await;
        let home = get(&server, "/Thingworx/Console/", &admin).await;
        for nav in ["nav-users", "nav-keys", "nav-organizations", "nav-changes"] {
            assert!(home.body.contains(nav), "{backend}: {nav}");
        }
        let home = get(&server, "/Thingworx/Console/", &alice).await;
        assert!(!home.body.contains("nav-changes"), "{backend}");

        users(&server, &admin, &csrf, (&alice, &alice_csrf)).await;
        keys(&server, &admin, &csrf, (&alice, &alice_csrf)).await;
        organizations(&server, &admin, &csrf, (&alice, &alice_csrf)).await;

        // What changed: carol gains PropertyRead on Pump1.
        ok(
            &server,
            &format!("{SERVICES}/CreateThing"),
            json!({"name": "Pump1", "thingTemplateName": "GenericThing"}),
        )
        .await;
        ok(
            &server,
            "/Thingworx/Things/Pump1/Services/AddPropertyDefinition",
            json!({"name": "Temperature", "type": "NUMBER"}),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let before = format_date(now_ms());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        ok(
            &server,
            "/Thingworx/Things/Pump1/Services/AddRunTimePermission",
            json!({"type": "PropertyRead", "resource": "Temperature", "principal": CAROL,
                   "principalType": "User", "allow": true}),
        )
        .await;
        changes(&server, &admin, &alice, &before).await;
        rule_preview(&server, &admin, &csrf).await;

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
