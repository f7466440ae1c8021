//! Round-trip properties of every export format on generated models: layout A, storage
//! folders and zips (layouts B and C), `.twx`, and the determinism of every writer.
//!
//! Each property compares models after [`normalise`], which removes what a format does not
//! carry or orders differently; the expected differences are:
//! - every format: `origin` and `notes` are ignored; the header is compared as a sorted list
//!   without `universal` (the writers set it from the options); rules are compared as sorted
//!   lists (formats group them by block); property values are compared typed by the base type
//!   of their definition in the generated model (a reader may not know it); InfoTable field
//!   definitions are compared with their optional keys filled with defaults; a User's
//!   `UserExtensions` and `Settings` tables are compared through the typed fields only;
//!   organizational units are compared root first, then sorted by name (the XML sorts them);
//! - layout A: entities grouped by collection (in model order inside one), no collection rules
//!   and no listed rules (file mode never carries them);
//! - storage: entities sorted by collection and name (one file each); rules the permissions file lists for an entity of the export are
//!   compared with that entity's rules and then dropped;
//! - `.twx`: entities grouped by collection (in model order inside one), no collection rules
//!   and no listed rules; INFOTABLE and LOCATION values without their time and quality (the
//!   tree holds them bare, as ThingWorx does); definition lists, fields, configuration
//!   tables, implemented shapes and property values sorted by name (the tree keys them in a `HashMap`).
//!
//! Extras are generated in the neutral form every format carries alike.

use std::collections::HashMap;
use std::io::Cursor;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType, PermissionKind, PrincipalType};
use ironworx_importer::Limits;
use ironworx_importer::model::{
    ApplicationKey, CollectionRule, Common, ConfigurationTable, DataShape, Definitions, Entity,
    EntityRule, EventDefinition, Export, ExtensionValue, Extra, FieldDefinition, Group, Kind,
    ListedRules, LocalizationTable, Member, Organization, Origin, PasswordHash, PropertyDefinition,
    PropertyValue, ServiceDefinition, ServiceImplementation, Subscription, Term, Thing, ThingShape,
    ThingTemplate, Token, Unit, User, Vocabulary,
};
use ironworx_importer::values;
use ironworx_importer::xml_write::{
    WriteOptions, write_entity_file, write_permissions_file, write_single_file,
};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

const CASES: u32 = 48;
const KEEP: WriteOptions = WriteOptions {
    blank_secrets: false,
};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Free text: empty, plain, XML-special, unicode, multi-line, padded, `]]>`.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9]{1,8}",
        "[a-zA-Z0-9&<>\"' üé☃]{1,10}",
        prop::sample::select(vec![
            "a & b",
            "<tag attr=\"v\">",
            "'single' \"double\"",
            "ünïcödé ☃ 日本",
            "x]]>y",
            "]]>",
            "line one\nline two",
            "  padded  ",
            "\ttab",
            "ends with newline\n",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A non-empty text without leading or trailing whitespace.
fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9]{0,6}"
}

/// An entity or principal name, XML-special characters included.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9_.]{0,6}",
        "[A-Za-z][A-Za-z0-9&'ü☃<\"\\-]{0,6}",
    ]
}

/// A name that can be an XML element name (property, field, extra).
fn xml_name() -> impl Strategy<Value = String> {
    "[a-z][a-zA-Z0-9_]{0,6}"
}

fn aspect_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<bool>().prop_map(Json::Bool),
        (-5i64..1000).prop_map(|n| json!(n)),
        (-50i32..50).prop_map(|n| json!(f64::from(n) / 2.0)),
        "s[a-z]{0,4}".prop_map(Json::String),
        Just(Json::String(String::new())),
    ]
}

fn aspects() -> impl Strategy<Value = Map<String, Json>> {
    prop::collection::vec((xml_name(), aspect_value()), 0..3)
        .prop_map(|pairs| pairs.into_iter().collect())
}

const BASE_TYPES: &[&str] = &[
    "STRING",
    "NUMBER",
    "INTEGER",
    "LONG",
    "BOOLEAN",
    "DATETIME",
    "JSON",
    "LOCATION",
    "INFOTABLE",
    "TEXT",
    "THINGNAME",
];

fn base_type() -> impl Strategy<Value = String> {
    prop::sample::select(BASE_TYPES).prop_map(str::to_owned)
}

fn info_table(field: &str, cells: Vec<String>) -> Json {
    json!({
        "dataShape": {"fieldDefinitions": {field: {
            "name": field, "aspects": {}, "description": "", "baseType": "STRING", "ordinal": 0
        }}},
        "rows": cells.into_iter().map(|c| json!({field: c})).collect::<Vec<_>>(),
    })
}

/// A canonical value of `base_type`.
fn value_of(base_type: &str) -> BoxedStrategy<Json> {
    match base_type {
        "NUMBER" => prop_oneof![
            Just(Json::Null),
            (-1000i32..1000).prop_map(|n| json!(f64::from(n) / 4.0)),
        ]
        .boxed(),
        "INTEGER" => any::<i32>().prop_map(|n| json!(n)).boxed(),
        "LONG" => any::<i64>().prop_map(|n| json!(n)).boxed(),
        "BOOLEAN" => any::<bool>().prop_map(Json::Bool).boxed(),
        "DATETIME" => (0i64..4_000_000_000_000).prop_map(|n| json!(n)).boxed(),
        "JSON" => (word(), -10i64..10)
            .prop_map(|(k, n)| json!({"key": k, "n": n, "list": [1, "two"]}))
            .boxed(),
        "LOCATION" => (-90i32..90, -180i32..180, 0i32..100)
            .prop_map(|(a, b, c)| {
                json!({"latitude": f64::from(a) / 2.0, "longitude": f64::from(b) / 2.0,
                       "elevation": f64::from(c)})
            })
            .boxed(),
        "INFOTABLE" => (xml_name(), prop::collection::vec(text(), 0..3))
            .prop_map(|(f, cells)| info_table(&f, cells))
            .boxed(),
        _ => text().prop_map(Json::String).boxed(),
    }
}

