//! A user's sessions, on both databases: `CurrentSessionInfo/GetUserSessions` and
//! `TerminateUserSession` over REST and on the console's user page. Two logins are listed, ending
//! one signs that client out while the other stays signed in, the ending is in the security
//! log, a session's listed id is no credential, and a non-administrator neither lists nor ends
//! another user's sessions (403, as for `TerminateUserSessions`) while it does its own.

use ironworx_tests::forms::{Reply, get, post_form};
use ironworx_tests::{TestServer, backends, connect, post_json};
use reqwest::StatusCode;
use serde_json::json;

use crate::console_http::{ADMIN, follow, row, sign_in};

const CAROL: (&str, &str) = ("carol", "carol-password-1");
const ALICE: (&str, &str) = ("alice", "alice-password-1");
const SESSIONS: &str = "/Thingworx/Resources/CurrentSessionInfo/Services/GetUserSessions";
const END_ONE: &str = "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSession";
const LOG: &str = "/Thingworx/Logs/SecurityLog/Services/QueryLogEntries";
const CAROL_PAGE: &str = "/Thingworx/Console/Users/carol";

/// The ids `GetUserSessions` lists for `user`, called by `caller`, or the refusal.
async fn listed(
    server: &TestServer,
    caller: (&str, &str),
    user: &str,
) -> Result<Vec<i64>, StatusCode> {
    let (status, answer) = post_json(server, caller, SESSIONS, json!({"userName": user})).await;
    if status != StatusCode::OK {
        return Err(status);
    }
    Ok(answer["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect())
}

/// Whether the console still knows the session of `cookies`.
async fn signed_in(server: &TestServer, cookies: &str) -> bool {
    let page = get(server, "/Thingworx/Console/", cookies).await;
    assert!(
        matches!(page.status, StatusCode::OK | StatusCode::SEE_OTHER),
        "{}",
        page.body
    );
    page.status == StatusCode::OK
}

/// The console's end button for session `id` on carol's page, posted with `cookies`.
async fn end(server: &TestServer, cookies: &str, csrf: &str, id: i64) -> Reply {
    let id = id.to_string();
    let form = [
        ("x-csrf-id", csrf),
        ("action", "end-session"),
        ("session", id.as_str()),
    ];
    post_form(server, &format!("{CAROL_PAGE}/Actions"), cookies, &form).await
}

/// A session's listed id sent as the session cookie is refused like any unknown token.
async fn id_is_no_credential(server: &TestServer, id: i64) {
    let cookie = format!("JSESSIONID={id}");
    assert!(!signed_in(server, &cookie).await);
    let res = server
        .client()
        .post(server.url("/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser"))
        .header(reqwest::header::COOKIE, cookie)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// What alice, no administrator, may do over REST and on the console (her cookies and
/// token): her own sessions, not carol's.
async fn others_refused(server: &TestServer, alice: (&str, &str), ids: &[i64]) {
    assert_eq!(
        listed(server, ALICE, CAROL.0).await,
        Err(StatusCode::FORBIDDEN)
    );
    assert_eq!(listed(server, ALICE, ALICE.0).await.map(|l| l.len()), Ok(1));
    let (status, answer) = post_json(
        server,
        ALICE,
        END_ONE,
        json!({"userName": CAROL.0, "sessionId": ids[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // The same refusal for a user that does not exist: no hint of who does.
    assert_eq!(
        listed(server, ALICE, "nobody").await,
        Err(StatusCode::FORBIDDEN)
    );
    let (cookies, csrf) = alice;
    let page = get(server, CAROL_PAGE, cookies).await;
    assert!(
        page.status == StatusCode::NOT_FOUND
            || page.status == StatusCode::OK && !page.body.contains("id=\"user-sessions\""),
        "{}",
        page.body
    );
    let posted = end(server, cookies, csrf, ids[0]).await;
    assert!(
        matches!(posted.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        posted.body
    );
    let own = get(server, "/Thingworx/Console/Users/alice", cookies).await;
    assert!(own.body.contains("id=\"user-sessions\""), "{}", own.body);
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one() {
    for backend in backends() {
        let db = ironworx_tests::TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        for (name, password) in [CAROL, ALICE] {
            ironworx_tests::create_user(&conn, name, password).await;
        }
        let (admin, csrf) = sign_in(&server, ADMIN.0, ADMIN.1).await;
        let (first, _) = sign_in(&server, CAROL.0, CAROL.1).await;
        let (second, _) = sign_in(&server, CAROL.0, CAROL.1).await;
        let alice = sign_in(&server, ALICE.0, ALICE.1).await;

        // Both logins are listed, newest first, over REST and on the page.
        let ids = listed(&server, ADMIN, CAROL.0).await.expect("listed");
        assert_eq!(ids.len(), 2, "{backend}: {ids:?}");
        assert!(ids[0] > ids[1], "{backend}: newest first");
        let page = get(&server, CAROL_PAGE, &admin).await;
        for id in &ids {
            let listed = row(&page.body, &format!("id=\"session-{id}\""));
            assert!(listed.contains("127.0.0.1"), "{backend}: {listed}");
            assert!(listed.contains(&format!("id=\"end-session-{id}\"")));
            id_is_no_credential(&server, *id).await;
        }

        others_refused(&server, (&alice.0, &alice.1), &ids).await;
        assert!(signed_in(&server, &first).await && signed_in(&server, &second).await);

        // Without its token the form ends nothing.
        let forged = end(&server, &admin, "", ids[1]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{backend}");
        assert!(signed_in(&server, &first).await, "{backend}");

        // The administrator ends the first login: that client is signed out, the other is not.
        let page = follow(&server, &end(&server, &admin, &csrf, ids[1]).await, &admin).await;
        assert!(
            page.body.contains("Ended 1 session of carol."),
            "{backend}: {}",
            page.body
        );
        assert!(!page.body.contains(&format!("id=\"session-{}\"", ids[1])));
        assert!(!signed_in(&server, &first).await, "{backend}: ended");
        assert!(signed_in(&server, &second).await, "{backend}: still open");
        assert_eq!(listed(&server, ADMIN, CAROL.0).await, Ok(vec![ids[0]]));
        let again = follow(&server, &end(&server, &admin, &csrf, ids[1]).await, &admin).await;
        assert!(
            again.body.contains("Ended 0 sessions of carol."),
            "{backend}"
        );

        // Carol ends her own remaining session over REST.
        let (status, answer) =
            post_json(&server, CAROL, END_ONE, json!({"sessionId": ids[0]})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {answer}");
        assert_eq!(answer["rows"][0]["result"], json!(1), "{backend}");
        assert!(!signed_in(&server, &second).await, "{backend}");

        // Both endings are in the security log.
        let (status, log) = post_json(&server, ADMIN, LOG, json!({"user": CAROL.0})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {log}");
        let ended: Vec<&str> = log["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["action"] == json!("SessionsTerminated"))
            .filter_map(|r| r["message"].as_str())
            .collect();
        for by in ["Administrator", "carol"] {
            let said = format!("TerminateUserSession by {by} ended 1 session(s) of carol");
            assert!(ended.contains(&said.as_str()), "{backend}: {ended:?}");
        }
        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
