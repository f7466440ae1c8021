//! Reading the XML corpus, storage trees (as folders and zips) and hostile inputs through the
//! XML reader and the input-source layer. Expected numbers were counted off the corpus files
//! themselves (see `shared/corpus/MANIFEST.tsv`), not with the code under test.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use ironworx_entity::vocab::{
    Collection, MemberType, PermissionKind, PrincipalType, unit_principal_name,
};
use ironworx_importer::model::{Entity, EntityRule, Export, Kind};
use ironworx_importer::source::{read_bytes, read_path};
use ironworx_importer::xml_read::read_xml;
use ironworx_importer::{ImportError, Limits};
use serde_json::json;
use zip::write::SimpleFileOptions;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        dir.is_dir(),
        "the corpus is missing: expected directory {}",
        dir.display()
    );
    dir
}

fn xml_path(name: &str) -> PathBuf {
    corpus_dir().join("xml").join(name)
}

fn read_corpus(name: &str) -> Export {
    let path = xml_path(name);
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    read_xml(std::io::BufReader::new(file), name, &Limits::default())
        .unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn entity<'a>(export: &'a Export, collection: Collection, name: &str) -> &'a Entity {
    export
        .entities
        .iter()
        .find(|e| e.collection == collection && e.name == name)
        .unwrap_or_else(|| panic!("{collection}/{name} not read"))
}

fn per_collection(export: &Export) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in &export.entities {
        *counts.entry(e.collection.to_string()).or_insert(0) += 1;
    }
    counts
}

fn all_entity_rules(export: &Export) -> Vec<&EntityRule> {
    export.entities.iter().flat_map(|e| &e.rules).collect()
}

fn principal_types<'a>(
    rules: impl Iterator<Item = &'a ironworx_entity::queries::permissions::Rule>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rules {
        *counts.entry(r.principal_type.to_string()).or_insert(0) += 1;
    }
    counts
}

fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Expected shape of one entity file.
struct Expect {
    file: &'static str,
    entities: &'static [(&'static str, usize)],
    own: usize,
    instance: usize,
    types: &'static [(&'static str, usize)],
    deny: usize,
    values: usize,
    infotable_values: usize,
    config_tables: usize,
}

