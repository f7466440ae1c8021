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
//!   `ServiceMappings`, `ConfigurationTableDefinitions`, …) only when [`Extra`] holds them;
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
//! [`Extra`] is written in the XML form of its neutral form ([`crate::extras`]): scalars as
//! attributes of the entity, lists and records as the elements ThingWorx writes, at the end of
//! the entity (parts of the nested `ThingShape` inside it). Layouts A and B never write an extra
//! whose name is not an XML name (that is an [`ImportError::Invalid`]).
//! Unlike ThingWorx's source-control files, layout B keeps `<Owner>` and the kept
//! `<ConfigurationChanges>`, so that a storage round trip loses nothing.
//!
//! Secrets ([`WriteOptions::blank_secrets`], on by default like ThingWorx): the root says
//! `universal="password"`, ApplicationKeys get `keyId=""`, Users carry no `passwordHash*`
//! attributes and configuration-table cells of columns named `password` are written empty.
//! Off: `universal=""`, keys and hashes are written (a User without a hash gets the empty
//! hash ThingWorx writes for users without a local password).

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Layout A: one compact file.
    File,
    /// Layout B: one pretty-printed file per entity.
    Storage,
}

/// How a text is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextMode {
    /// Escaped text.
    Plain,
    /// CDATA (padded in layout B).
    Cdata,
}

/// Attributes of one element; sorted and deduplicated (first wins) when written.
struct Attrs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Attrs<'a> {
    fn new() -> Self {
        Attrs(Vec::new())
    }

    fn push(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) -> &mut Self {
        self.0.push((name, value));
        self
    }

    fn s(&mut self, name: &'static str, value: &'a str) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Borrowed(value))
    }

    fn b(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.s(name, if value { "true" } else { "false" })
    }

    fn i(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Owned(value.to_string()))
    }

    fn date(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Owned(format_date(value)))
    }

    fn aspects(&mut self, aspects: &Map<String, Json>) -> &mut Self {
        for (name, value) in aspects {
            self.push(
                Cow::Owned(format!("aspect.{name}")),
                Cow::Owned(aspect_to_text(value)),
            );
        }
        self
    }
}

const SPACES: &[u8] = &[b' '; 256];
const FLUSH_AT: usize = 1 << 16;

/// A buffered XML writer, compact (layout A) or pretty (layouts B and C).
struct Xml<W: Write> {
    out: W,
    buf: Vec<u8>,
    pretty: bool,
    /// One entry per open element: whether it has child elements.
    stack: Vec<bool>,
    /// Compact layout: the last start tag still lacks its `>`.
    pending: bool,
}

