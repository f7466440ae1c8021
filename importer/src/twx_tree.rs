//! Owns the mapping between the JSON tree of a binary `.twx` export (as [`crate::twx::read_twx`]
//! returns it) and the format-neutral [`Export`] model, both ways.
//!
//! # The tree
//!
//! The root object holds the header scalars (`schemaVersion`, `majorVersion`, …, `universal`)
//! and then one key per collection: `"Things": {"Thing": [ … ]}`. Entity keys are lowerCamelCase;
//! dates are epoch milliseconds; definition lists and configuration tables are objects keyed by
//! name; `tags` is an array of `{vocabulary, vocabularyTerm}`; property values are
//! `{value, timestamp, quality}` (7.2 writes INFOTABLE and LOCATION values bare, without the
//! wrapper: such a value is read with an empty quality and written back bare); `aspects` is a
//! nested object; permission blocks are `{"Create":[…],…,"Metadata":[…]}`,
//! `{"permissions":[{"resourceName":"*","PropertyRead":[…],…}]}` and `{"Visibility":[…]}`, each
//! principal `{"name","type","isPermitted"}`.
//!
//! Shapes not seen in a real `.twx` file, designed after the XML: Users (`enabled`, `locked`,
//! `mobileMashup`, `scimId`, `scimExternalId`, `passwordHash*`; extension values and language in
//! the `UserExtensions` and `Settings` configuration tables, which stay in
//! [`Entity::configuration_tables`] and also fill the typed fields), Groups (`members`: an array
//! of `{name, type}`), Organizations (`organizationalUnits`: an object keyed by unit name of
//! `{name, description, members}`, and `connections`: an array of `{from, to}`, the root unit
//! attached with an empty `from`), ApplicationKeys (`keyId`, `userNameReference`,
//! `expirationDate`, `clientName`, `ipWhitelist`), LocalizationTables (`tokens`: an array of
//! `{name, value, description, context}`), `implementedShapes` (an object keyed by shape name of
//! `{name, type: "ThingShape"}`), ThingShape entities (the definition lists as direct keys).
//!
//! # Version profile
//!
//! What ThingWorx writes depends on its version; the writer follows the header's
//! `schemaVersion` (9.x and later when there is none): the collection list and its order (the
//! 7.2, 8.x and 9.x lists seen in real files), the run-time `*` entry written even when empty,
//! `dataShapeName` on configuration tables and `inheritedValueStream` on Things (9.x and later).
//!
//! # Key order
//!
//! Every object below the root is written in the iteration order of a Java `HashMap` holding its
//! keys (as every object of the real files is): keys sorted by hash bucket (`String.hashCode`,
//! spread, table size the smallest power of two from 16 that holds the keys at load factor
//! 0.75), keys of one bucket in insertion order. Insertion order is a fixed order per object
//! kind (which differs slightly between 8.x and 9.x for entities), then kept keys in their order;
//! name-keyed objects are inserted in model order. The root keeps its own order: the header, then
//! the collections.
//!
//! # What the model has no field for
//!
//! Reading maps every key the model has a field for, then writes the entity back and compares:
//! each top-level key the writer does not reproduce exactly is kept in [`Entity::extra`] under
//! its own plain key with its value as found (`configurationChanges`, `mashupContent`,
//! `alertConfigurations`, …). A difference deeper down (a nested key the model has no field
//! for) is kept under a JSON-pointer key relative to the entity, `/thingShape/serviceMappings`
//! (tokens escaped `~0` `~1`), and a key the writer would add but the tree lacks under the same
//! pointer prefixed with `-` (`-/configurationTables/Script/dataShapeName`, value `null`). The
//! writer applies plain keys and pointers over what it builds, so a tree read and written back
//! is the same tree. Real files need only plain keys; a note records every pointer kept.
//!
//! Extras are in the neutral form of [`crate::extras`], which is this tree's own form.

use std::collections::BTreeMap;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType, PermissionKind, PrincipalType};
use serde_json::{Map, Value as Json};

