//! Import of a generated single-file XML export (100k Things by default), side by side in one
//! run on SQLite (and on PostgreSQL when `IRONWORX_TEST_POSTGRES` names an administrative URL):
//! (a) a bare quick-xml parse of the same file (events and every attribute unescaped);
//! (b) a bare batched insert of the same rows the import writes (entities, things, rules,
//!     property values; multi-row statements in one transaction);
//! (c) the product import of the file as `ironworx import` runs it: two reading passes, plan,
//!     apply (one transaction, index invalidation);
//! (d) for comparison, the one-pass import of the file read whole.
//! Then, on the database (c) wrote, what a refresh of the authorization index costs: (e) every
//! fact read, (f) turned into facts, (g) the index built; and (h) the refresh after one rule
//! changed, which reads only that entity's rules and patches them into the index. Last, (i) the
//! same file through `POST /Thingworx/Importer` on the server binary (SQLite), uploaded by curl,
//! with the server process's peak memory.
//! Reports seconds, the ratios c / (a + b) and d / (a + b), and the peak memory of (c) and (d)
//! each run alone in a child process: its `VmHWM`, reset (`/proc/self/clear_refs`) once the
//! database is migrated and bootstrapped, so that the peak is the import's.
//!
//! Run: `cargo bench -p ironworx-server --bench import` (`IRONWORX_BENCH_THINGS=N` to resize)

#[path = "harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use harness::model::entity;
use ironworx_entity::queries::bulk::insert_all;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::schema::{entities, entity_permissions, property_values, things};
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType};
use ironworx_importer::model::{
    EntityRule, Export, Group, Kind, Member, PropertyDefinition, PropertyValue, Thing,
    ThingTemplate,
};
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::xml_write::{WriteOptions, write_single_file};
use ironworx_importer::{Limits, source};
use ironworx_server::authz::AuthzIndex;
use ironworx_server::live_index::{Security, facts_from_rows, read_snapshot};
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, DatabaseConnection, TransactionTrait};
use serde_json::json;

const TEMPLATES: usize = 100;
const GROUPS: usize = 50;
const VALUES: usize = 5;

fn rule(
    kind: PermissionKind,
    resource: &str,
    t: PrincipalType,
    name: &str,
    allow: bool,
) -> EntityRule {
    let mut rule = Rule::any(kind, t, name, Effect::from_permitted(allow));
    rule.resource = resource.to_owned();
    EntityRule {
        instance: false,
        rule,
    }
}

/// The generated model: groups, templates with property definitions, Things with rules and
/// values.
fn model(things_count: usize) -> Export {
    let mut entities = Vec::new();
    for g in 0..GROUPS {
        entities.push(entity(
            Collection::Groups,
            &format!("Group{g}"),
            Kind::Group(Group {
                members: vec![Member {
                    name: "Administrator".into(),
                    member_type: MemberType::User,
                }],
                ..Group::default()
            }),
        ));
    }
    for t in 0..TEMPLATES {
        let mut template = ThingTemplate {
            base_thing_template: "GenericThing".into(),
            ..ThingTemplate::default()
        };
        for p in 0..VALUES {
            template.definitions.properties.push(PropertyDefinition {
                name: format!("p{p}"),
                base_type: "NUMBER".into(),
                ordinal: p as i32,
                ..PropertyDefinition::default()
            });
        }
        entities.push(entity(
            Collection::ThingTemplates,
            &format!("Template{t}"),
            Kind::ThingTemplate(Box::new(template)),
        ));
    }
    for i in 0..things_count {
        let mut thing = Thing {
            thing_template: format!("Template{}", i % TEMPLATES),
            enabled: true,
            ..Thing::default()
        };
        for p in 0..VALUES {
            thing.values.push(PropertyValue {
                name: format!("p{p}"),
                base_type: String::new(),
                value: json!(format!("{}.5", i + p)),
                time: 1_700_000_000_000,
                quality: "GOOD".into(),
            });
        }
        let mut e = entity(
            Collection::Things,
            &format!("Thing{i:07}"),
            Kind::Thing(Box::new(thing)),
        );
        let group = format!("Group{}", i % GROUPS);
        e.rules = vec![
            rule(
                PermissionKind::PropertyRead,
                "*",
                PrincipalType::Group,
                &group,
                true,
            ),
            rule(
                PermissionKind::ServiceInvoke,
                "Reset",
                PrincipalType::Group,
                &group,
                false,
            ),
            rule(
                PermissionKind::Visibility,
                "*",
                PrincipalType::Organization,
                "Everyone",
                true,
            ),
        ];
        entities.push(e);
    }
    harness::model::export(entities)
}

