//! Owns reading ThingWorx XML exports into the format-neutral model: single-file exports
//! (layout A), source-control files (layout B), the `sysobj` skeleton and collection-permission
//! files (`permissions/permissions.xml`, layout C). The document is streamed: one entity (or one
//! collection of a permission file) is collected into a compact tree at a time, converted and
//! dropped.

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

// ------------------------------------------------------------------------------------------
// Lexing: quick-xml events with line tracking.
// ------------------------------------------------------------------------------------------

/// The event reader, with the line of the next unread byte.
struct Lexer<R> {
    reader: Reader<R>,
    buf: Vec<u8>,
    /// 1-based line where the event being read starts.
    line: u64,
}

impl<R: BufRead> Lexer<R> {
    fn new(input: R) -> Self {
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Lexer {
            reader,
            buf: Vec::with_capacity(8 * 1024),
            line: 1,
        }
    }

    /// The next event and the line it starts on. The newlines of the previous event (still in
    /// the buffer) are counted first: every byte the reader consumes apart from markup
    /// delimiters lands in the buffer, so this counts every newline of the document.
    fn next(&mut self) -> Result<(Event<'_>, u64), quick_xml::Error> {
        self.line += count_newlines(&self.buf);
        self.buf.clear();
        let line = self.line;
        self.reader
            .read_event_into(&mut self.buf)
            .map(|event| (event, line))
    }

    /// The error of a failed [`Lexer::next`], with the line where the reader stopped.
    fn fail(&self, file: &str, err: quick_xml::Error) -> ImportError {
        let line = self.line + count_newlines(&self.buf);
        xml_error(file, line, &describe_xml_error(&err))
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    // Counted in blocks whose byte sums fit a `u8`, which compiles to vector compares.
    let mut count = 0u64;
    let mut blocks = bytes.chunks_exact(128);
    for block in &mut blocks {
        let n: u8 = block.iter().map(|&b| u8::from(b == b'\n')).sum();
        count += u64::from(n);
    }
    count + count_newlines_swar(blocks.remainder())
}

fn count_newlines_swar(bytes: &[u8]) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut count = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Bytes equal to '\n' become zero; count the zero bytes exactly.
        let v = u64::from_ne_bytes(word) ^ NEWLINES;
        let nonzero = ((v & LOW7).wrapping_add(LOW7) | v) & !LOW7;
        count += 8 - u64::from(nonzero.count_ones());
    }
    count + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

fn describe_xml_error(err: &quick_xml::Error) -> String {
    match err {
        quick_xml::Error::Escape(e) => format!("bad entity or character reference: {e}"),
        other => format!("malformed XML: {other}"),
    }
}

fn xml_error(file: &str, line: u64, message: &str) -> ImportError {
    ImportError::Xml {
        origin: Origin {
            file: file.to_owned(),
            line: Some(line),
        },
        message: message.to_owned(),
    }
}

fn doctype_error(file: &str, line: u64) -> ImportError {
    xml_error(
        file,
        line,
        "DOCTYPE declarations are refused: ThingWorx exports have none, and a DTD can define \
         entity expansions (billion laughs)",
    )
}

fn depth_error(file: &str, line: u64, limit: usize) -> ImportError {
    ImportError::Limit {
        file: file.to_owned(),
        what: format!("the element nesting depth at line {line}"),
        limit: limit as u64,
    }
}

fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The attributes of an element as owned pairs (the root header).
fn attributes_owned(
    e: &BytesStart<'_>,
    file: &str,
    line: u64,
) -> Result<Vec<(String, String)>, ImportError> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_error(file, line, &format!("bad attribute: {err}")))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| xml_error(file, line, &describe_xml_error(&err)))?;
        out.push((attr.key.0.to_owned(), value.into_owned()));
    }
    Ok(out)
}

/// Resolves a reference in text: the five predefined entities and character references.
fn resolve_reference(reference: &BytesRef<'_>, out: &mut String) -> Result<(), String> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => {
                out.push(c);
                Ok(())
            }
            _ => Err(format!("invalid character reference '&{};'", &**reference)),
        };
    }
    let text = match &**reference {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        other => {
            return Err(format!(
                "unknown entity reference '&{other};' (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"
            ));
        }
    };
    out.push_str(text);
    Ok(())
}

/// Strips the layout padding ThingWorx's source-control export puts inside CDATA sections: a
/// newline plus indentation at the start and a newline plus indentation at the end. Content
/// without both is returned unchanged.
fn strip_cdata_padding(content: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(rest) = content
        .strip_prefix("\r\n")
        .or_else(|| content.strip_prefix('\n'))
    else {
        return Cow::Borrowed(content);
    };
    let after_indent = rest.trim_start_matches([' ', '\t']);
    let indent = &rest[..rest.len() - after_indent.len()];
    let rest = after_indent;
    let Some(last_newline) = rest.rfind('\n') else {
        // Only one newline: the padding is all there is.
        return Cow::Borrowed(if rest.is_empty() { rest } else { content });
    };
    if !rest[last_newline + 1..]
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
    {
        return Cow::Borrowed(content);
    }
    let body = &rest[..last_newline];
    let body = body.strip_suffix('\r').unwrap_or(body);
    if indent.is_empty() || !body.contains('\n') {
        return Cow::Borrowed(body);
    }
    // The exporter repeats the element's indentation at the start of every line of the value.
    let mut out = String::with_capacity(body.len());
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(line.strip_prefix(indent).unwrap_or(line));
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

// ------------------------------------------------------------------------------------------
// The compact subtree of one entity.
// ------------------------------------------------------------------------------------------

const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
}

struct NodeData {
    name: Span,
    attrs_start: usize,
    attrs_end: usize,
    text: Span,
    first_child: usize,
    last_child: usize,
    next_sibling: usize,
    line: u64,
}

/// One entity's subtree: every name, value and text in one string, nodes in document order.
#[derive(Default)]
struct Tree {
    strings: String,
    nodes: Vec<NodeData>,
    attrs: Vec<(Span, Span)>,
}

impl Tree {
    fn clear(&mut self) {
        self.strings.clear();
        self.nodes.clear();
        self.attrs.clear();
    }

    fn push_str(&mut self, s: &str) -> Span {
        let start = self.strings.len();
        self.strings.push_str(s);
        Span {
            start,
            end: self.strings.len(),
        }
    }

    fn str(&self, span: Span) -> &str {
        self.strings.get(span.start..span.end).unwrap_or("")
    }

    fn root(&self) -> Node<'_> {
        Node { tree: self, idx: 0 }
    }
}

/// A view of one element of a [`Tree`].
#[derive(Clone, Copy)]
struct Node<'t> {
    tree: &'t Tree,
    idx: usize,
}

impl<'t> Node<'t> {
    fn data(self) -> &'t NodeData {
        &self.tree.nodes[self.idx]
    }

    fn name(self) -> &'t str {
        self.tree.str(self.data().name)
    }

    fn text(self) -> &'t str {
        self.tree.str(self.data().text)
    }

    fn line(self) -> u64 {
        self.data().line
    }

    fn attrs(self) -> impl Iterator<Item = (&'t str, &'t str)> + 't {
        let tree = self.tree;
        let data = self.data();
        tree.attrs[data.attrs_start..data.attrs_end]
            .iter()
            .map(move |(k, v)| (tree.str(*k), tree.str(*v)))
    }

    fn attr(self, key: &str) -> Option<&'t str> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    fn attr_str(self, key: &str) -> &'t str {
        self.attr(key).unwrap_or("")
    }

    fn children(self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.data().first_child,
        }
    }

    fn child(self, name: &str) -> Option<Node<'t>> {
        self.children().find(|c| c.name() == name)
    }

    fn has_children(self) -> bool {
        self.data().first_child != NONE
    }

    /// Whether the element carries anything at all.
    fn is_empty(self) -> bool {
        let data = self.data();
        data.first_child == NONE && data.attrs_start == data.attrs_end && self.text().is_empty()
    }
}

struct Children<'t> {
    tree: &'t Tree,
    next: usize,
}

