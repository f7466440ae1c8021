//! The explicit request limits over HTTP, each a clear error that changes nothing: a body over
//! 1 MiB (413, with the API's error body) and JSON nested deeper than 64 levels (400), and the
//! same limits moved by configuration. (Stream pages over 10,000 rows and the import limits
//! have tests of their own.)

use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, Backend, ServerOptions, TestDb, TestServer, backends,
};
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

/// `--max-body-bytes`, `--max-page-rows` and `--max-import-bytes` (here from the environment)
/// move the limits, and the errors name the configured value; a setting out of range stops
/// the server at start.
#[tokio::test]
async fn configured_limits_are_enforced_and_named() {
    let db = TestDb::create(Backend::Sqlite).await;
    let server = TestServer::start(
        &db,
        &[
            ("IRONWORX_MAX_BODY_BYTES", "8192"),
            ("IRONWORX_MAX_PAGE_ROWS", "20"),
            ("IRONWORX_MAX_IMPORT_BYTES", "4096"),
        ],
    )
    .await;
    let services = "/Thingworx/Resources/EntityServices/Services";
    let create = format!("{services}/CreateThing");

    let big = json!({"name": "Big", "thingTemplateName": "GenericThing",
                     "description": "x".repeat(10 * 1024)});
    let (status, body) = raw(&server, &create, big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("the limit is 8 KiB"), "{body}");
    let fits = json!({"name": "Fits", "thingTemplateName": "GenericThing",
                      "description": "x".repeat(4 * 1024)});
    let (status, body) = raw(&server, &create, fits.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let list = format!("{services}/GetEntityList");
    let (status, body) = raw(
        &server,
        &list,
        json!({"type": "Things", "maxItems": 21}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("from 1 to 20"), "{body}");
    let (status, body) = raw(
        &server,
        &list,
        json!({"type": "Things", "maxItems": 20}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An upload over the import limit: 413 naming it, and nothing imported.
    let xml = format!(
        "<Entities><Things><Thing name=\"Uploaded\" thingTemplate=\"GenericThing\" \
         description=\"{}\"/></Things></Entities>",
        "y".repeat(5000)
    );
    let boundary = "ironworx-limit-boundary";
    let mut upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.xml\"\r\n\
         Content-Type: application/xml\r\n\r\n"
    )
    .into_bytes();
    upload.extend_from_slice(xml.as_bytes());
    upload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = server
        .client()
        .post(server.url("/Thingworx/Importer?purpose=import"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-XSRF-TOKEN", "TWX-XSRF-TOKEN-VALUE")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(upload)
        .send()
        .await
        .expect("upload");
    let status = res.status();
    let body = res.text().await.expect("body");
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("the limit is 4 KiB"), "{body}");
    let res = server
        .client()
        .get(server.url("/Thingworx/Things/Uploaded"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(server.stop().await.success());

    let refused = TestServer::try_start_with(
        &db,
        ServerOptions::default().env("IRONWORX_MAX_PAGE_ROWS", "0"),
    )
    .await;
    assert!(refused.is_err(), "a page of 0 rows is refused at start");
    db.drop_database().await;
}
