//! Kept extras written as the elements of their XML form.

use super::*;

/// An element of the XML form of a kept extra ([`extras::to_xml`]).
pub(super) fn kept_element<W: Write>(
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