impl<W: Write> Xml<W> {
    fn new(out: W, pretty: bool) -> Self {
        Xml {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            pretty,
            stack: Vec::with_capacity(32),
            pending: false,
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn indent(&mut self, depth: usize) {
        let mut n = depth * 4;
        while n > 0 {
            let step = n.min(SPACES.len());
            self.buf.extend_from_slice(&SPACES[..step]);
            n -= step;
        }
    }

    fn close_pending(&mut self) {
        if self.pending {
            self.buf.push(b'>');
            self.pending = false;
        }
    }

    fn start(&mut self, name: &str, mut attrs: Attrs<'_>) {
        self.close_pending();
        let depth = self.stack.len();
        if let Some(top) = self.stack.last_mut() {
            *top = true;
            if self.pretty {
                self.buf.push(b'\n');
                self.indent(depth);
            }
        }
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        if attrs.0.len() > 1 {
            attrs.0.sort_by(|a, b| a.0.cmp(&b.0));
            attrs.0.dedup_by(|a, b| a.0 == b.0);
        }
        for (key, value) in &attrs.0 {
            if self.pretty {
                self.buf.push(b'\n');
                self.indent(depth);
            }
            self.buf.push(b' ');
            self.buf.extend_from_slice(key.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            escape_attr(&mut self.buf, value);
            self.buf.push(b'"');
        }
        if self.pretty {
            self.buf.push(b'>');
        } else {
            self.pending = true;
        }
        self.stack.push(false);
    }

    fn end(&mut self, name: &str) {
        let had_children = self.stack.pop().unwrap_or(false);
        if self.pending {
            self.buf.extend_from_slice(b"/>");
            self.pending = false;
            return;
        }
        if self.pretty && had_children {
            self.buf.push(b'\n');
            let depth = self.stack.len();
            self.indent(depth);
        }
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'>');
    }

    /// An element without children.
    fn leaf(&mut self, name: &str, attrs: Attrs<'_>) {
        self.start(name, attrs);
        self.end(name);
    }

    /// The text of the element just opened.
    fn text(&mut self, text: &str, mode: TextMode) {
        if text.is_empty() {
            return;
        }
        self.close_pending();
        if mode == TextMode::Plain || !cdata_safe(text) {
            escape_text(&mut self.buf, text);
            return;
        }
        if !self.pretty {
            self.buf.extend_from_slice(b"<![CDATA[");
            cdata_body(&mut self.buf, text);
            self.buf.extend_from_slice(b"]]>");
            return;
        }
        let padded = !text.starts_with([' ', '\t', '\n']) && !text.ends_with([' ', '\t', '\n']);
        if !padded {
            self.buf.extend_from_slice(b"<![CDATA[");
            cdata_body(&mut self.buf, text);
            self.buf.extend_from_slice(b"]]>");
            return;
        }
        let depth = self.stack.len().saturating_sub(1);
        let mut rest = text;
        loop {
            // A `]]>` ends one padded section after its `]]` and starts the next one.
            let (segment, next) = match rest.find("]]>") {
                Some(at) => (&rest[..at + 2], Some(&rest[at + 2..])),
                None => (rest, None),
            };
            self.buf.push(b'\n');
            self.indent(depth);
            self.buf.extend_from_slice(b"<![CDATA[\n");
            self.indent(depth);
            for (i, line) in segment.split('\n').enumerate() {
                if i > 0 {
                    self.buf.push(b'\n');
                    self.indent(depth);
                }
                self.buf.extend_from_slice(line.as_bytes());
            }
            self.buf.push(b'\n');
            self.indent(depth);
            self.buf.extend_from_slice(b"]]>");
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
        self.buf.push(b'\n');
        self.indent(depth);
    }

    /// `<name>text</name>`.
    fn text_leaf(&mut self, name: &str, attrs: Attrs<'_>, text: &str, mode: TextMode) {
        self.start(name, attrs);
        self.text(text, mode);
        self.end(name);
    }

    fn flush_if_full(&mut self) -> Result<(), ImportError> {
        if self.buf.len() >= FLUSH_AT {
            self.out
                .write_all(&self.buf)
                .map_err(|e| ImportError::io("<output>", e))?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), ImportError> {
        self.out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush())
            .map_err(|e| ImportError::io("<output>", e))
    }
}

/// Whether a text may be written as CDATA: no carriage return, no other control character.
fn cdata_safe(text: &str) -> bool {
    !text.bytes().any(|b| b < 0x20 && b != b'\n' && b != b'\t')
}

fn cdata_body(buf: &mut Vec<u8>, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find("]]>") {
        buf.extend_from_slice(&rest.as_bytes()[..at + 2]);
        buf.extend_from_slice(b"]]><![CDATA[");
        rest = &rest[at + 2..];
    }
    buf.extend_from_slice(rest.as_bytes());
}

fn escape_text(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, false);
}

fn escape_attr(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, true);
}

fn escape(buf: &mut Vec<u8>, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: Option<&[u8]> = match b {
            b'&' => Some(b"&amp;"),
            b'<' => Some(b"&lt;"),
            b'>' => Some(b"&gt;"),
            b'"' if attribute => Some(b"&quot;"),
            b'\n' if attribute => Some(b"&#10;"),
            b'\t' if attribute => Some(b"&#9;"),
            b'\r' => Some(b"&#13;"),
            b'\n' | b'\t' => None,
            0..=0x1f => None,
            _ => continue,
        };
        buf.extend_from_slice(&bytes[from..i]);
        match replacement {
            Some(r) => buf.extend_from_slice(r),
            None if b == b'\n' || b == b'\t' => buf.push(b),
            None => buf.extend_from_slice(format!("&#{b};").as_bytes()),
        }
        from = i + 1;
    }
    buf.extend_from_slice(&bytes[from..]);
}

/// Whether `name` is an XML name (and so may name an element or attribute).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn invalid(entity: &Entity, message: String) -> ImportError {
    ImportError::Invalid {
        origin: entity.origin.clone(),
        entity: entity.path(),
        message,
    }
}

