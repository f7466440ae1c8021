//! Definition lists, service implementations, configuration tables, typed values and InfoTables,
//! implemented and nested shapes.

use ironworx_entity::vocab::BaseType;

use super::*;

pub(super) fn definition_lists<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    d: &Definitions,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    x.start("PropertyDefinitions", Attrs::new());
    for p in &d.properties {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &p.name)
            .s("baseType", &p.base_type)
            .s("description", &p.description)
            .s("category", &p.category)
            .i("ordinal", p.ordinal.into())
            .b("isLocalOnly", p.is_local_only)
            .aspects(&p.aspects);
        x.leaf("PropertyDefinition", attrs);
    }
    x.end("PropertyDefinitions");

    x.start("ServiceDefinitions", Attrs::new());
    for s in &d.services {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &s.name)
            .s("description", &s.description)
            .s("category", &s.category)
            .b("isAllowOverride", s.is_allow_override)
            .b("isLocalOnly", s.is_local_only)
            .b("isOpen", s.is_open)
            .b("isPrivate", s.is_private)
            .aspects(&s.aspects);
        x.start("ServiceDefinition", attrs);
        if let Some(result) = &s.result_type {
            field_definition(x, "ResultType", result);
        }
        x.start("ParameterDefinitions", Attrs::new());
        for p in &s.parameters {
            field_definition(x, "FieldDefinition", p);
        }
        x.end("ParameterDefinitions");
        x.end("ServiceDefinition");
    }
    x.end("ServiceDefinitions");

    x.start("EventDefinitions", Attrs::new());
    for ev in &d.events {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &ev.name)
            .s("description", &ev.description)
            .s("category", &ev.category)
            .s("dataShape", &ev.data_shape)
            .b("isLocalOnly", ev.is_local_only)
            .aspects(&ev.aspects);
        x.leaf("EventDefinition", attrs);
    }
    x.end("EventDefinitions");

    x.start("ServiceImplementations", Attrs::new());
    for imp in &d.implementations {
        service_implementation(
            x,
            e,
            &imp.name,
            &imp.description,
            &imp.handler_name,
            &imp.configuration,
            options,
        )?;
    }
    x.end("ServiceImplementations");

    x.start("Subscriptions", Attrs::new());
    for s in &d.subscriptions {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &s.name)
            .s("description", &s.description)
            .b("enabled", s.enabled)
            .s("eventName", &s.event_name)
            .s("source", &s.source)
            .s("sourceProperty", &s.source_property)
            .s("sourceType", &s.source_type);
        x.start("Subscription", attrs);
        service_implementation(
            x,
            e,
            &s.name,
            "",
            &s.handler_name,
            &s.configuration,
            options,
        )?;
        x.end("Subscription");
    }
    x.end("Subscriptions");
    Ok(())
}

pub(super) fn service_implementation<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    name: &str,
    description: &str,
    handler: &str,
    tables: &[ConfigurationTable],
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let mut attrs = Attrs::new();
    attrs
        .s("name", name)
        .s("description", description)
        .s("handlerName", handler);
    x.start("ServiceImplementation", attrs);
    x.start("ConfigurationTables", Attrs::new());
    for table in tables {
        configuration_table(x, e, table, options)?;
    }
    x.end("ConfigurationTables");
    x.end("ServiceImplementation");
    Ok(())
}

pub(super) fn configuration_table<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &ConfigurationTable,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let mut attrs = Attrs::new();
    attrs
        .s("name", &t.name)
        .s("description", &t.description)
        .b("isMultiRow", t.is_multi_row)
        .i("ordinal", t.ordinal.into())
        .s("dataShapeName", &t.data_shape_name);
    if t.is_hidden {
        attrs.b("isHidden", true);
    }
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    field_definitions(x, &t.fields);
    x.end("DataShape");
    rows(x, e, &t.fields, &t.rows, options.blank_secrets)?;
    x.end("ConfigurationTable");
    Ok(())
}

