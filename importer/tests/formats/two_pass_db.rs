//! The two-pass import on a migrated database (SQLite, and PostgreSQL when
//! `IRONWORX_TEST_POSTGRES` names an administrative URL): the same report as the one-pass
//! import of the file read whole, and a failure in the second pass, after chunks of Things have
//! been written, leaves the database exactly as it was.

use std::path::Path;

use ironworx_importer::apply::{self, KeySecrets, Report};
use ironworx_importer::extract::{ExtractOptions, Filter, extract};
use ironworx_importer::plan::{self, Mode, PlanOptions};
use ironworx_importer::xml_write::{WriteOptions, write_single_file};
use ironworx_importer::{Caller, Limits, source, stream};
use ironworx_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// Application keys are not part of these files; their secrets are never asked for.
struct NoKeys;

impl KeySecrets for NoKeys {
    fn hash(&self, key_id: &str) -> String {
        key_id.to_owned()
    }
    fn seal(&self, _: &str) -> Option<String> {
        None
    }
    fn open(&self, _: &str) -> Option<String> {
        None
    }
}

const OPTIONS: PlanOptions = PlanOptions {
    mode: Mode::File,
    strict: false,
};

/// An export of a group, a template, `things` Things (more than two chunks) and a mashup;
/// `bad` gives the Thing at that index a value its NUMBER property refuses.
fn export_file(dir: &Path, name: &str, prefix: &str, things: usize, bad: Option<usize>) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Entities majorVersion="9" minorVersion="3" schemaVersion="1000" universal="password">
  <Groups><Group name="{prefix}Group"/></Groups>
  <ThingTemplates>
    <ThingTemplate name="{prefix}Template" baseThingTemplate="GenericThing">
      <ThingShape><PropertyDefinitions>
        <PropertyDefinition name="speed" baseType="NUMBER" ordinal="1"/>
      </PropertyDefinitions></ThingShape>
    </ThingTemplate>
  </ThingTemplates>
  <Things>
"#
    );
    for i in 0..things {
        let value = if Some(i) == bad { "fast" } else { "1.5" };
        xml.push_str(&format!(
            r#"    <Thing name="{prefix}{i:05}" thingTemplate="{prefix}Template" enabled="true" tags="Area:North"><ThingProperties><speed><Value>{value}</Value><Timestamp>2024-01-02T03:04:05.000Z</Timestamp><Quality>GOOD</Quality></speed></ThingProperties><RunTimePermissions><Permissions resourceName="*"><PropertyRead><Principal isPermitted="true" name="{prefix}Group" type="Group"/><Principal isPermitted="true" name="Ghosts" type="Group"/></PropertyRead></Permissions></RunTimePermissions></Thing>
"#
        ));
    }
    xml.push_str(&format!(
        "  </Things>\n  <Mashups><Mashup name=\"{prefix}Mashup\"/></Mashups>\n</Entities>\n"
    ));
    let path = dir.join(name);
    std::fs::write(&path, xml).expect("write the export");
    path.to_str().expect("utf-8 path").to_owned()
}

/// A new migrated database: a SQLite file, or a PostgreSQL database (dropped by the caller).
async fn fresh(dir: &Path, tag: &str) -> (DatabaseConnection, Option<(String, String)>) {
    let (db, pg) = match std::env::var("IRONWORX_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty() && tag.starts_with("pg"))
    {
        None => {
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{tag}.db")).display()
            );
            (Database::connect(url.as_str()).await.expect("sqlite"), None)
        }
        Some(admin) => {
            let name = format!("ironworx_two_pass_{tag}_{}", std::process::id());
            let conn = Database::connect(admin.as_str()).await.expect("admin");
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await
                .expect("drop database");
            conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create database");
            conn.close().await.ok();
            let (base, _) = admin.rsplit_once('/').expect("admin URL with a database");
            let url = format!("{base}/{name}");
            (
                Database::connect(url.as_str()).await.expect("postgres"),
                Some((admin, name)),
            )
        }
    };
    Migrator::up(&db, None).await.expect("migrate");
    (db, pg)
}

