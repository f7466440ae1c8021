//! The compact subtree of one entity (or one collection of a permission file), built from lexer
//! events.

use super::*;

// ------------------------------------------------------------------------------------------
// The compact subtree of one entity.
// ------------------------------------------------------------------------------------------

pub(super) const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Default)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct NodeData {
    pub(super) name: Span,
    pub(super) attrs_start: usize,
    pub(super) attrs_end: usize,
    pub(super) text: Span,
    pub(super) first_child: usize,
    pub(super) last_child: usize,
    pub(super) next_sibling: usize,
    pub(super) line: u64,
}

/// One entity's subtree: every name, value and text in one string, nodes in document order.
#[derive(Default)]
pub(super) struct Tree {
    pub(super) strings: String,
    pub(super) nodes: Vec<NodeData>,
    pub(super) attrs: Vec<(Span, Span)>,
}

impl Tree {
    pub(super) fn clear(&mut self) {
        self.strings.clear();
        self.nodes.clear();
        self.attrs.clear();
    }

    pub(super) fn push_str(&mut self, s: &str) -> Span {
        let start = self.strings.len();
        self.strings.push_str(s);
        Span {
            start,
            end: self.strings.len(),
        }
    }

    pub(super) fn str(&self, span: Span) -> &str {
        self.strings.get(span.start..span.end).unwrap_or("")
    }

    pub(super) fn root(&self) -> Node<'_> {
        Node { tree: self, idx: 0 }
    }
}

/// A view of one element of a [`Tree`].
#[derive(Clone, Copy)]
pub(super) struct Node<'t> {
    pub(super) tree: &'t Tree,
    pub(super) idx: usize,
}

impl<'t> Node<'t> {
    pub(super) fn data(self) -> &'t NodeData {
        &self.tree.nodes[self.idx]
    }

    pub(super) fn name(self) -> &'t str {
        self.tree.str(self.data().name)
    }

    pub(super) fn text(self) -> &'t str {
        self.tree.str(self.data().text)
    }

    pub(super) fn line(self) -> u64 {
        self.data().line
    }

    pub(super) fn attrs(self) -> impl Iterator<Item = (&'t str, &'t str)> + 't {
        let tree = self.tree;
        let data = self.data();
        tree.attrs[data.attrs_start..data.attrs_end]
            .iter()
            .map(move |(k, v)| (tree.str(*k), tree.str(*v)))
    }

    pub(super) fn attr(self, key: &str) -> Option<&'t str> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub(super) fn attr_str(self, key: &str) -> &'t str {
        self.attr(key).unwrap_or("")
    }

    pub(super) fn children(self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.data().first_child,
        }
    }

    pub(super) fn child(self, name: &str) -> Option<Node<'t>> {
        self.children().find(|c| c.name() == name)
    }

    pub(super) fn has_children(self) -> bool {
        self.data().first_child != NONE
    }

    /// Whether the element carries anything at all.
    pub(super) fn is_empty(self) -> bool {
        let data = self.data();
        data.first_child == NONE && data.attrs_start == data.attrs_end && self.text().is_empty()
    }
}

pub(super) struct Children<'t> {
    pub(super) tree: &'t Tree,
    pub(super) next: usize,
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
pub(super) struct TextScratch {
    pub(super) text: String,
    /// Where the current run of text (since the last CDATA section or child) starts.
    pub(super) run_start: usize,
    /// The current run holds a reference, so it is content even when it reads as whitespace.
    pub(super) run_explicit: bool,
    pub(super) saw_cdata: bool,
    pub(super) has_children: bool,
}

impl TextScratch {
    pub(super) fn reset(&mut self) {
        self.text.clear();
        self.run_start = 0;
        self.run_explicit = false;
        self.saw_cdata = false;
        self.has_children = false;
    }

    /// Whether the current run is layout whitespace (no reference, only blanks).
    pub(super) fn run_is_layout(&self) -> bool {
        !self.run_explicit && is_blank(&self.text[self.run_start..])
    }

    pub(super) fn drop_layout_run(&mut self) {
        if self.run_is_layout() {
            self.text.truncate(self.run_start);
        }
    }

    pub(super) fn new_run(&mut self) {
        self.run_start = self.text.len();
        self.run_explicit = false;
    }
}

/// Builds a [`Tree`] from events; its buffers are reused from one entity to the next.
#[derive(Default)]
pub(super) struct Builder {
    pub(super) tree: Tree,
    pub(super) stack: Vec<usize>,
    pub(super) scratch: Vec<TextScratch>,
}

impl Builder {
    /// The memory the tree being built takes, with the text not yet placed in it.
    pub(super) fn memory(&self) -> usize {
        let tree = &self.tree;
        let scratch: usize = self.scratch.iter().map(|s| s.text.capacity()).sum();
        tree.strings.capacity()
            + tree.nodes.capacity() * std::mem::size_of::<NodeData>()
            + tree.attrs.capacity() * std::mem::size_of::<(Span, Span)>()
            + scratch
    }

    pub(super) fn begin(&mut self) {
        self.tree.clear();
        self.stack.clear();
    }

    pub(super) fn open(&mut self, e: &BytesStart<'_>, line: u64) -> Result<(), String> {
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
    pub(super) fn check_duplicates(&self, start: usize, end: usize) -> Result<(), String> {
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

    pub(super) fn current(&mut self) -> Option<&mut TextScratch> {
        let depth = self.stack.len().checked_sub(1)?;
        self.scratch.get_mut(depth)
    }

    pub(super) fn text(&mut self, text: &str) {
        if let Some(scratch) = self.current() {
            scratch.text.push_str(text);
        }
    }

    pub(super) fn reference(&mut self, reference: &BytesRef<'_>) -> Result<(), String> {
        if let Some(scratch) = self.current() {
            resolve_reference(reference, &mut scratch.text)?;
            scratch.run_explicit = true;
        }
        Ok(())
    }

    pub(super) fn cdata(&mut self, content: &str) {
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

    pub(super) fn close(&mut self) {
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
