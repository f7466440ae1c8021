//! Reads the model from a `.twx` tree ([`super::export_from_tree`]), keeping what the writer would
//! not reproduce as extras.

use super::*;

/// Reads the model of a `.twx` tree. `file` names the file in errors and origins.
///
/// Refused with [`ImportError::TwxShape`] (naming the JSON path): a root, collection or entity
/// that is not an object, a collection not holding an array of its entities, an entity without
/// a valid name, a permission block or principal of the wrong shape (unknown principal type,
/// `isPermitted` not a boolean), a member of unknown type. A tree nested deeper than
/// [`Limits::max_depth`] is refused with [`ImportError::Limit`].
pub fn export_from_tree(tree: &Json, file: &str, limits: &Limits) -> Result<Export, ImportError> {
    if exceeds_depth(tree, limits.max_depth) {
        return Err(ImportError::Limit {
            file: file.to_owned(),
            what: "the nesting depth of the .twx tree".into(),
            limit: u64::try_from(limits.max_depth).unwrap_or(u64::MAX),
        });
    }
    let reader = Reader { file };
    let root = tree
        .as_object()
        .ok_or_else(|| reader.shape("$", "the root is not an object"))?;
    let mut export = Export::default();
    let mut collections = Vec::new();
    for (key, value) in root {
        match value {
            Json::String(s) => export.header.push((key.clone(), s.clone())),
            Json::Number(n) => export.header.push((key.clone(), n.to_string())),
            Json::Bool(b) => export.header.push((key.clone(), b.to_string())),
            Json::Null => export.header.push((key.clone(), String::new())),
            _ => collections.push((key, value)),
        }
    }
    let profile = Profile::of(&export.header);
    let options = TreeOptions {
        blank_secrets: blank_secrets_of(&export.header),
    };
    for (key, value) in collections {
        let path = format!("$.{key}");
        let Ok(collection) = key.parse::<Collection>() else {
            export.notes.push(Note {
                origin: reader.origin(),
                entity: None,
                message: format!(
                    "{path}: '{key}' is not a known collection; its content was not read"
                ),
            });
            continue;
        };
        let object = value
            .as_object()
            .ok_or_else(|| reader.shape(&path, "the collection is not an object"))?;
        let element = collection.element_name();
        for (inner, list) in object {
            let list_path = format!("{path}.{inner}");
            if inner != element {
                return Err(reader.shape(
                    &list_path,
                    &format!("expected only the key '{element}' in collection {collection}"),
                ));
            }
            let list = list
                .as_array()
                .ok_or_else(|| reader.shape(&list_path, "the list of entities is not an array"))?;
            for (index, item) in list.iter().enumerate() {
                let item_path = format!("{list_path}[{index}]");
                let entity = reader.entity(collection, item, &item_path, profile, options)?;
                if entity.extra.keys().any(|k| is_pointer(k)) {
                    let kept: Vec<&str> = entity
                        .extra
                        .keys()
                        .filter(|k| is_pointer(k))
                        .map(String::as_str)
                        .collect();
                    export.notes.push(Note {
                        origin: reader.origin(),
                        entity: Some(entity.path()),
                        message: format!(
                            "{item_path}: kept nested values the model has no field for: {}",
                            kept.join(", ")
                        ),
                    });
                }
                export.entities.push(entity);
            }
        }
    }
    Ok(export)
}

/// Whether `tree` nests containers deeper than `max` (the root container is depth 1).
pub(super) fn exceeds_depth(tree: &Json, max: usize) -> bool {
    let mut stack: Vec<(&Json, usize)> = vec![(tree, 1)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Object(m) => Box::new(m.values()),
            Json::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        for child in children {
            if child.is_object() || child.is_array() {
                stack.push((child, depth + 1));
            }
        }
    }
    false
}

pub(super) struct Reader<'a> {
    file: &'a str,
}

