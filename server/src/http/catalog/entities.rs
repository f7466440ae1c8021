//! The catalog's entity routes and services: entity documents, creation and deletion, property
//! values and events. Listed with the rest by [`super::operations`].

use super::*;

/// The operations of this family, in the catalog's order.
pub(super) static OPERATIONS: &[Operation] = &[
    // --- entities ----------------------------------------------------------------------------
    route(
        Method::Get,
        "/Thingworx/{collection}",
        TAG_ENTITIES,
        "The entities of a collection the caller may see",
        Body::None,
        NONE,
        Output::InfoTable("RootEntityList"),
        Need {
            filtered_by: Some(PermissionKind::Visibility),
            ..AUTHENTICATED
        },
    )
    .in_collections(ALL),
    post(
        Run::Entities,
        entity_service!("GetEntityList"),
        &[],
        TAG_ENTITIES,
        "The entities of one type the caller may see, by name mask and tags, at most maxItems",
        &[
            req("type", BaseType::String),
            opt("maxItems", BaseType::Number),
            opt("nameMask", BaseType::String),
            opt("tags", BaseType::Tags),
        ],
        Output::InfoTable("RootEntityList"),
        Need {
            filtered_by: Some(PermissionKind::Visibility),
            ..AUTHENTICATED
        },
    ),
    route(
        Method::Get,
        "/Thingworx/{collection}/{name}",
        TAG_ENTITIES,
        "The entity document as the .twx tree holds it, secrets blanked",
        Body::None,
        NONE,
        Output::Document,
        needs(&[VISIBLE, design(PermissionKind::Read)]),
    )
    .in_collections(ALL),
    route(
        Method::Put,
        "/Thingworx/{collection}/{name}",
        TAG_ENTITIES,
        "Saves an edited entity document; only a security administrator changes the owner \
         or a key's user",
        Body::Document,
        NONE,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    )
    .in_collections(ALL),
    route(
        Method::Delete,
        "/Thingworx/{collection}/{name}",
        TAG_ENTITIES,
        "Deletes the entity; built-in entities and templates or shapes in use are kept (400)",
        Body::None,
        NONE,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Delete)]),
    )
    .in_collections(ALL),
    create!(
        "CreateThing",
        Collection::Things,
        "Creates a Thing (disabled until EnableThing); the caller becomes the owner",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            req("thingTemplateName", BaseType::ThingTemplateName),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateThingTemplate",
        Collection::ThingTemplates,
        "Creates a ThingTemplate, derived from baseThingTemplateName (or thingTemplateName)",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            opt("baseThingTemplateName", BaseType::ThingTemplateName),
            opt("thingTemplateName", BaseType::ThingTemplateName),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateThingShape",
        Collection::ThingShapes,
        "Creates a ThingShape",
        CREATE_COMMON,
    ),
    create!(
        "CreateDataShape",
        Collection::DataShapes,
        "Creates a DataShape with its field definitions",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            opt("fields", BaseType::Infotable),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateUser",
        Collection::Users,
        "Creates a user (it joins Users); the password must meet the policy",
        &[
            req("name", BaseType::String),
            req("password", BaseType::String),
            opt("description", BaseType::String),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateGroup",
        Collection::Groups,
        "Creates a group",
        CREATE_COMMON,
    ),
    create!(
        "CreateOrganization",
        Collection::Organizations,
        "Creates an organization with its top unit",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            opt("topOUName", BaseType::String),
            opt("topOUDescription", BaseType::String),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateProject",
        Collection::Projects,
        "Creates a project",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            opt("dependsOn", BaseType::String),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("ownerUserName", BaseType::UserName),
        ],
    ),
    create!(
        "CreateLocalizationTable",
        Collection::LocalizationTables,
        "Creates a localization table",
        CREATE_COMMON,
    ),
    delete!("DeleteThing", Collection::Things, "Deletes a Thing",),
    delete!(
        "DeleteThingTemplate",
        Collection::ThingTemplates,
        "Deletes a ThingTemplate no Thing or template uses (built-in ones are kept)",
    ),
    delete!(
        "DeleteThingShape",
        Collection::ThingShapes,
        "Deletes a ThingShape nothing implements",
    ),
    delete!(
        "DeleteDataShape",
        Collection::DataShapes,
        "Deletes a DataShape",
    ),
    delete!(
        "DeleteUser",
        Collection::Users,
        "Deletes a user (not Administrator or System)",
    ),
    delete!(
        "DeleteGroup",
        Collection::Groups,
        "Deletes a group (not a built-in one)",
    ),
    delete!(
        "DeleteOrganization",
        Collection::Organizations,
        "Deletes an organization (not a built-in one)",
    ),
    delete!("DeleteProject", Collection::Projects, "Deletes a project",),
    delete!(
        "DeleteLocalizationTable",
        Collection::LocalizationTables,
        "Deletes a localization table",
    ),
    // --- properties --------------------------------------------------------------------------
    route(
        Method::Get,
        "/Thingworx/Things/{name}/Properties/{property}",
        TAG_PROPERTIES,
        "One property value as a one-row InfoTable (`*`: every readable property)",
        Body::None,
        NONE,
        Output::InfoTable("the property"),
        needs(&[
            VISIBLE,
            check(
                PermissionKind::PropertyRead,
                On::Path,
                Res::PathParam("property"),
            ),
        ]),
    ),
    route(
        Method::Put,
        "/Thingworx/Things/{name}/Properties/{property}",
        TAG_PROPERTIES,
        "Writes one property: the body is {\"<property>\": value} (`*`: several, all or \
         nothing)",
        Body::Values,
        NONE,
        Output::Empty,
        needs(&[
            VISIBLE,
            check(
                PermissionKind::PropertyWrite,
                On::Path,
                Res::PathParam("property"),
            ),
        ]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/Properties",
        TAG_PROPERTIES,
        "Every property the caller may read, as one row (403 when none is readable)",
        Body::None,
        NONE,
        Output::InfoTable("the Thing's properties"),
        needs(&[
            VISIBLE,
            check(PermissionKind::PropertyRead, On::Path, Res::EachProperty),
        ]),
    ),
    route(
        Method::Put,
        "/Thingworx/Things/{name}/Properties",
        TAG_PROPERTIES,
        "Writes several properties, all or nothing",
        Body::Values,
        NONE,
        Output::Empty,
        needs(&[
            VISIBLE,
            check(PermissionKind::PropertyWrite, On::Path, Res::EachProperty),
        ]),
    ),
    // --- events ------------------------------------------------------------------------------
    route(
        Method::Post,
        "/Thingworx/Things/{name}/Events/{event}",
        TAG_EVENTS,
        "Fires an event of the Thing; the body is the event data (one row of its data shape)",
        Body::Values,
        NONE,
        Output::Nothing,
        needs(&[
            VISIBLE,
            check(
                PermissionKind::EventInvoke,
                On::Path,
                Res::PathParam("event"),
            ),
        ]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/Events/{event}/Subscribe",
        TAG_EVENTS,
        "Streams the firings of an event as Server-Sent Events; the right is checked again \
         before every message",
        Body::None,
        NONE,
        Output::Sse,
        needs(&[
            VISIBLE,
            check(
                PermissionKind::EventSubscribe,
                On::Path,
                Res::PathParam("event"),
            ),
        ]),
    ),
];
