//! What the bench binaries that drive a real server share: a throw-away database (a SQLite
//! file, or a PostgreSQL database created for the run and dropped with its value), the
//! `ironworx` binary spawned as a child process and waited for up to its listening line, a
//! minimal HTTP/1.1 client (one connection per request) with Basic credentials and the form
//! login, the settings read from the environment, and the figures the reports print.
//! Included by each bench binary with `#[path]`; each uses a part of it.
#![allow(dead_code, reason = "each bench binary uses a part of the harness")]

pub mod model;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::Value;

/// The `ironworx` binary of this build.
pub const SERVER: &str = env!("CARGO_BIN_EXE_ironworx");
/// The administrator, bootstrapped with [`ADMIN_PASSWORD`].
pub const ADMIN: &str = "Administrator";
/// The password every bench server's administrator is bootstrapped with.
pub const ADMIN_PASSWORD: &str = "Bench-Admin-Password-7";
/// The line `ironworx serve` prints once it accepts connections.
const LISTENING: &str = "ironworx listening on http://";
/// The longest a server may take to its listening line (a large model loads first).
const STARTUP: Duration = Duration::from_secs(300);
/// The environment variable holding an administrative PostgreSQL URL.
pub const POSTGRES_ENV: &str = "IRONWORX_TEST_POSTGRES";

/// The positive number in the environment variable `name`, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// The administrative PostgreSQL URL of [`POSTGRES_ENV`], when set; says so when it is not.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty());
    if url.is_none() {
        println!("PostgreSQL skipped: {POSTGRES_ENV} is not set");
    }
    url
}

/// What wrk is run with: `IRONWORX_BENCH_SECONDS` per run (10), `IRONWORX_BENCH_ROUNDS` (3),
/// `IRONWORX_BENCH_CONNECTIONS` (16), `IRONWORX_BENCH_THREADS` (2).
pub struct Load {
    /// Seconds per run.
    pub seconds: u64,
    /// Rounds of runs.
    pub rounds: u64,
    /// Open connections.
    pub connections: u64,
    /// wrk threads.
    pub threads: u64,
}

impl Load {
    /// The load the environment asks for.
    pub fn from_env() -> Load {
        Load {
            seconds: env_or("IRONWORX_BENCH_SECONDS", 10),
            rounds: env_or("IRONWORX_BENCH_ROUNDS", 3),
            connections: env_or("IRONWORX_BENCH_CONNECTIONS", 16),
            threads: env_or("IRONWORX_BENCH_THREADS", 2),
        }
    }
}

// ------------------------------------------------------------------------------------------
// The HTTP client.

/// A whole response.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub bytes: Vec<u8>,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The value of cookie `name` set by this response.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, v)| k.trim() == name && !v.is_empty())
            .map(|(_, v)| v.trim().to_owned())
    }
}

