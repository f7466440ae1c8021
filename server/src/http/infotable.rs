//! InfoTable JSON, the shape of every ThingWorx service result:
//! `{"dataShape":{"fieldDefinitions":{…}},"rows":[…]}`; a primitive result is the field `result`.

use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Value, json};

/// An InfoTable with `fields` (name, base type) and `rows` (objects keyed by field name).
pub fn infotable<T: AsRef<str>>(fields: &[(&str, T)], rows: Vec<Value>) -> Value {
    let definitions: Map<String, Value> = fields
        .iter()
        .enumerate()
        .map(|(ordinal, (name, base_type))| {
            (
                (*name).to_owned(),
                json!({
                    "name": name,
                    "description": "",
                    "baseType": base_type.as_ref(),
                    "ordinal": ordinal,
                    "aspects": {}
                }),
            )
        })
        .collect();
    json!({
        "dataShape": { "fieldDefinitions": definitions },
        "rows": rows,
    })
}

/// The InfoTable of a primitive service result: one row with the field `result`.
pub fn primitive(base_type: BaseType, value: Value) -> Value {
    infotable(&[("result", base_type)], vec![json!({ "result": value })])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let t = primitive(BaseType::Boolean, json!(true));
        assert_eq!(t["rows"][0]["result"], json!(true));
        assert_eq!(
            t["dataShape"]["fieldDefinitions"]["result"]["baseType"],
            "BOOLEAN"
        );
    }
}
