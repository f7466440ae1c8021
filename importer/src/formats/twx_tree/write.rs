//! Writes the `.twx` tree of the model ([`super::tree_from_export`]).

use ironworx_entity::vocab::BaseType;

use super::*;

/// The header keys in the order ThingWorx writes them at the root of a `.twx` tree.
pub(super) const HEADER_ORDER: &[&str] = &[
    "schemaVersion",
    "majorVersion",
    "minorVersion",
    "revision",
    "build",
    "modelPersistenceProviderPackage",
    "universal",
];

/// Writes the `.twx` tree of an export (the inverse of [`export_from_tree`]). Deterministic.
pub fn tree_from_export(export: &Export, options: &TreeOptions) -> Json {
    let profile = Profile::of(&export.header);
    let mut root = Map::new();
    let mut header: Vec<&(String, String)> = export.header.iter().collect();
    // ThingWorx's order (an XML header comes in alphabetical order); other keys after.
    header.sort_by_key(|(key, _)| {
        HEADER_ORDER
            .iter()
            .position(|k| k == key)
            .unwrap_or(HEADER_ORDER.len())
    });
    for (key, value) in header {
        root.insert(key.clone(), Json::String(value.clone()));
    }
    if options.blank_secrets {
        root.insert("universal".into(), Json::String("password".into()));
    }
    let mut names: Vec<&str> = profile.collections();
    for entity in &export.entities {
        let name = entity.collection.as_str();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let Ok(collection) = name.parse::<Collection>() else {
            continue;
        };
        let list: Vec<Json> = export
            .entities
            .iter()
            .filter(|e| e.collection == collection)
            .map(|e| entity_tree(e, profile, *options))
            .collect();
        let mut inner = Map::new();
        inner.insert(collection.element_name().to_owned(), Json::Array(list));
        root.insert(name.to_owned(), Json::Object(inner));
    }
    Json::Object(root)
}

/// An object from entries in insertion order.
pub(super) fn object(entries: Vec<(&str, Json)>) -> Map<String, Json> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

pub(super) fn text(s: &str) -> Json {
    Json::String(s.to_owned())
}

pub(super) fn entity_tree(entity: &Entity, profile: Profile, options: TreeOptions) -> Json {
    let common = &entity.common;
    let tags: Vec<Json> = common
        .tags
        .split(';')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (vocabulary, term) = t.split_once(':').unwrap_or((t, ""));
            Json::Object(object(vec![
                ("vocabulary", text(vocabulary)),
                ("vocabularyTerm", text(term)),
            ]))
        })
        .collect();
    let own: Vec<&Rule> = entity
        .rules
        .iter()
        .filter(|r| !r.instance)
        .map(|r| &r.rule)
        .collect();
    let mut entries: Vec<(&str, Json)> = vec![
        ("name", text(&entity.name)),
        ("description", text(&common.description)),
    ];
    if !profile.modern {
        entries.push(("documentationContent", text(&common.documentation_content)));
    }
    entries.push(("tags", Json::Array(tags)));
    entries.push(("projectName", text(&common.project_name)));
    entries.push(("homeMashup", text(&common.home_mashup)));
    if let Some((kind, name)) = &common.owner {
        entries.push((
            "owner",
            Json::Object(object(vec![("name", text(name)), ("type", text(kind))])),
        ));
    }
    entries.push(("avatar", text(&common.avatar)));
    entries.push(("aspects", Json::Object(common.aspects.clone())));
    if let (false, Some(ms)) = (profile.modern, common.last_modified_date) {
        entries.push(("lastModifiedDate", Json::from(ms)));
    }
    entries.push(("designTimePermissions", design_time(&own)));
    entries.push(("runTimePermissions", run_time(&own, profile)));
    entries.push(("visibilityPermissions", visibility(&own)));
    if profile.modern {
        entries.push(("documentationContent", text(&common.documentation_content)));
        if let Some(ms) = common.last_modified_date {
            entries.push(("lastModifiedDate", Json::from(ms)));
        }
    }
    let mut configuration_tables = entity.configuration_tables.clone();
    if let Kind::User(user) = &entity.kind {
        add_user_tables(user, &mut configuration_tables);
    }
    entries.push((
        "configurationTables",
        tables_tree(&configuration_tables, profile),
    ));
    kind_entries(entity, profile, options, &mut entries);

    let instance: Vec<&Rule> = entity
        .rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| &r.rule)
        .collect();
    let has = |category: &[PermissionKind]| instance.iter().any(|r| category.contains(&r.kind));
    let template = entity.collection == Collection::ThingTemplates;
    let shape = entity.collection == Collection::ThingShapes;
    if template || has(&PermissionKind::DESIGN_TIME) {
        entries.push(("instanceDesignTimePermissions", design_time(&instance)));
    }
    if template || shape || has(&PermissionKind::RUN_TIME) {
        entries.push(("instanceRunTimePermissions", run_time(&instance, profile)));
    }
    if template || has(&[PermissionKind::Visibility]) {
        entries.push(("instanceVisibilityPermissions", visibility(&instance)));
    }

    let mut tree = object(entries);
    apply_extra(&mut tree, &entity.extra);
    let mut tree = Json::Object(tree);
    hash_order(&mut tree);
    tree
}

