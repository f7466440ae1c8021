//! `GET /metrics` over HTTP: the Prometheus text format, requests counted by route pattern
//! (never by concrete path) and status, authorization decisions by outcome, failed logins.

use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use serde_json::json;

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const ALICE: (&str, &str) = ("alice", "alice-password-1");

/// The value of the sample `name` (with its labels exactly as written), when present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(server: &TestServer) -> String {
    let res = server
        .client()
        .get(server.url("/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    res.text().await.expect("body")
}

#[tokio::test]
async fn metrics_count_requests_decisions_and_failed_logins() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, ALICE.0, ALICE.1).await;
        let services = "/Thingworx/Resources/EntityServices/Services";
        let (status, body) = ironworx_tests::post_json(
            &server,
            ADMIN,
            &format!("{services}/CreateThing"),
            json!({"name": "SecretPump7", "thingTemplateName": "GenericThing"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let before = scrape(&server).await;
        let denied = r#"ironworx_authorization_decisions_total{outcome="deny"}"#;
        let route = r#"ironworx_http_requests_total{method="GET",route="/Thingworx/{collection}/{name}",status="403"}"#;
        let denied_before = sample(&before, denied).unwrap_or(0.0);
        let route_before = sample(&before, route).unwrap_or(0.0);
        let failures_before = sample(&before, "ironworx_login_failures_total").unwrap_or(0.0);

        // alice sees the Thing (Everyone) but may not read its definition: 403, twice.
        for _ in 0..2 {
            let res = server
                .client()
                .get(server.url("/Thingworx/Things/SecretPump7"))
                .basic_auth(ALICE.0, Some(ALICE.1))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
        // A wrong password.
        let res = server
            .client()
            .get(server.url("/Thingworx/Things/SecretPump7"))
            .basic_auth(ALICE.0, Some("wrong-password"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        let after = scrape(&server).await;
        assert_eq!(
            sample(&after, route),
            Some(route_before + 2.0),
            "{backend}:\n{after}"
        );
        assert!(
            sample(&after, denied).unwrap_or(0.0) >= denied_before + 2.0,
            "{after}"
        );
        assert_eq!(
            sample(&after, "ironworx_login_failures_total"),
            Some(failures_before + 1.0),
            "{backend}"
        );
        assert!(
            after.contains("# TYPE ironworx_http_request_duration_seconds histogram"),
            "{after}"
        );
        assert!(
            after.contains(r#"ironworx_http_request_duration_seconds_count{method="GET",route="/Thingworx/{collection}/{name}"}"#),
            "{after}"
        );
        assert!(
            !after.contains("SecretPump7"),
            "concrete names stay out of the metrics"
        );
        assert!(after.ends_with("# EOF\n"));
        server.stop().await;
        db.drop_database().await;
    }
}
