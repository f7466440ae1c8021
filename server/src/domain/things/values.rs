//! Typed property values: the check of a written value against its base type (the importer's
//! canonical JSON, plus the structure of LOCATION, INFOTABLE and TAGS values), and InfoTable
//! field definitions that carry a property's aspects.

use ironworx_entity::vocab::{BaseType, Tag};
use ironworx_importer::values;
use serde_json::{Map, Number, Value, json};

/// Checks a written value of `base_type` and returns its canonical JSON; the error says why
/// the value does not fit. `null` fits every type (it clears the value).
pub fn check(base_type: &str, value: Value) -> Result<Value, String> {
    let shown = shorten(&value);
    let refused = || format!("{shown} is not a valid {base_type} value");
    let value = values::canonical(base_type, value).map_err(|_| refused())?;
    match (base_type.parse::<BaseType>(), value) {
        (_, Value::Null) => Ok(Value::Null),
        (Ok(BaseType::Number), Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(refused),
        (Ok(BaseType::Integer), Value::Number(n)) => n
            .as_i64()
            .filter(|i| i32::try_from(*i).is_ok())
            .map(|i| Value::Number(i.into()))
            .ok_or_else(refused),
        (Ok(BaseType::Location), Value::Object(o)) => location(&o).ok_or_else(refused),
        (Ok(BaseType::Infotable), Value::Object(o)) if is_infotable(&o) => Ok(Value::Object(o)),
        (Ok(BaseType::Location | BaseType::Infotable), _) => Err(refused()),
        (Ok(BaseType::Tags), Value::String(s)) => Tag::parse_list(&s)
            .map(|tags| Value::String(Tag::join_list(&tags)))
            .map_err(|_| refused()),
        (_, value) => Ok(value),
    }
}

/// A location object with numeric `latitude` and `longitude` (and `elevation`, 0 when absent).
fn location(o: &Map<String, Value>) -> Option<Value> {
    if o.keys()
        .any(|k| !matches!(k.as_str(), "latitude" | "longitude" | "elevation" | "units"))
    {
        return None;
    }
    let number = |key: &str| o.get(key).and_then(Value::as_f64).filter(|f| f.is_finite());
    let latitude = number("latitude").filter(|l| (-90.0..=90.0).contains(l))?;
    let longitude = number("longitude").filter(|l| (-180.0..=180.0).contains(l))?;
    let elevation = match o.get("elevation") {
        None | Some(Value::Null) => 0.0,
        Some(_) => number("elevation")?,
    };
    Some(json!({ "latitude": latitude, "longitude": longitude, "elevation": elevation }))
}

/// An InfoTable object: `rows` (when present) an array of objects, `dataShape` (when present)
/// an object, and nothing else.
fn is_infotable(o: &Map<String, Value>) -> bool {
    o.keys().all(|k| matches!(k.as_str(), "rows" | "dataShape"))
        && o.get("rows").is_none_or(|r| {
            r.as_array()
                .is_some_and(|rows| rows.iter().all(Value::is_object))
        })
        && o.get("dataShape").is_none_or(Value::is_object)
}

/// At most 80 characters of a value, for error messages.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let mut short: String = text.chars().take(80).collect();
        short.push('…');
        short
    } else {
        text
    }
}

/// The value a property has before anything was written: its `defaultValue` aspect typed by
/// the base type (aspects keep the importer's typing of text, so the text is typed again).
pub fn default_value(base_type: &str, aspects: Option<&Value>) -> Value {
    aspects
        .and_then(|a| a.get("defaultValue"))
        .map(values::aspect_to_text)
        .and_then(|text| values::from_text(base_type, &text).ok())
        .unwrap_or(Value::Null)
}

/// The aspects a property's field definition shows, with ThingWorx's defaults.
pub fn field_aspects(aspects: Option<&Value>) -> Value {
    let get = |key: &str| aspects.and_then(|a| a.get(key)).cloned();
    let mut out = Map::new();
    out.insert(
        "isPersistent".into(),
        get("isPersistent").unwrap_or(Value::Bool(false)),
    );
    out.insert(
        "isReadOnly".into(),
        get("isReadOnly").unwrap_or(Value::Bool(false)),
    );
    out.insert(
        "isLogged".into(),
        get("isLogged").unwrap_or(Value::Bool(false)),
    );
    out.insert(
        "dataChangeType".into(),
        get("dataChangeType").unwrap_or_else(|| json!("VALUE")),
    );
    out.insert(
        "cacheTime".into(),
        get("cacheTime").map_or(json!(0), |t| cache_time(&t)),
    );
    if let Some(shape) = get("dataShape") {
        out.insert("dataShape".into(), shape);
    }
    Value::Object(out)
}