/// (a): quick-xml events with every attribute unescaped.
fn bare_parse(path: &Path) -> usize {
    let file = std::fs::File::open(path).expect("open");
    let mut reader =
        quick_xml::Reader::from_reader(std::io::BufReader::with_capacity(1 << 16, file));
    let mut buf = Vec::new();
    let mut attributes = 0usize;
    loop {
        match reader.read_event_into(&mut buf).expect("xml") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                for a in e.attributes() {
                    let a = a.expect("attribute");
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("value");
                    attributes += value.len();
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    attributes
}

/// (b): the same rows in multi-row statements, one transaction.
async fn bare_insert(db: &DatabaseConnection, export: &Export) {
    let txn = db.begin().await.expect("begin");
    let rows: Vec<entities::Model> = export
        .entities
        .iter()
        .filter(|e| e.collection == Collection::Things)
        .map(|e| entities::Model {
            id: 0,
            collection: "Things".into(),
            name: e.name.clone(),
            description: e.common.description.clone(),
            documentation_content: String::new(),
            tags: String::new(),
            project_name: String::new(),
            owner_id: None,
            home_mashup: String::new(),
            avatar: None,
            aspects: None,
            content: None,
            is_system: false,
            created_at: 0,
            last_modified_date: 0,
        })
        .collect();
    let ids = ironworx_entity::queries::bulk::insert_entities(&txn, Collection::Things, rows)
        .await
        .expect("insert entities");
    let mut thing_rows = Vec::new();
    let mut rule_rows = Vec::new();
    let mut value_rows = Vec::new();
    for e in export
        .entities
        .iter()
        .filter(|e| e.collection == Collection::Things)
    {
        let id = ids[&e.name];
        let Kind::Thing(t) = &e.kind else { continue };
        thing_rows.push(things::ActiveModel {
            entity_id: Set(id),
            thing_template: Set(t.thing_template.clone()),
            enabled: Set(true),
            published: Set(false),
            identifier: Set(String::new()),
            value_stream: Set(String::new()),
            inherited_value_stream: Set(String::new()),
            thing_package: Set(String::new()),
            effective_thing_package: Set(String::new()),
        });
        for r in &e.rules {
            rule_rows.push(entity_permissions::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                instance: Set(false),
                kind: Set(r.rule.kind.as_str().into()),
                resource: Set(r.rule.resource.clone()),
                principal_type: Set(r.rule.principal_type.as_str().into()),
                principal_name: Set(r.rule.principal_name.clone()),
                allow: Set(r.rule.allow),
            });
        }
        for v in &t.values {
            value_rows.push(property_values::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                name: Set(v.name.clone()),
                base_type: Set("NUMBER".into()),
                value: Set(Some(json!(1.5))),
                value_time: Set(v.time),
                quality: Set(v.quality.clone()),
            });
        }
    }
    insert_all(&txn, thing_rows).await.expect("things");
    insert_all(&txn, rule_rows).await.expect("rules");
    insert_all(&txn, value_rows).await.expect("values");
    txn.commit().await.expect("commit");
}

const OPTIONS: PlanOptions = PlanOptions {
    mode: Mode::File,
    strict: true,
};