fn field_definition() -> impl Strategy<Value = FieldDefinition> {
    (xml_name(), base_type(), text(), 0i32..10, aspects()).prop_map(
        |(name, base_type, description, ordinal, aspects)| FieldDefinition {
            name,
            base_type,
            description,
            ordinal,
            aspects,
        },
    )
}

fn distinct_fields(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<FieldDefinition>> {
    prop::collection::vec(field_definition(), range).prop_map(|mut fields| {
        let mut seen = Vec::new();
        fields.retain(|f| {
            let fresh = !seen.contains(&f.name);
            seen.push(f.name.clone());
            fresh
        });
        fields
    })
}

fn row_for(fields: &[FieldDefinition]) -> BoxedStrategy<Map<String, Json>> {
    let cells: Vec<BoxedStrategy<(String, Json)>> = fields
        .iter()
        .map(|f| {
            let name = f.name.clone();
            value_of(&f.base_type)
                .prop_map(move |v| (name.clone(), v))
                .boxed()
        })
        .collect();
    cells.prop_map(|cells| cells.into_iter().collect()).boxed()
}

fn configuration_table() -> impl Strategy<Value = ConfigurationTable> {
    (
        xml_name(),
        text(),
        any::<bool>(),
        0i32..5,
        prop_oneof![Just(String::new()), word()],
        any::<bool>(),
        distinct_fields(1..4),
    )
        .prop_flat_map(
            |(name, description, is_multi_row, ordinal, data_shape_name, is_hidden, fields)| {
                let rows = prop::collection::vec(row_for(&fields), 0..3);
                (
                    Just(ConfigurationTable {
                        name,
                        description,
                        is_multi_row,
                        ordinal,
                        data_shape_name,
                        is_hidden,
                        fields,
                        rows: Vec::new(),
                    }),
                    rows,
                )
            },
        )
        .prop_map(|(mut table, rows)| {
            table.rows = rows;
            table
        })
}

fn tables() -> impl Strategy<Value = Vec<ConfigurationTable>> {
    prop::collection::vec(configuration_table(), 0..2).prop_map(|mut tables| {
        let mut seen = Vec::new();
        tables.retain(|t| {
            let fresh = !seen.contains(&t.name);
            seen.push(t.name.clone());
            fresh
        });
        tables
    })
}

fn script(code: String) -> ConfigurationTable {
    let mut row = Map::new();
    row.insert("code".into(), Json::String(code));
    ConfigurationTable {
        name: "Script".into(),
        fields: vec![FieldDefinition {
            name: "code".into(),
            base_type: "STRING".into(),
            description: "code".into(),
            ..FieldDefinition::default()
        }],
        rows: vec![row],
        ..ConfigurationTable::default()
    }
}

fn definitions() -> impl Strategy<Value = Definitions> {
    let property = (
        xml_name(),
        base_type(),
        text(),
        text(),
        0i32..9,
        any::<bool>(),
        aspects(),
    )
        .prop_map(
            |(name, base_type, description, category, ordinal, is_local_only, aspects)| {
                PropertyDefinition {
                    name,
                    base_type,
                    description,
                    category,
                    ordinal,
                    is_local_only,
                    aspects,
                }
            },
        );
    let service = (
        xml_name(),
        text(),
        text(),
        any::<[bool; 4]>(),
        aspects(),
        prop::option::of(field_definition()),
        distinct_fields(0..3),
    )
        .prop_map(
            |(name, description, category, flags, aspects, result_type, parameters)| {
                ServiceDefinition {
                    name,
                    description,
                    category,
                    is_allow_override: flags[0],
                    is_local_only: flags[1],
                    is_open: flags[2],
                    is_private: flags[3],
                    aspects,
                    result_type,
                    parameters,
                }
            },
        );
    let event = (xml_name(), text(), text(), name(), any::<bool>(), aspects()).prop_map(
        |(name, description, category, data_shape, is_local_only, aspects)| EventDefinition {
            name,
            description,
            category,
            data_shape,
            is_local_only,
            aspects,
        },
    );
    let implementation =
        (xml_name(), text(), text()).prop_map(|(name, description, code)| ServiceImplementation {
            name,
            description,
            handler_name: "Script".into(),
            configuration: vec![script(code)],
        });
    let subscription = (xml_name(), text(), any::<bool>(), word(), text()).prop_map(
        |(property, description, enabled, source, code)| Subscription {
            name: format!("Event.DataChange:Property.{property}"),
            description,
            enabled,
            event_name: "DataChange".into(),
            source,
            source_property: property,
            source_type: "Thing".into(),
            handler_name: "Script".into(),
            configuration: vec![script(code)],
        },
    );
    (
        prop::collection::vec(property, 0..3),
        prop::collection::vec(service, 0..2),
        prop::collection::vec(event, 0..2),
        prop::collection::vec(implementation, 0..2),
        prop::collection::vec(subscription, 0..2),
    )
        .prop_map(
            |(properties, services, events, implementations, subscriptions)| Definitions {
                properties: dedup_by_key(properties, |p| p.name.clone()),
                services: dedup_by_key(services, |s| s.name.clone()),
                events: dedup_by_key(events, |e| e.name.clone()),
                implementations: dedup_by_key(implementations, |i| i.name.clone()),
                subscriptions: dedup_by_key(subscriptions, |s| s.name.clone()),
            },
        )
}

fn dedup_by_key<T, K: PartialEq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen: Vec<K> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let k = key(&item);
        if !seen.contains(&k) {
            seen.push(k);
            out.push(item);
        }
    }
    out
}