fn check_name(entity: &Entity, name: &str, what: &str) -> Result<(), ImportError> {
    if is_xml_name(name) {
        Ok(())
    } else {
        Err(invalid(
            entity,
            format!("the {what} '{name}' is not an XML name and cannot be written as an element"),
        ))
    }
}

// ----- permission blocks -----

fn principal<W: Write>(x: &mut Xml<W>, rule: &Rule) {
    let mut attrs = Attrs::new();
    attrs
        .b("isPermitted", rule.allow)
        .s("name", &rule.principal_name)
        .s("type", rule.principal_type.as_str());
    x.leaf("Principal", attrs);
}

fn kind_cell<W: Write>(
    x: &mut Xml<W>,
    kind: PermissionKind,
    rules: &[&Rule],
    resource: Option<&str>,
) {
    x.start(kind.as_str(), Attrs::new());
    for rule in rules
        .iter()
        .filter(|r| r.kind == kind && resource.is_none_or(|res| r.resource == res))
    {
        principal(x, rule);
    }
    x.end(kind.as_str());
}

fn design_time_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    for kind in PermissionKind::DESIGN_TIME {
        kind_cell(x, kind, rules, None);
    }
    x.end(name);
}

fn run_time_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    let mut resources: Vec<&str> = Vec::new();
    for rule in rules {
        if rule.kind.category() == PermissionCategory::RunTime
            && !resources.contains(&rule.resource.as_str())
        {
            resources.push(&rule.resource);
        }
    }
    for resource in resources {
        let mut attrs = Attrs::new();
        attrs.s("resourceName", resource);
        x.start("Permissions", attrs);
        for kind in PermissionKind::RUN_TIME {
            kind_cell(x, kind, rules, Some(resource));
        }
        x.end("Permissions");
    }
    x.end(name);
}

fn visibility_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    kind_cell(x, PermissionKind::Visibility, rules, None);
    x.end(name);
}

// ----- entities -----

fn write_entity<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    _layout: Layout,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let c = &e.common;
    let mut attrs = Attrs::new();
    attrs
        .s("name", &e.name)
        .s("description", &c.description)
        .s("documentationContent", &c.documentation_content)
        .s("homeMashup", &c.home_mashup)
        .s("projectName", &c.project_name)
        .s("tags", &c.tags);
    if let Some(date) = c.last_modified_date {
        attrs.date("lastModifiedDate", date);
    }
    kind_attrs(&mut attrs, &e.kind, options);
    attrs.aspects(&c.aspects);
    let mut kept = Vec::new();
    for (key, value) in &e.extra {
        match extras::to_xml(key, value) {
            extras::Xml::Attribute(text) => {
                check_name(e, key, "kept attribute")?;
                attrs.push(Cow::Borrowed(key.as_str()), Cow::Owned(text));
            }
            extras::Xml::Elements(elements) => kept.extend(elements),
            extras::Xml::None => {}
        }
    }
    let element = e.collection.element_name();
    x.start(element, attrs);

    if let Kind::ThingShape(shape) = &e.kind {
        definition_lists(x, e, &shape.definitions, options)?;
    }
    // Storage files carry the owner too (ThingWorx's source-control files leave it out, which
    // would lose it): the owner has every right on its entity.
    if let Some((kind, name)) = &c.owner {
        let mut attrs = Attrs::new();
        attrs.s("name", name).s("type", kind);
        x.leaf("Owner", attrs);
    }

    x.text_leaf("avatar", Attrs::new(), &c.avatar, TextMode::Plain);
    let own: Vec<&Rule> = e
        .rules
        .iter()
        .filter(|r| !r.instance)
        .map(|r| &r.rule)
        .collect();
    design_time_block(x, "DesignTimePermissions", &own);
    run_time_block(x, "RunTimePermissions", &own);
    visibility_block(x, "VisibilityPermissions", &own);

    x.start("ConfigurationTables", Attrs::new());
    if let Kind::User(user) = &e.kind {
        user_tables(x, user);
        for table in e
            .configuration_tables
            .iter()
            .filter(|t| t.name != "UserExtensions" && t.name != "Settings")
        {
            configuration_table(x, e, table, options)?;
        }
    } else {
        for table in &e.configuration_tables {
            configuration_table(x, e, table, options)?;
        }
    }
    x.end("ConfigurationTables");

    let instance: Vec<&Rule> = e
        .rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| &r.rule)
        .collect();
    match &e.kind {
        Kind::Plain | Kind::User(_) => {}
        Kind::Thing(thing) => thing_parts(x, e, thing, options)?,
        Kind::ThingTemplate(template) => {
            template_parts(x, e, template, options)?;
            design_time_block(x, "InstanceDesignTimePermissions", &instance);
            run_time_block(x, "InstanceRunTimePermissions", &instance);
            visibility_block(x, "InstanceVisibilityPermissions", &instance);
        }
        Kind::ThingShape(_) => run_time_block(x, "InstanceRunTimePermissions", &instance),
        Kind::DataShape(shape) => data_shape_parts(x, shape),
        Kind::Group(group) => members(x, &group.members),
        Kind::Organization(org) => organization_parts(x, org),
        Kind::ApplicationKey(_) => {}
        Kind::LocalizationTable(table) => tokens(x, table),
        Kind::Vocabulary(vocabulary) => terms(x, vocabulary),
    }

    for kept in &kept {
        kept_element(x, e, kept)?;
    }
    x.end(element);
    Ok(())
}

