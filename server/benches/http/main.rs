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

mod scripts;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_ironworx");
const ADMIN: &str = "Administrator";
const ADMIN_PASSWORD: &str = "Bench-Admin-Password-7";
const READER: &str = "benchreader";
const READER_PASSWORD: &str = "Bench-Reader-Password-7";
const GROUP: &str = "BenchReaders";
const THING: &str = "BenchPump";
/// The property read.
const PROPERTY: &str = "Pressure";
/// The property written.
const SETPOINT: &str = "Setpoint";
const LISTENING: &str = "ironworx listening on http://";
const STARTUP: Duration = Duration::from_secs(120);
/// Goals of the reads' throughput against the bare route, per database.
const GOAL_SQLITE: f64 = 0.3;
const GOAL_POSTGRES: f64 = 0.2;
/// Goal of the write throughput against the earlier code's.
const GOAL_WRITE: f64 = 5.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// What wrk is run with.
struct Load {
    seconds: u64,
    rounds: u64,
    connections: u64,
    threads: u64,
}

// ------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for the setup requests (one connection per request).

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    bytes: Vec<u8>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The value of cookie `name` set by this response.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, v)| k.trim() == name && !v.is_empty())
            .map(|(_, v)| v.trim().to_owned())
    }
}

fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send the request");
    if let Some((_, bytes)) = body {
        stream.write_all(bytes).expect("send the body");
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut bytes = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    }) {
        bytes = dechunk(&bytes);
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Response {
        status,
        headers,
        bytes,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("Authorization", format!("Basic {token}"))
}

/// POSTs `body` as the administrator and requires a 200.
fn admin_post(addr: &str, path: &str, body: Value) -> Value {
    let bytes = body.to_string();
    let res = request(
        addr,
        "POST",
        path,
        &[basic(ADMIN, ADMIN_PASSWORD)],
        Some(("application/json", bytes.as_bytes())),
    );
    assert_eq!(res.status, 200, "POST {path} {body}: {}", res.body);
    res.json()
}

// ------------------------------------------------------------------------------------------
// The server and its database.

/// A database for one backend: a SQLite file in a temporary directory, or a PostgreSQL
/// database created for this run and dropped afterwards.
struct BenchDb {
    label: &'static str,
    url: String,
    postgres: Option<(String, String)>,
}

impl BenchDb {
    fn sqlite(dir: &Path) -> BenchDb {
        let path = dir.join("bench.db");
        BenchDb {
            label: "SQLite",
            url: format!("sqlite://{}?mode=rwc", path.display()),
            postgres: None,
        }
    }

    fn postgres(runtime: &tokio::runtime::Runtime, admin_url: &str) -> BenchDb {
        let name = format!("ironworx_bench_{}", uuid::Uuid::new_v4().simple());
        runtime.block_on(admin_execute(
            admin_url,
            &format!("CREATE DATABASE \"{name}\""),
        ));
        BenchDb {
            label: "PostgreSQL",
            url: with_database(admin_url, &name),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    fn drop_database(&self, runtime: &tokio::runtime::Runtime) {
        if let Some((admin_url, name)) = &self.postgres {
            runtime.block_on(admin_execute(
                admin_url,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            ));
        }
    }
}

async fn admin_execute(admin_url: &str, sql: &str) {
    let mut options = ConnectOptions::new(admin_url);
    options.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(options)
        .await
        .expect("connect to IRONWORX_TEST_POSTGRES");
    admin.execute_unprepared(sql).await.expect(sql);
    admin.close().await.ok();
}

/// `url` with its database name replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map(|i| i + 3).expect("a URL");
    let rest = &url[start..];
    let (location, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = &location[..location.find('/').unwrap_or(location.len())];
    format!("{}{authority}/{name}{query}", &url[..start])
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn start_server(program: &Path, db: &BenchDb, data_dir: &Path) -> Server {
    let mut command = Command::new(program);
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--database-url", &db.url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IRONWORX_") {
            command.env_remove(key);
        }
    }
    command
        .env("IRONWORX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn");
    let mut child = command.spawn().expect("start the server");
    let stdout = child.stdout.take().expect("server stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix(LISTENING) {
                tx.send(addr.trim().to_owned()).ok();
            }
        }
    });
    let addr = rx
        .recv_timeout(STARTUP)
        .expect("the server did not announce its address");
    Server { child, addr }
}

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

    let page = request(addr, "GET", "/Thingworx/FormLogin/Everyone", &[], None);
    assert_eq!(page.status, 200, "login page: {}", page.body);
    let csrf = page.cookie("CSRFID").expect("a CSRF cookie");
    let form = format!(
        "thingworx-form-userid={READER}&thingworx-form-password={READER_PASSWORD}\
         &OrganizationName=Everyone&x-csrf-id={csrf}"
    );
    let login = request(
        addr,
        "POST",
        "/Thingworx/action-login",
        &[("Cookie", format!("CSRFID={csrf}"))],
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
    );
    assert!(
        (300..400).contains(&login.status),
        "form login: {} {}",
        login.status,
        login.body
    );
    let session = login.cookie("JSESSIONID").expect("a session cookie");
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

