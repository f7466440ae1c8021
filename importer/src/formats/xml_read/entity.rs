//! One entity: its common attributes, its kind's attributes and children, and what is kept as
//! extras.

use super::*;

// ------------------------------------------------------------------------------------------
// Entities.
// ------------------------------------------------------------------------------------------

/// The default kind of a collection's entities.
pub(super) fn kind_for(collection: Collection) -> Kind {
    match collection {
        Collection::Things => Kind::Thing(Box::default()),
        Collection::ThingTemplates => Kind::ThingTemplate(Box::default()),
        Collection::ThingShapes => Kind::ThingShape(Box::default()),
        Collection::DataShapes => Kind::DataShape(DataShape::default()),
        Collection::Users => Kind::User(Box::default()),
        Collection::Groups => Kind::Group(Group::default()),
        Collection::Organizations => Kind::Organization(Box::default()),
        Collection::ApplicationKeys => Kind::ApplicationKey(ApplicationKey::default()),
        Collection::LocalizationTables => Kind::LocalizationTable(LocalizationTable::default()),
        Collection::ModelTags | Collection::DataTags => Kind::Vocabulary(Vocabulary::default()),
        _ => Kind::Plain,
    }
}

/// Reads a kind-specific attribute; false when the kind has no field for it.
pub(super) fn kind_attr(
    ctx: &mut Ctx<'_>,
    kind: &mut Kind,
    password: &mut PasswordHash,
    owner: &str,
    key: &str,
    value: &str,
) -> bool {
    match kind {
        Kind::Thing(t) => match key {
            "thingTemplate" => t.thing_template = value.to_owned(),
            "enabled" => t.enabled = parse_bool(value),
            "published" => t.published = parse_bool(value),
            "identifier" => t.identifier = value.to_owned(),
            "valueStream" => t.value_stream = value.to_owned(),
            "inheritedValueStream" => t.inherited_value_stream = value.to_owned(),
            "thingPackage" => t.thing_package = value.to_owned(),
            "effectiveThingPackage" => t.effective_thing_package = value.to_owned(),
            _ => return false,
        },
        Kind::ThingTemplate(t) => match key {
            "baseThingTemplate" => t.base_thing_template = value.to_owned(),
            "thingPackage" => t.thing_package = value.to_owned(),
            "effectiveThingPackage" => t.effective_thing_package = value.to_owned(),
            "valueStream" => t.value_stream = value.to_owned(),
            _ => return false,
        },
        Kind::ThingShape(s) => match key {
            "className" => s.class_name = value.to_owned(),
            _ => return false,
        },
        Kind::DataShape(d) => match key {
            "baseDataShape" => d.base_data_shape = value.to_owned(),
            _ => return false,
        },
        Kind::User(u) => match key {
            "enabled" => u.enabled = parse_bool(value),
            "locked" => u.locked = parse_bool(value),
            "mobileMashup" => u.mobile_mashup = value.to_owned(),
            "scimId" => u.scim_id = value.to_owned(),
            "scimExternalId" => u.scim_external_id = value.to_owned(),
            "passwordHash" => password.hash = value.to_owned(),
            "passwordHashAlgorithm" => password.algorithm = value.to_owned(),
            "passwordHashIterationCount" => {
                password.iterations = parse_int(ctx, owner, key, value);
            }
            "passwordHashSaltSizeInBytes" => {
                password.salt_bytes = parse_int(ctx, owner, key, value);
            }
            "passwordHashSizeInBytes" => password.hash_bytes = parse_int(ctx, owner, key, value),
            _ => return false,
        },
        Kind::Group(g) => match key {
            "scimDisplayName" => g.scim_display_name = value.to_owned(),
            "scimId" => g.scim_id = value.to_owned(),
            "scimExternalId" => g.scim_external_id = value.to_owned(),
            _ => return false,
        },
        Kind::Organization(o) => match key {
            "loginPrompt" => o.login_prompt = value.to_owned(),
            "loginStyle" => o.login_style = value.to_owned(),
            "loginButtonStyle" => o.login_button_style = value.to_owned(),
            "loginResetPassword" => o.login_reset_password = parse_bool(value),
            "mobileMashup" => o.mobile_mashup = value.to_owned(),
            "resetMailContent" => o.reset_mail_content = value.to_owned(),
            "resetMailServer" => o.reset_mail_server = value.to_owned(),
            "resetMailSubject" => o.reset_mail_subject = value.to_owned(),
            _ => return false,
        },
        Kind::ApplicationKey(k) => match key {
            "keyId" => k.key_id = value.to_owned(),
            "userNameReference" => k.user_name = value.to_owned(),
            "expirationDate" => k.expiration_date = parse_date_attr(ctx, owner, key, value),
            "clientName" => k.client_name = value.to_owned(),
            "ipWhitelist" => k.ip_whitelist = value.to_owned(),
            _ => return false,
        },
        Kind::Vocabulary(v) => match key {
            "isDynamic" => v.is_dynamic = parse_bool(value),
            _ => return false,
        },
        Kind::LocalizationTable(_) | Kind::Plain => return false,
    }
    true
}

