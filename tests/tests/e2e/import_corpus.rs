//! Every file of the corpus imported through the real importer into a bootstrapped database, in
//! file mode and in storage mode, on SQLite and on PostgreSQL, with the expected counts of each
//! file asserted (entities per collection, rules per level, principals dropped). The expected
//! numbers were read off the files; each import runs in a transaction that is rolled back, so
//! every file is imported alone into the same freshly bootstrapped model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ironworx_entity::schema::{collection_permissions, entities, entity_permissions};
use ironworx_entity::vocab::Collection;
use ironworx_importer::Caller;
use ironworx_importer::apply::{Report, apply_in, known};
use ironworx_importer::plan::{Mode, PlanOptions, plan};
use ironworx_importer::{Limits, source};
use ironworx_server::transfer::ServerSecrets;
use ironworx_tests::import_export::bootstrapped;
use ironworx_tests::{TestDb, backends};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};

/// What importing one file alone into a freshly bootstrapped model must write.
struct Expected {
    file: &'static str,
    /// Entities per collection.
    entities: &'static [(&'static str, usize)],
    /// Own rules written (rules naming principals defined nowhere are dropped).
    own: usize,
    /// Instance rules written.
    instance: usize,
    /// Collection-level rules in the file.
    collection_raw: usize,
    /// Collection-level rules written in storage mode.
    collection: usize,
    /// Entity-level rules listed in a collection-permissions file.
    listed_raw: usize,
    /// Distinct principals named but defined nowhere (storage mode).
    dropped: usize,
}