fn property_values() -> impl Strategy<Value = Vec<PropertyValue>> {
    let one = (xml_name(), base_type()).prop_flat_map(|(name, base_type)| {
        (
            Just(name),
            value_of(&base_type),
            Just(base_type),
            0i64..4_000_000_000_000,
            prop::sample::select(vec!["GOOD", "UNKNOWN", "BAD"]),
        )
            .prop_map(|(name, value, base_type, time, quality)| PropertyValue {
                name,
                base_type,
                value,
                time,
                quality: quality.into(),
            })
    });
    prop::collection::vec(one, 0..4).prop_map(|v| dedup_by_key(v, |p| p.name.clone()))
}

fn principal(kind: PermissionKind) -> BoxedStrategy<(PrincipalType, String)> {
    if kind == PermissionKind::Visibility {
        prop_oneof![
            name().prop_map(|n| (PrincipalType::Organization, n)),
            (name(), name())
                .prop_map(|(o, u)| (PrincipalType::OrganizationalUnit, format!("{o}:{u}"))),
        ]
        .boxed()
    } else {
        prop_oneof![
            name().prop_map(|n| (PrincipalType::User, n)),
            name().prop_map(|n| (PrincipalType::Group, n)),
        ]
        .boxed()
    }
}

/// A rule of one of `kinds`; run-time rules name `*` or a resource.
fn rule(kinds: &'static [PermissionKind]) -> impl Strategy<Value = Rule> {
    prop::sample::select(kinds).prop_flat_map(|kind| {
        let resource = if kind.category() == ironworx_entity::vocab::PermissionCategory::RunTime {
            prop_oneof![Just("*".to_owned()), xml_name()].boxed()
        } else {
            Just("*".to_owned()).boxed()
        };
        (principal(kind), resource, any::<bool>()).prop_map(
            move |((principal_type, principal_name), resource, allow)| Rule {
                kind,
                resource,
                principal_type,
                principal_name,
                allow,
            },
        )
    })
}

const ALL_KINDS: &[PermissionKind] = PermissionKind::ALL;
const RUN_TIME: &[PermissionKind] = &PermissionKind::RUN_TIME;

fn entity_rules(
    instance_kinds: Option<&'static [PermissionKind]>,
) -> BoxedStrategy<Vec<EntityRule>> {
    let own = prop::collection::vec(rule(ALL_KINDS), 0..5).prop_map(|rules| {
        rules
            .into_iter()
            .map(|rule| EntityRule {
                instance: false,
                rule,
            })
            .collect::<Vec<_>>()
    });
    let instance = match instance_kinds {
        Some(kinds) => prop::collection::vec(rule(kinds), 0..4).boxed(),
        None => Just(Vec::new()).boxed(),
    };
    (own, instance)
        .prop_map(|(mut own, instance)| {
            own.extend(instance.into_iter().map(|rule| EntityRule {
                instance: true,
                rule,
            }));
            dedup_rules(own)
        })
        .boxed()
}

/// One rule per cell (instance, kind, resource, principal).
fn dedup_rules(rules: Vec<EntityRule>) -> Vec<EntityRule> {
    dedup_by_key(rules, |r| {
        (
            r.instance,
            r.rule.kind,
            r.rule.resource.clone(),
            r.rule.principal_type,
            r.rule.principal_name.clone(),
        )
    })
}

fn common() -> impl Strategy<Value = Common> {
    (
        text(),
        text(),
        prop_oneof![
            Just(String::new()),
            (word(), word()).prop_map(|(v, t)| format!("{v}:{t}"))
        ],
        text(),
        prop_oneof![Just(String::new()), name()],
        prop::option::of(name().prop_map(|n| ("User".to_owned(), n))),
        prop_oneof![
            Just(String::new()),
            Just("iVBORw0KGgoAAAANSUhEUg==".to_owned())
        ],
        aspects(),
        prop::option::of(0i64..4_000_000_000_000),
    )
        .prop_map(
            |(
                description,
                documentation_content,
                tags,
                project_name,
                home_mashup,
                owner,
                avatar,
                aspects,
                last_modified_date,
            )| {
                Common {
                    description,
                    documentation_content,
                    tags,
                    project_name,
                    home_mashup,
                    owner,
                    avatar,
                    aspects,
                    last_modified_date,
                }
            },
        )
}

fn members() -> impl Strategy<Value = Vec<Member>> {
    prop::collection::vec(
        (name(), any::<bool>()).prop_map(|(name, user)| Member {
            name,
            member_type: if user {
                MemberType::User
            } else {
                MemberType::Group
            },
        }),
        0..4,
    )
    .prop_map(|m| dedup_by_key(m, |x| (x.name.clone(), x.member_type.as_str())))
}

