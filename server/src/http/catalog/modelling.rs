//! The catalog's modelling operations: the property, service and event definition services,
//! metadata and implementing Things of ThingTemplates and ThingShapes, the metadata services
//! of Things, and one definition of a Thing by URL. Listed with the rest by
//! [`super::operations`].

use ironworx_entity::vocab::{Collection, PermissionKind};

use super::Run;
use super::{
    ADD_EVENT, ADD_PROPERTY, ADD_SERVICE, Body, Method, NAME, NONE, Need, Operation, Output,
    TAG_THINGS, VISIBLE, design, needs, post, route, thing_service,
};

/// Modelling services of ThingTemplates and ThingShapes.
pub const TAG_MODELLING: &str = "Templates and shapes";

/// The collections whose entities define what their implementing Things inherit.
const DEFINERS: &[Collection] = &[Collection::ThingTemplates, Collection::ThingShapes];

const READ_METADATA: Need = needs(&[VISIBLE, design(PermissionKind::Metadata)]);
const CHANGE: Need = needs(&[VISIBLE, design(PermissionKind::Update)]);

/// A modelling service of ThingTemplates and ThingShapes.
const fn definer(
    service_path: &'static str,
    summary: &'static str,
    params: &'static [super::Param],
    output: Output,
    need: Need,
) -> Operation {
    post(
        Run::Definer,
        service_path,
        DEFINERS,
        TAG_MODELLING,
        summary,
        params,
        output,
        need,
    )
}

/// One definition of a Thing by URL.
const fn single(path: &'static str, summary: &'static str) -> Operation {
    route(
        Method::Get,
        path,
        TAG_THINGS,
        summary,
        Body::None,
        NONE,
        Output::Document,
        READ_METADATA,
    )
}

/// The operations of this module.
pub static OPERATIONS: &[Operation] = &[
    single(
        "/Thingworx/Things/{name}/PropertyDefinitions/{property}",
        "One effective property definition, with its source (404 naming it when missing)",
    ),
    single(
        "/Thingworx/Things/{name}/ServiceDefinitions/{service}",
        "One effective service definition with its parameters and result, with its source",
    ),
    single(
        "/Thingworx/Things/{name}/EventDefinitions/{event}",
        "One effective event definition, with its source",
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetMetadata",
        TAG_THINGS,
        "The Thing's metadata document, as GET …/Metadata answers it",
        NONE,
        Output::Document,
        READ_METADATA,
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetMetadataAsJSON",
        TAG_THINGS,
        "The Thing's metadata document, as GET …/Metadata answers it",
        NONE,
        Output::Document,
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetPropertyDefinitions",
        "The property definitions implementing Things inherit (its own, its base templates', \
         its shapes')",
        NONE,
        Output::InfoTable("PropertyDefinition"),
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetPropertyDefinition",
        "One inherited property definition",
        NAME,
        Output::InfoTable("PropertyDefinition"),
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/AddPropertyDefinition",
        "Adds a property to the template or shape; every implementing Thing has it at once",
        ADD_PROPERTY,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/RemovePropertyDefinition",
        "Removes a property the template or shape itself defines, with the values implementing \
         Things kept of it",
        NAME,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetServiceDefinitions",
        "The service definitions implementing Things inherit",
        NONE,
        Output::InfoTable("ServiceDefinition"),
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetEventDefinitions",
        "The event definitions implementing Things inherit",
        NONE,
        Output::InfoTable("EventDefinition"),
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/AddServiceDefinition",
        "Defines a service on the template or shape (the server does not run it)",
        ADD_SERVICE,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/RemoveServiceDefinition",
        "Removes a service the template or shape itself defines",
        NAME,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/AddEventDefinition",
        "Defines an event on the template or shape, its data typed by a data shape",
        ADD_EVENT,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/RemoveEventDefinition",
        "Removes an event the template or shape itself defines",
        NAME,
        Output::Nothing,
        CHANGE,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetMetadata",
        "The metadata document: the inherited property, service and event definitions with \
         their sources",
        NONE,
        Output::Document,
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetMetadataAsJSON",
        "The metadata document, as GetMetadata answers it",
        NONE,
        Output::Document,
        READ_METADATA,
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetImplementingThings",
        "The Things the caller may see that implement it (by their template chain or shapes)",
        NONE,
        Output::InfoTable("RootEntityList"),
        Need {
            filtered_by: Some(PermissionKind::Visibility),
            ..needs(&[VISIBLE, design(PermissionKind::Read)])
        },
    ),
    definer(
        "/Thingworx/{collection}/{name}/Services/GetImplementingThingsWithData",
        "The implementing Things the caller may see, each with the values of the inherited \
         properties it may read",
        NONE,
        Output::InfoTable("RootEntityList and the inherited properties"),
        Need {
            filtered_by: Some(PermissionKind::PropertyRead),
            ..needs(&[VISIBLE, design(PermissionKind::Read)])
        },
    ),
];