pub(super) fn string(object: &Map<String, Json>, key: &str) -> String {
    object
        .get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn boolean(object: &Map<String, Json>, key: &str) -> bool {
    match object.get(key) {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s == "true",
        _ => false,
    }
}

pub(super) fn int32(object: &Map<String, Json>, key: &str) -> i32 {
    object
        .get(key)
        .and_then(Json::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_default()
}

pub(super) fn int64(object: &Map<String, Json>, key: &str) -> Option<i64> {
    object.get(key).and_then(Json::as_i64)
}

pub(super) fn aspects(object: &Map<String, Json>) -> Map<String, Json> {
    object
        .get("aspects")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The object entries of a name-keyed object (`propertyDefinitions`, …), in order.
pub(super) fn named<'t>(
    object: &'t Map<String, Json>,
    key: &str,
) -> Vec<(&'t str, &'t Map<String, Json>)> {
    object
        .get(key)
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_object().map(|o| (k.as_str(), o)))
                .collect()
        })
        .unwrap_or_default()
}

/// The name of a keyed item: its own `name`, else its key.
pub(super) fn item_name(key: &str, item: &Map<String, Json>) -> String {
    item.get("name")
        .and_then(Json::as_str)
        .unwrap_or(key)
        .to_owned()
}

pub(super) fn objects<'t>(object: &'t Map<String, Json>, key: &str) -> Vec<&'t Map<String, Json>> {
    object
        .get(key)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_object).collect())
        .unwrap_or_default()
}

