//! Imports and exports through the database on SQLite and PostgreSQL: collection permissions
//! survive a storage-mode round trip and are absent after a file-mode one; every format brings
//! back the model it was written from; re-imports are idempotent and newer versions replace
//! older ones; a failing import leaves the database exactly as it was.

use std::path::{Path, PathBuf};

use ironworx_entity::queries::audit::current_sequence;
use ironworx_entity::vocab::Collection;
use ironworx_importer::model::{Export, Kind};
use ironworx_importer::plan::Mode;
use ironworx_importer::{Limits, source, storage, twx, twx_tree, xml_write};
use ironworx_server::transfer::{self, Format};
use ironworx_tests::import_export::{bootstrapped, import, import_path, model};
use ironworx_tests::{TestDb, backends};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// The CostinWorkshop storage tree, as its repository lays it out.
fn costin_tree(dir: &Path) {
    let xml = corpus().join("xml");
    for entry in std::fs::read_dir(&xml).expect("corpus") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(rest) = name.strip_prefix("CostinWorkshop__") else {
            continue;
        };
        let (folder, file) = rest.split_once('_').expect("Collection_Name.xml");
        let target = if folder == "permissions" {
            dir.join("permissions").join(file)
        } else {
            dir.join("entities/MarsInterstellarShipyardProject")
                .join(folder)
                .join(file)
        };
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(xml.join(&name), target).expect("copy");
    }
}

