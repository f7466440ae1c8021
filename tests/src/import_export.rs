//! Helpers for the import and export tests: a migrated and bootstrapped database, and imports
//! and exports through the real importer.

use std::path::Path;

use ironworx_importer::apply::Report;
use ironworx_importer::extract::Filter;
use ironworx_importer::model::Export;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::{Limits, source};
use sea_orm::DatabaseConnection;

use crate::{ADMIN_PASSWORD, TestDb};

/// Connects to `db`, applies the migrations and bootstraps the built-in model.
///
/// # Panics
/// When the database cannot be prepared.
pub async fn bootstrapped(db: &TestDb) -> DatabaseConnection {
    let conn = crate::connect(db).await;
    ironworx_server::db::migrate(&conn)
        .await
        .expect("migrations apply");
    let dir = tempfile::tempdir().expect("tempdir");
    ironworx_server::bootstrap::bootstrap(&conn, Some(ADMIN_PASSWORD), dir.path())
        .await
        .expect("bootstrap");
    conn
}

/// Imports `export` in `mode` (not strict) as the server does.
///
/// # Panics
/// Never; the import's error is returned.
pub async fn import(
    conn: &DatabaseConnection,
    export: Export,
    mode: Mode,
) -> Result<Report, ironworx_importer::ImportError> {
    ironworx_server::transfer::import(
        conn,
        export,
        PlanOptions {
            mode,
            strict: false,
        },
        &ironworx_importer::Caller::full("Administrator"),
    )
    .await
}

/// Reads and imports the file or folder at `path`.
///
/// # Panics
/// When the path cannot be read.
pub async fn import_path(
    conn: &DatabaseConnection,
    path: &Path,
    mode: Mode,
) -> Result<Report, ironworx_importer::ImportError> {
    let export = source::read_path(path, &Limits::default())?;
    import(conn, export, mode).await
}

/// The whole model as an export holds it (secrets blanked: password hashes are salted per
/// database), with reader positions cleared and membership lists sorted,
/// for comparing two databases.
///
/// # Panics
/// When the model cannot be read.
pub async fn model(conn: &DatabaseConnection, mode: Mode) -> Export {
    let mut export = ironworx_server::transfer::extract(conn, &Filter::default(), mode, true, true)
        .await
        .expect("extract the model");
    normalize(&mut export);
    export
}

/// Clears what differs between two equal models: reader positions and notes; sorts rules.
pub fn normalize(export: &mut Export) {
    export.notes.clear();
    for e in &mut export.entities {
        e.origin = Default::default();
        e.rules.sort();
        match &mut e.kind {
            ironworx_importer::model::Kind::Group(g) => g.members.sort(),
            ironworx_importer::model::Kind::Organization(o) => {
                for u in &mut o.units {
                    u.members.sort();
                }
            }
            _ => {}
        }
    }
    export.collection_rules.sort();
}

/// Asserts that two models are equal, naming the first entity (and field) that differs
/// instead of printing both models whole.
///
/// # Panics
/// When they differ.
pub fn assert_same(got: &Export, want: &Export, what: &str) {
    let key = |e: &ironworx_importer::model::Entity| format!("{}/{}", e.collection, e.name);
    let got_names: Vec<String> = got.entities.iter().map(key).collect();
    let want_names: Vec<String> = want.entities.iter().map(key).collect();
    assert_eq!(got_names, want_names, "{what}: the same entities");
    for (g, w) in got.entities.iter().zip(&want.entities) {
        if g != w {
            let gs = format!("{g:?}");
            let ws = format!("{w:?}");
            let at = gs
                .chars()
                .zip(ws.chars())
                .position(|(a, b)| a != b)
                .unwrap_or(gs.len().min(ws.len()));
            let from = at.saturating_sub(150);
            let show = |s: &str| s.chars().skip(from).take(400).collect::<String>();
            panic!(
                "{what}: {} differs at character {at}:\n got: …{}\nwant: …{}",
                key(g),
                show(&gs),
                show(&ws)
            );
        }
    }
    assert_eq!(
        got.collection_rules, want.collection_rules,
        "{what}: collection rules"
    );
    assert_eq!(got.header, want.header, "{what}: header");
}
