//! The mapping between `.twx` trees and the model, against the shared corpus: counts, exact
//! round trips, agreement with the XML export of the same projects, a synthetic tree with every
//! principal kind and rule level, and refused shapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType, PermissionKind, PrincipalType};
use ironworx_importer::model::{
    ApplicationKey, Common, ConfigurationTable, Entity, EntityRule, Export, ExtensionValue,
    FieldDefinition, Group, Kind, LocalizationTable, Member, Organization, Origin, PasswordHash,
    PropertyDefinition, PropertyValue, Term, Thing, ThingShape, ThingTemplate, Token, Unit, User,
    Vocabulary,
};
use ironworx_importer::twx_tree::{TreeOptions, export_from_tree, tree_from_export};
use ironworx_importer::{ImportError, Limits, TwxLimits, read_twx, write_twx};
use serde_json::{Map, Value, json};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(dir.is_dir(), "the corpus is missing: {}", dir.display());
    dir
}

/// Every corpus `.twx`: its file name, the tree `read_twx` gives and the reference decode.
fn corpus() -> Vec<(String, Value, Value)> {
    let dir = corpus_dir().join("twx");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus directory")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "twx"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "expected the three corpus .twx files");
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("read .twx");
            let tree = read_twx(bytes.as_slice(), &TwxLimits::default()).expect("decode .twx");
            let text = std::fs::read_to_string(path.with_extension("decoded.json"))
                .expect("read reference decode");
            let reference: Value = serde_json::from_str(&text).expect("parse reference decode");
            (name, tree, reference)
        })
        .collect()
}

fn read(tree: &Value, file: &str) -> Export {
    export_from_tree(tree, file, &Limits::default()).expect("read the tree")
}

fn options_for(export: &Export) -> TreeOptions {
    TreeOptions {
        blank_secrets: export
            .header
            .iter()
            .any(|(k, v)| k == "universal" && v == "password"),
    }
}

