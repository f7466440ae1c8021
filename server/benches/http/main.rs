//! HTTP throughput of the property routes, side by side in one run: the release `ironworx`
//! binary (built with `bench-bare`) serves on loopback, and `wrk` on the same machine takes
//! turns on
//!
//! - (a) `GET /Thingworx/Things/<T>/Properties/<p>` with an `appKey` header;
//! - (b) the same read with a session cookie from the form login;
//! - (c) the bare route `GET /bench/bare` (`server/src/http/things/bare.rs`), which answers bytes
//!   kept in memory: the driver first fetches the real authorized answer once, `PUT`s it to
//!   `/bench/bare` and checks that `GET /bench/bare` answers the identical bytes, so (c) is
//!   the same response without authentication, authorization, the model or the database;
//! - `GET /health`, for reference;
//! - (d) `PUT /Thingworx/Things/<T>/Properties/<q>` with an `appKey` header and the body
//!   `{"<q>": n}`, `n` counting up per request (a wrk Lua script that also counts every answer
//!   other than 200; the run fails on any).
//!
//! When `IRONWORX_BENCH_OLD_SERVER` names another `ironworx` binary (a build of earlier code),
//! that binary serves too, on a database of its own set up the same way, and its (a) and (d)
//! take turns with the others in the same rounds, for a side-by-side figure.
//!
//! Everything the authorized calls need (a Thing with two NUMBER properties and their values, a
//! user in a group granted PropertyRead on one and PropertyWrite on the other, an application
//! key, a form-login session) is made through the REST API first.
//!
//! Then the script services against the built-in routes (`scripts.rs`).
//!
//! Runs on SQLite, and on PostgreSQL as well when `IRONWORX_TEST_POSTGRES` holds an
//! administrative URL (a database with a random name is created and dropped per server).
//!
//! Run: `cargo bench -p ironworx-server --features bench-bare --bench http`
//!
//! Settings (environment): `IRONWORX_BENCH_SECONDS` per wrk run (10), `IRONWORX_BENCH_ROUNDS`
//! (3), `IRONWORX_BENCH_CONNECTIONS` (16), `IRONWORX_BENCH_THREADS` (2),
//! `IRONWORX_BENCH_OLD_SERVER` (none), `IRONWORX_BENCH_ONLY` (`scripts`: only the script
//! services).

#[path = "../harness/mod.rs"]
mod harness;
mod scripts;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use harness::{
    ADMIN, ADMIN_PASSWORD, BenchDb, Load, SERVER, Server, admin_post, basic, duration_ms, median,
    range, request,
};
use serde_json::json;

const READER: &str = "benchreader";
const READER_PASSWORD: &str = "Bench-Reader-Password-7";
const GROUP: &str = "BenchReaders";
const THING: &str = "BenchPump";
/// The property read.
const PROPERTY: &str = "Pressure";
/// The property written.
const SETPOINT: &str = "Setpoint";
/// Goals of the reads' throughput against the bare route, per database.
const GOAL_SQLITE: f64 = 0.3;
const GOAL_POSTGRES: f64 = 0.2;
/// Goal of the write throughput against the earlier code's.
const GOAL_WRITE: f64 = 5.0;

// ------------------------------------------------------------------------------------------
// The model, made through the REST API.

/// The credentials of the authorized calls.
struct Credentials {
    app_key: String,
    session: String,
}

