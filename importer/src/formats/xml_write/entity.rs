//! One entity: its attributes, common children, kind-specific parts and kept extras, and field
//! definitions.

use super::*;

pub(super) fn write_entity<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    _layout: Layout,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let c = &e.common;
    let mut attrs = Attrs::new();
    attrs
        .s("name", &e.name)
        .s("description", &c.description)
        .s("documentationContent", &c.documentation_content)
        .s("homeMashup", &c.home_mashup)
        .s("projectName", &c.project_name)
        .s("tags", &c.tags);
    if let Some(date) = c.last_modified_date {
        attrs.date("lastModifiedDate", date);
    }
    kind_attrs(&mut attrs, &e.kind, options);
    attrs.aspects(&c.aspects);
    let mut kept = Vec::new();
    for (key, value) in &e.extra {
        match extras::to_xml(key, value) {
            extras::Xml::Attribute(text) => {
                check_name(e, key, "kept attribute")?;
                attrs.push(Cow::Borrowed(key.as_str()), Cow::Owned(text));
            }
            extras::Xml::Elements(elements) => kept.extend(elements),
            extras::Xml::None => {}
        }
    }
    let element = e.collection.element_name();
    x.start(element, attrs);

    if let Kind::ThingShape(shape) = &e.kind {
        definition_lists(x, e, &shape.definitions, options)?;
    }
    // Storage files carry the owner too (ThingWorx's source-control files leave it out, which
    // would lose it): the owner has every right on its entity.
    if let Some((kind, name)) = &c.owner {
        let mut attrs = Attrs::new();
        attrs.s("name", name).s("type", kind);
        x.leaf("Owner", attrs);
    }

    x.text_leaf("avatar", Attrs::new(), &c.avatar, TextMode::Plain);
    let own: Vec<&Rule> = e
        .rules
        .iter()
        .filter(|r| !r.instance)
        .map(|r| &r.rule)
        .collect();
    design_time_block(x, "DesignTimePermissions", &own);
    run_time_block(x, "RunTimePermissions", &own);
    visibility_block(x, "VisibilityPermissions", &own);

    x.start("ConfigurationTables", Attrs::new());
    if let Kind::User(user) = &e.kind {
        user_tables(x, user);
        for table in e
            .configuration_tables
            .iter()
            .filter(|t| t.name != "UserExtensions" && t.name != "Settings")
        {
            configuration_table(x, e, table, options)?;
        }
    } else {
        for table in &e.configuration_tables {
            configuration_table(x, e, table, options)?;
        }
    }
    x.end("ConfigurationTables");

    let instance: Vec<&Rule> = e
        .rules
        .iter()
        .filter(|r| r.instance)
        .map(|r| &r.rule)
        .collect();
    match &e.kind {
        Kind::Plain | Kind::User(_) => {}
        Kind::Thing(thing) => thing_parts(x, e, thing, options)?,
        Kind::ThingTemplate(template) => {
            template_parts(x, e, template, options)?;
            design_time_block(x, "InstanceDesignTimePermissions", &instance);
            run_time_block(x, "InstanceRunTimePermissions", &instance);
            visibility_block(x, "InstanceVisibilityPermissions", &instance);
        }
        Kind::ThingShape(_) => run_time_block(x, "InstanceRunTimePermissions", &instance),
        Kind::DataShape(shape) => data_shape_parts(x, shape),
        Kind::Group(group) => members(x, &group.members),
        Kind::Organization(org) => organization_parts(x, org),
        Kind::ApplicationKey(_) => {}
        Kind::LocalizationTable(table) => tokens(x, table),
        Kind::Vocabulary(vocabulary) => terms(x, vocabulary),
    }

    for kept in &kept {
        kept_element(x, e, kept)?;
    }
    x.end(element);
    Ok(())
}