fn kind_attrs<'a>(attrs: &mut Attrs<'a>, kind: &'a Kind, options: &WriteOptions) {
    match kind {
        Kind::Plain | Kind::LocalizationTable(_) => {}
        Kind::Thing(t) => {
            attrs
                .s("thingTemplate", &t.thing_template)
                .b("enabled", t.enabled)
                .b("published", t.published)
                .s("identifier", &t.identifier)
                .s("valueStream", &t.value_stream)
                .s("inheritedValueStream", &t.inherited_value_stream)
                .s("effectiveThingPackage", &t.effective_thing_package);
            // ThingWorx writes a Thing's own package only when it has one.
            if !t.thing_package.is_empty() {
                attrs.s("thingPackage", &t.thing_package);
            }
        }
        Kind::ThingTemplate(t) => {
            attrs
                .s("baseThingTemplate", &t.base_thing_template)
                .s("thingPackage", &t.thing_package)
                .s("effectiveThingPackage", &t.effective_thing_package)
                .s("valueStream", &t.value_stream);
        }
        Kind::ThingShape(shape) => {
            attrs.s("className", &shape.class_name);
        }
        Kind::DataShape(d) => {
            attrs.s("baseDataShape", &d.base_data_shape);
        }
        Kind::User(u) => {
            attrs
                .b("enabled", u.enabled)
                .b("locked", u.locked)
                .s("mobileMashup", &u.mobile_mashup)
                .s("scimId", &u.scim_id)
                .s("scimExternalId", &u.scim_external_id);
            if !options.blank_secrets {
                match &u.password {
                    Some(p) => {
                        attrs
                            .s("passwordHash", &p.hash)
                            .s("passwordHashAlgorithm", &p.algorithm)
                            .i("passwordHashIterationCount", p.iterations.into())
                            .i("passwordHashSaltSizeInBytes", p.salt_bytes.into())
                            .i("passwordHashSizeInBytes", p.hash_bytes.into());
                    }
                    None => {
                        attrs
                            .s("passwordHash", "")
                            .s("passwordHashAlgorithm", "")
                            .s("passwordHashIterationCount", "0")
                            .s("passwordHashSaltSizeInBytes", "0")
                            .s("passwordHashSizeInBytes", "0");
                    }
                }
            }
        }
        Kind::Group(Group {
            scim_display_name,
            scim_id,
            scim_external_id,
            ..
        }) => {
            attrs
                .s("scimDisplayName", scim_display_name)
                .s("scimId", scim_id)
                .s("scimExternalId", scim_external_id);
        }
        Kind::Organization(o) => {
            attrs
                .s("loginPrompt", &o.login_prompt)
                .s("loginStyle", &o.login_style)
                .s("loginButtonStyle", &o.login_button_style)
                .b("loginResetPassword", o.login_reset_password)
                .s("mobileMashup", &o.mobile_mashup)
                .s("resetMailContent", &o.reset_mail_content)
                .s("resetMailServer", &o.reset_mail_server)
                .s("resetMailSubject", &o.reset_mail_subject);
        }
        Kind::ApplicationKey(ApplicationKey {
            key_id,
            user_name,
            expiration_date,
            client_name,
            ip_whitelist,
        }) => {
            attrs
                .s("keyId", if options.blank_secrets { "" } else { key_id })
                .s("userNameReference", user_name)
                .s("clientName", client_name)
                .s("ipWhitelist", ip_whitelist);
            if let Some(date) = expiration_date {
                attrs.date("expirationDate", *date);
            }
        }
        Kind::Vocabulary(v) => {
            attrs.b("isDynamic", v.is_dynamic);
        }
    }
}

