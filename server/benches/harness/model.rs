//! Generated models for the benches: entity values, and a model written as a single-file XML
//! export and loaded into a bench database by `ironworx import --mode file`, as an operator
//! loads one.

use std::path::Path;
use std::time::Instant;

use ironworx_entity::vocab::Collection;
use ironworx_importer::model::{Common, Entity, Export, Kind};
use ironworx_importer::xml_write::{WriteOptions, write_single_file};

use super::{BenchDb, SERVER, ironworx};

/// A generated entity owned by the Administrator.
pub fn entity(collection: Collection, name: &str, kind: Kind) -> Entity {
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

/// `entities` as a whole export (the header of a ThingWorx 9 export).
pub fn export(entities: Vec<Entity>) -> Export {
    Export {
        header: ironworx_importer::extract::header(true),
        entities,
        ..Export::default()
    }
}

/// Writes `export` to `Entities.xml` in `data_dir` and imports it into `db` with
/// `ironworx import --mode file`, which must neither drop nor warn; prints the export's size
/// and both times, and answers the import's seconds.
pub fn load(db: &BenchDb, data_dir: &Path, export: &Export, what: &str) -> f64 {
    let file = data_dir.join("Entities.xml");
    let started = Instant::now();
    write_single_file(
        export,
        &WriteOptions {
            blank_secrets: true,
        },
        std::io::BufWriter::new(std::fs::File::create(&file).expect("create the export")),
    )
    .expect("write the export");
    println!(
        "{}: {what}: export of {:.1} MB written in {:.1} s",
        db.label,
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let out = ironworx(Path::new(SERVER), db, data_dir)
        .args(["import", "--mode", "file"])
        .arg(&file)
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
    println!("{}: {what}: imported in {seconds:.1} s", db.label);
    seconds
}
