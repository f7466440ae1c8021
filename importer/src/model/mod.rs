//! The format-neutral model of an export: what every reader produces, what the plan and apply
//! steps consume, what is read back from the database and what every writer writes.
//!
//! Conventions shared by every format:
//! - times are epoch milliseconds (`i64`);
//! - `aspects` are JSON objects with typed values (`true`, `60.0`, `"x"`), keyed without the
//!   `aspect.` prefix;
//! - property values and configuration-table cells are JSON values typed by their base type
//!   (see [`crate::values`]); a reader that cannot know the base type yet keeps the text as a
//!   JSON string and the plan step converts it once the definitions are known;
//! - what a format carries that the model has no field for is kept in [`Extra`], never dropped.

pub mod extras;
pub mod values;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, MemberType};
use serde_json::{Map, Value as Json};

/// What a format carries that the model has no typed field for, kept so that nothing is lost.
///
/// Keys say where an item came from: `@name` is an XML attribute (value: a JSON string),
/// `<name>` is an XML child element (value: the element as [`element_json`] describes), and a
/// plain `name` is a key of a `.twx` tree (value: as found). Writers write their own kind
/// natively and convert the other kind with the generic mapping documented in each writer.
pub type Extra = Map<String, Json>;

/// One export: a file, a storage tree or a `.twx` document, or several merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Export {
    /// The root attributes (`schemaVersion`, `majorVersion`, `build`, `universal`, …), in order.
    pub header: Vec<(String, String)>,
    /// The entities, in the order they were read.
    pub entities: Vec<Entity>,
    /// Collection-level rules (only storage mode reads or writes them).
    pub collection_rules: Vec<CollectionRule>,
    /// Entity-level rules listed in a collection-permissions file (`permissions/permissions.xml`
    /// `<Entities>` sections), for entities that may or may not be part of this export.
    pub listed_rules: Vec<ListedRules>,
    /// What the readers noticed and kept or could not place (unknown elements, …).
    pub notes: Vec<Note>,
}

/// Where something was read: the file (or zip entry, or tree path) and the line when known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file, zip entry or path inside a tree.
    pub file: String,
    /// 1-based line of the entity's start tag, when the format has lines.
    pub line: Option<u64>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// A reader's remark: something kept in [`Extra`] or something it could not place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Where.
    pub origin: Origin,
    /// The entity concerned (`Things/Pump1`), when there is one.
    pub entity: Option<String>,
    /// A sentence.
    pub message: String,
}

/// A collection-level rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CollectionRule {
    /// The collection.
    pub collection: Collection,
    /// The rule (design time, run time with a resource, or visibility).
    pub rule: Rule,
}

/// The entity-level rules a collection-permissions file lists for one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedRules {
    /// The entity's collection.
    pub collection: Collection,
    /// The entity's name.
    pub name: String,
    /// Its rules (own and instance).
    pub rules: Vec<EntityRule>,
    /// Where the record was read.
    pub origin: Origin,
}

/// A rule on an entity: its own, or an instance rule of a ThingTemplate or ThingShape.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntityRule {
    /// An instance rule (flows to the Things of a template or shape).
    pub instance: bool,
    /// The rule.
    pub rule: Rule,
}

/// One entity of any collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Its collection.
    pub collection: Collection,
    /// Its name.
    pub name: String,
    /// The attributes every entity carries.
    pub common: Common,
    /// Its own and instance rules, in file order.
    pub rules: Vec<EntityRule>,
    /// Configuration tables (`ConfigurationTables`).
    pub configuration_tables: Vec<ConfigurationTable>,
    /// What its kind adds.
    pub kind: Kind,
    /// What the model has no field for.
    pub extra: Extra,
    /// Where it was read.
    pub origin: Origin,
}

impl Entity {
    /// `Collection/Name`, how reports name an entity.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection, self.name)
    }
}

