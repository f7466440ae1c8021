//! Values between a service's definition and its script: the parameters of a call typed by
//! their definitions (a missing one takes its `defaultValue` aspect; one that does not fit is a
//! 400), and a script's `result` typed by the result type.

use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Value, json};

use crate::domain::things::values;
use crate::error::ApiError;
use crate::script::catalog::Param;

/// The parameters `given` typed by `params`, as the prelude takes them:
/// `[{name, baseType, value}]` in definition order.
pub fn params(params: &[Param], given: &Map<String, Value>) -> Result<Vec<Value>, ApiError> {
    let mut typed = Vec::with_capacity(params.len());
    for param in params {
        let value = match (given.get(&param.name), &param.default) {
            (None | Some(Value::Null), Some(default)) => {
                values::default_value(&param.base_type, Some(&json!({ "defaultValue": default })))
            }
            (None | Some(Value::Null), None) => Value::Null,
            (Some(value), _) => values::check(&param.base_type, value.clone()).map_err(|why| {
                ApiError::BadRequest(format!("parameter '{}': {why}", param.name))
            })?,
        };
        typed.push(json!({
            "name": param.name,
            "baseType": param.base_type,
            "value": value,
        }));
    }
    Ok(typed)
}

/// `value` as a result of `base_type`: `NOTHING` drops it, an INFOTABLE keeps its shape with
/// DATETIME cells as epoch milliseconds, any other type is checked like a property value.
pub fn result(base_type: &str, value: Value) -> Result<Value, String> {
    match (base_type.parse::<BaseType>(), value) {
        (Ok(BaseType::Nothing), _) => Ok(Value::Null),
        (_, Value::Null) => Ok(Value::Null),
        (Ok(BaseType::Infotable), Value::Object(mut table)) => {
            let fields = table
                .get("dataShape")
                .and_then(|s| s.get("fieldDefinitions"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let rows = match table.remove("rows") {
                Some(Value::Array(rows)) => rows,
                None => Vec::new(),
                Some(_) => return Err("an INFOTABLE's rows must be an array".into()),
            };
            let mut typed_rows = Vec::with_capacity(rows.len());
            for row in rows {
                let Value::Object(mut row) = row else {
                    return Err("an INFOTABLE's rows must be objects".into());
                };
                for (name, field) in &fields {
                    if field.get("baseType").and_then(Value::as_str)
                        == Some(BaseType::Datetime.as_str())
                        && let Some(cell) = row.get_mut(name)
                    {
                        let taken = std::mem::take(cell);
                        *cell = values::check(BaseType::Datetime.as_str(), taken)?;
                    }
                }
                typed_rows.push(Value::Object(row));
            }
            Ok(json!({
                "dataShape": { "fieldDefinitions": fields },
                "rows": typed_rows,
            }))
        }
        (Ok(BaseType::Infotable), other) => Err(format!("{other} is not an INFOTABLE")),
        (_, value) => values::check(base_type, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_typed_and_defaulted() {
        let params = [
            Param {
                name: "n".into(),
                base_type: "NUMBER".into(),
                default: Some(json!("4")),
            },
            Param {
                name: "t".into(),
                base_type: "DATETIME".into(),
                default: None,
            },
        ];
        let given = json!({"t": "1970-01-01T00:00:01.000Z"});
        let typed = super::params(&params, given.as_object().expect("object"));
        assert_eq!(
            typed.ok(),
            Some(vec![
                json!({"name": "n", "baseType": "NUMBER", "value": 4.0}),
                json!({"name": "t", "baseType": "DATETIME", "value": 1000}),
            ])
        );
        let wrong = json!({"n": "warm"});
        assert!(super::params(&params, wrong.as_object().expect("object")).is_err());
    }

    #[test]
    fn results_are_typed() {
        assert_eq!(result("NUMBER", json!(1)), Ok(json!(1.0)));
        assert_eq!(
            result("DATETIME", json!("1970-01-01T00:00:01.000Z")),
            Ok(json!(1000))
        );
        assert_eq!(result("NOTHING", json!(3)), Ok(Value::Null));
        assert!(result("INTEGER", json!("x")).is_err());
        let table = json!({
            "dataShape": {"fieldDefinitions": {"t": {"name": "t", "baseType": "DATETIME"}}},
            "rows": [{"t": "1970-01-01T00:00:02.000Z"}],
        });
        assert_eq!(
            result("INFOTABLE", table).map(|t| t["rows"][0]["t"].clone()),
            Ok(json!(2000))
        );
        assert!(result("INFOTABLE", json!(3)).is_err());
    }
}
