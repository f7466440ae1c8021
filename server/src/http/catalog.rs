//! The one catalog of every route and service the server answers: method, path, route family,
//! parameters with their ThingWorx base types, result, what the caller needs, and the handler
//! family that runs it ([`Run`]). It is the service dispatcher's table: `http::services`
//! answers `POST …/Services/<name>` by looking up the operation listed for that resource or
//! collection and calling its family, and a service not listed there is a 404. The other
//! routes (`GET`/`PUT` of properties, entity documents, login pages, import and export) are
//! registered as their own actix handlers and carry [`Run::Route`]. The OpenAPI document
//! (`http::openapi`) is rendered from it, and the route-by-permission test drives every route
//! through it.

use std::collections::HashMap;
use std::sync::LazyLock;

use ironworx_entity::vocab::{Collection, PermissionKind};

use crate::error::ApiError;

mod modelling;

pub use crate::domain::need::{Access, Check, NamedIn, Need, On, Res};
pub use modelling::TAG_MODELLING;

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`.
    Get,
    /// `PUT`.
    Put,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One parameter: its name, its ThingWorx base type and whether the handler refuses a call
/// without it (ThingWorx itself treats most inputs as optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// The exact name.
    pub name: &'static str,
    /// The ThingWorx base type (`STRING`, `BOOLEAN`, `INFOTABLE`, …).
    pub base_type: &'static str,
    /// Whether a call without it is refused (400).
    pub required: bool,
}

/// Where the parameters of an operation travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (`GET`, `DELETE`); parameters, if any, are query parameters.
    None,
    /// A JSON object keyed by parameter name (a service call; an empty body is `{}`).
    Json,
    /// A JSON object of property values keyed by property name.
    Values,
    /// The entity document as `GET` answers it, edited.
    Document,
    /// `multipart/form-data`.
    Multipart,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// What a successful call answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// 200 with `{}`.
    Nothing,
    /// 200 with an empty body.
    Empty,
    /// 200 with an InfoTable of the named data shape.
    InfoTable(&'static str),
    /// 200 with the InfoTable of a primitive: one row, field `result` of this base type.
    Primitive(&'static str),
    /// 200 with a JSON document (an entity document, an import report, a status).
    Document,
    /// 200 with an HTML page.
    Html,
    /// `303 See Other` to another page.
    Redirect,
    /// 200 with a `text/event-stream` of firings.
    Sse,
    /// 200 with an XML export.
    Xml,
    /// 501 with `{code, message}`: the service exists but the server does not run its
    /// implementation (the documented success of a defined service once it is allowed; a
    /// `Script` runs and answers its result).
    NotImplemented,
}

/// The handler family that runs a service: `http::services` calls it for every operation listed
/// at the place called, and answers 404 for a service not listed there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Run {
    /// Registered as its own actix route (`GET`/`PUT` property routes, entity documents,
    /// login pages, import and export), not dispatched through this table.
    Route,
    /// `http::permissions::entity_service`: rule, check and `GetPermissionsFor…` services.
    Permissions,
    /// `http::permission_sets::entity_service`: `Get…/Set…Permissions(AsJSON)`.
    PermissionSets,
    /// `http::membership::entity_service`: group and organization members, `SetOwner`.
    Membership,
    /// `http::users::user_service`: services of a User.
    User,
    /// `http::app_keys::key_service`: services of an application key.
    AppKey,
    /// `http::localization::table_service`: services of a localization table.
    LocalizationTable,
    /// `http::data::thing_service`: Stream and DataTable services; a Thing of another kind
    /// declines, and the Thing's own services (`Thing`) answer instead.
    Data,
    /// `http::things::thing_service`: built-in and defined services of a Thing.
    Thing,
    /// `http::entities::entity_services`: `EntityServices` lists, `Create…`, `Delete…`.
    Entities,
    /// `http::app_keys::entity_services`: `EntityServices` services of application keys.
    AppKeyServices,
    /// `http::membership::entity_services`: `EntityServices/SetEntityPermission`.
    MembershipServices,
    /// `http::permission_sets::collection_service`: `GetCollection…Permissions`.
    CollectionPermissionSets,
    /// `http::permissions::collection_service`: collection rule services.
    CollectionPermissions,
    /// `http::transfer::source_control`: `SourceControlFunctions`.
    SourceControl,
    /// `http::localization::runtime_service`: `RuntimeLocalizationFunctions`.
    RuntimeLocalization,
    /// `http::users::current_session_info`: `CurrentSessionInfo`.
    CurrentSession,
    /// `http::explain::explain_permission`: `SecurityServices/ExplainPermission`.
    Explain,
    /// `http::definers::entity_service`: the modelling services of ThingTemplates and
    /// ThingShapes.
    Definer,
}

/// One route or service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The method.
    pub method: Method,
    /// The path template; services are spelled out, `{x}` marks a path parameter.
    pub path: &'static str,
    /// The values `{collection}` may take (empty when the path has none).
    pub collections: &'static [Collection],
    /// The route family.
    pub tag: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// How the parameters travel.
    pub body: Body,
    /// The parameters.
    pub params: &'static [Param],
    /// The result.
    pub output: Output,
    /// What the caller needs.
    pub need: Need,
    /// The handler family that runs it.
    pub run: Run,
    /// Collections besides `collections` where the service is still dispatched, for its handler
    /// to refuse with 400 (instance permissions of an entity that carries none); not
    /// documented as operations.
    pub refused_in: &'static [Collection],
}

impl Operation {
    /// A stable identifier: the method and the path's segments (without `Thingworx`,
    /// `Resources` and `Services`), e.g. `post_Things_name_AddPropertyDefinition`.
    pub fn operation_id(&self) -> String {
        let mut id = self.method.as_str().to_ascii_lowercase();
        for segment in self.path.split('/').filter(|s| !s.is_empty()) {
            if matches!(segment, "Thingworx" | "Resources" | "Services") {
                continue;
            }
            id.push('_');
            id.extend(
                segment
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .map(|c| if c == '.' { '_' } else { c }),
            );
        }
        id
    }

    /// The names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    /// The service name when the path ends in a spelled-out `Services/<name>`.
    pub fn service(&self) -> Option<&'static str> {
        let (head, name) = self.path.rsplit_once('/')?;
        (head.ends_with("/Services") && !name.starts_with('{')).then_some(name)
    }

    /// Whether a call may answer 409 (a name already taken).
    pub fn may_conflict(&self) -> bool {
        self.service().is_some_and(|s| {
            s.starts_with("Create")
                || matches!(
                    s,
                    "AddPropertyDefinition"
                        | "AddServiceDefinition"
                        | "AddEventDefinition"
                        | "AddOrganizationalUnit"
                        | "AddMember"
                )
        })
    }
}

// --- route families --------------------------------------------------------------------------

/// Liveness, readiness and this document.
pub const TAG_SERVER: &str = "Server";
/// Form login pages.
pub const TAG_LOGIN: &str = "Login";
/// Entity lists, documents, creation and deletion.
pub const TAG_ENTITIES: &str = "Entities";
/// Property values of Things.
pub const TAG_PROPERTIES: &str = "Properties";
/// Built-in and defined services of Things.
pub const TAG_THINGS: &str = "Thing services";
/// Services of Stream Things.
pub const TAG_STREAMS: &str = "Streams";
/// Services of DataTable Things.
pub const TAG_DATA_TABLES: &str = "DataTables";
/// Thing events.
pub const TAG_EVENTS: &str = "Events";
/// The permission services of every securable entity.
pub const TAG_PERMISSIONS: &str = "Permissions";
/// Instance permissions of ThingTemplates and ThingShapes.
pub const TAG_INSTANCE_PERMISSIONS: &str = "Instance permissions";
/// Collection permissions.
pub const TAG_COLLECTION_PERMISSIONS: &str = "Collection permissions";
/// Groups, organizations and owners.
pub const TAG_MEMBERSHIP: &str = "Membership";
/// User administration.
pub const TAG_USERS: &str = "Users";
/// Application keys.
pub const TAG_APP_KEYS: &str = "Application keys";
/// Localization tokens.
pub const TAG_LOCALIZATION: &str = "Localization";
/// The caller's session.
pub const TAG_SESSION: &str = "Session";
/// Explanations of decisions.
pub const TAG_SECURITY: &str = "Security";
/// Import and export.
pub const TAG_TRANSFER: &str = "Import and export";

// --- building blocks -------------------------------------------------------------------------

const fn req(name: &'static str, base_type: &'static str) -> Param {
    Param {
        name,
        base_type,
        required: true,
    }
}

const fn opt(name: &'static str, base_type: &'static str) -> Param {
    Param {
        name,
        base_type,
        required: false,
    }
}

const fn check(kind: PermissionKind, on: On, resource: Res) -> Check {
    Check {
        kind,
        on,
        resource,
        security_admin_bypass: false,
    }
}

/// Visibility of the path's entity (404 without it).
const VISIBLE: Check = check(PermissionKind::Visibility, On::Path, Res::Any);

/// Design-time `kind` on the path's entity.
const fn design(kind: PermissionKind) -> Check {
    check(kind, On::Path, Res::Any)
}

/// Design-time `kind` on the path's entity, or a security administrator.
const fn design_or_admin(kind: PermissionKind) -> Check {
    Check {
        security_admin_bypass: true,
        ..design(kind)
    }
}

/// ServiceInvoke on the service called, on the path's entity.
const INVOKE: Check = check(PermissionKind::ServiceInvoke, On::Path, Res::Service);

const fn named(collection: Collection) -> On {
    On::Named {
        param: "name",
        collection: NamedIn::Fixed(collection),
    }
}

const fn needs(checks: &'static [Check]) -> Need {
    Need {
        access: Access::Authenticated,
        checks,
        subject: None,
        self_service: false,
        filtered_by: None,
    }
}

const fn needs_for(checks: &'static [Check], subject: &'static str) -> Need {
    Need {
        subject: Some(subject),
        ..needs(checks)
    }
}

const PUBLIC: Need = Need {
    access: Access::Public,
    ..needs(&[])
};

const AUTHENTICATED: Need = needs(&[]);

const SECURITY_ADMIN: Need = Need {
    access: Access::SecurityAdministrator,
    ..needs(&[])
};

const ON_VISIBLE: Need = needs(&[VISIBLE]);

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per field of a catalog entry"
)]
const fn post(
    run: Run,
    path: &'static str,
    collections: &'static [Collection],
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    Operation {
        method: Method::Post,
        path,
        collections,
        tag,
        summary,
        body: Body::Json,
        params,
        output,
        need,
        run,
        refused_in: &[],
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per field of a catalog entry"
)]
const fn route(
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Body,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    Operation {
        method,
        path,
        collections: &[],
        tag,
        summary,
        body,
        params,
        output,
        need,
        run: Run::Route,
        refused_in: &[],
    }
}

const NONE: &[Param] = &[];
const ALL: &[Collection] = Collection::ALL;
/// Every collection: `Resources/{resource}/Services/…` answers the built-in resources' own
/// services first, then these entity services of the Resource entity.
const SECURABLE: &[Collection] = &[
    Collection::Things,
    Collection::ThingTemplates,
    Collection::ThingShapes,
    Collection::DataShapes,
    Collection::Users,
    Collection::Groups,
    Collection::Organizations,
    Collection::ApplicationKeys,
    Collection::Projects,
    Collection::Mashups,
    Collection::MediaEntities,
    Collection::LocalizationTables,
    Collection::Subsystems,
    Collection::ModelTags,
    Collection::DataTags,
    Collection::StyleDefinitions,
    Collection::StyleThemes,
    Collection::StateDefinitions,
    Collection::Menus,
    Collection::Dashboards,
    Collection::Logs,
    Collection::Authenticators,
    Collection::Networks,
    Collection::ExtensionPackages,
    Collection::ThingPackages,
    Collection::Widgets,
    Collection::ScriptFunctionLibraries,
    Collection::DirectoryServices,
    Collection::PersistenceProviders,
    Collection::PersistenceProviderPackages,
    Collection::NotificationContents,
    Collection::NotificationDefinitions,
    Collection::DataAnalysisDefinitions,
    Collection::ThingGroups,
    Collection::Resources,
];
const INSTANCE_RULES: &[Collection] = &[Collection::ThingTemplates, Collection::ThingShapes];
const TEMPLATES: &[Collection] = &[Collection::ThingTemplates];

const RUN_TIME_RULE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    opt("resource", "STRING"),
    req("type", "STRING"),
    req("allow", "BOOLEAN"),
];
const RUN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    opt("resource", "STRING"),
    req("type", "STRING"),
];
const DESIGN_TIME_RULE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    req("type", "STRING"),
    req("allow", "BOOLEAN"),
];
const DESIGN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    req("type", "STRING"),
];
const VISIBILITY_RULE: &[Param] = &[req("principal", "STRING"), req("principalType", "STRING")];
const PERMISSION_SET: &[Param] = &[req("permissions", "JSON")];
const COLLECTION_NAME: &[Param] = &[req("collectionName", "STRING")];

const COLLECTION_RUN_TIME_RULE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    opt("resource", "STRING"),
    req("type", "STRING"),
    req("allow", "BOOLEAN"),
    req("collectionName", "STRING"),
];
const COLLECTION_RUN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    opt("resource", "STRING"),
    req("type", "STRING"),
    req("collectionName", "STRING"),
];
const COLLECTION_DESIGN_TIME_RULE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    req("type", "STRING"),
    req("allow", "BOOLEAN"),
    req("collectionName", "STRING"),
];
const COLLECTION_DESIGN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    req("type", "STRING"),
    req("collectionName", "STRING"),
];
const COLLECTION_VISIBILITY_RULE: &[Param] = &[
    req("principal", "STRING"),
    req("principalType", "STRING"),
    req("collectionName", "STRING"),
];

const NAME: &[Param] = &[req("name", "STRING")];
const CREATE_COMMON: &[Param] = &[
    req("name", "STRING"),
    opt("description", "STRING"),
    opt("projectName", "PROJECTNAME"),
    opt("tags", "TAGS"),
    opt("ownerUserName", "USERNAME"),
];

/// `AddPropertyDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_PROPERTY: &[Param] = &[
    req("name", "STRING"),
    req("type", "BASETYPENAME"),
    opt("description", "STRING"),
    opt("category", "STRING"),
    opt("readOnly", "BOOLEAN"),
    opt("persistent", "BOOLEAN"),
    opt("logged", "BOOLEAN"),
    opt("defaultValue", "STRING"),
    opt("dataChangeType", "STRING"),
    opt("dataChangeThreshold", "NUMBER"),
    opt("dataShape", "DATASHAPENAME"),
    opt("remote", "BOOLEAN"),
    opt("remotePropertyName", "STRING"),
    opt("timeout", "INTEGER"),
    opt("pushType", "STRING"),
    opt("pushThreshold", "NUMBER"),
];
/// `AddServiceDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_SERVICE: &[Param] = &[
    req("name", "STRING"),
    opt("description", "STRING"),
    opt("category", "STRING"),
    opt("parameters", "INFOTABLE"),
    opt("resultType", "INFOTABLE"),
    opt("code", "STRING"),
];
/// `AddEventDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_EVENT: &[Param] = &[
    req("name", "STRING"),
    opt("description", "STRING"),
    opt("category", "STRING"),
    req("dataShape", "DATASHAPENAME"),
];

