//! The server at scale: a model of 100,000 Things (10 effective properties each: a three-level
//! ThingTemplate chain, a ThingShape on the middle template, another on every Thing, and one
//! definition on the Thing itself; three stored values per Thing) against the same model with
//! 100 Things, on SQLite (and on PostgreSQL as well when `IRONWORX_TEST_POSTGRES` holds an
//! administrative URL; a database with a random name is created and dropped per model).
//!
//! The model is a generated single-file XML export (`ironworx_importer::xml_write`), imported
//! with `ironworx import --mode file` into a fresh data directory. Then, per model:
//!
//! - (i) start time: `ironworx serve` spawned to its `ironworx listening on http://` line
//!   (three starts, the median);
//! - (ii) the server's resident size (`VmRSS` of `/proc/<pid>/status`) once listening, and
//!   after a read of a property of every Thing (values are loaded per Thing on first read), by
//!   wrk with a Lua script walking the Thing names;
//! - (iii) p99 of the authorized read `GET /Thingworx/Things/<T>/Properties/<p>` (`appKey`
//!   header, a Thing picked at random per request), wrk `--latency`, the two models taking
//!   turns; the ratio of the large model's p99 to the small one's, per round, and its median.
//!
//! Goals: start ≤ 5 s, resident ≤ 400 MB, p99 ratio ≤ 1.5.
//!
//! Run: `cargo bench -p ironworx-server --bench scale`
//!
//! Settings (environment): `IRONWORX_SCALE_THINGS` (100000), `IRONWORX_SCALE_SMALL` (100),
//! `IRONWORX_BENCH_SECONDS` per wrk run (10), `IRONWORX_BENCH_ROUNDS` (3),
//! `IRONWORX_BENCH_CONNECTIONS` (16), `IRONWORX_BENCH_THREADS` (2).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, Effect, PermissionKind, PrincipalType};
use ironworx_importer::model::{
    Common, Entity, EntityRule, Export, Group, Kind, PropertyDefinition, PropertyValue, Thing,
    ThingShape, ThingTemplate,
};
use ironworx_importer::xml_write::{WriteOptions, write_single_file};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_ironworx");
const ADMIN: &str = "Administrator";
const ADMIN_PASSWORD: &str = "Scale-Admin-Password-7";
const READER: &str = "scalereader";
const READER_PASSWORD: &str = "Scale-Reader-Password-7";
/// The group the base template's instance rule lets read every property.
const GROUP: &str = "ScaleReaders";
const LISTENING: &str = "ironworx listening on http://";
const STARTUP: Duration = Duration::from_secs(300);
/// The property every read asks for: defined on the base template, stored on every Thing.
const PROPERTY: &str = "t0";
/// The templates, root first: each with the properties it defines and the shape it implements.
const TEMPLATES: [(&str, &[&str], Option<&str>); 3] = [
    ("ScaleBase", &["t0", "t1", "t2"], None),
    ("ScaleMid", &["t3", "t4"], Some("ScaleShapeA")),
    ("ScaleLeaf", &["t5"], None),
];
/// The shapes and their properties; every Thing implements `ScaleShapeB` itself.
const SHAPES: [(&str, &[&str]); 2] = [("ScaleShapeA", &["sa0", "sa1"]), ("ScaleShapeB", &["sb0"])];
/// The property every Thing defines itself.
const OWN: &str = "own0";
/// The properties whose values every Thing stores (one from a template, a shape, the Thing).
const STORED: [&str; 3] = ["t0", "sa0", OWN];
const EFFECTIVE: usize = 10;
const GOAL_START_SECONDS: f64 = 5.0;
const GOAL_RSS_MB: f64 = 400.0;
const GOAL_P99_RATIO: f64 = 1.5;

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

fn thing_name(i: u64) -> String {
    format!("Scale{i:06}")
}

// ------------------------------------------------------------------------------------------
// The model, as an export file.