impl Reader<'_> {
    fn shape(&self, path: &str, message: &str) -> ImportError {
        ImportError::TwxShape {
            file: self.file.to_owned(),
            message: format!("{path}: {message}"),
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file.to_owned(),
            line: None,
        }
    }

    fn entity(
        &self,
        collection: Collection,
        item: &Json,
        path: &str,
        profile: Profile,
        options: TreeOptions,
    ) -> Result<Entity, ImportError> {
        let object = item
            .as_object()
            .ok_or_else(|| self.shape(path, "the entity is not an object"))?;
        let name = match object.get("name") {
            Some(Json::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Json::String(_)) => return Err(self.shape(path, "the entity name is empty")),
            Some(_) => return Err(self.shape(&format!("{path}.name"), "the name is not a string")),
            None => return Err(self.shape(path, "the entity has no name")),
        };
        let owner = object
            .get("owner")
            .and_then(Json::as_object)
            .map(|o| (string(o, "type"), string(o, "name")));
        let tags = object
            .get("tags")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_object)
                    .map(|t| {
                        format!(
                            "{}:{}",
                            string(t, "vocabulary"),
                            string(t, "vocabularyTerm")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default();
        let common = Common {
            description: string(object, "description"),
            documentation_content: string(object, "documentationContent"),
            tags,
            project_name: string(object, "projectName"),
            home_mashup: string(object, "homeMashup"),
            owner,
            avatar: string(object, "avatar"),
            aspects: aspects(object),
            last_modified_date: int64(object, "lastModifiedDate"),
        };
        let mut rules = Vec::new();
        for (key, instance) in [
            ("designTimePermissions", false),
            ("runTimePermissions", false),
            ("visibilityPermissions", false),
            ("instanceDesignTimePermissions", true),
            ("instanceRunTimePermissions", true),
            ("instanceVisibilityPermissions", true),
        ] {
            if let Some(block) = object.get(key) {
                self.permissions(block, &format!("{path}.{key}"), instance, &mut rules)?;
            }
        }
        let configuration_tables = tables(object, "configurationTables");
        let kind = self.kind(collection, object, path, &configuration_tables)?;
        let mut entity = Entity {
            collection,
            name,
            common,
            rules,
            configuration_tables,
            kind,
            extra: Extra::new(),
            origin: self.origin(),
        };
        let written = entity_tree(&entity, profile, options);
        if let Json::Object(written) = written {
            diff(object, &written, "", &mut entity.extra);
        }
        Ok(entity)
    }

    fn permissions(
        &self,
        block: &Json,
        path: &str,
        instance: bool,
        rules: &mut Vec<EntityRule>,
    ) -> Result<(), ImportError> {
        let block = block
            .as_object()
            .ok_or_else(|| self.shape(path, "the permission block is not an object"))?;
        let mut push = |kind: PermissionKind, resource: &str, list: Option<&Json>, at: &str| {
            let Some(list) = list else { return Ok(()) };
            let list = list
                .as_array()
                .ok_or_else(|| self.shape(at, "the principal list is not an array"))?;
            for (index, principal) in list.iter().enumerate() {
                let (principal_type, principal_name, allow) =
                    self.principal(principal, &format!("{at}[{index}]"))?;
                rules.push(EntityRule {
                    instance,
                    rule: Rule {
                        kind,
                        resource: resource.to_owned(),
                        principal_type,
                        principal_name,
                        allow,
                    },
                });
            }
            Ok::<(), ImportError>(())
        };
        if let Some(entries) = block.get("permissions") {
            let at = format!("{path}.permissions");
            let entries = entries
                .as_array()
                .ok_or_else(|| self.shape(&at, "the run-time permissions are not an array"))?;
            for (index, entry) in entries.iter().enumerate() {
                let entry_path = format!("{at}[{index}]");
                let entry = entry
                    .as_object()
                    .ok_or_else(|| self.shape(&entry_path, "the entry is not an object"))?;
                let resource = match entry.get("resourceName") {
                    Some(Json::String(s)) if !s.is_empty() => s.clone(),
                    _ => {
                        return Err(self.shape(&entry_path, "the entry has no resourceName"));
                    }
                };
                for kind in PermissionKind::RUN_TIME {
                    push(
                        kind,
                        &resource,
                        entry.get(kind.as_str()),
                        &format!("{entry_path}.{}", kind.as_str()),
                    )?;
                }
            }
        }
        for kind in PermissionKind::DESIGN_TIME
            .into_iter()
            .chain([PermissionKind::Visibility])
        {
            push(
                kind,
                "*",
                block.get(kind.as_str()),
                &format!("{path}.{}", kind.as_str()),
            )?;
        }
        Ok(())
    }

    fn principal(
        &self,
        value: &Json,
        path: &str,
    ) -> Result<(PrincipalType, String, bool), ImportError> {
        let object = value
            .as_object()
            .ok_or_else(|| self.shape(path, "the principal is not an object"))?;
        let name = match object.get("name") {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(self.shape(path, "the principal has no name")),
        };
        let principal_type = match object.get("type") {
            Some(Json::String(s)) => s.parse::<PrincipalType>().map_err(|e| {
                self.shape(&format!("{path}.type"), &format!("principal '{name}': {e}"))
            })?,
            _ => return Err(self.shape(path, &format!("principal '{name}' has no type"))),
        };
        let allow = match object.get("isPermitted") {
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) if s == "true" || s == "false" => s == "true",
            _ => {
                return Err(self.shape(
                    &format!("{path}.isPermitted"),
                    &format!("principal '{name}': isPermitted is not a boolean"),
                ));
            }
        };
        Ok((principal_type, name, allow))
    }

    fn members(
        &self,
        object: &Map<String, Json>,
        key: &str,
        path: &str,
    ) -> Result<Vec<Member>, ImportError> {
        let Some(list) = object.get(key) else {
            return Ok(Vec::new());
        };
        let at = format!("{path}.{key}");
        let list = list
            .as_array()
            .ok_or_else(|| self.shape(&at, "the members are not an array"))?;
        let mut members = Vec::new();
        for (index, member) in list.iter().enumerate() {
            let member_path = format!("{at}[{index}]");
            let member = member
                .as_object()
                .ok_or_else(|| self.shape(&member_path, "the member is not an object"))?;
            let name = match member.get("name") {
                Some(Json::String(s)) if !s.is_empty() => s.clone(),
                _ => return Err(self.shape(&member_path, "the member has no name")),
            };
            let member_type = match member.get("type") {
                Some(Json::String(s)) => s.parse::<MemberType>().map_err(|e| {
                    self.shape(
                        &format!("{member_path}.type"),
                        &format!("member '{name}': {e}"),
                    )
                })?,
                _ => return Err(self.shape(&member_path, &format!("member '{name}' has no type"))),
            };
            members.push(Member { name, member_type });
        }
        Ok(members)
    }

    fn kind(
        &self,
        collection: Collection,
        object: &Map<String, Json>,
        path: &str,
        tables_read: &[ConfigurationTable],
    ) -> Result<Kind, ImportError> {
        Ok(match collection {
            Collection::Things => {
                let definitions = object
                    .get("thingShape")
                    .and_then(Json::as_object)
                    .map(definitions)
                    .unwrap_or_default();
                let values = object
                    .get("thingProperties")
                    .and_then(Json::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(name, entry)| property_value(name, entry, &definitions))
                            .collect()
                    })
                    .unwrap_or_default();
                Kind::Thing(Box::new(Thing {
                    thing_template: string(object, "thingTemplate"),
                    enabled: boolean(object, "enabled"),
                    published: boolean(object, "published"),
                    identifier: string(object, "identifier"),
                    value_stream: string(object, "valueStream"),
                    inherited_value_stream: string(object, "inheritedValueStream"),
                    thing_package: string(object, "thingPackage"),
                    effective_thing_package: string(object, "effectiveThingPackage"),
                    definitions,
                    implemented_shapes: implemented_shapes(object),
                    values,
                }))
            }
            Collection::ThingTemplates => Kind::ThingTemplate(Box::new(ThingTemplate {
                base_thing_template: string(object, "baseThingTemplate"),
                thing_package: string(object, "thingPackage"),
                effective_thing_package: string(object, "effectiveThingPackage"),
                value_stream: string(object, "valueStream"),
                definitions: object
                    .get("thingShape")
                    .and_then(Json::as_object)
                    .map(definitions)
                    .unwrap_or_default(),
                implemented_shapes: implemented_shapes(object),
                shared_configuration_tables: tables(object, "sharedConfigurationTables"),
            })),
            Collection::ThingShapes => Kind::ThingShape(Box::new(ThingShape {
                class_name: string(object, "className"),
                definitions: definitions(object),
            })),
            Collection::DataShapes => Kind::DataShape(DataShape {
                base_data_shape: string(object, "baseDataShape"),
                fields: fields(object, "fieldDefinitions"),
            }),
            Collection::Users => {
                let password = match object.get("passwordHash").and_then(Json::as_str) {
                    Some(hash) if !hash.is_empty() => Some(PasswordHash {
                        hash: hash.to_owned(),
                        algorithm: string(object, "passwordHashAlgorithm"),
                        iterations: int32(object, "passwordHashIterationCount"),
                        salt_bytes: int32(object, "passwordHashSaltSizeInBytes"),
                        hash_bytes: int32(object, "passwordHashSizeInBytes"),
                    }),
                    _ => None,
                };
                let (extensions, language_preferences) = user_tables(tables_read);
                Kind::User(Box::new(User {
                    enabled: boolean(object, "enabled"),
                    locked: boolean(object, "locked"),
                    password,
                    language_preferences,
                    mobile_mashup: string(object, "mobileMashup"),
                    scim_id: string(object, "scimId"),
                    scim_external_id: string(object, "scimExternalId"),
                    extensions,
                }))
            }
            Collection::Groups => Kind::Group(Group {
                scim_display_name: string(object, "scimDisplayName"),
                scim_id: string(object, "scimId"),
                scim_external_id: string(object, "scimExternalId"),
                members: self.members(object, "members", path)?,
            }),
            Collection::Organizations => {
                Kind::Organization(Box::new(self.organization(object, path)?))
            }
            Collection::ApplicationKeys => Kind::ApplicationKey(ApplicationKey {
                key_id: string(object, "keyId"),
                user_name: string(object, "userNameReference"),
                expiration_date: int64(object, "expirationDate"),
                client_name: string(object, "clientName"),
                ip_whitelist: string(object, "ipWhitelist"),
            }),
            Collection::LocalizationTables => Kind::LocalizationTable(LocalizationTable {
                tokens: objects(object, "tokens")
                    .into_iter()
                    .map(|t| Token {
                        name: string(t, "name"),
                        value: string(t, "value"),
                        description: string(t, "description"),
                        context: string(t, "context"),
                    })
                    .collect(),
            }),
            Collection::ModelTags | Collection::DataTags => Kind::Vocabulary(Vocabulary {
                is_dynamic: boolean(object, "isDynamic"),
                terms: objects(object, "vocabularyTerms")
                    .into_iter()
                    .map(|t| Term {
                        name: string(t, "name"),
                        description: string(t, "description"),
                    })
                    .collect(),
            }),
            _ => Kind::Plain,
        })
    }

    fn organization(
        &self,
        object: &Map<String, Json>,
        path: &str,
    ) -> Result<Organization, ImportError> {
        let mut parents: BTreeMap<String, String> = BTreeMap::new();
        for connection in objects(object, "connections") {
            let to = string(connection, "to");
            let from = string(connection, "from");
            if !to.is_empty() {
                parents.insert(to, from);
            }
        }
        let mut units = Vec::new();
        for (key, unit) in named(object, "organizationalUnits") {
            let name = item_name(key, unit);
            let unit_path = format!("{path}.organizationalUnits.{key}");
            let parent = parents.get(&name).filter(|p| !p.is_empty()).cloned();
            units.push(Unit {
                members: self.members(unit, "members", &unit_path)?,
                description: string(unit, "description"),
                parent,
                name,
            });
        }
        // Units in the order of `connections` (root first: it is attached with an empty
        // `from`), then units no connection names, in key order.
        let connected: Vec<String> = objects(object, "connections")
            .into_iter()
            .map(|c| string(c, "to"))
            .collect();
        units.sort_by_key(|u| {
            connected
                .iter()
                .position(|to| *to == u.name)
                .unwrap_or(usize::MAX)
        });
        Ok(Organization {
            login_prompt: string(object, "loginPrompt"),
            login_image: string(object, "loginImage"),
            login_style: string(object, "loginStyle"),
            login_button_style: string(object, "loginButtonStyle"),
            login_reset_password: boolean(object, "loginResetPassword"),
            mobile_mashup: string(object, "mobileMashup"),
            reset_mail_content: string(object, "resetMailContent"),
            reset_mail_server: string(object, "resetMailServer"),
            reset_mail_subject: string(object, "resetMailSubject"),
            units,
        })
    }
}