/// A wrk duration (`812.00us`, `1.23ms`, `2.01s`, `1.00m`) in milliseconds.
fn duration_ms(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().expect("a wrk duration");
    number
        * match unit {
            "us" => 0.001,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            other => panic!("unknown wrk unit '{other}'"),
        }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn range(values: &[f64], digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.digits$}–{hi:.digits$}")
}

/// The backend the servers run on.
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn database(&self, runtime: &tokio::runtime::Runtime, dir: &Path) -> BenchDb {
        match self {
            Backend::Sqlite => BenchDb::sqlite(dir),
            Backend::Postgres(admin_url) => BenchDb::postgres(runtime, admin_url),
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
    let server = start_server(program, db, data.path());
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

fn bench(
    runtime: &tokio::runtime::Runtime,
    backend: &Backend,
    old: Option<&Path>,
    load: &Load,
    dir: &Path,
) {
    let mut databases = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let new_dir = tempfile::tempdir_in(dir).expect("temp dir");
        databases.push(backend.database(runtime, new_dir.path()));
        let label = databases[0].label;
        let new = serve(Path::new(SERVER), &databases[0]);
        scripts::setup(&new.server.addr);
        let old_dir = tempfile::tempdir_in(dir).expect("temp dir");
        let old = old.map(|program| {
            databases.push(backend.database(runtime, old_dir.path()));
            serve(program, &databases[1])
        });
        let only_scripts = std::env::var("IRONWORX_BENCH_ONLY").is_ok_and(|v| v == "scripts");
        if !only_scripts {
            run(label, backend.goal(), &new, old.as_ref(), load, dir);
        }
        scripts::run(label, &new.server.addr, &new.credentials.app_key, load, dir);
    }));
    for db in &databases {
        db.drop_database(runtime);
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
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
    let load = Load {
        seconds: env_or("IRONWORX_BENCH_SECONDS", 10),
        rounds: env_or("IRONWORX_BENCH_ROUNDS", 3),
        connections: env_or("IRONWORX_BENCH_CONNECTIONS", 16),
        threads: env_or("IRONWORX_BENCH_THREADS", 2),
    };
    let old = std::env::var_os("IRONWORX_BENCH_OLD_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    bench(
        &runtime,
        &Backend::Sqlite,
        old.as_deref(),
        &load,
        dir.path(),
    );
    match std::env::var("IRONWORX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(admin_url) => bench(
            &runtime,
            &Backend::Postgres(admin_url),
            old.as_deref(),
            &load,
            dir.path(),
        ),
        None => println!("PostgreSQL skipped: IRONWORX_TEST_POSTGRES is not set"),
    }
}
