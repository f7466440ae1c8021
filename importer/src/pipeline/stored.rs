//! How model parts without a table of their own are kept in the database's JSON columns
//! (field definitions, configuration tables, entity extras), both ways.

use serde_json::{Map, Value as Json, json};

use crate::model::{ConfigurationTable, Extra, FieldDefinition};

/// A field definition as a JSON object.
pub fn field_to_json(f: &FieldDefinition) -> Json {
    json!({
        "name": f.name,
        "baseType": f.base_type,
        "description": f.description,
        "ordinal": f.ordinal,
        "aspects": Json::Object(f.aspects.clone()),
    })
}

fn text(o: &Map<String, Json>, key: &str) -> String {
    o.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn flag(o: &Map<String, Json>, key: &str) -> bool {
    o.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn int(o: &Map<String, Json>, key: &str) -> i32 {
    o.get(key)
        .and_then(Json::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

fn object(o: &Map<String, Json>, key: &str) -> Map<String, Json> {
    o.get(key)
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A field definition from [`field_to_json`]'s form.
pub fn field_from_json(value: &Json) -> FieldDefinition {
    let empty = Map::new();
    let o = value.as_object().unwrap_or(&empty);
    FieldDefinition {
        name: text(o, "name"),
        base_type: text(o, "baseType"),
        description: text(o, "description"),
        ordinal: int(o, "ordinal"),
        aspects: object(o, "aspects"),
    }
}

/// Field definitions as a JSON array.
pub fn fields_to_json(fields: &[FieldDefinition]) -> Json {
    Json::Array(fields.iter().map(field_to_json).collect())
}

/// Field definitions from [`fields_to_json`]'s form.
pub fn fields_from_json(value: Option<&Json>) -> Vec<FieldDefinition> {
    value
        .and_then(Json::as_array)
        .map(|a| a.iter().map(field_from_json).collect())
        .unwrap_or_default()
}

/// A configuration table as a JSON object.
pub fn table_to_json(t: &ConfigurationTable) -> Json {
    json!({
        "name": t.name,
        "description": t.description,
        "isMultiRow": t.is_multi_row,
        "ordinal": t.ordinal,
        "dataShapeName": t.data_shape_name,
        "isHidden": t.is_hidden,
        "fields": fields_to_json(&t.fields),
        "rows": Json::Array(t.rows.iter().cloned().map(Json::Object).collect()),
    })
}

/// A configuration table from [`table_to_json`]'s form.
pub fn table_from_json(value: &Json) -> ConfigurationTable {
    let empty = Map::new();
    let o = value.as_object().unwrap_or(&empty);
    ConfigurationTable {
        name: text(o, "name"),
        description: text(o, "description"),
        is_multi_row: flag(o, "isMultiRow"),
        ordinal: int(o, "ordinal"),
        data_shape_name: text(o, "dataShapeName"),
        is_hidden: flag(o, "isHidden"),
        fields: fields_from_json(o.get("fields")),
        rows: rows_from_json(o.get("rows")),
    }
}

/// Configuration tables as a JSON array.
pub fn tables_to_json(tables: &[ConfigurationTable]) -> Json {
    Json::Array(tables.iter().map(table_to_json).collect())
}

/// Configuration tables from [`tables_to_json`]'s form.
pub fn tables_from_json(value: Option<&Json>) -> Vec<ConfigurationTable> {
    value
        .and_then(Json::as_array)
        .map(|a| a.iter().map(table_from_json).collect())
        .unwrap_or_default()
}

/// Rows of a configuration table (objects) from a JSON array.
pub fn rows_from_json(value: Option<&Json>) -> Vec<Map<String, Json>> {
    value
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default()
}

/// The `content` column of an entity: its extras and what its kind keeps without a table.
pub fn content(extra: &Extra, kind_fields: Map<String, Json>) -> Option<Json> {
    let mut o = kind_fields;
    if !extra.is_empty() {
        o.insert("extra".into(), Json::Object(extra.clone()));
    }
    (!o.is_empty()).then_some(Json::Object(o))
}

/// The extras kept in a `content` column, in the neutral form (rows written before it was
/// introduced are converted as they are read).
pub fn extra_of(content: Option<&Json>) -> Extra {
    crate::extras::normalize(
        content
            .and_then(|c| c.get("extra"))
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default(),
    )
}