impl<'t> Iterator for Children<'t> {
    type Item = Node<'t>;
    fn next(&mut self) -> Option<Node<'t>> {
        if self.next == NONE {
            return None;
        }
        let node = Node {
            tree: self.tree,
            idx: self.next,
        };
        self.next = self.tree.nodes[self.next].next_sibling;
        Some(node)
    }
}

/// The text being gathered for one open element.
#[derive(Default)]
struct TextScratch {
    text: String,
    /// Where the current run of text (since the last CDATA section or child) starts.
    run_start: usize,
    /// The current run holds a reference, so it is content even when it reads as whitespace.
    run_explicit: bool,
    saw_cdata: bool,
    has_children: bool,
}

impl TextScratch {
    fn reset(&mut self) {
        self.text.clear();
        self.run_start = 0;
        self.run_explicit = false;
        self.saw_cdata = false;
        self.has_children = false;
    }

    /// Whether the current run is layout whitespace (no reference, only blanks).
    fn run_is_layout(&self) -> bool {
        !self.run_explicit && is_blank(&self.text[self.run_start..])
    }

    fn drop_layout_run(&mut self) {
        if self.run_is_layout() {
            self.text.truncate(self.run_start);
        }
    }

    fn new_run(&mut self) {
        self.run_start = self.text.len();
        self.run_explicit = false;
    }
}

/// Builds a [`Tree`] from events; its buffers are reused from one entity to the next.
#[derive(Default)]
struct Builder {
    tree: Tree,
    stack: Vec<usize>,
    scratch: Vec<TextScratch>,
}

impl Builder {
    /// The memory the tree being built takes, with the text not yet placed in it.
    fn memory(&self) -> usize {
        let tree = &self.tree;
        let scratch: usize = self.scratch.iter().map(|s| s.text.capacity()).sum();
        tree.strings.capacity()
            + tree.nodes.capacity() * std::mem::size_of::<NodeData>()
            + tree.attrs.capacity() * std::mem::size_of::<(Span, Span)>()
            + scratch
    }

    fn begin(&mut self) {
        self.tree.clear();
        self.stack.clear();
    }

    fn open(&mut self, e: &BytesStart<'_>, line: u64) -> Result<(), String> {
        let idx = self.tree.nodes.len();
        let name = self.tree.push_str(e.name().0);
        let attrs_start = self.tree.attrs.len();
        // Duplicates are checked here, without the hash set quick-xml would build per element.
        let mut attributes = e.attributes();
        attributes.with_checks(false);
        for attr in attributes {
            let attr = attr.map_err(|err| format!("bad attribute: {err}"))?;
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| describe_xml_error(&err))?;
            let key = self.tree.push_str(attr.key.0);
            let value = self.tree.push_str(&value);
            self.tree.attrs.push((key, value));
        }
        let attrs_end = self.tree.attrs.len();
        self.check_duplicates(attrs_start, attrs_end)?;
        self.tree.nodes.push(NodeData {
            name,
            attrs_start,
            attrs_end,
            text: Span::default(),
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            line,
        });
        if let Some(&parent) = self.stack.last() {
            let last = self.tree.nodes[parent].last_child;
            if last == NONE {
                self.tree.nodes[parent].first_child = idx;
            } else {
                self.tree.nodes[last].next_sibling = idx;
            }
            self.tree.nodes[parent].last_child = idx;
            let depth = self.stack.len() - 1;
            if let Some(scratch) = self.scratch.get_mut(depth) {
                scratch.drop_layout_run();
                scratch.has_children = true;
                scratch.new_run();
            }
        }
        let depth = self.stack.len();
        if self.scratch.len() <= depth {
            self.scratch.push(TextScratch::default());
        }
        self.scratch[depth].reset();
        self.stack.push(idx);
        Ok(())
    }

    /// Refuses an element whose attributes repeat a name.
    fn check_duplicates(&self, start: usize, end: usize) -> Result<(), String> {
        let tree = &self.tree;
        let keys = &tree.attrs[start..end];
        let duplicate = if keys.len() <= 32 {
            keys.iter().enumerate().find_map(|(i, (key, _))| {
                let name = tree.str(*key);
                keys[..i]
                    .iter()
                    .any(|(other, _)| tree.str(*other) == name)
                    .then_some(name)
            })
        } else {
            let mut names: Vec<&str> = keys.iter().map(|(key, _)| tree.str(*key)).collect();
            names.sort_unstable();
            names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
        };
        match duplicate {
            Some(name) => Err(format!("malformed XML: duplicate attribute '{name}'")),
            None => Ok(()),
        }
    }

    fn current(&mut self) -> Option<&mut TextScratch> {
        let depth = self.stack.len().checked_sub(1)?;
        self.scratch.get_mut(depth)
    }

    fn text(&mut self, text: &str) {
        if let Some(scratch) = self.current() {
            scratch.text.push_str(text);
        }
    }

    fn reference(&mut self, reference: &BytesRef<'_>) -> Result<(), String> {
        if let Some(scratch) = self.current() {
            resolve_reference(reference, &mut scratch.text)?;
            scratch.run_explicit = true;
        }
        Ok(())
    }

    fn cdata(&mut self, content: &str) {
        if let Some(scratch) = self.current() {
            let layout = scratch.run_is_layout();
            let padded = layout && scratch.text[scratch.run_start..].contains('\n');
            if layout {
                scratch.text.truncate(scratch.run_start);
            }
            if padded {
                scratch.text.push_str(&strip_cdata_padding(content));
            } else {
                scratch.text.push_str(content);
            }
            scratch.saw_cdata = true;
            scratch.new_run();
        }
    }

    fn close(&mut self) {
        let Some(idx) = self.stack.pop() else {
            return;
        };
        let depth = self.stack.len();
        if let Some(scratch) = self.scratch.get_mut(depth) {
            if scratch.saw_cdata || scratch.has_children {
                scratch.drop_layout_run();
            }
            if !scratch.text.is_empty() {
                let start = self.tree.strings.len();
                self.tree.strings.push_str(&scratch.text);
                self.tree.nodes[idx].text = Span {
                    start,
                    end: self.tree.strings.len(),
                };
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Document structure.
// ------------------------------------------------------------------------------------------

/// Starts collecting the element just read at `depth` into a fresh tree.
fn begin_subtree(
    builder: &mut Builder,
    e: &BytesStart<'_>,
    line: u64,
    depth: usize,
    file: &str,
    max_depth: usize,
) -> Result<(), ImportError> {
    if depth > max_depth {
        return Err(depth_error(file, line, max_depth));
    }
    builder.begin();
    builder.open(e, line).map_err(|m| xml_error(file, line, &m))
}

struct DocReader<'a, R> {
    lexer: &'a mut Lexer<R>,
    builder: &'a mut Builder,
    file: &'a str,
    max_depth: usize,
    /// The most memory one entity's tree may take ([`Builder::memory`]).
    max_tree_bytes: usize,
    universal_password: bool,
    /// Where each entity goes once read.
    sink: &'a mut dyn FnMut(Entity) -> Result<(), ImportError>,
}

impl<R: BufRead> DocReader<'_, R> {
    /// Reads the rest of the subtree whose root element the builder has open; `base_depth` is
    /// the document depth of that root.
    fn collect_rest(&mut self, base_depth: usize) -> Result<(), ImportError> {
        let file = self.file;
        let builder = &mut *self.builder;
        loop {
            let (event, line) = match self.lexer.next() {
                Ok(x) => x,
                Err(e) => return Err(self.lexer.fail(file, e)),
            };
            match event {
                Event::Start(e) => {
                    if base_depth + builder.stack.len() > self.max_depth {
                        return Err(depth_error(file, line, self.max_depth));
                    }
                    builder
                        .open(&e, line)
                        .map_err(|m| xml_error(file, line, &m))?;
                }
                Event::Empty(e) => {
                    if base_depth + builder.stack.len() > self.max_depth {
                        return Err(depth_error(file, line, self.max_depth));
                    }
                    builder
                        .open(&e, line)
                        .map_err(|m| xml_error(file, line, &m))?;
                    builder.close();
                }
                Event::End(_) => {
                    builder.close();
                    if builder.stack.is_empty() {
                        return Ok(());
                    }
                }
                Event::Text(t) => builder.text(&t.xml10_content()),
                Event::CData(c) => builder.cdata(&c.xml10_content()),
                Event::GeneralRef(r) => builder
                    .reference(&r)
                    .map_err(|m| xml_error(file, line, &m))?,
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::DocType(_) => return Err(doctype_error(file, line)),
                Event::Eof => {
                    return Err(xml_error(
                        file,
                        line,
                        "malformed XML: the document ends inside an element",
                    ));
                }
            }
            if builder.memory() > self.max_tree_bytes {
                return Err(ImportError::Limit {
                    file: file.to_owned(),
                    what: format!(
                        "the memory in bytes of the element read from line {} (its tree)",
                        builder.tree.nodes.first().map_or(line, |n| n.line)
                    ),
                    limit: u64::try_from(self.max_tree_bytes).unwrap_or(u64::MAX),
                });
            }
        }
    }

    /// Children of `<Entities>`: one element per collection.
    fn entities_root(&mut self, export: &mut Export) -> Result<(), ImportError> {
        let file = self.file;
        loop {
            let (event, line) = match self.lexer.next() {
                Ok(x) => x,
                Err(e) => return Err(self.lexer.fail(file, e)),
            };
            match event {
                Event::Start(e) => {
                    if 2 > self.max_depth {
                        return Err(depth_error(file, line, self.max_depth));
                    }
                    match e.name().0.parse::<Collection>() {
                        Ok(collection) => self.collection(collection, export)?,
                        Err(_) => {
                            let name = e.name().0.to_owned();
                            export.notes.push(Note {
                                origin: Origin {
                                    file: file.to_owned(),
                                    line: Some(line),
                                },
                                entity: None,
                                message: format!(
                                    "unknown collection <{name}> skipped with everything in it"
                                ),
                            });
                            begin_subtree(self.builder, &e, line, 2, file, self.max_depth)?;
                            self.collect_rest(2)?;
                        }
                    }
                }
                Event::Empty(e) => {
                    if e.name().0.parse::<Collection>().is_err() {
                        export.notes.push(Note {
                            origin: Origin {
                                file: file.to_owned(),
                                line: Some(line),
                            },
                            entity: None,
                            message: format!("unknown empty collection <{}> ignored", e.name().0),
                        });
                    }
                }
                Event::End(_) => return Ok(()),
                Event::Text(t) if is_blank(&t) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => return Err(doctype_error(file, line)),
                Event::Eof => {
                    return Err(xml_error(
                        file,
                        line,
                        "malformed XML: the document ends inside <Entities>",
                    ));
                }
                _ => {
                    return Err(xml_error(
                        file,
                        line,
                        "unexpected text directly inside <Entities>",
                    ));
                }
            }
        }
    }

    /// The entities of one collection element.
    fn collection(
        &mut self,
        collection: Collection,
        export: &mut Export,
    ) -> Result<(), ImportError> {
        let file = self.file;
        loop {
            let (event, line) = match self.lexer.next() {
                Ok(x) => x,
                Err(e) => return Err(self.lexer.fail(file, e)),
            };
            match event {
                Event::Start(e) => {
                    begin_subtree(self.builder, &e, line, 3, file, self.max_depth)?;
                    self.collect_rest(3)?;
                }
                Event::Empty(e) => {
                    begin_subtree(self.builder, &e, line, 3, file, self.max_depth)?;
                    self.builder.close();
                }
                Event::End(_) => return Ok(()),
                Event::Text(t) if is_blank(&t) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(doctype_error(file, line)),
                Event::Eof => {
                    return Err(xml_error(
                        file,
                        line,
                        &format!("malformed XML: the document ends inside <{collection}>"),
                    ));
                }
                _ => {
                    return Err(xml_error(
                        file,
                        line,
                        &format!("unexpected text directly inside <{collection}>"),
                    ));
                }
            }
            let node = self.builder.tree.root();
            let entity = convert_entity(
                node,
                collection,
                file,
                self.universal_password,
                &mut export.notes,
            )?;
            (self.sink)(entity)?;
        }
    }

    /// Children of `<Collections>`: each collection with its rules and listed entity rules.
    fn collections_root(&mut self, export: &mut Export) -> Result<(), ImportError> {
        let file = self.file;
        loop {
            let (event, line) = match self.lexer.next() {
                Ok(x) => x,
                Err(e) => return Err(self.lexer.fail(file, e)),
            };
            match event {
                Event::Start(e) => {
                    begin_subtree(self.builder, &e, line, 2, file, self.max_depth)?;
                    self.collect_rest(2)?;
                }
                Event::Empty(e) => {
                    begin_subtree(self.builder, &e, line, 2, file, self.max_depth)?;
                    self.builder.close();
                }
                Event::End(_) => return Ok(()),
                Event::Text(t) if is_blank(&t) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(doctype_error(file, line)),
                Event::Eof => {
                    return Err(xml_error(
                        file,
                        line,
                        "malformed XML: the document ends inside <Collections>",
                    ));
                }
                _ => {
                    return Err(xml_error(
                        file,
                        line,
                        "unexpected text directly inside <Collections>",
                    ));
                }
            }
            convert_collection_permissions(self.builder.tree.root(), file, export)?;
        }
    }
}

// ------------------------------------------------------------------------------------------
// Conversion context.
// ------------------------------------------------------------------------------------------

/// What converting one entity (or one permission record) needs: where, and the notes.
struct Ctx<'a> {
    file: &'a str,
    entity: Label<'a>,
    line: u64,
    notes: &'a mut Vec<Note>,
    /// The messages of this entity's notes, so that each is noted once in constant time.
    noted: HashSet<String>,
}

