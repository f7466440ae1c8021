//! The one catalog of every route and service the server answers: method, path, route family,
//! parameters with their ThingWorx base types, result, what the caller needs, and the handler
//! family that runs it ([`Run`]). It is the service dispatcher's table: `http::dispatch`
//! answers `POST …/Services/<name>` by looking up the operation listed for that resource or
//! collection and calling its family, and a service not listed there is a 404. The other
//! routes (`GET`/`PUT` of properties, entity documents, login pages, import and export) are
//! registered as their own actix handlers and carry [`Run::Route`]. The OpenAPI document
//! (`http::openapi`) is rendered from it, and the route-by-permission test drives every route
//! through it.

use std::collections::HashMap;
use std::sync::LazyLock;

use ironworx_entity::vocab::{BaseType, Collection, PermissionKind};

use crate::error::ApiError;

mod modelling;

use crate::domain::need::{
    AUDITOR, AUTHENTICATED, INVOKE, ON_VISIBLE, PUBLIC, SECURITY_ADMIN, SECURITY_CHANGE,
    SECURITY_READ, VISIBLE, check, design, named, needs, needs_for,
};
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
    pub base_type: BaseType,
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
    Primitive(BaseType),
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

/// The handler family that runs a service: `http::dispatch` calls it for every operation listed
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
    /// `domain::data::thing_service`: Stream and DataTable services; a Thing of another kind
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
    /// `http::import_export::source_control`: `SourceControlFunctions`.
    SourceControl,
    /// `http::localization::runtime_service`: `RuntimeLocalizationFunctions`.
    RuntimeLocalization,
    /// `http::users::current_session_info`: `CurrentSessionInfo`.
    CurrentSession,
    /// `http::explain::explain_permission`: `SecurityServices/ExplainPermission`.
    Explain,
    /// `http::diff::effective_permission_changes`:
    /// `SecurityServices/GetEffectivePermissionChanges`.
    PermissionDiff,
    /// `http::audit::subsystem_service`: `Subsystems/AuditSubsystem` audit queries.
    AuditSubsystem,
    /// `http::audit::entity_history`: `QueryAuditHistory` on an entity.
    AuditEntity,
    /// `http::audit::security_log_service`: `Logs/SecurityLog/QueryLogEntries`.
    SecurityLog,
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

const fn req(name: &'static str, base_type: BaseType) -> Param {
    Param {
        name,
        base_type,
        required: true,
    }
}

const fn opt(name: &'static str, base_type: BaseType) -> Param {
    Param {
        name,
        base_type,
        required: false,
    }
}

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
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    opt("resource", BaseType::String),
    req("type", BaseType::String),
    req("allow", BaseType::Boolean),
];
const RUN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    opt("resource", BaseType::String),
    req("type", BaseType::String),
];
const DESIGN_TIME_RULE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    req("type", BaseType::String),
    req("allow", BaseType::Boolean),
];
const DESIGN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    req("type", BaseType::String),
];
const VISIBILITY_RULE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
];
const PERMISSION_SET: &[Param] = &[req("permissions", BaseType::Json)];
const COLLECTION_NAME: &[Param] = &[req("collectionName", BaseType::String)];

const COLLECTION_RUN_TIME_RULE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    opt("resource", BaseType::String),
    req("type", BaseType::String),
    req("allow", BaseType::Boolean),
    req("collectionName", BaseType::String),
];
const COLLECTION_RUN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    opt("resource", BaseType::String),
    req("type", BaseType::String),
    req("collectionName", BaseType::String),
];
const COLLECTION_DESIGN_TIME_RULE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    req("type", BaseType::String),
    req("allow", BaseType::Boolean),
    req("collectionName", BaseType::String),
];
const COLLECTION_DESIGN_TIME_RULE_DELETE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    req("type", BaseType::String),
    req("collectionName", BaseType::String),
];
const COLLECTION_VISIBILITY_RULE: &[Param] = &[
    req("principal", BaseType::String),
    req("principalType", BaseType::String),
    req("collectionName", BaseType::String),
];

