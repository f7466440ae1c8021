//! What each kind adds: Thing properties, template parts, data shapes, members, user tables,
//! organizations, tokens and terms.

use ironworx_entity::vocab::BaseType;

use super::*;

pub(super) fn thing_parts<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &Thing,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    nested_shape(x, e, &t.definitions, options)?;
    implemented_shapes(x, &t.implemented_shapes);
    x.start("ThingProperties", Attrs::new());
    for v in &t.values {
        property_value(x, e, v)?;
    }
    x.end("ThingProperties");
    Ok(())
}

pub(super) fn property_value<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    v: &PropertyValue,
) -> Result<(), ImportError> {
    check_name(e, &v.name, "property")?;
    x.start(&v.name, Attrs::new());
    typed_value(x, e, "Value", &v.base_type, &v.value)?;
    x.text_leaf(
        "Timestamp",
        Attrs::new(),
        &format_date(v.time),
        TextMode::Plain,
    );
    x.text_leaf("Quality", Attrs::new(), &v.quality, TextMode::Plain);
    x.end(&v.name);
    Ok(())
}

pub(super) fn template_parts<W: Write>(
    x: &mut Xml<W>,
    e: &Entity,
    t: &ThingTemplate,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    nested_shape(x, e, &t.definitions, options)?;
    implemented_shapes(x, &t.implemented_shapes);
    x.start("SharedConfigurationTables", Attrs::new());
    for table in &t.shared_configuration_tables {
        configuration_table(x, e, table, options)?;
    }
    x.end("SharedConfigurationTables");
    Ok(())
}

pub(super) fn data_shape_parts<W: Write>(x: &mut Xml<W>, d: &DataShape) {
    field_definitions(x, &d.fields);
}

/// The doubled `<Members><Members>` wrapper of groups and units.
pub(super) fn members<W: Write>(x: &mut Xml<W>, members: &[Member]) {
    x.start("Members", Attrs::new());
    x.start("Members", Attrs::new());
    for m in members {
        let mut attrs = Attrs::new();
        attrs.s("name", &m.name).s("type", m.member_type.as_str());
        x.leaf("Member", attrs);
    }
    x.end("Members");
    x.end("Members");
}

pub(super) fn user_tables<W: Write>(x: &mut Xml<W>, u: &User) {
    let field = |name: &'static str, base: BaseType, description: &'static str, ordinal| {
        let mut attrs = Attrs::new();
        attrs
            .s("name", name)
            .s("baseType", base.as_str())
            .s("description", description)
            .i("ordinal", ordinal);
        attrs
    };
    let mut attrs = Attrs::new();
    attrs
        .s("name", "UserExtensions")
        .s("description", "UserExtensions")
        .b("isMultiRow", true)
        .i("ordinal", 1);
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    x.start("FieldDefinitions", Attrs::new());
    x.leaf(
        "FieldDefinition",
        field("lastUpdateTime", BaseType::Datetime, "Last update time", 3),
    );
    let mut name_field = field("name", BaseType::String, "Name", 1);
    name_field.s("aspect.isPrimaryKey", "true");
    x.leaf("FieldDefinition", name_field);
    x.leaf(
        "FieldDefinition",
        field("value", BaseType::String, "Value", 2),
    );
    x.end("FieldDefinitions");
    x.end("DataShape");
    x.start("Rows", Attrs::new());
    for ext in &u.extensions {
        x.start("Row", Attrs::new());
        x.text_leaf(
            "lastUpdateTime",
            Attrs::new(),
            &format_date(ext.last_update_time),
            TextMode::Plain,
        );
        x.text_leaf("name", Attrs::new(), &ext.name, TextMode::Cdata);
        x.text_leaf("value", Attrs::new(), &ext.value, TextMode::Cdata);
        x.end("Row");
    }
    x.end("Rows");
    x.end("ConfigurationTable");

    let mut attrs = Attrs::new();
    attrs
        .s("name", "Settings")
        .s("description", "Settings")
        .b("isMultiRow", false)
        .i("ordinal", 2);
    x.start("ConfigurationTable", attrs);
    x.start("DataShape", Attrs::new());
    x.start("FieldDefinitions", Attrs::new());
    let mut language = field("language", BaseType::String, "Primary language", 0);
    language
        .s("aspect.defaultValue", "")
        .s("aspect.isPrimaryKey", "true");
    x.leaf("FieldDefinition", language);
    x.end("FieldDefinitions");
    x.end("DataShape");
    x.start("Rows", Attrs::new());
    x.start("Row", Attrs::new());
    x.text_leaf(
        "language",
        Attrs::new(),
        &u.language_preferences,
        TextMode::Cdata,
    );
    x.end("Row");
    x.end("Rows");
    x.end("ConfigurationTable");
}

pub(super) fn organization_parts<W: Write>(x: &mut Xml<W>, o: &Organization) {
    x.text_leaf("loginImage", Attrs::new(), &o.login_image, TextMode::Plain);
    x.start("Connections", Attrs::new());
    for unit in &o.units {
        let mut attrs = Attrs::new();
        attrs
            .s("from", unit.parent.as_deref().unwrap_or(""))
            .s("to", &unit.name);
        x.leaf("Connection", attrs);
    }
    x.end("Connections");
    let mut units: Vec<_> = o.units.iter().collect();
    units.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.name.cmp(&b.name))
    });
    x.start("OrganizationalUnits", Attrs::new());
    for unit in units {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &unit.name)
            .s("description", &unit.description);
        x.start("OrganizationalUnit", attrs);
        members(x, &unit.members);
        x.end("OrganizationalUnit");
    }
    x.end("OrganizationalUnits");
}

pub(super) fn tokens<W: Write>(x: &mut Xml<W>, table: &LocalizationTable) {
    x.start("Tokens", Attrs::new());
    for t in &table.tokens {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &t.name)
            .s("value", &t.value)
            .s("description", &t.description)
            .s("context", &t.context);
        x.leaf("Token", attrs);
    }
    x.end("Tokens");
}

pub(super) fn terms<W: Write>(x: &mut Xml<W>, v: &Vocabulary) {
    for term in &v.terms {
        let mut attrs = Attrs::new();
        attrs
            .s("name", &term.name)
            .s("description", &term.description);
        x.leaf("VocabularyTerm", attrs);
    }
}
