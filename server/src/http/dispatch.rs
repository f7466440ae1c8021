//! `POST /Thingworx/Resources/<Resource>/Services/<Service>` and
//! `POST /Thingworx/<Collection>/<Name>/Services/<Service>`: the service dispatcher. Its table
//! is the catalog (`http::catalog::operations`): a call runs the handler family ([`Run`]) of
//! the operation the catalog lists for that resource or collection and service name, and a
//! service the catalog does not list there answers 404 without calling anything (naming the
//! service when the caller may see the entity). A built-in resource is also an entity of
//! `Resources`: a service its dispatcher does not list runs as an entity service of it.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, post, web};
use ironworx_entity::vocab::Collection;
use serde_json::Value;

use crate::authz::EntityIdx;
use crate::domain::data;
use crate::error::ApiError;
use crate::http::catalog::{Method, Operation, Run, operations};
use crate::http::guard::Guard;
use crate::http::params::Params;
use crate::http::{
    app_keys, audit, definers, diff, entities, explain, import_export, localization, membership,
    permission_sets, permissions, things, users,
};
use crate::state::AppState;

/// The last path segment of an operation that stands for any service name (the services a
/// Thing defines).
const ANY_SERVICE: &str = "{service}";

/// The collections whose places the server may answer itself: subsystems and logs.
const FIXED_SUBSYSTEMS: &str = "Subsystems";
/// See [`FIXED_SUBSYSTEMS`].
const FIXED_LOGS: &str = "Logs";

/// The dispatched operations of the catalog by place and service name.
pub struct Places {
    /// `Resources/<resource>` → service name → operation.
    resources: HashMap<&'static str, HashMap<&'static str, &'static Operation>>,
    /// `Subsystems/<subsystem>` and `Logs/<log>` → service name → operation (the subsystems
    /// and logs the server answers itself, which are no entities), by collection then name.
    fixed: HashMap<&'static str, HashMap<&'static str, HashMap<&'static str, &'static Operation>>>,
    /// Collection → service name (or [`ANY_SERVICE`]) → operation.
    entities: HashMap<Collection, HashMap<&'static str, &'static Operation>>,
}

/// The catalog's POST services, indexed once.
pub static PLACES: LazyLock<Places> = LazyLock::new(|| Places::of(operations()));

impl Places {
    /// Indexes every POST operation that does not run as its own route, on its collections and
    /// those it is refused in. Panics on an operation whose path is not a service path, or on
    /// two operations for one place and name.
    pub fn of(operations: impl IntoIterator<Item = &'static Operation>) -> Places {
        let mut places = Places {
            resources: HashMap::new(),
            fixed: HashMap::new(),
            entities: HashMap::new(),
        };
        for op in operations
            .into_iter()
            .filter(|op| op.method == Method::Post && op.run != Run::Route)
        {
            let (head, service) = op
                .path
                .strip_prefix("/Thingworx/")
                .and_then(|rest| rest.rsplit_once("/Services/"))
                .unwrap_or_else(|| panic!("{}: not a service path", op.path));
            let duplicate = match head.split_once('/') {
                Some(("Resources", resource)) => places
                    .resources
                    .entry(resource)
                    .or_default()
                    .insert(service, op)
                    .is_some(),
                Some((fixed @ (FIXED_SUBSYSTEMS | FIXED_LOGS), name)) if name != "{name}" => places
                    .fixed
                    .entry(fixed)
                    .or_default()
                    .entry(name)
                    .or_default()
                    .insert(service, op)
                    .is_some(),
                Some(("{collection}", "{name}")) => {
                    let refused = op.refused_in.iter().filter(|c| !op.collections.contains(c));
                    op.collections.iter().chain(refused).any(|collection| {
                        places
                            .entities
                            .entry(*collection)
                            .or_default()
                            .insert(service, op)
                            .is_some()
                    })
                }
                Some((collection, "{name}")) => {
                    let collection: Collection = collection
                        .parse()
                        .unwrap_or_else(|_| panic!("{}: unknown collection", op.path));
                    places
                        .entities
                        .entry(collection)
                        .or_default()
                        .insert(service, op)
                        .is_some()
                }
                _ => panic!("{}: not a service path", op.path),
            };
            assert!(!duplicate, "{}: listed twice for one place", op.path);
        }
        places
    }