pub(super) fn kind_entries(
    entity: &Entity,
    profile: Profile,
    options: TreeOptions,
    entries: &mut Vec<(&'static str, Json)>,
) {
    match &entity.kind {
        Kind::Plain => {}
        Kind::Thing(thing) => {
            entries.push(("thingTemplate", text(&thing.thing_template)));
            // Things write `enabled` as a string.
            entries.push((
                "enabled",
                text(if thing.enabled { "true" } else { "false" }),
            ));
            entries.push(("published", Json::Bool(thing.published)));
            entries.push(("identifier", text(&thing.identifier)));
            entries.push(("valueStream", text(&thing.value_stream)));
            if profile.modern || !thing.inherited_value_stream.is_empty() {
                entries.push(("inheritedValueStream", text(&thing.inherited_value_stream)));
            }
            if !thing.thing_package.is_empty() {
                entries.push(("thingPackage", text(&thing.thing_package)));
            }
            entries.push((
                "effectiveThingPackage",
                text(&thing.effective_thing_package),
            ));
            entries.push((
                "thingShape",
                Json::Object(definitions_tree(&thing.definitions, profile)),
            ));
            entries.push(("implementedShapes", shapes_tree(&thing.implemented_shapes)));
            let values: Map<String, Json> = thing
                .values
                .iter()
                .map(|v| (v.name.clone(), value_tree(v, &thing.definitions)))
                .collect();
            entries.push(("thingProperties", Json::Object(values)));
        }
        Kind::ThingTemplate(template) => {
            entries.push(("baseThingTemplate", text(&template.base_thing_template)));
            entries.push(("thingPackage", text(&template.thing_package)));
            entries.push((
                "effectiveThingPackage",
                text(&template.effective_thing_package),
            ));
            entries.push(("valueStream", text(&template.value_stream)));
            entries.push((
                "thingShape",
                Json::Object(definitions_tree(&template.definitions, profile)),
            ));
            entries.push((
                "implementedShapes",
                shapes_tree(&template.implemented_shapes),
            ));
            entries.push((
                "sharedConfigurationTables",
                tables_tree(&template.shared_configuration_tables, profile),
            ));
        }
        Kind::ThingShape(shape) => {
            entries.push(("className", text(&shape.class_name)));
            entries.extend(definitions_entries(&shape.definitions, profile));
        }
        Kind::DataShape(shape) => {
            entries.push(("baseDataShape", text(&shape.base_data_shape)));
            entries.push(("fieldDefinitions", fields_tree(&shape.fields)));
            entries.push(("effectiveFieldDefinitions", effective_fields(&shape.fields)));
        }
        Kind::User(user) => {
            entries.push(("enabled", Json::Bool(user.enabled)));
            entries.push(("locked", Json::Bool(user.locked)));
            entries.push(("mobileMashup", text(&user.mobile_mashup)));
            entries.push(("scimId", text(&user.scim_id)));
            entries.push(("scimExternalId", text(&user.scim_external_id)));
            if !options.blank_secrets {
                let empty = PasswordHash::default();
                let hash = user.password.as_ref().unwrap_or(&empty);
                entries.push(("passwordHash", text(&hash.hash)));
                entries.push(("passwordHashAlgorithm", text(&hash.algorithm)));
                entries.push(("passwordHashIterationCount", Json::from(hash.iterations)));
                entries.push(("passwordHashSaltSizeInBytes", Json::from(hash.salt_bytes)));
                entries.push(("passwordHashSizeInBytes", Json::from(hash.hash_bytes)));
            }
        }
        Kind::Group(group) => {
            entries.push(("scimDisplayName", text(&group.scim_display_name)));
            entries.push(("scimId", text(&group.scim_id)));
            entries.push(("scimExternalId", text(&group.scim_external_id)));
            entries.push(("members", members_tree(&group.members)));
        }
        Kind::Organization(org) => {
            entries.push(("loginPrompt", text(&org.login_prompt)));
            entries.push(("loginImage", text(&org.login_image)));
            entries.push(("loginStyle", text(&org.login_style)));
            entries.push(("loginButtonStyle", text(&org.login_button_style)));
            entries.push(("loginResetPassword", Json::Bool(org.login_reset_password)));
            entries.push(("mobileMashup", text(&org.mobile_mashup)));
            entries.push(("resetMailContent", text(&org.reset_mail_content)));
            entries.push(("resetMailServer", text(&org.reset_mail_server)));
            entries.push(("resetMailSubject", text(&org.reset_mail_subject)));
            let units: Map<String, Json> = org
                .units
                .iter()
                .map(|u| {
                    (
                        u.name.clone(),
                        Json::Object(object(vec![
                            ("name", text(&u.name)),
                            ("description", text(&u.description)),
                            ("members", members_tree(&u.members)),
                        ])),
                    )
                })
                .collect();
            entries.push(("organizationalUnits", Json::Object(units)));
            let connections: Vec<Json> = org
                .units
                .iter()
                .map(|u| {
                    Json::Object(object(vec![
                        ("from", text(u.parent.as_deref().unwrap_or_default())),
                        ("to", text(&u.name)),
                    ]))
                })
                .collect();
            entries.push(("connections", Json::Array(connections)));
        }
        Kind::ApplicationKey(key) => {
            let key_id = if options.blank_secrets {
                ""
            } else {
                &key.key_id
            };
            entries.push(("keyId", text(key_id)));
            entries.push(("userNameReference", text(&key.user_name)));
            if let Some(ms) = key.expiration_date {
                entries.push(("expirationDate", Json::from(ms)));
            }
            entries.push(("clientName", text(&key.client_name)));
            entries.push(("ipWhitelist", text(&key.ip_whitelist)));
        }
        Kind::LocalizationTable(table) => {
            let tokens: Vec<Json> = table
                .tokens
                .iter()
                .map(|t| {
                    Json::Object(object(vec![
                        ("name", text(&t.name)),
                        ("value", text(&t.value)),
                        ("description", text(&t.description)),
                        ("context", text(&t.context)),
                    ]))
                })
                .collect();
            entries.push(("tokens", Json::Array(tokens)));
        }
        Kind::Vocabulary(vocabulary) => {
            entries.push(("isDynamic", Json::Bool(vocabulary.is_dynamic)));
            let terms: Vec<Json> = vocabulary
                .terms
                .iter()
                .map(|t| {
                    Json::Object(object(vec![
                        ("name", text(&t.name)),
                        ("description", text(&t.description)),
                    ]))
                })
                .collect();
            entries.push(("vocabularyTerms", Json::Array(terms)));
        }
    }
}

pub(super) fn principal_tree(rule: &Rule) -> Json {
    Json::Object(object(vec![
        ("name", text(&rule.principal_name)),
        ("type", text(rule.principal_type.as_str())),
        ("isPermitted", Json::Bool(rule.allow)),
    ]))
}

pub(super) fn principals(rules: &[&Rule], kind: PermissionKind, resource: Option<&str>) -> Json {
    Json::Array(
        rules
            .iter()
            .filter(|r| r.kind == kind && resource.is_none_or(|res| r.resource == res))
            .map(|r| principal_tree(r))
            .collect(),
    )
}

pub(super) fn design_time(rules: &[&Rule]) -> Json {
    Json::Object(
        PermissionKind::DESIGN_TIME
            .into_iter()
            .map(|kind| (kind.as_str().to_owned(), principals(rules, kind, None)))
            .collect(),
    )
}

pub(super) fn run_time(rules: &[&Rule], profile: Profile) -> Json {
    let mut resources: Vec<&str> = Vec::new();
    if profile.modern {
        resources.push("*");
    }
    for rule in rules {
        if PermissionKind::RUN_TIME.contains(&rule.kind)
            && !resources.contains(&rule.resource.as_str())
        {
            resources.push(&rule.resource);
        }
    }
    let entries: Vec<Json> = resources
        .into_iter()
        .map(|resource| {
            let mut entry = Map::new();
            entry.insert("resourceName".into(), text(resource));
            for kind in PermissionKind::RUN_TIME {
                entry.insert(
                    kind.as_str().to_owned(),
                    principals(rules, kind, Some(resource)),
                );
            }
            Json::Object(entry)
        })
        .collect();
    Json::Object(object(vec![("permissions", Json::Array(entries))]))
}

pub(super) fn visibility(rules: &[&Rule]) -> Json {
    Json::Object(object(vec![(
        "Visibility",
        principals(rules, PermissionKind::Visibility, None),
    )]))
}

pub(super) fn members_tree(members: &[Member]) -> Json {
    Json::Array(
        members
            .iter()
            .map(|m| {
                Json::Object(object(vec![
                    ("name", text(&m.name)),
                    ("type", text(m.member_type.as_str())),
                ]))
            })
            .collect(),
    )
}

pub(super) fn shapes_tree(shapes: &[String]) -> Json {
    Json::Object(
        shapes
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    Json::Object(object(vec![
                        ("name", text(s)),
                        ("type", text("ThingShape")),
                    ])),
                )
            })
            .collect(),
    )
}

