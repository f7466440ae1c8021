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
                p.base_type.is_property_type(),
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
    let places = &*crate::http::dispatch::PLACES;
    for op in operations().filter(|op| op.run != Run::Route) {
        let (head, service) = op.path.rsplit_once("/Services/").expect("service path");
        let fixed = head
            .strip_prefix("/Thingworx/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(c, n)| matches!(*c, "Subsystems" | "Logs") && *n != "{name}");
        let found = match (head.strip_prefix("/Thingworx/Resources/"), fixed) {
            (Some(resource), _) => vec![places.resource(resource, service)],
            (None, Some((collection, name))) => vec![places.fixed(collection, name, service)],
            (None, None) => {
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
    use crate::domain::rules::RuleScope as Scope;
    use crate::http::permissions::RuleService;
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
    let hash = crate::auth::hashing::hash_password(PASSWORD).expect("hash");
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
    organizations::create_organization(db, FIXTURE, &fields, &organizations::LoginPage::default())
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
            ..Default::default()
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
    let mut names: BTreeSet<String> = THINGWORX_SERVICES.iter().map(|s| s.to_string()).collect();
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
fn listed(prefix: &str, fixture: &str, collection: Option<Collection>) -> BTreeSet<&'static str> {
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
                            && ironworx_entity::vocab::builtin::RESOURCES
                                .iter()
                                .any(|r| prefix == format!("/Thingworx/Resources/{r}/Services/")))
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
                http_test::call_service(&app, request(op.method, &path, body).to_request()).await;
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
                http_test::call_service(&app, request(op.method, &path, "{}").to_request()).await;
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