fn things_collection_rules(export: &Export) -> Vec<String> {
    let mut rules: Vec<String> = export
        .collection_rules
        .iter()
        .filter(|r| r.collection == Collection::Things)
        .map(|r| format!("{:?}", r.rule))
        .collect();
    rules.sort();
    rules
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn collection_rules_survive_storage_mode_only() {
    for backend in backends() {
        let tree = tempfile::tempdir().expect("tempdir");
        costin_tree(tree.path());
        let source_db = TestDb::create(backend).await;
        let first = bootstrapped(&source_db).await;
        let pristine = model(&first, Mode::Storage).await;
        let report = import_path(&first, tree.path(), Mode::Storage)
            .await
            .expect("storage import");
        assert_eq!(report.collection_rules, 140, "the tree's collection rules");
        let original = model(&first, Mode::Storage).await;
        assert_ne!(
            things_collection_rules(&original),
            things_collection_rules(&pristine),
            "the import changed the Things collection rules"
        );

        // Storage mode, as a folder and as a zip: the same model, collection rules included.
        let exported = transfer::extract(&first, &Default::default(), Mode::Storage, true, true)
            .await
            .expect("extract");
        let out = tempfile::tempdir().expect("tempdir");
        let folder = out.path().join("tree");
        transfer::write_to(&exported, Mode::Storage, Format::Xml, true, &folder).expect("tree");
        let zip = out.path().join("tree.zip");
        transfer::write_to(&exported, Mode::Storage, Format::Zip, true, &zip).expect("zip");
        for path in [&folder, &zip] {
            let target_db = TestDb::create(backend).await;
            let target = bootstrapped(&target_db).await;
            import_path(&target, path, Mode::Storage)
                .await
                .expect("storage re-import");
            let again = model(&target, Mode::Storage).await;
            assert_eq!(
                things_collection_rules(&again),
                things_collection_rules(&original),
                "{}: collection rules after a storage round trip",
                path.display()
            );
            ironworx_tests::import_export::assert_same(
                &again,
                &original,
                &format!("{}: the whole model", path.display()),
            );
            target.close().await.expect("close");
            target_db.drop_database().await;
        }

        // File mode: the entities come back, the collection rules stay the target's own.
        let single = out.path().join("Entities.xml");
        transfer::write_to(&exported, Mode::File, Format::Xml, true, &single).expect("file");
        let text = std::fs::read_to_string(&single).expect("read");
        assert!(
            !text.contains("<Collections"),
            "file mode writes no collection rules"
        );
        let target_db = TestDb::create(backend).await;
        let target = bootstrapped(&target_db).await;
        let report = import_path(&target, &single, Mode::File)
            .await
            .expect("file import");
        assert_eq!(report.collection_rules, 0);
        let again = model(&target, Mode::Storage).await;
        assert_eq!(
            things_collection_rules(&again),
            things_collection_rules(&pristine),
            "after a file-mode round trip the collection rules are the bootstrap's"
        );
        ironworx_tests::import_export::assert_same(
            &Export {
                collection_rules: original.collection_rules.clone(),
                ..again.clone()
            },
            &original,
            "file-mode entities",
        );
        target.close().await.expect("close");
        target_db.drop_database().await;
        first.close().await.expect("close");
        source_db.drop_database().await;
    }
}

/// Writes `export` in `format` and reads it back.
fn through(export: &Export, format: &str, dir: &Path) -> Export {
    match format {
        "xml" => {
            let path = dir.join("m.xml");
            transfer::write_to(export, Mode::File, Format::Xml, false, &path).expect("xml");
            source::read_path(&path, &Limits::default()).expect("read xml")
        }
        "zip" => {
            let path = dir.join("m.zip");
            transfer::write_to(export, Mode::File, Format::Zip, false, &path).expect("zip");
            source::read_path(&path, &Limits::default()).expect("read zip")
        }
        "tree" => {
            let path = dir.join("tree");
            storage::write_tree(
                export,
                &path,
                &xml_write::WriteOptions {
                    blank_secrets: false,
                },
            )
            .expect("tree");
            source::read_path(&path, &Limits::default()).expect("read tree")
        }
        "twx" => {
            let tree = twx_tree::tree_from_export(
                export,
                &twx_tree::TreeOptions {
                    blank_secrets: false,
                },
            );
            let mut bytes = Vec::new();
            twx::write_twx(&tree, &mut bytes).expect("twx");
            source::read_bytes("m.twx", &bytes, &Limits::default()).expect("read twx")
        }
        other => panic!("unknown format {other}"),
    }
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn every_format_brings_back_the_model() {
    // Each source is written in the formats of its family (XML-read extras through the XML
    // formats, .twx-read extras through .twx); the typed model goes through all of them.
    let cases: &[(&str, &[&str])] = &[
        (
            "xml/InternetOfThings__Entities.xml",
            &["xml", "zip", "tree"],
        ),
        (
            "xml/ThingworxVirtualProductionLine__CarProductionLineProject.xml",
            &["xml", "tree"],
        ),
        (
            "xml/TestProject__ThingTemplates_PTC.Simulator.TT.xml",
            &["xml", "tree"],
        ),
        ("twx/InternetOfThings__Entities.twx", &["twx"]),
        ("twx/SnowCleaner__Entities.twx", &["twx"]),
    ];
    for backend in backends() {
        for (file, formats) in cases {
            let source_db = TestDb::create(backend).await;
            let first = bootstrapped(&source_db).await;
            import_path(&first, &corpus().join(file), Mode::Storage)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let original = model(&first, Mode::Storage).await;
            let full = transfer::extract(&first, &Default::default(), Mode::Storage, false, true)
                .await
                .expect("extract");
            for format in *formats {
                let dir = tempfile::tempdir().expect("tempdir");
                let read = through(&full, format, dir.path());
                let target_db = TestDb::create(backend).await;
                let target = bootstrapped(&target_db).await;
                let mode = if *format == "tree" {
                    Mode::Storage
                } else {
                    Mode::File
                };
                import(&target, read, mode)
                    .await
                    .unwrap_or_else(|e| panic!("{file} via {format}: {e}"));
                let mut again = model(&target, Mode::Storage).await;
                let mut want = original.clone();
                if mode == Mode::File {
                    again.collection_rules.clear();
                    want.collection_rules.clear();
                }
                ironworx_tests::import_export::assert_same(
                    &again,
                    &want,
                    &format!("{file} via {format} on {backend}"),
                );
                target.close().await.expect("close");
                target_db.drop_database().await;
            }
            first.close().await.expect("close");
            source_db.drop_database().await;
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn reimport_is_idempotent_and_newer_versions_replace() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let conn = bootstrapped(&db).await;
        let tree = tempfile::tempdir().expect("tempdir");
        costin_tree(tree.path());
        let first = import_path(&conn, tree.path(), Mode::Storage)
            .await
            .expect("first import");
        let once = model(&conn, Mode::Storage).await;
        let second = import_path(&conn, tree.path(), Mode::Storage)
            .await
            .expect("second import");
        let twice = model(&conn, Mode::Storage).await;
        ironworx_tests::import_export::assert_same(
            &twice,
            &once,
            "importing the same export again",
        );
        let first_total: usize =
            first.created.values().sum::<usize>() + first.replaced.values().sum::<usize>();
        assert_eq!(second.replaced.values().sum::<usize>(), first_total);
        assert_eq!(second.created.values().sum::<usize>(), 0);

        // A newer Shipyard: another description and one rule fewer.
        let path = corpus().join("xml/CostinWorkshop__Things_Shipyard.xml");
        let mut newer = source::read_path(&path, &Limits::default()).expect("read");
        let shipyard = &mut newer.entities[0];
        shipyard.common.description = "Refitted shipyard".into();
        let rules_before = shipyard.rules.len();
        shipyard.rules.pop();
        import(&conn, newer, Mode::File)
            .await
            .expect("newer version");
        let after = model(&conn, Mode::Storage).await;
        let stored = after
            .entities
            .iter()
            .find(|e| e.collection == Collection::Things && e.name == "Shipyard")
            .expect("Shipyard");
        assert_eq!(stored.common.description, "Refitted shipyard");
        let old = once
            .entities
            .iter()
            .find(|e| e.collection == Collection::Things && e.name == "Shipyard")
            .expect("Shipyard");
        assert!(rules_before > 0);
        assert!(
            stored.rules.len() <= old.rules.len(),
            "the newer rules replace the older"
        );
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

const BAD_VALUE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Entities majorVersion="9" minorVersion="3" universal=""><Things>
<Thing name="Broken" thingTemplate="GenericThing" description="" tags="" projectName="">
<ThingShape><PropertyDefinitions><PropertyDefinition name="speed" baseType="NUMBER"/></PropertyDefinitions></ThingShape>
<ThingProperties><speed><Value>fast</Value><Timestamp>2020-01-01T00:00:00.000Z</Timestamp><Quality>GOOD</Quality></speed></ThingProperties>
</Thing></Things></Entities>"#;

const GROUP_CYCLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Entities majorVersion="9" minorVersion="3" universal=""><Groups>
<Group name="Alpha" description=""><Members><Members><Member name="Beta" type="Group"/></Members></Members></Group>
<Group name="Beta" description=""><Members><Members><Member name="Alpha" type="Group"/></Members></Members></Group>
</Groups><Things><Thing name="Survivor" thingTemplate="GenericThing" description=""/></Things></Entities>"#;

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Entities><Things><Thing name="Lol" description="&lol2;"/></Things></Entities>"#;

const MALFORMED: &str =
    r#"<?xml version="1.0"?><Entities><Things><Thing name="x"></Things></Entities>"#;

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn a_failing_import_leaves_the_database_as_it_was() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let conn = bootstrapped(&db).await;
        import_path(
            &conn,
            &corpus().join("xml/InternetOfThings__Entities.xml"),
            Mode::File,
        )
        .await
        .expect("a first import");
        let before = model(&conn, Mode::Storage).await;
        let sequence = current_sequence(&conn).await.expect("sequence");

        for (name, text, wanted) in [
            ("bad-value.xml", BAD_VALUE, "fast"),
            ("cycle.xml", GROUP_CYCLE, "cycle"),
            ("malformed.xml", MALFORMED, "malformed.xml:1"),
            ("laughs.xml", BILLION_LAUGHS, "laughs.xml"),
        ] {
            let result = match source::read_bytes(name, text.as_bytes(), &Limits::default()) {
                Ok(export) => import(&conn, export, Mode::File).await.map(|_| ()),
                Err(e) => Err(e),
            };
            let err = result.expect_err(name);
            assert!(err.to_string().contains(wanted), "{name}: {err}");
            ironworx_tests::import_export::assert_same(
                &model(&conn, Mode::Storage).await,
                &before,
                &format!("{name}: model untouched"),
            );
            assert_eq!(
                current_sequence(&conn).await.expect("sequence"),
                sequence,
                "{name}"
            );
        }
        let mut truncated =
            std::fs::read(corpus().join("twx/InternetOfThings__Entities.twx")).expect("twx");
        truncated.truncate(truncated.len() / 2);
        let err = source::read_bytes("half.twx", &truncated, &Limits::default())
            .expect_err("a truncated .twx");
        assert!(err.to_string().contains("half.twx"), "{err}");
        let mut corrupt =
            std::fs::read(corpus().join("twx/InternetOfThings__Entities.twx")).expect("twx");
        let last = corrupt.len() - 30;
        corrupt[last] ^= 0xff;
        let err = source::read_bytes("corrupt.twx", &corrupt, &Limits::default())
            .expect_err("a corrupted .twx");
        assert!(err.to_string().contains("corrupt.twx"), "{err}");
        assert_eq!(model(&conn, Mode::Storage).await, before);
        assert!(
            !model(&conn, Mode::Storage)
                .await
                .entities
                .iter()
                .any(|e| e.name == "Survivor"
                    || matches!(e.kind, Kind::Group(_)) && e.name == "Alpha")
        );
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