/// Names the entity (or collection) a [`Ctx`] converts; formatted only when a note or an
/// error needs it.
enum Label<'a> {
    Text(String),
    Entity(Collection, &'a str),
}

impl Label<'_> {
    fn text(&self) -> String {
        match self {
            Label::Text(text) => text.clone(),
            Label::Entity(collection, name) => format!("{collection}/{name}"),
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, entity: Label<'a>, line: u64, notes: &'a mut Vec<Note>) -> Self {
        Ctx {
            file,
            entity,
            line,
            notes,
            noted: HashSet::new(),
        }
    }

    fn origin(&self, line: u64) -> Origin {
        Origin {
            file: self.file.to_owned(),
            line: Some(line),
        }
    }

    /// A note about this entity, once per distinct message.
    fn note(&mut self, message: String) {
        if !self.noted.insert(message.clone()) {
            return;
        }
        self.notes.push(Note {
            origin: self.origin(self.line),
            entity: Some(self.entity.text()),
            message,
        });
    }

    fn unplaced_attr(&mut self, owner: &str, key: &str) {
        self.note(format!(
            "attribute '{key}' of <{owner}> has no place in the model and was dropped"
        ));
    }

    fn unplaced_child(&mut self, owner: &str, child: &str) {
        self.note(format!(
            "element <{child}> inside <{owner}> has no place in the model and was dropped"
        ));
    }

    fn invalid(&self, node: Node<'_>, message: String) -> ImportError {
        ImportError::Invalid {
            origin: self.origin(node.line()),
            entity: self.entity.text(),
            message,
        }
    }
}

fn parse_bool(text: &str) -> bool {
    text.trim() == "true"
}

fn parse_int(ctx: &mut Ctx<'_>, owner: &str, key: &str, text: &str) -> i32 {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return 0;
    }
    if let Ok(n) = trimmed.parse::<i32>() {
        return n;
    }
    if let Some(f) = trimmed
        .parse::<f64>()
        .ok()
        .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX))
    {
        return f as i32;
    }
    ctx.note(format!(
        "attribute '{key}' of <{owner}> is not an integer ('{trimmed}'); read as 0"
    ));
    0
}