use crate::error::ImportError;
use crate::limits::Limits;
use crate::model::{
    ApplicationKey, Common, ConfigurationTable, DataShape, Definitions, Entity, EntityRule,
    EventDefinition, Export, ExtensionValue, Extra, FieldDefinition, Group, Kind,
    LocalizationTable, Member, Note, Organization, Origin, PasswordHash, PropertyDefinition,
    PropertyValue, ServiceDefinition, ServiceImplementation, Subscription, Term, Thing, ThingShape,
    ThingTemplate, Token, Unit, User, Vocabulary,
};
use crate::values;

/// How [`tree_from_export`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeOptions {
    /// Write secrets blanked, as ThingWorx's `universal="password"` exports do: header
    /// `universal: "password"`, empty ApplicationKey `keyId`, no password hashes.
    pub blank_secrets: bool,
}

/// The `.twx` collections of 7.2 files (schema 920), in file order.
const COLLECTIONS_7: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "DataAnalysisDefinitions",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// The `.twx` collections of 8.x files (schema 1000), in file order.
const COLLECTIONS_8: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "NotificationContents",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "DataAnalysisDefinitions",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "NotificationDefinitions",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// The `.twx` collections of 9.x files (schema 1134), in file order.
const COLLECTIONS_9: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "NotificationContents",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "StyleThemes",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "NotificationDefinitions",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "ThingGroups",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// What the writer's output depends on besides the model: the ThingWorx version.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// The schema version (`None`: not given, written as the newest known).
    schema: Option<u32>,
    /// 9.x or later (schema 1100 and above).
    modern: bool,
}

impl Profile {
    fn of(header: &[(String, String)]) -> Profile {
        let schema = header
            .iter()
            .find(|(k, _)| k == "schemaVersion")
            .and_then(|(_, v)| v.trim().parse::<u32>().ok());
        Profile {
            schema,
            modern: schema.is_none_or(|s| s >= 1100),
        }
    }

    fn collections(self) -> &'static [&'static str] {
        match self.schema {
            Some(s) if s < 1000 => COLLECTIONS_7,
            Some(s) if s < 1100 => COLLECTIONS_8,
            _ => COLLECTIONS_9,
        }
    }
}