/// Sends one request on a connection of its own and reads the whole response.
pub fn request(
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
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
    {
        head.push_str("Accept: application/json\r\n");
    }
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

/// The `Authorization` header of HTTP Basic.
pub fn basic(user: &str, password: &str) -> (&'static str, String) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("Authorization", format!("Basic {token}"))
}

/// POSTs `body` as the administrator and requires a 200; the answer.
pub fn admin_post(addr: &str, path: &str, body: Value) -> Value {
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

/// A session opened by the form login of an organization's page, as a browser opens it.
pub struct Login {
    /// The session cookie's value.
    pub session: String,
    /// The CSRF token (the `CSRFID` cookie) the console's forms carry.
    pub csrf: String,
}

impl Login {
    /// The `Cookie` header of requests in this session.
    pub fn cookie(&self) -> (&'static str, String) {
        (
            "Cookie",
            format!("JSESSIONID={}; CSRFID={}", self.session, self.csrf),
        )
    }
}

/// Logs `user` in through the login page of `organization`: the page's CSRF cookie, then the
/// form posted with it.
pub fn form_login(addr: &str, organization: &str, user: &str, password: &str) -> Login {
    let page = request(
        addr,
        "GET",
        &format!("/Thingworx/FormLogin/{organization}"),
        &[],
        None,
    );
    assert_eq!(page.status, 200, "login page: {}", page.body);
    let csrf = page.cookie("CSRFID").expect("a CSRF cookie");
    let form = format!(
        "thingworx-form-userid={user}&thingworx-form-password={password}\
         &OrganizationName={organization}&x-csrf-id={csrf}"
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
        "form login of {user}: {} {}",
        login.status,
        login.body
    );
    let session = login.cookie("JSESSIONID").expect("a session cookie");
    Login { session, csrf }
}

// ------------------------------------------------------------------------------------------
// The database.

/// A throw-away database: a SQLite file, or a PostgreSQL database created for this run and
/// dropped with this value.
pub struct BenchDb {
    /// `SQLite` or `PostgreSQL`.
    pub label: &'static str,
    /// The URL the server is given.
    pub url: String,
    postgres: Option<(String, String)>,
}

impl BenchDb {
    /// The SQLite file `path` (created by the server).
    pub fn sqlite(path: &Path) -> BenchDb {
        BenchDb {
            label: "SQLite",
            url: format!("sqlite://{}?mode=rwc", path.display()),
            postgres: None,
        }
    }

    /// A new database with a random name, through the administrative URL `admin_url`.
    pub fn postgres(admin_url: &str) -> BenchDb {
        let name = format!("ironworx_bench_{}", uuid::Uuid::new_v4().simple());
        admin_execute(admin_url, &format!("CREATE DATABASE \"{name}\""));
        BenchDb {
            label: "PostgreSQL",
            url: with_database(admin_url, &name),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            admin_execute(
                admin_url,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
        }
    }
}

fn admin_execute(admin_url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut options = ConnectOptions::new(admin_url);
        options.max_connections(1).sqlx_logging(false);
        let admin = Database::connect(options)
            .await
            .unwrap_or_else(|e| panic!("connect to {POSTGRES_ENV}: {e}"));
        admin.execute_unprepared(sql).await.expect(sql);
        admin.close().await.ok();
    });
}

/// `url` with its database name replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map(|i| i + 3).expect("a URL");
    let rest = &url[start..];
    let (location, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = &location[..location.find('/').unwrap_or(location.len())];
    format!("{}{authority}/{name}{query}", &url[..start])
}

// ------------------------------------------------------------------------------------------
// The server.

/// `program` (an `ironworx` binary) on the database `db` and the data directory `data_dir`,
/// with the administrator's password and no other setting from the environment.
pub fn ironworx(program: &Path, db: &BenchDb, data_dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--database-url", &db.url])
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IRONWORX_") {
            command.env_remove(key);
        }
    }
    command
        .env("IRONWORX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn");
    command
}

/// A server process; killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens (`127.0.0.1:<port>`).
    pub addr: String,
    /// From the spawn to the listening line.
    pub start: Duration,
}

impl Server {
    /// Spawns `program serve` on a free port of loopback and waits for its listening line.
    pub fn start(program: &Path, db: &BenchDb, data_dir: &Path) -> Server {
        let mut command = ironworx(program, db, data_dir);
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let spawned = Instant::now();
        let mut child = command.spawn().expect("start the server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    tx.send((addr.trim().to_owned(), spawned.elapsed())).ok();
                }
            }
        });
        let (addr, start) = rx
            .recv_timeout(STARTUP)
            .expect("the server did not announce its address");
        Server { child, addr, start }
    }

    /// `field` (`VmRSS:`, `VmHWM:`) of the process's status, in MB.
    pub fn status_mb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the server's status"));
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

// ------------------------------------------------------------------------------------------
// Figures.

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `lo–hi` of `values`, with `digits` decimals.
pub fn range(values: &[f64], digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.digits$}–{hi:.digits$}")
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.01s`, `1.00m`) in milliseconds.
pub fn duration_ms(text: &str) -> f64 {
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
