//! The parameters of the Stream and DataTable services: maxItems, dates, flags, tags, location, the
//! time range and the entry's origin.

use ironworx_entity::vocab::BaseType;

use super::*;

/// `maxItems`: a whole number from 1 to `largest` (`--max-page-rows`), by default
/// [`DEFAULT_MAX_ITEMS`].
pub(crate) fn max_items(value: &Option<Value>, largest: u64) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "parameter 'maxItems' must be a whole number from 1 to {largest}"
        ))
    };
    let n = match value {
        None | Some(Value::Null) => return Ok(DEFAULT_MAX_ITEMS.min(largest)),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if n.fract() != 0.0 || n < 1.0 || n > largest as f64 {
        return Err(bad());
    }
    // In range 1..=largest and whole, so the conversion is exact.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be a whole number from 1 to `largest`"
    )]
    Ok(n as u64)
}

/// A DATETIME parameter: epoch milliseconds, or ISO-8601 text.
pub(crate) fn date(value: &Option<Value>, name: &str) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "parameter '{name}' must be a date (epoch milliseconds or ISO-8601)"
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| parse_date(s))
            .map(Some)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

pub(super) fn flag(value: &Option<Value>, name: &str) -> Result<bool, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameter '{name}' must be a boolean, not {other}"
        ))),
    }
}

/// A TAGS parameter: `Vocabulary:Term;…` text, a list of such texts, or a list of
/// `{"vocabulary","vocabularyTerm"}` objects.
pub(super) fn tags(value: &Option<Value>) -> Result<Vec<Tag>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(format!("parameter 'tags': {e}"));
    let text = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    Value::Object(o) => {
                        let vocabulary = o.get("vocabulary").and_then(Value::as_str);
                        let term = o.get("vocabularyTerm").and_then(Value::as_str);
                        match (vocabulary, term) {
                            (Some(v), Some(t)) => parts.push(format!("{v}:{t}")),
                            _ => return Err(bad(&"a tag needs 'vocabulary' and 'vocabularyTerm'")),
                        }
                    }
                    other => return Err(bad(&format!("'{other}' is not a tag"))),
                }
            }
            parts.join(";")
        }
        Some(other) => return Err(bad(&format!("'{other}' is not a list of tags"))),
    };
    Tag::parse_list(&text).map_err(|e| bad(&e))
}

/// A LOCATION parameter, kept as its JSON text.
pub(super) fn location(value: &Option<Value>) -> Result<Option<String>, ApiError> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => canonical(BaseType::Location.as_str(), v.clone())
            .map_err(|e| ApiError::BadRequest(format!("parameter 'location': {e}")))?,
    };
    match &value {
        Value::Null => Ok(None),
        Value::Object(o)
            if o.get("latitude").is_some_and(Value::is_number)
                && o.get("longitude").is_some_and(Value::is_number)
                && o.get("elevation").is_none_or(Value::is_number) =>
        {
            Ok(Some(value.to_string()))
        }
        _ => Err(ApiError::BadRequest(
            "parameter 'location' must have numeric 'latitude' and 'longitude'".into(),
        )),
    }
}

/// The time range of a read: `startDate` to `endDate`, both inclusive, open ends allowed.
pub(super) fn range(p: &DataParams) -> Result<(i64, i64), ApiError> {
    let from = date(&p.start_date, "startDate")?.unwrap_or(i64::MIN);
    let to = date(&p.end_date, "endDate")?.unwrap_or(i64::MAX);
    if from > to {
        return Err(ApiError::BadRequest(
            "startDate is after endDate".to_owned(),
        ));
    }
    Ok((from, to))
}

/// Where an entry or row came from: the given source, or the caller.
pub(super) struct Origin {
    pub(super) time: i64,
    pub(super) source: String,
    pub(super) source_type: String,
    pub(super) tags: String,
    pub(super) location: Option<String>,
}

pub(super) fn origin(ctx: &Ctx, p: &DataParams) -> Result<Origin, ApiError> {
    let source = p
        .source
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| ctx.caller.name.clone());
    let source_type = p
        .source_type
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "User".to_owned());
    Ok(Origin {
        time: date(&p.timestamp, "timestamp")?.unwrap_or_else(now_ms),
        source,
        source_type,
        tags: Tag::join_list(&tags(&p.tags)?),
        location: location(&p.location)?,
    })
}