const RULE_NEED: Need = needs(&[VISIBLE, design_or_admin(PermissionKind::Update)]);
const SET_READ_NEED: Need = needs(&[VISIBLE, design_or_admin(PermissionKind::Read)]);

const ENTITY_SERVICES: &str = "/Thingworx/Resources/EntityServices/Services/";

macro_rules! entity_service {
    ($name:literal) => {
        concat!("/Thingworx/Resources/EntityServices/Services/", $name)
    };
}

/// A `Create…` service of `Resources/EntityServices`: Create on the collection; naming another
/// owner needs a security administrator.
macro_rules! create {
    ($service:literal, $collection:expr, $summary:expr, $params:expr $(,)?) => {
        post(
            Run::Entities,
            entity_service!($service),
            &[],
            TAG_ENTITIES,
            $summary,
            $params,
            Output::Nothing,
            Need {
                subject: Some("ownerUserName"),
                ..needs(&[check(
                    PermissionKind::Create,
                    On::Collection($collection),
                    Res::Any,
                )])
            },
        )
    };
}

/// A `Delete…` service of `Resources/EntityServices`: the entity named `name` must be visible
/// (404) and the caller hold Delete on it.
macro_rules! delete {
    ($service:literal, $collection:expr, $summary:expr $(,)?) => {
        post(
            Run::Entities,
            entity_service!($service),
            &[],
            TAG_ENTITIES,
            $summary,
            NAME,
            Output::Nothing,
            needs(&[
                check(PermissionKind::Visibility, named($collection), Res::Any),
                check(PermissionKind::Delete, named($collection), Res::Any),
            ]),
        )
    };
}

const fn permission_service(
    path: &'static str,
    collections: &'static [Collection],
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    post(
        Run::Permissions,
        path,
        collections,
        tag,
        summary,
        params,
        output,
        need,
    )
}

/// A `Get…`/`Set…Permissions(AsJSON)` service of every securable entity.
const fn permission_set_service(
    path: &'static str,
    collections: &'static [Collection],
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    post(
        Run::PermissionSets,
        path,
        collections,
        tag,
        summary,
        params,
        output,
        need,
    )
}

const fn user_service(
    path: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    self_service: bool,
) -> Operation {
    post(
        Run::User,
        path,
        &[],
        TAG_USERS,
        summary,
        params,
        output,
        Need {
            self_service,
            ..needs(&[VISIBLE, INVOKE])
        },
    )
}

const fn key_service(
    path: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
) -> Operation {
    post(
        Run::AppKey,
        path,
        &[],
        TAG_APP_KEYS,
        summary,
        params,
        output,
        needs(&[VISIBLE, INVOKE]),
    )
}

const fn thing_service(
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    post(Run::Thing, path, &[], tag, summary, params, output, need)
}

/// A service of Stream or DataTable Things.
const fn data_service(
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
    need: Need,
) -> Operation {
    post(Run::Data, path, &[], tag, summary, params, output, need)
}

const INVOKED: Need = needs(&[VISIBLE, INVOKE]);

