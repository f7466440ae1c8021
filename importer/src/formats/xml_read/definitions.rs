//! Definition lists (properties, services, events, implementations, subscriptions), implemented
//! shapes and property values.

use super::*;

// ------------------------------------------------------------------------------------------
// Definitions (ThingShape lists).
// ------------------------------------------------------------------------------------------

pub(super) fn read_property_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> PropertyDefinition {
    let mut def = PropertyDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "baseType" => def.base_type = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "ordinal" => def.ordinal = parse_int(ctx, node.name(), key, value),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    def
}

pub(super) fn read_service_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> ServiceDefinition {
    let mut def = ServiceDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "isAllowOverride" => def.is_allow_override = parse_bool(value),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            "isOpen" => def.is_open = parse_bool(value),
            "isPrivate" => def.is_private = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        match child.name() {
            "ResultType" => def.result_type = Some(read_field(ctx, child)),
            "ParameterDefinitions" => def.parameters = read_fields(ctx, child),
            other => ctx.unplaced_child("ServiceDefinition", other),
        }
    }
    def
}

pub(super) fn read_event_definition(ctx: &mut Ctx<'_>, node: Node<'_>) -> EventDefinition {
    let mut def = EventDefinition::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => def.name = value.to_owned(),
            "description" => def.description = value.to_owned(),
            "category" => def.category = value.to_owned(),
            "dataShape" => def.data_shape = value.to_owned(),
            "isLocalOnly" => def.is_local_only = parse_bool(value),
            _ => match key.strip_prefix("aspect.") {
                Some(aspect) => {
                    def.aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                }
                None => ctx.unplaced_attr(node.name(), key),
            },
        }
    }
    for child in node.children() {
        ctx.unplaced_child(node.name(), child.name());
    }
    def
}

pub(super) fn read_implementation(ctx: &mut Ctx<'_>, node: Node<'_>) -> ServiceImplementation {
    let mut imp = ServiceImplementation::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => imp.name = value.to_owned(),
            "description" => imp.description = value.to_owned(),
            "handlerName" => imp.handler_name = value.to_owned(),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    for child in node.children() {
        match child.name() {
            "ConfigurationTables" => imp.configuration = read_config_tables(ctx, child),
            other => ctx.unplaced_child("ServiceImplementation", other),
        }
    }
    imp
}

pub(super) fn read_subscription(ctx: &mut Ctx<'_>, node: Node<'_>) -> Subscription {
    let mut sub = Subscription::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => sub.name = value.to_owned(),
            "description" => sub.description = value.to_owned(),
            "enabled" => sub.enabled = parse_bool(value),
            "eventName" => sub.event_name = value.to_owned(),
            "source" => sub.source = value.to_owned(),
            "sourceProperty" => sub.source_property = value.to_owned(),
            "sourceType" => sub.source_type = value.to_owned(),
            _ => ctx.unplaced_attr(node.name(), key),
        }
    }
    for child in node.children() {
        match child.name() {
            "ServiceImplementation" => {
                let imp = read_implementation(ctx, child);
                // Older exports (8.2) name a subscription only on its implementation.
                if sub.name.is_empty() {
                    sub.name = imp.name;
                }
                sub.handler_name = imp.handler_name;
                sub.configuration = imp.configuration;
            }
            other => ctx.unplaced_child("Subscription", other),
        }
    }
    sub
}

/// Reads a definition list into `defs`; false when `list` is not one of the five lists.
pub(super) fn read_definition_list(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    defs: &mut Definitions,
) -> bool {
    let (item, kind) = match list.name() {
        "PropertyDefinitions" => ("PropertyDefinition", 0),
        "ServiceDefinitions" => ("ServiceDefinition", 1),
        "EventDefinitions" => ("EventDefinition", 2),
        "ServiceImplementations" => ("ServiceImplementation", 3),
        "Subscriptions" => ("Subscription", 4),
        _ => return false,
    };
    for child in list.children() {
        if child.name() != item {
            ctx.unplaced_child(list.name(), child.name());
            continue;
        }
        match kind {
            0 => defs.properties.push(read_property_definition(ctx, child)),
            1 => defs.services.push(read_service_definition(ctx, child)),
            2 => defs.events.push(read_event_definition(ctx, child)),
            3 => defs.implementations.push(read_implementation(ctx, child)),
            _ => defs.subscriptions.push(read_subscription(ctx, child)),
        }
    }
    true
}

/// The nested `<ThingShape>` of a Thing or ThingTemplate; its other non-empty children
/// (ServiceMappings with content, …) are kept in `extra` under `<ThingShape>`.
pub(super) fn read_nested_shape(
    ctx: &mut Ctx<'_>,
    shape: Node<'_>,
    defs: &mut Definitions,
    extra: &mut Extra,
) {
    for (key, _) in shape.attrs() {
        ctx.unplaced_attr("ThingShape", key);
    }
    for child in shape.children() {
        if !read_definition_list(ctx, child, defs) && !child.is_empty() {
            let (key, value) =
                extras::nested_shape_part(child.name(), &element_to_json(child, false));
            extra.insert(key, value);
        }
    }
}

pub(super) fn read_implemented_shapes(ctx: &mut Ctx<'_>, list: Node<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for child in list.children() {
        if child.name() == "ImplementedShape" {
            // A shape is implemented once (the binary form keys its shapes by name); a repeat
            // is dropped with a note instead of failing the import on the unique shape row.
            let name = child.attr_str("name");
            if out.iter().any(|s| s == name) {
                ctx.note(format!(
                    "ThingShape {name} is listed twice in <ImplementedShapes>; the repeat was dropped"
                ));
            } else {
                out.push(name.to_owned());
            }
        } else {
            ctx.unplaced_child("ImplementedShapes", child.name());
        }
    }
    out
}

pub(super) fn read_property_values(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    defs: &Definitions,
) -> Vec<PropertyValue> {
    let mut out = Vec::with_capacity(list.children().count());
    for prop in list.children() {
        let mut value = PropertyValue {
            name: prop.name().to_owned(),
            base_type: defs
                .properties
                .iter()
                .find(|p| p.name == prop.name())
                .map(|p| p.base_type.clone())
                .unwrap_or_default(),
            value: Json::String(String::new()),
            time: 0,
            quality: String::new(),
        };
        for part in prop.children() {
            match part.name() {
                "Value" => {
                    value.value = match part.child("infoTable") {
                        Some(table) => infotable_json(ctx, table),
                        None => Json::String(part.text().to_owned()),
                    };
                }
                "Timestamp" => {
                    value.time =
                        parse_date_attr(ctx, prop.name(), "Timestamp", part.text()).unwrap_or(0);
                }
                "Quality" => value.quality = part.text().to_owned(),
                other => ctx.unplaced_child(prop.name(), other),
            }
        }
        out.push(value);
    }
    out
}