pub(super) fn kind_attrs<'a>(attrs: &mut Attrs<'a>, kind: &'a Kind, options: &WriteOptions) {
    match kind {
        Kind::Plain | Kind::LocalizationTable(_) => {}
        Kind::Thing(t) => {
            attrs
                .s("thingTemplate", &t.thing_template)
                .b("enabled", t.enabled)
                .b("published", t.published)
                .s("identifier", &t.identifier)
                .s("valueStream", &t.value_stream)
                .s("inheritedValueStream", &t.inherited_value_stream)
                .s("effectiveThingPackage", &t.effective_thing_package);
            // ThingWorx writes a Thing's own package only when it has one.
            if !t.thing_package.is_empty() {
                attrs.s("thingPackage", &t.thing_package);
            }
        }
        Kind::ThingTemplate(t) => {
            attrs
                .s("baseThingTemplate", &t.base_thing_template)
                .s("thingPackage", &t.thing_package)
                .s("effectiveThingPackage", &t.effective_thing_package)
                .s("valueStream", &t.value_stream);
        }
        Kind::ThingShape(shape) => {
            attrs.s("className", &shape.class_name);
        }
        Kind::DataShape(d) => {
            attrs.s("baseDataShape", &d.base_data_shape);
        }
        Kind::User(u) => {
            attrs
                .b("enabled", u.enabled)
                .b("locked", u.locked)
                .s("mobileMashup", &u.mobile_mashup)
                .s("scimId", &u.scim_id)
                .s("scimExternalId", &u.scim_external_id);
            if !options.blank_secrets {
                match &u.password {
                    Some(p) => {
                        attrs
                            .s("passwordHash", &p.hash)
                            .s("passwordHashAlgorithm", &p.algorithm)
                            .i("passwordHashIterationCount", p.iterations.into())
                            .i("passwordHashSaltSizeInBytes", p.salt_bytes.into())
                            .i("passwordHashSizeInBytes", p.hash_bytes.into());
                    }
                    None => {
                        attrs
                            .s("passwordHash", "")
                            .s("passwordHashAlgorithm", "")
                            .s("passwordHashIterationCount", "0")
                            .s("passwordHashSaltSizeInBytes", "0")
                            .s("passwordHashSizeInBytes", "0");
                    }
                }
            }
        }
        Kind::Group(Group {
            scim_display_name,
            scim_id,
            scim_external_id,
            ..
        }) => {
            attrs
                .s("scimDisplayName", scim_display_name)
                .s("scimId", scim_id)
                .s("scimExternalId", scim_external_id);
        }
        Kind::Organization(o) => {
            attrs
                .s("loginPrompt", &o.login_prompt)
                .s("loginStyle", &o.login_style)
                .s("loginButtonStyle", &o.login_button_style)
                .b("loginResetPassword", o.login_reset_password)
                .s("mobileMashup", &o.mobile_mashup)
                .s("resetMailContent", &o.reset_mail_content)
                .s("resetMailServer", &o.reset_mail_server)
                .s("resetMailSubject", &o.reset_mail_subject);
        }
        Kind::ApplicationKey(ApplicationKey {
            key_id,
            user_name,
            expiration_date,
            client_name,
            ip_whitelist,
        }) => {
            attrs
                .s("keyId", if options.blank_secrets { "" } else { key_id })
                .s("userNameReference", user_name)
                .s("clientName", client_name)
                .s("ipWhitelist", ip_whitelist);
            if let Some(date) = expiration_date {
                attrs.date("expirationDate", *date);
            }
        }
        Kind::Vocabulary(v) => {
            attrs.b("isDynamic", v.is_dynamic);
        }
    }
}

pub(super) fn field_definition<W: Write>(x: &mut Xml<W>, element: &str, f: &FieldDefinition) {
    let mut attrs = Attrs::new();
    attrs
        .s("name", &f.name)
        .s("baseType", &f.base_type)
        .s("description", &f.description)
        .i("ordinal", f.ordinal.into())
        .aspects(&f.aspects);
    x.leaf(element, attrs);
}

pub(super) fn field_definitions<W: Write>(x: &mut Xml<W>, fields: &[FieldDefinition]) {
    x.start("FieldDefinitions", Attrs::new());
    for field in fields {
        field_definition(x, "FieldDefinition", field);
    }
    x.end("FieldDefinitions");
}