/// Reads a kind-specific child element; false when the kind has no field for it.
pub(super) fn kind_child(
    ctx: &mut Ctx<'_>,
    kind: &mut Kind,
    child: Node<'_>,
    extra: &mut Extra,
) -> Result<bool, ImportError> {
    let name = child.name();
    match kind {
        Kind::Thing(t) => match name {
            "ThingShape" => read_nested_shape(ctx, child, &mut t.definitions, extra),
            "ImplementedShapes" => t.implemented_shapes = read_implemented_shapes(ctx, child),
            // Property values are read once the definitions are known.
            "ThingProperties" => {}
            _ => return Ok(false),
        },
        Kind::ThingTemplate(t) => match name {
            "ThingShape" => read_nested_shape(ctx, child, &mut t.definitions, extra),
            "ImplementedShapes" => t.implemented_shapes = read_implemented_shapes(ctx, child),
            "SharedConfigurationTables" => {
                t.shared_configuration_tables = read_config_tables(ctx, child);
            }
            _ => return Ok(false),
        },
        Kind::ThingShape(s) => return Ok(read_definition_list(ctx, child, &mut s.definitions)),
        Kind::DataShape(d) => match name {
            "FieldDefinitions" => d.fields = read_fields(ctx, child),
            _ => return Ok(false),
        },
        Kind::Group(g) => match name {
            "Members" => read_members(ctx, child, &mut g.members)?,
            _ => return Ok(false),
        },
        Kind::Organization(o) => match name {
            "loginImage" => o.login_image = child.text().to_owned(),
            // Units are read once both lists are known.
            "Connections" | "OrganizationalUnits" => {}
            _ => return Ok(false),
        },
        Kind::LocalizationTable(l) => match name {
            "Tokens" => {
                for token in child.children() {
                    if token.name() != "Token" {
                        ctx.unplaced_child("Tokens", token.name());
                        continue;
                    }
                    let mut t = Token::default();
                    for (key, value) in token.attrs() {
                        match key {
                            "name" => t.name = value.to_owned(),
                            "value" => t.value = value.to_owned(),
                            "description" => t.description = value.to_owned(),
                            "context" => t.context = value.to_owned(),
                            _ => ctx.unplaced_attr("Token", key),
                        }
                    }
                    l.tokens.push(t);
                }
            }
            _ => return Ok(false),
        },
        Kind::Vocabulary(v) => match name {
            "VocabularyTerm" => {
                let mut term = Term::default();
                for (key, value) in child.attrs() {
                    match key {
                        "name" => term.name = value.to_owned(),
                        "description" => term.description = value.to_owned(),
                        _ => ctx.unplaced_attr("VocabularyTerm", key),
                    }
                }
                v.terms.push(term);
            }
            _ => return Ok(false),
        },
        Kind::User(_) | Kind::ApplicationKey(_) | Kind::Plain => return Ok(false),
    }
    Ok(true)
}