    /// The operation of service `service` of resource `resource`.
    pub fn resource(&self, resource: &str, service: &str) -> Option<&'static Operation> {
        self.resources.get(resource)?.get(service).copied()
    }

    /// The operation of service `service` of subsystem `subsystem`.
    pub fn subsystem(&self, subsystem: &str, service: &str) -> Option<&'static Operation> {
        self.fixed(FIXED_SUBSYSTEMS, subsystem, service)
    }

    /// The operation of service `service` of `<collection>/<name>` when the server answers that
    /// place itself (a subsystem or a log).
    pub fn fixed(&self, collection: &str, name: &str, service: &str) -> Option<&'static Operation> {
        self.fixed.get(collection)?.get(name)?.get(service).copied()
    }

    /// The operations that may answer service `service` of an entity of `collection`, in
    /// order: the one listed under that name, then the collection's [`ANY_SERVICE`].
    pub fn entity(&self, collection: Collection, service: &str) -> Vec<&'static Operation> {
        let Some(services) = self.entities.get(&collection) else {
            return Vec::new();
        };
        let mut found: Vec<&'static Operation> =
            services.get(service).copied().into_iter().collect();
        if let Some(any) = services.get(ANY_SERVICE)
            && found.iter().all(|op| op.run != any.run)
        {
            found.push(any);
        }
        found
    }
}

/// One service call: what every handler family is called with.
#[derive(Clone, Copy)]
struct Call<'a> {
    state: &'a AppState,
    guard: &'a Guard,
    service: &'a str,
    params: &'a Params,
    body: &'a [u8],
    /// The entity of an entity service (`None` for a resource).
    entity: Option<(Collection, EntityIdx)>,
}

impl Call<'_> {
    /// Runs the first operation listed for the service on the call's entity (named `name`)
    /// that answers; an entity the caller sees but that has no such service is a 404 naming
    /// the service.
    async fn on_entity(self, name: &str) -> Result<HttpResponse, ApiError> {
        let Some((collection, _)) = self.entity else {
            return Err(ApiError::NotFound);
        };
        for op in PLACES.entity(collection, self.service) {
            if let Some(answer) = self.run(op).await {
                return answer;
            }
        }
        Err(ApiError::missing(collection, name, "service", self.service))
    }

    /// Enforces what `op` needs ([`crate::domain::need`]) for this call. Where the catalog
    /// lists the service only to be refused, its family refuses it as bad input whoever calls,
    /// and nothing is checked.
    fn enforce(&self, op: &Operation) -> Result<(), ApiError> {
        let refused = self
            .entity
            .is_some_and(|(c, _)| op.refused_in.contains(&c) && !op.collections.contains(&c));
        if refused {
            return Ok(());
        }
        // Parsed once for every parameter the need names; a body that is no object names none
        // (its service refuses it).
        let object = crate::http::params::object(self.body)
            .ok()
            .flatten()
            .unwrap_or_default();
        self.guard.enforce(
            &op.need,
            self.entity.map(|(_, idx)| idx),
            self.service,
            &|name| crate::http::params::text_of(&object, name),
        )
    }

    /// Enforces what `op` needs, then runs its family; `None` when the family declines the
    /// call (a Stream service on another kind of Thing, an entity gone from the index, an
    /// entity family called on a resource). The Stream and DataTable family enforces once it
    /// knows the Thing is of its kind, so that another Thing answers as if it had no such
    /// service.
    async fn run(self, op: &Operation) -> Option<Result<HttpResponse, ApiError>> {
        if op.run == Run::Route {
            return None;
        }
        if op.run != Run::Data
            && let Err(denied) = self.enforce(op)
        {
            return Some(Err(denied));
        }
        let Call {
            state,
            guard,
            service,
            params,
            body,
            entity,
        } = self;
        let result = match op.run {
            Run::Route => return None,
            Run::Permissions => {
                let (collection, idx) = entity?;
                permissions::entity_service(state, guard, collection, idx, service, params).await?
            }
            Run::PermissionSets => {
                let (collection, idx) = entity?;
                permission_sets::entity_service(state, guard, collection, idx, service, params)
                    .await?
            }
            Run::Membership => {
                let (collection, idx) = entity?;
                membership::entity_service(state, guard, collection, idx, service, body).await?
            }
            Run::User => users::user_service(state, guard, entity?.1, service, body).await?,
            Run::AppKey => app_keys::key_service(state, guard, entity?.1, service, body).await?,
            Run::LocalizationTable => {
                localization::table_service(state, guard, entity?.1, service, body).await?
            }
            Run::Data => {
                let params = match crate::http::params::object(body) {
                    Ok(params) => params.unwrap_or_default(),
                    Err(bad) => return Some(Err(bad)),
                };
                let mut now = data::Writes::Now;
                let allowed = || self.enforce(op);
                data::thing_service(state, guard, entity?.1, service, params, &mut now, allowed)
                    .await?
            }
            // Thing services answer their own responses (a defined service is a 501).
            Run::Thing => {
                return things::thing_service(state, guard, entity?.1, service, body).await;
            }
            Run::Entities => entities::entity_services(state, guard, service, body).await?,
            Run::AppKeyServices => app_keys::entity_services(state, guard, service, body).await?,
            Run::MembershipServices => {
                membership::entity_services(state, guard, service, body).await?
            }
            Run::CollectionPermissionSets => {
                permission_sets::collection_service(state, guard, service, params).await?
            }
            Run::CollectionPermissions => {
                permissions::collection_service(state, guard, service, params).await
            }
            Run::SourceControl => {
                import_export::source_control(state, guard, service, body).await?
            }
            Run::RuntimeLocalization => {
                localization::runtime_service(state, guard, service, body).await
            }
            Run::CurrentSession => users::current_session_info(state, guard, service, params).await,
            Run::Explain => explain::explain_permission(guard, params),
            Run::PermissionDiff => diff::effective_permission_changes(state, guard, params).await,
            Run::AuditSubsystem => audit::subsystem_service(state, guard, service, body).await,
            Run::SecurityLog => audit::security_log_service(state, body).await,
            Run::AuditEntity => {
                let (_, idx) = entity?;
                audit::entity_history(state, guard, idx, body).await
            }
            Run::Definer => {
                let (collection, idx) = entity?;
                definers::entity_service(state, guard, collection, idx, service, body).await?
            }
        };
        Some(result.map(|value| HttpResponse::Ok().json(value)))
    }
}