pub(super) fn field_tree(field: &FieldDefinition) -> Json {
    Json::Object(object(vec![
        ("name", text(&field.name)),
        ("aspects", Json::Object(field.aspects.clone())),
        ("description", text(&field.description)),
        ("baseType", text(&field.base_type)),
        ("ordinal", Json::from(field.ordinal)),
    ]))
}

pub(super) fn fields_tree(fields: &[FieldDefinition]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|f| (f.name.clone(), field_tree(f)))
            .collect(),
    )
}

/// Configuration-table cells ThingWorx's XML writes beside a row's fields and its `.twx` does
/// not (a data table's `accumulatedDataShape`, derived from its `dataShape` cell).
pub(super) const DERIVED_CELLS: &[&str] = &["accumulatedDataShape"];

/// A DataShape's `effectiveFieldDefinitions` as ThingWorx writes them: its fields with their
/// ordinals renumbered from 1 in ordinal order (fields of equal ordinal in the order of the
/// written `fieldDefinitions` map). A base data shape's fields are not added (the export may not
/// hold it); a file that has them keeps them as an extra.
pub(super) fn effective_fields(fields: &[FieldDefinition]) -> Json {
    let mut map = fields_tree(fields);
    hash_order(&mut map);
    let Json::Object(mut map) = map else {
        return map;
    };
    let mut order: Vec<(i64, String)> = map
        .iter()
        .map(|(name, f)| {
            let ordinal = f.get("ordinal").and_then(Json::as_i64).unwrap_or_default();
            (ordinal, name.clone())
        })
        .collect();
    order.sort_by_key(|(ordinal, _)| *ordinal);
    // Inserted in the new order, as ThingWorx builds the map (it decides the order of names
    // that share a hash bucket).
    let mut effective = Map::new();
    for (rank, (_, name)) in order.iter().enumerate() {
        if let Some(Json::Object(mut f)) = map.remove(name) {
            f.insert("ordinal".into(), Json::from(rank + 1));
            effective.insert(name.clone(), Json::Object(f));
        }
    }
    Json::Object(effective)
}