async fn drop_database(pg: Option<(String, String)>) {
    if let Some((admin, name)) = pg {
        let conn = Database::connect(admin.as_str()).await.expect("admin");
        conn.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .ok();
        conn.close().await.ok();
    }
}

/// The whole database as an XML export.
async fn snapshot(db: &DatabaseConnection) -> Vec<u8> {
    let export = extract(
        db,
        &Filter::default(),
        ExtractOptions {
            collection_rules: true,
            blank_secrets: true,
            include_system: true,
        },
        None,
    )
    .await
    .expect("extract");
    let mut out = Vec::new();
    write_single_file(
        &export,
        &WriteOptions {
            blank_secrets: true,
        },
        &mut out,
    )
    .expect("write");
    out
}

async fn two_pass(db: &DatabaseConnection, path: &str) -> Result<Report, String> {
    stream::import_path(
        db,
        Path::new(path),
        &Limits::default(),
        OPTIONS,
        &NoKeys,
        &Caller::full("Administrator"),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn one_pass(db: &DatabaseConnection, path: &str) -> Result<Report, String> {
    let run = async {
        let export = source::read_path(Path::new(path), &Limits::default())?;
        let known = apply::known(db).await?;
        let plan = plan::plan(export, &known, OPTIONS)?;
        apply::apply(db, plan, &NoKeys, &Caller::full("Administrator")).await
    };
    run.await
        .map_err(|e: ironworx_importer::ImportError| e.to_string())
}

fn without_sequence(mut report: Report) -> Report {
    report.change_sequence = 0;
    report
}

#[tokio::test]
async fn two_passes_import_as_one_and_roll_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = export_file(dir.path(), "good.xml", "Good", 2_500, None);
    let bad = export_file(dir.path(), "bad.xml", "Bad", 2_500, Some(2_200));
    for backend in ["sqlite", "pg"] {
        if backend == "pg" && std::env::var("IRONWORX_TEST_POSTGRES").is_err() {
            continue;
        }
        let (first, first_pg) = fresh(dir.path(), &format!("{backend}1")).await;
        let (second, second_pg) = fresh(dir.path(), &format!("{backend}2")).await;

        let streamed = two_pass(&first, &good).await.expect("two-pass import");
        let whole = one_pass(&second, &good).await.expect("one-pass import");
        assert_eq!(
            without_sequence(streamed.clone()),
            without_sequence(whole),
            "{backend}"
        );
        assert_eq!(
            streamed
                .created
                .get(&ironworx_entity::vocab::Collection::Things),
            Some(&2_500)
        );
        assert_eq!(streamed.entity_rules, 2_500, "{backend}");
        assert_eq!(
            streamed.dropped.len(),
            1,
            "{backend}: {:?}",
            streamed.dropped
        );
        assert_eq!(streamed.dropped[0].references, 2_500);

        // Importing again replaces every entity.
        let again = two_pass(&first, &good).await.expect("again");
        assert_eq!(
            again
                .replaced
                .get(&ironworx_entity::vocab::Collection::Things),
            Some(&2_500),
            "{backend}"
        );

        let before = snapshot(&first).await;
        let err = two_pass(&first, &bad).await.expect_err("a refused value");
        let whole_err = one_pass(&second, &bad).await.expect_err("a refused value");
        assert_eq!(err, whole_err, "{backend}");
        assert!(
            err.contains("bad.xml:") && err.contains("Things/Bad02200"),
            "{backend}: {err}"
        );
        assert!(
            before == snapshot(&first).await,
            "{backend}: the failed import left the database as it was"
        );

        first.close().await.ok();
        second.close().await.ok();
        drop_database(first_pg).await;
        drop_database(second_pg).await;
    }
}
