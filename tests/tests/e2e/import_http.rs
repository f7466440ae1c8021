//! Import and export over HTTP against the real server: the multipart importer (file mode), the
//! per-entity exporter, and the source-control services (storage mode) with their repository
//! folder; who may do what (Create to import, Update to replace, Read to export).

use std::path::{Path, PathBuf};

use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, create_user, post_json,
};
use reqwest::StatusCode;
use serde_json::json;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

const BOUNDARY: &str = "ironworx-test-boundary-7f3a";

fn multipart(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(
    server: &TestServer,
    (user, password): (&str, &str),
    file_name: &str,
    bytes: &[u8],
    xsrf: bool,
) -> (StatusCode, serde_json::Value) {
    let mut req = server
        .client()
        .post(server.url("/Thingworx/Importer?purpose=import"))
        .basic_auth(user, Some(password))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(file_name, bytes));
    if xsrf {
        req = req.header("X-XSRF-TOKEN", "TWX-XSRF-TOKEN-VALUE");
    }
    let res = req.send().await.expect("send");
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(json!(text)))
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn import_and_export_over_http() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let admin = (ADMIN_USER, ADMIN_PASSWORD);
        let file =
            std::fs::read(corpus().join("xml/InternetOfThings__Entities.xml")).expect("corpus");

        // Without the XSRF header a multipart upload is what a cross-site form sends: refused
        // before the importer runs.
        let (status, body) = upload(&server, admin, "Entities.xml", &file, false).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "the XSRF header is required: {body}"
        );

        let conn = ironworx_tests::connect(&db).await;
        create_user(&conn, "plainuser", "Plain-User-Password-1").await;
        let plain = ("plainuser", "Plain-User-Password-1");
        let (status, body) = upload(&server, plain, "Entities.xml", &file, true).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.to_string().contains("Not authorized for Create"),
            "{body}"
        );

        let (status, body) = upload(&server, admin, "Entities.xml", &file, true).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["entities"], 8, "{body}");
        assert_eq!(body["created"]["Things"], 4, "{body}");

        let bad = b"<Entities><Things><Thing name=\"x\"></Things></Entities>";
        let (status, body) = upload(&server, admin, "bad.xml", bad, true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains("bad.xml"), "{body}");

        let twx = std::fs::read(corpus().join("twx/SnowCleaner__Entities.twx")).expect("corpus");
        let (status, body) = upload(&server, admin, "SnowCleaner.twx", &twx, true).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["created"]["Things"], 3, "{body}");

        // One entity as XML: Read for the admin, 403 for a user without it.
        let res = server
            .client()
            .get(server.url("/Thingworx/Exporter/Things/Thing1"))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("export");
        assert_eq!(res.status(), StatusCode::OK);
        let xml = res.text().await.expect("xml");
        assert!(xml.contains("name=\"Thing1\""), "{xml}");
        assert!(!xml.contains("SmartOfficeCreator\""), "only the one entity");
        let res = server
            .client()
            .get(server.url("/Thingworx/Exporter/Things/Thing1"))
            .basic_auth(plain.0, Some(plain.1))
            .send()
            .await
            .expect("export");
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = server
            .client()
            .get(server.url("/Thingworx/Exporter/Things/NoSuchThing"))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("export");
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        // Storage mode through the repository: export, then import the folder back.
        let services = "/Thingworx/Resources/SourceControlFunctions/Services";
        let (status, body) = post_json(
            &server,
            admin,
            &format!("{services}/ExportSourceControlledEntities"),
            json!({"repositoryName": "SystemRepository", "path": "snapshots/one"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let folder = server
            .data_dir()
            .join("ThingworxStorage/repository/SystemRepository/snapshots/one");
        assert!(
            folder.join("permissions/permissions.xml").is_file(),
            "{}",
            folder.display()
        );
        assert!(folder.join("Things/Thing1.xml").is_file());
        let (status, body) = post_json(
            &server,
            admin,
            &format!("{services}/ImportSourceControlledEntities"),
            json!({"repositoryName": "SystemRepository", "path": "snapshots/one"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["collectionRules"].as_u64().unwrap_or(0) > 0, "{body}");
        for path in ["../../../etc", "snapshots/../../x", "/../secret"] {
            let (status, body) = post_json(
                &server,
                admin,
                &format!("{services}/ImportSourceControlledEntities"),
                json!({"repositoryName": "SystemRepository", "path": path}),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        }
        let (status, _) = post_json(
            &server,
            plain,
            &format!("{services}/ImportSourceControlledEntities"),
            json!({"repositoryName": "SystemRepository", "path": "snapshots/one"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        conn.close().await.expect("close");
        server.stop().await;
        db.drop_database().await;
    }
}