pub(super) fn tables_tree(tables: &[ConfigurationTable], profile: Profile) -> Json {
    Json::Object(
        tables
            .iter()
            .map(|t| {
                let mut entries = vec![
                    ("name", text(&t.name)),
                    ("description", text(&t.description)),
                    ("isMultiRow", Json::Bool(t.is_multi_row)),
                    ("ordinal", Json::from(t.ordinal)),
                ];
                if profile.modern || !t.data_shape_name.is_empty() {
                    entries.push(("dataShapeName", text(&t.data_shape_name)));
                }
                if t.is_hidden {
                    entries.push(("isHidden", Json::Bool(true)));
                }
                entries.push((
                    "dataShape",
                    Json::Object(object(vec![("fieldDefinitions", fields_tree(&t.fields))])),
                ));
                // Without the cells ThingWorx's XML adds to a row and its `.twx` leaves out
                // (derived from the other cells) unless the table has a field of that name.
                let derived =
                    |k: &str| DERIVED_CELLS.contains(&k) && !t.fields.iter().any(|f| f.name == k);
                let rows = t.rows.iter().map(|row| {
                    let cells = row
                        .iter()
                        .filter(|(k, _)| !derived(k))
                        .map(|(k, v)| (k.clone(), v.clone()));
                    Json::Object(cells.collect())
                });
                entries.push(("rows", Json::Array(rows.collect())));
                (t.name.clone(), Json::Object(object(entries)))
            })
            .collect(),
    )
}