const ENTITY_FILES: &[Expect] = &[
    Expect {
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
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 97,
    },
    Expect {
        file: "CostinWorkshop__Groups_Maint.General.xml",
        entities: &[("Groups", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "CostinWorkshop__Organizations_MarsInterstellarShipyardOrg.xml",
        entities: &[("Organizations", 1)],
        own: 1,
        instance: 0,
        types: &[("Organization", 1)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "CostinWorkshop__ThingShapes_PowerConsumerTS.xml",
        entities: &[("ThingShapes", 1)],
        own: 3,
        instance: 4,
        types: &[("Group", 5), ("OrganizationalUnit", 2)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "CostinWorkshop__ThingTemplates_CrewRoverTemplate.xml",
        entities: &[("ThingTemplates", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "CostinWorkshop__Things_Shipyard.xml",
        entities: &[("Things", 1)],
        own: 11,
        instance: 0,
        types: &[("Group", 9), ("OrganizationalUnit", 2)],
        deny: 0,
        values: 4,
        infotable_values: 0,
        config_tables: 1,
    },
    Expect {
        file: "CostinWorkshop__Users_klee.xml",
        entities: &[("Users", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "InternetOfThings__Entities.xml",
        entities: &[
            ("DataShapes", 1),
            ("Mashups", 1),
            ("ThingTemplates", 2),
            ("Things", 4),
        ],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 2,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__ApplicationKeys_DevOpsAppKey.xml",
        entities: &[("ApplicationKeys", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__DataShapes_PTC.SimulatorDeviceProperties.DS.xml",
        entities: &[("DataShapes", 1)],
        own: 2,
        instance: 0,
        types: &[("Group", 1), ("Organization", 1)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__Groups_Users.xml",
        entities: &[("Groups", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__MediaEntities_PTC.HelpInformation.Media.xml",
        entities: &[("MediaEntities", 1)],
        own: 19,
        instance: 0,
        types: &[("Group", 13), ("Organization", 1), ("User", 5)],
        deny: 6,
        values: 0,
        infotable_values: 0,
        config_tables: 4,
    },
    Expect {
        file: "TestProject__Organizations_DeviceOrg.xml",
        entities: &[("Organizations", 1)],
        own: 1,
        instance: 0,
        types: &[("Group", 1)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__Organizations_Everyone.xml",
        entities: &[("Organizations", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__Projects_Simulator.xml",
        entities: &[("Projects", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__Resources_InfoTableFunctions.xml",
        entities: &[("Resources", 1)],
        own: 33,
        instance: 0,
        types: &[("Group", 32), ("Organization", 1)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__ThingShapes_PTC.Simulator.TS.xml",
        entities: &[("ThingShapes", 1)],
        own: 2,
        instance: 0,
        types: &[("Group", 1), ("Organization", 1)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__ThingTemplates_PTC.Simulator.TT.xml",
        entities: &[("ThingTemplates", 1)],
        own: 5,
        instance: 5,
        types: &[("Group", 2), ("Organization", 2), ("User", 6)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__Things_PTC.Simulator.Stream.xml",
        entities: &[("Things", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 2,
    },
    Expect {
        file: "TestProject__Users_testuser.xml",
        entities: &[("Users", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "TestProject__sysobj_Entities.xml",
        entities: &[],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "Thingworx1__ApplicationKeys_VendingKey.xml",
        entities: &[("ApplicationKeys", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "Thingworx1__ThingTemplates_VendingMachineTemplate.xml",
        entities: &[("ThingTemplates", 1)],
        own: 6,
        instance: 1,
        types: &[("Organization", 1), ("User", 6)],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 0,
    },
    Expect {
        file: "ThingworxVirtualProductionLine__BeerLineProject.xml",
        entities: &[("Projects", 1), ("Things", 6)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 492,
        infotable_values: 30,
        config_tables: 12,
    },
    Expect {
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
        types: &[],
        deny: 0,
        values: 799,
        infotable_values: 48,
        config_tables: 22,
    },
    Expect {
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
        types: &[],
        deny: 0,
        values: 601,
        infotable_values: 37,
        config_tables: 35,
    },
    Expect {
        file: "ThingworxVirtualProductionLine__LineV2Project.xml",
        entities: &[("Projects", 1), ("Things", 4)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 324,
        infotable_values: 20,
        config_tables: 8,
    },
    Expect {
        file: "parler__dev_data_Things_ConfigurationRepository.xml",
        entities: &[("Things", 1)],
        own: 0,
        instance: 0,
        types: &[],
        deny: 0,
        values: 0,
        infotable_values: 0,
        config_tables: 1,
    },
];

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn every_entity_file_has_its_expected_counts() {
    for expect in ENTITY_FILES {
        let export = read_corpus(expect.file);
        let file = expect.file;
        assert_eq!(
            per_collection(&export),
            map(expect.entities),
            "{file}: entities"
        );
        let rules = all_entity_rules(&export);
        assert_eq!(
            rules.iter().filter(|r| !r.instance).count(),
            expect.own,
            "{file}: own rules"
        );
        assert_eq!(
            rules.iter().filter(|r| r.instance).count(),
            expect.instance,
            "{file}: instance rules"
        );
        assert_eq!(
            principal_types(rules.iter().map(|r| &r.rule)),
            map(expect.types),
            "{file}: principal types"
        );
        assert_eq!(
            rules.iter().filter(|r| !r.rule.allow).count(),
            expect.deny,
            "{file}: denies"
        );
        let values: Vec<_> = export
            .entities
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Thing(t) => Some(&t.values),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(values.len(), expect.values, "{file}: property values");
        let infotables = values
            .iter()
            .filter(|v| v.value.get("dataShape").is_some() && v.value.get("rows").is_some())
            .count();
        assert_eq!(
            infotables, expect.infotable_values,
            "{file}: InfoTable values"
        );
        let tables: usize = export
            .entities
            .iter()
            .map(|e| e.configuration_tables.len())
            .sum();
        assert_eq!(tables, expect.config_tables, "{file}: configuration tables");
        assert!(
            export.collection_rules.is_empty() && export.listed_rules.is_empty(),
            "{file}"
        );
        assert!(
            export.header.iter().any(|(k, _)| k == "schemaVersion"),
            "{file}: header"
        );
        for e in &export.entities {
            assert_eq!(e.origin.file, file);
            assert!(
                e.origin.line.is_some_and(|l| l >= 1),
                "{file}: {} origin",
                e.path()
            );
            assert!(!e.name.is_empty());
        }
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn every_corpus_xml_file_is_covered() {
    let mut files: Vec<String> = fs::read_dir(corpus_dir().join("xml"))
        .expect("read corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    files.sort();
    let mut covered: Vec<String> = ENTITY_FILES.iter().map(|e| e.file.to_owned()).collect();
    covered.push("CostinWorkshop__permissions_permissions.xml".into());
    covered.push("TestProject__permissions_permissions.xml".into());
    covered.sort();
    assert_eq!(files, covered);
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn header_in_file_order() {
    let export = read_corpus("CostinWorkshop__Groups_Maint.General.xml");
    let keys: Vec<&str> = export.header.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "build",
            "majorVersion",
            "minorVersion",
            "modelPersistenceProviderPackage",
            "revision",
            "schemaVersion",
            "universal"
        ]
    );
    assert_eq!(export.header[6].1, "password");
    let skeleton = read_corpus("TestProject__sysobj_Entities.xml");
    assert_eq!(skeleton.header.len(), 7);
    assert!(skeleton.entities.is_empty());
    let old = read_corpus("InternetOfThings__Entities.xml");
    assert!(
        old.header.iter().all(|(k, _)| k != "universal"),
        "8.0 has no universal"
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn collection_permission_files() {
    let costin = read_corpus("CostinWorkshop__permissions_permissions.xml");
    assert!(costin.entities.is_empty() && costin.header.is_empty());
    assert_eq!(costin.collection_rules.len(), 140);
    assert!(costin.collection_rules.iter().all(|r| {
        r.rule.kind.category() == ironworx_entity::vocab::PermissionCategory::DesignTime
            && r.rule.principal_type == PrincipalType::Group
            && r.rule.allow
    }));
    let admins = costin
        .collection_rules
        .iter()
        .filter(|r| r.rule.principal_name == "Administrators")
        .count();
    let composers = costin
        .collection_rules
        .iter()
        .filter(|r| r.rule.principal_name == "ComposerUsers")
        .count();
    assert_eq!((admins, composers), (132, 8));
    let collections: std::collections::BTreeSet<_> = costin
        .collection_rules
        .iter()
        .map(|r| r.collection)
        .collect();
    assert_eq!(collections.len(), 33, "every collection grants something");
    assert_eq!(costin.listed_rules.len(), 84);
    let own: usize = costin
        .listed_rules
        .iter()
        .map(|l| l.rules.iter().filter(|r| !r.instance).count())
        .sum();
    let instance: usize = costin
        .listed_rules
        .iter()
        .map(|l| l.rules.iter().filter(|r| r.instance).count())
        .sum();
    assert_eq!((own, instance), (60, 15));
    let per: BTreeMap<String, usize> =
        costin
            .listed_rules
            .iter()
            .fold(BTreeMap::new(), |mut m, l| {
                *m.entry(l.collection.to_string()).or_insert(0) += 1;
                m
            });
    assert_eq!(
        per,
        map(&[
            ("DataShapes", 4),
            ("Groups", 9),
            ("LocalizationTables", 1),
            ("Mashups", 10),
            ("MediaEntities", 2),
            ("Menus", 1),
            ("Networks", 1),
            ("Organizations", 1),
            ("Projects", 1),
            ("StyleDefinitions", 27),
            ("ThingShapes", 3),
            ("ThingTemplates", 6),
            ("Things", 14),
            ("Users", 4)
        ])
    );
    let all_types = principal_types(
        costin.collection_rules.iter().map(|r| &r.rule).chain(
            costin
                .listed_rules
                .iter()
                .flat_map(|l| l.rules.iter().map(|r| &r.rule)),
        ),
    );
    assert_eq!(
        all_types,
        map(&[
            ("Group", 168),
            ("Organization", 31),
            ("OrganizationalUnit", 16)
        ])
    );
    let shipyard = costin
        .listed_rules
        .iter()
        .find(|l| l.name == "Shipyard")
        .expect("Shipyard listed");
    assert_eq!(shipyard.collection, Collection::Things);
    assert!(shipyard.origin.line.is_some());
    // Template instance sections use the *InstancePermissions names in this file.
    let template_instance = costin
        .listed_rules
        .iter()
        .filter(|l| {
            l.collection == Collection::ThingTemplates || l.collection == Collection::ThingShapes
        })
        .flat_map(|l| &l.rules)
        .filter(|r| r.instance)
        .count();
    assert_eq!(template_instance, 15);

    let test = read_corpus("TestProject__permissions_permissions.xml");
    assert_eq!(test.collection_rules.len(), 144);
    let names: Vec<(Collection, &str)> = test
        .listed_rules
        .iter()
        .map(|l| (l.collection, l.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (Collection::Projects, "AdiDevOps"),
            (Collection::Things, "GitDevOpsThing"),
            (Collection::Things, "TestAdiResult"),
            (Collection::Things, "Thing1"),
            (Collection::Things, "Thing2"),
            (Collection::Things, "GitThing"),
        ]
    );
    assert!(test.listed_rules.iter().all(|l| l.rules.is_empty()));
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn cdata_padding_is_trimmed_in_layout_b() {
    let export = read_corpus("CostinWorkshop__Things_Shipyard.xml");
    let shipyard = entity(&export, Collection::Things, "Shipyard");
    let settings = &shipyard.configuration_tables[0];
    assert_eq!(settings.name, "Settings");
    assert_eq!(settings.rows.len(), 1);
    assert_eq!(settings.rows[0]["runAsUser"], json!("Administrator"));
    assert_eq!(settings.rows[0]["enabled"], json!(true));
    assert_eq!(settings.rows[0]["updateRate"], json!(10000.0));
    let Kind::Thing(thing) = &shipyard.kind else {
        panic!("Shipyard is a Thing");
    };
    let rollup = &thing.definitions.implementations[0];
    assert_eq!(rollup.name, "Rollup");
    assert_eq!(rollup.handler_name, "Script");
    let code = rollup.configuration[0].rows[0]["code"]
        .as_str()
        .expect("code is text");
    assert!(code.starts_with("/*****"), "{code:?}");
    assert!(code.ends_with("me.PowerStored + \"S\");"), "{code:?}");
    assert_eq!(thing.definitions.subscriptions.len(), 2);
    assert_eq!(thing.definitions.properties.len(), 5);
    assert_eq!(thing.thing_template, "Timer_Simple");
    let consumed = thing
        .values
        .iter()
        .find(|v| v.name == "PowerConsumed")
        .expect("PowerConsumed value");
    assert_eq!(consumed.value, json!("2005.0"));
    assert_eq!(consumed.base_type, "NUMBER");
    assert_eq!(consumed.quality, "GOOD");
    assert_eq!(consumed.time, 1_570_699_571_961);
    assert!(shipyard.extra.contains_key("propertyBindings"));
    assert!(shipyard.extra.contains_key("alertConfigurations"));
    assert!(
        shipyard.extra.get("remotePropertyBindings") == Some(&json!({})),
        "empty elements are kept too, so they are written back"
    );
    // A mashup's content is the JSON document of its CDATA section (the file writes CR CR LF
    // line ends inside it), kept compact as the `.twx` holds it.
    let a = read_corpus("InternetOfThings__Entities.xml");
    let mashup = entity(&a, Collection::Mashups, "SmartOfficeView1");
    let content = mashup.extra["mashupContent"]
        .as_str()
        .expect("mashup content");
    assert!(
        content.starts_with("{\"RunTimePermissions\":"),
        "{}",
        &content[..40]
    );
    assert!(mashup.common.owner == Some(("User".into(), "Administrator".into())));
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn nested_groups_of_maint_general() {
    let export = read_corpus("CostinWorkshop__Groups_Maint.General.xml");
    let group = entity(&export, Collection::Groups, "Maint.General");
    let Kind::Group(g) = &group.kind else {
        panic!("a Group");
    };
    let members: Vec<(&str, MemberType)> = g
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.member_type))
        .collect();
    assert_eq!(
        members,
        [
            ("Maint.Admin", MemberType::Group),
            ("MaintTech", MemberType::Group)
        ]
    );
    assert_eq!(group.common.project_name, "MarsInterstellarShipyardProject");
    assert_eq!(group.origin.line, Some(11));
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn organization_unit_tree_and_unit_principals() {
    let export = read_corpus("CostinWorkshop__Organizations_MarsInterstellarShipyardOrg.xml");
    let org_entity = entity(
        &export,
        Collection::Organizations,
        "MarsInterstellarShipyardOrg",
    );
    let Kind::Organization(org) = &org_entity.kind else {
        panic!("an Organization");
    };
    let units: Vec<(&str, Option<&str>)> = org
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.parent.as_deref()))
        .collect();
    let root = "MarsInterstellarShipyardOrg";
    assert_eq!(
        units,
        [
            (root, None),
            ("Maintenance", Some(root)),
            ("Power", Some(root)),
            ("Shipyard", Some(root)),
        ]
    );
    assert!(org.units[0].members.is_empty());
    assert_eq!(org.units[1].members[0].name, "Maint.General");
    assert!(
        org.reset_mail_content
            .starts_with("<p>[[resetemail.requestmade]]</p>\n\n<p>")
    );
    assert!(!org.login_reset_password);
    assert_eq!(org_entity.rules.len(), 1);
    assert_eq!(
        org_entity.rules[0].rule.principal_type,
        PrincipalType::Organization
    );

    let things = read_corpus("CostinWorkshop__Things_Shipyard.xml");
    let shipyard = entity(&things, Collection::Things, "Shipyard");
    let visibility: Vec<(&str, PrincipalType)> = shipyard
        .rules
        .iter()
        .filter(|r| r.rule.kind == PermissionKind::Visibility)
        .map(|r| (r.rule.principal_name.as_str(), r.rule.principal_type))
        .collect();
    assert_eq!(
        visibility,
        [
            (
                unit_principal_name(root, "Power").as_str(),
                PrincipalType::OrganizationalUnit
            ),
            (
                unit_principal_name(root, "Shipyard").as_str(),
                PrincipalType::OrganizationalUnit
            ),
        ]
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn shipyard_per_resource_run_time_rules() {
    let export = read_corpus("CostinWorkshop__Things_Shipyard.xml");
    let shipyard = entity(&export, Collection::Things, "Shipyard");
    let rt: Vec<(&str, PermissionKind, &str)> = shipyard
        .rules
        .iter()
        .filter(|r| r.rule.kind.category() == ironworx_entity::vocab::PermissionCategory::RunTime)
        .map(|r| {
            (
                r.rule.resource.as_str(),
                r.rule.kind,
                r.rule.principal_name.as_str(),
            )
        })
        .collect();
    use PermissionKind::*;
    assert_eq!(
        rt,
        [
            ("Rollup", ServiceInvoke, "Power.Admin"),
            ("GetPropertyValues", ServiceInvoke, "Power.General"),
            ("NoLowPowerStateUntil", PropertyRead, "Power.General"),
            ("NoLowPowerStateUntil", PropertyWrite, "Power.Write"),
            ("*", PropertyRead, "Power.General"),
            ("*", PropertyRead, "ShipyardAdminGrp"),
            ("*", PropertyWrite, "Power.General"),
            ("LowPowerState", PropertyRead, "Power.General"),
            ("LowPowerState", PropertyWrite, "Power.Write"),
        ]
    );
    assert!(shipyard.rules.iter().all(|r| !r.instance && r.rule.allow));
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn klee_extensions_and_language() {
    let export = read_corpus("CostinWorkshop__Users_klee.xml");
    let klee = entity(&export, Collection::Users, "klee");
    let Kind::User(user) = &klee.kind else {
        panic!("a User");
    };
    assert_eq!(user.extensions.len(), 15);
    let get = |name: &str| {
        user.extensions
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("extension {name}"))
    };
    assert_eq!(get("lastName").value, "Lee");
    assert_eq!(get("firstName").value, "Karen");
    assert_eq!(get("emailAddress").value, "klee@ptcuniversity.com");
    assert_eq!(get("emailAddress").last_update_time, 1_570_692_261_501);
    assert_eq!(get("city").value, "");
    assert_eq!(get("city").last_update_time, 0);
    assert_eq!(user.language_preferences, "");
    assert!(user.enabled && !user.locked);
    assert!(user.password.is_none(), "universal=password blanks secrets");
    assert!(
        klee.configuration_tables.is_empty(),
        "Settings and UserExtensions are consumed"
    );
    assert_eq!(klee.common.home_mashup, "PwrSys_HomeMashup");
    assert_eq!(
        klee.extra["lockedTime"],
        json!(ironworx_importer::values::parse_date(
            "2018-04-02T08:31:56.081-04:00"
        ))
    );
    assert_eq!(
        klee.extra["persistentValues"],
        json!({"User_MashupFavorites": "{\"rows\":[{\"items\":[]}]}"})
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn deny_entries_of_help_media() {
    let export = read_corpus("TestProject__MediaEntities_PTC.HelpInformation.Media.xml");
    let media = entity(
        &export,
        Collection::MediaEntities,
        "PTC.HelpInformation.Media",
    );
    assert!(matches!(media.kind, Kind::Plain));
    let mut denies: Vec<(PermissionKind, &str)> = media
        .rules
        .iter()
        .filter(|r| !r.rule.allow)
        .map(|r| (r.rule.kind, r.rule.principal_name.as_str()))
        .collect();
    denies.sort();
    use PermissionKind::*;
    assert_eq!(
        denies,
        [
            (PropertyWrite, "CAT.Developers.UG"),
            (PropertyWrite, "CAT.Support.UG"),
            (EventInvoke, "CAT.Developers.UG"),
            (EventInvoke, "CAT.Support.UG"),
            (EventSubscribe, "CAT.Developers.UG"),
            (EventSubscribe, "CAT.Support.UG"),
        ]
    );
    assert!(media.rules.iter().all(|r| r.rule.resource == "*"));
    assert!(media.extra.contains_key("content"));
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn templates_shapes_keys_and_values() {
    let export = read_corpus("TestProject__ThingTemplates_PTC.Simulator.TT.xml");
    let tt = entity(&export, Collection::ThingTemplates, "PTC.Simulator.TT");
    let instance: Vec<PermissionKind> = tt
        .rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| r.rule.kind)
        .collect();
    assert_eq!(instance.len(), 5);
    assert!(instance.contains(&PermissionKind::Visibility));

    let shape = read_corpus("CostinWorkshop__ThingShapes_PowerConsumerTS.xml");
    let ts = entity(&shape, Collection::ThingShapes, "PowerConsumerTS");
    let mut resources: Vec<&str> = ts
        .rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| r.rule.resource.as_str())
        .collect();
    resources.sort();
    resources.dedup();
    assert_eq!(
        resources,
        ["*", "HighPriority", "PowerConsumed", "Shutdown"]
    );
    let Kind::ThingShape(s) = &ts.kind else {
        panic!("a ThingShape");
    };
    assert!(!s.definitions.is_empty());

    let key = read_corpus("Thingworx1__ApplicationKeys_VendingKey.xml");
    let Kind::ApplicationKey(k) = &entity(&key, Collection::ApplicationKeys, "VendingKey").kind
    else {
        panic!("an ApplicationKey");
    };
    assert!(!k.key_id.is_empty(), "universal='' keeps the key id");
    let blanked = read_corpus("TestProject__ApplicationKeys_DevOpsAppKey.xml");
    let Kind::ApplicationKey(k) =
        &entity(&blanked, Collection::ApplicationKeys, "DevOpsAppKey").kind
    else {
        panic!("an ApplicationKey");
    };
    assert!(k.key_id.is_empty());

    // An INFOTABLE property value of a layout-A Thing becomes an InfoTable object with typed rows.
    let beer = read_corpus("ThingworxVirtualProductionLine__BeerLineProject.xml");
    let table = beer
        .entities
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::Thing(t) => Some(&t.values),
            _ => None,
        })
        .flatten()
        .find(|v| v.name == "monitoredPropertyNames")
        .expect("monitoredPropertyNames value");
    assert_eq!(table.value["rows"][0]["item"], json!("Temperature"));
    assert_eq!(
        table.value["dataShape"]["fieldDefinitions"]["item"]["aspects"]["isPrimaryKey"],
        json!(true)
    );
}

// ------------------------------------------------------------------------------------------
// Storage trees.
// ------------------------------------------------------------------------------------------

const COSTIN_FILES: &[(&str, &str)] = &[
    (
        "CostinWorkshop__Groups_Maint.General.xml",
        "Groups/Maint.General.xml",
    ),
    (
        "CostinWorkshop__Organizations_MarsInterstellarShipyardOrg.xml",
        "Organizations/MarsInterstellarShipyardOrg.xml",
    ),
    (
        "CostinWorkshop__ThingShapes_PowerConsumerTS.xml",
        "ThingShapes/PowerConsumerTS.xml",
    ),
    (
        "CostinWorkshop__ThingTemplates_CrewRoverTemplate.xml",
        "ThingTemplates/CrewRoverTemplate.xml",
    ),
    ("CostinWorkshop__Things_Shipyard.xml", "Things/Shipyard.xml"),
    ("CostinWorkshop__Users_klee.xml", "Users/klee.xml"),
];

const PROJECT_DIR: &str = "entities/MarsInterstellarShipyardProject";

/// The tree's files: (relative path, bytes).
fn costin_tree() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = COSTIN_FILES
        .iter()
        .map(|(corpus, rel)| {
            (
                format!("{PROJECT_DIR}/{rel}"),
                fs::read(xml_path(corpus)).expect("read corpus file"),
            )
        })
        .collect();
    files.push((
        "permissions/permissions.xml".into(),
        fs::read(xml_path("CostinWorkshop__permissions_permissions.xml")).expect("read"),
    ));
    files.push(("README.md".into(), b"not an export".to_vec()));
    files
}

fn check_costin_export(export: &Export, prefix: &str) {
    let paths: Vec<String> = export.entities.iter().map(Entity::path).collect();
    assert_eq!(
        paths,
        [
            "Groups/Maint.General",
            "Organizations/MarsInterstellarShipyardOrg",
            "ThingShapes/PowerConsumerTS",
            "ThingTemplates/CrewRoverTemplate",
            "Things/Shipyard",
            "Users/klee",
        ]
    );
    assert_eq!(
        export.entities[4].origin.file,
        format!("{prefix}{PROJECT_DIR}/Things/Shipyard.xml")
    );
    assert_eq!(export.collection_rules.len(), 140);
    assert_eq!(export.listed_rules.len(), 84);
    assert_eq!(
        export.listed_rules[0].origin.file,
        format!("{prefix}permissions/permissions.xml")
    );
    assert_eq!(export.header.len(), 7);
    assert!(export.header.contains(&("build".into(), "b12".into())));
    let rules: usize = export.entities.iter().map(|e| e.rules.len()).sum();
    assert_eq!(rules, 1 + 7 + 11);
    assert!(
        export
            .notes
            .iter()
            .any(|n| n.origin.file.ends_with("README.md")),
        "the non-export file is noted"
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn storage_tree_as_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, bytes) in costin_tree() {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, bytes).expect("write");
    }
    let export = read_path(dir.path(), &Limits::default()).expect("read folder");
    check_costin_export(&export, "");

    let few = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let err = read_path(dir.path(), &few).expect_err("too many entries");
    assert!(matches!(err, ImportError::Limit { .. }), "{err}");
    let small = Limits {
        max_expanded_bytes: 50_000,
        ..Limits::default()
    };
    let err = read_path(dir.path(), &small).expect_err("too large a tree");
    assert!(matches!(err, ImportError::Limit { .. }), "{err}");
}

fn build_zip(files: &[(String, Vec<u8>)], with_dirs: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    if with_dirs {
        writer.add_directory("entities/", options).expect("dir");
        writer
            .add_directory(format!("{PROJECT_DIR}/"), options)
            .expect("dir");
    }
    // Written in reverse to show the reader sorts.
    for (name, bytes) in files.iter().rev() {
        writer
            .start_file(name.as_str(), options)
            .expect("start file");
        writer.write_all(bytes).expect("write entry");
    }
    writer.finish().expect("finish zip").into_inner()
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn storage_tree_as_zip() {
    let bytes = build_zip(&costin_tree(), true);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tree.zip");
    fs::write(&path, &bytes).expect("write zip");
    let shown = path.display().to_string();
    let export = read_path(&path, &Limits::default()).expect("read zip");
    check_costin_export(&export, &format!("{shown}!"));
    let uploaded = read_bytes("tree.zip", &bytes, &Limits::default()).expect("read bytes");
    check_costin_export(&uploaded, "tree.zip!");

    let single = build_zip(
        &[(
            "Shipyard.xml".into(),
            fs::read(xml_path("CostinWorkshop__Things_Shipyard.xml")).expect("read"),
        )],
        false,
    );
    let export = read_bytes("one.zip", &single, &Limits::default()).expect("single-file zip");
    assert_eq!(export.entities.len(), 1);
    assert_eq!(export.entities[0].origin.file, "one.zip!Shipyard.xml");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn single_files_by_path_and_bytes() {
    let path = xml_path("TestProject__Groups_Users.xml");
    let export = read_path(&path, &Limits::default()).expect("read path");
    assert_eq!(export.entities.len(), 1);
    assert_eq!(export.entities[0].origin.file, path.display().to_string());
    let bytes = fs::read(&path).expect("read");
    let export = read_bytes("Users.xml", &bytes, &Limits::default()).expect("read bytes");
    let Kind::Group(g) = &export.entities[0].kind else {
        panic!("a Group");
    };
    assert_eq!(g.members.len(), 4);
    let err = read_bytes("Users.json", &bytes, &Limits::default()).expect_err("unsupported");
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn twx_file_by_path() {
    let path = corpus_dir().join("twx/InternetOfThings__Entities.twx");
    let export = read_path(&path, &Limits::default()).expect("read .twx");
    assert_eq!(
        per_collection(&export),
        map(&[
            ("DataShapes", 1),
            ("Mashups", 2),
            ("ThingTemplates", 2),
            ("Things", 6)
        ])
    );
}

// ------------------------------------------------------------------------------------------
// Bad input.
// ------------------------------------------------------------------------------------------

fn read_text(text: &str, limits: &Limits) -> Result<Export, ImportError> {
    read_xml(text.as_bytes(), "bad.xml", limits)
}

#[test]
fn malformed_xml_names_the_line() {
    let text = "<?xml version=\"1.0\"?>\n<Entities>\n  <Things>\n    <Thing name=\"A\">\n    </Thingx>\n  </Things>\n</Entities>\n";
    let err = read_text(text, &Limits::default()).expect_err("mismatched end tag");
    match &err {
        ImportError::Xml { origin, message } => {
            assert_eq!(origin.file, "bad.xml");
            assert_eq!(origin.line, Some(5), "{message}");
        }
        other => panic!("expected an XML error, got {other}"),
    }
    assert!(err.to_string().starts_with("bad.xml:5:"), "{err}");

    let truncated = "<Entities>\n<Things>\n<Thing name=\"A\">\n";
    let err = read_text(truncated, &Limits::default()).expect_err("truncated");
    assert!(matches!(err, ImportError::Xml { .. }), "{err}");

    let err = read_text(
        "<Entities><Things><Thing name=\"a\">&bogus;</Thing></Things></Entities>",
        &Limits::default(),
    )
    .expect_err("unknown entity");
    assert!(err.to_string().contains("bogus"), "{err}");

    let err = read_text("<Foo/>", &Limits::default()).expect_err("not an export");
    assert!(err.to_string().contains("<Foo>"), "{err}");
}

#[test]
fn doctype_and_billion_laughs_are_refused() {
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n<Entities><Things><Thing name=\"&lol3;\"/></Things></Entities>";
    let err = read_text(laughs, &Limits::default()).expect_err("DTD");
    assert!(matches!(err, ImportError::Xml { .. }), "{err}");
    assert!(err.to_string().contains("DOCTYPE"), "{err}");
    // Without the DTD the reference is simply unknown.
    let err = read_text(
        "<Entities><Things><Thing name=\"&lol3;\"/></Things></Entities>",
        &Limits::default(),
    )
    .expect_err("undefined entity");
    assert!(matches!(err, ImportError::Xml { .. }), "{err}");
}

#[test]
fn nesting_beyond_the_limit_is_refused() {
    let depth = 40;
    let mut text = String::from("<Entities><Things><Thing name=\"Deep\">");
    for _ in 0..depth {
        text.push_str("<a>");
    }
    for _ in 0..depth {
        text.push_str("</a>");
    }
    text.push_str("</Thing></Things></Entities>");
    let limits = Limits {
        max_depth: 20,
        ..Limits::default()
    };
    let err = read_text(&text, &limits).expect_err("too deep");
    assert!(matches!(err, ImportError::Limit { limit: 20, .. }), "{err}");
    let export = read_text(&text, &Limits::default()).expect("within the default limit");
    assert!(export.entities[0].extra.contains_key("a"));
}

#[test]
fn oversized_file_fails_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.xml");
    let file = File::create(&path).expect("create");
    file.set_len(1024 * 1024 * 1024).expect("sparse 1 GiB");
    // A file of zero bytes read as XML would be a syntax error: a limit error shows that the
    // size was checked before anything was read.
    let err = read_path(&path, &Limits::default()).expect_err("too large");
    assert!(matches!(err, ImportError::Limit { .. }), "{err}");
}

#[test]
fn zip_entry_leaving_the_archive_is_refused() {
    let bytes = build_zip(&[("../evil.xml".into(), b"<Entities/>".to_vec())], false);
    let err = read_bytes("evil.zip", &bytes, &Limits::default()).expect_err("unsafe path");
    match err {
        ImportError::UnsafePath { file, entry } => {
            assert_eq!(file, "evil.zip");
            assert_eq!(entry, "../evil.xml");
        }
        other => panic!("expected UnsafePath, got {other}"),
    }
    // The zip writer will not write an absolute name: write a placeholder and patch it (the
    // checksums cover the data, not the names).
    let mut bytes = build_zip(&[("_etc/evil.xml".into(), b"<Entities/>".to_vec())], false);
    let needle = b"_etc/evil.xml";
    let mut patched = 0;
    for i in 0..bytes.len() - needle.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i] = b'/';
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory");
    let err = read_bytes("abs.zip", &bytes, &Limits::default()).expect_err("absolute path");
    assert!(matches!(err, ImportError::UnsafePath { .. }), "{err}");
}

#[test]
fn zip_bomb_is_refused() {
    // 20 MiB of one byte compresses about a thousandfold.
    let mut payload = b"<Entities>".to_vec();
    payload.resize(20 * 1024 * 1024, b' ');
    let bytes = build_zip(&[("bomb.xml".into(), payload)], false);
    assert!(bytes.len() < 200 * 1024);
    let err = read_bytes("bomb.zip", &bytes, &Limits::default()).expect_err("ratio");
    assert!(matches!(err, ImportError::Limit { .. }), "{err}");
    assert!(err.to_string().contains("compression ratio"), "{err}");
    let small = Limits {
        max_file_bytes: 1024 * 1024,
        max_compression_ratio: 100_000,
        ..Limits::default()
    };
    let err = read_bytes("bomb.zip", &bytes, &small).expect_err("size");
    assert!(matches!(err, ImportError::Limit { .. }), "{err}");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn truncated_zip_is_refused() {
    let bytes = build_zip(&costin_tree(), false);
    let cut = &bytes[..bytes.len() / 2];
    let err = read_bytes("cut.zip", cut, &Limits::default()).expect_err("truncated");
    assert!(matches!(err, ImportError::Zip { .. }), "{err}");
}

#[test]
fn a_shape_listed_twice_is_implemented_once_with_a_note() {
    let text = "<Entities><Things><Thing name=\"Pump1\" thingTemplate=\"GenericThing\"><ImplementedShapes><ImplementedShape name=\"Sensor\"/><ImplementedShape name=\"Valve\"/><ImplementedShape name=\"Sensor\"/></ImplementedShapes></Thing></Things></Entities>";
    let export = read_text(text, &Limits::default()).expect("a repeated shape is not an error");
    let pump = entity(&export, Collection::Things, "Pump1");
    let Kind::Thing(thing) = &pump.kind else {
        panic!("Pump1 is not read as a Thing");
    };
    assert_eq!(thing.implemented_shapes, ["Sensor", "Valve"]);
    assert!(
        export
            .notes
            .iter()
            .any(|n| n.message.contains("ThingShape Sensor is listed twice")),
        "{:?}",
        export.notes
    );
}