fn field_definition<W: Write>(x: &mut Xml<W>, element: &str, f: &FieldDefinition) {
    let mut attrs = Attrs::new();
    attrs
        .s("name", &f.name)
        .s("baseType", &f.base_type)
        .s("description", &f.description)
        .i("ordinal", f.ordinal.into())
        .aspects(&f.aspects);
    x.leaf(element, attrs);
}

fn field_definitions<W: Write>(x: &mut Xml<W>, fields: &[FieldDefinition]) {
    x.start("FieldDefinitions", Attrs::new());
    for field in fields {
        field_definition(x, "FieldDefinition", field);
    }
    x.end("FieldDefinitions");
}

fn definition_lists<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    d: &Definitions,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    x.start("PropertyDefinitions", Attrs::new());
    for p in &d.properties {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &p.name)
            .s("baseType", &p.base_type)
            .s("description", &p.description)
            .s("category", &p.category)
            .i("ordinal", p.ordinal.into())
            .b("isLocalOnly", p.is_local_only)
            .aspects(&p.aspects);
        x.leaf("PropertyDefinition", attrs);
    }
    x.end("PropertyDefinitions");

    x.start("ServiceDefinitions", Attrs::new());
    for s in &d.services {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &s.name)
            .s("description", &s.description)
            .s("category", &s.category)
            .b("isAllowOverride", s.is_allow_override)
            .b("isLocalOnly", s.is_local_only)
            .b("isOpen", s.is_open)
            .b("isPrivate", s.is_private)
            .aspects(&s.aspects);
        x.start("ServiceDefinition", attrs);
        if let Some(result) = &s.result_type {
            field_definition(x, "ResultType", result);
        }
        x.start("ParameterDefinitions", Attrs::new());
        for p in &s.parameters {
            field_definition(x, "FieldDefinition", p);
        }
        x.end("ParameterDefinitions");
        x.end("ServiceDefinition");
    }
    x.end("ServiceDefinitions");

    x.start("EventDefinitions", Attrs::new());
    for ev in &d.events {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &ev.name)
            .s("description", &ev.description)
            .s("category", &ev.category)
            .s("dataShape", &ev.data_shape)
            .b("isLocalOnly", ev.is_local_only)
            .aspects(&ev.aspects);
        x.leaf("EventDefinition", attrs);
    }
    x.end("EventDefinitions");

    x.start("ServiceImplementations", Attrs::new());
    for imp in &d.implementations {
        service_implementation(
            x,
            e,
            &imp.name,
            &imp.description,
            &imp.handler_name,
            &imp.configuration,
            options,
        )?;
    }
    x.end("ServiceImplementations");

    x.start("Subscriptions", Attrs::new());
    for s in &d.subscriptions {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &s.name)
            .s("description", &s.description)
            .b("enabled", s.enabled)
            .s("eventName", &s.event_name)
            .s("source", &s.source)
            .s("sourceProperty", &s.source_property)
            .s("sourceType", &s.source_type);
        x.start("Subscription", attrs);
        service_implementation(
            x,
            e,
            &s.name,
            "",
            &s.handler_name,
            &s.configuration,
            options,
        )?;
        x.end("Subscription");
    }
    x.end("Subscriptions");
    Ok(())
}

fn service_implementation<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    name: &str,
    description: &str,
    handler: &str,
    tables: &[ConfigurationTable],
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let mut attrs = Attrs::new();
    attrs
        .s("name", name)
        .s("description", description)
        .s("handlerName", handler);
    x.start("ServiceImplementation", attrs);
    x.start("ConfigurationTables", Attrs::new());
    for table in tables {
        configuration_table(x, e, table, options)?;
    }
    x.end("ConfigurationTables");
    x.end("ServiceImplementation");
    Ok(())
}

