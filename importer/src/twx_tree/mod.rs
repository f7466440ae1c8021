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

mod java_order;
mod kept;
mod profile;
mod read;
#[cfg(test)]
mod tests;
mod write;

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

use java_order::*;
use kept::*;
use profile::*;
use write::*;

pub use read::export_from_tree;
pub use write::tree_from_export;

/// How [`tree_from_export`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeOptions {
    /// Write secrets blanked, as ThingWorx's `universal="password"` exports do: header
    /// `universal: "password"`, empty ApplicationKey `keyId`, no password hashes.
    pub blank_secrets: bool,
}
