//! The XML writer itself: layouts, attributes in ThingWorx's order, text and CDATA escaping, XML
//! names.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Layout A: one compact file.
    File,
    /// Layout B: one pretty-printed file per entity.
    Storage,
}

/// How a text is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TextMode {
    /// Escaped text.
    Plain,
    /// CDATA (padded in layout B).
    Cdata,
}

/// Attributes of one element; sorted and deduplicated (first wins) when written.
pub(super) struct Attrs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Attrs<'a> {
    pub(super) fn new() -> Self {
        Attrs(Vec::new())
    }

    pub(super) fn push(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) -> &mut Self {
        self.0.push((name, value));
        self
    }

    pub(super) fn s(&mut self, name: &'static str, value: &'a str) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Borrowed(value))
    }

    pub(super) fn b(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.s(name, if value { "true" } else { "false" })
    }

    pub(super) fn i(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Owned(value.to_string()))
    }

    pub(super) fn date(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.push(Cow::Borrowed(name), Cow::Owned(format_date(value)))
    }

    pub(super) fn aspects(&mut self, aspects: &Map<String, Json>) -> &mut Self {
        for (name, value) in aspects {
            self.push(
                Cow::Owned(format!("aspect.{name}")),
                Cow::Owned(aspect_to_text(value)),
            );
        }
        self
    }
}

pub(super) const SPACES: &[u8] = &[b' '; 256];
pub(super) const FLUSH_AT: usize = 1 << 16;

/// A buffered XML writer, compact (layout A) or pretty (layouts B and C).
pub(super) struct Xml<W: Write> {
    pub(super) out: W,
    pub(super) buf: Vec<u8>,
    pub(super) pretty: bool,
    /// One entry per open element: whether it has child elements.
    pub(super) stack: Vec<bool>,
    /// Compact layout: the last start tag still lacks its `>`.
    pub(super) pending: bool,
}

impl<W: Write> Xml<W> {
    pub(super) fn new(out: W, pretty: bool) -> Self {
        Xml {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            pretty,
            stack: Vec::with_capacity(32),
            pending: false,
        }
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(super) fn indent(&mut self, depth: usize) {
        let mut n = depth * 4;
        while n > 0 {
            let step = n.min(SPACES.len());
            self.buf.extend_from_slice(&SPACES[..step]);
            n -= step;
        }
    }

    pub(super) fn close_pending(&mut self) {
        if self.pending {
            self.buf.push(b'>');
            self.pending = false;
        }
    }

    pub(super) fn start(&mut self, name: &str, mut attrs: Attrs<'_>) {
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

    pub(super) fn end(&mut self, name: &str) {
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
    pub(super) fn leaf(&mut self, name: &str, attrs: Attrs<'_>) {
        self.start(name, attrs);
        self.end(name);
    }

    /// The text of the element just opened.
    pub(super) fn text(&mut self, text: &str, mode: TextMode) {
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
    pub(super) fn text_leaf(&mut self, name: &str, attrs: Attrs<'_>, text: &str, mode: TextMode) {
        self.start(name, attrs);
        self.text(text, mode);
        self.end(name);
    }

    pub(super) fn flush_if_full(&mut self) -> Result<(), ImportError> {
        if self.buf.len() >= FLUSH_AT {
            self.out
                .write_all(&self.buf)
                .map_err(|e| ImportError::io("<output>", e))?;
            self.buf.clear();
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(), ImportError> {
        self.out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush())
            .map_err(|e| ImportError::io("<output>", e))
    }
}

/// Whether a text may be written as CDATA: no carriage return, no other control character.
pub(super) fn cdata_safe(text: &str) -> bool {
    !text.bytes().any(|b| b < 0x20 && b != b'\n' && b != b'\t')
}

pub(super) fn cdata_body(buf: &mut Vec<u8>, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find("]]>") {
        buf.extend_from_slice(&rest.as_bytes()[..at + 2]);
        buf.extend_from_slice(b"]]><![CDATA[");
        rest = &rest[at + 2..];
    }
    buf.extend_from_slice(rest.as_bytes());
}

pub(super) fn escape_text(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, false);
}

pub(super) fn escape_attr(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, true);
}

pub(super) fn escape(buf: &mut Vec<u8>, text: &str, attribute: bool) {
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
pub(super) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

pub(super) fn invalid(entity: &Entity, message: String) -> ImportError {
    ImportError::Invalid {
        origin: entity.origin.clone(),
        entity: entity.path(),
        message,
    }
}

pub(super) fn check_name(entity: &Entity, name: &str, what: &str) -> Result<(), ImportError> {
    if is_xml_name(name) {
        Ok(())
    } else {
        Err(invalid(
            entity,
            format!("the {what} '{name}' is not an XML name and cannot be written as an element"),
        ))
    }
}
