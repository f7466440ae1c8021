//! The HTTP transport and the upload and export routes under attack, against the real server:
//! who may write into the storage repository, slow import uploads that would hold the import
//! slots, cross-site requests riding on a browser's cookie or Basic credentials, slow clients
//! holding connections (slowloris), and uploads left behind by a stopped process.

use std::fs::File;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ironworx_tests::forms::login;
use ironworx_tests::http::{Caller, upload};
use ironworx_tests::{
    ADMIN_PASSWORD, ADMIN_USER, ServerOptions, TestDb, TestServer, backends, create_user, post_json,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const PASSWORD: &str = "Transport-Test-Password-1";
const BOUNDARY: &str = "ironworx-transport-boundary";
const CREATE_THING: &str = "/Thingworx/Resources/EntityServices/Services/CreateThing";

/// The `host:port` of `server`.
fn address(server: &TestServer) -> String {
    server
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Opens a connection and sends `head` (the request line and headers) and `body` (the start of
/// the body, or all of it).
async fn send_raw(server: &TestServer, head: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address(server)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send body");
    stream
}

/// Reads what the server answers on `stream` within `within`: the status and the whole text
/// read (`None` when nothing came, or the connection ended without an answer).
async fn answer(stream: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    let mut text = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                text.extend_from_slice(&buf[..n]);
                let done =
                    String::from_utf8_lossy(&text).contains("\r\n\r\n{") && text.ends_with(b"}");
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&text).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// The head of an import upload by `(user, password)` announcing `length` bytes of body.
fn upload_head((user, password): (&str, &str), length: usize) -> String {
    format!(
        "POST /Thingworx/Importer?purpose=import HTTP/1.1\r\nHost: ironworx\r\n\
         Authorization: Basic {}\r\nX-XSRF-TOKEN: TWX-XSRF-TOKEN-VALUE\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n",
        basic(user, password)
    )
}

fn multipart_start(file_name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n<?xml version=\"1.0\"?>"
    )
    .into_bytes()
}

async fn admin_json(server: &TestServer, path: &str, body: serde_json::Value) {
    let (status, reply) = post_json(server, ADMIN, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {reply}");
}

/// Finding 6: only a security administrator writes into the server's repository; anyone else
/// is refused before a folder is made or a file written.
#[tokio::test]
async fn storage_export_needs_a_security_administrator() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = ironworx_tests::connect(&db).await;
        create_user(&conn, "planter", PASSWORD).await;
        let service =
            "/Thingworx/Resources/SourceControlFunctions/Services/ExportSourceControlledEntities";
        let repository = server
            .data_dir()
            .join("ThingworxStorage/repository/SystemRepository");

        let (status, body) = post_json(
            &server,
            ("planter", PASSWORD),
            service,
            json!({"path": "planted"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{backend}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("ExportSourceControlledEntities")),
            "{backend}: {body}"
        );
        assert!(
            !repository.join("planted").exists(),
            "{backend}: a refused export made its folder"
        );

        let (status, body) = post_json(&server, ADMIN, service, json!({"path": "exported"})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert!(repository.join("exported").is_dir(), "{backend}");

        conn.close().await.ok();
        assert!(server.stop().await.success(), "{backend}");
        db.drop_database().await;
    }
}

/// Finding 7: slow uploads hold no import slot, a user has one upload under way at a time, a
/// caller who may import nothing is refused before the upload is read, and a stalled upload is
/// cut by the body idle timeout.
#[tokio::test]
async fn slow_uploads_do_not_hold_the_import_slots() {
    const IDLE: u64 = 8;
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let idle = IDLE.to_string();
        let server = TestServer::start(
            &db,
            &[
                ("IRONWORX_CONCURRENT_IMPORTS", "2"),
                ("IRONWORX_BODY_IDLE_TIMEOUT_SECONDS", &idle),
            ],
        )
        .await;
        let conn = ironworx_tests::connect(&db).await;
        create_user(&conn, "creator", PASSWORD).await;
        create_user(&conn, "nobody", PASSWORD).await;
        admin_json(
            &server,
            "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission",
            json!({"principal": "creator", "principalType": "User", "type": "Create",
                   "allow": true, "collectionName": "Things"}),
        )
        .await;
        admin_json(
            &server,
            CREATE_THING,
            json!({"name": "Imported1", "thingTemplateName": "GenericThing"}),
        )
        .await;
        let export = server
            .client()
            .get(server.url("/Thingworx/Exporter/Things/Imported1"))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("export");
        assert_eq!(export.status(), StatusCode::OK, "{backend}");
        let xml = export.bytes().await.expect("export body").to_vec();
        // Basic credentials are checked once and then cached: the uploads below start at once.
        for user in ["creator", "nobody"] {
            let (status, body) = post_json(
                &server,
                (user, PASSWORD),
                "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
                json!({}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        }

        // Two slow uploads by the creator: the first stalls, the second is refused at once.
        let start = multipart_start("slow.xml");
        let mut first = send_raw(
            &server,
            &upload_head(("creator", PASSWORD), 50_000_000),
            &start,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut second = send_raw(
            &server,
            &upload_head(("creator", PASSWORD), 50_000_000),
            &start,
        )
        .await;
        let (status, text) = answer(&mut second, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{backend}: the second upload got no answer"));
        assert_eq!(status, 429, "{backend}: {text}");
        assert!(
            text.contains("already has an import upload"),
            "{backend}: {text}"
        );

        // The administrator's import neither waits for the slow upload nor times out.
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(15),
            upload(&server, &Caller::admin(), "Imported1.xml", &xml),
        )
        .await
        .unwrap_or_else(|_| panic!("{backend}: the administrator's import waited"));
        let (status, text) = (reply.status, reply.text);
        assert_eq!(status, StatusCode::OK, "{backend}: {text}");
        eprintln!(
            "{backend}: the administrator's import took {:?}",
            started.elapsed()
        );

        // A caller who may import nothing is refused before the upload is read: 50 MB
        // announced, a few bytes sent, and the 403 comes back at once.
        let mut refused = send_raw(
            &server,
            &upload_head(("nobody", PASSWORD), 50_000_000),
            &start,
        )
        .await;
        let (status, text) = answer(&mut refused, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{backend}: no answer before the upload was read"));
        assert_eq!(status, 403, "{backend}: {text}");
        assert!(
            text.contains("Not authorized for Create on * in any collection"),
            "{backend}: {text}"
        );

        // The stalled upload is cut by the body idle timeout.
        let (status, text) = answer(&mut first, Duration::from_secs(IDLE + 15))
            .await
            .unwrap_or_else(|| panic!("{backend}: the stalled upload was never cut"));
        assert_eq!(status, 408, "{backend}: {text}");
        assert!(
            text.contains("--body-idle-timeout-seconds"),
            "{backend}: {text}"
        );

        conn.close().await.ok();
        assert!(server.stop().await.success(), "{backend}");
        db.drop_database().await;
    }
}

/// Finding 9: a state-changing request authenticated by a session cookie or Basic credentials
/// needs a JSON body type or a header a cross-site form cannot send; an `appKey` caller and
/// the login form are exempt; a 401 challenges only a client that sent Basic credentials.
#[tokio::test]
async fn cross_site_requests_are_refused() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let client = server.client();
        let forged = r#"{"name": "Forged", "thingTemplateName": "GenericThing"}"#;

        // What a cross-site form can send, with the browser's Basic credentials.
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let mut req = client
                .post(server.url(CREATE_THING))
                .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                .body(forged);
            if let Some(content_type) = content_type {
                req = req.header("Content-Type", content_type);
            }
            let res = req.send().await.expect("send");
            let status = res.status();
            let text = res.text().await.expect("body");
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{backend} {content_type:?}: {text}"
            );
            assert!(text.contains("Content-Type: application/json"), "{text}");
            assert!(text.contains("X-Requested-With"), "{text}");
        }
        let res = client
            .get(server.url("/Thingworx/Things/Forged"))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("send");
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{backend}: forged Thing made"
        );

        // A script's header, or a JSON body type, passes.
        for (name, value, thing) in [
            ("X-Requested-With", "XMLHttpRequest", "ByScript"),
            ("X-XSRF-TOKEN", "TWX-XSRF-TOKEN-VALUE", "ByToken"),
        ] {
            let res = client
                .post(server.url(CREATE_THING))
                .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                .header("Content-Type", "text/plain")
                .header(name, value)
                .body(forged.replace("Forged", thing))
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), StatusCode::OK, "{backend} {name}");
        }
        let res = client
            .post(server.url(CREATE_THING))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .header(
                "Content-Type",
                "application/vnd.ironworx+json; charset=utf-8",
            )
            .body(forged.replace("Forged", "BySuffix"))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::OK, "{backend} +json");

        // The session cookie of a form login is held to the same rule.
        let session = login(&server, "Everyone", ADMIN_USER, ADMIN_PASSWORD).await;
        let cookie = session
            .cookie("JSESSIONID")
            .unwrap_or_else(|| panic!("{backend}: no session"))
            .value
            .clone();
        let by_cookie = |body: &str, content_type: &str| {
            client
                .post(server.url(CREATE_THING))
                .header("Cookie", format!("JSESSIONID={cookie}"))
                .header("Content-Type", content_type.to_owned())
                .body(body.to_owned())
                .send()
        };
        let res = by_cookie(forged, "text/plain").await.expect("send");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{backend}: cookie");
        let res = by_cookie(&forged.replace("Forged", "ByCookie"), "application/json")
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::OK, "{backend}: cookie with JSON");

        // An application key cannot ride on a browser: exempt.
        let (status, key) = post_json(
            &server,
            ADMIN,
            "/Thingworx/Resources/EntityServices/Services/CreateApplicationKey",
            json!({"name": "TransportKey"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {key}");
        let key_id = key["rows"][0]["result"]
            .as_str()
            .unwrap_or_else(|| panic!("{backend}: no key id in {key}"));
        let res = client
            .post(server.url(CREATE_THING))
            .header("appKey", key_id)
            .header("Content-Type", "text/plain")
            .body(forged.replace("Forged", "ByKey"))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::OK, "{backend}: appKey");

        // The challenge: only to a client that sent Basic credentials.
        let res = client
            .post(server.url(CREATE_THING))
            .json(&json!({"name": "Anonymous"}))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get("www-authenticate").is_none(), "{backend}");
        let res = client
            .post(server.url(CREATE_THING))
            .basic_auth(ADMIN_USER, Some("wrong-password"))
            .json(&json!({"name": "Wrong"}))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"ThingWorx\""),
            "{backend}"
        );

        assert!(server.stop().await.success(), "{backend}");
        db.drop_database().await;
    }
}