fn entity(collection: Collection, name: &str, kind: Kind) -> Entity {
    Entity {
        collection,
        name: name.to_owned(),
        common: Common {
            description: "generated".into(),
            owner: Some(("User".into(), "Administrator".into())),
            last_modified_date: Some(1_700_000_000_000),
            ..Common::default()
        },
        rules: Vec::new(),
        configuration_tables: Vec::new(),
        kind,
        extra: Default::default(),
        origin: Default::default(),
    }
}

fn numbers(names: &[&str]) -> Vec<PropertyDefinition> {
    names
        .iter()
        .enumerate()
        .map(|(ordinal, name)| PropertyDefinition {
            name: (*name).to_owned(),
            base_type: "NUMBER".into(),
            ordinal: i32::try_from(ordinal).unwrap_or(0),
            ..PropertyDefinition::default()
        })
        .collect()
}

/// The model with `things` Things.
fn model(things: u64) -> Export {
    let mut entities = vec![entity(
        Collection::Groups,
        GROUP,
        Kind::Group(Group::default()),
    )];
    for (name, properties) in SHAPES {
        let mut shape = ThingShape::default();
        shape.definitions.properties = numbers(properties);
        entities.push(entity(
            Collection::ThingShapes,
            name,
            Kind::ThingShape(Box::new(shape)),
        ));
    }
    let mut base = "GenericThing";
    for (name, properties, shape) in TEMPLATES {
        let mut template = ThingTemplate {
            base_thing_template: base.to_owned(),
            implemented_shapes: shape.iter().map(|s| (*s).to_owned()).collect(),
            ..ThingTemplate::default()
        };
        template.definitions.properties = numbers(properties);
        let mut e = entity(
            Collection::ThingTemplates,
            name,
            Kind::ThingTemplate(Box::new(template)),
        );
        if base == "GenericThing" {
            // Every Thing of the chain: PropertyRead on every property for the group.
            let mut rule = Rule::any(
                PermissionKind::PropertyRead,
                PrincipalType::Group,
                GROUP,
                Effect::from_permitted(true),
            );
            rule.resource = "*".to_owned();
            e.rules.push(EntityRule {
                instance: true,
                rule,
            });
        }
        entities.push(e);
        base = name;
    }
    for i in 0..things {
        let mut thing = Thing {
            thing_template: base.to_owned(),
            enabled: true,
            implemented_shapes: vec![SHAPES[1].0.to_owned()],
            ..Thing::default()
        };
        thing.definitions.properties = numbers(&[OWN]);
        for (k, name) in STORED.iter().enumerate() {
            thing.values.push(PropertyValue {
                name: (*name).to_owned(),
                base_type: String::new(),
                value: json!(format!("{}.5", i + k as u64)),
                time: 1_700_000_000_000,
                quality: "GOOD".into(),
            });
        }
        entities.push(entity(
            Collection::Things,
            &thing_name(i),
            Kind::Thing(Box::new(thing)),
        ));
    }
    Export {
        header: ironworx_importer::extract::header(true),
        entities,
        ..Export::default()
    }
}

// ------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for the setup requests (one connection per request).

struct Response {
    status: u16,
    bytes: Vec<u8>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
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
// The database.

/// A database for one model: a SQLite file, or a PostgreSQL database created for this run and
/// dropped with this value.
struct BenchDb {
    label: &'static str,
    url: String,
    postgres: Option<(String, String)>,
}

impl BenchDb {
    fn sqlite(path: &Path) -> BenchDb {
        BenchDb {
            label: "SQLite",
            url: format!("sqlite://{}?mode=rwc", path.display()),
            postgres: None,
        }
    }