/// `Entityx18, Mashupx3` from the MANIFEST line of a decoded tree: element name → count.
fn manifest_counts(decoded_file: &str) -> BTreeMap<String, usize> {
    let manifest =
        std::fs::read_to_string(corpus_dir().join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let line = manifest
        .lines()
        .find(|l| l.starts_with(&format!("twx/{decoded_file}\t")))
        .unwrap_or_else(|| panic!("no MANIFEST line for {decoded_file}"));
    let contents = line.split('\t').nth(5).expect("contents column");
    let list = contents
        .split("entities: ")
        .nth(1)
        .expect("entities list")
        .split(';')
        .next()
        .expect("entities list end");
    list.split(", ")
        .map(|item| {
            let (element, count) = item.trim().rsplit_once('x').expect("Elementx<count>");
            (
                element.to_owned(),
                count.parse::<usize>().expect("entity count"),
            )
        })
        .collect()
}

/// Element name → count, straight from the JSON.
fn json_counts(tree: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for value in tree.as_object().expect("root object").values() {
        if let Some(collection) = value.as_object() {
            for (element, list) in collection {
                let n = list.as_array().expect("entity array").len();
                if n > 0 {
                    *counts.entry(element.clone()).or_default() += n;
                }
            }
        }
    }
    counts
}

/// A copy with every object's keys sorted, to compare content regardless of key order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The first JSON path where two trees differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return Some(format!("{path}.{k}: missing on the right")),
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: missing on the left"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// The first JSON path where the key order of two equal trees differs.
fn first_order_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let xk: Vec<&String> = x.keys().collect();
            let yk: Vec<&String> = y.keys().collect();
            if xk != yk {
                return Some(format!("{path}: {xk:?} vs {yk:?}"));
            }
            x.iter()
                .find_map(|(k, v)| first_order_difference(v, &y[k], &format!("{path}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_order_difference(v, w, &format!("{path}[{i}]"))),
        _ => None,
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn the_trees_are_the_reference_decodes() {
    for (name, tree, reference) in corpus() {
        assert!(
            tree == reference,
            "{name}: read_twx differs from the reference decode"
        );
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn entity_counts_match_the_manifest_and_the_json() {
    for (name, tree, _) in corpus() {
        let decoded = name.replace(".twx", ".decoded.json");
        let expected = manifest_counts(&decoded);
        assert_eq!(json_counts(&tree), expected, "{name}: MANIFEST vs JSON");
        let export = read(&tree, &name);
        let mut counts = BTreeMap::new();
        for entity in &export.entities {
            *counts
                .entry(entity.collection.element_name().to_owned())
                .or_insert(0usize) += 1;
        }
        assert_eq!(counts, expected, "{name}: entities read per collection");
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn property_value_counts_match_the_json() {
    for (name, tree, _) in corpus() {
        let mut expected = BTreeMap::new();
        for thing in tree["Things"]["Thing"].as_array().expect("things") {
            let n = thing["thingProperties"]
                .as_object()
                .expect("thingProperties")
                .len();
            expected.insert(thing["name"].as_str().expect("name").to_owned(), n);
        }
        let export = read(&tree, &name);
        let mut counts = BTreeMap::new();
        for entity in &export.entities {
            if let Kind::Thing(thing) = &entity.kind {
                counts.insert(entity.name.clone(), thing.values.len());
            }
        }
        assert_eq!(counts, expected, "{name}: property values per Thing");
    }
    // The fixed points of the corpus, read off the files by hand.
    let all = corpus();
    let snow = &all
        .iter()
        .find(|(n, _, _)| n.starts_with("SnowCleaner"))
        .expect("SnowCleaner")
        .1;
    let export = read(snow, "SnowCleaner");
    let thing = export
        .entities
        .iter()
        .find(|e| e.name == "SnowThing")
        .expect("SnowThing");
    let Kind::Thing(thing) = &thing.kind else {
        panic!("SnowThing is a Thing")
    };
    let position = thing
        .values
        .iter()
        .find(|v| v.name == "CarPosition")
        .expect("CarPosition");
    assert_eq!(position.base_type, "LOCATION");
    assert_eq!(
        position.value,
        json!({"elevation": 964.0, "latitude": 33.07, "longitude": 68.0})
    );
    assert_eq!(position.quality, "", "7.2 writes LOCATION values bare");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_round_trips_exactly() {
    for (name, tree, _) in corpus() {
        let export = read(&tree, &name);
        // Everything the model has no field for is a plain top-level key: no nested pointer.
        assert!(
            export.notes.is_empty(),
            "{name}: unexpected notes: {:?}",
            export.notes
        );
        let mut kept: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entity in &export.entities {
            for key in entity.extra.keys() {
                assert!(
                    !key.starts_with('/') && !key.starts_with("-/"),
                    "{name}: {} kept a nested difference {key}",
                    entity.path()
                );
                let list = kept.entry(entity.collection.to_string()).or_default();
                if !list.contains(key) {
                    list.push(key.clone());
                }
            }
        }
        println!("{name}: kept in Entity::extra: {kept:?}");
        let written = tree_from_export(&export, &options_for(&export));
        assert!(
            canonical(&written) == canonical(&tree),
            "{name}: the written tree differs: {:?}",
            first_difference(&tree, &written, "$")
        );
        let order = first_order_difference(&tree, &written, "$");
        println!("{name}: key order identical: {}", order.is_none());
        assert_eq!(order, None, "{name}: key order differs");
        // And the model is stable: reading the written tree gives the same model.
        assert_eq!(
            read(&written, &name),
            export,
            "{name}: model after a second pass"
        );
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_survives_write_twx_and_read_twx() {
    for (name, tree, _) in corpus() {
        let export = read(&tree, &name);
        let written = tree_from_export(&export, &options_for(&export));
        let mut bytes = Vec::new();
        write_twx(&written, &mut bytes).expect("write_twx");
        let back = read_twx(bytes.as_slice(), &TwxLimits::default()).expect("read_twx");
        assert!(back == tree, "{name}: tree after write_twx/read_twx");
    }
}

/// What the cross-format check compares of one entity.
#[derive(Debug, PartialEq)]
struct Summary {
    description: String,
    tags: String,
    project: String,
    definitions: Vec<(String, String)>,
    values: Vec<(String, String)>,
}

fn summaries(export: &Export) -> BTreeMap<(String, String), Summary> {
    export
        .entities
        .iter()
        .map(|e| {
            let (definitions, values) = match &e.kind {
                Kind::Thing(t) => (
                    t.definitions.properties.clone(),
                    t.values
                        .iter()
                        .map(|v| (v.name.clone(), normal_value(v)))
                        .collect(),
                ),
                Kind::ThingTemplate(t) => (t.definitions.properties.clone(), Vec::new()),
                Kind::ThingShape(t) => (t.definitions.properties.clone(), Vec::new()),
                _ => (Vec::new(), Vec::new()),
            };
            let mut definitions: Vec<(String, String)> = definitions
                .into_iter()
                .map(|p| (p.name, p.base_type))
                .collect();
            definitions.sort();
            let mut values: Vec<(String, String)> = values;
            values.sort();
            (
                (e.collection.to_string(), e.name.clone()),
                Summary {
                    description: e.common.description.clone(),
                    tags: e.common.tags.clone(),
                    project: e.common.project_name.clone(),
                    definitions,
                    values,
                },
            )
        })
        .collect()
}

/// A property value as comparable text: typed by its base type when known, bare values unwrapped.
fn normal_value(value: &PropertyValue) -> String {
    let typed = if value.base_type.is_empty() {
        value.value.clone()
    } else {
        ironworx_importer::values::canonical(&value.base_type, value.value.clone())
            .unwrap_or_else(|_| value.value.clone())
    };
    match typed {
        // A DATETIME whose base type neither file states: XML text, `.twx` epoch ms.
        Value::String(s) => match ironworx_importer::values::parse_date(&s) {
            Some(ms) => (ms as f64).to_string(),
            None => s,
        },
        Value::Null => String::new(),
        Value::Number(n) => n.as_f64().map(|f| f.to_string()).unwrap_or_default(),
        other => canonical(&other).to_string(),
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn twx_and_xml_exports_of_the_same_projects_agree() {
    use std::io::BufReader;
    let mut report = Vec::new();
    for project in ["CollectionWidget", "InternetOfThings"] {
        let twx_path = corpus_dir().join(format!("twx/{project}__Entities.twx"));
        let xml_path = corpus_dir().join(format!("xml/{project}__Entities.xml"));
        let bytes = std::fs::read(&twx_path).expect("read .twx");
        let tree = read_twx(bytes.as_slice(), &TwxLimits::default()).expect("decode .twx");
        let from_twx = read(&tree, project);
        let file = std::fs::File::open(&xml_path).expect("open .xml");
        let from_xml = ironworx_importer::xml_read::read_xml(
            BufReader::new(file),
            &xml_path.display().to_string(),
            &Limits::default(),
        )
        .expect("read .xml");
        let twx = summaries(&from_twx);
        let xml = summaries(&from_xml);
        for key in twx.keys().filter(|k| !xml.contains_key(*k)) {
            report.push(format!("{project}: only in the .twx: {}/{}", key.0, key.1));
        }
        for key in xml.keys().filter(|k| !twx.contains_key(*k)) {
            report.push(format!("{project}: only in the .xml: {}/{}", key.0, key.1));
        }
        for (key, a) in &twx {
            if let Some(b) = xml.get(key).filter(|b| *b != a) {
                report.push(format!(
                    "{project}: {}/{} differs:\n  twx {a:?}\n  xml {b:?}",
                    key.0, key.1
                ));
            }
        }
    }
    // The two InternetOfThings files are not exports of the same moment: the XML is older
    // (SmartOfficeTemplate last modified 2018-01-03 there, 2018-01-15 in the .twx). Since then
    // the template gained FilledUp (STRING), Humidity (NUMBER) and Table (INFOTABLE), so its
    // Things SmartOfficeCreator and test carry three property values more, and Mashup1 and
    // Thing3 and Timer were created. These are the only differences; CollectionWidget agrees fully.
    let expected = [
        "InternetOfThings: only in the .twx: Mashups/Mashup1",
        "InternetOfThings: only in the .twx: Things/Thing3",
        "InternetOfThings: only in the .twx: Things/Timer",
        "InternetOfThings: ThingTemplates/SmartOfficeTemplate differs",
        "InternetOfThings: Things/SmartOfficeCreator differs",
        "InternetOfThings: Things/test differs",
    ];
    let unexpected: Vec<&String> = report
        .iter()
        .filter(|line| !expected.iter().any(|p| line.starts_with(p)))
        .collect();
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|p| !report.iter().any(|line| line.starts_with(**p)))
        .collect();
    assert!(
        missing.is_empty(),
        "expected differences not seen: {missing:?}"
    );
    for line in &report {
        println!("{line}");
    }
    assert!(unexpected.is_empty(), "differences: {unexpected:#?}");
}

fn rule(
    kind: PermissionKind,
    resource: &str,
    ptype: PrincipalType,
    name: &str,
    allow: bool,
) -> Rule {
    Rule {
        kind,
        resource: resource.into(),
        principal_type: ptype,
        principal_name: name.into(),
        allow,
    }
}

fn own(rule: Rule) -> EntityRule {
    EntityRule {
        instance: false,
        rule,
    }
}

fn instance(rule: Rule) -> EntityRule {
    EntityRule {
        instance: true,
        rule,
    }
}

fn entity(collection: Collection, name: &str, kind: Kind) -> Entity {
    Entity {
        collection,
        name: name.into(),
        common: Common {
            description: format!("the {name}"),
            tags: "Plant:Line;Demo:Synthetic".into(),
            project_name: "Synthetic".into(),
            owner: Some(("User".into(), "Administrator".into())),
            last_modified_date: Some(1_574_761_407_392),
            ..Common::default()
        },
        rules: Vec::new(),
        configuration_tables: Vec::new(),
        kind,
        extra: Map::new(),
        origin: Origin::default(),
    }
}

fn synthetic() -> Export {
    use PermissionKind as P;
    use PrincipalType as T;
    let member = |name: &str, member_type| Member {
        name: name.into(),
        member_type,
    };
    let mut entities = Vec::new();

    let extensions_table = ConfigurationTable {
        name: "UserExtensions".into(),
        description: "UserExtensions".into(),
        is_multi_row: true,
        ordinal: 1,
        fields: vec![FieldDefinition {
            name: "name".into(),
            base_type: "STRING".into(),
            ordinal: 1,
            ..FieldDefinition::default()
        }],
        rows: vec![
            [
                ("name".to_owned(), json!("emailAddress")),
                ("value".to_owned(), json!("klee@example.org")),
                ("lastUpdateTime".to_owned(), json!(0)),
            ]
            .into_iter()
            .collect(),
        ],
        ..ConfigurationTable::default()
    };
    let mut klee = entity(
        Collection::Users,
        "klee",
        Kind::User(Box::new(User {
            enabled: true,
            locked: false,
            password: Some(PasswordHash {
                hash: "100000:abcd:ef01".into(),
                algorithm: "PBKDF2WithHmacSHA512".into(),
                iterations: 100_000,
                salt_bytes: 64,
                hash_bytes: 64,
            }),
            extensions: vec![ExtensionValue {
                name: "emailAddress".into(),
                value: "klee@example.org".into(),
                last_update_time: 0,
            }],
            ..User::default()
        })),
    );
    klee.common.owner = None;
    klee.configuration_tables.push(extensions_table);
    entities.push(klee);
    entities.push(entity(
        Collection::Users,
        "nopass",
        Kind::User(Box::default()),
    ));
    entities.push(entity(
        Collection::Groups,
        "MaintTech",
        Kind::Group(Group {
            members: vec![member("klee", MemberType::User)],
            ..Group::default()
        }),
    ));
    entities.push(entity(
        Collection::Groups,
        "Maint.General",
        Kind::Group(Group {
            scim_display_name: "Maintenance".into(),
            members: vec![
                member("Administrator", MemberType::User),
                member("MaintTech", MemberType::Group),
            ],
            ..Group::default()
        }),
    ));
    let mut org = entity(
        Collection::Organizations,
        "Plant",
        Kind::Organization(Box::new(Organization {
            login_prompt: "Welcome".into(),
            login_reset_password: true,
            units: vec![
                Unit {
                    name: "Plant".into(),
                    description: "root".into(),
                    parent: None,
                    members: vec![member("Maint.General", MemberType::Group)],
                },
                Unit {
                    name: "Area".into(),
                    description: String::new(),
                    parent: Some("Plant".into()),
                    members: vec![],
                },
                Unit {
                    name: "Line".into(),
                    description: "a line".into(),
                    parent: Some("Area".into()),
                    members: vec![
                        member("klee", MemberType::User),
                        member("MaintTech", MemberType::Group),
                    ],
                },
            ],
            ..Organization::default()
        })),
    );
    org.rules = vec![own(rule(
        P::Visibility,
        "*",
        T::Organization,
        "Plant",
        true,
    ))];
    entities.push(org);
    entities.push(entity(
        Collection::ApplicationKeys,
        "DevOpsKey",
        Kind::ApplicationKey(ApplicationKey {
            key_id: "4c1e0d5c-6a3b-4e0c-9d2e-5d1f0c3b2a10".into(),
            user_name: "klee".into(),
            expiration_date: Some(1_893_456_000_000),
            client_name: "ci".into(),
            ip_whitelist: "10.0.0.0/8".into(),
        }),
    ));
    entities.push(entity(
        Collection::LocalizationTables,
        "de",
        Kind::LocalizationTable(LocalizationTable {
            tokens: vec![Token {
                name: "greeting".into(),
                value: "Hallo".into(),
                description: "greets".into(),
                context: "login".into(),
            }],
        }),
    ));
    entities.push(entity(
        Collection::ModelTags,
        "Plant",
        Kind::Vocabulary(Vocabulary {
            is_dynamic: false,
            terms: vec![Term {
                name: "Line".into(),
                description: "a line".into(),
            }],
        }),
    ));
    let mut shape = entity(
        Collection::ThingShapes,
        "PowerConsumerTS",
        Kind::ThingShape(Box::new(ThingShape {
            class_name: String::new(),
            definitions: ironworx_importer::model::Definitions {
                properties: vec![PropertyDefinition {
                    name: "PowerConsumed".into(),
                    base_type: "NUMBER".into(),
                    ordinal: 1,
                    ..PropertyDefinition::default()
                }],
                ..Default::default()
            },
        })),
    );
    shape.rules = vec![
        instance(rule(P::PropertyRead, "*", T::Group, "MaintTech", true)),
        instance(rule(
            P::ServiceInvoke,
            "Shutdown",
            T::Group,
            "MaintTech",
            false,
        )),
    ];
    entities.push(shape);
    let mut template = entity(
        Collection::ThingTemplates,
        "CrewRoverTemplate",
        Kind::ThingTemplate(Box::new(ThingTemplate {
            base_thing_template: "GenericThing".into(),
            implemented_shapes: vec!["PowerConsumerTS".into()],
            ..ThingTemplate::default()
        })),
    );
    template.rules = vec![
        own(rule(P::Read, "*", T::Group, "MaintTech", true)),
        instance(rule(P::Update, "*", T::User, "klee", false)),
        instance(rule(P::PropertyWrite, "*", T::Group, "Maint.General", true)),
        instance(rule(
            P::EventSubscribe,
            "PowerConsumed",
            T::User,
            "klee",
            false,
        )),
        instance(rule(
            P::Visibility,
            "*",
            T::OrganizationalUnit,
            "Plant:Line",
            true,
        )),
    ];
    entities.push(template);
    let mut thing = entity(
        Collection::Things,
        "Shipyard",
        Kind::Thing(Box::new(Thing {
            thing_template: "CrewRoverTemplate".into(),
            enabled: true,
            effective_thing_package: "ConfiguredThing".into(),
            definitions: ironworx_importer::model::Definitions {
                properties: vec![PropertyDefinition {
                    name: "Rollup".into(),
                    base_type: "NUMBER".into(),
                    ..PropertyDefinition::default()
                }],
                ..Default::default()
            },
            values: vec![PropertyValue {
                name: "Rollup".into(),
                base_type: "NUMBER".into(),
                value: json!(12.5),
                time: 1_574_761_407_000,
                quality: "GOOD".into(),
            }],
            ..Thing::default()
        })),
    );
    thing.rules = vec![
        own(rule(P::Create, "*", T::Group, "Maint.General", true)),
        own(rule(P::Metadata, "*", T::User, "klee", false)),
        own(rule(P::PropertyRead, "*", T::Group, "MaintTech", true)),
        own(rule(P::PropertyWrite, "*", T::User, "klee", false)),
        own(rule(
            P::ServiceInvoke,
            "GetPropertyValues",
            T::Group,
            "MaintTech",
            true,
        )),
        own(rule(
            P::EventInvoke,
            "LowPowerState",
            T::User,
            "klee",
            false,
        )),
        own(rule(P::Visibility, "*", T::Organization, "Plant", true)),
        own(rule(
            P::Visibility,
            "*",
            T::OrganizationalUnit,
            "Plant:Area",
            false,
        )),
    ];
    thing
        .extra
        .insert("configurationChanges".into(), json!([{"user": "klee"}]));
    entities.push(thing);

    Export {
        header: vec![
            ("schemaVersion".into(), "1134".into()),
            ("majorVersion".into(), "9".into()),
            ("minorVersion".into(), "3".into()),
            ("revision".into(), "10".into()),
            ("build".into(), "b1899".into()),
            (
                "modelPersistenceProviderPackage".into(),
                "PostgresPersistenceProviderPackage".into(),
            ),
            ("universal".into(), String::new()),
        ],
        entities,
        ..Export::default()
    }
}

fn without_origins(mut export: Export) -> Export {
    for entity in &mut export.entities {
        entity.origin = Origin::default();
    }
    export
}

#[test]
fn synthetic_principals_and_rules_round_trip_through_twx_bytes() {
    let export = synthetic();
    let tree = tree_from_export(&export, &TreeOptions::default());
    let mut bytes = Vec::new();
    write_twx(&tree, &mut bytes).expect("write_twx");
    let back = read_twx(bytes.as_slice(), &TwxLimits::default()).expect("read_twx");
    let read_back = export_from_tree(&back, "synthetic.twx", &Limits::default()).expect("read");
    assert!(read_back.notes.is_empty(), "notes: {:?}", read_back.notes);
    // The writer groups entities by collection in ThingWorx's collection order, so compare
    // them sorted by path; everything else must be equal.
    let sorted = |mut export: Export| {
        export.entities.sort_by_key(Entity::path);
        export
    };
    let read_back = sorted(without_origins(read_back));
    let export = sorted(export);
    for (a, b) in export.entities.iter().zip(&read_back.entities) {
        assert_eq!(a, b, "{}", a.path());
    }
    assert_eq!(read_back, export);

    // The principal shapes as written.
    let tree = &back;
    let things = tree["Things"]["Thing"].as_array().expect("things");
    let rt = &things[0]["runTimePermissions"]["permissions"];
    assert_eq!(rt[0]["resourceName"], "*");
    assert_eq!(
        rt[0]["PropertyWrite"],
        json!([{"name": "klee", "type": "User", "isPermitted": false}])
    );
    assert_eq!(rt[1]["resourceName"], "GetPropertyValues");
    let org = &tree["Organizations"]["Organization"][0];
    assert_eq!(
        org["connections"],
        json!([{"from": "", "to": "Plant"}, {"from": "Plant", "to": "Area"}, {"from": "Area", "to": "Line"}])
    );
    assert_eq!(
        tree["Groups"]["Group"][1]["members"][1],
        json!({"name": "MaintTech", "type": "Group"})
    );
    assert_eq!(
        tree["Users"]["User"][0]["passwordHash"],
        json!("100000:abcd:ef01")
    );
}

#[test]
fn blanked_secrets_are_not_written() {
    let export = synthetic();
    let tree = tree_from_export(
        &export,
        &TreeOptions {
            blank_secrets: true,
        },
    );
    assert_eq!(tree["universal"], "password");
    assert_eq!(tree["ApplicationKeys"]["ApplicationKey"][0]["keyId"], "");
    let user = tree["Users"]["User"][0].as_object().expect("user");
    assert!(user.keys().all(|k| !k.starts_with("passwordHash")));
    let back = export_from_tree(&tree, "blank.twx", &Limits::default()).expect("read");
    let Kind::User(user) = &back.entities[0].kind else {
        panic!("first entity is a user")
    };
    assert_eq!(user.password, None);
}

#[test]
fn extras_read_from_xml_are_written_in_thingworx_shapes() {
    let doc = r#"<Entities><Things><Thing name="T" thingTemplate="GenericThing" lockedTime="2018-02-20T21:40:47.329Z">
        <PropertyBindings><PropertyBinding name="a" sourceName="b" sourceThingName="c"/></PropertyBindings>
        <RemoteServiceBindings/>
        <ConfigurationChanges><ConfigurationChange changeAction="CREATE" changeReason="" timestamp="1970-01-01T00:00:01.000Z" user="u"/></ConfigurationChanges>
        </Thing></Things></Entities>"#;
    let export = ironworx_importer::xml_read::read_xml(doc.as_bytes(), "t.xml", &Limits::default())
        .expect("read");
    let tree = tree_from_export(&export, &TreeOptions::default());
    let written = &tree["Things"]["Thing"][0];
    assert_eq!(written["lockedTime"], json!(1_519_162_847_329_i64));
    assert_eq!(
        written["propertyBindings"],
        json!({"a": {"name": "a", "sourceName": "b", "sourceThingName": "c"}})
    );
    assert_eq!(written["remoteServiceBindings"], json!({}));
    // An empty change reason is left out, as ThingWorx's `.twx` leaves it out.
    assert_eq!(
        written["configurationChanges"],
        json!([{"changeAction": "CREATE", "timestamp": 1000, "user": "u"}])
    );
}

fn shape_error(tree: Value) -> String {
    match export_from_tree(&tree, "bad.twx", &Limits::default()) {
        Err(ImportError::TwxShape { file, message }) => {
            assert_eq!(file, "bad.twx");
            message
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn bad_shapes_are_refused_with_their_path() {
    let message = shape_error(json!({"schemaVersion": "1134", "Things": [1, 2]}));
    assert!(
        message.contains("$.Things") && message.contains("not an object"),
        "{message}"
    );

    let message = shape_error(json!({"Things": {"Thing": [{"description": "x"}]}}));
    assert!(
        message.contains("$.Things.Thing[0]") && message.contains("no name"),
        "{message}"
    );

    let message = shape_error(json!({"Things": {"Thing": [{"name": 5}]}}));
    assert!(message.contains("$.Things.Thing[0].name"), "{message}");

    let message = shape_error(json!({"Things": {"Thing": ["Pump1"]}}));
    assert!(message.contains("not an object"), "{message}");

    let message = shape_error(json!({"Things": {"Thing": [{
        "name": "Pump1",
        "designTimePermissions": {"Read": [{"name": "x", "type": "Robot", "isPermitted": true}]}
    }]}}));
    assert!(
        message.contains("$.Things.Thing[0].designTimePermissions.Read[0].type")
            && message.contains("Robot"),
        "{message}"
    );

    let message = shape_error(json!({"Things": {"Thing": [{
        "name": "Pump1",
        "visibilityPermissions": {"Visibility": [{"name": "Org", "type": "Organization", "isPermitted": "maybe"}]}
    }]}}));
    assert!(message.contains("isPermitted"), "{message}");

    let message = shape_error(json!({"Groups": {"Group": [{
        "name": "G", "members": [{"name": "x", "type": "Thing"}]
    }]}}));
    assert!(
        message.contains("$.Groups.Group[0].members[0].type"),
        "{message}"
    );

    let message = shape_error(json!({"Things": {"Things": []}}));
    assert!(message.contains("'Thing'"), "{message}");

    let message = shape_error(json!([1]));
    assert!(message.contains("root"), "{message}");
}

#[test]
fn depth_limit_is_enforced() {
    let mut deep = json!("leaf");
    for _ in 0..40 {
        deep = json!({ "a": deep });
    }
    let tree = json!({"Things": {"Thing": [{"name": "Pump1", "aspects": deep}]}});
    let limits = Limits {
        max_depth: 32,
        ..Limits::default()
    };
    match export_from_tree(&tree, "deep.twx", &limits) {
        Err(ImportError::Limit { file, limit, .. }) => {
            assert_eq!(file, "deep.twx");
            assert_eq!(limit, 32);
        }
        other => panic!("expected a depth limit error, got {other:?}"),
    }
    assert!(export_from_tree(&tree, "deep.twx", &Limits::default()).is_ok());
}