/// [`values::parse_date`] with a fast path for the shapes exports write
/// (`2019-11-26T09:43:27.449Z`, `2018-07-10T08:40:18.709+02:00`); anything else goes to the
/// general parser.
fn parse_date(text: &str) -> Option<i64> {
    fast_date(text.as_bytes()).or_else(|| values::parse_date(text))
}

fn fast_date(b: &[u8]) -> Option<i64> {
    fn digits(b: &[u8]) -> Option<i64> {
        let mut n = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[usize::try_from(month - 1).ok()?]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if rest.first() == Some(&b'.') {
        let count = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 || count > 9 {
            return None;
        }
        nanos = digits(&rest[1..=count])? * 10i64.pow(9 - count as u32);
        rest = &rest[1 + count..];
    }
    let offset_seconds = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    i64::try_from(total / 1_000_000).ok()
}

fn parse_date_attr(ctx: &mut Ctx<'_>, owner: &str, key: &str, text: &str) -> Option<i64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let parsed = parse_date(trimmed).or_else(|| trimmed.parse::<i64>().ok());
    if parsed.is_none() {
        ctx.note(format!(
            "'{key}' of <{owner}> is not a date ('{trimmed}'); left unset"
        ));
    }
    parsed
}

/// An element as the generic JSON form of [`model::element_json`].
fn element_to_json(node: Node<'_>, with_name: bool) -> Json {
    let attributes = node
        .attrs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let children = node.children().map(|c| element_to_json(c, true)).collect();
    model::element_json(
        with_name.then(|| node.name()),
        attributes,
        node.text(),
        children,
    )
}

/// Keeps an unknown child element in `extra` in the neutral form ([`extras`]); a repeated name
/// collects into an array.
fn keep_element(extra: &mut Extra, node: Node<'_>) {
    let (key, value) = extras::from_xml_element(node.name(), &element_to_json(node, false));
    match extra.get_mut(&key) {
        None => {
            extra.insert(key, value);
        }
        Some(Json::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Json::Array(vec![first, value]);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Permissions.
// ------------------------------------------------------------------------------------------

fn principal_rule(
    ctx: &Ctx<'_>,
    principal: Node<'_>,
    kind: PermissionKind,
    resource: &str,
) -> Result<Rule, ImportError> {
    let allow = match principal.attr("isPermitted").map(str::trim) {
        Some("true") => true,
        Some("false") => false,
        other => {
            return Err(ctx.invalid(
                principal,
                format!(
                    "<Principal> under <{kind}> has isPermitted={:?}; expected true or false",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    let type_text = principal.attr_str("type");
    let principal_type = type_text
        .parse::<PrincipalType>()
        .map_err(|e| ctx.invalid(principal, format!("<Principal> under <{kind}>: {e}")))?;
    let name = principal.attr_str("name");
    if name.is_empty() {
        return Err(ctx.invalid(principal, format!("<Principal> under <{kind}> has no name")));
    }
    Ok(Rule {
        kind,
        resource: resource.to_owned(),
        principal_type,
        principal_name: name.to_owned(),
        allow,
    })
}

/// Appends the principals of one permission list element (`<Create>`, `<PropertyRead>`, …).
fn read_principals(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    kind: PermissionKind,
    resource: &str,
    out: &mut Vec<Rule>,
) -> Result<(), ImportError> {
    for principal in list.children() {
        if principal.name() == "Principal" {
            out.push(principal_rule(ctx, principal, kind, resource)?);
        } else {
            ctx.unplaced_child(list.name(), principal.name());
        }
    }
    Ok(())
}

fn permission_kind(
    ctx: &Ctx<'_>,
    node: Node<'_>,
    block: &str,
    category: PermissionCategory,
) -> Result<PermissionKind, ImportError> {
    match node.name().parse::<PermissionKind>() {
        Ok(kind) if kind.category() == category => Ok(kind),
        _ => Err(ctx.invalid(
            node,
            format!("unknown permission <{}> in <{block}>", node.name()),
        )),
    }
}

/// Reads a permission block of `category` into `out`.
fn read_block(
    ctx: &mut Ctx<'_>,
    block: Node<'_>,
    category: PermissionCategory,
    out: &mut Vec<Rule>,
) -> Result<(), ImportError> {
    let block_name = block.name();
    match category {
        PermissionCategory::DesignTime => {
            for list in block.children() {
                let kind = permission_kind(ctx, list, block_name, category)?;
                read_principals(ctx, list, kind, ANY_RESOURCE, out)?;
            }
        }
        PermissionCategory::RunTime => {
            for permissions in block.children() {
                if permissions.name() != "Permissions" {
                    return Err(ctx.invalid(
                        permissions,
                        format!(
                            "unexpected <{}> in <{block_name}>; expected <Permissions resourceName=\"…\">",
                            permissions.name()
                        ),
                    ));
                }
                let resource = match permissions.attr("resourceName") {
                    Some(r) if !r.is_empty() => r,
                    _ => ANY_RESOURCE,
                };
                for list in permissions.children() {
                    let kind = permission_kind(ctx, list, block_name, category)?;
                    read_principals(ctx, list, kind, resource, out)?;
                }
            }
        }
        PermissionCategory::Visibility => {
            for list in block.children() {
                let kind = permission_kind(ctx, list, block_name, category)?;
                read_principals(ctx, list, kind, ANY_RESOURCE, out)?;
            }
        }
    }
    Ok(())
}

/// The permission block an element name stands for: (category, instance).
fn block_of(name: &str) -> Option<(PermissionCategory, bool)> {
    Some(match name {
        "DesignTimePermissions" => (PermissionCategory::DesignTime, false),
        "RunTimePermissions" => (PermissionCategory::RunTime, false),
        "VisibilityPermissions" => (PermissionCategory::Visibility, false),
        "InstanceDesignTimePermissions" | "DesignTimeInstancePermissions" => {
            (PermissionCategory::DesignTime, true)
        }
        "InstanceRunTimePermissions" | "RunTimeInstancePermissions" => {
            (PermissionCategory::RunTime, true)
        }
        "InstanceVisibilityPermissions" | "VisibilityInstancePermissions" => {
            (PermissionCategory::Visibility, true)
        }
        _ => return None,
    })
}

fn push_entity_rules(out: &mut Vec<EntityRule>, rules: Vec<Rule>, instance: bool) {
    out.extend(rules.into_iter().map(|rule| EntityRule { instance, rule }));
}

/// One collection of a `<Collections>` document.
fn convert_collection_permissions(
    node: Node<'_>,
    file: &str,
    export: &mut Export,
) -> Result<(), ImportError> {
    let Ok(collection) = node.name().parse::<Collection>() else {
        export.notes.push(Note {
            origin: Origin {
                file: file.to_owned(),
                line: Some(node.line()),
            },
            entity: None,
            message: format!(
                "unknown collection <{}> in the permission file skipped",
                node.name()
            ),
        });
        return Ok(());
    };
    let mut ctx = Ctx::new(
        file,
        Label::Text(collection.to_string()),
        node.line(),
        &mut export.notes,
    );
    let mut rules = Vec::new();
    let mut listed = Vec::new();
    for child in node.children() {
        match block_of(child.name()) {
            Some((category, false)) => read_block(&mut ctx, child, category, &mut rules)?,
            _ if child.name() == "Entities" => {
                for record in child.children() {
                    if record.name() != "Entity" {
                        ctx.unplaced_child("Entities", record.name());
                        continue;
                    }
                    if let Some(l) = listed_record(&mut ctx, record, collection)? {
                        listed.push(l);
                    }
                }
            }
            _ => ctx.unplaced_child(node.name(), child.name()),
        }
    }
    drop(ctx);
    export.collection_rules.extend(
        rules
            .into_iter()
            .map(|rule| CollectionRule { collection, rule }),
    );
    export.listed_rules.extend(listed);
    Ok(())
}

/// One `<Entity name type>` record of a permission file.
fn listed_record(
    ctx: &mut Ctx<'_>,
    record: Node<'_>,
    enclosing: Collection,
) -> Result<Option<ListedRules>, ImportError> {
    let name = record.attr_str("name");
    let type_name = record.attr_str("type");
    let collection = if type_name.is_empty() {
        enclosing
    } else {
        match Collection::from_element_name(type_name) {
            Some(c) => c,
            None => {
                ctx.note(format!(
                    "permission record for '{name}' has unknown type '{type_name}'; read as part of {enclosing}"
                ));
                enclosing
            }
        }
    };
    if name.is_empty() {
        return Err(ctx.invalid(record, "an <Entity> record without a name".into()));
    }
    let saved = std::mem::replace(&mut ctx.entity, Label::Text(format!("{collection}/{name}")));
    let mut rules = Vec::new();
    for block in record.children() {
        match block_of(block.name()) {
            Some((category, instance)) => {
                let mut plain = Vec::new();
                read_block(ctx, block, category, &mut plain)?;
                push_entity_rules(&mut rules, plain, instance);
            }
            None => ctx.unplaced_child("Entity", block.name()),
        }
    }
    ctx.entity = saved;
    Ok(Some(ListedRules {
        collection,
        name: name.to_owned(),
        rules,
        origin: ctx.origin(record.line()),
    }))
}

// ------------------------------------------------------------------------------------------
// Fields, configuration tables, InfoTables.
// ------------------------------------------------------------------------------------------

fn read_field(ctx: &mut Ctx<'_>, node: Node<'_>) -> FieldDefinition {
    let mut field = FieldDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => field.name = value.to_owned(),
            "baseType" => field.base_type = value.to_owned(),
            "description" => field.description = value.to_owned(),
            "ordinal" => field.ordinal = parse_int(ctx, node.name(), key, value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    field
                        .aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    field
}

/// `FieldDefinitions/FieldDefinition` of a `DataShape` (or the list itself).
fn read_fields(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<FieldDefinition> {
    let mut fields = Vec::new();
    for child in list.children() {
        if child.name() == "FieldDefinition" {
            fields.push(read_field(ctx, child));
        } else {
            ctx.unplaced_child(list.name(), child.name());
        }
    }
    fields
}

/// The fields of a `<DataShape>` element (configuration table or InfoTable).
fn read_data_shape_fields(ctx: &mut Ctx<'_>, shape: Node<'_>) -> Vec<FieldDefinition> {
    let mut fields = Vec::new();
    for child in shape.children() {
        if child.name() == "FieldDefinitions" {
            fields.extend(read_fields(ctx, child));
        } else {
            ctx.unplaced_child("DataShape", child.name());
        }
    }
    fields
}

/// A cell of a row, typed by its column's base type.
fn cell_value(ctx: &mut Ctx<'_>, cell: Node<'_>, base_type: Option<&str>) -> Json {
    if let Some(table) = cell.child("infoTable") {
        return infotable_json(ctx, table);
    }
    if let Some(json) = cell.child("json") {
        let text = json.text().trim();
        return serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()));
    }
    if cell.has_children() {
        return element_to_json(cell, false);
    }
    let text = cell.text();
    match base_type {
        Some(base_type) if !base_type.is_empty() => match values::from_text(base_type, text) {
            Ok(value) => value,
            Err(err) => {
                ctx.note(format!("cell <{}>: {err}; kept as text", cell.name()));
                Json::String(text.to_owned())
            }
        },
        _ => Json::String(text.to_owned()),
    }
}

fn read_rows(
    ctx: &mut Ctx<'_>,
    rows: Node<'_>,
    fields: &[FieldDefinition],
) -> Vec<Map<String, Json>> {
    let mut out = Vec::new();
    for row in rows.children() {
        if row.name() != "Row" {
            ctx.unplaced_child("Rows", row.name());
            continue;
        }
        let mut cells = Map::new();
        for cell in row.children() {
            let base_type = fields
                .iter()
                .find(|f| f.name == cell.name())
                .map(|f| f.base_type.as_str());
            let value = cell_value(ctx, cell, base_type);
            cells.insert(cell.name().to_owned(), value);
        }
        out.push(cells);
    }
    out
}

/// `<infoTable>` as an InfoTable object.
fn infotable_json(ctx: &mut Ctx<'_>, table: Node<'_>) -> Json {
    let mut fields = Vec::new();
    let mut rows = Vec::new();
    for child in table.children() {
        match child.name() {
            "DataShape" => fields.extend(read_data_shape_fields(ctx, child)),
            "Rows" => rows = read_rows(ctx, child, &fields),
            other => ctx.unplaced_child("infoTable", other),
        }
    }
    let mut definitions = Map::new();
    for field in fields {
        let mut object = Map::new();
        object.insert("name".into(), Json::String(field.name.clone()));
        object.insert("baseType".into(), Json::String(field.base_type));
        object.insert("description".into(), Json::String(field.description));
        object.insert("ordinal".into(), Json::from(field.ordinal));
        object.insert("aspects".into(), Json::Object(field.aspects));
        definitions.insert(field.name, Json::Object(object));
    }
    let mut shape = Map::new();
    shape.insert("fieldDefinitions".into(), Json::Object(definitions));
    let mut object = Map::new();
    object.insert("dataShape".into(), Json::Object(shape));
    object.insert(
        "rows".into(),
        Json::Array(rows.into_iter().map(Json::Object).collect()),
    );
    Json::Object(object)
}

fn read_config_table(ctx: &mut Ctx<'_>, node: Node<'_>) -> ConfigurationTable {
    let mut table = ConfigurationTable::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => table.name = value.to_owned(),
            "description" => table.description = value.to_owned(),
            "isMultiRow" => table.is_multi_row = parse_bool(value),
            "ordinal" => table.ordinal = parse_int(ctx, node.name(), key, value),
            "dataShapeName" => table.data_shape_name = value.to_owned(),
            "isHidden" => table.is_hidden = parse_bool(value),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    let mut rows_node = None;
    for child in node.children() {
        match child.name() {
            "DataShape" => table.fields.extend(read_data_shape_fields(ctx, child)),
            "Rows" => rows_node = Some(child),
            other => ctx.unplaced_child("ConfigurationTable", other),
        }
    }
    if let Some(rows) = rows_node {
        table.rows = read_rows(ctx, rows, &table.fields);
    }
    table
}

/// `ConfigurationTables/ConfigurationTable` (also `SharedConfigurationTables`).
fn read_config_tables(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<ConfigurationTable> {
    let mut tables = Vec::new();
    for child in list.children() {
        if child.name() == "ConfigurationTable" {
            tables.push(read_config_table(ctx, child));
        } else {
            ctx.unplaced_child(list.name(), child.name());
        }
    }
    tables
}

// ------------------------------------------------------------------------------------------
// Definitions (ThingShape lists).
// ------------------------------------------------------------------------------------------

fn read_property_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> PropertyDefinition {
    let mut def = PropertyDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "baseType" => def.base_type = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "ordinal" => def.ordinal = parse_int(ctx, node.name(), key, value),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    def
}

fn read_service_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> ServiceDefinition {
    let mut def = ServiceDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "isAllowOverride" => def.is_allow_override = parse_bool(value),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            "isOpen" => def.is_open = parse_bool(value),
            "isPrivate" => def.is_private = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        match child.name() {
            "ResultType" => def.result_type = Some(read_field(ctx, child)),
            "ParameterDefinitions" => def.parameters = read_fields(ctx, child),
            other => ctx.unplaced_child("ServiceDefinition", other),
        }
    }
    def
}

fn read_event_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> EventDefinition {
    let mut def = EventDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "dataShape" => def.data_shape = value.to_owned(),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    def
}

fn read_implementation(ctx: &mut Ctx<'_>, node: Node<'_>) -> ServiceImplementation {
    let mut imp = ServiceImplementation::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => imp.name = value.to_owned(),
            "description" => imp.description = value.to_owned(),
            "handlerName" => imp.handler_name = value.to_owned(),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    for child in node.children() {
        match child.name() {
            "ConfigurationTables" => imp.configuration = read_config_tables(ctx, child),
            other => ctx.unplaced_child("ServiceImplementation", other),
        }
    }
    imp
}

fn read_subscription(ctx: &mut Ctx<'_>, node: Node<'_>) -> Subscription {
    let mut sub = Subscription::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => sub.name = value.to_owned(),
            "description" => sub.description = value.to_owned(),
            "enabled" => sub.enabled = parse_bool(value),
            "eventName" => sub.event_name = value.to_owned(),
            "source" => sub.source = value.to_owned(),
            "sourceProperty" => sub.source_property = value.to_owned(),
            "sourceType" => sub.source_type = value.to_owned(),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    for child in node.children() {
        match child.name() {
            "ServiceImplementation" => {
                let imp = read_implementation(ctx, child);
                // Older exports (8.2) name a subscription only on its implementation.
                if sub.name.is_empty() {
                    sub.name = imp.name;
                }
                sub.handler_name = imp.handler_name;
                sub.configuration = imp.configuration;
            }
            other => ctx.unplaced_child("Subscription", other),
        }
    }
    sub
}

/// Reads a definition list into `defs`; false when `list` is not one of the five lists.
fn read_definition_list(ctx: &mut Ctx<'_>, list: Node<'_>, defs: &mut Definitions) -> bool {
    let (item, kind) = match list.name() {
        "PropertyDefinitions" => ("PropertyDefinition", 0),
        "ServiceDefinitions" => ("ServiceDefinition", 1),
        "EventDefinitions" => ("EventDefinition", 2),
        "ServiceImplementations" => ("ServiceImplementation", 3),
        "Subscriptions" => ("Subscription", 4),
        _ => return false,
    };
    for child in list.children() {
        if child.name() != item {
            ctx.unplaced_child(list.name(), child.name());
            continue;
        }
        match kind {
            0 => defs.properties.push(read_property_definition(ctx, child)),
            1 => defs.services.push(read_service_definition(ctx, child)),
            2 => defs.events.push(read_event_definition(ctx, child)),
            3 => defs.implementations.push(read_implementation(ctx, child)),
            _ => defs.subscriptions.push(read_subscription(ctx, child)),
        }
    }
    true
}

/// The nested `<ThingShape>` of a Thing or ThingTemplate; its other non-empty children
/// (ServiceMappings with content, …) are kept in `extra` under `<ThingShape>`.
fn read_nested_shape(
    ctx: &mut Ctx<'_>,
    shape: Node<'_>,
    defs: &mut Definitions,
    extra: &mut Extra,
) {
    for (key, _) in shape.attrs() {
        ctx.unplaced_attr("ThingShape", key);
    }
    for child in shape.children() {
        if !read_definition_list(ctx, child, defs) && !child.is_empty() {
            let (key, value) =
                extras::nested_shape_part(child.name(), &element_to_json(child, false));
            extra.insert(key, value);
        }
    }
}

fn read_implemented_shapes(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for child in list.children() {
        if child.name() == "ImplementedShape" {
            // A shape is implemented once (the binary form keys its shapes by name); a repeat
            // is dropped with a note instead of failing the import on the unique shape row.
            let name = child.attr_str("name");
            if out.iter().any(|s| s == name) {
                ctx.note(format!(
                    "ThingShape {name} is listed twice in <ImplementedShapes>; the repeat was dropped"
                ));
            } else {
                out.push(name.to_owned());
            }
        } else {
            ctx.unplaced_child("ImplementedShapes", child.name());
        }
    }
    out
}

fn read_property_values(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    defs: &Definitions,
) -> Vec<PropertyValue> {
    let mut out = Vec::with_capacity(list.children().count());
    for prop in list.children() {
        let mut value = PropertyValue {
            name: prop.name().to_owned(),
            base_type: defs
                .properties
                .iter()
                .find(|p| p.name == prop.name())
                .map(|p| p.base_type.clone())
                .unwrap_or_default(),
            value: Json::String(String::new()),
            time: 0,
            quality: String::new(),
        };
        for part in prop.children() {
            match part.name() {
                "Value" => {
                    value.value = match part.child("infoTable") {
                        Some(table) => infotable_json(ctx, table),
                        None => Json::String(part.text().to_owned()),
                    };
                }
                "Timestamp" => {
                    value.time =
                        parse_date_attr(ctx, prop.name(), "Timestamp", part.text()).unwrap_or(0);
                }
                "Quality" => value.quality = part.text().to_owned(),
                other => ctx.unplaced_child(prop.name(), other),
            }
        }
        out.push(value);
    }
    out
}

// ------------------------------------------------------------------------------------------
// Principals: members, units.
// ------------------------------------------------------------------------------------------

/// Every `Member` under `<Members>` (doubly nested in exports, tolerated singly).
fn read_members(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    out: &mut Vec<Member>,
) -> Result<(), ImportError> {
    for child in list.children() {
        match child.name() {
            "Members" => read_members(ctx, child, out)?,
            "Member" => {
                let name = child.attr_str("name");
                let member_type = child
                    .attr_str("type")
                    .parse::<MemberType>()
                    .map_err(|e| ctx.invalid(child, format!("member '{name}': {e}")))?;
                if name.is_empty() {
                    return Err(ctx.invalid(child, "a <Member> without a name".into()));
                }
                out.push(Member {
                    name: name.to_owned(),
                    member_type,
                });
            }
            other => ctx.unplaced_child("Members", other),
        }
    }
    Ok(())
}

fn read_units(
    ctx: &mut Ctx<'_>,
    organization: &str,
    connections: Option<Node<'_>>,
    units_node: Option<Node<'_>>,
) -> Result<Vec<Unit>, ImportError> {
    let mut edges: Vec<(&str, &str)> = Vec::new();
    if let Some(list) = connections {
        for edge in list.children() {
            if edge.name() == "Connection" {
                edges.push((edge.attr_str("from"), edge.attr_str("to")));
            } else {
                ctx.unplaced_child("Connections", edge.name());
            }
        }
    }
    let mut units = Vec::new();
    if let Some(list) = units_node {
        for node in list.children() {
            if node.name() != "OrganizationalUnit" {
                ctx.unplaced_child("OrganizationalUnits", node.name());
                continue;
            }
            let mut unit = Unit::default();
            for (key, value) in node.attrs() {
                match key {
                    "name" => unit.name = value.to_owned(),
                    "description" => unit.description = value.to_owned(),
                    _ => ctx.unplaced_attr("OrganizationalUnit", key),
                }
            }
            for child in node.children() {
                if child.name() == "Members" {
                    read_members(ctx, child, &mut unit.members)?;
                } else {
                    ctx.unplaced_child("OrganizationalUnit", child.name());
                }
            }
            match edges.iter().find(|(_, to)| *to == unit.name) {
                Some(("", _)) => unit.parent = None,
                Some((from, _)) => unit.parent = Some((*from).to_owned()),
                None => {
                    if unit.name != organization {
                        ctx.note(format!(
                            "unit '{}' has no <Connection>; read as having no parent",
                            unit.name
                        ));
                    }
                }
            }
            units.push(unit);
        }
    }
    for (_, to) in &edges {
        if !units.iter().any(|u| u.name == *to) {
            ctx.note(format!(
                "<Connection> names unit '{to}' that <OrganizationalUnits> does not list"
            ));
        }
    }
    // Root first: the unit attached by the edge with an empty `from`, else the one named
    // after the organization.
    let root = edges
        .iter()
        .find(|(from, _)| from.is_empty())
        .and_then(|(_, to)| units.iter().position(|u| u.name == *to))
        .or_else(|| units.iter().position(|u| u.name == organization));
    if let Some(index) = root {
        let unit = units.remove(index);
        units.insert(0, unit);
    }
    Ok(units)
}

// ------------------------------------------------------------------------------------------
// Entities.
// ------------------------------------------------------------------------------------------

/// The default kind of a collection's entities.
fn kind_for(collection: Collection) -> Kind {
    match collection {
        Collection::Things => Kind::Thing(Box::default()),
        Collection::ThingTemplates => Kind::ThingTemplate(Box::default()),
        Collection::ThingShapes => Kind::ThingShape(Box::default()),
        Collection::DataShapes => Kind::DataShape(DataShape::default()),
        Collection::Users => Kind::User(Box::default()),
        Collection::Groups => Kind::Group(Group::default()),
        Collection::Organizations => Kind::Organization(Box::default()),
        Collection::ApplicationKeys => Kind::ApplicationKey(ApplicationKey::default()),
        Collection::LocalizationTables => Kind::LocalizationTable(LocalizationTable::default()),
        Collection::ModelTags | Collection::DataTags => Kind::Vocabulary(Vocabulary::default()),
        _ => Kind::Plain,
    }
}

/// Reads a kind-specific attribute; false when the kind has no field for it.
fn kind_attr(
    ctx: &mut Ctx<'_>,
    kind: &mut Kind,
    password: &mut PasswordHash,
    owner: &str,
    key: &str,
    value: &str,
) -> bool {
    match kind {
        Kind::Thing(t) => match key {
            "thingTemplate" => t.thing_template = value.to_owned(),
            "enabled" => t.enabled = parse_bool(value),
            "published" => t.published = parse_bool(value),
            "identifier" => t.identifier = value.to_owned(),
            "valueStream" => t.value_stream = value.to_owned(),
            "inheritedValueStream" => t.inherited_value_stream = value.to_owned(),
            "thingPackage" => t.thing_package = value.to_owned(),
            "effectiveThingPackage" => t.effective_thing_package = value.to_owned(),
            _ => return false,
        },
        Kind::ThingTemplate(t) => match key {
            "baseThingTemplate" => t.base_thing_template = value.to_owned(),
            "thingPackage" => t.thing_package = value.to_owned(),
            "effectiveThingPackage" => t.effective_thing_package = value.to_owned(),
            "valueStream" => t.value_stream = value.to_owned(),
            _ => return false,
        },
        Kind::ThingShape(s) => match key {
            "className" => s.class_name = value.to_owned(),
            _ => return false,
        },
        Kind::DataShape(d) => match key {
            "baseDataShape" => d.base_data_shape = value.to_owned(),
            _ => return false,
        },
        Kind::User(u) => match key {
            "enabled" => u.enabled = parse_bool(value),
            "locked" => u.locked = parse_bool(value),
            "mobileMashup" => u.mobile_mashup = value.to_owned(),
            "scimId" => u.scim_id = value.to_owned(),
            "scimExternalId" => u.scim_external_id = value.to_owned(),
            "passwordHash" => password.hash = value.to_owned(),
            "passwordHashAlgorithm" => password.algorithm = value.to_owned(),
            "passwordHashIterationCount" => {
                password.iterations = parse_int(ctx, owner, key, value);
            }
            "passwordHashSaltSizeInBytes" => {
                password.salt_bytes = parse_int(ctx, owner, key, value);
            }
            "passwordHashSizeInBytes" => password.hash_bytes = parse_int(ctx, owner, key, value),
            _ => return false,
        },
        Kind::Group(g) => match key {
            "scimDisplayName" => g.scim_display_name = value.to_owned(),
            "scimId" => g.scim_id = value.to_owned(),
            "scimExternalId" => g.scim_external_id = value.to_owned(),
            _ => return false,
        },
        Kind::Organization(o) => match key {
            "loginPrompt" => o.login_prompt = value.to_owned(),
            "loginStyle" => o.login_style = value.to_owned(),
            "loginButtonStyle" => o.login_button_style = value.to_owned(),
            "loginResetPassword" => o.login_reset_password = parse_bool(value),
            "mobileMashup" => o.mobile_mashup = value.to_owned(),
            "resetMailContent" => o.reset_mail_content = value.to_owned(),
            "resetMailServer" => o.reset_mail_server = value.to_owned(),
            "resetMailSubject" => o.reset_mail_subject = value.to_owned(),
            _ => return false,
        },
        Kind::ApplicationKey(k) => match key {
            "keyId" => k.key_id = value.to_owned(),
            "userNameReference" => k.user_name = value.to_owned(),
            "expirationDate" => k.expiration_date = parse_date_attr(ctx, owner, key, value),
            "clientName" => k.client_name = value.to_owned(),
            "ipWhitelist" => k.ip_whitelist = value.to_owned(),
            _ => return false,
        },
        Kind::Vocabulary(v) => match key {
            "isDynamic" => v.is_dynamic = parse_bool(value),
            _ => return false,
        },
        Kind::LocalizationTable(_) | Kind::Plain => return false,
    }
    true
}

/// Reads a kind-specific child element; false when the kind has no field for it.
fn kind_child(
    ctx: &mut Ctx<'_>,
    kind: &mut Kind,
    child: Node<'_>,
    extra: &mut Extra,
) -> Result<bool, ImportError> {
    let name = child.name();
    match kind {
        Kind::Thing(t) => match name {
            "ThingShape" => read_nested_shape(ctx, child, &mut t.definitions, extra),
            "ImplementedShapes" => t.implemented_shapes = read_implemented_shapes(ctx, child),
            // Property values are read once the definitions are known.
            "ThingProperties" => {}
            _ => return Ok(false),
        },
        Kind::ThingTemplate(t) => match name {
            "ThingShape" => read_nested_shape(ctx, child, &mut t.definitions, extra),
            "ImplementedShapes" => t.implemented_shapes = read_implemented_shapes(ctx, child),
            "SharedConfigurationTables" => {
                t.shared_configuration_tables = read_config_tables(ctx, child);
            }
            _ => return Ok(false),
        },
        Kind::ThingShape(s) => return Ok(read_definition_list(ctx, child, &mut s.definitions)),
        Kind::DataShape(d) => match name {
            "FieldDefinitions" => d.fields = read_fields(ctx, child),
            _ => return Ok(false),
        },
        Kind::Group(g) => match name {
            "Members" => read_members(ctx, child, &mut g.members)?,
            _ => return Ok(false),
        },
        Kind::Organization(o) => match name {
            "loginImage" => o.login_image = child.text().to_owned(),
            // Units are read once both lists are known.
            "Connections" | "OrganizationalUnits" => {}
            _ => return Ok(false),
        },
        Kind::LocalizationTable(l) => match name {
            "Tokens" => {
                for token in child.children() {
                    if token.name() != "Token" {
                        ctx.unplaced_child("Tokens", token.name());
                        continue;
                    }
                    let mut t = Token::default();
                    for (key, value) in token.attrs() {
                        match key {
                            "name" => t.name = value.to_owned(),
                            "value" => t.value = value.to_owned(),
                            "description" => t.description = value.to_owned(),
                            "context" => t.context = value.to_owned(),
                            _ => ctx.unplaced_attr("Token", key),
                        }
                    }
                    l.tokens.push(t);
                }
            }
            _ => return Ok(false),
        },
        Kind::Vocabulary(v) => match name {
            "VocabularyTerm" => {
                let mut term = Term::default();
                for (key, value) in child.attrs() {
                    match key {
                        "name" => term.name = value.to_owned(),
                        "description" => term.description = value.to_owned(),
                        _ => ctx.unplaced_attr("VocabularyTerm", key),
                    }
                }
                v.terms.push(term);
            }
            _ => return Ok(false),
        },
        Kind::User(_) | Kind::ApplicationKey(_) | Kind::Plain => return Ok(false),
    }
    Ok(true)
}

/// Text of a typed cell.
fn cell_text(value: Option<&Json>) -> String {
    match value {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Moves the `Settings` and `UserExtensions` tables of a user into its typed fields.
fn consume_user_tables(user: &mut User, tables: &mut Vec<ConfigurationTable>) {
    tables.retain_mut(|table| match table.name.as_str() {
        "Settings" => {
            user.language_preferences =
                cell_text(table.rows.first().and_then(|r| r.get("language")));
            false
        }
        "UserExtensions" => {
            for row in &table.rows {
                user.extensions.push(ExtensionValue {
                    name: cell_text(row.get("name")),
                    value: cell_text(row.get("value")),
                    last_update_time: match row.get("lastUpdateTime") {
                        Some(Json::Number(n)) => n.as_i64().unwrap_or(0),
                        Some(Json::String(s)) => parse_date(s).unwrap_or(0),
                        _ => 0,
                    },
                });
            }
            false
        }
        _ => true,
    });
}

/// Converts one collected entity element.
fn convert_entity(
    node: Node<'_>,
    enclosing: Collection,
    file: &str,
    universal_password: bool,
    notes: &mut Vec<Note>,
) -> Result<Entity, ImportError> {
    let element = node.name();
    let collection = match Collection::from_element_name(element) {
        Some(c) => c,
        None => enclosing,
    };
    let name = node.attr_str("name");
    let mut ctx = Ctx::new(file, Label::Entity(collection, name), node.line(), notes);
    if name.is_empty() {
        return Err(xml_error(
            file,
            node.line(),
            &format!("<{element}> in <{enclosing}> has no name attribute"),
        ));
    }
    if collection != enclosing {
        ctx.note(format!(
            "<{element}> found inside <{enclosing}>; read as part of {collection}"
        ));
    } else if element != collection.element_name() {
        ctx.note(format!(
            "<{element}> inside <{enclosing}>: expected <{}>",
            collection.element_name()
        ));
    }

    let mut common = Common::default();
    let mut kind = kind_for(collection);
    let mut extra = Extra::new();
    let mut password = PasswordHash::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => {}
            "description" => common.description = value.to_owned(),
            "documentationContent" => common.documentation_content = value.to_owned(),
            "tags" => common.tags = value.to_owned(),
            "projectName" => common.project_name = value.to_owned(),
            "homeMashup" => common.home_mashup = value.to_owned(),
            "lastModifiedDate" => {
                common.last_modified_date = parse_date_attr(&mut ctx, element, key, value);
            }
            _ => {
                if let Some(aspect) = key.strip_prefix("aspect.") {
                    common
                        .aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                } else if !kind_attr(&mut ctx, &mut kind, &mut password, element, key, value) {
                    let (key, value) = extras::from_xml_attribute(key, value);
                    extra.insert(key, value);
                }
            }
        }
    }

    let mut rules = Vec::new();
    let mut configuration_tables = Vec::new();
    let mut property_values = None;
    let mut connections = None;
    let mut units_node = None;
    let instance_allowed = collection.has_instance_permissions();
    for child in node.children() {
        let child_name = child.name();
        if let Some((category, instance)) = block_of(child_name)
            && (!instance || instance_allowed)
        {
            let mut plain = Vec::new();
            read_block(&mut ctx, child, category, &mut plain)?;
            push_entity_rules(&mut rules, plain, instance);
            continue;
        }
        match child_name {
            "Owner" => {
                common.owner = Some((
                    child.attr_str("type").to_owned(),
                    child.attr_str("name").to_owned(),
                ));
            }
            "avatar" => common.avatar = child.text().to_owned(),
            "ConfigurationTables" => {
                configuration_tables.extend(read_config_tables(&mut ctx, child));
            }
            _ => {
                match child_name {
                    "ThingProperties" => property_values = Some(child),
                    "Connections" => connections = Some(child),
                    "OrganizationalUnits" => units_node = Some(child),
                    _ => {}
                }
                // Even an empty element (`<PropertyBindings/>`) is kept, so it is written back.
                if !kind_child(&mut ctx, &mut kind, child, &mut extra)? {
                    keep_element(&mut extra, child);
                }
            }
        }
    }

    match &mut kind {
        Kind::Thing(thing) => {
            if let Some(list) = property_values {
                thing.values = read_property_values(&mut ctx, list, &thing.definitions);
            }
        }
        Kind::User(user) => {
            user.password = (!universal_password && !password.hash.is_empty()).then_some(password);
            consume_user_tables(user, &mut configuration_tables);
        }
        Kind::Organization(org) => {
            org.units = read_units(&mut ctx, name, connections, units_node)?;
        }
        _ => {}
    }

    Ok(Entity {
        collection,
        name: name.to_owned(),
        common,
        rules,
        configuration_tables,
        kind,
        extra,
        origin: Origin {
            file: file.to_owned(),
            line: Some(node.line()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_dates_agree_with_the_general_parser() {
        for text in [
            "2019-11-26T09:43:27.449Z",
            "2018-07-10T08:40:18.709+02:00",
            "2018-04-02T08:31:56.081-04:00",
            "1970-01-01T00:00:00.000Z",
            "1970-01-01T01:00:00.000+01:00",
            "1969-12-31T23:59:59.999Z",
            "1900-02-28T12:00:00.5Z",
            "2000-02-29T23:59:59.123456789Z",
            "2024-12-31T23:59:59Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999+14:00",
        ] {
            assert_eq!(
                fast_date(text.as_bytes()),
                values::parse_date(text),
                "{text}"
            );
            assert!(fast_date(text.as_bytes()).is_some(), "{text}");
        }
        for text in [
            "2019-02-29T00:00:00.000Z",
            "2019-13-01T00:00:00.000Z",
            "2019-01-01T24:00:00.000Z",
            "2019-01-01T00:00:00.Z",
            "2019-01-01 00:00:00.000Z",
            "2019-01-01T00:00:00.000",
            "2019-01-01T00:00:00.000+0200",
        ] {
            assert_eq!(fast_date(text.as_bytes()), None, "{text}");
            assert_eq!(parse_date(text), values::parse_date(text), "{text}");
        }
    }

    #[test]
    fn newlines_are_counted_exactly() {
        let text: Vec<u8> = b"a\nb\n\n\xff\n\n\n\n\n\n\n\n\nxyz\x8a\x0b\n"
            .iter()
            .copied()
            .cycle()
            .take(700)
            .collect();
        for start in 0..text.len() {
            let bytes = &text[start..];
            let naive = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_newlines(bytes), naive, "from {start}");
        }
    }

    #[test]
    fn padding_is_stripped_exactly() {
        assert_eq!(strip_cdata_padding("\n    value\n    "), "value");
        assert_eq!(strip_cdata_padding("value"), "value");
        assert_eq!(strip_cdata_padding("\n  a\n    b\n  "), "a\n  b");
        assert_eq!(strip_cdata_padding("\n  a\n  \n  b\n  "), "a\n\nb");
        assert_eq!(strip_cdata_padding("\n    "), "");
        assert_eq!(strip_cdata_padding("\n  a"), "\n  a");
        assert_eq!(strip_cdata_padding("\n    \n    "), "");
    }

    fn read(text: &str) -> Result<Export, ImportError> {
        read_xml(text.as_bytes(), "t.xml", &Limits::default())
    }

    #[test]
    fn text_layouts() {
        let doc = "<Entities><Things><Thing name=\"T\" description=\"a&amp;b&#10;c\">\n\
                   <avatar>\n  <![CDATA[\n  x&lt;\n  ]]>\n  </avatar>\n\
                   <Extra1><![CDATA[  keep  ]]></Extra1><Extra2>a &lt; b</Extra2>\
                   </Thing></Things></Entities>";
        let export = read(doc).expect("read");
        let thing = &export.entities[0];
        assert_eq!(thing.common.description, "a&b\nc");
        assert_eq!(thing.common.avatar, "x&lt;");
        assert_eq!(thing.extra["extra1"], "  keep  ");
        assert_eq!(thing.extra["extra2"], "a < b");
        assert_eq!(thing.origin.line, Some(1));
    }

    #[test]
    fn refusals() {
        let err = read("<!DOCTYPE x [<!ENTITY a \"b\">]><Entities/>").expect_err("doctype");
        assert!(err.to_string().contains("DOCTYPE"), "{err}");
        let err = read("<Entities><Things><Thing name=\"&zz;\"/></Things></Entities>")
            .expect_err("entity");
        assert!(matches!(err, ImportError::Xml { .. }), "{err}");
        let err = read("<Entities><Things><Thing name=\"a\" x=\"1\" x=\"2\"/></Things></Entities>")
            .expect_err("duplicate");
        assert!(err.to_string().contains("duplicate attribute 'x'"), "{err}");
        let err = read("<Root/>").expect_err("root");
        assert!(err.to_string().contains("<Root>"), "{err}");
    }
}
