//! Writes the model as ThingWorx XML: the single-file export (layout A), one entity per file
//! (layout B) and the collection-permissions file (layout C).
//!
//! Output is deterministic: attributes are written in alphabetical order (as ThingWorx does),
//! collections in the order ThingWorx lists them, entities and list items in model order.
//!
//! What is written:
//! - everything the model holds; empty structural blocks (permission blocks, `avatar`,
//!   `ConfigurationTables`, the nested `ThingShape` lists, `ImplementedShapes`, …) are written
//!   as ThingWorx writes them, but elements the model has no field for (`PropertyBindings`,
//!   `ServiceMappings`, `ConfigurationTableDefinitions`, …) only when the entity's
//!   [`crate::model::Extra`] holds them;
//! - instance rules only where ThingWorx has them: all three blocks on ThingTemplates, run time
//!   only on ThingShapes; instance rules on other entities are not written;
//! - design-time and visibility rules are written without their resource (always `*`).
//!
//! Text: values of textual base types (and the text of kept elements) are written as CDATA:
//! `<![CDATA[value]]>` in layout A, padded with a newline and the element's indentation inside
//! the section and before every line in layout B (ThingWorx's own form); other values are plain
//! text. A `]]>` inside CDATA is split across two sections (in layout B two padded sections).
//! Layout B writes a text that starts or ends with whitespace as an unpadded CDATA section, as
//! the padding would make that whitespace ambiguous. Text holding a carriage return or
//! another control character cannot live in CDATA (XML normalises line ends) and is written as
//! escaped text with character references instead. Attributes escape `& < > "` and write
//! tab, newline and carriage return as character references so that they survive attribute
//! normalisation. Control characters other than those three are not representable in XML 1.0:
//! they are written as character references, which strict readers refuse.
//!
//! [`crate::model::Extra`] is written in the XML form of its neutral form ([`crate::extras`]):
//! scalars as attributes of the entity, lists and records as the elements ThingWorx writes, at
//! the end of the entity (parts of the nested `ThingShape` inside it). Layouts A and B never
//! write an extra whose name is not an XML name (that is an [`ImportError::Invalid`]).
//! Unlike ThingWorx's source-control files, layout B keeps `<Owner>` and the kept
//! `<ConfigurationChanges>`, so that a storage round trip loses nothing.
//!
//! Secrets ([`WriteOptions::blank_secrets`], on by default like ThingWorx): the root says
//! `universal="password"`, ApplicationKeys get `keyId=""`, Users carry no `passwordHash*`
//! attributes and configuration-table cells of columns named `password` are written empty.
//! Off: `universal=""`, keys and hashes are written (a User without a hash gets the empty
//! hash ThingWorx writes for users without a local password).

mod definitions;
mod entity;
mod kept;
mod markup;
mod parts;
mod permissions;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::io::Write;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionCategory, PermissionKind};
use serde_json::{Map, Value as Json};

use crate::error::ImportError;
use crate::extras;
use crate::model::{
    ApplicationKey, ConfigurationTable, DataShape, Definitions, Entity, EntityRule, Export,
    FieldDefinition, Group, Kind, LocalizationTable, Member, Organization, PropertyValue, Thing,
    ThingTemplate, User, Vocabulary,
};
use crate::values::{aspect_to_text, format_date, is_textual, to_text};
use definitions::*;
use entity::*;
use kept::*;
use markup::*;
use parts::*;
use permissions::*;

/// How secrets are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Blank secrets as ThingWorx does in `universal="password"` exports (default `true`).
    pub blank_secrets: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            blank_secrets: true,
        }
    }
}