fn configuration_table<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &ConfigurationTable,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let mut attrs = Attrs::new();
    attrs
        .s("name", &t.name)
        .s("description", &t.description)
        .b("isMultiRow", t.is_multi_row)
        .i("ordinal", t.ordinal.into())
        .s("dataShapeName", &t.data_shape_name);
    if t.is_hidden {
        attrs.b("isHidden", true);
    }
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    field_definitions(x, &t.fields);
    x.end("DataShape");
    rows(x, e, &t.fields, &t.rows, options.blank_secrets)?;
    x.end("ConfigurationTable");
    Ok(())
}

/// `<Rows>`: one `<Row>` per row, one element per cell, fields first in field order, then the
/// cells no field describes.
fn rows<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    fields: &[FieldDefinition],
    rows: &[Map<String, Json>],
    blank_passwords: bool,
) -> Result<(), ImportError> {
    x.start("Rows", Attrs::new());
    for row in rows {
        x.start("Row", Attrs::new());
        for field in fields {
            if let Some(value) = row.get(&field.name) {
                check_name(e, &field.name, "field")?;
                if blank_passwords && field.name == "password" {
                    x.leaf(&field.name, Attrs::new());
                } else {
                    typed_value(x, e, &field.name, &field.base_type, value)?;
                }
            }
        }
        for (name, value) in row {
            if !fields.iter().any(|f| &f.name == name) {
                check_name(e, name, "field")?;
                if blank_passwords && name == "password" {
                    x.leaf(name, Attrs::new());
                } else if matches!(value, Json::Object(o) if !is_info_table(o)) || value.is_array()
                {
                    // A JSON cell of a column the table does not declare, wrapped in `<json>`
                    // as ThingWorx writes them (DataTable settings' `accumulatedDataShape`).
                    x.start(name, Attrs::new());
                    x.text_leaf("json", Attrs::new(), &value.to_string(), TextMode::Cdata);
                    x.end(name);
                } else {
                    typed_value(x, e, name, "", value)?;
                }
            }
        }
        x.end("Row");
    }
    x.end("Rows");
    Ok(())
}

/// `<name>value</name>` for a value of `base_type` (empty when unknown): textual values as
/// CDATA, InfoTables as a nested `<infoTable>`, the rest as plain text.
fn typed_value<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    name: &str,
    base_type: &str,
    value: &Json,
) -> Result<(), ImportError> {
    x.start(name, Attrs::new());
    match value {
        Json::Object(table)
            if (base_type == "INFOTABLE" || base_type.is_empty()) && is_info_table(table) =>
        {
            info_table(x, e, table)?;
        }
        Json::String(s) => {
            let mode = if matches!(base_type, "IMAGE" | "BLOB") {
                TextMode::Plain
            } else {
                TextMode::Cdata
            };
            x.text(s, mode);
        }
        other => {
            let text = to_text(base_type, other);
            let mode = if is_textual(base_type) || matches!(other, Json::Object(_) | Json::Array(_))
            {
                TextMode::Cdata
            } else {
                TextMode::Plain
            };
            x.text(&text, mode);
        }
    }
    x.end(name);
    Ok(())
}

fn is_info_table(table: &Map<String, Json>) -> bool {
    table.keys().all(|k| k == "dataShape" || k == "rows")
        && table.get("rows").is_none_or(Json::is_array)
        && table.get("dataShape").is_none_or(Json::is_object)
}