/// The attributes every entity carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Common {
    /// `description`.
    pub description: String,
    /// `documentationContent` (may be HTML).
    pub documentation_content: String,
    /// `tags`: `Vocabulary:Term` pairs joined by `;`.
    pub tags: String,
    /// `projectName`.
    pub project_name: String,
    /// `homeMashup`.
    pub home_mashup: String,
    /// `Owner` (layout A and `.twx` only): principal type and name.
    pub owner: Option<(String, String)>,
    /// `avatar` (base64 image; empty when none).
    pub avatar: String,
    /// `aspect.*` attributes (or the `.twx` `aspects` object).
    pub aspects: Map<String, Json>,
    /// `lastModifiedDate`.
    pub last_modified_date: Option<i64>,
}

/// What an entity's kind adds to the common attributes.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Kind {
    /// Nothing typed beyond the common attributes (Mashups, Projects, MediaEntities, …:
    /// their attributes and content live in [`Entity::extra`]).
    #[default]
    Plain,
    /// A Thing.
    Thing(Box<Thing>),
    /// A ThingTemplate.
    ThingTemplate(Box<ThingTemplate>),
    /// A ThingShape.
    ThingShape(Box<ThingShape>),
    /// A DataShape.
    DataShape(DataShape),
    /// A User.
    User(Box<User>),
    /// A Group.
    Group(Group),
    /// An Organization.
    Organization(Box<Organization>),
    /// An ApplicationKey.
    ApplicationKey(ApplicationKey),
    /// A LocalizationTable.
    LocalizationTable(LocalizationTable),
    /// A ModelTagVocabulary or DataTagVocabulary.
    Vocabulary(Vocabulary),
}

/// The definition lists of a Thing, ThingTemplate or ThingShape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definitions {
    /// `PropertyDefinitions`.
    pub properties: Vec<PropertyDefinition>,
    /// `ServiceDefinitions`.
    pub services: Vec<ServiceDefinition>,
    /// `EventDefinitions`.
    pub events: Vec<EventDefinition>,
    /// `ServiceImplementations`.
    pub implementations: Vec<ServiceImplementation>,
    /// `Subscriptions`.
    pub subscriptions: Vec<Subscription>,
}

impl Definitions {
    /// Whether every list is empty.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
            && self.services.is_empty()
            && self.events.is_empty()
            && self.implementations.is_empty()
            && self.subscriptions.is_empty()
    }
}

/// A property definition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropertyDefinition {
    /// `name`.
    pub name: String,
    /// `baseType` (`NUMBER`, …).
    pub base_type: String,
    /// `description`.
    pub description: String,
    /// `category`.
    pub category: String,
    /// `ordinal`.
    pub ordinal: i32,
    /// `isLocalOnly`.
    pub is_local_only: bool,
    /// `aspect.*` (`defaultValue`, `isPersistent`, `dataChangeType`, …).
    pub aspects: Map<String, Json>,
}

/// A field of a DataShape, a service parameter or result, or a configuration-table column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldDefinition {
    /// `name`.
    pub name: String,
    /// `baseType`.
    pub base_type: String,
    /// `description`.
    pub description: String,
    /// `ordinal`.
    pub ordinal: i32,
    /// `aspect.*` (`isPrimaryKey`, `dataShape`, …).
    pub aspects: Map<String, Json>,
}

/// A service signature.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceDefinition {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `category`.
    pub category: String,
    /// `isAllowOverride`.
    pub is_allow_override: bool,
    /// `isLocalOnly`.
    pub is_local_only: bool,
    /// `isOpen`.
    pub is_open: bool,
    /// `isPrivate`.
    pub is_private: bool,
    /// `aspect.*` (`isAsync`).
    pub aspects: Map<String, Json>,
    /// `ResultType` (a field definition), when there is one.
    pub result_type: Option<FieldDefinition>,
    /// `ParameterDefinitions`.
    pub parameters: Vec<FieldDefinition>,
}

/// An event definition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventDefinition {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `category`.
    pub category: String,
    /// `dataShape`.
    pub data_shape: String,
    /// `isLocalOnly`.
    pub is_local_only: bool,
    /// `aspect.*`.
    pub aspects: Map<String, Json>,
}

/// A service implementation (`Script`, `SQLQuery`, `SQLCommand`, …), kept as data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceImplementation {
    /// `name` (the service it implements).
    pub name: String,
    /// `description`.
    pub description: String,
    /// `handlerName`.
    pub handler_name: String,
    /// Its configuration tables (`Script` with field `code`, `Query` with `sql`, …).
    pub configuration: Vec<ConfigurationTable>,
}