/// Text of a typed cell.
pub(super) fn cell_text(value: Option<&Json>) -> String {
    match value {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Moves the `Settings` and `UserExtensions` tables of a user into its typed fields.
pub(super) fn consume_user_tables(user: &mut User, tables: &mut Vec<ConfigurationTable>) {
    tables.retain_mut(|table| match table.name.as_str() {
        "Settings" => {
            user.language_preferences =
                cell_text(table.rows.first().and_then(|r| r.get("language")));
            false
        }
        "UserExtensions" => {
            for row in &table.rows {
                user.extensions.push(ExtensionValue {
                    name: cell_text(row.get("name")),
                    value: cell_text(row.get("value")),
                    last_update_time: match row.get("lastUpdateTime") {
                        Some(Json::Number(n)) => n.as_i64().unwrap_or(0),
                        Some(Json::String(s)) => parse_date(s).unwrap_or(0),
                        _ => 0,
                    },
                });
            }
            false
        }
        _ => true,
    });
}

/// Converts one collected entity element.
pub(super) fn convert_entity(
    node: Node<'_>,
    enclosing: Collection,
    file: &str,
    universal_password: bool,
    notes: &mut Vec<Note>,
) -> Result<Entity, ImportError> {
    let element = node.name();
    let collection = match Collection::from_element_name(element) {
        Some(c) => c,
        None => enclosing,
    };
    let name = node.attr_str("name");
    let mut ctx = Ctx::new(file, Label::Entity(collection, name), node.line(), notes);
    if name.is_empty() {
        return Err(xml_error(
            file,
            node.line(),
            &format!("<{element}> in <{enclosing}> has no name attribute"),
        ));
    }
    if collection != enclosing {
        ctx.note(format!(
            "<{element}> found inside <{enclosing}>; read as part of {collection}"
        ));
    } else if element != collection.element_name() {
        ctx.note(format!(
            "<{element}> inside <{enclosing}>: expected <{}>",
            collection.element_name()
        ));
    }

    let mut common = Common::default();
    let mut kind = kind_for(collection);
    let mut extra = Extra::new();
    let mut password = PasswordHash::default();
    for (key, value) in node.attrs() {
        match key {
            "name" => {}
            "description" => common.description = value.to_owned(),
            "documentationContent" => common.documentation_content = value.to_owned(),
            "tags" => common.tags = value.to_owned(),
            "projectName" => common.project_name = value.to_owned(),
            "homeMashup" => common.home_mashup = value.to_owned(),
            "lastModifiedDate" => {
                common.last_modified_date = parse_date_attr(&mut ctx, element, key, value);
            }
            _ => {
                if let Some(aspect) = key.strip_prefix("aspect.") {
                    common
                        .aspects
                        .insert(aspect.to_owned(), values::aspect(aspect, value));
                } else if !kind_attr(&mut ctx, &mut kind, &mut password, element, key, value) {
                    let (key, value) = extras::from_xml_attribute(key, value);
                    extra.insert(key, value);
                }
            }
        }
    }

    let mut rules = Vec::new();
    let mut configuration_tables = Vec::new();
    let mut property_values = None;
    let mut connections = None;
    let mut units_node = None;
    let instance_allowed = collection.has_instance_permissions();
    for child in node.children() {
        let child_name = child.name();
        if let Some((category, instance)) = block_of(child_name)
            && (!instance || instance_allowed)
        {
            let mut plain = Vec::new();
            read_block(&mut ctx, child, category, &mut plain)?;
            push_entity_rules(&mut rules, plain, instance);
            continue;
        }
        match child_name {
            "Owner" => {
                common.owner = Some((
                    child.attr_str("type").to_owned(),
                    child.attr_str("name").to_owned(),
                ));
            }
            "avatar" => common.avatar = child.text().to_owned(),
            "ConfigurationTables" => {
                configuration_tables.extend(read_config_tables(&mut ctx, child));
            }
            _ => {
                match child_name {
                    "ThingProperties" => property_values = Some(child),
                    "Connections" => connections = Some(child),
                    "OrganizationalUnits" => units_node = Some(child),
                    _ => {}
                }
                // Even an empty element (`<PropertyBindings/>`) is kept, so it is written back.
                if !kind_child(&mut ctx, &mut kind, child, &mut extra)? {
                    keep_element(&mut extra, child);
                }
            }
        }
    }

    match &mut kind {
        Kind::Thing(thing) => {
            if let Some(list) = property_values {
                thing.values = read_property_values(&mut ctx, list, &thing.definitions);
            }
        }
        Kind::User(user) => {
            user.password = (!universal_password && !password.hash.is_empty()).then_some(password);
            consume_user_tables(user, &mut configuration_tables);
        }
        Kind::Organization(org) => {
            org.units = read_units(&mut ctx, name, connections, units_node)?;
        }
        _ => {}
    }

    Ok(Entity {
        collection,
        name: name.to_owned(),
        common,
        rules,
        configuration_tables,
        kind,
        extra,
        origin: Origin {
            file: file.to_owned(),
            line: Some(node.line()),
        },
    })
}