/// Writes `value` to `property` of the Thing as `header`'s holder; requires a 200.
fn write_value(addr: &str, property: &str, value: f64, header: (&str, String)) {
    let body = json!({ property: value }).to_string();
    let res = request(
        addr,
        "PUT",
        &format!("/Thingworx/Things/{THING}/Properties/{property}"),
        &[header],
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(res.status, 200, "write {property}: {}", res.body);
}

fn setup(addr: &str) -> Credentials {
    let entity_services = "/Thingworx/Resources/EntityServices/Services";
    admin_post(
        addr,
        &format!("{entity_services}/CreateThing"),
        json!({"name": THING, "thingTemplateName": "GenericThing"}),
    );
    let thing = format!("/Thingworx/Things/{THING}");
    for name in [PROPERTY, SETPOINT] {
        admin_post(
            addr,
            &format!("{thing}/Services/AddPropertyDefinition"),
            json!({"name": name, "type": "NUMBER", "description": "bar"}),
        );
        write_value(addr, name, 3.5, basic(ADMIN, ADMIN_PASSWORD));
    }
    admin_post(
        addr,
        &format!("{entity_services}/CreateUser"),
        json!({"name": READER, "password": READER_PASSWORD}),
    );
    admin_post(
        addr,
        &format!("{entity_services}/CreateGroup"),
        json!({"name": GROUP}),
    );
    admin_post(
        addr,
        &format!("/Thingworx/Groups/{GROUP}/Services/AddMember"),
        json!({"member": READER, "type": "User"}),
    );
    for (resource, kind) in [(PROPERTY, "PropertyRead"), (SETPOINT, "PropertyWrite")] {
        admin_post(
            addr,
            &format!("{thing}/Services/AddRunTimePermission"),
            json!({"principal": GROUP, "principalType": "Group", "resource": resource,
                   "type": kind, "allow": true}),
        );
    }
    let key = admin_post(
        addr,
        &format!("{entity_services}/CreateApplicationKey"),
        json!({"name": "BenchKey", "user": READER}),
    );
    let app_key = key["rows"][0]["result"]
        .as_str()
        .expect("the key id")
        .to_owned();

    let session = harness::form_login(addr, "Everyone", READER, READER_PASSWORD).session;
    // The key's holder may write the setpoint (what the write load does).
    write_value(addr, SETPOINT, 4.5, ("appKey", app_key.clone()));
    Credentials { app_key, session }
}

// ------------------------------------------------------------------------------------------
// The runs.

/// The wrk script of the write load: `PUT` with the body `{"<SETPOINT>": n}`, `n` counting up
/// per request and thread, and a count of the answers other than 200, printed at the end.
fn write_script() -> String {
    format!(
        r#"wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  not_ok = 0
end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{{"{SETPOINT}":' .. counter .. '}}')
end
function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_ok")
  end
  io.write(string.format("answers other than 200: %d\n", total))
end
"#
    )
}

/// One load: a route, its credential and, for writes, the script.
struct Variant {
    name: String,
    addr: String,
    path: String,
    header: Option<(&'static str, String)>,
    script: Option<PathBuf>,
}

/// What one wrk run reports.
#[derive(Clone, Copy)]
struct Run {
    requests_per_sec: f64,
    p99_ms: f64,
    requests: u64,
}

fn wrk(variant: &Variant, load: &Load, seconds: u64) -> Run {
    let mut command = Command::new("wrk");
    command.args([
        "--latency",
        "-t",
        &load.threads.to_string(),
        "-c",
        &load.connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "5s",
        "-H",
        "Accept: application/json",
    ]);
    if let Some((name, value)) = &variant.header {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(script) = &variant.script {
        command.arg("-s").arg(script);
    }
    command.arg(format!("http://{}{}", variant.addr, variant.path));
    let out = command.output().expect("run wrk (Debian package `wrk`)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "{}: not every response was 2xx:\n{text}",
        variant.name
    );
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        panic!("{}: {line}\n{text}", variant.name);
    }
    if variant.script.is_some() {
        let not_ok = text
            .lines()
            .find_map(|l| l.strip_prefix("answers other than 200:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{}: the script reported nothing:\n{text}", variant.name));
        assert_eq!(
            not_ok, 0,
            "{}: not every answer was 200:\n{text}",
            variant.name
        );
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no '{prefix}' in wrk's output:\n{text}"))
    };
    let requests_per_sec = field("Requests/sec:").parse().expect("requests/s");
    let p99_ms = duration_ms(field("99%"));
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("request count");
    Run {
        requests_per_sec,
        p99_ms,
        requests,
    }
}

/// The backend the servers run on.
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn database(&self, dir: &Path) -> BenchDb {
        match self {
            Backend::Sqlite => BenchDb::sqlite(&dir.join("bench.db")),
            Backend::Postgres(admin_url) => BenchDb::postgres(admin_url),
        }
    }

    fn goal(&self) -> f64 {
        match self {
            Backend::Sqlite => GOAL_SQLITE,
            Backend::Postgres(_) => GOAL_POSTGRES,
        }
    }
}

/// A server on a database of its own, set up.
struct Serving {
    server: Server,
    credentials: Credentials,
    _data: tempfile::TempDir,
}

fn serve(program: &Path, db: &BenchDb) -> Serving {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(program, db, data.path());
    let credentials = setup(&server.addr);
    Serving {
        server,
        credentials,
        _data: data,
    }
}

/// The indexes of the variants the summary relates.
const BARE: usize = 0;
const APP_KEY: usize = 1;
const SESSION: usize = 2;
const WRITE: usize = 4;
const OLD_READ: usize = 5;
const OLD_WRITE: usize = 6;

/// Serves the new code (and the earlier code) on databases of their own, dropped at the end
/// whatever happens (the servers are stopped first).
fn bench(backend: &Backend, old: Option<&Path>, load: &Load, dir: &Path) {
    let new_dir = tempfile::tempdir_in(dir).expect("temp dir");
    let new_db = backend.database(new_dir.path());
    let old_dir = tempfile::tempdir_in(dir).expect("temp dir");
    let old_db = old.map(|_| backend.database(old_dir.path()));
    let new = serve(Path::new(SERVER), &new_db);
    scripts::setup(&new.server.addr);
    let old = old
        .zip(old_db.as_ref())
        .map(|(program, db)| serve(program, db));
    let only_scripts = std::env::var("IRONWORX_BENCH_ONLY").is_ok_and(|v| v == "scripts");
    if !only_scripts {
        run(new_db.label, backend.goal(), &new, old.as_ref(), load, dir);
    }
    scripts::run(
        new_db.label,
        &new.server.addr,
        &new.credentials.app_key,
        load,
        dir,
    );
}

fn run(label: &str, goal: f64, new: &Serving, old: Option<&Serving>, load: &Load, dir: &Path) {
    let addr = new.server.addr.clone();
    let app_key = ("appKey", new.credentials.app_key.clone());
    let session = ("Cookie", format!("JSESSIONID={}", new.credentials.session));
    let authorized = format!("/Thingworx/Things/{THING}/Properties/{PROPERTY}");
    let written = format!("/Thingworx/Things/{THING}/Properties/{SETPOINT}");

    // The bare route answers the bytes of the real authorized answer, and the two credentials
    // get the same bytes; the authorized route refuses a caller without credentials.
    let by_key = request(
        &addr,
        "GET",
        &authorized,
        std::slice::from_ref(&app_key),
        None,
    );
    assert_eq!(by_key.status, 200, "appKey read: {}", by_key.body);
    let by_session = request(
        &addr,
        "GET",
        &authorized,
        std::slice::from_ref(&session),
        None,
    );
    assert_eq!(by_session.status, 200, "session read: {}", by_session.body);
    assert_eq!(
        by_key.bytes, by_session.bytes,
        "the credentials read differently"
    );
    let kept = request(
        &addr,
        "PUT",
        "/bench/bare",
        &[],
        Some(("application/json", &by_key.bytes)),
    );
    assert!(kept.status < 300, "PUT /bench/bare: {}", kept.status);
    let bare = request(&addr, "GET", "/bench/bare", &[], None);
    assert_eq!(bare.status, 200);
    assert_eq!(
        bare.bytes, by_key.bytes,
        "GET /bench/bare does not answer the authorized bytes"
    );
    let anonymous = request(&addr, "GET", &authorized, &[], None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    println!(
        "{label}: (a), (b) and (c) answer the same {} bytes: {}",
        by_key.bytes.len(),
        by_key.body
    );

    let script = dir.join("write.lua");
    std::fs::write(&script, write_script()).expect("write the wrk script");
    let variant = |name: &str, addr: &str, path: &str, header, script: Option<&Path>| Variant {
        name: name.to_owned(),
        addr: addr.to_owned(),
        path: path.to_owned(),
        header,
        script: script.map(Path::to_path_buf),
    };
    let mut variants = vec![
        variant("(c) bare route", &addr, "/bench/bare", None, None),
        variant(
            "(a) read, appKey",
            &addr,
            &authorized,
            Some(app_key.clone()),
            None,
        ),
        variant("(b) read, session", &addr, &authorized, Some(session), None),
        variant("GET /health", &addr, "/health", None, None),
        variant(
            "(d) write, appKey",
            &addr,
            &written,
            Some(app_key),
            Some(&script),
        ),
    ];
    if let Some(old) = old {
        let key = ("appKey", old.credentials.app_key.clone());
        let old_addr = old.server.addr.clone();
        variants.push(variant(
            "(a) read, appKey, earlier code",
            &old_addr,
            &authorized,
            Some(key.clone()),
            None,
        ));
        variants.push(variant(
            "(d) write, appKey, earlier code",
            &old_addr,
            &written,
            Some(key),
            Some(&script),
        ));
    }

    for variant in &variants {
        wrk(variant, load, 2);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); variants.len()];
    let started = Instant::now();
    for round in 0..load.rounds {
        // The order turns each round so that no variant always follows the same one.
        for k in 0..variants.len() {
            let i = (k + usize::try_from(round).unwrap_or(0)) % variants.len();
            let run = wrk(&variants[i], load, load.seconds);
            println!(
                "{label} round {}: {:<32} {:>9.0} req/s  p99 {:>7.2} ms  ({} requests)",
                round + 1,
                variants[i].name,
                run.requests_per_sec,
                run.p99_ms,
                run.requests
            );
            runs[i].push(run);
        }
    }
    // The write load answered 200 every time (checked per run); the value it left reads back.
    let last = request(
        &addr,
        "GET",
        &written,
        &[basic(ADMIN, ADMIN_PASSWORD)],
        None,
    );
    assert_eq!(last.status, 200, "read back the setpoint: {}", last.body);

    println!(
        "\n{label} ({} rounds of {} s, wrk -t{} -c{}, {:.0} s):",
        load.rounds,
        load.seconds,
        load.threads,
        load.connections,
        started.elapsed().as_secs_f64()
    );
    println!(
        "| load | req/s (median) | req/s (range) | p99 ms (median) | p99 ms (range) | ratio (median, per-round range) |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    let ratio = |of: usize, to: usize| -> Vec<f64> {
        runs[of]
            .iter()
            .zip(&runs[to])
            .map(|(r, b)| r.requests_per_sec / b.requests_per_sec)
            .collect()
    };
    for (i, (variant, runs_of)) in variants.iter().zip(&runs).enumerate() {
        let rates: Vec<f64> = runs_of.iter().map(|r| r.requests_per_sec).collect();
        let p99s: Vec<f64> = runs_of.iter().map(|r| r.p99_ms).collect();
        let relation = match i {
            APP_KEY | SESSION => {
                let r = ratio(i, BARE);
                format!(
                    "{:.2} ({}) of (c); goal ≥ {goal}: {}",
                    median(r.clone()),
                    range(&r, 2),
                    if median(r) >= goal { "met" } else { "MISSED" }
                )
            }
            WRITE if old.is_some() => {
                let r = ratio(WRITE, OLD_WRITE);
                format!(
                    "{:.2}× ({}) the earlier code's; goal ≥ {GOAL_WRITE}×: {}",
                    median(r.clone()),
                    range(&r, 2),
                    if median(r) >= GOAL_WRITE {
                        "met"
                    } else {
                        "MISSED"
                    }
                )
            }
            OLD_READ => {
                let r = ratio(APP_KEY, OLD_READ);
                format!("(a) is {:.2}× ({}) this", median(r.clone()), range(&r, 2))
            }
            _ => String::new(),
        };
        println!(
            "| {} | {:.0} | {} | {:.2} | {} | {relation} |",
            variant.name,
            median(rates.clone()),
            range(&rates, 0),
            median(p99s.clone()),
            range(&p99s, 2),
        );
    }
    if old.is_none() {
        println!(
            "(no earlier code to compare the write with: IRONWORX_BENCH_OLD_SERVER is not set)"
        );
    }
    println!();
}

fn main() {
    let load = Load::from_env();
    let old = std::env::var_os("IRONWORX_BENCH_OLD_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let dir = tempfile::tempdir().expect("temp dir");
    bench(&Backend::Sqlite, old.as_deref(), &load, dir.path());
    if let Some(admin_url) = harness::postgres_url() {
        bench(
            &Backend::Postgres(admin_url),
            old.as_deref(),
            &load,
            dir.path(),
        );
    }
}