pub(super) fn definitions_tree(definitions: &Definitions, profile: Profile) -> Map<String, Json> {
    object(definitions_entries(definitions, profile))
}

pub(super) fn definitions_entries(
    definitions: &Definitions,
    profile: Profile,
) -> Vec<(&'static str, Json)> {
    let properties: Map<String, Json> = definitions
        .properties
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                Json::Object(object(vec![
                    ("name", text(&p.name)),
                    ("aspects", Json::Object(p.aspects.clone())),
                    ("isLocalOnly", Json::Bool(p.is_local_only)),
                    ("description", text(&p.description)),
                    ("category", text(&p.category)),
                    ("baseType", text(&p.base_type)),
                    ("ordinal", Json::from(p.ordinal)),
                    ("sourceName", text("")),
                    ("sourceType", text("Unknown")),
                ])),
            )
        })
        .collect();
    let services: Map<String, Json> = definitions
        .services
        .iter()
        .map(|s| {
            let mut entries = vec![
                ("name", text(&s.name)),
                ("aspects", Json::Object(s.aspects.clone())),
                ("isLocalOnly", Json::Bool(s.is_local_only)),
                ("description", text(&s.description)),
                ("category", text(&s.category)),
                ("isAllowOverride", Json::Bool(s.is_allow_override)),
                ("isOpen", Json::Bool(s.is_open)),
                ("isPrivate", Json::Bool(s.is_private)),
                ("sourceName", text("")),
                ("sourceType", text("Unknown")),
            ];
            if let Some(result) = &s.result_type {
                entries.push(("resultType", field_tree(result)));
            }
            entries.push(("parameterDefinitions", fields_tree(&s.parameters)));
            (s.name.clone(), Json::Object(object(entries)))
        })
        .collect();
    let events: Map<String, Json> = definitions
        .events
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                Json::Object(object(vec![
                    ("name", text(&e.name)),
                    ("aspects", Json::Object(e.aspects.clone())),
                    ("isLocalOnly", Json::Bool(e.is_local_only)),
                    ("description", text(&e.description)),
                    ("category", text(&e.category)),
                    ("dataShape", text(&e.data_shape)),
                ])),
            )
        })
        .collect();
    let implementations: Map<String, Json> = definitions
        .implementations
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                Json::Object(object(vec![
                    ("name", text(&i.name)),
                    ("description", text(&i.description)),
                    ("handlerName", text(&i.handler_name)),
                    (
                        "configurationTables",
                        tables_tree(&i.configuration, profile),
                    ),
                ])),
            )
        })
        .collect();
    let subscriptions: Map<String, Json> = definitions
        .subscriptions
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                Json::Object(object(vec![
                    ("name", text(&s.name)),
                    ("description", text(&s.description)),
                    ("enabled", Json::Bool(s.enabled)),
                    ("eventName", text(&s.event_name)),
                    ("source", text(&s.source)),
                    ("sourceProperty", text(&s.source_property)),
                    ("sourceType", text(&s.source_type)),
                    (
                        "serviceImplementation",
                        Json::Object(object(vec![
                            ("handlerName", text(&s.handler_name)),
                            (
                                "configurationTables",
                                tables_tree(&s.configuration, profile),
                            ),
                        ])),
                    ),
                ])),
            )
        })
        .collect();
    vec![
        ("propertyDefinitions", Json::Object(properties)),
        ("serviceDefinitions", Json::Object(services)),
        ("eventDefinitions", Json::Object(events)),
        ("serviceImplementations", Json::Object(implementations)),
        ("subscriptions", Json::Object(subscriptions)),
        ("serviceMappings", Json::Object(Map::new())),
    ]
}