fn organization(org_name: String) -> impl Strategy<Value = Organization> {
    let units = prop::collection::vec(
        (name(), text(), any::<prop::sample::Index>(), members()),
        0..4,
    );
    (
        (text(), text(), text(), text(), any::<bool>()),
        (text(), text(), text(), text()),
        members(),
        units,
    )
        .prop_map(move |(login, mail, root_members, units)| {
            let mut all = vec![Unit {
                name: org_name.clone(),
                description: String::new(),
                parent: None,
                members: root_members,
            }];
            for (name, description, parent, members) in units {
                if all
                    .iter()
                    .any(|u| u.name.to_lowercase() == name.to_lowercase())
                {
                    continue;
                }
                let parent = all[parent.index(all.len())].name.clone();
                all.push(Unit {
                    name,
                    description,
                    parent: Some(parent),
                    members,
                });
            }
            Organization {
                login_prompt: login.0,
                login_image: login.1,
                login_style: login.2,
                login_button_style: login.3,
                login_reset_password: login.4,
                mobile_mashup: mail.0,
                reset_mail_content: mail.1,
                reset_mail_server: mail.2,
                reset_mail_subject: mail.3,
                units: all,
            }
        })
}

/// Kept extras in the neutral form: a typed attribute, a text element, names, named texts, a
/// list of records with a date, named records with aspects, an empty map.
fn neutral_extra() -> impl Strategy<Value = Extra> {
    (
        prop::option::of(prop::sample::select(vec![0.0, 2.5, 12.0])),
        prop::option::of(text()),
        prop::collection::vec(word(), 0..3),
        any::<bool>(),
        prop::option::of((text(), word(), 0..2_000_000_000_000_i64)),
        any::<bool>(),
    )
        .prop_map(
            |(columns, content, templates, persistent, change, parameters)| {
                let mut extra = Extra::new();
                if let Some(v) = columns {
                    extra.insert("columns".into(), json!(v));
                }
                if let Some(v) = content {
                    extra.insert("content".into(), Json::String(v));
                }
                extra.insert("thingTemplates".into(), json!(templates));
                if persistent {
                    extra.insert(
                        "persistentValues".into(),
                        json!({"a": "{\"x\":1}", "b": ""}),
                    );
                }
                if let Some((reason, user, timestamp)) = change {
                    // An empty reason is left out, as ThingWorx's `.twx` leaves it out.
                    let mut record =
                        json!({"changeAction": "MODIFY", "user": user, "timestamp": timestamp});
                    if !reason.is_empty() {
                        record["changeReason"] = Json::String(reason);
                    }
                    extra.insert("configurationChanges".into(), json!([record]));
                }
                extra.insert(
                    "parameterDefinitions".into(),
                    if parameters {
                        json!({"Link": {"name": "Link", "baseType": "HYPERLINK", "ordinal": 0,
                                    "aspects": {"isMandatory": "false"}}})
                    } else {
                        json!({})
                    },
                );
                extra
            },
        )
}

/// The shapes an entity implements: distinct names (the `.twx` form keys them by name).
fn shape_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(name(), 0..3).prop_map(|names| names.into_iter().collect())
}

