//! Owns the format-neutral form of what the model has no field for (an entity's [`Extra`]) and
//! its conversion from and to ThingWorx XML.
//!
//! # The neutral form
//!
//! An extra is keyed by the name ThingWorx's `.twx` gives the property (`configurationChanges`,
//! `columns`, `remotePropertyBindings`, `mashupContent`) and holds the value typed as the `.twx`
//! holds it: arrays, objects keyed by name, numbers, booleans, dates as epoch milliseconds,
//! `aspects` objects. The `.twx` reader and writer use it as it is. A key that starts with `/` or
//! `-/` is a difference of the entity's `.twx` tree below its top level (see
//! [`crate::twx_tree`]); XML has no place for those and its writer leaves them out.
//!
//! # XML
//!
//! The XML reader hands over each attribute of an entity the model has no field for, and each
//! such child element in the generic element form of [`crate::model::element_json`];
//! [`from_xml_attribute`] and [`from_xml_element`] convert them, and [`to_xml`] gives the XML of
//! a neutral extra back:
//!
//! - attributes keep their name; `columns` and `rows` are numbers, `lockedTime` a date;
//! - the elements of [`KNOWN`] convert by their shape: a list of records
//!   (`<ConfigurationChanges><ConfigurationChange …/>` → an array of objects), records keyed by
//!   name (bindings, `ParameterDefinitions` → an object keyed by each record's `name`), names
//!   (`<Things><Thing>A</Thing>` → `["A"]`), groups of records keyed by name
//!   (`<AlertConfigurations><AlertDefinitions name="p"><AlertDefinition …/>` → `{"p": […]}`),
//!   named texts (`<PersistentValues><PersistentValue name="n">text` → `{"n": "text"}`) and
//!   texts (`<content>` → a string; `<mashupContent>` holds JSON, written compact);
//! - a record is an object of its attributes (`aspect.*` attributes gathered in `aspects`, typed
//!   as aspects are; `timestamp` a date; `ordinal`, `timeout` and `priority` integers;
//!   `pushThreshold` a number; `enabled` a boolean; the others strings) and its children under
//!   their lower-camel names (a child with only text is that text; a repeated child an array),
//!   with its own text, if any, under `#text`;
//! - any other element converts as a record under its lower-camel name, or as its text when it
//!   has nothing else.
//!
//! Going back, a scalar extra is an attribute of the entity unless [`KNOWN`] names it a text
//! element; an object or array becomes the element [`KNOWN`] names for its key (by its shape),
//! or else an element named by the key with its first letter raised, holding the record.
//! Text that does not fit the type a name calls for stays a string, so nothing is lost.

use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Value as Json};

use crate::model::Extra;
use crate::values;