pub(super) fn implemented_shapes(object: &Map<String, Json>) -> Vec<String> {
    match object.get("implementedShapes") {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_object()
                    .map(|o| item_name(k, o))
                    .unwrap_or_else(|| k.clone())
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn field(key: &str, object: &Map<String, Json>) -> FieldDefinition {
    FieldDefinition {
        name: item_name(key, object),
        base_type: string(object, "baseType"),
        description: string(object, "description"),
        ordinal: int32(object, "ordinal"),
        aspects: aspects(object),
    }
}

pub(super) fn fields(object: &Map<String, Json>, key: &str) -> Vec<FieldDefinition> {
    named(object, key)
        .into_iter()
        .map(|(k, f)| field(k, f))
        .collect()
}

pub(super) fn table(key: &str, object: &Map<String, Json>) -> ConfigurationTable {
    ConfigurationTable {
        name: item_name(key, object),
        description: string(object, "description"),
        is_multi_row: boolean(object, "isMultiRow"),
        ordinal: int32(object, "ordinal"),
        data_shape_name: string(object, "dataShapeName"),
        is_hidden: boolean(object, "isHidden"),
        fields: object
            .get("dataShape")
            .and_then(Json::as_object)
            .map(|d| fields(d, "fieldDefinitions"))
            .unwrap_or_default(),
        rows: objects(object, "rows").into_iter().cloned().collect(),
    }
}

pub(super) fn tables(object: &Map<String, Json>, key: &str) -> Vec<ConfigurationTable> {
    named(object, key)
        .into_iter()
        .map(|(k, t)| table(k, t))
        .collect()
}

pub(super) fn definitions(object: &Map<String, Json>) -> Definitions {
    Definitions {
        properties: named(object, "propertyDefinitions")
            .into_iter()
            .map(|(k, p)| PropertyDefinition {
                name: item_name(k, p),
                base_type: string(p, "baseType"),
                description: string(p, "description"),
                category: string(p, "category"),
                ordinal: int32(p, "ordinal"),
                is_local_only: boolean(p, "isLocalOnly"),
                aspects: aspects(p),
            })
            .collect(),
        services: named(object, "serviceDefinitions")
            .into_iter()
            .map(|(k, s)| ServiceDefinition {
                name: item_name(k, s),
                description: string(s, "description"),
                category: string(s, "category"),
                is_allow_override: boolean(s, "isAllowOverride"),
                is_local_only: boolean(s, "isLocalOnly"),
                is_open: boolean(s, "isOpen"),
                is_private: boolean(s, "isPrivate"),
                aspects: aspects(s),
                result_type: s
                    .get("resultType")
                    .and_then(Json::as_object)
                    .map(|r| field("", r)),
                parameters: fields(s, "parameterDefinitions"),
            })
            .collect(),
        events: named(object, "eventDefinitions")
            .into_iter()
            .map(|(k, e)| EventDefinition {
                name: item_name(k, e),
                description: string(e, "description"),
                category: string(e, "category"),
                data_shape: string(e, "dataShape"),
                is_local_only: boolean(e, "isLocalOnly"),
                aspects: aspects(e),
            })
            .collect(),
        implementations: named(object, "serviceImplementations")
            .into_iter()
            .map(|(k, i)| ServiceImplementation {
                name: item_name(k, i),
                description: string(i, "description"),
                handler_name: string(i, "handlerName"),
                configuration: tables(i, "configurationTables"),
            })
            .collect(),
        subscriptions: named(object, "subscriptions")
            .into_iter()
            .map(|(k, s)| {
                let implementation = s.get("serviceImplementation").and_then(Json::as_object);
                Subscription {
                    name: item_name(k, s),
                    description: string(s, "description"),
                    enabled: boolean(s, "enabled"),
                    event_name: string(s, "eventName"),
                    source: string(s, "source"),
                    source_property: string(s, "sourceProperty"),
                    source_type: string(s, "sourceType"),
                    handler_name: implementation
                        .map(|i| string(i, "handlerName"))
                        .unwrap_or_default(),
                    configuration: implementation
                        .map(|i| tables(i, "configurationTables"))
                        .unwrap_or_default(),
                }
            })
            .collect(),
    }
}

/// A `thingProperties` entry: `{value, timestamp, quality}` (quality a non-empty string), or a
/// bare value (7.2 INFOTABLE and LOCATION values), kept whole with an empty quality.
pub(super) fn property_value(name: &str, entry: &Json, definitions: &Definitions) -> PropertyValue {
    let base_type = definitions
        .properties
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.base_type.clone())
        .unwrap_or_default();
    if let Json::Object(o) = entry {
        let wrapped = o.len() == 3
            && o.contains_key("value")
            && o.get("timestamp").is_some_and(Json::is_i64)
            && o.get("quality")
                .and_then(Json::as_str)
                .is_some_and(|q| !q.is_empty());
        if wrapped {
            return PropertyValue {
                name: name.to_owned(),
                base_type,
                value: o.get("value").cloned().unwrap_or_default(),
                time: int64(o, "timestamp").unwrap_or_default(),
                quality: string(o, "quality"),
            };
        }
    }
    PropertyValue {
        name: name.to_owned(),
        base_type,
        value: entry.clone(),
        time: 0,
        quality: String::new(),
    }
}

/// The typed view of a User's `UserExtensions` and `Settings` tables.
pub(super) fn user_tables(tables: &[ConfigurationTable]) -> (Vec<ExtensionValue>, String) {
    let text = |row: &Map<String, Json>, key: &str| match row.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let extensions = tables
        .iter()
        .find(|t| t.name == "UserExtensions")
        .map(|t| {
            t.rows
                .iter()
                .map(|row| ExtensionValue {
                    name: text(row, "name"),
                    value: text(row, "value"),
                    last_update_time: int64(row, "lastUpdateTime").unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let language = tables
        .iter()
        .find(|t| t.name == "Settings")
        .and_then(|t| t.rows.first())
        .map(|row| text(row, "language"))
        .unwrap_or_default();
    (extensions, language)
}
