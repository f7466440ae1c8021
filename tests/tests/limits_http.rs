//! The explicit request limits over HTTP, each a clear error that changes nothing: a body over
//! 1 MiB (413, with the API's error body) and JSON nested deeper than 64 levels (400). (Stream
//! pages over 10,000 rows and the import limits have tests of their own.)

use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);

async fn raw(server: &TestServer, path: &str, body: String) -> (StatusCode, String) {
    let res = server
        .client()
        .post(server.url(path))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

#[tokio::test]
async fn oversized_and_overdeep_bodies_are_refused_clearly() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let create = "/Thingworx/Resources/EntityServices/Services/CreateThing";

        // 2 MiB of description: 413 with the API's JSON error, and no Thing.
        let big = json!({"name": "Big", "thingTemplateName": "GenericThing",
                         "description": "x".repeat(2 * 1024 * 1024)});
        let (status, body) = raw(&server, create, big.to_string()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{backend}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error body");
        assert!(error.to_string().contains("1 MiB"), "{error}");
        let res = server
            .client()
            .get(server.url("/Thingworx/Things/Big"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{backend}");
        // Just under the limit is fine.
        let fits = json!({"name": "Fits", "thingTemplateName": "GenericThing",
                          "description": "x".repeat(900 * 1024)});
        let (status, body) = raw(&server, create, fits.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");

        // JSON nested 65 deep: 400 naming the limit, before any parsing.
        let deep = format!(
            "{{\"name\": \"Deep\", \"thingTemplateName\": \"GenericThing\", \"x\": {}1{}}}",
            "[".repeat(65),
            "]".repeat(65)
        );
        let (status, body) = raw(&server, create, deep).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {body}");
        assert!(body.contains("deeper than 64"), "{body}");
        let put = server
            .client()
            .put(server.url("/Thingworx/Things/Fits/Properties/*"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .header("Content-Type", "application/json")
            .body(format!(
                "{{\"p\": {}{}}}",
                "{\"a\":".repeat(100),
                "}".repeat(100)
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(put.status(), StatusCode::BAD_REQUEST, "{backend}");

        server.stop().await;
        db.drop_database().await;
    }
}