/// How a known element holds its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Its text: a string.
    Text,
    /// Its text holding a JSON document: the document written compact, as ThingWorx's `.twx`
    /// holds it (its XML pretty-prints it; the text is kept as it is when it is not JSON).
    JsonText,
    /// Records, one `item` element each: an array of objects.
    List(&'static str),
    /// Records keyed by their `name`: an object of objects (an array when names are missing or
    /// repeat). `aspects` says whether each record always carries an `aspects` object.
    Named { item: &'static str, aspects: bool },
    /// `item` elements holding a name as their text: an array of strings.
    Names(&'static str),
    /// `group` elements with a `name`, each holding `item` records: an object of arrays.
    Groups {
        group: &'static str,
        item: &'static str,
    },
    /// `item` elements with a `name` and a text: an object of strings.
    Texts(&'static str),
}

/// An element the neutral form knows by name.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    /// The XML element.
    pub element: &'static str,
    /// The neutral key (the `.twx` name).
    pub key: &'static str,
    /// Its shape.
    pub shape: Shape,
}

const fn known(element: &'static str, key: &'static str, shape: Shape) -> Known {
    Known {
        element,
        key,
        shape,
    }
}

/// The elements ThingWorx writes for what the model has no field for.
pub const KNOWN: &[Known] = &[
    known(
        "ConfigurationChanges",
        "configurationChanges",
        Shape::List("ConfigurationChange"),
    ),
    known(
        "ConfigurationTableDefinitions",
        "configurationTableDefinitions",
        Shape::Named {
            item: "ConfigurationTableDefinition",
            aspects: false,
        },
    ),
    known(
        "PropertyBindings",
        "propertyBindings",
        Shape::Named {
            item: "PropertyBinding",
            aspects: false,
        },
    ),
    known(
        "LocalPropertyBindings",
        "localPropertyBindings",
        Shape::Named {
            item: "LocalPropertyBinding",
            aspects: false,
        },
    ),
    known(
        "RemotePropertyBindings",
        "remotePropertyBindings",
        Shape::Named {
            item: "RemotePropertyBinding",
            aspects: false,
        },
    ),
    known(
        "RemoteServiceBindings",
        "remoteServiceBindings",
        Shape::Named {
            item: "RemoteServiceBinding",
            aspects: false,
        },
    ),
    known(
        "RemoteEventBindings",
        "remoteEventBindings",
        Shape::Named {
            item: "RemoteEventBinding",
            aspects: false,
        },
    ),
    known(
        "ParameterDefinitions",
        "parameterDefinitions",
        Shape::Named {
            item: "FieldDefinition",
            aspects: true,
        },
    ),
    known(
        "AlertConfigurations",
        "alertConfigurations",
        Shape::Groups {
            group: "AlertDefinitions",
            item: "AlertDefinition",
        },
    ),
    known("Things", "things", Shape::Names("Thing")),
    known("ThingShapes", "thingShapes", Shape::Names("ThingShape")),
    known(
        "ThingTemplates",
        "thingTemplates",
        Shape::Names("ThingTemplate"),
    ),
    known(
        "PersistentValues",
        "persistentValues",
        Shape::Texts("PersistentValue"),
    ),
    known("mashupContent", "mashupContent", Shape::JsonText),
    known("content", "content", Shape::Text),
    known("preview", "preview", Shape::Text),
];

fn by_element(element: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.element == element)
}

fn by_key(key: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.key == key)
}

/// The base type a named scalar has in the `.twx` form, where it is not a string.
fn scalar_type(name: &str, in_record: bool) -> Option<BaseType> {
    match name {
        "columns" | "rows" | "pushThreshold" => Some(BaseType::Number),
        "lockedTime" | "timestamp" => Some(BaseType::Datetime),
        "ordinal" | "timeout" | "priority" if in_record => Some(BaseType::Integer),
        "enabled" if in_record => Some(BaseType::Boolean),
        _ => None,
    }
}

/// A scalar's text typed by its name (a string when the name calls for none or it does not fit).
fn typed(name: &str, text: &str, in_record: bool) -> Json {
    scalar_type(name, in_record)
        .and_then(|base_type| values::from_text(base_type.as_str(), text).ok())
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| Json::String(text.to_owned()))
}

/// A scalar as XML text, typed by its name (the inverse of [`typed`]).
fn text_of(name: &str, value: &Json, in_record: bool) -> String {
    let base_type = scalar_type(name, in_record).unwrap_or(BaseType::String);
    values::to_text(base_type.as_str(), value)
}

/// `ConfigurationChanges` → `configurationChanges`.
pub fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn upper_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The neutral form of an entity attribute the model has no field for.
pub fn from_xml_attribute(name: &str, text: &str) -> (String, Json) {
    (name.to_owned(), typed(name, text, false))
}

/// The neutral form of a child element of an entity the model has no field for, given in the
/// generic form of [`crate::model::element_json`].
pub fn from_xml_element(name: &str, element: &Json) -> (String, Json) {
    match by_element(name) {
        Some(known) => (known.key.to_owned(), by_shape(known.shape, element)),
        None => (lower_camel(name), loose(element)),
    }
}

fn attributes(element: &Json) -> impl Iterator<Item = (&str, &str)> {
    element
        .get("attributes")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
}

fn children(element: &Json) -> impl Iterator<Item = &Json> {
    element
        .get("children")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
}

fn text(element: &Json) -> &str {
    element
        .get("text")
        .and_then(Json::as_str)
        .unwrap_or_default()
}

fn child_name(child: &Json) -> &str {
    child.get("name").and_then(Json::as_str).unwrap_or_default()
}

fn attribute<'e>(element: &'e Json, name: &str) -> Option<&'e str> {
    attributes(element)
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_bare(element: &Json) -> bool {
    attributes(element).next().is_none() && children(element).next().is_none()
}

/// An element of no known shape: its text when it holds nothing else, else a record.
fn loose(element: &Json) -> Json {
    if let Json::Array(items) = element {
        return Json::Array(items.iter().map(loose).collect());
    }
    if is_bare(element) {
        Json::String(text(element).to_owned())
    } else {
        record(element, false)
    }
}