/// A subscription with its implementation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Subscription {
    /// `name` (`Event.DataChange:Property.pitch`, …).
    pub name: String,
    /// `description`.
    pub description: String,
    /// `enabled`.
    pub enabled: bool,
    /// `eventName`.
    pub event_name: String,
    /// `source`.
    pub source: String,
    /// `sourceProperty`.
    pub source_property: String,
    /// `sourceType`.
    pub source_type: String,
    /// The `handlerName` of its implementation.
    pub handler_name: String,
    /// Its implementation's configuration tables.
    pub configuration: Vec<ConfigurationTable>,
}

/// A configuration table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigurationTable {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `isMultiRow`.
    pub is_multi_row: bool,
    /// `ordinal`.
    pub ordinal: i32,
    /// `dataShapeName` (newer files).
    pub data_shape_name: String,
    /// `isHidden` (newer files).
    pub is_hidden: bool,
    /// Its columns.
    pub fields: Vec<FieldDefinition>,
    /// Its rows: one JSON object per row, cells typed by their column's base type.
    pub rows: Vec<Map<String, Json>>,
}

/// A property value of a Thing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropertyValue {
    /// The property.
    pub name: String,
    /// Its base type once known (empty while a reader could not know it).
    pub base_type: String,
    /// The value, typed by the base type (see [`crate::values`]).
    pub value: Json,
    /// `Timestamp`.
    pub time: i64,
    /// `Quality` (`GOOD`, `UNKNOWN`, …).
    pub quality: String,
}

/// What a Thing adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thing {
    /// `thingTemplate`.
    pub thing_template: String,
    /// `enabled`.
    pub enabled: bool,
    /// `published`.
    pub published: bool,
    /// `identifier`.
    pub identifier: String,
    /// `valueStream`.
    pub value_stream: String,
    /// `inheritedValueStream` (9.x+).
    pub inherited_value_stream: String,
    /// `thingPackage`.
    pub thing_package: String,
    /// `effectiveThingPackage`.
    pub effective_thing_package: String,
    /// The nested `ThingShape` definition lists.
    pub definitions: Definitions,
    /// `ImplementedShapes`, in order.
    pub implemented_shapes: Vec<String>,
    /// `ThingProperties`.
    pub values: Vec<PropertyValue>,
}

/// What a ThingTemplate adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThingTemplate {
    /// `baseThingTemplate` (empty for a root template).
    pub base_thing_template: String,
    /// `thingPackage`.
    pub thing_package: String,
    /// `effectiveThingPackage`.
    pub effective_thing_package: String,
    /// `valueStream`.
    pub value_stream: String,
    /// The nested `ThingShape` definition lists.
    pub definitions: Definitions,
    /// `ImplementedShapes`, in order.
    pub implemented_shapes: Vec<String>,
    /// `SharedConfigurationTables`.
    pub shared_configuration_tables: Vec<ConfigurationTable>,
}

/// What a ThingShape adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThingShape {
    /// `className`.
    pub class_name: String,
    /// Its definition lists (direct children of the entity).
    pub definitions: Definitions,
}

/// What a DataShape adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataShape {
    /// `baseDataShape`.
    pub base_data_shape: String,
    /// `FieldDefinitions`.
    pub fields: Vec<FieldDefinition>,
}

/// A stored password hash as exported (`universal=""` exports only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswordHash {
    /// `passwordHash` (`iterations:salt:hash` for PBKDF2).
    pub hash: String,
    /// `passwordHashAlgorithm` (`PBKDF2WithHmacSHA512`, or `argon2id` from Ironworx).
    pub algorithm: String,
    /// `passwordHashIterationCount`.
    pub iterations: i32,
    /// `passwordHashSaltSizeInBytes`.
    pub salt_bytes: i32,
    /// `passwordHashSizeInBytes`.
    pub hash_bytes: i32,
}

/// One user-extension value (`UserExtensions` configuration table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionValue {
    /// The field (`firstName`, `emailAddress`, …).
    pub name: String,
    /// Its value as text.
    pub value: String,
    /// `lastUpdateTime` (epoch ms).
    pub last_update_time: i64,
}