const XML: &[Expected] = &[
    Expected {
        file: "CollectionWidget__Entities.xml",
        entities: &[
            ("DataShapes", 1),
            ("Mashups", 3),
            ("MediaEntities", 18),
            ("Projects", 1),
            ("Things", 2),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "CostinWorkshop__Groups_Maint.General.xml",
        entities: &[("Groups", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 2,
    },
    Expected {
        file: "CostinWorkshop__Organizations_MarsInterstellarShipyardOrg.xml",
        entities: &[("Organizations", 1)],
        own: 1,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 3,
    },
    Expected {
        file: "CostinWorkshop__ThingShapes_PowerConsumerTS.xml",
        entities: &[("ThingShapes", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 5,
    },
    Expected {
        file: "CostinWorkshop__ThingTemplates_CrewRoverTemplate.xml",
        entities: &[("ThingTemplates", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "CostinWorkshop__Things_Shipyard.xml",
        entities: &[("Things", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 6,
    },
    Expected {
        file: "CostinWorkshop__Users_klee.xml",
        entities: &[("Users", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "CostinWorkshop__permissions_permissions.xml",
        entities: &[],
        own: 0,
        instance: 0,
        collection_raw: 140,
        collection: 140,
        listed_raw: 75,
        dropped: 11,
    },
    Expected {
        file: "InternetOfThings__Entities.xml",
        entities: &[
            ("DataShapes", 1),
            ("Mashups", 1),
            ("ThingTemplates", 2),
            ("Things", 4),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__ApplicationKeys_DevOpsAppKey.xml",
        entities: &[("ApplicationKeys", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__DataShapes_PTC.SimulatorDeviceProperties.DS.xml",
        entities: &[("DataShapes", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 2,
    },
    Expected {
        file: "TestProject__Groups_Users.xml",
        entities: &[("Groups", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 2,
    },
    Expected {
        file: "TestProject__MediaEntities_PTC.HelpInformation.Media.xml",
        entities: &[("MediaEntities", 1)],
        own: 6,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 3,
    },
    Expected {
        file: "TestProject__Organizations_DeviceOrg.xml",
        entities: &[("Organizations", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 1,
    },
    Expected {
        file: "TestProject__Organizations_Everyone.xml",
        entities: &[("Organizations", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__Projects_Simulator.xml",
        entities: &[("Projects", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__Resources_InfoTableFunctions.xml",
        entities: &[("Resources", 1)],
        own: 33,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__ThingShapes_PTC.Simulator.TS.xml",
        entities: &[("ThingShapes", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 2,
    },
    Expected {
        file: "TestProject__ThingTemplates_PTC.Simulator.TT.xml",
        entities: &[("ThingTemplates", 1)],
        own: 3,
        instance: 3,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 2,
    },
    Expected {
        file: "TestProject__Things_PTC.Simulator.Stream.xml",
        entities: &[("Things", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__Users_testuser.xml",
        entities: &[("Users", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__permissions_permissions.xml",
        entities: &[],
        own: 0,
        instance: 0,
        collection_raw: 144,
        collection: 144,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "TestProject__sysobj_Entities.xml",
        entities: &[],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "Thingworx1__ApplicationKeys_VendingKey.xml",
        entities: &[("ApplicationKeys", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "Thingworx1__ThingTemplates_VendingMachineTemplate.xml",
        entities: &[("ThingTemplates", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 3,
    },
    Expected {
        file: "ThingworxVirtualProductionLine__BeerLineProject.xml",
        entities: &[("Projects", 1), ("Things", 6)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "ThingworxVirtualProductionLine__CarProductionLineProject.xml",
        entities: &[
            ("DataShapes", 2),
            ("Mashups", 1),
            ("Projects", 1),
            ("ThingShapes", 1),
            ("Things", 11),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "ThingworxVirtualProductionLine__Entities.xml",
        entities: &[
            ("DataShapes", 25),
            ("Mashups", 12),
            ("Projects", 1),
            ("ThingShapes", 1),
            ("Things", 20),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "ThingworxVirtualProductionLine__LineV2Project.xml",
        entities: &[("Projects", 1), ("Things", 4)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "parler__dev_data_Things_ConfigurationRepository.xml",
        entities: &[("Things", 1)],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
];

const TWX: &[Expected] = &[
    Expected {
        file: "CollectionWidget__Entities.twx",
        entities: &[
            ("DataShapes", 1),
            ("Mashups", 3),
            ("MediaEntities", 18),
            ("Projects", 1),
            ("Things", 2),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "InternetOfThings__Entities.twx",
        entities: &[
            ("DataShapes", 1),
            ("Mashups", 2),
            ("ThingTemplates", 2),
            ("Things", 6),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
    Expected {
        file: "SnowCleaner__Entities.twx",
        entities: &[
            ("DataShapes", 2),
            ("Mashups", 6),
            ("ModelTags", 1),
            ("StateDefinitions", 1),
            ("Things", 3),
        ],
        own: 0,
        instance: 0,
        collection_raw: 0,
        collection: 0,
        listed_raw: 0,
        dropped: 0,
    },
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

async fn count_rows(db: &impl sea_orm::ConnectionTrait) -> (u64, u64, BTreeMap<String, u64>) {
    let rules = entity_permissions::Entity::find()
        .count(db)
        .await
        .expect("count entity rules");
    let collection = collection_permissions::Entity::find()
        .count(db)
        .await
        .expect("count collection rules");
    let mut per = BTreeMap::new();
    for c in Collection::ALL {
        let n = entities::Entity::find()
            .filter(entities::Column::Collection.eq(c.as_str()))
            .count(db)
            .await
            .expect("count entities");
        per.insert(c.as_str().to_owned(), n);
    }
    (rules, collection, per)
}

/// Imports `path` in `mode` inside a transaction, checks it against `expected`, rolls back.
async fn check(
    db: &DatabaseConnection,
    secrets: &ServerSecrets,
    path: &Path,
    mode: Mode,
    expected: &Expected,
) {
    let what = format!("{} ({mode:?} mode)", expected.file);
    let export = source::read_path(path, &Limits::default())
        .unwrap_or_else(|e| panic!("{what}: read failed: {e}"));
    let txn = db.begin().await.expect("begin");
    let (rules_before, collection_before, per_before) = count_rows(&txn).await;
    let known = known(&txn).await.expect("known");
    let plan = plan(
        export,
        &known,
        PlanOptions {
            mode,
            strict: false,
        },
    )
    .unwrap_or_else(|e| panic!("{what}: plan failed: {e}"));
    let report: Report = apply_in(&txn, plan, secrets, &Caller::full("Administrator"))
        .await
        .unwrap_or_else(|e| panic!("{what}: apply failed: {e}"));
    let (rules_after, collection_after, per_after) = count_rows(&txn).await;
    txn.rollback().await.expect("rollback");

    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    for (c, n) in report.created.iter().chain(report.replaced.iter()) {
        if *n > 0 {
            *written.entry(c.as_str().to_owned()).or_insert(0) += n;
        }
    }
    let want: BTreeMap<String, usize> = expected
        .entities
        .iter()
        .map(|(c, n)| ((*c).to_owned(), *n))
        .collect();
    assert_eq!(written, want, "{what}: entities per collection");
    for (c, n) in &report.created {
        let grew = per_after[c.as_str()] - per_before[c.as_str()];
        // Tags may add dynamic vocabularies on top of the imported ones.
        if *c == Collection::ModelTags {
            assert!(grew >= *n as u64, "{what}: {c} rows");
        } else {
            assert_eq!(grew, *n as u64, "{what}: {c} rows in the database");
        }
    }
    assert_eq!(report.entity_rules, expected.own, "{what}: own rules");
    assert_eq!(
        report.instance_rules, expected.instance,
        "{what}: instance rules"
    );
    let replaced_rules: u64 = 0;
    assert_eq!(
        rules_after + replaced_rules,
        rules_before + (expected.own + expected.instance) as u64,
        "{what}: entity_permissions rows"
    );
    match mode {
        Mode::Storage => {
            assert_eq!(
                report.collection_rules, expected.collection,
                "{what}: collection rules"
            );
            assert_eq!(
                report.dropped.len(),
                expected.dropped,
                "{what}: dropped principals {:?}",
                report.dropped
            );
            if expected.collection_raw == 0 {
                assert_eq!(
                    collection_after, collection_before,
                    "{what}: collection rules untouched"
                );
            }
        }
        Mode::File => {
            assert_eq!(
                report.collection_rules, 0,
                "{what}: file mode writes no collection rules"
            );
            assert_eq!(
                collection_after, collection_before,
                "{what}: collection rules untouched"
            );
            assert_eq!(
                report.ignored_collection_rules,
                expected.collection_raw + expected.listed_raw,
                "{what}: ignored collection-level rules"
            );
            let dropped = if expected.entities.is_empty() {
                0
            } else {
                expected.dropped
            };
            assert_eq!(
                report.dropped.len(),
                dropped,
                "{what}: dropped principals {:?}",
                report.dropped
            );
            if expected.collection_raw + expected.listed_raw > 0 {
                assert!(
                    report.warnings.iter().any(|w| w.contains("file mode")),
                    "{what}: the report says collection rules were ignored"
                );
            }
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn every_corpus_file_imports_in_both_modes_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let conn = bootstrapped(&db).await;
        let secrets = ServerSecrets::load(&conn).await.expect("secrets");
        for mode in [Mode::File, Mode::Storage] {
            for expected in XML {
                check(
                    &conn,
                    &secrets,
                    &corpus().join("xml").join(expected.file),
                    mode,
                    expected,
                )
                .await;
            }
            for expected in TWX {
                check(
                    &conn,
                    &secrets,
                    &corpus().join("twx").join(expected.file),
                    mode,
                    expected,
                )
                .await;
            }
        }
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn the_table_covers_every_corpus_file() {
    let mut files: Vec<String> = std::fs::read_dir(corpus().join("xml"))
        .expect("corpus")
        .chain(std::fs::read_dir(corpus().join("twx")).expect("corpus"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml") || n.ends_with(".twx"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = XML.iter().chain(TWX).map(|e| e.file.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
}
