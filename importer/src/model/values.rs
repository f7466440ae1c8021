//! Base-typed values: text as exports write it to typed JSON and back, and ISO-8601 dates to
//! epoch milliseconds and back.
//!
//! Canonical JSON per base type: NUMBER a JSON number (a double), INTEGER and LONG an integer,
//! BOOLEAN `true`/`false`, DATETIME epoch milliseconds, JSON the parsed document, INFOTABLE an
//! InfoTable object (`{"dataShape":{"fieldDefinitions":{…}},"rows":[…]}`), LOCATION
//! `{"latitude","longitude","elevation"}`, everything else (STRING, TEXT, the entity-name
//! types, TAGS, …) a string. An empty text is `null` for every type but the string ones.

use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Number, Value as Json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Why a text does not fit a base type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {base_type} value")]
pub struct ValueError {
    /// The base type asked for.
    pub base_type: String,
    /// The refused text (at most 80 characters of it).
    pub text: String,
}

fn refused(base_type: &str, text: &str) -> ValueError {
    ValueError {
        base_type: base_type.to_owned(),
        text: text.chars().take(80).collect(),
    }
}

/// Whether values of `base_type` are kept as JSON strings.
pub fn is_textual(base_type: &str) -> bool {
    !matches!(
        base_type.parse::<BaseType>(),
        Ok(BaseType::Number
            | BaseType::Integer
            | BaseType::Long
            | BaseType::Boolean
            | BaseType::Datetime
            | BaseType::Json
            | BaseType::Infotable
            | BaseType::Location)
    )
}

/// Parses an ISO-8601 date with milliseconds and an offset (`2019-11-26T09:43:27.449Z`,
/// `2018-07-10T08:40:18.709+02:00`) into epoch milliseconds.
pub fn parse_date(text: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Writes epoch milliseconds as ThingWorx does in storage exports (`…T…:…:….mmmZ`).
pub fn format_date(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// Converts the text of a value of `base_type` into its canonical JSON.
pub fn from_text(base_type: &str, text: &str) -> Result<Json, ValueError> {
    if is_textual(base_type) {
        return Ok(Json::String(text.to_owned()));
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Json::Null);
    }
    match base_type.parse::<BaseType>() {
        Ok(BaseType::Number) => trimmed
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
            .map(Json::Number)
            .ok_or_else(|| refused(base_type, text)),
        Ok(BaseType::Integer | BaseType::Long) => trimmed
            .parse::<i64>()
            .ok()
            .or_else(|| {
                // Exports sometimes write integers as doubles (`5.0`).
                trimmed
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .filter(|n| base_type == BaseType::Long.as_str() || i32::try_from(*n).is_ok())
            .map(|n| Json::Number(n.into()))
            .ok_or_else(|| refused(base_type, text)),
        Ok(BaseType::Boolean) => match trimmed {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => Err(refused(base_type, text)),
        },
        Ok(BaseType::Datetime) => parse_date(trimmed)
            .or_else(|| trimmed.parse::<i64>().ok())
            .map(|ms| Json::Number(ms.into()))
            .ok_or_else(|| refused(base_type, text)),
        Ok(BaseType::Json | BaseType::Infotable) => {
            serde_json::from_str(trimmed).map_err(|_| refused(base_type, text))
        }
        Ok(BaseType::Location) => parse_location(trimmed).ok_or_else(|| refused(base_type, text)),
        _ => Ok(Json::String(text.to_owned())),
    }
}

/// `latitude,longitude[,elevation]` to a location object.
fn parse_location(text: &str) -> Option<Json> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
        .collect::<Option<Vec<_>>>()?;
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut location = Map::new();
    for (key, value) in ["latitude", "longitude", "elevation"].iter().zip(parts) {
        location.insert((*key).to_owned(), Json::Number(Number::from_f64(value)?));
    }
    Some(Json::Object(location))
}

/// Writes a canonical value of `base_type` as text, the inverse of [`from_text`].
pub fn to_text(base_type: &str, value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => match base_type.parse::<BaseType>() {
            Ok(BaseType::Datetime) => n.as_i64().map(format_date).unwrap_or_else(|| n.to_string()),
            Ok(BaseType::Number) => match n.as_f64() {
                // Exports write numbers as doubles: `60.0`.
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
                _ => n.to_string(),
            },
            _ => n.to_string(),
        },
        Json::Object(o) if base_type == BaseType::Location.as_str() => {
            let get = |k: &str| o.get(k).and_then(Json::as_f64).unwrap_or(0.0);
            format!(
                "{},{},{}",
                get("latitude"),
                get("longitude"),
                get("elevation")
            )
        }
        other => other.to_string(),
    }
}

/// Converts a value that a reader kept as text (a JSON string) into the canonical JSON of
/// `base_type`; values already typed are checked and kept.
pub fn canonical(base_type: &str, value: Json) -> Result<Json, ValueError> {
    match value {
        Json::String(text) => from_text(base_type, &text),
        Json::Null => Ok(Json::Null),
        typed => {
            let fits = match base_type.parse::<BaseType>() {
                Ok(BaseType::Number) => typed.is_number(),
                Ok(BaseType::Integer | BaseType::Long | BaseType::Datetime) => typed.is_i64(),
                Ok(BaseType::Boolean) => typed.is_boolean(),
                Ok(BaseType::Json | BaseType::Infotable | BaseType::Location) => true,
                _ => false,
            };
            if fits {
                Ok(typed)
            } else {
                Err(refused(base_type, &typed.to_string()))
            }
        }
    }
}

/// Types the text of a value whose base type nobody knows (a property a template outside the
/// export defines), as ThingWorx's `.twx` would hold it, where that is unambiguous: an
/// ISO-8601 date becomes epoch milliseconds; anything else stays the string it is (`"0"` may
/// be a STRING).
pub fn infer(text: &str) -> Json {
    match parse_date(text) {
        Some(ms) if text.contains('T') => Json::Number(ms.into()),
        _ => Json::String(text.to_owned()),
    }
}

/// Aspects ThingWorx keeps as strings even when they read `true` or `false` (a Mashup's
/// `isFlex`, a mashup parameter's `isMandatory`), as its `.twx` files hold them.
const STRING_ASPECTS: &[&str] = &["isFlex", "isMandatory"];

/// Types the aspect `name` written as text in XML: [`aspect_from_text`], except for the
/// aspects ThingWorx keeps as strings.
pub fn aspect(name: &str, text: &str) -> Json {
    if STRING_ASPECTS.contains(&name) {
        Json::String(text.to_owned())
    } else {
        aspect_from_text(text)
    }
}

/// Types an aspect written as text in XML (`true`, `60.0`, `x`): booleans and numbers become
/// JSON booleans and numbers (numbers with a `.` stay doubles), everything else stays a string.
pub fn aspect_from_text(text: &str) -> Json {
    match text {
        "true" => return Json::Bool(true),
        "false" => return Json::Bool(false),
        _ => {}
    }
    let looks_numeric = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | 'E' | 'e' | '+'))
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-')
        && !text.starts_with("-.")
        && !(text.len() > 1 && text.starts_with('0') && !text.starts_with("0."));
    if looks_numeric {
        if !text.contains(['.', 'E', 'e']) {
            if let Ok(n) = text.parse::<i64>() {
                return Json::Number(n.into());
            }
        } else if let Some(n) = text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
            && aspect_to_text(&Json::Number(n.clone())) == text
        {
            return Json::Number(n);
        }
    }
    Json::String(text.to_owned())
}