/// (c): the product import of the file (two passes).
async fn product_import(db: &DatabaseConnection, path: &Path) {
    let report = ironworx_server::transfer::import_path(
        db,
        path,
        &Limits::default(),
        OPTIONS,
        &ironworx_importer::Caller::full("Administrator"),
    )
    .await
    .expect("import");
    assert_written(&report);
}

/// Every generated entity was written, every rule and value with it.
fn assert_written(report: &ironworx_importer::apply::Report) {
    let things = things_count();
    assert_eq!(report.created.get(&Collection::Things), Some(&things));
    assert_eq!(report.entities(), things + GROUPS + TEMPLATES);
    assert_eq!(report.entity_rules, 3 * things);
    assert!(report.dropped.is_empty());
}

fn things_count() -> usize {
    std::env::var("IRONWORX_BENCH_THINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// The one-pass import of the file read whole (memory comparison only).
async fn one_pass_import(db: &DatabaseConnection, path: &Path) {
    let export = source::read_path(path, &Limits::default()).expect("read");
    let report = ironworx_server::transfer::import(
        db,
        export,
        OPTIONS,
        &ironworx_importer::Caller::full("Administrator"),
    )
    .await
    .expect("import");
    assert_written(&report);
}

async fn fresh(url: &str, dir: &Path) -> DatabaseConnection {
    let db = ironworx_server::db::connect(url).await.expect("connect");
    ironworx_server::db::migrate(&db).await.expect("migrate");
    ironworx_server::bootstrap::bootstrap(&db, Some("bench-admin-password-1"), dir)
        .await
        .expect("bootstrap");
    db
}

/// Databases to measure: a new SQLite file each time; a new PostgreSQL database each time.
struct Backend {
    name: &'static str,
    admin: Option<String>,
}

impl Backend {
    async fn create(&self, dir: &Path, tag: &str) -> (String, Option<String>) {
        match &self.admin {
            None => (
                ironworx_server::config::sqlite_url(&dir.join(format!("{tag}.db"))).expect("url"),
                None,
            ),
            Some(admin) => {
                let name = format!("ironworx_bench_{}", uuid::Uuid::new_v4().simple());
                let conn = sea_orm::Database::connect(admin.as_str())
                    .await
                    .expect("admin");
                sea_orm::ConnectionTrait::execute_unprepared(
                    &conn,
                    &format!("CREATE DATABASE \"{name}\""),
                )
                .await
                .expect("create database");
                conn.close().await.ok();
                let (base, _) = admin.rsplit_once('/').expect("admin URL with a database");
                (format!("{base}/{name}"), Some(name))
            }
        }
    }

    async fn drop(&self, name: Option<String>) {
        if let (Some(admin), Some(name)) = (&self.admin, name) {
            let conn = sea_orm::Database::connect(admin.as_str())
                .await
                .expect("admin");
            sea_orm::ConnectionTrait::execute_unprepared(
                &conn,
                &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
            )
            .await
            .ok();
            conn.close().await.ok();
        }
    }
}

/// A `/proc/self/status` figure in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> u64 {
    process_kib("/proc/self/status", field)
}

/// A `kB` field of a process's status file.
fn process_kib(status: &str, field: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resets the peak to the current resident size (Linux 4.0+); whether it could.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak memory of one import run alone in a child process and its resident size before
/// the import, in MiB.
fn child_peak(program: &str, url: &str, path: &Path, pass: &str) -> (f64, f64) {
    let out = std::process::Command::new(program)
        .args([
            "--import-only",
            url,
            path.to_str().expect("utf-8 path"),
            pass,
        ])
        .output()
        .expect("child import");
    assert!(
        out.status.success(),
        "child import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    if field("reset ") == 0 {
        println!("(the peak could not be reset: it includes the migration and bootstrap)");
    }
    (
        field("peak_kib ") as f64 / 1024.0,
        field("before_kib ") as f64 / 1024.0,
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The child mode: one import alone, then its peak memory on stdout.
    if let Some(pos) = args.iter().position(|a| a == "--import-only") {
        let url = &args[pos + 1];
        let path = PathBuf::from(&args[pos + 2]);
        let dir = tempfile::tempdir().expect("tempdir");
        let db = fresh(url, dir.path()).await;
        let reset = reset_peak();
        println!("reset {}", u8::from(reset));
        println!("before_kib {}", status_kib("VmRSS:"));
        if args.get(pos + 3).map(String::as_str) == Some("one-pass") {
            one_pass_import(&db, &path).await;
        } else {
            product_import(&db, &path).await;
        }
        println!("peak_kib {}", status_kib("VmHWM:"));
        return;
    }
    let things = things_count();
    let dir = tempfile::tempdir().expect("tempdir");
    let export = model(things);
    let path = dir.path().join("Entities.xml");
    let started = Instant::now();
    write_single_file(
        &export,
        &WriteOptions {
            blank_secrets: true,
        },
        std::io::BufWriter::new(std::fs::File::create(&path).expect("create")),
    )
    .expect("write");
    let size = std::fs::metadata(&path).expect("size").len();
    println!(
        "generated {things} Things ({:.1} MB) in {:.2} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let mut backends = vec![Backend {
        name: "SQLite",
        admin: None,
    }];
    if let Some(admin) = std::env::var("IRONWORX_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
    {
        backends.push(Backend {
            name: "PostgreSQL",
            admin: Some(admin),
        });
    } else {
        println!("PostgreSQL skipped: IRONWORX_TEST_POSTGRES is not set");
    }
    println!(
        "| backend | (a) parse s | (b) bare insert s | (c) import s | c / (a+b) | import peak RSS MB | (d) one-pass s | d / (a+b) | one-pass peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    let mut refreshes = Vec::new();
    for backend in &backends {
        let t = Instant::now();
        let parsed = bare_parse(&path);
        let parse = t.elapsed().as_secs_f64();
        assert!(parsed > 0);

        let (url, name) = backend.create(dir.path(), "bare").await;
        let db = fresh(&url, dir.path()).await;
        let t = Instant::now();
        bare_insert(&db, &export).await;
        let insert = t.elapsed().as_secs_f64();
        db.close().await.ok();
        backend.drop(name).await;

        let (url, name) = backend.create(dir.path(), "product").await;
        let db = fresh(&url, dir.path()).await;
        let t = Instant::now();
        product_import(&db, &path).await;
        let import = t.elapsed().as_secs_f64();
        refreshes.push(refresh_cost(backend.name, &db).await);
        db.close().await.ok();
        backend.drop(name).await;

        let (url, name) = backend.create(dir.path(), "one-pass").await;
        let db = fresh(&url, dir.path()).await;
        let t = Instant::now();
        one_pass_import(&db, &path).await;
        let one_pass = t.elapsed().as_secs_f64();
        db.close().await.ok();
        backend.drop(name).await;

        let mut peaks = Vec::new();
        let mut before = 0.0f64;
        for pass in ["two-pass", "one-pass"] {
            let (url, name) = backend.create(dir.path(), &format!("child-{pass}")).await;
            let (peak, resident) = child_peak(&args[0], &url, &path, pass);
            peaks.push(peak);
            before = before.max(resident);
            backend.drop(name).await;
        }
        println!(
            "| {} | {parse:.2} | {insert:.2} | {import:.2} | {:.2} | {:.0} | {one_pass:.2} | {:.2} | {:.0} |",
            backend.name,
            import / (parse + insert),
            peaks[0],
            one_pass / (parse + insert),
            peaks[1]
        );
        notes.push(format!(
            "{}: resident before the import (migrated, bootstrapped) at most {before:.0} MB",
            backend.name
        ));
    }
    for note in notes {
        println!("{note}");
    }
    let (seconds, before, peak) = http_import(&path);
    println!(
        "(i) HTTP import (POST /Thingworx/Importer, the server binary on SQLite, curl uploading): {seconds:.2} s; server resident once listening {before:.0} MB, peak {peak:.0} MB"
    );
    println!();
    println!(
        "Index refresh on the imported database (what the first request after a security change waits for):"
    );
    println!();
    println!(
        "| backend | entities | rules | (e) read facts s | (f) facts from rows s | (g) index build s | e + f + g s | (h) refresh after one rule change s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in refreshes {
        println!("{row}");
    }
}

/// (i): the file through `POST /Thingworx/Importer` on the server binary (SQLite in a data
/// directory of its own, the upload sent by curl): seconds, and the server's resident size
/// once it listens and its peak once the import has answered, in MB.
fn http_import(path: &Path) -> (f64, f64, f64) {
    use std::io::BufRead as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let password = "bench-Administrator-password-1";
    let mut server = Command::new(env!("CARGO_BIN_EXE_ironworx"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("IRONWORX_ADMIN_PASSWORD", password)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server");
    let stdout = server.stdout.take().expect("stdout");
    let url = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("ironworx listening on ").map(str::to_owned))
        .expect("the server listens");
    let status = format!("/proc/{}/status", server.id());
    let before = process_kib(&status, "VmRSS:");
    let t = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-u"])
        .arg(format!("Administrator:{password}"))
        .args(["-H", "X-XSRF-TOKEN: TWX-XSRF-TOKEN-VALUE", "-F"])
        .arg(format!("file=@{}", path.display()))
        .arg(format!("{url}/Thingworx/Importer?purpose=import"))
        .output()
        .expect("curl");
    let seconds = t.elapsed().as_secs_f64();
    let peak = process_kib(&status, "VmHWM:");
    server.kill().ok();
    server.wait().ok();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && body.contains("\"status\":\"success\""),
        "the HTTP import failed: {body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (seconds, before as f64 / 1024.0, peak as f64 / 1024.0)
}

/// (e)–(h): what a refresh of the authorization index costs on the imported database, step by
/// step: every fact read in one read-only snapshot, turned into facts, the index built; then
/// the refresh after one rule change.
async fn refresh_cost(backend: &str, db: &DatabaseConnection) -> String {
    let t = Instant::now();
    let rows = read_snapshot(db).await.expect("read facts");
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let facts = facts_from_rows(rows);
    let convert = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let index = AuthzIndex::build(&facts);
    let build = t.elapsed().as_secs_f64();
    assert_eq!(index.entity_count(), facts.entities.len());
    // (h): one rule changed on one Thing, then the next request's refresh, which reads only
    // that Thing's rules.
    let security = Security::load(db.clone()).await.expect("load");
    let thing =
        ironworx_entity::queries::entities::get_entity(db, Collection::Things, "Thing0000007")
            .await
            .expect("thing");
    let change = rule(
        PermissionKind::PropertyWrite,
        "p1",
        PrincipalType::Group,
        "Group7",
        true,
    );
    ironworx_entity::queries::permissions::set_entity_rule(db, thing.id, false, &change.rule)
        .await
        .expect("rule");
    let t = Instant::now();
    let index = security.current().await.expect("refresh");
    let changed = t.elapsed().as_secs_f64();
    assert_eq!(
        security.partial_refresh_count(),
        1,
        "the refresh read only what changed"
    );
    assert_eq!(
        security.patched_refresh_count(),
        1,
        "the refresh patched the index"
    );
    assert_eq!(index.entity_count(), facts.entities.len());
    format!(
        "| {backend} | {} | {} | {read:.2} | {convert:.2} | {build:.2} | {:.2} | {changed:.3} |",
        facts.entities.len(),
        facts.entity_rules.len() + facts.collection_rules.len(),
        read + convert + build
    )
}
