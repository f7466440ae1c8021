//! Route by permission, over the real server and driven by its own OpenAPI document: every
//! operation of `GET /Thingworx/openapi.json` is called, each on a fixture of its own, by
//! users whose rights differ from what its `x-ironworx-permission` says by exactly one
//! permission.
//!
//! For an operation needing permissions P1..Pn: user A holds exactly them (on the resource
//! named, granted to A itself; it sees the entity through the default visibility) and succeeds;
//! for each Pi, user Bi holds every run-time and design-time permission on the entity and on the
//! collections involved except Pi, and gets 403 naming Pi (404 when Pi is Visibility: Bi then
//! leaves `Users`, so the organization `Everyone` no longer shows it anything). A route for
//! security administrators refuses a plain user holding every permission and answers a member of
//! `SecurityAdministrators`; a parameter naming a user refuses another user for A and accepts it
//! for a security administrator; a security-administrator bypass is taken by a member holding
//! nothing; a self-service is taken by a user on its own User entity; a route for any
//! authenticated user answers a user holding nothing and refuses no credentials with 401; a
//! public route answers without credentials.
//!
//! What the bootstrap grants is checked first: collection design time for `Administrators`
//! (who bypass every check anyway) and collection visibility for `Everyone`, nothing else, so
//! no user of the test holds anything it is not given here. Nobody of the test owns a fixture
//! (the administrator creates them), so the owner bypass never applies.

use std::collections::BTreeMap;

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::parts;
use ironworx_entity::schema::{field_definitions, service_definitions};
use ironworx_tests::http::{
    Caller, Membership, Reply, admin_call, bump, entity_services, request, seed_principals, send,
};
use ironworx_tests::{TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

const PASSWORD: &str = "Matrix-Password-12345";
const NEW_PASSWORD: &str = "Matrix-Password-67890";
/// A group rules are written for by the permission services under test.
const GRANTEES: &str = "MatrixGrantees";
/// An organization visibility grants are written for.
const ORG: &str = "MatrixOrg";
/// A user that group and unit services add and remove, and that keys act as.
const MEMBER: &str = "MatrixMember";
/// The data shape of the Stream and DataTable fixtures: `k` (primary key), `v`.
const SHAPE: &str = "MatrixShape";
/// A service defined on a Thing (no implementation the server runs).
const DEFINED: &str = "Defined";
const FAR_FUTURE: i64 = 4_102_444_800_000;
const CSRF: &str = "MatrixCsrfTokenMatrixCsrfTokenMatrixCsrf123";
const BOUNDARY: &str = "matrix-boundary-5d1e";

const RUN_TIME: [&str; 5] = [
    "PropertyRead",
    "PropertyWrite",
    "ServiceInvoke",
    "EventInvoke",
    "EventSubscribe",
];
const DESIGN_TIME: [&str; 5] = ["Create", "Read", "Update", "Delete", "Metadata"];

/// One operation of the served document.
#[derive(Clone, Debug)]
struct Op {
    method: Method,
    path: String,
    id: String,
    need: Value,
    /// The documented success status.
    success: u16,
    /// The values `{collection}` may take.
    collections: Vec<String>,
}

impl Op {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn service(&self) -> Option<&str> {
        let (head, name) = self.path.rsplit_once('/')?;
        (head.ends_with("/Services") && !name.starts_with('{')).then_some(name)
    }
}

/// One permission an operation needs, as the document states it.
#[derive(Clone, Debug)]
struct Need {
    permission: String,
    category: String,
    target: String,
    collection: Option<String>,
    resource: String,
    bypass: bool,
}

impl Need {
    fn on_entity(&self) -> bool {
        matches!(
            self.target.as_str(),
            "entity" | "namedEntity" | "importedEntities"
        )
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method = match method.as_str() {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                _ => continue,
            };
            let success = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|k| k.parse::<u16>().ok())
                .find(|s| (200..400).contains(s) || *s == 501)
                .expect("a success status");
            let collections = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == "collection")
                .and_then(|p| p["schema"]["enum"].as_array())
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            ops.push(Op {
                method,
                path: path.clone(),
                id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                need: op["x-ironworx-permission"].clone(),
                success,
                collections,
            });
        }
    }
    ops
}

fn needs_of(op: &Op) -> Vec<Need> {
    op.need["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Need {
            permission: c["permission"].as_str().unwrap_or_default().to_owned(),
            category: c["category"].as_str().unwrap_or_default().to_owned(),
            target: c["target"].as_str().unwrap_or_default().to_owned(),
            collection: c["collection"].as_str().map(str::to_owned),
            resource: c["resource"].as_str().unwrap_or_default().to_owned(),
            bypass: c["securityAdministratorBypass"] == json!(true),
        })
        .collect()
}

// --- recipes ---------------------------------------------------------------------------------

/// The entity an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixture {
    /// None.
    None,
    /// An entity of this collection (Things get the NUMBER property `p1`).
    Entity(&'static str),
    /// A Stream Thing of [`SHAPE`].
    Stream,
    /// A DataTable Thing of [`SHAPE`].
    DataTable,
    /// A Thing defining the service [`DEFINED`].
    Defined,
    /// A ThingShape in a project of its own, exported to the storage folder `m<n>`.
    StoredShape,
}

impl Fixture {
    fn collection(self) -> Option<&'static str> {
        match self {
            Fixture::None => None,
            Fixture::Entity(c) => Some(c),
            Fixture::StoredShape => Some("ThingShapes"),
            _ => Some("Things"),
        }
    }
}

/// How the request body is made.
#[derive(Clone, Debug)]
enum Payload {
    None,
    Json(Value),
    /// Property values (PUT).
    Values(Value),
    /// The fixture's document as the administrator reads it.
    Document,
    /// The fixture exported by the Exporter, uploaded as the multipart field `file`.
    Upload,
    /// The login form of the user A, with the CSRF cookie and field.
    Login,
    /// A scripted logout.
    Logout,
}

/// What a fixture needs before the calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prepare {
    Nothing,
    /// [`MEMBER`] joins the fixture group.
    GroupMember,
    /// [`MEMBER`] joins the top unit of the fixture organization.
    UnitMember,
    /// The fixture Thing defines the event `Happened`.
    Event,
    /// The fixture DataTable holds the row of key `a`.
    Row,
    /// The fixture template or shape, of this collection, defines the property `p1`, the
    /// service [`DEFINED`] and the event `Happened`.
    Definitions(&'static str),
}

struct Recipe {
    fixture: Fixture,
    payload: Payload,
    prepare: Prepare,
    /// The resource a `$each` check names when it is denied.
    each: &'static str,
}