fn entity_of(collection: Collection) -> BoxedStrategy<Entity> {
    let kind: BoxedStrategy<Kind> = match collection {
        Collection::Things => (
            (word(), any::<bool>(), any::<bool>(), text(), text(), text()),
            (text(), text()),
            definitions(),
            shape_names(),
            property_values(),
        )
            .prop_map(|(a, b, definitions, implemented_shapes, mut values)| {
                // A value has the base type of its property's definition, as every reader
                // gives it.
                values.retain(|v| {
                    definitions
                        .properties
                        .iter()
                        .all(|p| p.name != v.name || p.base_type == v.base_type)
                });
                Kind::Thing(Box::new(Thing {
                    thing_template: a.0,
                    enabled: a.1,
                    published: a.2,
                    identifier: a.3,
                    value_stream: a.4,
                    inherited_value_stream: a.5,
                    thing_package: b.0,
                    effective_thing_package: b.1,
                    definitions,
                    implemented_shapes,
                    values,
                }))
            })
            .boxed(),
        Collection::ThingTemplates => (
            (text(), text(), text(), text()),
            definitions(),
            shape_names(),
            tables(),
        )
            .prop_map(|(a, definitions, implemented_shapes, shared)| {
                Kind::ThingTemplate(Box::new(ThingTemplate {
                    base_thing_template: a.0,
                    thing_package: a.1,
                    effective_thing_package: a.2,
                    value_stream: a.3,
                    definitions,
                    implemented_shapes,
                    shared_configuration_tables: shared,
                }))
            })
            .boxed(),
        Collection::ThingShapes => (text(), definitions())
            .prop_map(|(class_name, definitions)| {
                Kind::ThingShape(Box::new(ThingShape {
                    class_name,
                    definitions,
                }))
            })
            .boxed(),
        Collection::DataShapes => (text(), distinct_fields(0..4))
            .prop_map(|(base_data_shape, fields)| {
                Kind::DataShape(DataShape {
                    base_data_shape,
                    fields,
                })
            })
            .boxed(),
        Collection::Users => (
            (any::<bool>(), any::<bool>()),
            prop::option::of((
                "[0-9]{1,6}:[0-9a-f]{4}:[0-9a-f]{4}",
                1i32..200_000,
                1i32..99,
                1i32..99,
            )),
            prop_oneof![Just(String::new()), Just("de,en".to_owned()), word()],
            (text(), text(), text()),
            prop::collection::vec((xml_name(), text(), 0i64..4_000_000_000_000), 0..4),
        )
            .prop_map(
                |(flags, password, language_preferences, scim, extensions)| {
                    Kind::User(Box::new(User {
                        enabled: flags.0,
                        locked: flags.1,
                        password: password.map(|(hash, iterations, salt_bytes, hash_bytes)| {
                            PasswordHash {
                                hash,
                                algorithm: "PBKDF2WithHmacSHA512".into(),
                                iterations,
                                salt_bytes,
                                hash_bytes,
                            }
                        }),
                        language_preferences,
                        mobile_mashup: scim.0,
                        scim_id: scim.1,
                        scim_external_id: scim.2,
                        extensions: dedup_by_key(
                            extensions
                                .into_iter()
                                .map(|(name, value, last_update_time)| ExtensionValue {
                                    name,
                                    value,
                                    last_update_time,
                                })
                                .collect(),
                            |e| e.name.clone(),
                        ),
                    }))
                },
            )
            .boxed(),
        Collection::Groups => ((text(), text(), text()), members())
            .prop_map(|(scim, members)| {
                Kind::Group(Group {
                    scim_display_name: scim.0,
                    scim_id: scim.1,
                    scim_external_id: scim.2,
                    members,
                })
            })
            .boxed(),
        Collection::ApplicationKeys => (
            "[0-9a-f]{8}-[0-9a-f]{4}",
            name(),
            prop::option::of(0i64..4_000_000_000_000),
            text(),
            text(),
        )
            .prop_map(
                |(key_id, user_name, expiration_date, client_name, ip_whitelist)| {
                    Kind::ApplicationKey(ApplicationKey {
                        key_id,
                        user_name,
                        expiration_date,
                        client_name,
                        ip_whitelist,
                    })
                },
            )
            .boxed(),
        Collection::LocalizationTables => {
            prop::collection::vec((xml_name(), text(), text(), text()), 0..4)
                .prop_map(|tokens| {
                    Kind::LocalizationTable(LocalizationTable {
                        tokens: dedup_by_key(
                            tokens
                                .into_iter()
                                .map(|(name, value, description, context)| Token {
                                    name,
                                    value,
                                    description,
                                    context,
                                })
                                .collect(),
                            |t| t.name.clone(),
                        ),
                    })
                })
                .boxed()
        }
        Collection::ModelTags | Collection::DataTags => {
            (any::<bool>(), prop::collection::vec((word(), text()), 0..4))
                .prop_map(|(is_dynamic, terms)| {
                    Kind::Vocabulary(Vocabulary {
                        is_dynamic,
                        terms: dedup_by_key(
                            terms
                                .into_iter()
                                .map(|(name, description)| Term { name, description })
                                .collect(),
                            |t| t.name.clone(),
                        ),
                    })
                })
                .boxed()
        }
        _ => Just(Kind::Plain).boxed(),
    };
    let instance_kinds: Option<&'static [PermissionKind]> = match collection {
        Collection::ThingTemplates => Some(ALL_KINDS),
        Collection::ThingShapes => Some(RUN_TIME),
        _ => None,
    };
    let extra = if collection == Collection::Organizations {
        Just(Extra::new()).boxed()
    } else {
        neutral_extra().boxed()
    };
    (
        name(),
        common(),
        entity_rules(instance_kinds),
        tables(),
        kind,
        extra,
    )
        .prop_flat_map(
            move |(name, common, rules, configuration_tables, kind, extra)| {
                let kind = if collection == Collection::Organizations {
                    organization(name.clone())
                        .prop_map(|o| Kind::Organization(Box::new(o)))
                        .boxed()
                } else {
                    Just(kind).boxed()
                };
                (
                    Just((name, common, rules, configuration_tables, extra)),
                    kind,
                )
            },
        )
        .prop_map(
            move |((name, common, rules, configuration_tables, extra), kind)| {
                let configuration_tables = if collection == Collection::Users {
                    dedup_by_key(
                        configuration_tables
                            .into_iter()
                            .filter(|t| t.name != "UserExtensions" && t.name != "Settings")
                            .collect(),
                        |t| t.name.clone(),
                    )
                } else {
                    configuration_tables
                };
                Entity {
                    collection,
                    name,
                    common,
                    rules,
                    configuration_tables,
                    kind,
                    extra,
                    origin: Origin::default(),
                }
            },
        )
        .boxed()
}

const GENERATED: &[Collection] = &[
    Collection::Things,
    Collection::ThingTemplates,
    Collection::ThingShapes,
    Collection::DataShapes,
    Collection::Users,
    Collection::Groups,
    Collection::Organizations,
    Collection::ApplicationKeys,
    Collection::LocalizationTables,
    Collection::ModelTags,
    Collection::DataTags,
    Collection::Mashups,
    Collection::Projects,
    Collection::MediaEntities,
];

