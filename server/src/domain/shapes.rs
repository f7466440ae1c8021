//! Data shapes as the data services and events use them: a shape's fields with its base
//! shapes', the rows of a `values` parameter, and a row checked against the fields.

use std::collections::HashSet;

use ironworx_entity::queries::{QueryError, models, parts};
use ironworx_entity::vocab::BaseType;
use ironworx_importer::values::canonical;
use serde_json::{Map, Number, Value, json};

use crate::error::ApiError;

/// The longest chain of base data shapes followed.
const MAX_SHAPE_DEPTH: usize = 16;

/// A field of a data shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// Part of the primary key (DataTables).
    pub primary_key: bool,
}

/// Checks `row` against `fields` (as the data services check a row); shared with event data.
pub fn check_row(
    fields: &[Field],
    row: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut checked = Map::new();
    for (name, value) in row {
        let field = fields.iter().find(|f| &f.name == name).ok_or_else(|| {
            ApiError::BadRequest(format!("field '{name}' is not in the data shape"))
        })?;
        let value = canonical(&field.base_type, value.clone())
            .map_err(|e| ApiError::BadRequest(format!("field '{name}': {e}")))?;
        checked.insert(name.clone(), normalize(&field.base_type, value));
    }
    Ok(checked)
}

/// NUMBER values are doubles, so that `5` and `"5"` are the same value.
pub fn normalize(base_type: &str, value: Value) -> Value {
    match (&value, base_type.parse::<BaseType>()) {
        (Value::Number(n), Ok(BaseType::Number)) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(value, Value::Number),
        _ => value,
    }
}

/// The fields of DataShape `name` with those of its base shapes (base fields first; a field
/// the derived shape redefines keeps the derived definition).
pub async fn shape_fields<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Vec<Field>, ApiError> {
    let mut levels = Vec::new();
    let mut seen = HashSet::new();
    let mut current = name.to_owned();
    while !current.is_empty() && levels.len() < MAX_SHAPE_DEPTH && seen.insert(current.clone()) {
        let (row, shape) = match models::get_data_shape(db, &current).await {
            Ok(found) => found,
            Err(QueryError::NotFound { .. }) => {
                return Err(ApiError::BadRequest(format!(
                    "data shape '{current}' does not exist"
                )));
            }
            Err(err) => return Err(err.into()),
        };
        let mut rows = parts::field_definitions::list(db, row.id).await?;
        rows.sort_by_key(|f| f.ordinal);
        levels.push(rows);
        current = shape.base_data_shape;
    }
    let mut fields: Vec<Field> = Vec::new();
    for level in levels.into_iter().rev() {
        for row in level {
            let primary_key = row
                .aspects
                .as_ref()
                .and_then(|a| a.get("isPrimaryKey"))
                .is_some_and(|v| v == &json!(true) || v == &json!("true"));
            let field = Field {
                name: row.name,
                base_type: row.base_type,
                primary_key,
            };
            match fields.iter_mut().find(|f| f.name == field.name) {
                Some(existing) => *existing = field,
                None => fields.push(field),
            }
        }
    }
    Ok(fields)
}

/// The rows of a `values` parameter: an InfoTable (`{"dataShape":…,"rows":[…]}`), one object,
/// or either as JSON text.
pub fn rows_of(value: &Value) -> Result<Vec<Map<String, Value>>, ApiError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) if text.trim().is_empty() => Ok(Vec::new()),
        Value::String(text) => {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| ApiError::BadRequest(format!("parameter 'values': {e}")))?;
            match parsed {
                Value::String(_) => Err(ApiError::BadRequest(
                    "parameter 'values' must be an object or an InfoTable".into(),
                )),
                other => rows_of(&other),
            }
        }
        Value::Object(object)
            if object.get("rows").is_some_and(Value::is_array)
                && object.keys().all(|k| k == "rows" || k == "dataShape") =>
        {
            object
                .get("rows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|row| match row {
                    Value::Object(r) => Ok(r.clone()),
                    _ => Err(ApiError::BadRequest(
                        "every row of 'values' must be an object".into(),
                    )),
                })
                .collect()
        }
        Value::Object(object) => Ok(vec![object.clone()]),
        _ => Err(ApiError::BadRequest(
            "parameter 'values' must be an object or an InfoTable".into(),
        )),
    }
}
