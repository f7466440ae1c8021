//! Escaping text for XML and HTML: one escaper for every document the server writes by hand
//! (InfoTables as XML or HTML, JUnit reports of `verify`).

/// `text` with `&`, `<`, `>`, `"` and `'` escaped (XML and HTML alike); a control character
/// other than a newline, carriage return or tab (not allowed in XML 1.0) becomes U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match reference(c) {
            Some(reference) => out.push_str(reference),
            None => out.push(c),
        }
    }
    out
}

/// What stands for `c` in escaped text, `None` when `c` stands for itself.
fn reference(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        '\n' | '\r' | '\t' => None,
        c if c.is_control() => Some("&#xFFFD;"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_replaces_control_characters() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1}\n\r\té"),
            "a&lt;b&gt;&amp;&quot;c&quot; &#39;d&#39;&#xFFFD;\n\r\té"
        );
    }
}
