//! The document structure: the root, collections and entities, each collected into a subtree and
//! converted.

use super::*;

// ------------------------------------------------------------------------------------------
// Document structure.
// ------------------------------------------------------------------------------------------

/// Starts collecting the element just read at `depth` into a fresh tree.
pub(super) fn begin_subtree(
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

pub(super) struct DocReader<'a, R> {
    pub(super) lexer: &'a mut Lexer<R>,
    pub(super) builder: &'a mut Builder,
    pub(super) file: &'a str,
    pub(super) max_depth: usize,
    /// The most memory one entity's tree may take ([`Builder::memory`]).
    pub(super) max_tree_bytes: usize,
    pub(super) universal_password: bool,
    /// Where each entity goes once read.
    pub(super) sink: &'a mut dyn FnMut(Entity) -> Result<(), ImportError>,
}

impl<R: BufRead> DocReader<'_, R> {
    /// Reads the rest of the subtree whose root element the builder has open; `base_depth` is
    /// the document depth of that root.
    pub(super) fn collect_rest(&mut self, base_depth: usize) -> Result<(), ImportError> {
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
    pub(super) fn entities_root(&mut self, export: &mut Export) -> Result<(), ImportError> {
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
    pub(super) fn collection(
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
    pub(super) fn collections_root(&mut self, export: &mut Export) -> Result<(), ImportError> {
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