fn recipe(op: &Op) -> Result<Recipe, String> {
    let first = op.collections.first().map(String::as_str);
    let plain = |fixture: Fixture, body: Value| Recipe {
        fixture,
        payload: Payload::Json(body),
        prepare: Prepare::Nothing,
        each: "*",
    };
    let thing = Fixture::Entity("Things");
    let method = op.method.as_str();
    let path = op.path.as_str();
    // Fixed routes first.
    let fixed = match (method, path) {
        ("GET", "/health" | "/ready" | "/Thingworx/openapi.json")
        | ("GET", "/Thingworx/FormLogin" | "/Thingworx/FormLogin/{org}" | "/Thingworx/Home") => {
            Some(Recipe {
                payload: Payload::None,
                ..plain(Fixture::None, Value::Null)
            })
        }
        ("POST", "/Thingworx/action-login") => Some(Recipe {
            payload: Payload::Login,
            ..plain(Fixture::None, Value::Null)
        }),
        ("POST", "/Thingworx/Logout") => Some(Recipe {
            payload: Payload::Logout,
            ..plain(Fixture::None, Value::Null)
        }),
        ("GET", "/Thingworx/{collection}")
        | ("GET" | "DELETE", "/Thingworx/{collection}/{name}")
        | ("GET", "/Thingworx/Exporter/{collection}/{name}") => Some(Recipe {
            payload: Payload::None,
            ..plain(
                Fixture::Entity(entity_collection(first.unwrap_or("Things"))),
                Value::Null,
            )
        }),
        ("PUT", "/Thingworx/{collection}/{name}") => Some(Recipe {
            payload: Payload::Document,
            ..plain(
                Fixture::Entity(entity_collection(first.unwrap_or("Things"))),
                Value::Null,
            )
        }),
        ("GET", "/Thingworx/Things/{name}/Properties/{property}")
        | ("GET", "/Thingworx/Things/{name}/Properties")
        | (
            "GET",
            "/Thingworx/Things/{name}/Metadata"
            | "/Thingworx/Things/{name}/PropertyDefinitions"
            | "/Thingworx/Things/{name}/ServiceDefinitions"
            | "/Thingworx/Things/{name}/EventDefinitions"
            | "/Thingworx/Things/{name}/PropertyDefinitions/{property}"
            | "/Thingworx/Things/{name}/EventDefinitions/{event}",
        )
        | ("GET", "/Thingworx/Things/{name}/Events/{event}/Subscribe") => Some(Recipe {
            payload: Payload::None,
            ..plain(thing, Value::Null)
        }),
        ("PUT", "/Thingworx/Things/{name}/Properties/{property}") => Some(Recipe {
            payload: Payload::Values(json!({"p1": 5})),
            each: "p1",
            ..plain(thing, Value::Null)
        }),
        ("PUT", "/Thingworx/Things/{name}/Properties") => Some(Recipe {
            payload: Payload::Values(json!({"p1": 6})),
            each: "p1",
            ..plain(thing, Value::Null)
        }),
        ("POST", "/Thingworx/Things/{name}/Events/{event}") => Some(plain(thing, json!({}))),
        ("POST", "/Thingworx/Things/{name}/Services/{service}") => {
            Some(plain(Fixture::Defined, json!({})))
        }
        ("GET", "/Thingworx/Things/{name}/ServiceDefinitions/{service}") => Some(Recipe {
            payload: Payload::None,
            ..plain(Fixture::Defined, Value::Null)
        }),
        (
            "POST",
            "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory"
            | "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistoryWithQueryCriteria"
            | "/Thingworx/Logs/SecurityLog/Services/QueryLogEntries",
        ) => Some(plain(Fixture::None, json!({"maxItems": 5}))),
        ("POST", "/Thingworx/Importer") => Some(Recipe {
            payload: Payload::Upload,
            ..plain(Fixture::Entity("ThingShapes"), Value::Null)
        }),
        _ => None,
    };
    if let Some(recipe) = fixed {
        return Ok(recipe);
    }
    let service = op
        .service()
        .ok_or_else(|| format!("no recipe for {} ({})", op.label(), op.id))?;
    let body = |v: Value| Ok(plain(Fixture::None, v));
    // Services of built-in resources.
    if let Some(rest) = path.strip_prefix("/Thingworx/Resources/") {
        let resource = rest.split('/').next().unwrap_or_default();
        return match (resource, service) {
            ("EntityServices", "CreateApplicationKey") => {
                body(json!({"name": "K$u", "user": "$self"}))
            }
            ("EntityServices", "GetEntityList") => body(json!({"type": "Thing"})),
            ("EntityServices", "DeleteApplicationKey") => Ok(plain(
                Fixture::Entity("ApplicationKeys"),
                json!({"name": "$fixture"}),
            )),
            ("EntityServices", "SetEntityPermission") => Ok(plain(
                Fixture::Entity("Projects"),
                json!({"name": GRANTEES, "type": "Group", "allow": true, "projectName": "$fixture"}),
            )),
            ("EntityServices", s) if s.starts_with("Create") => {
                let mut params = json!({"name": "N$u"});
                match s {
                    "CreateThing" => params["thingTemplateName"] = json!("GenericThing"),
                    "CreateUser" => params["password"] = json!(PASSWORD),
                    _ => {}
                }
                body(params)
            }
            ("EntityServices", s) if s.starts_with("Delete") => {
                let collection = collection_of_element(&s["Delete".len()..])
                    .ok_or_else(|| format!("no collection for {s}"))?;
                Ok(plain(
                    Fixture::Entity(collection),
                    json!({"name": "$fixture"}),
                ))
            }
            ("CollectionFunctions", s) => body(collection_rule_body(s)),
            ("CurrentSessionInfo", "TerminateUserSessions" | "GetUserSessions") => {
                body(json!({"userName": "$self"}))
            }
            ("CurrentSessionInfo", "TerminateUserSession") => {
                body(json!({"userName": "$self", "sessionId": 0}))
            }
            ("CurrentSessionInfo", _) => body(json!({})),
            ("RuntimeLocalizationFunctions", "GetEffectiveToken") => body(json!({"token": "tok"})),
            ("RuntimeLocalizationFunctions", "GetEffectiveTokenForLanguage") => {
                body(json!({"language": "en", "token": "tok"}))
            }
            ("SecurityServices", "ExplainPermission") => Ok(plain(
                thing,
                json!({"user": "$self", "entityType": "Things", "entityName": "$fixture",
                       "permission": "PropertyRead"}),
            )),
            ("SecurityServices", "GetEffectivePermissionChanges") => {
                body(json!({"before": "live", "after": "live", "user": "$self"}))
            }
            ("SourceControlFunctions", "ExportSourceControlledEntities") => {
                body(json!({"path": "out$u"}))
            }
            ("SourceControlFunctions", "ImportSourceControlledEntities") => {
                Ok(plain(Fixture::StoredShape, json!({"path": "$folder"})))
            }
            _ => Err(format!("no recipe for {} ({})", op.label(), op.id)),
        };
    }
    // Services of entities.
    let collection_segment = path
        .strip_prefix("/Thingworx/")
        .and_then(|p| p.split('/').next())
        .unwrap_or_default();
    let collection = if collection_segment == "{collection}" {
        first.map(entity_collection).unwrap_or("Things")
    } else {
        entity_collection(collection_segment)
    };
    let entity = Fixture::Entity(collection);
    let on = |v: Value| Ok(plain(entity, v));
    match (collection, service) {
        (_, s)
            if s.ends_with("Permission") || s.contains("Permissions") || s.starts_with("Check") =>
        {
            on(permission_body(s))
        }
        (_, "QueryAuditHistory") => on(json!({"maxItems": 5})),
        (_, "SetOwner") => on(json!({"name": "Administrator", "type": "User"})),
        ("Groups", "AddMember") => on(json!({"member": MEMBER, "type": "User"})),
        ("Groups", "DeleteMember") => Ok(Recipe {
            prepare: Prepare::GroupMember,
            ..plain(entity, json!({"member": MEMBER, "type": "User"}))
        }),
        ("Groups", "GetGroupMembers") => on(json!({})),
        ("Organizations", "AddOrganizationalUnit") => {
            on(json!({"parentName": "$fixture", "name": "U$u"}))
        }
        ("Organizations", "AddMember") => {
            on(json!({"name": "$fixture", "member": MEMBER, "type": "User"}))
        }
        ("Organizations", "DeleteMember") => Ok(Recipe {
            prepare: Prepare::UnitMember,
            ..plain(
                entity,
                json!({"name": "$fixture", "member": MEMBER, "type": "User"}),
            )
        }),
        ("Organizations", "GetMembers") => on(json!({"name": "$fixture"})),
        ("Organizations", "GetOrganizationConnections") => on(json!({})),
        ("Users", "ChangePassword") => on(json!({"oldPassword": PASSWORD,
            "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD})),
        ("Users", "AssignNewPassword") => {
            on(json!({"newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD}))
        }
        ("Users", "SetLanguagePreferences") => on(json!({"preferences": "de,en"})),
        ("Users", _) => on(json!({})),
        ("ApplicationKeys", "SetUserName") => on(json!({"name": "$self"})),
        ("ApplicationKeys", "SetExpirationDate") => on(json!({"expirationDate": FAR_FUTURE})),
        ("ApplicationKeys", "SetClientName") => on(json!({"name": "matrix"})),
        ("ApplicationKeys", "SetIPWhitelist") => on(json!({"list": ""})),
        ("ApplicationKeys", _) => on(json!({})),
        ("LocalizationTables", "AddOrUpdateToken") => on(json!({"name": "tok", "value": "v"})),
        ("Things", s) => thing_recipe(s),
        ("ThingTemplates" | "ThingShapes", s) => definer_recipe(entity, s),
        _ => Err(format!("no recipe for {} ({})", op.label(), op.id)),
    }
}

/// The modelling services of a ThingTemplate or ThingShape fixture.
fn definer_recipe(entity: Fixture, service: &str) -> Result<Recipe, String> {
    let body = match service {
        "AddPropertyDefinition" => json!({"name": "q$u", "type": "NUMBER"}),
        "AddServiceDefinition" => json!({"name": "S$u"}),
        "AddEventDefinition" => json!({"name": "E$u", "dataShape": SHAPE}),
        "GetPropertyDefinition" | "RemovePropertyDefinition" => json!({"name": "p1"}),
        "RemoveServiceDefinition" => json!({"name": DEFINED}),
        "RemoveEventDefinition" => json!({"name": "Happened"}),
        _ => json!({}),
    };
    let Fixture::Entity(collection) = entity else {
        return Err(format!("no template or shape fixture for {service}"));
    };
    Ok(Recipe {
        fixture: entity,
        payload: Payload::Json(body),
        prepare: Prepare::Definitions(collection),
        each: "*",
    })
}

fn thing_recipe(service: &str) -> Result<Recipe, String> {
    let thing = Fixture::Entity("Things");
    let make = |fixture: Fixture, body: Value, each: &'static str| {
        Ok(Recipe {
            fixture,
            payload: Payload::Json(body),
            prepare: Prepare::Nothing,
            each,
        })
    };
    match service {
        "GetPropertyValues"
        | "GetPropertyDefinitions"
        | "EnableThing"
        | "DisableThing"
        | "RestartThing"
        | "IsEnabled" => make(thing, json!({}), "*"),
        "SetPropertyValues" => make(thing, json!({"values": {"rows": [{"p1": 5}]}}), "p1"),
        "UpdatePropertyValues" => make(
            thing,
            json!({"values": {"rows": [{"name": "p1", "value": 6}]}}),
            "p1",
        ),
        "GetServiceDefinitions" | "GetEventDefinitions" | "GetMetadata" | "GetMetadataAsJSON" => {
            make(thing, json!({}), "*")
        }
        "AddServiceDefinition" => make(thing, json!({"name": "S$u"}), "*"),
        "AddEventDefinition" => make(thing, json!({"name": "E$u", "dataShape": SHAPE}), "*"),
        "RemoveServiceDefinition" => make(Fixture::Defined, json!({"name": DEFINED}), "*"),
        "RemoveEventDefinition" => Ok(Recipe {
            prepare: Prepare::Event,
            ..make(thing, json!({"name": "Happened"}), "*")?
        }),
        "GetPropertyDefinition" | "RemovePropertyDefinition" => {
            make(thing, json!({"name": "p1"}), "*")
        }
        "AddPropertyDefinition" => make(thing, json!({"name": "q$u", "type": "NUMBER"}), "*"),
        "AddStreamEntry" => make(Fixture::Stream, json!({"values": {"v": 1}}), "*"),
        "GetStreamEntriesWithData" | "QueryStreamEntriesWithData" => {
            make(Fixture::Stream, json!({}), "*")
        }
        "PurgeStreamEntries" => make(
            Fixture::Stream,
            json!({"startDate": 0, "endDate": FAR_FUTURE}),
            "*",
        ),
        "AddOrUpdateDataTableEntry" => make(
            Fixture::DataTable,
            json!({"values": {"k": "a", "v": 1}}),
            "*",
        ),
        "AddOrUpdateDataTableEntries" => make(
            Fixture::DataTable,
            json!({"values": {"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]}}),
            "*",
        ),
        "GetDataTableEntries"
        | "QueryDataTableEntries"
        | "GetDataTableEntryCount"
        | "CreateValues"
        | "PurgeDataTableEntries" => make(Fixture::DataTable, json!({}), "*"),
        "AddDataTableEntry" | "AddDataTableEntries" => make(
            Fixture::DataTable,
            json!({"values": {"k": "k$u", "v": 1}}),
            "*",
        ),
        "UpdateDataTableEntry" | "UpdateDataTableEntries" => Ok(Recipe {
            prepare: Prepare::Row,
            ..make(
                Fixture::DataTable,
                json!({"values": {"k": "a", "v": 2}}),
                "*",
            )?
        }),
        "GetDataTableEntry" | "FindDataTableEntries" => {
            make(Fixture::DataTable, json!({"values": {"k": "a"}}), "*")
        }
        "GetDataTableEntryByKey" | "DeleteDataTableEntryByKey" => {
            make(Fixture::DataTable, json!({"key": "a"}), "*")
        }
        "DeleteDataTableEntry" | "DeleteDataTableEntries" => {
            make(Fixture::DataTable, json!({"values": {"k": "a"}}), "*")
        }
        other => Err(format!("no recipe for the Thing service {other}")),
    }
}

/// The collection fixtures are made in for `collection` (the generic routes use a Thing).
fn entity_collection(collection: &str) -> &'static str {
    match collection {
        "ThingTemplates" => "ThingTemplates",
        "ThingShapes" => "ThingShapes",
        "DataShapes" => "DataShapes",
        "Users" => "Users",
        "Groups" => "Groups",
        "Organizations" => "Organizations",
        "ApplicationKeys" => "ApplicationKeys",
        "Projects" => "Projects",
        "LocalizationTables" => "LocalizationTables",
        _ => "Things",
    }
}

fn collection_of_element(element: &str) -> Option<&'static str> {
    Some(match element {
        "Thing" => "Things",
        "ThingTemplate" => "ThingTemplates",
        "ThingShape" => "ThingShapes",
        "DataShape" => "DataShapes",
        "User" => "Users",
        "Group" => "Groups",
        "Organization" => "Organizations",
        "Project" => "Projects",
        "LocalizationTable" => "LocalizationTables",
        "ApplicationKey" => "ApplicationKeys",
        _ => return None,
    })
}

/// The body of a rule or set service (`Instance…` take the same).
fn permission_body(service: &str) -> Value {
    let s = service.replace("Instance", "");
    let group = |extra: Value| {
        let mut body = json!({"principal": GRANTEES, "principalType": "Group"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    match s.as_str() {
        "AddRunTimePermission" => {
            group(json!({"resource": "*", "type": "PropertyRead", "allow": true}))
        }
        "DeleteRunTimePermission" => group(json!({"resource": "*", "type": "PropertyRead"})),
        "AddDesignTimePermission" => group(json!({"type": "Read", "allow": true})),
        "DeleteDesignTimePermission" => group(json!({"type": "Read"})),
        "AddVisibilityPermission" | "DeleteVisibilityPermission" => {
            json!({"principal": ORG, "principalType": "Organization"})
        }
        "SetRunTimePermissionsAsJSON" => json!({"permissions": {"permissions": [
            {"resourceName": "*", "PropertyRead": [
                {"isPermitted": true, "name": GRANTEES, "type": "Group"}]}]}}),
        "SetDesignTimePermissionsAsJSON" => json!({"permissions": {"Read": [
            {"isPermitted": true, "name": GRANTEES, "type": "Group"}]}}),
        "SetVisibilityPermissionsAsJSON" => json!({"permissions": {"Visibility": [
            {"isPermitted": true, "name": ORG, "type": "Organization"}]}}),
        "CheckPermission" => json!({"name": "*", "type": "PropertyRead"}),
        "CheckPermissionForUser" => json!({"name": "*", "type": "PropertyRead", "user": "$self"}),
        "CheckDesignTimePermission" => json!({"type": "Read"}),
        "CheckDesignTimePermissionForUser" => json!({"type": "Read", "user": "$self"}),
        "GetPermissionsForCurrentUser" => json!({"name": "*", "permissionName": "PropertyRead"}),
        "GetPermissionsForUser" => {
            json!({"name": "*", "user": "$self", "permissionName": "PropertyRead"})
        }
        "CheckPermissionForGroup" => {
            json!({"name": "*", "type": "PropertyRead", "group": GRANTEES})
        }
        "CheckDesignTimePermissionForGroup" => json!({"type": "Read", "group": GRANTEES}),
        "GetPermissionsForGroup" => {
            json!({"name": "*", "group": GRANTEES, "permissionName": "PropertyRead"})
        }
        _ => json!({}),
    }
}

/// The body of a `Resources/CollectionFunctions` service, on the collection `Mashups`.
fn collection_rule_body(service: &str) -> Value {
    let mut body = permission_body(&service.replace("Collection", ""));
    body["collectionName"] = json!("Mashups");
    body
}

// --- the run ---------------------------------------------------------------------------------

/// What was exercised, by kind of check.
#[derive(Default)]
struct Tally {
    operations: usize,
    calls: BTreeMap<&'static str, usize>,
}

struct Matrix<'a> {
    server: &'a TestServer,
    /// A client that does not follow redirects, so that a 303 is seen as such.
    client: reqwest::Client,
    db: &'a DatabaseConnection,
    counter: usize,
    failures: Vec<String>,
    tally: Tally,
}

/// The users of one operation.
struct Cast {
    a: Caller,
    /// One per check: lacking exactly that check.
    b: Vec<Caller>,
    /// A plain user holding everything on the entity (security-administrator routes).
    everything: Option<Caller>,
    /// A security administrator holding what A holds.
    admin: Option<Caller>,
    /// A security administrator holding nothing (the bypass).
    bare_admin: Option<Caller>,
    /// A plain user holding nothing.
    plain: Option<Caller>,
    /// A security administrator that may read the fixture (to export it).
    reader: Option<Caller>,
}

impl Matrix<'_> {
    fn unique(&mut self) -> String {
        self.counter += 1;
        format!("{}", self.counter)
    }

    fn fail(&mut self, op: &Op, message: String) {
        self.failures.push(format!("{}: {message}", op.label()));
    }

    fn count(&mut self, what: &'static str) {
        *self.tally.calls.entry(what).or_default() += 1;
    }

    async fn run(&mut self, op: &Op, n: usize) {
        self.tally.operations += 1;
        let recipe = match recipe(op) {
            Ok(recipe) => recipe,
            Err(why) => return self.fail(op, why),
        };
        let checks = needs_of(op);
        let access = op.need["access"].as_str().unwrap_or_default().to_owned();
        let subject = op.need["subjectParameter"].as_str().map(str::to_owned);
        let self_service = op.need["selfService"] == json!(true);
        let bypass = checks.iter().any(|c| c.permission != "Visibility")
            && checks
                .iter()
                .all(|c| c.permission == "Visibility" || c.bypass);

        let fixture = format!("F{n}");
        self.make_fixture(recipe.fixture, &fixture, n).await;
        self.prepare(recipe.prepare, &fixture).await;

        // The users.
        let plain_membership = Membership::PLAIN;
        let admin_membership = Membership {
            users: true,
            security_administrator: true,
        };
        let mut wanted = vec![(format!("M{n}a"), plain_membership)];
        for (i, c) in checks.iter().enumerate() {
            let membership = Membership {
                users: c.permission != "Visibility",
                security_administrator: false,
            };
            wanted.push((format!("M{n}b{i}"), membership));
        }
        // Auditor routes refuse a plain user and accept a security administrator alike.
        let sa_route = access.starts_with("securityAdministrator");
        let names = |suffix: &str| format!("M{n}{suffix}");
        if sa_route {
            wanted.push((names("x"), plain_membership));
        }
        if sa_route || subject.is_some() {
            wanted.push((names("s"), admin_membership));
        }
        if bypass {
            wanted.push((names("t"), admin_membership));
        }
        let wants_plain = subject.is_some() || self_service || access == "authenticated";
        if wants_plain {
            wanted.push((names("u"), plain_membership));
        }
        if recipe.fixture == Fixture::StoredShape {
            // Writing into the repository is a security administrator's.
            wanted.push((names("r"), admin_membership));
        }
        let callers = seed_principals(self.db, &wanted, PASSWORD).await;
        let find = |suffix: &str| callers.iter().find(|c| c.name() == names(suffix)).cloned();
        let cast = Cast {
            a: callers[0].clone(),
            b: callers[1..=checks.len()].to_vec(),
            everything: find("x"),
            admin: find("s"),
            bare_admin: find("t"),
            plain: find("u"),
            reader: find("r"),
        };

        // The folder is exported before the grants, while the shape has no rules of its own: a
        // permissions file listing entity rules makes the import need a security administrator
        // (see the catalog).
        let folder = if recipe.fixture == Fixture::StoredShape {
            self.export_folder(&cast, n).await
        } else {
            String::new()
        };
        self.grant(op, &recipe, &checks, &cast, &fixture).await;
        let body = self.body(op, &recipe, &fixture, &folder).await;

        if access == "public" {
            self.count("public");
            let reply = self
                .call(
                    op,
                    &recipe,
                    &fixture,
                    &body,
                    &Caller::Anonymous,
                    &cast.a,
                    None,
                )
                .await;
            self.expect_success(op, "no credentials", &reply);
            return;
        }
        let anonymous = self
            .call(
                op,
                &recipe,
                &fixture,
                &body,
                &Caller::Anonymous,
                &cast.a,
                None,
            )
            .await;
        self.count("401 without credentials");
        if anonymous.status != StatusCode::UNAUTHORIZED {
            self.fail(
                op,
                format!(
                    "no credentials: expected 401, got {} {}",
                    anonymous.status, anonymous.text
                ),
            );
        }
        for (c, b) in checks.iter().zip(&cast.b) {
            let reply = self.call(op, &recipe, &fixture, &body, b, b, None).await;
            self.expect_denied(op, &recipe, &fixture, c, b, &reply);
        }
        if let Some(everything) = &cast.everything {
            self.count("security administrator: plain user refused");
            let reply = self
                .call(op, &recipe, &fixture, &body, everything, everything, None)
                .await;
            if reply.status != StatusCode::FORBIDDEN {
                self.fail(
                    op,
                    format!(
                        "{} holds every permission but is no security administrator: expected \
                         403, got {} {}",
                        everything.name(),
                        reply.status,
                        reply.text
                    ),
                );
            }
        }
        if let (Some(param), Some(other)) = (&subject, &cast.plain) {
            if !sa_route {
                self.count("subject: another user refused");
                let reply = self
                    .call(
                        op,
                        &recipe,
                        &fixture,
                        &body,
                        &cast.a,
                        &cast.a,
                        Some((param, other.name())),
                    )
                    .await;
                if reply.status != StatusCode::FORBIDDEN {
                    self.fail(
                        op,
                        format!(
                            "{} naming {} in {param}: expected 403, got {} {}",
                            cast.a.name(),
                            other.name(),
                            reply.status,
                            reply.text
                        ),
                    );
                }
            }
            if let Some(admin) = &cast.admin {
                self.count("subject: security administrator allowed");
                let reply = self
                    .call(
                        op,
                        &recipe,
                        &fixture,
                        &body,
                        admin,
                        admin,
                        Some((param, other.name())),
                    )
                    .await;
                self.expect_success(op, &format!("{} naming another user", admin.name()), &reply);
            }
        }
        if let Some(bare) = &cast.bare_admin {
            // On a fixture of its own: the call succeeds, and may change or delete it.
            self.count("security administrator bypass");
            let second = format!("G{n}");
            self.make_fixture(recipe.fixture, &second, n).await;
            self.prepare(recipe.prepare, &second).await;
            let body = self.body(op, &recipe, &second, &folder).await;
            let reply = self
                .call(op, &recipe, &second, &body, bare, bare, None)
                .await;
            self.expect_success(
                op,
                &format!("{} (security administrator)", bare.name()),
                &reply,
            );
        }
        if self_service && let Some(plain) = &cast.plain {
            self.count("self-service on one's own user");
            let own = plain.name().to_owned();
            let reply = self
                .call(op, &recipe, &own, &body, plain, plain, None)
                .await;
            self.expect_success(op, &format!("{own} on its own User"), &reply);
        }
        if sa_route {
            if let Some(admin) = &cast.admin {
                self.count("security administrator allowed");
                let reply = self
                    .call(op, &recipe, &fixture, &body, admin, admin, None)
                    .await;
                self.expect_success(
                    op,
                    &format!("{} (security administrator)", admin.name()),
                    &reply,
                );
            }
            return;
        }
        if checks.is_empty() {
            if let Some(plain) = &cast.plain {
                self.count("authenticated: plain user allowed");
                let reply = self
                    .call(op, &recipe, &fixture, &body, plain, plain, None)
                    .await;
                self.expect_success(op, &format!("{} (holding nothing)", plain.name()), &reply);
            }
            return;
        }
        self.count("holding exactly the permissions: allowed");
        let reply = self
            .call(op, &recipe, &fixture, &body, &cast.a, &cast.a, None)
            .await;
        self.expect_success(
            op,
            &format!("{} (holding exactly its permissions)", cast.a.name()),
            &reply,
        );
    }

    fn expect_success(&mut self, op: &Op, who: &str, reply: &Reply) {
        if reply.status.as_u16() != op.success {
            self.fail(
                op,
                format!(
                    "{who}: expected {}, got {} {}",
                    op.success, reply.status, reply.text
                ),
            );
        }
    }

    fn expect_denied(
        &mut self,
        op: &Op,
        recipe: &Recipe,
        fixture: &str,
        check: &Need,
        who: &Caller,
        reply: &Reply,
    ) {
        if check.permission == "Visibility" {
            self.count("lacking Visibility: 404");
            if reply.status != StatusCode::NOT_FOUND {
                self.fail(
                    op,
                    format!(
                        "{} cannot see the entity: expected 404, got {} {}",
                        who.name(),
                        reply.status,
                        reply.text
                    ),
                );
            }
            return;
        }
        self.count("lacking one permission: 403 naming it");
        let resource = match check.resource.as_str() {
            "$service" => op.service().unwrap_or_default().to_owned(),
            "$path.property" => "p1".to_owned(),
            "$path.event" => "ThingStart".to_owned(),
            "$path.service" => DEFINED.to_owned(),
            "$each" => recipe.each.to_owned(),
            other => other.to_owned(),
        };
        let entity = if check.on_entity() {
            fixture.to_owned()
        } else if op.path == "/Thingworx/Importer" {
            // A caller who may create in no collection is refused before the upload is read,
            // so before the file's collections are known.
            "any collection".to_owned()
        } else {
            check
                .collection
                .clone()
                .unwrap_or_else(|| "ThingShapes".to_owned())
        };
        let expected = format!(
            "Not authorized for {} on {resource} in {entity}",
            check.permission
        );
        if reply.status != StatusCode::FORBIDDEN || !reply.text.contains(&expected) {
            self.fail(
                op,
                format!(
                    "{} lacks {} ({}): expected 403 `{expected}`, got {} {}",
                    who.name(),
                    check.permission,
                    check.category,
                    reply.status,
                    reply.text
                ),
            );
        }
    }

    /// Grants A (and the security administrator of a subject) exactly the checks, and each Bi
    /// everything but its check.
    async fn grant(
        &mut self,
        op: &Op,
        recipe: &Recipe,
        checks: &[Need],
        cast: &Cast,
        fixture: &str,
    ) {
        let mut run_time: Vec<(String, String, String)> = Vec::new();
        let mut design_time: Vec<(String, String)> = Vec::new();
        let mut collection_rules: Vec<(String, String, String)> = Vec::new();
        let resource_of = |c: &Need| match c.resource.as_str() {
            "$service" => op.service().unwrap_or_default().to_owned(),
            "$path.property" => "p1".to_owned(),
            "$path.event" => "ThingStart".to_owned(),
            "$path.service" => DEFINED.to_owned(),
            _ => "*".to_owned(),
        };
        let collection_of = |c: &Need| {
            c.collection
                .clone()
                .unwrap_or_else(|| "ThingShapes".to_owned())
        };
        let holders: Vec<&Caller> = std::iter::once(&cast.a).chain(cast.admin.iter()).collect();
        for holder in holders {
            for c in checks.iter().filter(|c| c.permission != "Visibility") {
                let who = holder.name().to_owned();
                if c.on_entity() {
                    if c.category == "RunTime" {
                        run_time.push((who, c.permission.clone(), resource_of(c)));
                    } else {
                        design_time.push((who, c.permission.clone()));
                    }
                } else {
                    collection_rules.push((who, collection_of(c), c.permission.clone()));
                }
            }
        }
        let collections: Vec<String> = {
            let mut list: Vec<String> = checks
                .iter()
                .filter(|c| !c.on_entity() && c.permission != "Visibility")
                .map(collection_of)
                .collect();
            list.dedup();
            list
        };
        let mut everyone: Vec<(&Caller, Option<&Need>)> = cast
            .b
            .iter()
            .zip(checks)
            .map(|(b, c)| (b, Some(c)))
            .collect();
        if let Some(everything) = &cast.everything {
            everyone.push((everything, None));
        }
        for (who, lacking) in everyone {
            let name = who.name().to_owned();
            // Lacking a permission means lacking it everywhere: a collection rule would grant
            // it on the entity too.
            let lacks = |kind: &str| lacking.is_some_and(|c| c.permission == kind);
            if recipe.fixture != Fixture::None {
                for kind in RUN_TIME {
                    if !lacks(kind) {
                        run_time.push((name.clone(), kind.to_owned(), "*".to_owned()));
                    }
                }
                for kind in DESIGN_TIME {
                    if !lacks(kind) {
                        design_time.push((name.clone(), kind.to_owned()));
                    }
                }
            }
            let mut on_collections = collections.clone();
            if lacking.is_none() && recipe.fixture == Fixture::None {
                on_collections.push("Mashups".to_owned());
            }
            for collection in &on_collections {
                for kind in RUN_TIME.iter().chain(DESIGN_TIME.iter()) {
                    if !lacks(kind) {
                        collection_rules.push((
                            name.clone(),
                            collection.clone(),
                            (*kind).to_owned(),
                        ));
                    }
                }
            }
        }
        if let Some(collection) = recipe.fixture.collection() {
            self.set_rules(collection, fixture, &run_time, &design_time)
                .await;
        }
        for (who, collection, kind) in collection_rules {
            let run = RUN_TIME.contains(&kind.as_str());
            let service = if run {
                "AddCollectionRunTimePermission"
            } else {
                "AddCollectionDesignTimePermission"
            };
            let mut body = json!({"principal": who, "principalType": "User", "type": kind,
                                  "allow": true, "collectionName": collection});
            if run {
                body["resource"] = json!("*");
            }
            admin_call(
                self.server,
                &format!("/Thingworx/Resources/CollectionFunctions/Services/{service}"),
                &body,
            )
            .await;
        }
    }

    /// Writes the run-time and design-time rules of the fixture (replacing none it had).
    async fn set_rules(
        &mut self,
        collection: &str,
        fixture: &str,
        run_time: &[(String, String, String)],
        design_time: &[(String, String)],
    ) {
        let mut blocks: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        for (who, kind, resource) in run_time {
            let block = blocks.entry(resource.clone()).or_default();
            block.insert("resourceName".into(), json!(resource));
            block
                .entry(kind.clone())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("list")
                .push(json!({"isPermitted": true, "name": who, "type": "User"}));
        }
        let base = format!("/Thingworx/{collection}/{fixture}/Services");
        if !blocks.is_empty() {
            let permissions: Vec<Value> = blocks.into_values().map(Value::Object).collect();
            admin_call(
                self.server,
                &format!("{base}/SetRunTimePermissionsAsJSON"),
                &json!({"permissions": {"permissions": permissions}}),
            )
            .await;
        }
        if !design_time.is_empty() {
            let mut doc = serde_json::Map::new();
            for (who, kind) in design_time {
                doc.entry(kind.clone())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("list")
                    .push(json!({"isPermitted": true, "name": who, "type": "User"}));
            }
            admin_call(
                self.server,
                &format!("{base}/SetDesignTimePermissionsAsJSON"),
                &json!({"permissions": doc}),
            )
            .await;
        }
    }

    async fn make_fixture(&mut self, fixture: Fixture, name: &str, n: usize) {
        let server = self.server;
        match fixture {
            Fixture::None => {}
            Fixture::Entity("Things") | Fixture::Defined => {
                entity_services(
                    server,
                    "CreateThing",
                    &json!({"name": name, "thingTemplateName": "GenericThing"}),
                )
                .await;
                admin_call(
                    server,
                    &format!("/Thingworx/Things/{name}/Services/AddPropertyDefinition"),
                    &json!({"name": "p1", "type": "NUMBER"}),
                )
                .await;
                if fixture == Fixture::Defined {
                    define_service(self.db, name).await;
                }
            }
            Fixture::Entity("Users") => {
                entity_services(
                    server,
                    "CreateUser",
                    &json!({"name": name, "password": PASSWORD}),
                )
                .await;
            }
            Fixture::Entity("ApplicationKeys") => {
                entity_services(
                    server,
                    "CreateApplicationKey",
                    &json!({"name": name, "user": MEMBER}),
                )
                .await;
            }
            Fixture::Entity(collection) => {
                let element = collection.strip_suffix('s').unwrap_or(collection);
                entity_services(server, &format!("Create{element}"), &json!({"name": name})).await;
            }
            Fixture::Stream | Fixture::DataTable => {
                let template = if fixture == Fixture::Stream {
                    "Stream"
                } else {
                    "DataTable"
                };
                models::create_thing(
                    self.db,
                    name,
                    &EntityFields {
                        aspects: Some(json!({"dataShape": SHAPE})),
                        ..EntityFields::default()
                    },
                    &ThingFields {
                        thing_template: template.into(),
                        ..ThingFields::default()
                    },
                )
                .await
                .expect("data thing");
                bump(self.db, "MatrixFixture").await;
            }
            Fixture::StoredShape => {
                let project = format!("P{n}{name}");
                entity_services(server, "CreateProject", &json!({"name": project})).await;
                entity_services(
                    server,
                    "CreateThingShape",
                    &json!({"name": name, "projectName": project}),
                )
                .await;
            }
        }
    }

    async fn prepare(&mut self, prepare: Prepare, fixture: &str) {
        match prepare {
            Prepare::Nothing => {}
            Prepare::GroupMember => {
                admin_call(
                    self.server,
                    &format!("/Thingworx/Groups/{fixture}/Services/AddMember"),
                    &json!({"member": MEMBER, "type": "User"}),
                )
                .await;
            }
            Prepare::Row => {
                admin_call(
                    self.server,
                    &format!("/Thingworx/Things/{fixture}/Services/AddOrUpdateDataTableEntry"),
                    &json!({"values": {"k": "a", "v": 1}}),
                )
                .await;
            }
            Prepare::Event => {
                admin_call(
                    self.server,
                    &format!("/Thingworx/Things/{fixture}/Services/AddEventDefinition"),
                    &json!({"name": "Happened", "dataShape": SHAPE}),
                )
                .await;
            }
            Prepare::Definitions(collection) => {
                let base = format!("/Thingworx/{collection}/{fixture}/Services");
                for (service, body) in [
                    (
                        "AddPropertyDefinition",
                        json!({"name": "p1", "type": "NUMBER"}),
                    ),
                    ("AddServiceDefinition", json!({"name": DEFINED})),
                    (
                        "AddEventDefinition",
                        json!({"name": "Happened", "dataShape": SHAPE}),
                    ),
                ] {
                    admin_call(self.server, &format!("{base}/{service}"), &body).await;
                }
            }
            Prepare::UnitMember => {
                admin_call(
                    self.server,
                    &format!("/Thingworx/Organizations/{fixture}/Services/AddMember"),
                    &json!({"name": fixture, "member": MEMBER, "type": "User"}),
                )
                .await;
            }
        }
    }

    /// The reader exports the stored shape's project into the storage folder `m<n>`.
    async fn export_folder(&mut self, cast: &Cast, n: usize) -> String {
        let folder = format!("m{n}");
        let reader = cast.reader.as_ref().expect("a reader");
        admin_call(
            self.server,
            "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission",
            &json!({"principal": reader.name(), "principalType": "User", "type": "Read",
                    "allow": true, "collectionName": "ThingShapes"}),
        )
        .await;
        let reply = send(
            self.server,
            reader,
            Method::POST,
            "/Thingworx/Resources/SourceControlFunctions/Services/ExportSourceControlledEntities",
            Some(&json!({"path": folder, "projectName": format!("P{n}F{n}")})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "export: {}", reply.text);
        assert_eq!(reply.json["entities"], 1, "export: {}", reply.text);
        // A security administrator's export carries the collection rules, whose import needs
        // a security administrator too; the imports under test are of the entities alone.
        let rules = self
            .server
            .data_dir()
            .join("ThingworxStorage/repository/SystemRepository")
            .join(&folder)
            .join("permissions/permissions.xml");
        if rules.exists() {
            std::fs::remove_file(&rules).expect("remove the collection rules");
        }
        folder
    }

    /// The body of the calls, placeholders left in.
    async fn body(&mut self, op: &Op, recipe: &Recipe, fixture: &str, folder: &str) -> Body {
        match &recipe.payload {
            Payload::None => Body::None,
            Payload::Json(v) => Body::Json(replace(v, "$folder", folder)),
            Payload::Values(v) => Body::Json(v.clone()),
            Payload::Document => {
                let collection = recipe.fixture.collection().unwrap_or("Things");
                let reply = send(
                    self.server,
                    &Caller::admin(),
                    Method::GET,
                    &format!("/Thingworx/{collection}/{fixture}"),
                    None,
                )
                .await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "{}: {}",
                    op.label(),
                    reply.text
                );
                Body::Json(reply.json)
            }
            Payload::Upload => {
                let res = request(
                    self.server,
                    &Caller::admin(),
                    Method::GET,
                    &format!("/Thingworx/Exporter/ThingShapes/{fixture}"),
                )
                .send()
                .await
                .expect("export");
                assert_eq!(res.status(), StatusCode::OK, "{}", op.label());
                Body::Upload(res.bytes().await.expect("bytes").to_vec())
            }
            Payload::Login => Body::Login,
            Payload::Logout => Body::Logout,
        }
    }

    /// Calls `op` on `fixture` as `caller`; `$self` is `me`, and `subject` overrides one
    /// parameter.
    #[allow(
        clippy::too_many_arguments,
        reason = "the caller, whom `$self` names and the subject override differ per call"
    )]
    async fn call(
        &mut self,
        op: &Op,
        recipe: &Recipe,
        fixture: &str,
        body: &Body,
        caller: &Caller,
        me: &Caller,
        subject: Option<(&str, &str)>,
    ) -> Reply {
        let unique = self.unique();
        let collection = recipe.fixture.collection().unwrap_or("Things");
        let path = op
            .path
            .replace("{collection}", collection)
            .replace("{name}", fixture)
            .replace("{property}", "p1")
            .replace("{event}", "ThingStart")
            .replace("{service}", DEFINED)
            .replace("{org}", "Everyone");
        let mut builder = caller.authorize(
            self.client
                .request(op.method.clone(), self.server.url(&path)),
        );
        match body {
            Body::None => {}
            Body::Json(v) => {
                let mut v = replace(
                    &replace(&replace(v, "$self", me.name()), "$fixture", fixture),
                    "$u",
                    &unique,
                );
                if let Some((param, value)) = subject {
                    v[param] = json!(value);
                }
                builder = builder.json(&v);
            }
            Body::Upload(bytes) => {
                builder = builder
                    .header("X-XSRF-TOKEN", "TWX-XSRF-TOKEN-VALUE")
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(multipart(bytes));
            }
            Body::Login => {
                let form: Vec<String> = [
                    ("thingworx-form-userid", me.name()),
                    ("thingworx-form-password", PASSWORD),
                    ("OrganizationName", "Everyone"),
                    ("x-csrf-id", CSRF),
                ]
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect();
                builder = builder
                    .header("Cookie", format!("CSRFID={CSRF}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form.join("&"));
            }
            Body::Logout => builder = builder.header("X-Requested-With", "XMLHttpRequest"),
        }
        let res = builder.send().await.expect("send");
        if res
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("text/event-stream")))
        {
            // A subscription never ends: its status is the answer.
            return Reply {
                status: res.status(),
                text: String::new(),
                json: Value::Null,
            };
        }
        Reply::of(res).await
    }
}

/// A request body, ready but for its placeholders.
enum Body {
    None,
    Json(Value),
    Upload(Vec<u8>),
    Login,
    Logout,
}

fn multipart(bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"entity.xml\"\r\nContent-Type: application/xml\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `text` encoded for an urlencoded form.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `value` with `from` replaced by `to` in every string.
fn replace(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(items) => Value::Array(items.iter().map(|v| replace(v, from, to)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn define_service(db: &DatabaseConnection, thing: &str) {
    let (entity, _) = models::get_thing(db, thing).await.expect("thing");
    parts::service_definitions::insert(
        db,
        vec![service_definitions::Model {
            id: 0,
            entity_id: entity.id,
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
}

/// The collection rules the bootstrap wrote are the ones this test builds on: design time for
/// `Administrators` and visibility for `Everyone`, nothing for anyone else.
async fn check_defaults(server: &TestServer, collections: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for collection in collections {
        for category in ["RunTime", "DesignTime", "Visibility"] {
            let reply = admin_call(
                server,
                &format!(
                    "/Thingworx/Resources/CollectionFunctions/Services/GetCollection{category}Permissions"
                ),
                &json!({"collectionName": collection}),
            )
            .await;
            for row in reply.json["rows"].as_array().into_iter().flatten() {
                let expected = match category {
                    "DesignTime" => row["name"] == "Administrators" && row["type"] == "Group",
                    "Visibility" => row["name"] == "Everyone" && row["type"] == "Organization",
                    _ => false,
                };
                if !expected {
                    problems.push(format!(
                        "the bootstrap grants {category} on {collection}: {row}"
                    ));
                }
            }
        }
    }
    problems
}

/// The shared fixtures: the group and organization rules are written for, the member, the
/// data shape of the data Things.
async fn shared_fixtures(server: &TestServer, db: &DatabaseConnection) {
    entity_services(server, "CreateGroup", &json!({"name": GRANTEES})).await;
    entity_services(server, "CreateOrganization", &json!({"name": ORG})).await;
    entity_services(
        server,
        "CreateUser",
        &json!({"name": MEMBER, "password": PASSWORD}),
    )
    .await;
    let shape = models::create_data_shape(db, SHAPE, &EntityFields::default(), "")
        .await
        .expect("data shape");
    parts::field_definitions::insert(
        db,
        ["k", "v"]
            .iter()
            .zip(0..)
            .map(|(name, ordinal)| field_definitions::Model {
                id: 0,
                entity_id: shape.id,
                name: (*name).to_owned(),
                base_type: if *name == "k" { "STRING" } else { "NUMBER" }.to_owned(),
                description: String::new(),
                ordinal,
                aspects: (*name == "k").then(|| json!({"isPrimaryKey": true})),
            })
            .collect(),
    )
    .await
    .expect("fields");
    bump(db, "MatrixShape").await;
}

#[tokio::test]
async fn every_route_needs_exactly_its_permission() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;

        let doc = send(
            &server,
            &Caller::Anonymous,
            Method::GET,
            "/Thingworx/openapi.json",
            None,
        )
        .await;
        assert_eq!(doc.status, StatusCode::OK, "{}", doc.text);
        let ops = operations(&doc.json);
        assert!(ops.len() > 100, "only {} operations", ops.len());
        let collections = ops
            .iter()
            .find(|op| op.path == "/Thingworx/{collection}")
            .map(|op| op.collections.clone())
            .expect("the collection list route");
        let defaults = check_defaults(&server, &collections).await;
        assert!(defaults.is_empty(), "{}", defaults.join("\n"));
        shared_fixtures(&server, &conn).await;

        let mut matrix = Matrix {
            server: &server,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            db: &conn,
            counter: 0,
            failures: Vec::new(),
            tally: Tally::default(),
        };
        for (n, op) in ops.iter().enumerate() {
            matrix.run(op, n).await;
        }
        eprintln!(
            "{backend}: {} operations; calls by kind: {:?}",
            matrix.tally.operations, matrix.tally.calls
        );
        assert_eq!(matrix.tally.operations, ops.len());
        assert!(
            matrix.failures.is_empty(),
            "{backend}: {} failures:\n{}",
            matrix.failures.len(),
            matrix.failures.join("\n")
        );
        drop(matrix);
        conn.close().await.ok();
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