fn blank_secrets_of(header: &[(String, String)]) -> bool {
    header
        .iter()
        .any(|(k, v)| k == "universal" && v == "password")
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

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
fn exceeds_depth(tree: &Json, max: usize) -> bool {
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

struct Reader<'a> {
    file: &'a str,
}

fn string(object: &Map<String, Json>, key: &str) -> String {
    object
        .get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn boolean(object: &Map<String, Json>, key: &str) -> bool {
    match object.get(key) {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s == "true",
        _ => false,
    }
}

fn int32(object: &Map<String, Json>, key: &str) -> i32 {
    object
        .get(key)
        .and_then(Json::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_default()
}

fn int64(object: &Map<String, Json>, key: &str) -> Option<i64> {
    object.get(key).and_then(Json::as_i64)
}

fn aspects(object: &Map<String, Json>) -> Map<String, Json> {
    object
        .get("aspects")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The object entries of a name-keyed object (`propertyDefinitions`, …), in order.
fn named<'t>(object: &'t Map<String, Json>, key: &str) -> Vec<(&'t str, &'t Map<String, Json>)> {
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
fn item_name(key: &str, item: &Map<String, Json>) -> String {
    item.get("name")
        .and_then(Json::as_str)
        .unwrap_or(key)
        .to_owned()
}

fn objects<'t>(object: &'t Map<String, Json>, key: &str) -> Vec<&'t Map<String, Json>> {
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

fn implemented_shapes(object: &Map<String, Json>) -> Vec<String> {
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

fn field(key: &str, object: &Map<String, Json>) -> FieldDefinition {
    FieldDefinition {
        name: item_name(key, object),
        base_type: string(object, "baseType"),
        description: string(object, "description"),
        ordinal: int32(object, "ordinal"),
        aspects: aspects(object),
    }
}

fn fields(object: &Map<String, Json>, key: &str) -> Vec<FieldDefinition> {
    named(object, key)
        .into_iter()
        .map(|(k, f)| field(k, f))
        .collect()
}

fn table(key: &str, object: &Map<String, Json>) -> ConfigurationTable {
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

fn tables(object: &Map<String, Json>, key: &str) -> Vec<ConfigurationTable> {
    named(object, key)
        .into_iter()
        .map(|(k, t)| table(k, t))
        .collect()
}

fn definitions(object: &Map<String, Json>) -> Definitions {
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
fn property_value(name: &str, entry: &Json, definitions: &Definitions) -> PropertyValue {
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
fn user_tables(tables: &[ConfigurationTable]) -> (Vec<ExtensionValue>, String) {
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

// ---------------------------------------------------------------------------------------------
// Kept differences
// ---------------------------------------------------------------------------------------------

/// Whether an extra key is a JSON pointer (a nested value, or a removal with `-`).
fn is_pointer(key: &str) -> bool {
    key.starts_with('/') || key.starts_with("-/")
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Records in `out` what `written` does not reproduce of `original`: top-level keys as plain
/// keys, deeper ones as pointers, keys only `written` has as `-` pointers.
fn diff(original: &Map<String, Json>, written: &Map<String, Json>, prefix: &str, out: &mut Extra) {
    for (key, value) in original {
        let pointer = format!("{prefix}/{}", escape(key));
        let at = if prefix.is_empty() {
            key.clone()
        } else {
            pointer.clone()
        };
        match written.get(key) {
            Some(w) if w == value => {}
            Some(Json::Object(w)) if value.is_object() => {
                if let Json::Object(o) = value {
                    diff(o, w, &pointer, out);
                }
            }
            _ => {
                out.insert(at, value.clone());
            }
        }
    }
    for key in written.keys() {
        if !original.contains_key(key) {
            out.insert(format!("-{prefix}/{}", escape(key)), Json::Null);
        }
    }
}

/// Applies the kept extras of an entity over what the writer built (the neutral form of
/// [`crate::extras`] is the `.twx` form: plain keys replace, pointers reach below).
fn apply_extra(object: &mut Map<String, Json>, extra: &Extra) {
    let mut removals = Vec::new();
    for (key, value) in extra {
        if let Some(pointer) = key.strip_prefix('-').filter(|p| p.starts_with('/')) {
            removals.push(pointer);
        } else if key.starts_with('/') {
            set_pointer(object, key, value.clone());
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    for pointer in removals {
        remove_pointer(object, pointer);
    }
}

fn tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(unescape).collect()
}

fn set_pointer(object: &mut Map<String, Json>, pointer: &str, value: Json) {
    let tokens = tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = object;
    for token in parents {
        let next = current
            .entry(token.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        match next {
            Json::Object(m) => current = m,
            _ => return,
        }
    }
    current.insert(last.clone(), value);
}

fn remove_pointer(object: &mut Map<String, Json>, pointer: &str) {
    let tokens = tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = object;
    for token in parents {
        match current.get_mut(token) {
            Some(Json::Object(m)) => current = m,
            _ => return,
        }
    }
    current.shift_remove(last);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The header keys in the order ThingWorx writes them at the root of a `.twx` tree.
const HEADER_ORDER: &[&str] = &[
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
    let mut names: Vec<&str> = profile.collections().to_vec();
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
fn object(entries: Vec<(&str, Json)>) -> Map<String, Json> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn text(s: &str) -> Json {
    Json::String(s.to_owned())
}

fn entity_tree(entity: &Entity, profile: Profile, options: TreeOptions) -> Json {
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

fn kind_entries(
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

fn principal_tree(rule: &Rule) -> Json {
    Json::Object(object(vec![
        ("name", text(&rule.principal_name)),
        ("type", text(rule.principal_type.as_str())),
        ("isPermitted", Json::Bool(rule.allow)),
    ]))
}

fn principals(rules: &[&Rule], kind: PermissionKind, resource: Option<&str>) -> Json {
    Json::Array(
        rules
            .iter()
            .filter(|r| r.kind == kind && resource.is_none_or(|res| r.resource == res))
            .map(|r| principal_tree(r))
            .collect(),
    )
}

fn design_time(rules: &[&Rule]) -> Json {
    Json::Object(
        PermissionKind::DESIGN_TIME
            .into_iter()
            .map(|kind| (kind.as_str().to_owned(), principals(rules, kind, None)))
            .collect(),
    )
}

fn run_time(rules: &[&Rule], profile: Profile) -> Json {
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

fn visibility(rules: &[&Rule]) -> Json {
    Json::Object(object(vec![(
        "Visibility",
        principals(rules, PermissionKind::Visibility, None),
    )]))
}

fn members_tree(members: &[Member]) -> Json {
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

fn shapes_tree(shapes: &[String]) -> Json {
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

fn field_tree(field: &FieldDefinition) -> Json {
    Json::Object(object(vec![
        ("name", text(&field.name)),
        ("aspects", Json::Object(field.aspects.clone())),
        ("description", text(&field.description)),
        ("baseType", text(&field.base_type)),
        ("ordinal", Json::from(field.ordinal)),
    ]))
}

fn fields_tree(fields: &[FieldDefinition]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|f| (f.name.clone(), field_tree(f)))
            .collect(),
    )
}

/// Configuration-table cells ThingWorx's XML writes beside a row's fields and its `.twx` does
/// not (a data table's `accumulatedDataShape`, derived from its `dataShape` cell).
const DERIVED_CELLS: &[&str] = &["accumulatedDataShape"];

/// A DataShape's `effectiveFieldDefinitions` as ThingWorx writes them: its fields with their
/// ordinals renumbered from 1 in ordinal order (fields of equal ordinal in the order of the
/// written `fieldDefinitions` map). A base data shape's fields are not added (the export may not
/// hold it); a file that has them keeps them as an extra.
fn effective_fields(fields: &[FieldDefinition]) -> Json {
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

fn tables_tree(tables: &[ConfigurationTable], profile: Profile) -> Json {
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

fn definitions_tree(definitions: &Definitions, profile: Profile) -> Map<String, Json> {
    object(definitions_entries(definitions, profile))
}

fn definitions_entries(definitions: &Definitions, profile: Profile) -> Vec<(&'static str, Json)> {
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
fn value_tree(value: &PropertyValue, own: &Definitions) -> Json {
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
    let complex = matches!(base_type, "INFOTABLE" | "LOCATION")
        || (base_type.is_empty() && infotable(&typed));
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
fn add_user_tables(user: &User, tables: &mut Vec<ConfigurationTable>) {
    let column = |name: &str, base_type: &str, description: &str, ordinal: i32| FieldDefinition {
        name: name.into(),
        base_type: base_type.into(),
        description: description.into(),
        ordinal,
        aspects: Map::new(),
    };
    if !user.extensions.is_empty() && !tables.iter().any(|t| t.name == "UserExtensions") {
        let mut primary = column("name", "STRING", "Name", 1);
        primary
            .aspects
            .insert("isPrimaryKey".into(), Json::Bool(true));
        tables.push(ConfigurationTable {
            name: "UserExtensions".into(),
            description: "UserExtensions".into(),
            is_multi_row: true,
            ordinal: 1,
            fields: vec![
                column("lastUpdateTime", "DATETIME", "Last update time", 3),
                primary,
                column("value", "STRING", "Value", 2),
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
            fields: vec![column("language", "STRING", "Language preferences", 0)],
            rows: vec![object(vec![("language", text(&user.language_preferences))])],
            ..ConfigurationTable::default()
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Java HashMap order
// ---------------------------------------------------------------------------------------------

/// Java's `String.hashCode`.
fn java_hash(s: &str) -> u32 {
    s.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(u32::from(unit))
    })
}

/// The table size of a `HashMap` after `len` insertions.
fn table_size(len: usize) -> usize {
    let mut size = 16usize;
    while len * 4 > size * 3 {
        size *= 2;
    }
    size
}

fn bucket(key: &str, size: usize) -> usize {
    let h = java_hash(key);
    let spread = h ^ (h >> 16);
    usize::try_from(spread).unwrap_or_default() & (size - 1)
}

/// Orders every object of `value` as a Java `HashMap` holding its keys, inserted in their
/// current order, iterates them.
fn hash_order(value: &mut Json) {
    match value {
        Json::Object(map) => {
            let size = table_size(map.len());
            let mut entries: Vec<(String, Json)> = std::mem::take(map).into_iter().collect();
            for (_, child) in &mut entries {
                hash_order(child);
            }
            entries.sort_by_key(|(key, _)| bucket(key, size));
            *map = entries.into_iter().collect();
        }
        Json::Array(list) => list.iter_mut().for_each(hash_order),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        // "hello".hashCode() == 99162322
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(table_size(12), 16);
        assert_eq!(table_size(13), 32);
    }

    #[test]
    fn pointers_round_trip() {
        let mut object = Map::new();
        set_pointer(&mut object, "/a~1b/c", Json::from(1));
        assert_eq!(object["a/b"]["c"], Json::from(1));
        remove_pointer(&mut object, "/a~1b/c");
        assert_eq!(object["a/b"], Json::Object(Map::new()));
    }

    fn unit(name: &str, parent: Option<&str>) -> Unit {
        Unit {
            name: name.to_owned(),
            description: format!("{name} unit"),
            parent: parent.map(str::to_owned),
            members: vec![Member {
                name: format!("{name}.member"),
                member_type: MemberType::User,
            }],
        }
    }

    /// Reads back the organization `tree_from_export` writes for `units`, through the bytes.
    fn organization_back(units: Vec<Unit>) -> Entity {
        let export = Export {
            entities: vec![Entity {
                collection: Collection::Organizations,
                name: "Plant".into(),
                common: Common::default(),
                rules: vec![],
                configuration_tables: vec![],
                kind: Kind::Organization(Box::new(Organization {
                    units,
                    ..Organization::default()
                })),
                extra: Extra::new(),
                origin: Origin::default(),
            }],
            ..Export::default()
        };
        let tree = tree_from_export(&export, &TreeOptions::default());
        let mut bytes = Vec::new();
        crate::twx::write_twx(&tree, &mut bytes).expect("write_twx");
        let limits = Limits::default();
        let tree = crate::twx::read_twx(bytes.as_slice(), &limits.twx).expect("read_twx");
        let mut back = export_from_tree(&tree, "org.twx", &limits).expect("read");
        assert_eq!(back.entities.len(), 1);
        back.entities.remove(0)
    }

    #[test]
    fn organizations_read_back_without_extra() {
        let mut many = vec![unit("Plant", None)];
        for i in 0..20 {
            let parent = if i == 0 {
                "Plant".to_owned()
            } else {
                format!("u☃{}", i / 2)
            };
            many.push(unit(&format!("u☃{i}"), Some(&parent)));
        }
        let cases = vec![
            vec![unit("Plant", None)],
            vec![
                unit("Plant", None),
                unit("Area", Some("Plant")),
                unit("Line", Some("Area")),
            ],
            // Root last, children before their parents, a second root.
            vec![
                unit("Line", Some("Area")),
                unit("Area", Some("Plant")),
                unit("Other", None),
                unit("Plant", None),
                unit("c&<\"ü", Some("Other")),
            ],
            many,
        ];
        for units in cases {
            let back = organization_back(units.clone());
            assert_eq!(back.extra, Extra::new(), "{units:?}");
            let Kind::Organization(org) = back.kind else {
                panic!("an organization")
            };
            assert_eq!(org.units, units);
        }
    }
}