/// What a User adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct User {
    /// `enabled`.
    pub enabled: bool,
    /// `locked`.
    pub locked: bool,
    /// The password hash, when the export carries one (a blanked or empty hash is `None`).
    pub password: Option<PasswordHash>,
    /// Language preferences (the `Settings` table's `language`), best first, comma separated.
    pub language_preferences: String,
    /// `mobileMashup`.
    pub mobile_mashup: String,
    /// `scimId`.
    pub scim_id: String,
    /// `scimExternalId`.
    pub scim_external_id: String,
    /// The `UserExtensions` rows.
    pub extensions: Vec<ExtensionValue>,
}

/// A member of a group or an organizational unit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// The member's name.
    pub name: String,
    /// User or Group.
    pub member_type: MemberType,
}

/// What a Group adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// `scimDisplayName`.
    pub scim_display_name: String,
    /// `scimId`.
    pub scim_id: String,
    /// `scimExternalId`.
    pub scim_external_id: String,
    /// `Members`, in file order.
    pub members: Vec<Member>,
}

/// An organizational unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    /// Its name (the root unit has the organization's name).
    pub name: String,
    /// `description`.
    pub description: String,
    /// The unit above it (`Connections`); `None` for the root.
    pub parent: Option<String>,
    /// Its members.
    pub members: Vec<Member>,
}

/// What an Organization adds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Organization {
    /// `loginPrompt`.
    pub login_prompt: String,
    /// `loginImage` (base64).
    pub login_image: String,
    /// `loginStyle`.
    pub login_style: String,
    /// `loginButtonStyle`.
    pub login_button_style: String,
    /// `loginResetPassword`.
    pub login_reset_password: bool,
    /// `mobileMashup`.
    pub mobile_mashup: String,
    /// `resetMailContent`.
    pub reset_mail_content: String,
    /// `resetMailServer`.
    pub reset_mail_server: String,
    /// `resetMailSubject`.
    pub reset_mail_subject: String,
    /// Its units, root first then in file order; the tree is in each unit's `parent`.
    pub units: Vec<Unit>,
}

/// What an ApplicationKey adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationKey {
    /// `keyId`: the secret, or empty in a `universal="password"` export.
    pub key_id: String,
    /// `userNameReference`.
    pub user_name: String,
    /// `expirationDate` (epoch ms), when set.
    pub expiration_date: Option<i64>,
    /// `clientName`.
    pub client_name: String,
    /// `ipWhitelist`.
    pub ip_whitelist: String,
}

/// A localization token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    /// The token name.
    pub name: String,
    /// Its text in the table's language.
    pub value: String,
    /// `description`.
    pub description: String,
    /// `context`.
    pub context: String,
}

/// What a LocalizationTable adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalizationTable {
    /// Its tokens.
    pub tokens: Vec<Token>,
}

/// A vocabulary term.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Term {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
}

/// What a tag vocabulary adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vocabulary {
    /// `isDynamic`.
    pub is_dynamic: bool,
    /// `VocabularyTerm` children.
    pub terms: Vec<Term>,
}

/// The element form of an XML child kept in [`Extra`]:
/// `{"attributes": {name: text, …}, "text": "…", "children": [{"name": "…", …}, …]}`
/// (each key present only when non-empty; children carry their element `name`).
pub fn element_json(
    name: Option<&str>,
    attributes: Vec<(String, String)>,
    text: &str,
    children: Vec<Json>,
) -> Json {
    let mut object = Map::new();
    if let Some(name) = name {
        object.insert("name".into(), Json::String(name.to_owned()));
    }
    if !attributes.is_empty() {
        object.insert(
            "attributes".into(),
            Json::Object(
                attributes
                    .into_iter()
                    .map(|(k, v)| (k, Json::String(v)))
                    .collect(),
            ),
        );
    }
    if !text.is_empty() {
        object.insert("text".into(), Json::String(text.to_owned()));
    }
    if !children.is_empty() {
        object.insert("children".into(), Json::Array(children));
    }
    Json::Object(object)
}