fn by_shape(shape: Shape, element: &Json) -> Json {
    if let Json::Array(items) = element {
        // A repeated element: each converts alone, in an array.
        return Json::Array(items.iter().map(|i| by_shape(shape, i)).collect());
    }
    match shape {
        Shape::Text => Json::String(text(element).to_owned()),
        Shape::JsonText => {
            let text = text(element);
            let compact = serde_json::from_str::<Json>(text)
                .ok()
                .filter(|doc| doc.is_object() || doc.is_array())
                .map(|doc| doc.to_string());
            Json::String(compact.unwrap_or_else(|| text.to_owned()))
        }
        Shape::List(item) => Json::Array(
            children(element)
                .map(|c| {
                    let mut r = record(c, false);
                    omit_empty(item, &mut r);
                    r
                })
                .collect(),
        ),
        Shape::Named { aspects, .. } => {
            named(children(element).map(|c| record(c, aspects)).collect())
        }
        Shape::Names(_) => Json::Array(
            children(element)
                .map(|c| Json::String(text(c).to_owned()))
                .collect(),
        ),
        Shape::Groups { .. } => {
            let mut out = Map::new();
            for group in children(element) {
                let name = attribute(group, "name").unwrap_or_default().to_owned();
                let items = children(group).map(|c| record(c, false)).collect();
                out.insert(name, Json::Array(items));
            }
            Json::Object(out)
        }
        Shape::Texts(_) => {
            let mut out = Map::new();
            for item in children(element) {
                let name = attribute(item, "name").unwrap_or_default().to_owned();
                out.insert(name, Json::String(text(item).to_owned()));
            }
            Json::Object(out)
        }
    }
}

/// Attributes ThingWorx's XML writes empty and its `.twx` leaves out when empty, by record.
const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[("ConfigurationChange", "changeReason")];

fn omit_empty(item: &str, record: &mut Json) {
    for (owner, key) in OMITTED_WHEN_EMPTY {
        if *owner == item
            && let Json::Object(fields) = record
            && fields.get(*key).and_then(Json::as_str) == Some("")
        {
            fields.shift_remove(*key);
        }
    }
}

fn restore_empty(element: &mut Element) {
    for (owner, key) in OMITTED_WHEN_EMPTY {
        if *owner == element.name && !element.attributes.iter().any(|(k, _)| k == key) {
            element.attributes.push(((*key).to_owned(), String::new()));
        }
    }
}

/// Records keyed by their names; an array when a name is missing or repeats.
fn named(records: Vec<Json>) -> Json {
    let mut out = Map::new();
    for r in &records {
        match r.get("name").and_then(Json::as_str) {
            Some(name) if !out.contains_key(name) => {
                out.insert(name.to_owned(), r.clone());
            }
            _ => return Json::Array(records),
        }
    }
    Json::Object(out)
}

