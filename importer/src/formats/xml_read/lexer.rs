//! Lexing: quick-xml events with line tracking, references, CDATA padding and the errors they
//! raise.

use super::*;

// ------------------------------------------------------------------------------------------
// Lexing: quick-xml events with line tracking.
// ------------------------------------------------------------------------------------------

/// The event reader, with the line of the next unread byte.
pub(super) struct Lexer<R> {
    pub(super) reader: Reader<R>,
    pub(super) buf: Vec<u8>,
    /// 1-based line where the event being read starts.
    pub(super) line: u64,
}

impl<R: BufRead> Lexer<R> {
    pub(super) fn new(input: R) -> Self {
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
    pub(super) fn next(&mut self) -> Result<(Event<'_>, u64), quick_xml::Error> {
        self.line += count_newlines(&self.buf);
        self.buf.clear();
        let line = self.line;
        self.reader
            .read_event_into(&mut self.buf)
            .map(|event| (event, line))
    }

    /// The error of a failed [`Lexer::next`], with the line where the reader stopped.
    pub(super) fn fail(&self, file: &str, err: quick_xml::Error) -> ImportError {
        let line = self.line + count_newlines(&self.buf);
        xml_error(file, line, &describe_xml_error(&err))
    }
}

pub(super) fn count_newlines(bytes: &[u8]) -> u64 {
    // Counted in blocks whose byte sums fit a `u8`, which compiles to vector compares.
    let mut count = 0u64;
    let mut blocks = bytes.chunks_exact(128);
    for block in &mut blocks {
        let n: u8 = block.iter().map(|&b| u8::from(b == b'\n')).sum();
        count += u64::from(n);
    }
    count + count_newlines_swar(blocks.remainder())
}

pub(super) fn count_newlines_swar(bytes: &[u8]) -> u64 {
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

pub(super) fn describe_xml_error(err: &quick_xml::Error) -> String {
    match err {
        quick_xml::Error::Escape(e) => format!("bad entity or character reference: {e}"),
        other => format!("malformed XML: {other}"),
    }
}

pub(super) fn xml_error(file: &str, line: u64, message: &str) -> ImportError {
    ImportError::Xml {
        origin: Origin {
            file: file.to_owned(),
            line: Some(line),
        },
        message: message.to_owned(),
    }
}

pub(super) fn doctype_error(file: &str, line: u64) -> ImportError {
    xml_error(
        file,
        line,
        "DOCTYPE declarations are refused: ThingWorx exports have none, and a DTD can define \
         entity expansions (billion laughs)",
    )
}

pub(super) fn depth_error(file: &str, line: u64, limit: usize) -> ImportError {
    ImportError::Limit {
        file: file.to_owned(),
        what: format!("the element nesting depth at line {line}"),
        limit: limit as u64,
    }
}

pub(super) fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The attributes of an element as owned pairs (the root header).
pub(super) fn attributes_owned(
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
pub(super) fn resolve_reference(reference: &BytesRef<'_>, out: &mut String) -> Result<(), String> {
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
pub(super) fn strip_cdata_padding(content: &str) -> std::borrow::Cow<'_, str> {
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