/// Collection order inside `<Entities>` (layout A): the 8.4 skeleton with ThingGroups after
/// Menus as 9.3 writes it.
pub const ENTITIES_ORDER: &[Collection] = &[
    Collection::StyleDefinitions,
    Collection::Networks,
    Collection::PersistenceProviderPackages,
    Collection::Mashups,
    Collection::ScriptFunctionLibraries,
    Collection::Projects,
    Collection::Users,
    Collection::DirectoryServices,
    Collection::Widgets,
    Collection::MediaEntities,
    Collection::Groups,
    Collection::PersistenceProviders,
    Collection::NotificationContents,
    Collection::ModelTags,
    Collection::LocalizationTables,
    Collection::Dashboards,
    Collection::StyleThemes,
    Collection::DataAnalysisDefinitions,
    Collection::DataShapes,
    Collection::Things,
    Collection::Logs,
    Collection::Authenticators,
    Collection::ThingPackages,
    Collection::NotificationDefinitions,
    Collection::ApplicationKeys,
    Collection::StateDefinitions,
    Collection::ThingTemplates,
    Collection::ExtensionPackages,
    Collection::Organizations,
    Collection::Menus,
    Collection::ThingGroups,
    Collection::Resources,
    Collection::DataTags,
    Collection::ThingShapes,
    Collection::Subsystems,
];

/// Collection order inside `<Collections>` (layout C), ThingGroups last.
pub const COLLECTIONS_ORDER: &[Collection] = &[
    Collection::ModelTags,
    Collection::DataTags,
    Collection::Groups,
    Collection::Users,
    Collection::Organizations,
    Collection::Logs,
    Collection::DataShapes,
    Collection::ThingShapes,
    Collection::ThingPackages,
    Collection::ThingTemplates,
    Collection::DataAnalysisDefinitions,
    Collection::ApplicationKeys,
    Collection::Dashboards,
    Collection::LocalizationTables,
    Collection::StateDefinitions,
    Collection::StyleDefinitions,
    Collection::StyleThemes,
    Collection::Widgets,
    Collection::Mashups,
    Collection::Menus,
    Collection::MediaEntities,
    Collection::Projects,
    Collection::Networks,
    Collection::ExtensionPackages,
    Collection::Authenticators,
    Collection::PersistenceProviderPackages,
    Collection::PersistenceProviders,
    Collection::DirectoryServices,
    Collection::Resources,
    Collection::ScriptFunctionLibraries,
    Collection::Subsystems,
    Collection::Things,
    Collection::NotificationContents,
    Collection::NotificationDefinitions,
    Collection::ThingGroups,
];

/// `order` followed by any collection of [`Collection::ALL`] it does not name.
fn complete_order(order: &'static [Collection]) -> Vec<Collection> {
    let mut all = order.to_vec();
    all.extend(Collection::ALL.iter().filter(|c| !order.contains(c)));
    all
}