/// A record: attributes, `aspects`, children and text (see the module documentation).
fn record(element: &Json, with_aspects: bool) -> Json {
    let mut out = Map::new();
    let mut aspects = Map::new();
    for (key, value) in attributes(element) {
        match key.strip_prefix("aspect.") {
            Some(aspect) => {
                aspects.insert(aspect.to_owned(), values::aspect(aspect, value));
            }
            None => {
                out.insert(key.to_owned(), typed(key, value, true));
            }
        }
    }
    if with_aspects || !aspects.is_empty() {
        out.insert("aspects".into(), Json::Object(aspects));
    }
    for child in children(element) {
        let key = lower_camel(child_name(child));
        let value = loose(child);
        match out.get_mut(&key) {
            Some(Json::Array(list)) if key != "aspects" => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    if !text(element).is_empty() {
        out.insert("#text".into(), Json::String(text(element).to_owned()));
    }
    Json::Object(out)
}

/// Extras in the form databases written before the neutral form hold them (`@attribute` and
/// `<Element>` keys), converted; neutral keys are kept as they are.
pub fn normalize(extra: Extra) -> Extra {
    if !extra
        .keys()
        .any(|k| k.starts_with('@') || k.starts_with('<'))
    {
        return extra;
    }
    let mut out = Extra::new();
    for (key, value) in extra {
        if let Some(name) = key.strip_prefix('@') {
            let (k, v) = from_xml_attribute(name, value.as_str().unwrap_or_default());
            out.insert(k, v);
        } else if key == "<ThingShape>" {
            for child in children(&value) {
                let (k, v) = nested_shape_part(child_name(child), child);
                out.insert(k, v);
            }
        } else if let Some(name) = key.strip_prefix('<').and_then(|k| k.strip_suffix('>')) {
            let (k, v) = from_xml_element(name, &value);
            out.insert(k, v);
        } else {
            out.insert(key, value);
        }
    }
    out
}

/// The neutral form of a child of a Thing's or ThingTemplate's nested `<ThingShape>` that the
/// model has no field for: a pointer key below `thingShape` (see [`crate::twx_tree`]).
pub fn nested_shape_part(name: &str, element: &Json) -> (String, Json) {
    let (key, value) = from_xml_element(name, element);
    (format!("{NESTED_SHAPE}{key}"), value)
}

/// The pointer prefix of extras that live in the nested `thingShape` of a Thing or template.
pub const NESTED_SHAPE: &str = "/thingShape/";

// ---------------------------------------------------------------------------------------------
// Back to XML
// ---------------------------------------------------------------------------------------------

/// An XML element built from a neutral extra.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    /// Its name.
    pub name: String,
    /// Its attributes, in order.
    pub attributes: Vec<(String, String)>,
    /// Its text (written as CDATA), if any.
    pub text: Option<String>,
    /// Its children.
    pub children: Vec<Element>,
}

/// How a neutral extra is written in XML.
#[derive(Clone, Debug, PartialEq)]
pub enum Xml {
    /// An attribute of the entity, with its text.
    Attribute(String),
    /// Child elements of the entity (a repeated element when a value is an array of records).
    Elements(Vec<Element>),
    /// Nothing: a difference of the `.twx` tree (a pointer key).
    None,
}

/// The XML of one neutral extra.
pub fn to_xml(key: &str, value: &Json) -> Xml {
    if key.starts_with('/') || key.starts_with("-/") {
        return Xml::None;
    }
    if let Some(known) = by_key(key) {
        return Xml::Elements(shaped(known, value));
    }
    match value {
        Json::Object(_) => Xml::Elements(vec![from_record(&upper_camel(key), value)]),
        Json::Array(items) => Xml::Elements(
            items
                .iter()
                .map(|item| loose_element(&upper_camel(key), item))
                .collect(),
        ),
        scalar => Xml::Attribute(text_of(key, scalar, false)),
    }
}

fn leaf(name: &str, text: Option<String>) -> Element {
    Element {
        name: name.to_owned(),
        text,
        ..Element::default()
    }
}

/// An element holding a value of no known shape: a record, or a scalar as its text.
fn loose_element(name: &str, value: &Json) -> Element {
    match value {
        Json::Object(_) => from_record(name, value),
        scalar => leaf(name, Some(text_of(name, scalar, true))),
    }
}

fn shaped(known: &Known, value: &Json) -> Vec<Element> {
    let mut element = leaf(known.element, None);
    match (known.shape, value) {
        (_, Json::Array(items)) if is_repeat(known, items) => {
            return items.iter().flat_map(|i| shaped(known, i)).collect();
        }
        (Shape::Text | Shape::JsonText, scalar) => {
            element.text = Some(text_of(known.key, scalar, false));
        }
        (Shape::List(item) | Shape::Named { item, .. }, Json::Array(records)) => {
            element.children = records
                .iter()
                .map(|r| {
                    let mut child = loose_element(item, r);
                    restore_empty(&mut child);
                    child
                })
                .collect();
        }
        (Shape::Named { item, .. }, Json::Object(records)) => {
            element.children = records
                .iter()
                .map(|(name, r)| {
                    let mut child = loose_element(item, r);
                    if !child.attributes.iter().any(|(k, _)| k == "name") {
                        child.attributes.insert(0, ("name".into(), name.clone()));
                    }
                    child
                })
                .collect();
        }
        (Shape::Names(item), Json::Array(names)) => {
            element.children = names
                .iter()
                .map(|n| leaf(item, Some(text_of(item, n, false))))
                .collect();
        }
        (Shape::Groups { group, item }, Json::Object(groups)) => {
            element.children = groups
                .iter()
                .map(|(name, records)| {
                    let mut g = leaf(group, None);
                    g.attributes.push(("name".into(), name.clone()));
                    g.children = match records {
                        Json::Array(list) => list.iter().map(|r| loose_element(item, r)).collect(),
                        other => vec![loose_element(item, other)],
                    };
                    g
                })
                .collect();
        }
        (Shape::Texts(item), Json::Object(texts)) => {
            element.children = texts
                .iter()
                .map(|(name, text)| {
                    let mut t = leaf(item, Some(text_of(item, text, false)));
                    t.attributes.push(("name".into(), name.clone()));
                    t
                })
                .collect();
        }
        // A value of another shape than the element's (written by hand, or by an older
        // version): kept under the element, generically.
        (_, other) => return vec![loose_element(known.element, other)],
    }
    vec![element]
}

/// Whether an array holds the values of a repeated element rather than the element's own
/// content (only a list, named records or names hold arrays as content).
fn is_repeat(known: &Known, items: &[Json]) -> bool {
    match known.shape {
        Shape::List(_) | Shape::Named { .. } | Shape::Names(_) => false,
        _ => !items.is_empty(),
    }
}

/// A record as an element (the inverse of [`record`]).
fn from_record(name: &str, value: &Json) -> Element {
    let mut element = leaf(name, None);
    let Json::Object(fields) = value else {
        element.text = Some(text_of(name, value, true));
        return element;
    };
    for (key, field) in fields {
        match (key.as_str(), field) {
            ("#text", text) => element.text = Some(text_of(key, text, true)),
            ("aspects", Json::Object(aspects)) => {
                for (aspect, v) in aspects {
                    element
                        .attributes
                        .push((format!("aspect.{aspect}"), values::aspect_to_text(v)));
                }
            }
            (_, Json::Object(_)) => element.children.push(from_record(&upper_camel(key), field)),
            (_, Json::Array(items)) => {
                for item in items {
                    element
                        .children
                        .push(loose_element(&upper_camel(key), item));
                }
            }
            (_, scalar) => element
                .attributes
                .push((key.clone(), text_of(key, scalar, true))),
        }
    }
    element
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::element_json;
    use serde_json::json;

    fn el(name: Option<&str>, attrs: &[(&str, &str)], text: &str, children: Vec<Json>) -> Json {
        element_json(
            name,
            attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            text,
            children,
        )
    }

    #[test]
    fn configuration_changes_are_records_with_epoch_timestamps() {
        let change = el(
            Some("ConfigurationChange"),
            &[
                ("changeAction", "CREATE"),
                ("changeReason", "header : name : updated\n"),
                ("timestamp", "2024-12-10T16:24:37.284Z"),
                ("user", "Administrator"),
            ],
            "",
            vec![],
        );
        let (key, value) =
            from_xml_element("ConfigurationChanges", &el(None, &[], "", vec![change]));
        assert_eq!(key, "configurationChanges");
        assert_eq!(
            value,
            json!([{"changeAction": "CREATE", "changeReason": "header : name : updated\n",
                    "timestamp": 1_733_847_877_284_i64, "user": "Administrator"}])
        );
        let Xml::Elements(elements) = to_xml(&key, &value) else {
            panic!("not elements")
        };
        assert_eq!(elements[0].name, "ConfigurationChanges");
        assert!(
            elements[0].children[0]
                .attributes
                .contains(&("timestamp".into(), "2024-12-10T16:24:37.284Z".into()))
        );
    }

    #[test]
    fn empty_lists_and_maps_keep_their_type() {
        let empty = el(None, &[], "", vec![]);
        assert_eq!(
            from_xml_element("ConfigurationChanges", &empty).1,
            json!([])
        );
        assert_eq!(
            from_xml_element("RemotePropertyBindings", &empty).1,
            json!({})
        );
        assert_eq!(from_xml_element("Things", &empty).1, json!([]));
        assert_eq!(from_xml_element("AlertConfigurations", &empty).1, json!({}));
        assert_eq!(from_xml_element("mashupContent", &empty).1, json!(""));
    }

    #[test]
    fn bindings_and_parameters_are_keyed_by_name_and_typed() {
        let binding = el(
            Some("RemotePropertyBinding"),
            &[
                ("aspect.startType", "readEdgeValue"),
                ("foldType", "NONE"),
                ("name", "BadCount"),
                ("pushThreshold", "0.0"),
                ("timeout", "0"),
            ],
            "",
            vec![],
        );
        let (_, value) =
            from_xml_element("RemotePropertyBindings", &el(None, &[], "", vec![binding]));
        assert_eq!(
            value,
            json!({"BadCount": {"foldType": "NONE", "name": "BadCount", "pushThreshold": 0.0,
                                "timeout": 0, "aspects": {"startType": "readEdgeValue"}}})
        );
        let field = el(
            Some("FieldDefinition"),
            &[("baseType", "STRING"), ("name", "Link"), ("ordinal", "0")],
            "",
            vec![],
        );
        let (_, value) = from_xml_element("ParameterDefinitions", &el(None, &[], "", vec![field]));
        assert_eq!(
            value,
            json!({"Link": {"baseType": "STRING", "name": "Link", "ordinal": 0, "aspects": {}}})
        );
        // And back: the attributes ThingWorx writes.
        let Xml::Elements(elements) = to_xml("parameterDefinitions", &value) else {
            panic!("not elements")
        };
        assert_eq!(elements[0].children[0].name, "FieldDefinition");
        assert!(
            elements[0].children[0]
                .attributes
                .contains(&("ordinal".into(), "0".into()))
        );
    }

    #[test]
    fn names_groups_and_texts() {
        let things = el(
            None,
            &[],
            "",
            vec![
                el(Some("Thing"), &[], "A", vec![]),
                el(Some("Thing"), &[], "B", vec![]),
            ],
        );
        assert_eq!(from_xml_element("Things", &things).1, json!(["A", "B"]));
        let alerts = el(
            None,
            &[],
            "",
            vec![el(Some("AlertDefinitions"), &[("name", "p")], "", vec![])],
        );
        assert_eq!(
            from_xml_element("AlertConfigurations", &alerts).1,
            json!({"p": []})
        );
        let persistent = el(
            None,
            &[],
            "",
            vec![el(
                Some("PersistentValue"),
                &[("name", "n")],
                "{\"x\":1}",
                vec![],
            )],
        );
        let (key, value) = from_xml_element("PersistentValues", &persistent);
        assert_eq!(
            (key.as_str(), &value),
            ("persistentValues", &json!({"n": "{\"x\":1}"}))
        );
        let Xml::Elements(back) = to_xml(&key, &value) else {
            panic!("not elements")
        };
        assert_eq!(back[0].children[0].text.as_deref(), Some("{\"x\":1}"));
    }

    #[test]
    fn unknown_elements_convert_generically_and_lose_nothing() {
        let clash = el(
            None,
            &[("name", "a")],
            "",
            vec![
                el(Some("Name"), &[], "b", vec![]),
                el(Some("Kept"), &[("x", "1")], "t", vec![]),
            ],
        );
        assert_eq!(
            from_xml_element("Unknown", &clash),
            (
                "unknown".to_owned(),
                json!({"name": ["a", "b"], "kept": {"x": "1", "#text": "t"}})
            )
        );
        assert_eq!(
            from_xml_element("Plain", &el(None, &[], "t", vec![])).1,
            json!("t")
        );
    }

    #[test]
    fn attributes_are_typed_by_name() {
        assert_eq!(from_xml_attribute("columns", "0.0").1, json!(0.0));
        assert_eq!(
            from_xml_attribute("lockedTime", "1970-01-01T00:00:01.000Z").1,
            json!(1000)
        );
        assert_eq!(from_xml_attribute("state", "DRAFT").1, json!("DRAFT"));
        assert_eq!(from_xml_attribute("columns", "wide").1, json!("wide"));
        assert_eq!(to_xml("columns", &json!(0.0)), Xml::Attribute("0.0".into()));
        assert_eq!(
            to_xml("lockedTime", &json!(1000)),
            Xml::Attribute("1970-01-01T00:00:01.000Z".into())
        );
        assert_eq!(to_xml("/thingShape/x", &json!({})), Xml::None);
    }

    #[test]
    fn stored_legacy_keys_are_normalised() {
        let mut legacy = Extra::new();
        legacy.insert("@dependsOn".into(), json!("{}"));
        legacy.insert(
            "<Things>".into(),
            el(None, &[], "", vec![el(Some("Thing"), &[], "A", vec![])]),
        );
        legacy.insert("already".into(), json!(1));
        let neutral = normalize(legacy);
        assert_eq!(
            serde_json::to_value(&neutral).expect("json"),
            json!({"dependsOn": "{}", "things": ["A"], "already": 1})
        );
    }
}