/// Finding 10: 1,100 connections sending a body a byte at a time, against a server started
/// under an open-file limit of 1024: `/health` keeps answering at once, and every slow request
/// ends with 408 after the body deadline.
#[tokio::test]
async fn slow_clients_cannot_starve_the_server() {
    const SLOW: usize = 1100;
    const BODY_SECONDS: u64 = 4;
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .expect("read the open-file limit");
    if hard < (SLOW as u64) * 2 {
        eprintln!("skipping: the open-file hard limit {hard} cannot hold {SLOW} connections");
        return;
    }
    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    // The server starts under the soft limit many systems give a service (1024); the test
    // process gets its own back once the server runs.
    rlimit::Resource::NOFILE
        .set(soft.min(1024), hard)
        .expect("lower the open-file limit");
    let body_seconds = BODY_SECONDS.to_string();
    let started = TestServer::try_start_with(
        &db,
        ServerOptions::default()
            .env("IRONWORX_BODY_TIMEOUT_SECONDS", &body_seconds)
            .env("IRONWORX_BODY_IDLE_TIMEOUT_SECONDS", "3"),
    )
    .await;
    rlimit::Resource::NOFILE
        .set(soft, hard)
        .expect("restore the open-file limit");
    let server = started.unwrap_or_else(|err| panic!("{err:#}"));

    let head = format!(
        "POST {CREATE_THING} HTTP/1.1\r\nHost: ironworx\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n"
    );
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..SLOW {
        let address = address(&server);
        let head = head.clone();
        slow.spawn(async move {
            let opened = Instant::now();
            let mut stream = TcpStream::connect(address).await.ok()?;
            stream.write_all(head.as_bytes()).await.ok()?;
            let mut buf = [0u8; 1024];
            while opened.elapsed() < Duration::from_secs(BODY_SECONDS + 20) {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await
                {
                    Ok(Ok(n)) if n > 0 => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        return Some((text, opened.elapsed()));
                    }
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            Some((String::new(), opened.elapsed()))
        });
    }

    // While the slow connections are open, /health answers on a new connection at once.
    let mut slowest = Duration::ZERO;
    let probing = Instant::now();
    while probing.elapsed() < Duration::from_secs(BODY_SECONDS) {
        let asked = Instant::now();
        let probe = async {
            let mut stream = TcpStream::connect(address(&server)).await.ok()?;
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: ironworx\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            answer(&mut stream, Duration::from_secs(3)).await
        };
        let reply = tokio::time::timeout(Duration::from_secs(3), probe).await;
        let took = asked.elapsed();
        assert!(
            matches!(reply, Ok(Some((200, _)))),
            "/health failed after {took:?} under {SLOW} slow connections: {reply:?}"
        );
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(slowest < Duration::from_secs(2), "/health took {slowest:?}");

    let mut timed_out = 0;
    let mut other = Vec::new();
    while let Some(result) = slow.join_next().await {
        match result.expect("slow client") {
            Some((text, took)) if text.starts_with("HTTP/1.1 408") => {
                assert!(text.contains("--body-timeout-seconds"), "{text}");
                assert!(took < Duration::from_secs(BODY_SECONDS + 15), "{took:?}");
                timed_out += 1;
            }
            outcome => other.push(outcome),
        }
    }
    assert_eq!(
        timed_out,
        SLOW,
        "every slow request ends with 408; others: {:?}",
        other.iter().take(5).collect::<Vec<_>>()
    );
    assert!(server.stop().await.success());
}

/// Finding 13: uploads spool into a folder of the process, locked while it lives; at start,
/// folders of stopped processes and stray upload files go, a live process's folder stays; a
/// clean stop removes the process's own folder.
#[tokio::test]
async fn uploads_left_by_a_stopped_process_are_removed() {
    let data = tempfile::tempdir().expect("tempdir");
    let uploads = data.path().join("uploads");
    let stale = uploads.join("stale-process");
    let live = uploads.join("live-process");
    for dir in [&stale, &live] {
        std::fs::create_dir_all(dir).expect("folder");
        std::fs::write(dir.join(".upload-part"), b"half an upload").expect("upload");
    }
    File::create(stale.join("lock")).expect("stale lock");
    let live_lock = File::create(live.join("lock")).expect("live lock");
    live_lock.lock().expect("lock as a live process does");
    let stray = data.path().join(".upload-crashed");
    std::fs::write(&stray, b"left by an older version").expect("stray");

    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    let server = TestServer::start_with(&db, ServerOptions::default().data_dir(data.path())).await;
    assert!(!stale.exists(), "the stopped process's uploads stay");
    assert!(!stray.exists(), "the stray upload stays");
    assert!(
        live.join(".upload-part").exists(),
        "a live process's upload went"
    );
    let own: Vec<_> = std::fs::read_dir(&uploads)
        .expect("uploads")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| *p != live)
        .collect();
    assert_eq!(own.len(), 1, "one folder of the server's own: {own:?}");
    let own = own[0].clone();
    let lock = File::open(own.join("lock")).expect("the server's lock file");
    assert!(
        lock.try_lock().is_err(),
        "the server holds the lock of its folder"
    );
    drop(lock);

    assert!(server.stop().await.success());
    assert!(!own.exists(), "a clean stop removes the server's folder");
    assert!(live.exists());
    drop(live_lock);
    db.drop_database().await;
}