const NAME: &[Param] = &[req("name", BaseType::String)];
const CREATE_COMMON: &[Param] = &[
    req("name", BaseType::String),
    opt("description", BaseType::String),
    opt("projectName", BaseType::ProjectName),
    opt("tags", BaseType::Tags),
    opt("ownerUserName", BaseType::UserName),
];

/// `AddPropertyDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_PROPERTY: &[Param] = &[
    req("name", BaseType::String),
    req("type", BaseType::BaseTypeName),
    opt("description", BaseType::String),
    opt("category", BaseType::String),
    opt("readOnly", BaseType::Boolean),
    opt("persistent", BaseType::Boolean),
    opt("logged", BaseType::Boolean),
    opt("defaultValue", BaseType::String),
    opt("dataChangeType", BaseType::String),
    opt("dataChangeThreshold", BaseType::Number),
    opt("dataShape", BaseType::DataShapeName),
    opt("remote", BaseType::Boolean),
    opt("remotePropertyName", BaseType::String),
    opt("timeout", BaseType::Integer),
    opt("pushType", BaseType::String),
    opt("pushThreshold", BaseType::Number),
];
/// `AddServiceDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_SERVICE: &[Param] = &[
    req("name", BaseType::String),
    opt("description", BaseType::String),
    opt("category", BaseType::String),
    opt("parameters", BaseType::Infotable),
    opt("resultType", BaseType::Infotable),
    opt("code", BaseType::String),
];
/// `AddEventDefinition` of a Thing, ThingTemplate or ThingShape.
const ADD_EVENT: &[Param] = &[
    req("name", BaseType::String),
    opt("description", BaseType::String),
    opt("category", BaseType::String),
    req("dataShape", BaseType::DataShapeName),
];

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
            crate::domain::create::need($collection),
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
    opt("values", BaseType::Infotable),
    opt("timestamp", BaseType::Datetime),
    opt("location", BaseType::Location),
    opt("source", BaseType::String),
    opt("sourceType", BaseType::String),
    opt("tags", BaseType::Tags),
];
const STREAM_QUERY: &[Param] = &[
    opt("maxItems", BaseType::Number),
    opt("startDate", BaseType::Datetime),
    opt("endDate", BaseType::Datetime),
    opt("oldestFirst", BaseType::Boolean),
    opt("tags", BaseType::Tags),
    opt("source", BaseType::String),
];
const STREAM_FILTERED: &[Param] = &[
    opt("maxItems", BaseType::Number),
    opt("startDate", BaseType::Datetime),
    opt("endDate", BaseType::Datetime),
    opt("oldestFirst", BaseType::Boolean),
    opt("tags", BaseType::Tags),
    opt("source", BaseType::String),
    opt("query", BaseType::Query),
];
const TABLE_ENTRY: &[Param] = &[
    req("values", BaseType::Infotable),
    opt("timestamp", BaseType::Datetime),
    opt("location", BaseType::Location),
    opt("source", BaseType::String),
    opt("sourceType", BaseType::String),
    opt("tags", BaseType::Tags),
];
const TABLE_QUERY: &[Param] = &[
    opt("maxItems", BaseType::Number),
    opt("query", BaseType::Query),
    opt("values", BaseType::Infotable),
    opt("tags", BaseType::Tags),
    opt("source", BaseType::String),
];

/// Every route and service the server answers, family by family (one file each under
/// `catalog/`), in the order the OpenAPI document lists them.
pub fn operations() -> impl Iterator<Item = &'static Operation> {
    [
        server::OPERATIONS,
        entities::OPERATIONS,
        things::OPERATIONS,
        permissions::OPERATIONS,
        accounts::OPERATIONS,
        security::OPERATIONS,
        modelling::OPERATIONS,
    ]
    .into_iter()
    .flatten()
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

// The families come after the macros they use (`macro_rules!` scope is textual).
mod accounts;
mod entities;
mod permissions;
mod security;
mod server;
mod things;

#[cfg(test)]
mod tests;