/// Writes a whole export as one layout-A file: every collection element, every entity with its
/// `Owner`, no collection-level rules.
pub fn write_single_file<W: Write>(
    export: &Export,
    options: &WriteOptions,
    out: W,
) -> Result<(), ImportError> {
    let mut x = Xml::new(out, false);
    x.raw(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>");
    x.start("Entities", header_attrs(&export.header, options));
    for collection in complete_order(ENTITIES_ORDER) {
        x.start(collection.as_str(), Attrs::new());
        for entity in export
            .entities
            .iter()
            .filter(|e| e.collection == collection)
        {
            write_entity(&mut x, entity, Layout::File, options)?;
            x.flush_if_full()?;
        }
        x.end(collection.as_str());
    }
    x.end("Entities");
    x.finish()
}

/// Writes one entity as a layout-B file: an `<Entities>` root with `header`, its collection
/// element and the entity, pretty printed (with `Owner` and kept extras, so nothing is lost).
pub fn write_entity_file<W: Write>(
    header: &[(String, String)],
    entity: &Entity,
    options: &WriteOptions,
    out: W,
) -> Result<(), ImportError> {
    let mut x = Xml::new(out, true);
    x.raw(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.start("Entities", header_attrs(header, options));
    x.start(entity.collection.as_str(), Attrs::new());
    write_entity(&mut x, entity, Layout::Storage, options)?;
    x.end(entity.collection.as_str());
    x.end("Entities");
    x.raw(b"\n");
    x.finish()
}

/// Writes an `<Entities>` root holding every collection element and no entity (the
/// `sysobj/Entities.xml` skeleton of a storage tree).
pub fn write_skeleton<W: Write>(
    header: &[(String, String)],
    options: &WriteOptions,
    out: W,
) -> Result<(), ImportError> {
    let mut x = Xml::new(out, false);
    x.raw(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>");
    x.start("Entities", header_attrs(header, options));
    for collection in complete_order(ENTITIES_ORDER) {
        x.start(collection.as_str(), Attrs::new());
        x.end(collection.as_str());
    }
    x.end("Entities");
    x.finish()
}

/// Writes the layout-C collection-permissions file: every collection with its collection
/// rules, and an `<Entity>` record for every entity of the export that has rules, followed by
/// the [`Export::listed_rules`] of entities that are not part of the export.
pub fn write_permissions_file<W: Write>(export: &Export, out: W) -> Result<(), ImportError> {
    let mut x = Xml::new(out, true);
    x.raw(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.start("Collections", Attrs::new());
    for collection in complete_order(COLLECTIONS_ORDER) {
        x.start(collection.as_str(), Attrs::new());
        let rules: Vec<&Rule> = export
            .collection_rules
            .iter()
            .filter(|r| r.collection == collection)
            .map(|r| &r.rule)
            .collect();
        visibility_block(&mut x, "VisibilityPermissions", &rules);
        design_time_block(&mut x, "DesignTimePermissions", &rules);
        run_time_block(&mut x, "RunTimePermissions", &rules);
        x.start("Entities", Attrs::new());
        let element = collection.element_name();
        for entity in export
            .entities
            .iter()
            .filter(|e| e.collection == collection && !e.rules.is_empty())
        {
            listed_entity(&mut x, collection, element, &entity.name, &entity.rules);
        }
        for listed in export.listed_rules.iter().filter(|l| {
            l.collection == collection
                && !export
                    .entities
                    .iter()
                    .any(|e| e.collection == collection && e.name == l.name)
        }) {
            listed_entity(&mut x, collection, element, &listed.name, &listed.rules);
        }
        x.end("Entities");
        x.end(collection.as_str());
        x.flush_if_full()?;
    }
    x.end("Collections");
    x.raw(b"\n");
    x.finish()
}

fn listed_entity<W: Write>(
    x: &mut Xml<W>,
    collection: Collection,
    element: &str,
    name: &str,
    rules: &[EntityRule],
) {
    let mut attrs = Attrs::new();
    attrs.s("name", name).s("type", element);
    x.start("Entity", attrs);
    let own: Vec<&Rule> = rules
        .iter()
        .filter(|r| !r.instance)
        .map(|r| &r.rule)
        .collect();
    visibility_block(x, "VisibilityPermissions", &own);
    design_time_block(x, "DesignTimePermissions", &own);
    run_time_block(x, "RunTimePermissions", &own);
    let instance: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| &r.rule)
        .collect();
    match collection {
        Collection::ThingTemplates => {
            visibility_block(x, "VisibilityInstancePermissions", &instance);
            design_time_block(x, "DesignTimeInstancePermissions", &instance);
            run_time_block(x, "RunTimeInstancePermissions", &instance);
        }
        Collection::ThingShapes => run_time_block(x, "RunTimeInstancePermissions", &instance),
        _ => {}
    }
    x.end("Entity");
}

/// The root attributes: the header with `universal` set by the options, alphabetical.
fn header_attrs<'a>(header: &'a [(String, String)], options: &WriteOptions) -> Attrs<'a> {
    let mut attrs = Attrs::new();
    attrs.s(
        "universal",
        if options.blank_secrets {
            "password"
        } else {
            ""
        },
    );
    for (name, value) in header {
        if !name.is_empty() && name != "universal" {
            attrs.push(Cow::Borrowed(name), Cow::Borrowed(value));
        }
    }
    attrs
}