const STREAM_ENTRY: &[Param] = &[
    opt("values", "INFOTABLE"),
    opt("timestamp", "DATETIME"),
    opt("location", "LOCATION"),
    opt("source", "STRING"),
    opt("sourceType", "STRING"),
    opt("tags", "TAGS"),
];
const STREAM_QUERY: &[Param] = &[
    opt("maxItems", "NUMBER"),
    opt("startDate", "DATETIME"),
    opt("endDate", "DATETIME"),
    opt("oldestFirst", "BOOLEAN"),
    opt("tags", "TAGS"),
    opt("source", "STRING"),
];
const STREAM_FILTERED: &[Param] = &[
    opt("maxItems", "NUMBER"),
    opt("startDate", "DATETIME"),
    opt("endDate", "DATETIME"),
    opt("oldestFirst", "BOOLEAN"),
    opt("tags", "TAGS"),
    opt("source", "STRING"),
    opt("query", "QUERY"),
];
const TABLE_ENTRY: &[Param] = &[
    req("values", "INFOTABLE"),
    opt("timestamp", "DATETIME"),
    opt("location", "LOCATION"),
    opt("source", "STRING"),
    opt("sourceType", "STRING"),
    opt("tags", "TAGS"),
];
const TABLE_QUERY: &[Param] = &[
    opt("maxItems", "NUMBER"),
    opt("query", "QUERY"),
    opt("values", "INFOTABLE"),
    opt("tags", "TAGS"),
    opt("source", "STRING"),
];

/// Every route and service the server answers: [`OPERATIONS`], then the modelling services of
/// ThingTemplates and ThingShapes, Thing metadata services and single definitions
/// (`catalog::modelling`).
pub fn operations() -> impl Iterator<Item = &'static Operation> {
    OPERATIONS.iter().chain(modelling::OPERATIONS)
}

/// What route `method path` needs, as the catalog declares it (`path` spelled as listed,
/// e.g. `/Thingworx/{collection}/{name}`), for its handler to enforce. A route the catalog does
/// not list needs what nobody holds: its handler answers 500 and does nothing.
pub fn route_need(method: Method, path: &str) -> Result<&'static Need, ApiError> {
    static ROUTES: LazyLock<HashMap<(Method, &'static str), &'static Need>> = LazyLock::new(|| {
        operations()
            .filter(|op| op.run == Run::Route)
            .map(|op| ((op.method, op.path), &op.need))
            .collect()
    });
    ROUTES.get(&(method, path)).copied().ok_or_else(|| {
        ApiError::internal(format!("{} {path} is not in the catalog", method.as_str()))
    })
}