fn export() -> impl Strategy<Value = Export> {
    let entities = prop::collection::vec(
        prop::sample::select(GENERATED).prop_flat_map(entity_of),
        1..7,
    );
    let collection_rules = prop::collection::vec(
        (prop::sample::select(Collection::ALL), rule(ALL_KINDS))
            .prop_map(|(collection, rule)| CollectionRule { collection, rule }),
        0..6,
    );
    let listed = prop::collection::vec(
        (prop::sample::select(GENERATED), name(), entity_rules(None)),
        0..2,
    );
    (entities, collection_rules, listed).prop_map(|(entities, collection_rules, listed)| {
        let entities = dedup_by_key(entities, |e| (e.collection, e.name.to_lowercase()));
        let collection_rules = dedup_by_key(collection_rules, |r| {
            (
                r.collection,
                r.rule.kind,
                r.rule.resource.clone(),
                r.rule.principal_type,
                r.rule.principal_name.clone(),
            )
        });
        let listed_rules = dedup_by_key(
            listed
                .into_iter()
                .filter(|(_, _, rules)| !rules.is_empty())
                .map(|(collection, name, rules)| ListedRules {
                    collection,
                    name: format!("Absent{name}"),
                    rules,
                    origin: Origin::default(),
                })
                .collect(),
            |l| (l.collection, l.name.clone()),
        );
        Export {
            header: vec![
                ("schemaVersion".into(), "1050".into()),
                ("majorVersion".into(), "8".into()),
                ("minorVersion".into(), "5".into()),
                ("revision".into(), "0".into()),
                ("build".into(), "b12".into()),
                (
                    "modelPersistenceProviderPackage".into(),
                    "PostgresPersistenceProviderPackage".into(),
                ),
                ("universal".into(), String::new()),
            ],
            entities,
            collection_rules,
            listed_rules,
            notes: Vec::new(),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    File,
    Storage,
    Twx,
}

/// Base types of every property by entity path, from the generated model.
fn property_types(export: &Export) -> HashMap<(String, String), String> {
    let mut types = HashMap::new();
    for e in &export.entities {
        if let Kind::Thing(t) = &e.kind {
            for v in &t.values {
                types.insert((e.path(), v.name.clone()), v.base_type.clone());
            }
        }
    }
    types
}

fn sort_rules(rules: &mut [EntityRule]) {
    rules.sort();
}

fn normal_info_table(value: &mut Json) {
    let Some(defs) = value
        .get_mut("dataShape")
        .and_then(|d| d.get_mut("fieldDefinitions"))
        .and_then(Json::as_object_mut)
    else {
        return;
    };
    for (key, def) in defs.iter_mut() {
        if let Json::Object(def) = def {
            def.entry("name")
                .or_insert_with(|| Json::String(key.clone()));
            def.entry("aspects").or_insert_with(|| json!({}));
            def.entry("description").or_insert_with(|| json!(""));
            def.entry("ordinal").or_insert_with(|| json!(0));
        }
    }
}

fn normal_value(base_type: &str, value: &mut Json) {
    if let Ok(typed) = values::canonical(base_type, value.clone()) {
        *value = typed;
    }
    if base_type == "INFOTABLE" {
        normal_info_table(value);
    }
}

fn normal_tables(tables: &mut [ConfigurationTable]) {
    for t in tables {
        for row in &mut t.rows {
            for f in &t.fields {
                if let Some(v) = row.get_mut(&f.name) {
                    normal_value(&f.base_type, v);
                }
            }
        }
    }
}

fn normal_definitions(d: &mut Definitions) {
    for imp in &mut d.implementations {
        normal_tables(&mut imp.configuration);
    }
    for s in &mut d.subscriptions {
        normal_tables(&mut s.configuration);
    }
}

/// `.twx` keys definition lists, fields, configuration tables and implemented shapes by name
/// in a Java `HashMap`, which loses their order: they are compared sorted by name.
fn sort_named(e: &mut Entity) {
    fn tables(tables: &mut [ConfigurationTable]) {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        for t in tables {
            t.fields.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    fn definitions(d: &mut Definitions) {
        d.properties.sort_by(|a, b| a.name.cmp(&b.name));
        d.services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &mut d.services {
            s.parameters.sort_by(|a, b| a.name.cmp(&b.name));
        }
        d.events.sort_by(|a, b| a.name.cmp(&b.name));
        d.implementations.sort_by(|a, b| a.name.cmp(&b.name));
        for i in &mut d.implementations {
            tables(&mut i.configuration);
        }
        d.subscriptions.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &mut d.subscriptions {
            tables(&mut s.configuration);
        }
    }
    tables(&mut e.configuration_tables);
    match &mut e.kind {
        Kind::Thing(t) => {
            definitions(&mut t.definitions);
            t.implemented_shapes.sort();
            t.values.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Kind::ThingTemplate(t) => {
            definitions(&mut t.definitions);
            t.implemented_shapes.sort();
            tables(&mut t.shared_configuration_tables);
        }
        Kind::ThingShape(s) => definitions(&mut s.definitions),
        Kind::DataShape(d) => d.fields.sort_by(|a, b| a.name.cmp(&b.name)),
        _ => {}
    }
}

/// `export` as `format` carries it, in a comparable order (see the module documentation).
fn normalise(export: &Export, format: Format, types: &HashMap<(String, String), String>) -> Export {
    let mut m = export.clone();
    m.notes.clear();
    m.header.retain(|(k, _)| k != "universal");
    m.header.sort();
    for e in &mut m.entities {
        e.origin = Origin::default();
        sort_rules(&mut e.rules);
        normal_tables(&mut e.configuration_tables);
        if format == Format::Twx {
            sort_named(e);
        }
        let path = e.path();
        match &mut e.kind {
            Kind::Thing(t) => {
                normal_definitions(&mut t.definitions);
                for v in &mut t.values {
                    let base = types
                        .get(&(path.clone(), v.name.clone()))
                        .cloned()
                        .unwrap_or_else(|| v.base_type.clone());
                    normal_value(&base, &mut v.value);
                    if format == Format::Twx && matches!(base.as_str(), "INFOTABLE" | "LOCATION") {
                        v.time = 0;
                        v.quality.clear();
                    }
                    v.base_type = base;
                }
            }
            Kind::ThingTemplate(t) => {
                normal_definitions(&mut t.definitions);
                normal_tables(&mut t.shared_configuration_tables);
            }
            Kind::ThingShape(s) => normal_definitions(&mut s.definitions),
            Kind::User(_) => e
                .configuration_tables
                .retain(|t| t.name != "UserExtensions" && t.name != "Settings"),
            Kind::Organization(o) => o.units.sort_by(|a, b| {
                (a.parent.is_some(), a.name.to_lowercase(), &a.name).cmp(&(
                    b.parent.is_some(),
                    b.name.to_lowercase(),
                    &b.name,
                ))
            }),
            _ => {}
        }
    }
    match format {
        Format::File => {
            m.entities.sort_by_key(|e| e.collection);
            m.collection_rules.clear();
            m.listed_rules.clear();
        }
        Format::Twx => {
            m.entities.sort_by_key(|e| e.collection);
            m.collection_rules.clear();
            m.listed_rules.clear();
        }
        Format::Storage => {
            m.entities
                .sort_by(|a, b| (a.collection, &a.name).cmp(&(b.collection, &b.name)));
            m.collection_rules.sort();
            let entities = m.entities.clone();
            m.listed_rules.retain_mut(|l| {
                l.origin = Origin::default();
                l.rules.sort();
                !entities
                    .iter()
                    .any(|e| e.collection == l.collection && e.name == l.name && e.rules == l.rules)
            });
            m.listed_rules
                .sort_by(|a, b| (a.collection, &a.name).cmp(&(b.collection, &b.name)));
        }
    }
    m
}

/// Compares entity by entity first, so that a failure names the entity that differs.
fn assert_same(expected: &Export, actual: &Export) -> Result<(), TestCaseError> {
    prop_assert_eq!(&expected.header, &actual.header);
    let names = |m: &Export| m.entities.iter().map(Entity::path).collect::<Vec<_>>();
    prop_assert_eq!(names(expected), names(actual));
    for (e, a) in expected.entities.iter().zip(&actual.entities) {
        prop_assert_eq!(e, a);
    }
    prop_assert_eq!(&expected.collection_rules, &actual.collection_rules);
    prop_assert_eq!(&expected.listed_rules, &actual.listed_rules);
    prop_assert_eq!(expected, actual);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writers to bytes
// ---------------------------------------------------------------------------------------------

fn single_file(m: &Export, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_single_file(m, options, &mut out).expect("write layout A");
    out
}

fn zip_bytes(m: &Export) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    ironworx_importer::storage::write_zip(m, &mut out, &KEEP).expect("write zip");
    out.into_inner()
}

fn twx_bytes(m: &Export) -> Vec<u8> {
    let tree = ironworx_importer::twx_tree::tree_from_export(
        m,
        &ironworx_importer::twx_tree::TreeOptions {
            blank_secrets: false,
        },
    );
    let mut out = Vec::new();
    ironworx_importer::write_twx(&tree, &mut out).expect("write .twx");
    out
}

fn tree_listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read tree") {
            let path = entry.expect("tree entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("inside the tree")
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, std::fs::read(&path).expect("read tree file")));
            }
        }
    }
    files.sort();
    files
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// a. Layout A: read(write(m)) == m without collection rules.
    #[test]
    fn layout_a_round_trips(m in export()) {
        let types = property_types(&m);
        let bytes = single_file(&m, &KEEP);
        let back = ironworx_importer::xml_read::read_xml(&bytes[..], "file.xml", &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        assert_same(&normalise(&m, Format::File, &types), &normalise(&back, Format::File, &types))?;
    }

    /// a'. Layout A with secrets blanked reads back as the model with its secrets blanked.
    #[test]
    fn layout_a_blanks_secrets(m in export()) {
        let types = property_types(&m);
        let bytes = single_file(&m, &WriteOptions::default());
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(text.contains("universal=\"password\""));
        prop_assert!(!text.contains("passwordHash"));
        let back = ironworx_importer::xml_read::read_xml(&bytes[..], "file.xml", &Limits::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut blanked = m.clone();
        for e in &mut blanked.entities {
            match &mut e.kind {
                Kind::User(u) => u.password = None,
                Kind::ApplicationKey(k) => k.key_id.clear(),
                _ => {}
            }
        }
        assert_same(&normalise(&blanked, Format::File, &types), &normalise(&back, Format::File, &types))?;
    }

    /// b. Storage folder: read_path(write_tree(m)) == m, collection rules kept.
    #[test]
    fn storage_folder_round_trips(m in export()) {
        let types = property_types(&m);
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = dir.path().join("export");
        ironworx_importer::storage::write_tree(&m, &root, &KEEP).expect("write tree");
        let back = ironworx_importer::source::read_path(&root, &Limits::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&normalise(&m, Format::Storage, &types), &normalise(&back, Format::Storage, &types))?;
    }

    /// c. Storage zip: the same through write_zip.
    #[test]
    fn storage_zip_round_trips(m in export()) {
        let types = property_types(&m);
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("export.zip");
        std::fs::write(&path, zip_bytes(&m)).expect("write zip file");
        let back = ironworx_importer::source::read_path(&path, &Limits::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&normalise(&m, Format::Storage, &types), &normalise(&back, Format::Storage, &types))?;
    }

    /// d. `.twx`: export_from_tree(read_twx(write_twx(tree_from_export(m)))) == m.
    #[test]
    fn twx_round_trips(m in export()) {
        let types = property_types(&m);
        let bytes = twx_bytes(&m);
        let limits = Limits::default();
        let tree = ironworx_importer::read_twx(&bytes[..], &limits.twx)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = ironworx_importer::twx_tree::export_from_tree(&tree, "file.twx", &limits)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&normalise(&m, Format::Twx, &types), &normalise(&back, Format::Twx, &types))?;
    }

    /// e. Determinism: the same model gives the same bytes, for every writer.
    #[test]
    fn writers_are_deterministic(m in export()) {
        prop_assert_eq!(single_file(&m, &KEEP), single_file(&m, &KEEP));
        prop_assert_eq!(single_file(&m, &WriteOptions::default()), single_file(&m, &WriteOptions::default()));
        for e in &m.entities {
            let mut one = Vec::new();
            let mut two = Vec::new();
            write_entity_file(&m.header, e, &KEEP, &mut one).expect("entity file");
            write_entity_file(&m.header, e, &KEEP, &mut two).expect("entity file");
            prop_assert_eq!(one, two);
        }
        let mut one = Vec::new();
        let mut two = Vec::new();
        write_permissions_file(&m, &mut one).expect("permissions file");
        write_permissions_file(&m, &mut two).expect("permissions file");
        prop_assert_eq!(one, two);
        prop_assert_eq!(zip_bytes(&m), zip_bytes(&m));
        let dir = tempfile::tempdir().expect("temporary folder");
        ironworx_importer::storage::write_tree(&m, &dir.path().join("a"), &KEEP).expect("tree a");
        ironworx_importer::storage::write_tree(&m, &dir.path().join("b"), &KEEP).expect("tree b");
        prop_assert_eq!(tree_listing(&dir.path().join("a")), tree_listing(&dir.path().join("b")));
        // Writing again over a previous export gives the same tree.
        ironworx_importer::storage::write_tree(&m, &dir.path().join("a"), &KEEP).expect("tree again");
        prop_assert_eq!(tree_listing(&dir.path().join("a")), tree_listing(&dir.path().join("b")));
        prop_assert_eq!(twx_bytes(&m), twx_bytes(&m));
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases
// ---------------------------------------------------------------------------------------------

fn corpus_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/xml")
        .join(name)
}

/// A real layout-B file read, written back as layout B and read again gives the same model.
#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_entity_file_round_trips() {
    let path = corpus_file("CostinWorkshop__Things_Shipyard.xml");
    let bytes = std::fs::read(&path).expect("read the corpus file");
    let limits = Limits::default();
    let first = ironworx_importer::xml_read::read_xml(&bytes[..], "Shipyard.xml", &limits)
        .expect("read the corpus file");
    assert_eq!(first.entities.len(), 1, "one entity");
    let mut written = Vec::new();
    write_entity_file(&first.header, &first.entities[0], &KEEP, &mut written).expect("write");
    let second = ironworx_importer::xml_read::read_xml(&written[..], "Shipyard.xml", &limits)
        .expect("read the written file");
    let types = HashMap::new();
    let (a, b) = (
        normalise(&first, Format::Storage, &types),
        normalise(&second, Format::Storage, &types),
    );
    assert_eq!(
        a.entities,
        b.entities,
        "{}",
        String::from_utf8_lossy(&written)
    );
}

/// The writer imitates ThingWorx's layout B: the Group file of the corpus is reproduced byte
/// for byte from its model.
#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_group_file_is_reproduced() {
    let path = corpus_file("CostinWorkshop__Groups_Maint.General.xml");
    let bytes = std::fs::read(&path).expect("read the corpus file");
    let model =
        ironworx_importer::xml_read::read_xml(&bytes[..], "Maint.General.xml", &Limits::default())
            .expect("read the corpus file");
    let mut written = Vec::new();
    write_entity_file(
        &model.header,
        &model.entities[0],
        &WriteOptions::default(),
        &mut written,
    )
    .expect("write");
    // The model has no field for the empty `ConfigurationTableDefinitions` block.
    let expected = String::from_utf8_lossy(&bytes).replace(
        "            <ConfigurationTableDefinitions></ConfigurationTableDefinitions>\n",
        "",
    );
    let written = String::from_utf8_lossy(&written).replace(
        "            <ConfigurationTableDefinitions></ConfigurationTableDefinitions>\n",
        "",
    );
    assert_eq!(expected, written);
}

/// Texts that need care survive layout A and layout B: `]]>`, carriage returns, padding.
#[test]
fn awkward_texts_round_trip() {
    let texts = [
        "x]]>y",
        "]]>",
        "a\r\nb",
        "multi\nline",
        "  padded  ",
        "multi\nline\n",
        "<&>\"'",
        "\t",
    ];
    for text in texts {
        let entity = Entity {
            collection: Collection::Mashups,
            name: "M".into(),
            common: Common {
                description: text.into(),
                ..Common::default()
            },
            rules: Vec::new(),
            configuration_tables: vec![script(text.into())],
            kind: Kind::Plain,
            extra: Extra::new(),
            origin: Origin::default(),
        };
        let export = Export {
            entities: vec![entity.clone()],
            ..Export::default()
        };
        let limits = Limits::default();
        let a = single_file(&export, &KEEP);
        let back = ironworx_importer::xml_read::read_xml(&a[..], "a.xml", &limits).expect("read A");
        assert_eq!(
            back.entities[0].common.description, text,
            "A attribute {text:?}"
        );
        assert_eq!(
            back.entities[0].configuration_tables, entity.configuration_tables,
            "A cell {text:?}"
        );
        let mut b = Vec::new();
        write_entity_file(&[], &entity, &KEEP, &mut b).expect("write B");
        let back = ironworx_importer::xml_read::read_xml(&b[..], "b.xml", &limits).expect("read B");
        assert_eq!(
            back.entities[0].common.description, text,
            "B attribute {text:?}"
        );
        assert_eq!(
            back.entities[0].configuration_tables,
            entity.configuration_tables,
            "B cell {text:?}\n{}",
            String::from_utf8_lossy(&b)
        );
    }
}