/// An InfoTable value `{"dataShape":{"fieldDefinitions":{…}},"rows":[…]}` as `<infoTable>`.
fn info_table<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    table: &Map<String, Json>,
) -> Result<(), ImportError> {
    let fields: Vec<FieldDefinition> = table
        .get("dataShape")
        .and_then(|d| d.get("fieldDefinitions"))
        .and_then(Json::as_object)
        .map(|defs| {
            defs.iter()
                .map(|(key, def)| {
                    let text = |k: &str| def.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
                    FieldDefinition {
                        name: def
                            .get("name")
                            .and_then(Json::as_str)
                            .unwrap_or(key)
                            .to_owned(),
                        base_type: text("baseType"),
                        description: text("description"),
                        ordinal: def
                            .get("ordinal")
                            .and_then(Json::as_i64)
                            .and_then(|n| i32::try_from(n).ok())
                            .unwrap_or(0),
                        aspects: def
                            .get("aspects")
                            .and_then(Json::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let row_maps: Vec<Map<String, Json>> = table
        .get("rows")
        .and_then(Json::as_array)
        .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    x.start("infoTable", Attrs::new());
    x.start("DataShape", Attrs::new());
    field_definitions(x, &fields);
    x.end("DataShape");
    rows(x, e, &fields, &row_maps, false)?;
    x.end("infoTable");
    Ok(())
}

fn implemented_shapes<W: Write>(x: &mut Xml<W>, shapes: &[String]) {
    x.start("ImplementedShapes", Attrs::new());
    for shape in shapes {
        let mut attrs = Attrs::new();
        attrs.s("name", shape).s("type", "ThingShape");
        x.leaf("ImplementedShape", attrs);
    }
    x.end("ImplementedShapes");
}

fn nested_shape<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    d: &Definitions,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    x.start("ThingShape", Attrs::new());
    definition_lists(x, e, d, options)?;
    for (key, value) in &e.extra {
        let Some(part) = key.strip_prefix(extras::NESTED_SHAPE) else {
            continue;
        };
        if let extras::Xml::Elements(elements) = extras::to_xml(part, value) {
            for kept in &elements {
                kept_element(x, e, kept)?;
            }
        }
    }
    x.end("ThingShape");
    Ok(())
}

fn thing_parts<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &Thing,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    nested_shape(x, e, &t.definitions, options)?;
    implemented_shapes(x, &t.implemented_shapes);
    x.start("ThingProperties", Attrs::new());
    for v in &t.values {
        property_value(x, e, v)?;
    }
    x.end("ThingProperties");
    Ok(())
}

fn property_value<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    v: &PropertyValue,
) -> Result<(), ImportError> {
    check_name(e, &v.name, "property")?;
    x.start(&v.name, Attrs::new());
    typed_value(x, e, "Value", &v.base_type, &v.value)?;
    x.text_leaf(
        "Timestamp",
        Attrs::new(),
        &format_date(v.time),
        TextMode::Plain,
    );
    x.text_leaf("Quality", Attrs::new(), &v.quality, TextMode::Plain);
    x.end(&v.name);
    Ok(())
}

fn template_parts<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &ThingTemplate,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    nested_shape(x, e, &t.definitions, options)?;
    implemented_shapes(x, &t.implemented_shapes);
    x.start("SharedConfigurationTables", Attrs::new());
    for table in &t.shared_configuration_tables {
        configuration_table(x, e, table, options)?;
    }
    x.end("SharedConfigurationTables");
    Ok(())
}

fn data_shape_parts<W: Write>(x: &mut Xml<W>, d: &DataShape) {
    field_definitions(x, &d.fields);
}

/// The doubled `<Members><Members>` wrapper of groups and units.
fn members<W: Write>(x: &mut Xml<W>, members: &[Member]) {
    x.start("Members", Attrs::new());
    x.start("Members", Attrs::new());
    for m in members {
        let mut attrs = Attrs::new();
        attrs.s("name", &m.name).s("type", m.member_type.as_str());
        x.leaf("Member", attrs);
    }
    x.end("Members");
    x.end("Members");
}

fn user_tables<W: Write>(x: &mut Xml<W>, u: &User) {
    let field = |name: &'static str, base: &'static str, description: &'static str, ordinal| {
        let mut attrs = Attrs::new();
        attrs
            .s("name", name)
            .s("baseType", base)
            .s("description", description)
            .i("ordinal", ordinal);
        attrs
    };
    let mut attrs = Attrs::new();
    attrs
        .s("name", "UserExtensions")
        .s("description", "UserExtensions")
        .b("isMultiRow", true)
        .i("ordinal", 1);
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    x.start("FieldDefinitions", Attrs::new());
    x.leaf(
        "FieldDefinition",
        field("lastUpdateTime", "DATETIME", "Last update time", 3),
    );
    let mut name_field = field("name", "STRING", "Name", 1);
    name_field.s("aspect.isPrimaryKey", "true");
    x.leaf("FieldDefinition", name_field);
    x.leaf("FieldDefinition", field("value", "STRING", "Value", 2));
    x.end("FieldDefinitions");
    x.end("DataShape");
    x.start("Rows", Attrs::new());
    for ext in &u.extensions {
        x.start("Row", Attrs::new());
        x.text_leaf(
            "lastUpdateTime",
            Attrs::new(),
            &format_date(ext.last_update_time),
            TextMode::Plain,
        );
        x.text_leaf("name", Attrs::new(), &ext.name, TextMode::Cdata);
        x.text_leaf("value", Attrs::new(), &ext.value, TextMode::Cdata);
        x.end("Row");
    }
    x.end("Rows");
    x.end("ConfigurationTable");

    let mut attrs = Attrs::new();
    attrs
        .s("name", "Settings")
        .s("description", "Settings")
        .b("isMultiRow", false)
        .i("ordinal", 2);
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    x.start("FieldDefinitions", Attrs::new());
    let mut language = field("language", "STRING", "Primary language", 0);
    language
        .s("aspect.defaultValue", "")
        .s("aspect.isPrimaryKey", "true");
    x.leaf("FieldDefinition", language);
    x.end("FieldDefinitions");
    x.end("DataShape");
    x.start("Rows", Attrs::new());
    x.start("Row", Attrs::new());
    x.text_leaf(
        "language",
        Attrs::new(),
        &u.language_preferences,
        TextMode::Cdata,
    );
    x.end("Row");
    x.end("Rows");
    x.end("ConfigurationTable");
}

fn organization_parts<W: Write>(x: &mut Xml<W>, o: &Organization) {
    x.text_leaf("loginImage", Attrs::new(), &o.login_image, TextMode::Plain);
    x.start("Connections", Attrs::new());
    for unit in &o.units {
        let mut attrs = Attrs::new();
        attrs
            .s("from", unit.parent.as_deref().unwrap_or(""))
            .s("to", &unit.name);
        x.leaf("Connection", attrs);
    }
    x.end("Connections");
    let mut units: Vec<_> = o.units.iter().collect();
    units.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.name.cmp(&b.name))
    });
    x.start("OrganizationalUnits", Attrs::new());
    for unit in units {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &unit.name)
            .s("description", &unit.description);
        x.start("OrganizationalUnit", attrs);
        members(x, &unit.members);
        x.end("OrganizationalUnit");
    }
    x.end("OrganizationalUnits");
}