/// The routes and services of this file (see [`operations`] for all of them).
pub static OPERATIONS: &[Operation] = &[
    // --- server ------------------------------------------------------------------------------
    route(
        Method::Get,
        "/health",
        TAG_SERVER,
        "Liveness: 200 {\"status\":\"ok\"} while the process runs",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/ready",
        TAG_SERVER,
        "Readiness: 200 while the database answers, 503 otherwise",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/openapi.json",
        TAG_SERVER,
        "This document: every route and service, with the permission each needs",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    // --- login -------------------------------------------------------------------------------
    route(
        Method::Get,
        "/Thingworx/FormLogin",
        TAG_LOGIN,
        "The login page of the organization Everyone",
        Body::None,
        NONE,
        Output::Html,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/FormLogin/{org}",
        TAG_LOGIN,
        "The login page of an organization (an unknown one shows the Everyone page)",
        Body::None,
        NONE,
        Output::Html,
        PUBLIC,
    ),
    route(
        Method::Post,
        "/Thingworx/action-login",
        TAG_LOGIN,
        "Signs in through an organization's page (its members only) and sets the session \
         cookie; needs the CSRF cookie and field",
        Body::Form,
        &[
            req("thingworx-form-userid", "STRING"),
            req("thingworx-form-password", "PASSWORD"),
            opt("OrganizationName", "ORGANIZATIONNAME"),
            req("x-csrf-id", "STRING"),
        ],
        Output::Redirect,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/Home",
        TAG_LOGIN,
        "The landing page (HTML) for a signed-in caller; without a session a redirect to the \
         login page",
        Body::None,
        &[opt("org", "ORGANIZATIONNAME")],
        Output::Redirect,
        PUBLIC,
    ),
    route(
        Method::Post,
        "/Thingworx/Logout",
        TAG_LOGIN,
        "Ends the session and redirects to the login page; needs the CSRF field, the \
         header X-Requested-With or Content-Type: application/json",
        Body::Form,
        &[
            opt("x-csrf-id", "STRING"),
            opt("OrganizationName", "ORGANIZATIONNAME"),
        ],
        Output::Redirect,
        PUBLIC,
    ),
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
            req("type", "STRING"),
            opt("maxItems", "NUMBER"),
            opt("nameMask", "STRING"),
            opt("tags", "TAGS"),
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
            req("name", "STRING"),
            opt("description", "STRING"),
            req("thingTemplateName", "THINGTEMPLATENAME"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
        ],
    ),
    create!(
        "CreateThingTemplate",
        Collection::ThingTemplates,
        "Creates a ThingTemplate, derived from baseThingTemplateName (or thingTemplateName)",
        &[
            req("name", "STRING"),
            opt("description", "STRING"),
            opt("baseThingTemplateName", "THINGTEMPLATENAME"),
            opt("thingTemplateName", "THINGTEMPLATENAME"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
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
            req("name", "STRING"),
            opt("description", "STRING"),
            opt("fields", "INFOTABLE"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
        ],
    ),
    create!(
        "CreateUser",
        Collection::Users,
        "Creates a user (it joins Users); the password must meet the policy",
        &[
            req("name", "STRING"),
            req("password", "STRING"),
            opt("description", "STRING"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
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
            req("name", "STRING"),
            opt("description", "STRING"),
            opt("topOUName", "STRING"),
            opt("topOUDescription", "STRING"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
        ],
    ),
    create!(
        "CreateProject",
        Collection::Projects,
        "Creates a project",
        &[
            req("name", "STRING"),
            opt("description", "STRING"),
            opt("dependsOn", "STRING"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("ownerUserName", "USERNAME"),
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
    // --- thing services ----------------------------------------------------------------------
    thing_service(
        "/Thingworx/Things/{name}/Services/GetPropertyValues",
        TAG_THINGS,
        "Every property the caller may read, as one row (403 when none is readable)",
        NONE,
        Output::InfoTable("the Thing's properties"),
        needs(&[
            VISIBLE,
            INVOKE,
            check(PermissionKind::PropertyRead, On::Path, Res::EachProperty),
        ]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/SetPropertyValues",
        TAG_THINGS,
        "Writes the properties of one row, all or nothing",
        &[req("values", "INFOTABLE")],
        Output::Nothing,
        needs(&[
            VISIBLE,
            INVOKE,
            check(PermissionKind::PropertyWrite, On::Path, Res::EachProperty),
        ]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/UpdatePropertyValues",
        TAG_THINGS,
        "Writes name/value/time/quality rows (NamedVTQ), all or nothing",
        &[req("values", "INFOTABLE")],
        Output::Nothing,
        needs(&[
            VISIBLE,
            INVOKE,
            check(PermissionKind::PropertyWrite, On::Path, Res::EachProperty),
        ]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetPropertyDefinitions",
        TAG_THINGS,
        "The effective property definitions (the Thing's, its templates', its shapes')",
        NONE,
        Output::InfoTable("PropertyDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetPropertyDefinition",
        TAG_THINGS,
        "One effective property definition",
        NAME,
        Output::InfoTable("PropertyDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/AddPropertyDefinition",
        TAG_THINGS,
        "Adds a property to the Thing itself",
        ADD_PROPERTY,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/RemovePropertyDefinition",
        TAG_THINGS,
        "Removes a property the Thing itself defines, with its value",
        NAME,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/EnableThing",
        TAG_THINGS,
        "Enables the Thing",
        NONE,
        Output::Nothing,
        INVOKED,
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/DisableThing",
        TAG_THINGS,
        "Disables the Thing",
        NONE,
        Output::Nothing,
        INVOKED,
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/RestartThing",
        TAG_THINGS,
        "Restarts the Thing",
        NONE,
        Output::Nothing,
        INVOKED,
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/IsEnabled",
        TAG_THINGS,
        "Whether the Thing is enabled",
        NONE,
        Output::Primitive("BOOLEAN"),
        INVOKED,
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/{service}",
        TAG_THINGS,
        "A service the Thing, its templates or shapes define: once allowed, a Script runs \
         (200 with its result; 500 `script_error` or `script_limit`; the 403 of an access it \
         may not make), any other implementation answers 501; 404 when nothing defines it",
        NONE,
        Output::NotImplemented,
        needs(&[
            VISIBLE,
            check(
                PermissionKind::ServiceInvoke,
                On::Path,
                Res::PathParam("service"),
            ),
        ]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetServiceDefinitions",
        TAG_THINGS,
        "The effective service definitions (the Thing's, its templates', its shapes')",
        NONE,
        Output::InfoTable("ServiceDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/GetEventDefinitions",
        TAG_THINGS,
        "The effective event definitions",
        NONE,
        Output::InfoTable("EventDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/AddServiceDefinition",
        TAG_THINGS,
        "Defines a service on the Thing itself (the server does not run it)",
        ADD_SERVICE,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/RemoveServiceDefinition",
        TAG_THINGS,
        "Removes a service the Thing itself defines",
        NAME,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/AddEventDefinition",
        TAG_THINGS,
        "Defines an event on the Thing itself, its data typed by a data shape",
        ADD_EVENT,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    thing_service(
        "/Thingworx/Things/{name}/Services/RemoveEventDefinition",
        TAG_THINGS,
        "Removes an event the Thing itself defines",
        NAME,
        Output::Nothing,
        needs(&[VISIBLE, design(PermissionKind::Update)]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/Metadata",
        TAG_THINGS,
        "The Thing's metadata: its effective property, service and event definitions",
        Body::None,
        NONE,
        Output::Document,
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/PropertyDefinitions",
        TAG_THINGS,
        "The effective property definitions",
        Body::None,
        NONE,
        Output::InfoTable("PropertyDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/ServiceDefinitions",
        TAG_THINGS,
        "The effective service definitions",
        Body::None,
        NONE,
        Output::InfoTable("ServiceDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    route(
        Method::Get,
        "/Thingworx/Things/{name}/EventDefinitions",
        TAG_THINGS,
        "The effective event definitions",
        Body::None,
        NONE,
        Output::InfoTable("EventDefinition"),
        needs(&[VISIBLE, design(PermissionKind::Metadata)]),
    ),
    // --- streams and data tables -------------------------------------------------------------
    data_service(
        "/Thingworx/Things/{name}/Services/AddStreamEntry",
        TAG_STREAMS,
        "Stream Things: adds one entry, checked against the data shape",
        STREAM_ENTRY,
        Output::Nothing,
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/GetStreamEntriesWithData",
        TAG_STREAMS,
        "Stream Things: entries in a time range",
        STREAM_QUERY,
        Output::InfoTable("the Thing's data shape"),
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/QueryStreamEntriesWithData",
        TAG_STREAMS,
        "Stream Things: entries in a time range passing a filter query",
        STREAM_FILTERED,
        Output::InfoTable("the Thing's data shape"),
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/PurgeStreamEntries",
        TAG_STREAMS,
        "Stream Things: removes the entries of a time range",
        &[
            req("startDate", "DATETIME"),
            req("endDate", "DATETIME"),
            opt("immediate", "BOOLEAN"),
        ],
        Output::Nothing,
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/AddOrUpdateDataTableEntry",
        TAG_DATA_TABLES,
        "DataTable Things: adds or replaces rows by primary key",
        TABLE_ENTRY,
        Output::Nothing,
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/AddOrUpdateDataTableEntries",
        TAG_DATA_TABLES,
        "DataTable Things: adds or replaces rows by primary key",
        TABLE_ENTRY,
        Output::Nothing,
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/GetDataTableEntries",
        TAG_DATA_TABLES,
        "DataTable Things: the rows",
        &[opt("maxItems", "NUMBER")],
        Output::InfoTable("the Thing's data shape"),
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/QueryDataTableEntries",
        TAG_DATA_TABLES,
        "DataTable Things: the rows matching values, tags, source and a filter query",
        TABLE_QUERY,
        Output::InfoTable("the Thing's data shape"),
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/DeleteDataTableEntry",
        TAG_DATA_TABLES,
        "DataTable Things: deletes the row with the primary key in values",
        &[req("values", "INFOTABLE")],
        Output::Nothing,
        INVOKED,
    ),
    data_service(
        "/Thingworx/Things/{name}/Services/DeleteDataTableEntries",
        TAG_DATA_TABLES,
        "DataTable Things: deletes every row matching the field values in values",
        &[req("values", "INFOTABLE")],
        Output::Nothing,
        INVOKED,
    ),
    // --- permissions of every securable entity -----------------------------------------------
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddRunTimePermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Allows or denies a run-time permission on a resource (`*` when none) to a user or \
         group",
        RUN_TIME_RULE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteRunTimePermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Removes a run-time rule",
        RUN_TIME_RULE_DELETE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddDesignTimePermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Allows or denies a design-time permission to a user or group",
        DESIGN_TIME_RULE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteDesignTimePermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Removes a design-time rule",
        DESIGN_TIME_RULE_DELETE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddVisibilityPermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Makes the entity visible to an organization or unit (`Org:Unit`)",
        VISIBILITY_RULE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteVisibilityPermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Removes a visibility grant",
        VISIBILITY_RULE,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetRunTimePermissions",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's run-time rules",
        NONE,
        Output::InfoTable("RunTimePermissions"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetDesignTimePermissions",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's design-time rules",
        NONE,
        Output::InfoTable("Permissions"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetVisibilityPermissions",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's visibility grants",
        NONE,
        Output::InfoTable("Permissions"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetRunTimePermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's run-time rules as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetDesignTimePermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's design-time rules as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetVisibilityPermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "The entity's visibility grants as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetRunTimePermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "Replaces the entity's run-time rules (a JSON document, or its text)",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetDesignTimePermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "Replaces the entity's design-time rules",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetVisibilityPermissionsAsJSON",
        SECURABLE,
        TAG_PERMISSIONS,
        "Replaces the entity's visibility grants",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckPermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether the caller holds a permission (on resource name, `*` when none)",
        &[opt("name", "STRING"), req("type", "STRING")],
        Output::Primitive("BOOLEAN"),
        ON_VISIBLE,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckPermissionForUser",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether a user holds a permission",
        &[
            opt("name", "STRING"),
            req("type", "STRING"),
            req("user", "USERNAME"),
        ],
        Output::Primitive("BOOLEAN"),
        needs_for(&[VISIBLE], "user"),
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckDesignTimePermission",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether the caller holds a design-time permission",
        &[req("type", "STRING")],
        Output::Primitive("BOOLEAN"),
        ON_VISIBLE,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckDesignTimePermissionForUser",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether a user holds a design-time permission",
        &[req("type", "STRING"), req("user", "USERNAME")],
        Output::Primitive("BOOLEAN"),
        needs_for(&[VISIBLE], "user"),
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/GetPermissionsForCurrentUser",
        SECURABLE,
        TAG_PERMISSIONS,
        "The caller's decision for a permission on each resource the entity defines",
        &[opt("name", "STRING"), req("permissionName", "STRING")],
        Output::InfoTable("UserPermissions"),
        ON_VISIBLE,
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/GetPermissionsForUser",
        SECURABLE,
        TAG_PERMISSIONS,
        "A user's decision for a permission on each resource the entity defines",
        &[
            opt("name", "STRING"),
            req("user", "STRING"),
            req("permissionName", "STRING"),
        ],
        Output::InfoTable("UserPermissions"),
        needs_for(&[VISIBLE], "user"),
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckPermissionForGroup",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether a group (with the groups it is in) holds a permission",
        &[
            opt("name", "STRING"),
            req("type", "STRING"),
            req("group", "GROUPNAME"),
        ],
        Output::Primitive("BOOLEAN"),
        Need {
            access: Access::SecurityAdministrator,
            ..ON_VISIBLE
        },
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/CheckDesignTimePermissionForGroup",
        SECURABLE,
        TAG_PERMISSIONS,
        "Whether a group holds a design-time permission",
        &[req("type", "STRING"), req("group", "GROUPNAME")],
        Output::Primitive("BOOLEAN"),
        Need {
            access: Access::SecurityAdministrator,
            ..ON_VISIBLE
        },
    ),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/GetPermissionsForGroup",
        SECURABLE,
        TAG_PERMISSIONS,
        "A group's decision for a permission on each resource the entity defines",
        &[
            opt("name", "STRING"),
            req("group", "STRING"),
            req("permissionName", "STRING"),
        ],
        Output::InfoTable("UserPermissions"),
        Need {
            access: Access::SecurityAdministrator,
            ..ON_VISIBLE
        },
    ),
    post(
        Run::Membership,
        "/Thingworx/{collection}/{name}/Services/SetOwner",
        SECURABLE,
        TAG_MEMBERSHIP,
        "Makes a user (or group) the owner",
        &[req("name", "USERNAME"), opt("type", "STRING")],
        Output::Nothing,
        Need {
            access: Access::SecurityAdministrator,
            ..ON_VISIBLE
        },
    ),
    // --- instance permissions ----------------------------------------------------------------
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddInstanceRunTimePermission",
        INSTANCE_RULES,
        TAG_INSTANCE_PERMISSIONS,
        "Allows or denies a run-time permission on every implementing Thing",
        RUN_TIME_RULE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteInstanceRunTimePermission",
        INSTANCE_RULES,
        TAG_INSTANCE_PERMISSIONS,
        "Removes an instance run-time rule",
        RUN_TIME_RULE_DELETE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddInstanceDesignTimePermission",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Allows or denies a design-time permission on every implementing Thing",
        DESIGN_TIME_RULE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteInstanceDesignTimePermission",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Removes an instance design-time rule",
        DESIGN_TIME_RULE_DELETE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/AddInstanceVisibilityPermission",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Makes every implementing Thing visible to an organization or unit",
        VISIBILITY_RULE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_service(
        "/Thingworx/{collection}/{name}/Services/DeleteInstanceVisibilityPermission",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Removes an instance visibility grant",
        VISIBILITY_RULE,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceRunTimePermissions",
        INSTANCE_RULES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance run-time rules",
        NONE,
        Output::InfoTable("RunTimePermissions"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceRunTimePermissionsAsJSON",
        INSTANCE_RULES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance run-time rules as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetInstanceRunTimePermissionsAsJSON",
        INSTANCE_RULES,
        TAG_INSTANCE_PERMISSIONS,
        "Replaces the instance run-time rules",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceDesignTimePermissions",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance design-time rules",
        NONE,
        Output::InfoTable("Permissions"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceDesignTimePermissionsAsJSON",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance design-time rules as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetInstanceDesignTimePermissionsAsJSON",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Replaces the instance design-time rules",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceVisibilityPermissions",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance visibility grants",
        NONE,
        Output::InfoTable("Permissions"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/GetInstanceVisibilityPermissionsAsJSON",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "The instance visibility grants as the ThingWorx JSON document",
        NONE,
        Output::Primitive("JSON"),
        SET_READ_NEED,
    )
    .refused_elsewhere(),
    permission_set_service(
        "/Thingworx/{collection}/{name}/Services/SetInstanceVisibilityPermissionsAsJSON",
        TEMPLATES,
        TAG_INSTANCE_PERMISSIONS,
        "Replaces the instance visibility grants",
        PERMISSION_SET,
        Output::Nothing,
        RULE_NEED,
    )
    .refused_elsewhere(),
    // --- collection permissions --------------------------------------------------------------
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionRunTimePermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Allows or denies a run-time permission on every entity of a collection",
        COLLECTION_RUN_TIME_RULE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionRunTimePermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Removes a collection run-time rule",
        COLLECTION_RUN_TIME_RULE_DELETE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Allows or denies a design-time permission on a collection (Create) and its entities",
        COLLECTION_DESIGN_TIME_RULE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionDesignTimePermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Removes a collection design-time rule",
        COLLECTION_DESIGN_TIME_RULE_DELETE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionVisibilityPermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Makes every entity of a collection visible to an organization or unit",
        COLLECTION_VISIBILITY_RULE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissions,
        "/Thingworx/Resources/CollectionFunctions/Services/DeleteCollectionVisibilityPermission",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "Removes a collection visibility grant",
        COLLECTION_VISIBILITY_RULE,
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissionSets,
        "/Thingworx/Resources/CollectionFunctions/Services/GetCollectionRunTimePermissions",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "A collection's run-time rules",
        COLLECTION_NAME,
        Output::InfoTable("RunTimePermissions"),
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissionSets,
        "/Thingworx/Resources/CollectionFunctions/Services/GetCollectionDesignTimePermissions",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "A collection's design-time rules",
        COLLECTION_NAME,
        Output::InfoTable("Permissions"),
        SECURITY_ADMIN,
    ),
    post(
        Run::CollectionPermissionSets,
        "/Thingworx/Resources/CollectionFunctions/Services/GetCollectionVisibilityPermissions",
        &[],
        TAG_COLLECTION_PERMISSIONS,
        "A collection's visibility grants",
        COLLECTION_NAME,
        Output::InfoTable("Permissions"),
        SECURITY_ADMIN,
    ),
    // --- membership --------------------------------------------------------------------------
    post(
        Run::Membership,
        "/Thingworx/Groups/{name}/Services/AddMember",
        &[],
        TAG_MEMBERSHIP,
        "Adds a user or group to the group",
        &[req("member", "STRING"), req("type", "STRING")],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Groups/{name}/Services/DeleteMember",
        &[],
        TAG_MEMBERSHIP,
        "Removes a user or group from the group",
        &[req("member", "STRING"), req("type", "STRING")],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Groups/{name}/Services/GetGroupMembers",
        &[],
        TAG_MEMBERSHIP,
        "The group's direct members",
        NONE,
        Output::InfoTable("GroupMember"),
        SET_READ_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Organizations/{name}/Services/AddOrganizationalUnit",
        &[],
        TAG_MEMBERSHIP,
        "Adds a unit below parentName (the top unit carries the organization's name)",
        &[
            req("parentName", "STRING"),
            req("name", "STRING"),
            opt("description", "STRING"),
        ],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Organizations/{name}/Services/AddMember",
        &[],
        TAG_MEMBERSHIP,
        "Adds a user or group to the unit name",
        &[
            req("name", "STRING"),
            req("member", "STRING"),
            req("type", "STRING"),
        ],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Organizations/{name}/Services/DeleteMember",
        &[],
        TAG_MEMBERSHIP,
        "Removes a member from the unit name",
        &[
            req("name", "STRING"),
            req("member", "STRING"),
            req("type", "STRING"),
        ],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Organizations/{name}/Services/GetMembers",
        &[],
        TAG_MEMBERSHIP,
        "The members of the unit name",
        NAME,
        Output::InfoTable("EntityReferenceWithDescription"),
        SET_READ_NEED,
    ),
    post(
        Run::Membership,
        "/Thingworx/Organizations/{name}/Services/GetOrganizationConnections",
        &[],
        TAG_MEMBERSHIP,
        "The unit tree and its members as from/to connections",
        NONE,
        Output::InfoTable("OrganizationConnection"),
        SET_READ_NEED,
    ),
    post(
        Run::MembershipServices,
        entity_service!("SetEntityPermission"),
        &[],
        TAG_PERMISSIONS,
        "Allows or denies a user or group every run-time permission on `*` of every entity \
         of a project or carrying one of the tags",
        &[
            req("name", "STRING"),
            req("type", "STRING"),
            req("allow", "BOOLEAN"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
        ],
        Output::Nothing,
        SECURITY_ADMIN,
    ),
    // --- users -------------------------------------------------------------------------------
    user_service(
        "/Thingworx/Users/{name}/Services/ChangePassword",
        "Changes the password, given the old one; ends the user's sessions",
        &[
            req("oldPassword", "STRING"),
            req("newPassword", "STRING"),
            req("newPasswordConfirm", "STRING"),
        ],
        Output::Nothing,
        true,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/AssignNewPassword",
        "Sets a new password; ends the user's sessions",
        &[
            req("newPassword", "STRING"),
            req("newPasswordConfirm", "STRING"),
        ],
        Output::Nothing,
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/EnableUser",
        "Enables the user",
        NONE,
        Output::Nothing,
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/DisableUser",
        "Disables the user (not Administrator) and ends its sessions",
        NONE,
        Output::Nothing,
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/LockUser",
        "Locks the user (not Administrator)",
        NONE,
        Output::Nothing,
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/UnlockUser",
        "Unlocks the user",
        NONE,
        Output::Nothing,
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/IsEnabled",
        "Whether the user is enabled",
        NONE,
        Output::Primitive("BOOLEAN"),
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/IsLocked",
        "Whether the user is locked",
        NONE,
        Output::Primitive("BOOLEAN"),
        false,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/GetGroups",
        "The user's groups, transitively",
        NONE,
        Output::InfoTable("EntityList"),
        true,
    ),
    user_service(
        "/Thingworx/Users/{name}/Services/SetLanguagePreferences",
        "Sets the preferred languages, best first, comma separated",
        &[opt("preferences", "STRING")],
        Output::Nothing,
        true,
    ),
    // --- session -----------------------------------------------------------------------------
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
        &[],
        TAG_SESSION,
        "The caller's name",
        NONE,
        Output::Primitive("USERNAME"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserGroups",
        &[],
        TAG_SESSION,
        "The caller's groups",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizations",
        &[],
        TAG_SESSION,
        "The caller's organizations",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizationalUnits",
        &[],
        TAG_SESSION,
        "The caller's organizational units",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserLanguage",
        &[],
        TAG_SESSION,
        "The caller's first preferred language",
        NONE,
        Output::Primitive("STRING"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSessions",
        &[],
        TAG_SESSION,
        "Ends every session of a user (the caller when none is named); the count ended",
        &[opt("userName", "USERNAME")],
        Output::Primitive("INTEGER"),
        Need {
            subject: Some("userName"),
            ..AUTHENTICATED
        },
    ),
    // --- application keys --------------------------------------------------------------------
    post(
        Run::AppKeyServices,
        entity_service!("CreateApplicationKey"),
        &[],
        TAG_APP_KEYS,
        "Creates a key acting as user (the caller when none is named); answers the key id, \
         shown only here and by GetKeyID",
        &[
            req("name", "STRING"),
            opt("description", "STRING"),
            opt("user", "USERNAME"),
            opt("expirationDate", "DATETIME"),
            opt("whitelist", "STRING"),
            opt("clientName", "STRING"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
        ],
        Output::Primitive("STRING"),
        needs_for(
            &[check(
                PermissionKind::Create,
                On::Collection(Collection::ApplicationKeys),
                Res::Any,
            )],
            "user",
        ),
    ),
    delete!(
        "DeleteApplicationKey",
        Collection::ApplicationKeys,
        "Deletes a key",
    )
    .tagged(TAG_APP_KEYS)
    .runs(Run::AppKeyServices),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/GetKeyID",
        "The key id (not available for a key imported without its secret)",
        NONE,
        Output::Primitive("STRING"),
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/GetUserName",
        "The user the key acts as",
        NONE,
        Output::Primitive("USERNAME"),
    ),
    post(
        Run::AppKey,
        "/Thingworx/ApplicationKeys/{name}/Services/SetUserName",
        &[],
        TAG_APP_KEYS,
        "Makes the key act as another user",
        &[req("name", "USERNAME")],
        Output::Nothing,
        needs_for(&[VISIBLE, INVOKE], "name"),
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/IsExpired",
        "Whether the key has expired",
        NONE,
        Output::Primitive("BOOLEAN"),
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/GetExpirationDate",
        "When the key expires",
        NONE,
        Output::Primitive("DATETIME"),
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/SetExpirationDate",
        "Sets when the key expires",
        &[req("expirationDate", "DATETIME")],
        Output::Nothing,
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/ResetExpirationDateToDefault",
        "Sets the expiration to now plus the configured lifetime",
        NONE,
        Output::Nothing,
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/SetClientName",
        "Sets the client using the key",
        &[opt("name", "STRING")],
        Output::Nothing,
    ),
    key_service(
        "/Thingworx/ApplicationKeys/{name}/Services/SetIPWhitelist",
        "Sets the addresses the key may be used from (blank: any)",
        &[opt("list", "STRING")],
        Output::Nothing,
    ),
    // --- localization ------------------------------------------------------------------------
    post(
        Run::LocalizationTable,
        "/Thingworx/LocalizationTables/{name}/Services/AddOrUpdateToken",
        &[],
        TAG_LOCALIZATION,
        "Sets a token of the table",
        &[req("name", "STRING"), opt("value", "STRING")],
        Output::Nothing,
        RULE_NEED,
    ),
    post(
        Run::RuntimeLocalization,
        "/Thingworx/Resources/RuntimeLocalizationFunctions/Services/GetEffectiveToken",
        &[],
        TAG_LOCALIZATION,
        "A token in the caller's languages, then Default, then System (`???token???` when \
         none has it)",
        &[req("token", "STRING")],
        Output::Primitive("STRING"),
        AUTHENTICATED,
    ),
    post(
        Run::RuntimeLocalization,
        "/Thingworx/Resources/RuntimeLocalizationFunctions/Services/GetEffectiveTokenForLanguage",
        &[],
        TAG_LOCALIZATION,
        "A token in one language, then Default, then System",
        &[req("language", "STRING"), req("token", "STRING")],
        Output::Primitive("STRING"),
        AUTHENTICATED,
    ),
    // --- security ----------------------------------------------------------------------------
    post(
        Run::Explain,
        "/Thingworx/Resources/SecurityServices/Services/ExplainPermission",
        &[],
        TAG_SECURITY,
        "Every rule the evaluator looked at for one decision, in order, and the one that \
         decided",
        &[
            opt("user", "USERNAME"),
            req("entityType", "STRING"),
            opt("entityName", "STRING"),
            req("permission", "STRING"),
            opt("resource", "STRING"),
        ],
        Output::InfoTable("Explanation"),
        needs_for(
            &[check(
                PermissionKind::Visibility,
                On::Named {
                    param: "entityName",
                    collection: NamedIn::Param("entityType"),
                },
                Res::Any,
            )],
            "user",
        ),
    ),
    // --- import and export -------------------------------------------------------------------
    Operation {
        method: Method::Post,
        path: "/Thingworx/Importer",
        run: Run::Route,
        refused_in: &[],
        collections: &[],
        tag: TAG_TRANSFER,
        summary: "File-mode import of the multipart field file (.xml, .twx, .zip), all or \
                  nothing; needs the header X-XSRF-TOKEN: TWX-XSRF-TOKEN-VALUE",
        body: Body::Multipart,
        params: &[req("file", "BLOB")],
        output: Output::Document,
        need: needs(IMPORT_CHECKS),
    },
    post(
        Run::SourceControl,
        "/Thingworx/Resources/SourceControlFunctions/Services/ImportSourceControlledEntities",
        &[],
        TAG_TRANSFER,
        "Storage-mode import of <storage-dir>/repository/<repositoryName>/<path>; collection \
         rules in it, and entity rules its permissions file lists, need a security \
         administrator",
        &[
            opt("repositoryName", "STRING"),
            opt("path", "STRING"),
            opt("strict", "BOOLEAN"),
        ],
        Output::Document,
        needs(IMPORT_CHECKS),
    ),
    post(
        Run::SourceControl,
        "/Thingworx/Resources/SourceControlFunctions/Services/ExportSourceControlledEntities",
        &[],
        TAG_TRANSFER,
        "Storage-mode export into the server's repository, which storage-mode imports trust: \
         security administrators only, of what they may read, with the collection rules",
        &[
            opt("repositoryName", "STRING"),
            req("path", "STRING"),
            opt("projectName", "PROJECTNAME"),
            opt("tags", "TAGS"),
            opt("collection", "STRING"),
            opt("includeSystem", "BOOLEAN"),
        ],
        Output::Document,
        Need {
            filtered_by: Some(PermissionKind::Read),
            ..SECURITY_ADMIN
        },
    ),
    route(
        Method::Get,
        "/Thingworx/Exporter/{collection}/{name}",
        TAG_TRANSFER,
        "One entity as a single-file XML export",
        Body::None,
        NONE,
        Output::Xml,
        needs(&[VISIBLE, design(PermissionKind::Read)]),
    )
    .in_collections(ALL),
];

/// An import needs Create on each collection it writes into and Update on each entity it
/// replaces.
const IMPORT_CHECKS: &[Check] = &[
    check(PermissionKind::Create, On::ImportedCollections, Res::Any),
    check(PermissionKind::Update, On::ImportedEntities, Res::Any),
];

impl Operation {
    const fn in_collections(self, collections: &'static [Collection]) -> Operation {
        Operation {
            collections,
            ..self
        }
    }

    const fn tagged(self, tag: &'static str) -> Operation {
        Operation { tag, ..self }
    }

    const fn runs(self, run: Run) -> Operation {
        Operation { run, ..self }
    }

    /// Dispatched on every securable collection, refused (400) outside `collections`.
    const fn refused_elsewhere(self) -> Operation {
        Operation {
            refused_in: SECURABLE,
            ..self
        }
    }
}

/// The prefix of the `Resources/EntityServices` services.
pub const ENTITY_SERVICES_PREFIX: &str = ENTITY_SERVICES;

#[cfg(test)]
mod tests {
    //! The catalog against the code: its own consistency, then every operation answered by the
    //! real handlers (in process, on SQLite), and every service name a handler family could know
    //! (the ThingWorx services, every name the permission grammars generate) unknown wherever
    //! the catalog does not list it.

    use std::collections::{BTreeMap, BTreeSet};

    use actix_web::test as http_test;
    use actix_web::{App, web};
    use base64::Engine;
    use ironworx_entity::queries::audit::{self, Change};
    use ironworx_entity::queries::entities::{self, EntityFields};
    use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
    use ironworx_entity::queries::parts::service_definitions;
    use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
    use ironworx_entity::queries::{app_keys, groups, organizations};
    use ironworx_entity::schema::service_definitions as service_definition;

    use super::*;
    use crate::state::AppState;

    const PROBE: &str = "CatalogProbe";
    const PASSWORD: &str = "Catalog-Probe-Password-1";
    const FIXTURE: &str = "Fixture";
    const STREAM: &str = "FixtureStream";
    const TABLE: &str = "FixtureTable";
    const DEFINED: &str = "DefinedService";

    /// Every service name ThingWorx 9.x declares for its entity types.
    const THINGWORX_SERVICES: &[&str] = &[
        "AddCollectionDesignTimePermission",
        "AddCollectionRunTimePermission",
        "AddCollectionVisibilityPermission",
        "AddDesignTimePermission",
        "AddEntityVisibilities",
        "AddEntityVisibility",
        "AddInstanceDesignTimePermission",
        "AddInstanceRunTimePermission",
        "AddInstanceVisibilityPermission",
        "AddMember",
        "AddOrUpdateToken",
        "AddOrganizationalUnit",
        "AddPropertyDefinition",
        "AddResourceEntityPermission",
        "AddRunTimePermission",
        "AddServiceDefinition",
        "AddSessionShape",
        "AddThingPermission",
        "AddThingVisibility",
        "AddToken",
        "AddTokenAnnotated",
        "AddVisibilityPermission",
        "AssignMembers",
        "AssignNewPassword",
        "ChangePassword",
        "CheckDesignTimePermission",
        "CheckDesignTimePermissionForGroup",
        "CheckDesignTimePermissionForUser",
        "CheckPermission",
        "CheckPermissionForGroup",
        "CheckPermissionForUser",
        "CloneUser",
        "CloneUserWithGroups",
        "CreateApplicationKey",
        "CreateDataShape",
        "CreateGroup",
        "CreateLocalizationTable",
        "CreateOrganization",
        "CreateProject",
        "CreateThing",
        "CreateThingShape",
        "CreateThingTemplate",
        "CreateThingWithOwner",
        "CreateUser",
        "CreateUserWithOptions",
        "DeleteApplicationKey",
        "DeleteApplicationKeys",
        "DeleteCollectionDesignTimePermission",
        "DeleteCollectionRunTimePermission",
        "DeleteCollectionVisibilityPermission",
        "DeleteDesignTimePermission",
        "DeleteEntityPermission",
        "DeleteEntityVisibilities",
        "DeleteEntityVisibility",
        "DeleteGroup",
        "DeleteInstanceDesignTimePermission",
        "DeleteInstanceRunTimePermission",
        "DeleteInstanceVisibilityPermission",
        "DeleteMember",
        "DeleteOrganization",
        "DeleteOrganizationalUnit",
        "DeleteProject",
        "DeleteResourceEntityPermission",
        "DeleteRunTimePermission",
        "DeleteSessionShape",
        "DeleteThing",
        "DeleteThingPermission",
        "DeleteThingShape",
        "DeleteThingTemplate",
        "DeleteThingVisibility",
        "DeleteToken",
        "DeleteUser",
        "DeleteUserWithOptions",
        "DeleteVisibilityPermission",
        "DiffSourceControlledEntities",
        "DisableThing",
        "DisableUser",
        "DoesApplicationKeyWithKeyIdExist",
        "EnableThing",
        "EnableUser",
        "EvaluateDesignTimePermission",
        "EvaluateRuntimePermission",
        "EvaluateVisibilityPermission",
        "ExportLocalizationTables",
        "ExportSourceControlledEntities",
        "ExportSourceControlledEntitiesToZipFile",
        "ExportUserPermissions",
        "GetActiveUsers",
        "GetApplicationKeyExpirationInfo",
        "GetChildConnections",
        "GetCollectionDesignTimePermissions",
        "GetCollectionRunTimePermissions",
        "GetCollectionVisibilityPermissions",
        "GetCurrentIPAddress",
        "GetCurrentUser",
        "GetCurrentUserExtensionProperties",
        "GetCurrentUserGroups",
        "GetCurrentUserHomeMashup",
        "GetCurrentUserLanguage",
        "GetCurrentUserOrganizationalUnits",
        "GetCurrentUserOrganizations",
        "GetDesignTimeCollectionPermissions",
        "GetDesignTimePermissions",
        "GetDesignTimePermissionsAsJSON",
        "GetEffectiveToken",
        "GetEffectiveTokenForLanguage",
        "GetEffectiveTokens",
        "GetEffectiveTokensForLanguage",
        "GetEntityList",
        "GetEntityListWithPermissionMask",
        "GetExpirationDate",
        "GetGlobalSessionValues",
        "GetGroupMember",
        "GetGroupMembers",
        "GetGroups",
        "GetImplementingThings",
        "GetInstanceDesignTimePermissions",
        "GetInstanceDesignTimePermissionsAsJSON",
        "GetInstanceMetadataWithPermissionsAsJSON",
        "GetInstanceRunTimePermissions",
        "GetInstanceRunTimePermissionsAsJSON",
        "GetInstanceVisibilityPermissions",
        "GetInstanceVisibilityPermissionsAsJSON",
        "GetKeyID",
        "GetLanguages",
        "GetLockedUsers",
        "GetMember",
        "GetMembers",
        "GetMetadataWithPermissionsAsJSON",
        "GetNamedPropertyValues",
        "GetOrganizationConnections",
        "GetOrganizationalUnitDescription",
        "GetOrganizationalUnits",
        "GetOrganizations",
        "GetParentConnections",
        "GetParentName",
        "GetPermissionsForCurrentUser",
        "GetPermissionsForGroup",
        "GetPermissionsForUser",
        "GetPlatformSessionTimeout",
        "GetPropertyValues",
        "GetRestrictConcurrentUserSessions",
        "GetRunTimePermissions",
        "GetRunTimePermissionsAsJSON",
        "GetSessionShapes",
        "GetSourceControlledEntitiesDiff",
        "GetSubOrganizationConnections",
        "GetToken",
        "GetTokens",
        "GetTokensAnnotated",
        "GetUserCount",
        "GetUserName",
        "GetUserPreferenceInfo",
        "GetVisibilityPermissions",
        "GetVisibilityPermissionsAsJSON",
        "ImportSourceControlledEntities",
        "ImportUserPermissions",
        "IsChild",
        "IsDefaultToHttpFormAuth",
        "IsEnabled",
        "IsExpired",
        "IsInOrganization",
        "IsInSubOrganization",
        "IsLocked",
        "IsParent",
        "IsUserServiceSelfBypass",
        "LockUser",
        "MoveOrganizationalUnit",
        "QueryGroupMembers",
        "QueryMembers",
        "ReadEntityAsJSON",
        "ReadEntityDefinitionAsJSON",
        "RemovePropertyDefinition",
        "ResetExpirationDateToDefault",
        "ResetSecurityContext",
        "RestartThing",
        "SearchDefaultLocalizationTokens",
        "SetClientName",
        "SetDefaultToHttpFormAuth",
        "SetDesignTimePermissionsAsJSON",
        "SetEntityPermission",
        "SetEntityVisibilities",
        "SetEntityVisibility",
        "SetExpirationDate",
        "SetGlobalSessionStringValue",
        "SetHomeMashup",
        "SetIPWhitelist",
        "SetInstanceDesignTimePermissionsAsJSON",
        "SetInstanceRunTimePermissionsAsJSON",
        "SetInstanceVisibilityPermissionsAsJSON",
        "SetLanguagePreferences",
        "SetMobileMashup",
        "SetOrganizationalUnitDescription",
        "SetOwner",
        "SetProjectName",
        "SetPropertyValues",
        "SetResourceEntityPermission",
        "SetRestrictConcurrentUserSessions",
        "SetRunTimePermissionsAsJSON",
        "SetTags",
        "SetThingPermission",
        "SetThingVisibility",
        "SetUserName",
        "SetUserServiceSelfBypass",
        "SetVisibilityPermissionsAsJSON",
        "TerminateUserSessions",
        "UnlockUser",
        "UpdatePropertyValues",
        "UpdateToken",
        "UpdateUserWithOptions",
    ];

    #[test]
    fn operations_are_unique_and_well_formed() {
        let mut routes = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for op in operations() {
            assert!(
                routes.insert((op.method, op.path)),
                "{} {} twice",
                op.method.as_str(),
                op.path
            );
            assert!(ids.insert(op.operation_id()), "{} twice", op.operation_id());
            let mut names = BTreeSet::new();
            for p in op.params {
                assert!(names.insert(p.name), "{}: {} twice", op.path, p.name);
                assert!(
                    p.base_type.chars().all(|c| c.is_ascii_uppercase()),
                    "{}: base type {}",
                    op.path,
                    p.base_type
                );
            }
            assert_eq!(
                op.path.contains("{collection}"),
                !op.collections.is_empty(),
                "{}: allowed collections",
                op.path
            );
            assert!(
                op.refused_in.is_empty() || op.path.contains("{collection}"),
                "{}: refused outside a {{collection}} path",
                op.path
            );
            if let Some(subject) = op.need.subject {
                assert!(names.contains(subject), "{}: {subject}", op.path);
            }
            for c in op.need.checks {
                if let On::Named { param, collection } = c.on {
                    assert!(names.contains(param), "{}: {param}", op.path);
                    if let NamedIn::Param(p) = collection {
                        assert!(names.contains(p), "{}: {p}", op.path);
                    }
                }
                if let Res::PathParam(p) = c.resource {
                    assert!(op.path_params().contains(&p), "{}: {p}", op.path);
                }
                if c.resource != Res::Any {
                    assert_eq!(
                        c.kind.category(),
                        ironworx_entity::vocab::PermissionCategory::RunTime,
                        "{}: a resource outside run time",
                        op.path
                    );
                }
            }
            assert!(!op.summary.is_empty() && !op.tag.is_empty());
        }
    }

    #[test]
    fn every_service_names_the_family_that_runs_it() {
        for op in operations() {
            let service = op.method == Method::Post && op.path.contains("/Services/");
            assert_eq!(service, op.run != Run::Route, "{}: {:?}", op.path, op.run);
        }
        // Indexing panics on a service path it cannot place or on a place listed twice.
        let places = &*crate::http::services::PLACES;
        for op in operations().filter(|op| op.run != Run::Route) {
            let (head, service) = op.path.rsplit_once("/Services/").expect("service path");
            let found = match head.strip_prefix("/Thingworx/Resources/") {
                Some(resource) => vec![places.resource(resource, service)],
                None => {
                    let collections: Vec<Collection> = if op.collections.is_empty() {
                        let name = head.trim_start_matches("/Thingworx/");
                        vec![
                            name.split('/')
                                .next()
                                .unwrap_or("")
                                .parse()
                                .expect("collection"),
                        ]
                    } else {
                        op.collections.to_vec()
                    };
                    collections
                        .into_iter()
                        .map(|c| places.entity(c, service).first().copied())
                        .collect()
                }
            };
            for found in found {
                assert_eq!(found.map(|f| f.path), Some(op.path), "{}", op.path);
            }
        }
    }

    #[test]
    fn securable_is_every_collection() {
        let mut securable = SECURABLE.to_vec();
        let mut all = Collection::ALL.to_vec();
        securable.sort_by_key(|c| c.as_str());
        all.sort_by_key(|c| c.as_str());
        assert_eq!(securable, all);
    }

    #[test]
    fn rule_services_parse_as_the_dispatcher_parses_them() {
        use crate::http::permissions::{RuleService, Scope};
        for op in operations() {
            let Some(service) = op.service() else {
                continue;
            };
            let Some(parsed) = RuleService::parse(service) else {
                continue;
            };
            let collection_level = op.path.contains("/CollectionFunctions/");
            assert_eq!(
                parsed.scope == Scope::Collection,
                collection_level,
                "{}",
                op.path
            );
            assert_eq!(
                parsed.scope == Scope::Instance,
                op.tag == TAG_INSTANCE_PERMISSIONS,
                "{}",
                op.path
            );
        }
    }

    /// A fresh database, bootstrapped, with one entity per collection (three Things: plain,
    /// Stream, DataTable), a service defined on the plain Thing, and the user [`PROBE`], who
    /// holds no grant.
    async fn state() -> (tempfile::TempDir, AppState) {
        crate::state::for_tests("c.db", async |db, dir| {
            crate::bootstrap::bootstrap(db, Some("Catalog-Admin-Password-1"), dir)
                .await
                .expect("bootstraps");
            seed(db).await;
        })
        .await
    }

    async fn seed(db: &sea_orm::DatabaseConnection) {
        let fields = EntityFields::default();
        let hash = crate::password::hash_password(PASSWORD).expect("hash");
        for name in [PROBE, FIXTURE] {
            users::create_user(
                db,
                &NewUser {
                    name: name.into(),
                    password: Some(PasswordRecord::argon2id(hash.clone())),
                    ..NewUser::default()
                },
            )
            .await
            .expect("user");
        }
        models::create_data_shape(db, FIXTURE, &fields, "")
            .await
            .expect("data shape");
        let thing = models::create_thing(
            db,
            FIXTURE,
            &fields,
            &ThingFields {
                thing_template: "GenericThing".into(),
                ..ThingFields::default()
            },
        )
        .await
        .expect("thing");
        for (name, template) in [(STREAM, "Stream"), (TABLE, "DataTable")] {
            models::create_thing(
                db,
                name,
                &EntityFields {
                    aspects: Some(serde_json::json!({ "dataShape": FIXTURE })),
                    ..EntityFields::default()
                },
                &ThingFields {
                    thing_template: template.into(),
                    ..ThingFields::default()
                },
            )
            .await
            .expect("data thing");
        }
        service_definitions::insert(
            db,
            vec![service_definition::Model {
                id: 0,
                entity_id: thing.id,
                name: DEFINED.into(),
                description: String::new(),
                category: String::new(),
                is_allow_override: false,
                is_local_only: false,
                is_open: false,
                is_private: false,
                aspects: None,
                result_type: None,
                parameters: None,
            }],
        )
        .await
        .expect("service");
        models::create_thing_template(db, FIXTURE, &fields, &TemplateFields::default())
            .await
            .expect("template");
        models::create_thing_shape(db, FIXTURE, &fields, "")
            .await
            .expect("shape");
        groups::create_group(db, FIXTURE, &fields)
            .await
            .expect("group");
        organizations::create_organization(
            db,
            FIXTURE,
            &fields,
            &organizations::LoginPage::default(),
        )
        .await
        .expect("organization");
        app_keys::create_app_key(
            db,
            &app_keys::NewAppKey {
                name: FIXTURE.into(),
                fields: fields.clone(),
                key_hash: Some(crate::auth::app_key::key_hash("catalog-fixture-key")),
                key_sealed: None,
                user_id: None,
                expiration_date: None,
                client_name: String::new(),
                ip_whitelist: String::new(),
            },
        )
        .await
        .expect("key");
        for collection in Collection::ALL {
            if entities::find_entity(db, *collection, FIXTURE)
                .await
                .expect("find")
                .is_none()
            {
                entities::insert_entity(db, *collection, FIXTURE, &fields)
                    .await
                    .expect("entity");
            }
        }
        audit::record(
            db,
            &Change {
                actor: "System".into(),
                action: "CatalogFixtures".into(),
                target_collection: String::new(),
                target_name: String::new(),
                detail: None,
            },
        )
        .await
        .expect("audit");
    }

    /// The fixture a path's `{name}` stands for.
    fn fixture_of(op: &Operation) -> &'static str {
        match op.tag {
            TAG_STREAMS => STREAM,
            TAG_DATA_TABLES => TABLE,
            _ => FIXTURE,
        }
    }

    /// `op.path` with its parameters filled in, once per allowed collection.
    fn concrete_paths(op: &Operation) -> Vec<String> {
        let fill = |collection: &str| {
            op.path
                .replace("{collection}", collection)
                .replace("{name}", fixture_of(op))
                .replace("{property}", "p")
                .replace("{event}", "ThingStart")
                .replace("{service}", DEFINED)
                .replace("{org}", "Everyone")
        };
        if op.collections.is_empty() {
            vec![fill("")]
        } else {
            op.collections.iter().map(|c| fill(c.as_str())).collect()
        }
    }

    fn basic() -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{PROBE}:{PASSWORD}"));
        format!("Basic {token}")
    }

    fn request(method: Method, path: &str, body: &str) -> http_test::TestRequest {
        let req = match method {
            Method::Get => http_test::TestRequest::get(),
            Method::Put => http_test::TestRequest::put(),
            Method::Post => http_test::TestRequest::post(),
            Method::Delete => http_test::TestRequest::delete(),
        };
        req.uri(path)
            .insert_header(("Authorization", basic()))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_owned())
    }

    /// Every name a handler family might answer: ThingWorx's services, the names the rule and
    /// set grammars generate, `Create…`/`Delete…` of every collection, and the catalog's own.
    fn candidates() -> BTreeSet<String> {
        let mut names: BTreeSet<String> =
            THINGWORX_SERVICES.iter().map(|s| s.to_string()).collect();
        for scope in ["", "Instance", "Collection"] {
            for category in ["RunTime", "DesignTime", "Visibility"] {
                for verb in ["Add", "Delete"] {
                    names.insert(format!("{verb}{scope}{category}Permission"));
                }
                for verb in ["Get", "Set"] {
                    for suffix in ["", "AsJSON"] {
                        names.insert(format!("{verb}{scope}{category}Permissions{suffix}"));
                    }
                }
            }
        }
        for collection in Collection::ALL {
            names.insert(format!("Create{}", collection.element_name()));
            names.insert(format!("Delete{}", collection.element_name()));
        }
        for op in operations() {
            if let Some(service) = op.service() {
                names.insert(service.to_owned());
            }
        }
        names
    }

    /// Where a service is called: an entity fixture `(collection, name, tag filter)` or a
    /// resource; the services the catalog lists there.
    fn listed(
        prefix: &str,
        fixture: &str,
        collection: Option<Collection>,
    ) -> BTreeSet<&'static str> {
        operations()
            .filter(|op| op.method == Method::Post)
            .filter_map(|op| {
                let service = op.service()?;
                let head = op.path.strip_suffix(service)?;
                let matches = match collection {
                    Some(c) => {
                        (head == "/Thingworx/{collection}/{name}/Services/"
                            && (op.collections.contains(&c) || op.refused_in.contains(&c)))
                            || (head == format!("/Thingworx/{}/{{name}}/Services/", c.as_str())
                                && (op.tag == TAG_THINGS || fixture_of(op) == fixture))
                    }
                    // A built-in resource is an entity of `Resources` too.
                    None => {
                        head == prefix
                            || (head == "/Thingworx/{collection}/{name}/Services/"
                                && (op.collections.contains(&Collection::Resources)
                                    || op.refused_in.contains(&Collection::Resources))
                                && ironworx_entity::vocab::builtin::RESOURCES.iter().any(|r| {
                                    prefix == format!("/Thingworx/Resources/{r}/Services/")
                                }))
                    }
                };
                matches.then_some(service)
            })
            .collect()
    }

    /// Every operation is answered by the running code, and every other service name is
    /// unknown wherever the catalog does not list it.
    #[actix_web::test]
    async fn catalog_matches_the_dispatchers() {
        let (_tmp, state) = state().await;
        let app = http_test::init_service(
            App::new()
                .app_data(web::Data::new(state))
                .configure(crate::http::configure),
        )
        .await;
        let mut problems: Vec<String> = Vec::new();

        // Forward: each operation, on each collection it lists, reaches a handler.
        for op in operations() {
            for path in concrete_paths(op) {
                let body = if op.body == Body::None { "" } else { "{}" };
                let res =
                    http_test::call_service(&app, request(op.method, &path, body).to_request())
                        .await;
                let status = res.status().as_u16();
                if status == 404 || status == 405 {
                    let body = http_test::read_body(res).await;
                    problems.push(format!(
                        "{} {path}: {status} {}",
                        op.method.as_str(),
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            // Where it is refused, the handler refuses it as bad input.
            for collection in op.refused_in.iter().filter(|c| !op.collections.contains(c)) {
                let path = op
                    .path
                    .replace("{collection}", collection.as_str())
                    .replace("{name}", FIXTURE);
                let res =
                    http_test::call_service(&app, request(op.method, &path, "{}").to_request())
                        .await;
                let status = res.status().as_u16();
                if status != 400 {
                    problems.push(format!(
                        "{} {path}: {status}, not refused",
                        op.method.as_str()
                    ));
                }
            }
        }

        // Backward: names the catalog does not list where they are called are unknown there.
        let names = candidates();
        let mut places: Vec<(String, BTreeSet<&'static str>)> = Vec::new();
        let mut resources: BTreeMap<&str, ()> = BTreeMap::new();
        for op in operations() {
            if let Some(rest) = op.path.strip_prefix("/Thingworx/Resources/")
                && let Some((resource, _)) = rest.split_once('/')
            {
                resources.insert(resource, ());
            }
        }
        resources.insert("NoSuchResource", ());
        for resource in resources.keys() {
            let prefix = format!("/Thingworx/Resources/{resource}/Services/");
            places.push((prefix.clone(), listed(&prefix, "", None)));
        }
        let things = [FIXTURE, STREAM, TABLE];
        for collection in Collection::ALL {
            let fixtures: &[&str] = if *collection == Collection::Things {
                &things
            } else {
                &[FIXTURE]
            };
            for fixture in fixtures {
                let prefix = format!("/Thingworx/{}/{fixture}/Services/", collection.as_str());
                places.push((prefix, listed("", fixture, Some(*collection))));
            }
        }
        let mut probes = 0;
        for (prefix, listed_here) in &places {
            for name in &names {
                if listed_here.contains(name.as_str()) {
                    continue;
                }
                let path = format!("{prefix}{name}");
                let res = http_test::call_service(
                    &app,
                    request(Method::Post, &path, r#"{"token":"probe"}"#).to_request(),
                )
                .await;
                probes += 1;
                let status = res.status().as_u16();
                let body = String::from_utf8_lossy(&http_test::read_body(res).await).into_owned();
                if status != 404 {
                    problems.push(format!(
                        "POST {path}: answered {status} {body} but not in the catalog"
                    ));
                }
            }
        }
        assert!(probes > 1000, "only {probes} names probed");
        assert!(
            problems.is_empty(),
            "the catalog and the dispatchers disagree:\n{}",
            problems.join("\n")
        );
    }
}
