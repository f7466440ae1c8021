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

#[path = "harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use harness::model::entity;
use harness::{
    BenchDb, Load, SERVER, Server, admin_post, duration_ms, env_or, median, range, request,
};
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, Effect, PermissionKind, PrincipalType};
use ironworx_importer::model::{
    EntityRule, Export, Group, Kind, PropertyDefinition, PropertyValue, Thing, ThingShape,
    ThingTemplate,
};
use serde_json::json;

const READER: &str = "scalereader";
const READER_PASSWORD: &str = "Scale-Reader-Password-7";
/// The group the base template's instance rule lets read every property.
const GROUP: &str = "ScaleReaders";
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

fn thing_name(i: u64) -> String {
    format!("Scale{i:06}")
}

// ------------------------------------------------------------------------------------------
// The model, as an export file.

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
    harness::model::export(entities)
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
    let import_seconds =
        harness::model::load(db, data.path(), &model(things), &format!("{things} Things"));
    let mut starts = Vec::new();
    let mut server = None;
    for _ in 0..3 {
        drop(server.take());
        let started = Server::start(Path::new(SERVER), db, data.path());
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
    let load = Load::from_env();
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
    if let Some(admin_url) = harness::postgres_url() {
        bench(&mut || BenchDb::postgres(&admin_url), &load, dir.path());
    }
}