fn tokens<W: Write>(x: &mut Xml<W>, table: &LocalizationTable) {
    x.start("Tokens", Attrs::new());
    for t in &table.tokens {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &t.name)
            .s("value", &t.value)
            .s("description", &t.description)
            .s("context", &t.context);
        x.leaf("Token", attrs);
    }
    x.end("Tokens");
}

fn terms<W: Write>(x: &mut Xml<W>, v: &Vocabulary) {
    for term in &v.terms {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &term.name)
            .s("description", &term.description);
        x.leaf("VocabularyTerm", attrs);
    }
}

// ----- kept elements -----

/// An element of the XML form of a kept extra ([`extras::to_xml`]).
fn kept_element<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    element: &extras::Element,
) -> Result<(), ImportError> {
    check_name(e, &element.name, "kept element")?;
    let mut attrs = Attrs::new();
    for (key, value) in &element.attributes {
        check_name(e, key, "kept attribute")?;
        attrs.push(Cow::Borrowed(key.as_str()), Cow::Borrowed(value.as_str()));
    }
    x.start(&element.name, attrs);
    if let Some(text) = &element.text {
        x.text(text, TextMode::Cdata);
    }
    for child in &element.children {
        kept_element(x, e, child)?;
    }
    x.end(&element.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_name_every_collection_once() {
        for order in [ENTITIES_ORDER, COLLECTIONS_ORDER] {
            assert_eq!(order.len(), Collection::ALL.len());
            for c in Collection::ALL {
                assert_eq!(order.iter().filter(|o| *o == c).count(), 1, "{c}");
            }
        }
    }

    #[test]
    fn escapes_and_splits_cdata() {
        let mut buf = Vec::new();
        escape_attr(&mut buf, "a&b<\"c\"\n\t\r>");
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "a&amp;b&lt;&quot;c&quot;&#10;&#9;&#13;&gt;"
        );
        let mut buf = Vec::new();
        cdata_body(&mut buf, "x]]>y");
        assert_eq!(String::from_utf8_lossy(&buf), "x]]]]><![CDATA[>y");
    }
}
