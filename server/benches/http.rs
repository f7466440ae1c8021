//! HTTP cost of an authorized property read, side by side in one run: the release `ironworx`
//! binary (built with `bench-bare`) serves on loopback, and `wrk` on the same machine takes
//! turns on `GET /Thingworx/Things/<T>/Properties/<p>` with an `appKey` header, the same route
//! with a session cookie, and the bare route `GET /bench/bare/Things/<T>/Properties/<p>`, which
//! does the same read and rendering without authentication or authorization. Everything the
//! authorized calls need (a Thing with a property value, a user in a group granted PropertyRead
//! on it, an application key, a form-login session) is made through the REST API first.
//!
//! Runs on SQLite, and on PostgreSQL as well when `IRONWORX_TEST_POSTGRES` holds an
//! administrative URL (a database with a random name is created and dropped).
//!
//! Run: `cargo bench -p ironworx-server --features bench-bare --bench http`
//!
//! Settings (environment): `IRONWORX_BENCH_SECONDS` per wrk run (10), `IRONWORX_BENCH_ROUNDS`
//! (3), `IRONWORX_BENCH_CONNECTIONS` (32), `IRONWORX_BENCH_THREADS` (2).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
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
const PROPERTY: &str = "Pressure";
const LISTENING: &str = "ironworx listening on http://";
const STARTUP: Duration = Duration::from_secs(120);

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
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
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
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    }) {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
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

fn start_server(db: &BenchDb, data_dir: &Path) -> Server {
    let mut command = Command::new(SERVER);
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

fn setup(addr: &str) -> Credentials {
    let entity_services = "/Thingworx/Resources/EntityServices/Services";
    admin_post(
        addr,
        &format!("{entity_services}/CreateThing"),
        json!({"name": THING, "thingTemplateName": "GenericThing"}),
    );
    let thing = format!("/Thingworx/Things/{THING}");
    admin_post(
        addr,
        &format!("{thing}/Services/AddPropertyDefinition"),
        json!({"name": PROPERTY, "type": "NUMBER", "description": "bar"}),
    );
    let value = json!({ PROPERTY: 3.5 }).to_string();
    let res = request(
        addr,
        "PUT",
        &format!("{thing}/Properties/{PROPERTY}"),
        &[basic(ADMIN, ADMIN_PASSWORD)],
        Some(("application/json", value.as_bytes())),
    );
    assert_eq!(res.status, 200, "write the value: {}", res.body);
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
    admin_post(
        addr,
        &format!("{thing}/Services/AddRunTimePermission"),
        json!({"principal": GROUP, "principalType": "Group", "resource": PROPERTY,
               "type": "PropertyRead", "allow": true}),
    );
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
    Credentials { app_key, session }
}

// ------------------------------------------------------------------------------------------
// The runs.

/// One way of reading the property.
struct Variant {
    name: &'static str,
    path: String,
    header: Option<(&'static str, String)>,
}

/// What one wrk run reports.
#[derive(Clone, Copy)]
struct Run {
    requests_per_sec: f64,
    p99_ms: f64,
    requests: u64,
}

fn wrk(addr: &str, variant: &Variant, load: &Load, seconds: u64) -> Run {
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
    ]);
    if let Some((name, value)) = &variant.header {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    command.arg(format!("http://{addr}{}", variant.path));
    let out = command.output().expect("run wrk (Debian package `wrk`)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "{}: not every response was 200:\n{text}",
        variant.name
    );
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        panic!("{}: {line}\n{text}", variant.name);
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

fn bench(db: &BenchDb, load: &Load) {
    let data = tempfile::tempdir().expect("data dir");
    let server = start_server(db, data.path());
    let addr = server.addr.clone();
    let credentials = setup(&addr);

    let authorized = format!("/Thingworx/Things/{THING}/Properties/{PROPERTY}");
    let variants = [
        Variant {
            name: "bare (no authentication)",
            path: format!("/bench/bare/Things/{THING}/Properties/{PROPERTY}"),
            header: None,
        },
        Variant {
            name: "appKey header",
            path: authorized.clone(),
            header: Some(("appKey", credentials.app_key.clone())),
        },
        Variant {
            name: "session cookie",
            path: authorized.clone(),
            header: Some(("Cookie", format!("JSESSIONID={}", credentials.session))),
        },
    ];

    // Every variant answers the same 200 body; the authorized route refuses a caller without
    // credentials.
    let bodies: Vec<String> = variants
        .iter()
        .map(|v| {
            let headers: Vec<(&str, String)> = v.header.iter().cloned().collect();
            let res = request(&addr, "GET", &v.path, &headers, None);
            assert_eq!(res.status, 200, "{}: {}", v.name, res.body);
            res.body
        })
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the variants answer differently: {bodies:?}"
    );
    let anonymous = request(&addr, "GET", &authorized, &[], None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    println!("{}: every variant answers {}", db.label, bodies[0]);

    for variant in &variants {
        wrk(&addr, variant, load, 2);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); variants.len()];
    let started = Instant::now();
    for round in 0..load.rounds {
        // The order turns each round so that no variant always follows the same one.
        for k in 0..variants.len() {
            let i = (k + usize::try_from(round).unwrap_or(0)) % variants.len();
            let run = wrk(&addr, &variants[i], load, load.seconds);
            println!(
                "{} round {}: {:<26} {:>9.0} req/s  p99 {:>7.2} ms  ({} requests)",
                db.label,
                round + 1,
                variants[i].name,
                run.requests_per_sec,
                run.p99_ms,
                run.requests
            );
            runs[i].push(run);
        }
    }
    println!(
        "\n{} ({} rounds of {} s, wrk -t{} -c{}, {:.0} s):",
        db.label,
        load.rounds,
        load.seconds,
        load.threads,
        load.connections,
        started.elapsed().as_secs_f64()
    );
    println!(
        "| variant | req/s (median) | req/s (range) | p99 ms (median) | p99 ms (range) | ratio to bare (per round) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let bare = &runs[0];
    for (variant, runs) in variants.iter().zip(&runs) {
        let rates: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
        let p99s: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
        let ratios: Vec<f64> = runs
            .iter()
            .zip(bare)
            .map(|(r, b)| r.requests_per_sec / b.requests_per_sec)
            .collect();
        let range = |v: &[f64], digits: usize| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.digits$}–{hi:.digits$}")
        };
        println!(
            "| {} | {:.0} | {} | {:.2} | {} | {:.2} ({}) |",
            variant.name,
            median(rates.clone()),
            range(&rates, 0),
            median(p99s.clone()),
            range(&p99s, 2),
            median(ratios.clone()),
            range(&ratios, 2)
        );
    }
    println!();
    drop(server);
}

fn main() {
    let load = Load {
        seconds: env_or("IRONWORX_BENCH_SECONDS", 10),
        rounds: env_or("IRONWORX_BENCH_ROUNDS", 3),
        connections: env_or("IRONWORX_BENCH_CONNECTIONS", 32),
        threads: env_or("IRONWORX_BENCH_THREADS", 2),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    bench(&BenchDb::sqlite(dir.path()), &load);
    match std::env::var("IRONWORX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(admin_url) => {
            let db = BenchDb::postgres(&runtime, &admin_url);
            let result = std::panic::catch_unwind(|| bench(&db, &load));
            db.drop_database(&runtime);
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
        None => println!("PostgreSQL skipped: IRONWORX_TEST_POSTGRES is not set"),
    }
}
