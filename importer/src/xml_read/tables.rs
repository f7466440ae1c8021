//! Field definitions, configuration tables and InfoTables.

use super::*;

// ------------------------------------------------------------------------------------------
// Fields, configuration tables, InfoTables.
// ------------------------------------------------------------------------------------------

pub(super) fn read_field(ctx: &mut Ctx<'_>, node: Node<'_>) -> FieldDefinition {
    let mut field = FieldDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => field.name = value.to_owned(),
            "baseType" => field.base_type = value.to_owned(),
            "description" => field.description = value.to_owned(),
            "ordinal" => field.ordinal = parse_int(ctx, node.name(), key, value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    field
                        .aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    field
}

/// `FieldDefinitions/FieldDefinition` of a `DataShape` (or the list itself).
pub(super) fn read_fields(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<FieldDefinition> {
    let mut fields = Vec::new();
    for child in list.children() {
        if child.name() == "FieldDefinition" {
            fields.push(read_field(ctx, child));
        } else {
            ctx.unplaced_child(list.name(), child.name());
        }
    }
    fields
}

/// The fields of a `<DataShape>` element (configuration table or InfoTable).
pub(super) fn read_data_shape_fields(ctx: &mut Ctx<'_>, shape: Node<'_>) -> Vec<FieldDefinition> {
    let mut fields = Vec::new();
    for child in shape.children() {
        if child.name() == "FieldDefinitions" {
            fields.extend(read_fields(ctx, child));
        } else {
            ctx.unplaced_child("DataShape", child.name());
        }
    }
    fields
}

/// A cell of a row, typed by its column's base type.
pub(super) fn cell_value(ctx: &mut Ctx<'_>, cell: Node<'_>, base_type: Option<&str>) -> Json {
    if let Some(table) = cell.child("infoTable") {
        return infotable_json(ctx, table);
    }
    if let Some(json) = cell.child("json") {
        let text = json.text().trim();
        return serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()));
    }
    if cell.has_children() {
        return element_to_json(cell, false);
    }
    let text = cell.text();
    match base_type {
        Some(base_type) if !base_type.is_empty() => match values::from_text(base_type, text) {
            Ok(value) => value,
            Err(err) => {
                ctx.note(format!("cell <{}>: {err}; kept as text", cell.name()));
                Json::String(text.to_owned())
            }
        },
        _ => Json::String(text.to_owned()),
    }
}

pub(super) fn read_rows(
    ctx: &mut Ctx<'_>,
    rows: Node<'_>,
    fields: &[FieldDefinition],
) -> Vec<Map<String, Json>> {
    let mut out = Vec::new();
    for row in rows.children() {
        if row.name() != "Row" {
            ctx.unplaced_child("Rows", row.name());
            continue;
        }
        let mut cells = Map::new();
        for cell in row.children() {
            let base_type = fields
                .iter()
                .find(|f| f.name == cell.name())
                .map(|f| f.base_type.as_str());
            let value = cell_value(ctx, cell, base_type);
            cells.insert(cell.name().to_owned(), value);
        }
        out.push(cells);
    }
    out
}

/// `<infoTable>` as an InfoTable object.
pub(super) fn infotable_json(ctx: &mut Ctx<'_>, table: Node<'_>) -> Json {
    let mut fields = Vec::new();
    let mut rows = Vec::new();
    for child in table.children() {
        match child.name() {
            "DataShape" => fields.extend(read_data_shape_fields(ctx, child)),
            "Rows" => rows = read_rows(ctx, child, &fields),
            other => ctx.unplaced_child("infoTable", other),
        }
    }
    let mut definitions = Map::new();
    for field in fields {
        let mut object = Map::new();
        object.insert("name".into(), Json::String(field.name.clone()));
        object.insert("baseType".into(), Json::String(field.base_type));
        object.insert("description".into(), Json::String(field.description));
        object.insert("ordinal".into(), Json::from(field.ordinal));
        object.insert("aspects".into(), Json::Object(field.aspects));
        definitions.insert(field.name, Json::Object(object));
    }
    let mut shape = Map::new();
    shape.insert("fieldDefinitions".into(), Json::Object(definitions));
    let mut object = Map::new();
    object.insert("dataShape".into(), Json::Object(shape));
    object.insert(
        "rows".into(),
        Json::Array(rows.into_iter().map(Json::Object).collect()),
    );
    Json::Object(object)
}

pub(super) fn read_config_table(ctx: &mut Ctx<'_>, node: Node<'_>) -> ConfigurationTable {
    let mut table = ConfigurationTable::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => table.name = value.to_owned(),
            "description" => table.description = value.to_owned(),
            "isMultiRow" => table.is_multi_row = parse_bool(value),
            "ordinal" => table.ordinal = parse_int(ctx, node.name(), key, value),
            "dataShapeName" => table.data_shape_name = value.to_owned(),
            "isHidden" => table.is_hidden = parse_bool(value),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    let mut rows_node = None;
    for child in node.children() {
        match child.name() {
            "DataShape" => table.fields.extend(read_data_shape_fields(ctx, child)),
            "Rows" => rows_node = Some(child),
            other => ctx.unplaced_child("ConfigurationTable", other),
        }
    }
    if let Some(rows) = rows_node {
        table.rows = read_rows(ctx, rows, &table.fields);
    }
    table
}

/// `ConfigurationTables/ConfigurationTable` (also `SharedConfigurationTables`).
pub(super) fn read_config_tables(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<ConfigurationTable> {
    let mut tables = Vec::new();
    for child in list.children() {
        if child.name() == "ConfigurationTable" {
            tables.push(read_config_table(ctx, child));
        } else {
            ctx.unplaced_child(list.name(), child.name());
        }
    }
    tables
}
