//! A bounded load test on loopback: two server processes on one database take a mix of
//! authorized property reads, property writes and denied requests from concurrent clients.
//! Every answer must be the expected one (200, or 403 for the denied requests), and neither
//! process may grow in memory between the warm-up and the end of the run. It prints its
//! figures (requests, rate, statuses, resident memory); BENCHMARKS.md records them, with the
//! command for a longer run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, TestDb, TestServer, backends, connect};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = (ADMIN_USER, ADMIN_PASSWORD);
const WORKERS: usize = 16;
/// Requests in the warm-up.
const WARM_UP: u64 = 1_000;

/// Requests in the measured run (at most): `IRONWORX_LOAD_REQUESTS`, 6,000 by default.
fn total() -> u64 {
    env_number("IRONWORX_LOAD_REQUESTS", 6_000)
}

/// The run stops here even if [`total`] is not reached: `IRONWORX_LOAD_SECONDS`, 20 by default.
fn deadline() -> Duration {
    Duration::from_secs(env_number("IRONWORX_LOAD_SECONDS", 20))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Allowed growth of a process's resident memory from the warm-up to the end.
const GROWTH_BYTES: u64 = 24 * 1024 * 1024;

async fn ok(server: &TestServer, path: &str, body: Value) {
    let (status, body) = ironworx_tests::post_json(server, ADMIN, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// What a run saw.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    denied: AtomicU64,
    unexpected: AtomicU64,
}

/// Application-key requests: reads and writes of `Level`, and reads of `Secret` (denied).
async fn run(servers: &[String; 2], key: &str, count: u64, tally: &Arc<Tally>) -> Duration {
    let started = Instant::now();
    let deadline = deadline();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let (servers, key, next, tally) =
            (servers.clone(), key.to_owned(), next.clone(), tally.clone());
        workers.spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || started.elapsed() > deadline {
                    break;
                }
                let base = &servers[(n as usize + worker) % 2];
                let (req, expected) = match n % 10 {
                    0..=5 => (
                        client.get(format!("{base}/Thingworx/Things/Tank1/Properties/Level")),
                        StatusCode::OK,
                    ),
                    6..=7 => (
                        client
                            .put(format!("{base}/Thingworx/Things/Tank1/Properties/Level"))
                            .json(&json!({ "Level": n as f64 / 2.0 })),
                        StatusCode::OK,
                    ),
                    _ => (
                        client.get(format!("{base}/Thingworx/Things/Tank1/Properties/Secret")),
                        StatusCode::FORBIDDEN,
                    ),
                };
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let status = match req.header("appKey", &key).send().await {
                    Ok(res) => {
                        let status = res.status();
                        let _ = res.bytes().await;
                        Some(status)
                    }
                    Err(_) => None,
                };
                match status {
                    Some(s) if s == expected && s == StatusCode::OK => {
                        tally.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    Some(s) if s == expected => tally.denied.fetch_add(1, Ordering::Relaxed),
                    other => {
                        eprintln!(
                            "unexpected answer {other:?} (expected {expected}) to request {n}"
                        );
                        tally.unexpected.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    while workers.join_next().await.is_some() {}
    started.elapsed()
}

#[tokio::test]
async fn mixed_load_on_two_processes_answers_as_expected_without_growing() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let a = TestServer::start(&db, &[]).await;
        let b = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        ironworx_tests::create_user(&conn, "operator", "operator-password-1").await;
        let services = "/Thingworx/Resources/EntityServices/Services";
        ok(
            &a,
            &format!("{services}/CreateThing"),
            json!({"name": "Tank1", "thingTemplateName": "GenericThing"}),
        )
        .await;
        for property in ["Level", "Secret"] {
            ok(
                &a,
                "/Thingworx/Things/Tank1/Services/AddPropertyDefinition",
                json!({"name": property, "type": "NUMBER"}),
            )
            .await;
        }
        for (kind, resource, allow) in [
            ("PropertyRead", "*", true),
            ("PropertyWrite", "Level", true),
            ("PropertyRead", "Secret", false),
        ] {
            ok(&b, "/Thingworx/Things/Tank1/Services/AddRunTimePermission",
                json!({"principal": "operator", "principalType": "User", "resource": resource, "type": kind, "allow": allow})).await;
        }
        let (status, created) = ironworx_tests::post_json(
            &a,
            ADMIN,
            &format!("{services}/CreateApplicationKey"),
            json!({"name": "LoadKey", "user": "operator"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let key = created["rows"][0]["result"]
            .as_str()
            .expect("key")
            .to_owned();
        let servers = [a.base_url().to_owned(), b.base_url().to_owned()];

        let warm = Arc::new(Tally::default());
        run(&servers, &key, WARM_UP, &warm).await;
        assert_eq!(
            warm.unexpected.load(Ordering::Relaxed),
            0,
            "{backend}: warm-up"
        );
        let rss_before = [rss(a.pid()), rss(b.pid())];

        let tally = Arc::new(Tally::default());
        let took = run(&servers, &key, total(), &tally).await;
        let rss_after = [rss(a.pid()), rss(b.pid())];
        let sent = tally.sent.load(Ordering::Relaxed);
        println!(
            "load {backend}: {sent} requests in {:.1} s ({:.0}/s) over 2 processes, {WORKERS} clients: \
             {} allowed, {} denied (403), {} unexpected; RSS A {:.1} -> {:.1} MiB, B {:.1} -> {:.1} MiB",
            took.as_secs_f64(),
            sent as f64 / took.as_secs_f64(),
            tally.ok.load(Ordering::Relaxed),
            tally.denied.load(Ordering::Relaxed),
            tally.unexpected.load(Ordering::Relaxed),
            rss_before[0] as f64 / 1048576.0,
            rss_after[0] as f64 / 1048576.0,
            rss_before[1] as f64 / 1048576.0,
            rss_after[1] as f64 / 1048576.0,
        );
        assert_eq!(
            tally.unexpected.load(Ordering::Relaxed),
            0,
            "{backend}: only 200s and the expected 403s"
        );
        assert!(
            sent >= total().min(1_000),
            "{backend}: the run did some work ({sent} requests)"
        );
        let (allowed, denied) = (
            tally.ok.load(Ordering::Relaxed),
            tally.denied.load(Ordering::Relaxed),
        );
        assert_eq!(allowed + denied, sent, "{backend}: every request answered");
        assert!(
            denied * 10 >= sent && denied * 4 <= sent,
            "{backend}: about one in five denied ({denied} of {sent})"
        );
        for (name, (before, after)) in ["A", "B"].iter().zip(rss_before.iter().zip(&rss_after)) {
            assert!(*before > 0, "{backend}: resident memory of {name} readable");
            assert!(
                *after <= before + GROWTH_BYTES,
                "{backend}: server {name} grew from {before} to {after} bytes under load"
            );
        }
        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
