//! Owns reading ThingWorx XML exports into the format-neutral model: single-file exports
//! (layout A), source-control files (layout B), the `sysobj` skeleton and collection-permission
//! files (`permissions/permissions.xml`, layout C). The document is streamed: one entity (or one
//! collection of a permission file) is collected into a compact tree at a time, converted and
//! dropped.

mod ctx;
mod definitions;
mod document;
mod entity;
mod lexer;
mod permissions;
mod principals;
mod tables;
#[cfg(test)]
mod tests;
mod tree;

use std::collections::HashSet;
use std::io::BufRead;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, MemberType, PermissionCategory, PermissionKind, PrincipalType,
};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value as Json};

use crate::error::ImportError;
use crate::extras;
use crate::limits::Limits;
use crate::model::{
    self, ApplicationKey, CollectionRule, Common, ConfigurationTable, DataShape, Definitions,
    Entity, EntityRule, EventDefinition, Export, ExtensionValue, Extra, FieldDefinition, Group,
    Kind, ListedRules, LocalizationTable, Member, Note, Origin, PasswordHash, PropertyDefinition,
    PropertyValue, ServiceDefinition, ServiceImplementation, Subscription, Term, Token, Unit, User,
    Vocabulary,
};
use crate::values;
use ctx::*;
use definitions::*;
use document::*;
use entity::*;
use lexer::*;
use permissions::*;
use principals::*;
use tables::*;
use tree::*;

/// Reads one XML document (`<Entities>` or `<Collections>` root) into an [`Export`].
///
/// `file` names the document in origins and errors. DOCTYPE declarations are refused, entity
/// references other than the five predefined ones are errors, and nesting deeper than
/// [`Limits::max_depth`] is an [`ImportError::Limit`]. Malformed XML is an [`ImportError::Xml`]
/// with the 1-based line.
pub fn read_xml<R: BufRead>(input: R, file: &str, limits: &Limits) -> Result<Export, ImportError> {
    let mut entities = Vec::new();
    let mut export = read_xml_with(input, file, limits, &mut |entity| {
        entities.push(entity);
        Ok(())
    })?;
    export.entities = entities;
    Ok(export)
}

/// Reads one XML document as [`read_xml`] does, handing each entity to `sink` as soon as it is
/// read instead of keeping it: the returned export holds everything but the entities. An error
/// of `sink` stops the reading and is returned.
pub fn read_xml_with<R: BufRead>(
    input: R,
    file: &str,
    limits: &Limits,
    sink: &mut dyn FnMut(Entity) -> Result<(), ImportError>,
) -> Result<Export, ImportError> {
    let mut lexer = Lexer::new(input);
    let mut builder = Builder::default();
    let mut export = Export::default();
    let max_depth = limits.max_depth.max(1);
    let max_tree_bytes = usize::try_from(limits.max_expanded_bytes).unwrap_or(usize::MAX);
    loop {
        let (event, line) = match lexer.next() {
            Ok(x) => x,
            Err(e) => return Err(lexer.fail(file, e)),
        };
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Text(t) if is_blank(&t) => {}
            Event::DocType(_) => return Err(doctype_error(file, line)),
            Event::Start(e) => {
                let root = RootKind::of(e.name().0, file, line)?;
                let header = attributes_owned(&e, file, line)?;
                match root {
                    RootKind::Entities => {
                        let universal_password = header
                            .iter()
                            .any(|(k, v)| k == "universal" && v == "password");
                        export.header = header;
                        let mut reader = DocReader {
                            lexer: &mut lexer,
                            builder: &mut builder,
                            file,
                            max_depth,
                            max_tree_bytes,
                            universal_password,
                            sink: &mut *sink,
                        };
                        reader.entities_root(&mut export)?;
                    }
                    RootKind::Collections => {
                        let mut reader = DocReader {
                            lexer: &mut lexer,
                            builder: &mut builder,
                            file,
                            max_depth,
                            max_tree_bytes,
                            universal_password: false,
                            sink: &mut *sink,
                        };
                        reader.collections_root(&mut export)?;
                    }
                }
                return finish(&mut lexer, file).map(|()| export);
            }
            Event::Empty(e) => {
                let root = RootKind::of(e.name().0, file, line)?;
                if matches!(root, RootKind::Entities) {
                    export.header = attributes_owned(&e, file, line)?;
                }
                return finish(&mut lexer, file).map(|()| export);
            }
            Event::Eof => {
                return Err(xml_error(file, line, "the document has no root element"));
            }
            _ => {
                return Err(xml_error(
                    file,
                    line,
                    "unexpected content before the root element",
                ));
            }
        }
    }
}

/// The two roots a ThingWorx XML document may have.
enum RootKind {
    /// `<Entities>`: layouts A and B, and the sysobj skeleton.
    Entities,
    /// `<Collections>`: a collection-permission file.
    Collections,
}

impl RootKind {
    fn of(name: &str, file: &str, line: u64) -> Result<RootKind, ImportError> {
        match name {
            "Entities" => Ok(RootKind::Entities),
            "Collections" => Ok(RootKind::Collections),
            other => Err(xml_error(
                file,
                line,
                &format!(
                    "not a ThingWorx export: the root element is <{other}>, expected <Entities> or <Collections>"
                ),
            )),
        }
    }
}

/// After the root element: only comments, processing instructions and whitespace may follow.
fn finish<R: BufRead>(lexer: &mut Lexer<R>, file: &str) -> Result<(), ImportError> {
    loop {
        let (event, line) = match lexer.next() {
            Ok(x) => x,
            Err(e) => return Err(lexer.fail(file, e)),
        };
        match event {
            Event::Eof => return Ok(()),
            Event::Comment(_) | Event::PI(_) => {}
            Event::Text(t) if is_blank(&t) => {}
            Event::DocType(_) => return Err(doctype_error(file, line)),
            _ => {
                return Err(xml_error(
                    file,
                    line,
                    "unexpected content after the root element",
                ));
            }
        }
    }
}
