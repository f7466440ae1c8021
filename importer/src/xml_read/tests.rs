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
    let err =
        read("<Entities><Things><Thing name=\"&zz;\"/></Things></Entities>").expect_err("entity");
    assert!(matches!(err, ImportError::Xml { .. }), "{err}");
    let err = read("<Entities><Things><Thing name=\"a\" x=\"1\" x=\"2\"/></Things></Entities>")
        .expect_err("duplicate");
    assert!(err.to_string().contains("duplicate attribute 'x'"), "{err}");
    let err = read("<Root/>").expect_err("root");
    assert!(err.to_string().contains("<Root>"), "{err}");
}