/// Writes an aspect as XML text, the inverse of [`aspect_from_text`].
pub fn aspect_to_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let ms = parse_date("2019-11-26T09:43:27.449Z").expect("date");
        assert_eq!(format_date(ms), "2019-11-26T09:43:27.449Z");
        assert_eq!(
            parse_date("2018-07-10T08:40:18.709+02:00"),
            parse_date("2018-07-10T06:40:18.709Z")
        );
        assert_eq!(parse_date("1970-01-01T00:00:00.000Z"), Some(0));
    }

    #[test]
    fn typed_values() {
        assert_eq!(from_text("NUMBER", "60.0"), Ok(serde_json::json!(60.0)));
        assert_eq!(to_text("NUMBER", &serde_json::json!(60.0)), "60.0");
        assert_eq!(from_text("INTEGER", "7"), Ok(serde_json::json!(7)));
        assert!(from_text("INTEGER", "3000000000").is_err());
        assert_eq!(from_text("BOOLEAN", "true"), Ok(Json::Bool(true)));
        assert!(from_text("BOOLEAN", "yes").is_err());
        assert_eq!(from_text("STRING", " a "), Ok(serde_json::json!(" a ")));
        assert_eq!(from_text("NUMBER", ""), Ok(Json::Null));
        let loc = from_text("LOCATION", "1.5,2.5,0.0").expect("location");
        assert_eq!(from_text("LOCATION", &to_text("LOCATION", &loc)), Ok(loc));
    }

    #[test]
    fn values_of_unknown_type_are_inferred() {
        assert_eq!(
            infer("2019-04-05T11:52:46.865Z"),
            serde_json::json!(1_554_465_166_865_i64)
        );
        assert_eq!(infer("2005.0"), serde_json::json!("2005.0"));
        assert_eq!(infer("Tuesday"), serde_json::json!("Tuesday"));
    }

    #[test]
    fn aspects_round_trip() {
        for text in [
            "true", "false", "60.0", "0", "-3", "x", "007", "1e5", "0.5", "",
        ] {
            assert_eq!(aspect_to_text(&aspect_from_text(text)), text, "{text}");
        }
        assert_eq!(aspect_from_text("60.0"), serde_json::json!(60.0));
        assert_eq!(aspect_from_text("12"), serde_json::json!(12));
    }
}