/// `<Rows>`: one `<Row>` per row, one element per cell, fields first in field order, then the
/// cells no field describes.
pub(super) fn rows<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    fields: &[FieldDefinition],
    rows: &[Map<String, Json>],
    blank_passwords: bool,
) -> Result<(), ImportError> {
    x.start("Rows", Attrs::new());
    for row in rows {
        x.start("Row", Attrs::new());
        for field in fields {
            if let Some(value) = row.get(&field.name) {
                check_name(e, &field.name, "field")?;
                if blank_passwords && field.name == "password" {
                    x.leaf(&field.name, Attrs::new());
                } else {
                    typed_value(x, e, &field.name, &field.base_type, value)?;
                }
            }
        }
        for (name, value) in row {
            if !fields.iter().any(|f| &f.name == name) {
                check_name(e, name, "field")?;
                if blank_passwords && name == "password" {
                    x.leaf(name, Attrs::new());
                } else if matches!(value, Json::Object(o) if !is_info_table(o)) || value.is_array()
                {
                    // A JSON cell of a column the table does not declare, wrapped in `<json>`
                    // as ThingWorx writes them (DataTable settings' `accumulatedDataShape`).
                    x.start(name, Attrs::new());
                    x.text_leaf("json", Attrs::new(), &value.to_string(), TextMode::Cdata);
                    x.end(name);
                } else {
                    typed_value(x, e, name, "", value)?;
                }
            }
        }
        x.end("Row");
    }
    x.end("Rows");
    Ok(())
}

/// `<name>value</name>` for a value of `base_type` (empty when unknown): textual values as
/// CDATA, InfoTables as a nested `<infoTable>`, the rest as plain text.
pub(super) fn typed_value<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    name: &str,
    base_type: &str,
    value: &Json,
) -> Result<(), ImportError> {
    x.start(name, Attrs::new());
    match value {
        Json::Object(table)
            if (base_type == BaseType::Infotable.as_str() || base_type.is_empty())
                && is_info_table(table) =>
        {
            info_table(x, e, table)?;
        }
        Json::String(s) => {
            let mode = if matches!(
                base_type.parse::<BaseType>(),
                Ok(BaseType::Image | BaseType::Blob)
            ) {
                TextMode::Plain
            } else {
                TextMode::Cdata
            };
            x.text(s, mode);
        }
        other => {
            let text = to_text(base_type, other);
            let mode = if is_textual(base_type) || matches!(other, Json::Object(_) | Json::Array(_))
            {
                TextMode::Cdata
            } else {
                TextMode::Plain
            };
            x.text(&text, mode);
        }
    }
    x.end(name);
    Ok(())
}

pub(super) fn is_info_table(table: &Map<String, Json>) -> bool {
    table.keys().all(|k| k == "dataShape" || k == "rows")
        && table.get("rows").is_none_or(Json::is_array)
        && table.get("dataShape").is_none_or(Json::is_object)
}

/// An InfoTable value `{"dataShape":{"fieldDefinitions":{…}},"rows":[…]}` as `<infoTable>`.
pub(super) fn info_table<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    table: &Map<String, Json>,
) -> Result<(), ImportError> {
    let fields: Vec<FieldDefinition> = table
        .get("dataShape")
        .and_then(|d| d.get("fieldDefinitions"))
        .and_then(Json::as_object)
        .map(|defs| {
            defs.iter()
                .map(|(key, def)| {
                    let text = |k: &str| def.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
                    FieldDefinition {
                        name: def
                            .get("name")
                            .and_then(Json::as_str)
                            .unwrap_or(key)
                            .to_owned(),
                        base_type: text("baseType"),
                        description: text("description"),
                        ordinal: def
                            .get("ordinal")
                            .and_then(Json::as_i64)
                            .and_then(|n| i32::try_from(n).ok())
                            .unwrap_or(0),
                        aspects: def
                            .get("aspects")
                            .and_then(Json::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let row_maps: Vec<Map<String, Json>> = table
        .get("rows")
        .and_then(Json::as_array)
        .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    x.start("infoTable", Attrs::new());
    x.start("DataShape", Attrs::new());
    field_definitions(x, &fields);
    x.end("DataShape");
    rows(x, e, &fields, &row_maps, false)?;
    x.end("infoTable");
    Ok(())
}

pub(super) fn implemented_shapes<W: Write>(x: &mut Xml<W>, shapes: &[String]) {
    x.start("ImplementedShapes", Attrs::new());
    for shape in shapes {
        let mut attrs = Attrs::new();
        attrs.s("name", shape).s("type", "ThingShape");
        x.leaf("ImplementedShape", attrs);
    }
    x.end("ImplementedShapes");
}

pub(super) fn nested_shape<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    d: &Definitions,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    x.start("ThingShape", Attrs::new());
    definition_lists(x, e, d, options)?;
    for (key, value) in &e.extra {
        let Some(part) = key.strip_prefix(extras::NESTED_SHAPE) else {
            continue;
        };
        if let extras::Xml::Elements(elements) = extras::to_xml(part, value) {
            for kept in &elements {
                kept_element(x, e, kept)?;
            }
        }
    }
    x.end("ThingShape");
    Ok(())
}