/// Where [`invoke`] sends a call.
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    /// `Resources/<resource>`.
    Resource(&'a str),
    /// `Subsystems/<subsystem>` (the subsystems the server answers itself).
    Subsystem(&'a str),
    /// `<Collection>/<Name>`.
    Entity(&'a str, &'a str),
}

/// Calls `service` at `place` with the JSON `body` for the caller of `guard`, through the same
/// catalog, checks and handlers as `POST /Thingworx/…/Services/<service>`, and answers the
/// JSON the route would send. Other doors of the server (the console) call services this way,
/// so that they can never check less than REST.
pub async fn invoke(
    state: &AppState,
    guard: &Guard,
    place: Place<'_>,
    service: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let body = web::Bytes::from(serde_json::to_vec(body).map_err(ApiError::internal)?);
    let params = Params::parse(&body)?;
    let mut call = Call {
        state,
        guard,
        service,
        params: &params,
        body: &body,
        entity: None,
    };
    let res = match place {
        Place::Resource(resource) => match PLACES.resource(resource, service) {
            Some(op) => call.run(op).await.unwrap_or(Err(ApiError::NotFound)),
            None => {
                call.entity = Some(guard.visible_entity(Collection::Resources.as_str(), resource)?);
                call.on_entity(resource).await
            }
        },
        Place::Subsystem(subsystem) => {
            let op = PLACES
                .subsystem(subsystem, service)
                .ok_or(ApiError::NotFound)?;
            call.run(op).await.unwrap_or(Err(ApiError::NotFound))
        }
        Place::Entity(collection, name) => {
            call.entity = Some(guard.visible_entity(collection, name)?);
            call.on_entity(name).await
        }
    }?;
    let bytes = actix_web::body::to_bytes(res.into_body())
        .await
        .map_err(|_| ApiError::internal("a service answer could not be read"))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

/// Calls a service of a built-in resource; any other service of `Resources/<resource>` is a
/// service of the Resource entity of that name (its permissions, its owner), as on every
/// collection.
#[post("/Thingworx/Resources/{resource}/Services/{service}")]
pub async fn resource_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (resource, service) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let params = Params::parse(&body)?;
    let mut call = Call {
        state: &state,
        guard: &guard,
        service: &service,
        params: &params,
        body: &body,
        entity: None,
    };
    if let Some(op) = PLACES.resource(&resource, &service) {
        return call.run(op).await.unwrap_or(Err(ApiError::NotFound));
    }
    let found = guard.visible_entity(Collection::Resources.as_str(), &resource)?;
    call.entity = Some(found);
    call.on_entity(&resource).await
}

/// Calls a service of an entity.
#[post("/Thingworx/{collection}/{name}/Services/{service}")]
pub async fn entity_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (collection, name, service) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    // A subsystem or log the server answers itself is no entity; anything else must be one
    // the caller sees (404 before the body is read).
    let fixed = PLACES.fixed(&collection, &name, &service);
    let entity = match fixed {
        Some(_) => None,
        None => Some(guard.visible_entity(&collection, &name)?),
    };
    let params = Params::parse(&body)?;
    let call = Call {
        state: &state,
        guard: &guard,
        service: &service,
        params: &params,
        body: &body,
        entity,
    };
    match fixed {
        Some(op) => call.run(op).await.unwrap_or(Err(ApiError::NotFound)),
        None => call.on_entity(&name).await,
    }
}