    fn postgres(admin_url: &str) -> BenchDb {
        let name = format!("ironworx_scale_{}", uuid::Uuid::new_v4().simple());
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
            .expect("connect to IRONWORX_TEST_POSTGRES");
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

/// The server process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    /// Spawn to the listening line.
    start: Duration,
}

impl Server {
    /// `field` (`VmRSS:`, `VmHWM:`) of the process's status, in MB.
    fn status_mb(&self, field: &str) -> f64 {
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

/// `ironworx` with the database and data directory of `db`, and no other setting from the
/// environment.
fn ironworx(db: &BenchDb, data_dir: &Path) -> Command {
    let mut command = Command::new(SERVER);
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

fn start_server(db: &BenchDb, data_dir: &Path) -> Server {
    let mut command = ironworx(db, data_dir);
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

/// `ironworx import --mode file <path>`; seconds.
fn import(db: &BenchDb, data_dir: &Path, path: &Path) -> f64 {
    let started = Instant::now();
    let out = ironworx(db, data_dir)
        .args(["import", "--mode", "file"])
        .arg(path)
        .output()
        .expect("run ironworx import");
    let seconds = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ironworx import failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("dropped principal") && !text.contains("warning:"),
        "the import dropped or warned: {text}"
    );
    seconds
}

/// The reader's application key; checks that the reader may read and that a Thing has every
/// effective property.
fn setup(addr: &str) -> String {
    let entity_services = "/Thingworx/Resources/EntityServices/Services";
    admin_post(
        addr,
        &format!("{entity_services}/CreateUser"),
        json!({"name": READER, "password": READER_PASSWORD}),
    );
    admin_post(
        addr,
        &format!("/Thingworx/Groups/{GROUP}/Services/AddMember"),
        json!({"member": READER, "type": "User"}),
    );
    let key = admin_post(
        addr,
        &format!("{entity_services}/CreateApplicationKey"),
        json!({"name": "ScaleKey", "user": READER}),
    );
    let app_key = key["rows"][0]["result"]
        .as_str()
        .expect("the key id")
        .to_owned();

    let first = thing_name(0);
    let all = request(
        addr,
        "GET",
        &format!("/Thingworx/Things/{first}/Properties"),
        &[("appKey", app_key.clone())],
        None,
    );
    assert_eq!(all.status, 200, "read every property: {}", all.body);
    let row = &all.json()["rows"][0];
    let mut names: Vec<&str> = TEMPLATES
        .iter()
        .flat_map(|(_, properties, _)| properties.iter().copied())
        .chain(
            SHAPES
                .iter()
                .flat_map(|(_, properties)| properties.iter().copied()),
        )
        .chain([OWN])
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EFFECTIVE);
    for name in &names {
        assert!(
            row.get(*name).is_some(),
            "{first} lacks {name}: {}",
            all.body
        );
    }
    for (k, name) in STORED.iter().enumerate() {
        assert_eq!(
            row[*name].as_f64(),
            Some(k as f64 + 0.5),
            "{first}.{name}: {}",
            all.body
        );
    }
    app_key
}

// ------------------------------------------------------------------------------------------
// The runs.

/// What one wrk run reports.
#[derive(Clone, Copy)]
struct Run {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs wrk with `script` against `addr` as the key's holder; its report and its whole output.
fn wrk(addr: &str, app_key: &str, script: &Path, load: &Load, seconds: u64) -> (Run, String) {
    let out = Command::new("wrk")
        .args([
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
            "-H",
            &format!("appKey: {app_key}"),
            "-s",
        ])
        .arg(script)
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run wrk (Debian package `wrk`)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "not every response was 2xx:\n{text}"
    );
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        panic!("{line}\n{text}");
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no '{prefix}' in wrk's output:\n{text}"))
    };
    let run = Run {
        requests_per_sec: field("Requests/sec:").parse().expect("requests/s"),
        p50_ms: duration_ms(field("50%")),
        p99_ms: duration_ms(field("99%")),
    };
    (run, text)
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

/// The Lua lines that number wrk's threads (`id`, from 0) and keep them for `done`.
const THREAD_IDS: &str = r#"local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
"#;

/// A wrk script reading `PROPERTY` of Thing `start + id + threads * n` (modulo `total`) as
/// its `n`-th request, and printing the fewest requests a thread sent.
fn walk_script(start: u64, total: u64, threads: u64) -> String {
    format!(
        r#"{THREAD_IDS}
function init(args)
  sent = 0
end
function request()
  local i = ({start} + id + {threads} * sent) % {total}
  sent = sent + 1
  return wrk.format(nil, string.format("/Thingworx/Things/Scale%06d/Properties/{PROPERTY}", i))
end
function done(summary, latency, requests)
  local least = -1
  for _, thread in ipairs(threads) do
    local sent = thread:get("sent")
    if least < 0 or sent < least then
      least = sent
    end
  end
  io.write(string.format("fewest sent by a thread: %d\n", least))
end
"#
    )
}

/// A wrk script reading `PROPERTY` of a Thing picked at random among `total` per request.
fn random_script(total: u64) -> String {
    format!(
        r#"{THREAD_IDS}
function init(args)
  math.randomseed(7919 + id)
end
function request()
  local i = math.random(0, {total} - 1)
  return wrk.format(nil, string.format("/Thingworx/Things/Scale%06d/Properties/{PROPERTY}", i))
end
"#
    )
}

/// Reads `PROPERTY` of every Thing at least once: wrk walks the names in runs of at most
/// `IRONWORX_BENCH_SECONDS`, each run going on where the last one is sure to have been
/// answered. Seconds.
fn read_every_thing(addr: &str, app_key: &str, total: u64, load: &Load, dir: &Path) -> f64 {
    let script = dir.join("walk.lua");
    let per_thread = load.connections.div_ceil(load.threads);
    let started = Instant::now();
    let mut answered = 0;
    while answered < total {
        std::fs::write(&script, walk_script(answered, total, load.threads)).expect("script");
        let (_, text) = wrk(addr, app_key, &script, load, load.seconds);
        let fewest: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("fewest sent by a thread:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("the walk reported nothing:\n{text}"));
        // A connection has at most one request outstanding, so every request a thread sent
        // but its last `per_thread` was answered.
        answered += load.threads * fewest.saturating_sub(per_thread);
    }
    started.elapsed().as_secs_f64()
}

/// One model, imported and served.
struct Model {
    things: u64,
    import_seconds: f64,
    starts: Vec<f64>,
    server: Server,
    app_key: String,
    rss_listening: f64,
    rss_read_all: f64,
    read_all_seconds: f64,
    _data: tempfile::TempDir,
}

/// Generates the model of `things` Things, imports it, and starts the server three times
/// (the last one keeps serving).
fn prepare(db: &BenchDb, things: u64, load: &Load, dir: &Path) -> Model {
    let data = tempfile::tempdir_in(dir).expect("data dir");
    let file = data.path().join("Entities.xml");
    let started = Instant::now();
    write_single_file(
        &model(things),
        &WriteOptions {
            blank_secrets: true,
        },
        std::io::BufWriter::new(std::fs::File::create(&file).expect("create the export")),
    )
    .expect("write the export");
    println!(
        "{}: {things} Things: export of {:.1} MB written in {:.1} s",
        db.label,
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let import_seconds = import(db, data.path(), &file);
    println!(
        "{}: {things} Things: imported in {import_seconds:.1} s",
        db.label
    );
    let mut starts = Vec::new();
    let mut server = None;
    for _ in 0..3 {
        drop(server.take());
        let started = start_server(db, data.path());
        starts.push(started.start.as_secs_f64());
        server = Some(started);
    }
    let server = server.expect("a server");
    let rss_listening = server.status_mb("VmRSS:");
    let app_key = setup(&server.addr);
    let read_all_seconds = read_every_thing(&server.addr, &app_key, things, load, data.path());
    let rss_read_all = server.status_mb("VmRSS:");
    println!(
        "{}: {things} Things: starts {:?} s; resident {rss_listening:.0} MB listening, {rss_read_all:.0} MB once every Thing was read ({read_all_seconds:.0} s)",
        db.label, starts
    );
    Model {
        things,
        import_seconds,
        starts,
        server,
        app_key,
        rss_listening,
        rss_read_all,
        read_all_seconds,
        _data: data,
    }
}

fn bench(db_of: &mut dyn FnMut() -> BenchDb, load: &Load, dir: &Path) {
    let large = env_or("IRONWORX_SCALE_THINGS", 100_000);
    let small = env_or("IRONWORX_SCALE_SMALL", 100);
    let large_db = db_of();
    let small_db = db_of();
    let label = large_db.label;
    let models = [
        prepare(&large_db, large, load, dir),
        prepare(&small_db, small, load, dir),
    ];
    let scripts: Vec<PathBuf> = models
        .iter()
        .map(|m| {
            let path = dir.join(format!("random-{}.lua", m.things));
            std::fs::write(&path, random_script(m.things)).expect("script");
            path
        })
        .collect();
    for (model, script) in models.iter().zip(&scripts) {
        wrk(&model.server.addr, &model.app_key, script, load, 2);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); models.len()];
    for round in 0..load.rounds {
        // The models take turns; the order turns each round.
        for k in 0..models.len() {
            let i = (k + usize::try_from(round).unwrap_or(0)) % models.len();
            let (run, _) = wrk(
                &models[i].server.addr,
                &models[i].app_key,
                &scripts[i],
                load,
                load.seconds,
            );
            println!(
                "{label} round {}: {:>6} Things {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
                round + 1,
                models[i].things,
                run.requests_per_sec,
                run.p50_ms,
                run.p99_ms
            );
            runs[i].push(run);
        }
    }

    println!(
        "\n{label} (wrk -t{} -c{}, {} rounds of {} s, random Things):",
        load.threads, load.connections, load.rounds, load.seconds
    );
    println!(
        "| Things | import s | (i) start s, median (3 starts) | resident MB listening | (ii) resident MB after reading every Thing (s) | resident MB at the end | peak MB | req/s | p50 ms | (iii) p99 ms (range) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (model, runs) in models.iter().zip(&runs) {
        let p99s: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
        println!(
            "| {} | {:.1} | {:.2} ({}) | {:.0} | {:.0} ({:.0}) | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} ({}) |",
            model.things,
            model.import_seconds,
            median(model.starts.clone()),
            range(&model.starts, 2),
            model.rss_listening,
            model.rss_read_all,
            model.read_all_seconds,
            model.server.status_mb("VmRSS:"),
            model.server.status_mb("VmHWM:"),
            median(runs.iter().map(|r| r.requests_per_sec).collect()),
            median(runs.iter().map(|r| r.p50_ms).collect()),
            median(p99s.clone()),
            range(&p99s, 2)
        );
    }
    let ratios: Vec<f64> = runs[0]
        .iter()
        .zip(&runs[1])
        .map(|(l, s)| l.p99_ms / s.p99_ms)
        .collect();
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let start = median(models[0].starts.clone());
    let rss = models[0].rss_read_all;
    let ratio = median(ratios.clone());
    println!(
        "\n{label}, {large} Things against the goals:\n\
         - (i) start {start:.2} s (goal ≤ {GOAL_START_SECONDS} s): {}\n\
         - (ii) resident after reading every Thing {rss:.0} MB (goal ≤ {GOAL_RSS_MB} MB): {}\n\
         - (iii) p99 {large} Things ÷ {small} Things {ratio:.2} (per round {}; goal ≤ {GOAL_P99_RATIO}): {}\n",
        verdict(start <= GOAL_START_SECONDS),
        verdict(rss <= GOAL_RSS_MB),
        range(&ratios, 2),
        verdict(ratio <= GOAL_P99_RATIO),
    );
    drop(models);
    drop(large_db);
    drop(small_db);
}

fn main() {
    let load = Load {
        seconds: env_or("IRONWORX_BENCH_SECONDS", 10),
        rounds: env_or("IRONWORX_BENCH_ROUNDS", 3),
        connections: env_or("IRONWORX_BENCH_CONNECTIONS", 16),
        threads: env_or("IRONWORX_BENCH_THREADS", 2),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    bench(
        &mut || {
            n += 1;
            BenchDb::sqlite(&dir.path().join(format!("scale-{n}.db")))
        },
        &load,
        dir.path(),
    );
    match std::env::var("IRONWORX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(admin_url) => bench(&mut || BenchDb::postgres(&admin_url), &load, dir.path()),
        None => println!("PostgreSQL skipped: IRONWORX_TEST_POSTGRES is not set"),
    }
}
