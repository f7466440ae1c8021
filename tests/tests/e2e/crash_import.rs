//! Crashes: `ironworx import` killed with SIGKILL while its one transaction is writing leaves
//! the database exactly as it was before the import (model and change sequence); a server
//! started afterwards serves that model, and the same import then runs to the end. A server
//! killed with SIGKILL while clients write property values keeps every write it acknowledged.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use ironworx_entity::queries::audit;
use ironworx_importer::plan::Mode;
use ironworx_tests::import_export::{assert_same, bootstrapped, model};
use ironworx_tests::{ADMIN_PASSWORD, Backend, TestDb, TestServer, backends, server_binary};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Enough Things that the import is still writing long after it started.
const THINGS: usize = 20_000;

/// A layout A export of `THINGS` Things with three property values each.
fn export_text() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Entities build=\"b1\" majorVersion=\"9\" \
         minorVersion=\"3\" modelPersistenceProviderPackage=\"PostgresPersistenceProviderPackage\" \
         revision=\"0\" schemaVersion=\"1134\" universal=\"\">\n<Things>\n",
    );
    for i in 0..THINGS {
        let _ = write!(
            xml,
            "<Thing name=\"Crash{i:06}\" description=\"generated\" enabled=\"true\" \
             thingTemplate=\"GenericThing\" tags=\"\" projectName=\"\"><ThingProperties>"
        );
        for p in 0..3 {
            let _ = write!(
                xml,
                "<p{p}><Value>{i}.{p}</Value><Timestamp>2024-01-01T00:00:00.000Z</Timestamp>\
                 <Quality>GOOD</Quality></p{p}>"
            );
        }
        xml.push_str("</ThingProperties></Thing>\n");
    }
    xml.push_str("</Things>\n</Entities>\n");
    xml
}

fn import_command(db: &TestDb, data: &Path, file: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(server_binary().expect("binary"));
    command
        .args(["import", "--mode", "file"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(db.url())
        .env("IRONWORX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Whether another connection holds a transaction that has written (PostgreSQL), or the
/// SQLite write-ahead log holds more than `wal_before` bytes of uncommitted pages.
async fn writing(
    conn: &DatabaseConnection,
    backend: Backend,
    db: &TestDb,
    wal_before: u64,
) -> bool {
    match backend {
        Backend::Postgres => {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL",
                ))
                .await
                .expect("pg_stat_activity")
                .expect("a row");
            row.try_get::<i64>("", "n").expect("count") > 0
        }
        Backend::Sqlite => wal_size(db) > wal_before + 1024 * 1024,
    }
}

fn wal_size(db: &TestDb) -> u64 {
    let path = db
        .url()
        .strip_prefix("sqlite://")
        .and_then(|p| p.split('?').next())
        .map(|p| format!("{p}-wal"))
        .unwrap_or_default();
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn sigkill_in_the_middle_of_an_import_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("crash.xml");
    std::fs::write(&file, export_text()).expect("write the export");
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let conn = bootstrapped(&db).await;
        let before = model(&conn, Mode::Storage).await;
        let sequence = audit::current_sequence(&conn).await.expect("sequence");
        let wal_before = wal_size(&db);
        let data = tempfile::tempdir().expect("data dir");

        let mut child = import_command(&db, data.path(), &file)
            .spawn()
            .expect("start the import");
        let started = Instant::now();
        loop {
            assert!(
                child.try_wait().expect("poll").is_none(),
                "{backend}: the import ended before it was seen writing; make it larger"
            );
            if writing(&conn, backend, &db, wal_before).await {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{backend}: the import never started writing"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().expect("SIGKILL");
        let status = child.wait().await.expect("reap");
        assert!(
            !status.success(),
            "{backend}: killed, not finished: {status}"
        );

        // A fresh connection (after SQLite's recovery of the log) sees the model as it was.
        conn.close().await.expect("close");
        let conn = ironworx_tests::connect(&db).await;
        assert_eq!(
            audit::current_sequence(&conn).await.expect("sequence"),
            sequence,
            "{backend}: the change sequence is untouched"
        );
        assert_same(
            &model(&conn, Mode::Storage).await,
            &before,
            &format!("{backend}: after the kill"),
        );

        // A server starts on it and serves that model; the same import then completes.
        let server = TestServer::start(&db, &[]).await;
        let res = server
            .client()
            .get(server.url("/Thingworx/Things/Crash000001"))
            .basic_auth("Administrator", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND, "{backend}");
        assert!(server.stop().await.success());
        let out = import_command(&db, data.path(), &file)
            .status()
            .await
            .expect("rerun the import");
        assert!(
            out.success(),
            "{backend}: the import runs to the end after the crash"
        );
        let after = model(&conn, Mode::Storage).await;
        let crash_things = after
            .entities
            .iter()
            .filter(|e| e.name.starts_with("Crash"))
            .count();
        assert_eq!(crash_things, THINGS, "{backend}");
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// Writers, one property each.
const WRITERS: usize = 8;

/// SIGKILL while eight clients write property values as fast as the server answers: after a
/// restart, each property holds the last value the server acknowledged (200) to its writer,
/// or the one that writer had in flight when the server died; never an older one.
#[tokio::test]
async fn sigkill_under_property_writes_loses_nothing_acknowledged() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use ironworx_tests::{ADMIN_USER, post_json};
    use serde_json::json;

    const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let services = "/Thingworx/Resources/EntityServices/Services/CreateThing";
        let (status, body) = post_json(
            &server,
            ADMIN,
            services,
            json!({"name": "Tank", "thingTemplateName": "GenericThing"}),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{backend}: {body}");
        for i in 0..WRITERS {
            let (status, body) = post_json(
                &server,
                ADMIN,
                "/Thingworx/Things/Tank/Services/AddPropertyDefinition",
                json!({"name": format!("c{i}"), "type": "INTEGER"}),
            )
            .await;
            assert_eq!(status, reqwest::StatusCode::OK, "{backend}: {body}");
        }
        let acked: Arc<Vec<AtomicI64>> =
            Arc::new((0..WRITERS).map(|_| AtomicI64::new(0)).collect());
        let mut writers = Vec::new();
        for i in 0..WRITERS {
            let client = server.client().clone();
            let url = server.url(&format!("/Thingworx/Things/Tank/Properties/c{i}"));
            let acked = Arc::clone(&acked);
            writers.push(tokio::spawn(async move {
                for n in 1_i64.. {
                    let sent = client
                        .put(&url)
                        .basic_auth(ADMIN.0, Some(ADMIN.1))
                        .header("X-Requested-With", "XMLHttpRequest")
                        .json(&json!({ format!("c{i}"): n }))
                        .send()
                        .await;
                    match sent {
                        Ok(res) if res.status() == reqwest::StatusCode::OK => {
                            acked[i].store(n, Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill().await;
        for writer in writers {
            writer.await.expect("writer");
        }
        let server = TestServer::start(&db, &[]).await;
        for (i, acked) in acked.iter().enumerate() {
            let acked = acked.load(Ordering::SeqCst);
            assert!(acked > 0, "{backend}: writer {i} got no write acknowledged");
            let res = server
                .client()
                .get(server.url(&format!("/Thingworx/Things/Tank/Properties/c{i}")))
                .basic_auth(ADMIN.0, Some(ADMIN.1))
                .send()
                .await
                .expect("request");
            let body: serde_json::Value = res.json().await.expect("json");
            let kept = body["rows"][0][format!("c{i}")].as_i64().unwrap_or(0);
            assert!(
                kept == acked || kept == acked + 1,
                "{backend}: c{i} holds {kept} after the kill; {acked} was acknowledged"
            );
        }
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