/// A property value: `{value, timestamp, quality}`, except INFOTABLE and LOCATION values (an
/// InfoTable is recognised by its shape when the base type is unknown) and values read without
/// a quality, which are written bare (the only real `.twx` files holding
/// INFOTABLE or LOCATION values write them so). A value whose base type is unknown (its
/// property is defined outside the export) and that is still the text a reader kept is typed
/// by [`values::infer`].
pub(super) fn value_tree(value: &PropertyValue, own: &Definitions) -> Json {
    // The Thing's own definition decides, as it does when the tree is read back.
    let base_type = own
        .properties
        .iter()
        .find(|p| p.name == value.name)
        .map_or(value.base_type.as_str(), |p| p.base_type.as_str());
    let typed = match (&value.value, base_type) {
        (Json::String(text), "") => values::infer(text),
        (Json::String(text), base_type) => {
            values::from_text(base_type, text).unwrap_or_else(|_| Json::String(text.clone()))
        }
        (other, _) => other.clone(),
    };
    let infotable = |v: &Json| v.get("dataShape").is_some() && v.get("rows").is_some();
    let complex = matches!(
        base_type.parse::<BaseType>(),
        Ok(BaseType::Infotable | BaseType::Location)
    ) || (base_type.is_empty() && infotable(&typed));
    if value.quality.is_empty() || complex {
        return typed;
    }
    Json::Object(object(vec![
        ("value", typed),
        ("timestamp", Json::from(value.time)),
        ("quality", text(&value.quality)),
    ]))
}

/// Adds the `UserExtensions` and `Settings` tables of a User when the model has the typed
/// values but not the tables.
pub(super) fn add_user_tables(user: &User, tables: &mut Vec<ConfigurationTable>) {
    let column =
        |name: &str, base_type: BaseType, description: &str, ordinal: i32| FieldDefinition {
            name: name.into(),
            base_type: base_type.as_str().into(),
            description: description.into(),
            ordinal,
            aspects: Map::new(),
        };
    if !user.extensions.is_empty() && !tables.iter().any(|t| t.name == "UserExtensions") {
        let mut primary = column("name", BaseType::String, "Name", 1);
        primary
            .aspects
            .insert("isPrimaryKey".into(), Json::Bool(true));
        tables.push(ConfigurationTable {
            name: "UserExtensions".into(),
            description: "UserExtensions".into(),
            is_multi_row: true,
            ordinal: 1,
            fields: vec![
                column("lastUpdateTime", BaseType::Datetime, "Last update time", 3),
                primary,
                column("value", BaseType::String, "Value", 2),
            ],
            rows: user
                .extensions
                .iter()
                .map(|x| {
                    object(vec![
                        ("lastUpdateTime", Json::from(x.last_update_time)),
                        ("name", text(&x.name)),
                        ("value", text(&x.value)),
                    ])
                })
                .collect(),
            ..ConfigurationTable::default()
        });
    }
    if !user.language_preferences.is_empty() && !tables.iter().any(|t| t.name == "Settings") {
        tables.push(ConfigurationTable {
            name: "Settings".into(),
            description: "Settings".into(),
            is_multi_row: false,
            ordinal: 0,
            fields: vec![column(
                "language",
                BaseType::String,
                "Language preferences",
                0,
            )],
            rows: vec![object(vec![("language", text(&user.language_preferences))])],
            ..ConfigurationTable::default()
        });
    }
}