/// A `cacheTime` aspect in one JSON form whatever wrote it: a whole number of seconds is an
/// integer (`0`, as a property added over REST has it), so an imported `0.0` reads the same.
fn cache_time(value: &Value) -> Value {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(n as i64),
        Some(n) => json!(n),
        None => json!(0),
    }
}

/// An InfoTable whose fields are `(name, base type, aspects)`.
pub fn table<T: AsRef<str>>(fields: &[(&str, T, Value)], rows: Vec<Value>) -> Value {
    let definitions: Map<String, Value> = fields
        .iter()
        .enumerate()
        .map(|(ordinal, (name, base_type, aspects))| {
            (
                (*name).to_owned(),
                json!({
                    "name": name,
                    "description": "",
                    "baseType": base_type.as_ref(),
                    "ordinal": ordinal,
                    "aspects": aspects,
                }),
            )
        })
        .collect();
    json!({ "dataShape": { "fieldDefinitions": definitions }, "rows": rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_time_has_one_form() {
        for given in [json!(0.0), json!(0), json!("0.0")] {
            let aspects = json!({ "cacheTime": given });
            assert_eq!(field_aspects(Some(&aspects))["cacheTime"], json!(0));
        }
        assert_eq!(field_aspects(None)["cacheTime"], json!(0));
        let half = json!({ "cacheTime": 0.5 });
        assert_eq!(field_aspects(Some(&half))["cacheTime"], json!(0.5));
    }

    #[test]
    fn values_are_checked_per_base_type() {
        assert_eq!(check("NUMBER", json!(5)), Ok(json!(5.0)));
        assert_eq!(check("NUMBER", json!("2.5")), Ok(json!(2.5)));
        assert!(check("NUMBER", json!("warm")).is_err());
        assert!(check("NUMBER", json!(true)).is_err());
        assert_eq!(check("INTEGER", json!(7)), Ok(json!(7)));
        assert!(check("INTEGER", json!(3_000_000_000_i64)).is_err());
        assert!(check("INTEGER", json!(1.5)).is_err());
        assert_eq!(
            check("LONG", json!(3_000_000_000_i64)),
            Ok(json!(3_000_000_000_i64))
        );
        assert_eq!(check("BOOLEAN", json!(true)), Ok(json!(true)));
        assert!(check("BOOLEAN", json!(1)).is_err());
        assert_eq!(check("STRING", json!("a")), Ok(json!("a")));
        assert!(check("STRING", json!(1)).is_err());
        assert_eq!(
            check("DATETIME", json!("1970-01-01T00:00:01.000Z")),
            Ok(json!(1000))
        );
        assert_eq!(check("DATETIME", json!(1000)), Ok(json!(1000)));
        assert_eq!(check("JSON", json!({"a": [1]})), Ok(json!({"a": [1]})));
        assert_eq!(
            check("LOCATION", json!({"latitude": 1, "longitude": 2})),
            Ok(json!({"latitude": 1.0, "longitude": 2.0, "elevation": 0.0}))
        );
        assert!(check("LOCATION", json!({"latitude": 100, "longitude": 2})).is_err());
        assert!(check("LOCATION", json!([1, 2])).is_err());
        let table = json!({"dataShape": {"fieldDefinitions": {}}, "rows": [{"a": 1}]});
        assert_eq!(check("INFOTABLE", table.clone()), Ok(table));
        assert!(check("INFOTABLE", json!({"rows": 3})).is_err());
        assert!(check("INFOTABLE", json!(3)).is_err());
        assert_eq!(
            check("TAGS", json!("Plant:Line1; Plant:Line2")),
            Ok(json!("Plant:Line1;Plant:Line2"))
        );
        assert!(check("TAGS", json!("no-colon")).is_err());
        assert_eq!(check("THINGNAME", json!("Pump1")), Ok(json!("Pump1")));
        assert_eq!(check("NUMBER", Value::Null), Ok(Value::Null));
    }

    #[test]
    fn defaults_are_typed_again() {
        let aspects = json!({"defaultValue": 12});
        assert_eq!(default_value("STRING", Some(&aspects)), json!("12"));
        assert_eq!(default_value("NUMBER", Some(&aspects)), json!(12.0));
        assert_eq!(default_value("NUMBER", None), Value::Null);
    }
}
