//! The server side of one outermost script invocation: every operation its scripts ask for (a
//! Thing, a property read or write, a service call, a data shape, a log line) decided by the
//! same evaluator as REST for the calling user, under the wrapped-call rule: an access made
//! from a script is allowed when the calling user or the `System` user holds the permission.
//! Writes are kept here, checked, and seen by later reads of the same invocation; they are
//! committed together when the outermost service returns, and dropped when it throws.

use ironworx_entity::queries::parts::field_definitions;
use ironworx_entity::queries::{models, now_ms};
use ironworx_entity::vocab::{ANY_RESOURCE, BaseType, Collection, PermissionKind, builtin};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::authz::{EntityIdx, Outcome, Request, Target, decide_wrapped};
use crate::config::ScriptSettings;
use crate::domain::Ctx;
use crate::domain::data::{self, DataOp, Writes};
use crate::domain::events::event_shape;
use crate::domain::shapes::{check_row, rows_of, shape_fields};
use crate::domain::things::{PropertyWrite, THING_SERVICES, properties_of, values};
use crate::error::{ApiError, ScriptFailure};
use crate::model::ThingDefinitions;
use crate::script::builtins::EntityOp;
use crate::script::engine::file_of;
use crate::script::typing;
use crate::state::AppState;

/// A service running in the invocation.
#[derive(Clone, Debug)]
struct Frame {
    thing: String,
    service: String,
    result_type: String,
}

/// The writes of one Thing, not committed yet.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The Thing's id.
    pub thing_id: i64,
    /// Its name.
    pub thing: String,
    /// Its writes, one per property (the last value written).
    pub writes: Vec<PropertyWrite>,
}

/// Why an operation throws in the script.
pub(super) enum Throw {
    /// A failure the server keeps: uncaught, the invocation answers it.
    Failure(ApiError),
    /// A plain script error.
    Plain(String),
}

impl From<ApiError> for Throw {
    fn from(err: ApiError) -> Self {
        Throw::Failure(err)
    }
}

impl From<crate::model::ModelError> for Throw {
    fn from(err: crate::model::ModelError) -> Self {
        Throw::Failure(err.into())
    }
}

impl From<ironworx_entity::queries::QueryError> for Throw {
    fn from(err: ironworx_entity::queries::QueryError) -> Self {
        Throw::Failure(err.into())
    }
}

/// One outermost invocation as the server keeps it.
pub struct Session<'a> {
    pub(super) state: &'a AppState,
    pub(super) ctx: &'a Ctx,
    system: Option<EntityIdx>,
    settings: ScriptSettings,
    frames: Vec<Frame>,
    pub(super) pending: Vec<Pending>,
    pub(super) entity_ops: Vec<EntityOp>,
    failures: Vec<ApiError>,
    events: Vec<(String, String, Value)>,
    data: Vec<DataOp>,
    result_type: String,
}

/// What an invocation leaves to commit when it returns.
pub struct Committing {
    /// Property writes, by Thing.
    pub values: Vec<Pending>,
    /// Stream and DataTable writes, in order.
    pub data: Vec<DataOp>,
    /// Entities created, enabled, disabled or restarted, in order.
    pub entities: Vec<EntityOp>,
    /// Events to fire after the commit (Thing, event, data), in the order they were fired.
    pub events: Vec<(String, String, Value)>,
}

impl<'a> Session<'a> {
    /// A session for the caller of `ctx`.
    pub fn new(state: &'a AppState, ctx: &'a Ctx) -> Session<'a> {
        Session {
            state,
            ctx,
            system: ctx.index.lookup(Collection::Users, builtin::SYSTEM),
            settings: state.config.limits.script,
            frames: Vec::new(),
            pending: Vec::new(),
            entity_ops: Vec::new(),
            failures: Vec::new(),
            events: Vec::new(),
            data: Vec::new(),
            result_type: BaseType::Nothing.as_str().to_owned(),
        }
    }

    /// The plan of the outermost service (its ServiceInvoke was checked by the caller), as
    /// JSON text; the error the call answers when it cannot run.
    pub async fn outermost(
        &mut self,
        thing: &str,
        service: &str,
        params: Map<String, Value>,
    ) -> Result<String, ApiError> {
        match self.enter(thing, service, params, false).await {
            Ok(mut plan) => {
                if let Some(frame) = self.frames.last() {
                    self.result_type = frame.result_type.clone();
                }
                let snapshot = self.snapshot(thing).await?;
                if let Value::Object(plan) = &mut plan {
                    plan.insert("snapshot".to_owned(), Value::Object(snapshot));
                }
                Ok(plan.to_string())
            }
            Err(Throw::Failure(e)) => Err(e),
            Err(Throw::Plain(message)) => Err(self.script_error(message, None)),
        }
    }

    /// The plan of code that is not a service (a subscription's, wrapped into `source` and
    /// compiled as `file`), run as the outermost script with `me` the Thing `thing`, `label`
    /// naming it in errors and logs, and `params` as the prelude takes them; it returns
    /// nothing.
    pub async fn outermost_code(
        &mut self,
        thing: &str,
        label: &str,
        file: &str,
        source: &str,
        params: Vec<Value>,
    ) -> Result<String, ApiError> {
        self.frames.push(Frame {
            thing: thing.to_owned(),
            service: label.to_owned(),
            result_type: BaseType::Nothing.as_str().to_owned(),
        });
        self.result_type = BaseType::Nothing.as_str().to_owned();
        let snapshot = self.snapshot(thing).await?;
        Ok(json!({
            "thing": thing,
            "service": label,
            "file": file,
            "source": source,
            "params": params,
            "resultType": BaseType::Nothing.as_str(),
            "snapshot": snapshot,
        })
        .to_string())
    }

    /// The failure the host kept under `index`.
    pub fn take_failure(&mut self, index: u64) -> Option<ApiError> {
        let index = usize::try_from(index).ok()?;
        if index < self.failures.len() {
            Some(self.failures.swap_remove(index))
        } else {
            None
        }
    }

    /// The script limits it runs under.
    pub fn settings(&self) -> ScriptSettings {
        self.settings
    }

    /// The result type of the outermost service.
    pub fn result_type(&self) -> &str {
        &self.result_type
    }

    /// The outermost service's result (`{"value": …}` as JSON text, as the script returned
    /// it) typed by its result type, under the result size limit.
    pub fn finish(&mut self, returned: &str) -> Result<Value, ApiError> {
        let arg: Value = serde_json::from_str(returned).unwrap_or(Value::Null);
        match self.typed_result(arg, returned.len()) {
            Ok(value) => Ok(value),
            Err(Throw::Failure(e)) => Err(e),
            Err(Throw::Plain(message)) => Err(self.script_error(message, None)),
        }
    }

    /// The writes to commit and the events to fire after them.
    pub fn into_outcome(self) -> Committing {
        Committing {
            values: self.pending,
            data: self.data,
            entities: self.entity_ops,
            events: self.events,
        }
    }

    /// A `script_error` of the service running now (or the outermost one).
    pub fn script_error(&self, message: String, line: Option<u32>) -> ApiError {
        let (entity, service) = self.current();
        ApiError::Script(Box::new(ScriptFailure {
            limit: None,
            message,
            entity,
            service,
            line,
        }))
    }

    fn current(&self) -> (String, String) {
        self.frames
            .last()
            .map(|f| (f.thing.clone(), f.service.clone()))
            .unwrap_or_default()
    }

    /// Answers operation `op` (see `prelude.js`) with argument `arg` (JSON text).
    pub async fn answer(&mut self, op: &str, arg: &str) -> String {
        let size = arg.len();
        let arg: Value = serde_json::from_str(arg).unwrap_or(Value::Null);
        let outcome = match op {
            "thing" => {
                let name = text(&arg, "name");
                Ok(Value::Bool(
                    self.visible(name).is_ok() || self.creates(name),
                ))
            }
            "create" => self.create(&arg).await,
            "token" => self.token(&arg).await,
            "member" => self.member(text(&arg, "thing"), text(&arg, "name")).await,
            "write" => self.write(&arg).await,
            "fire" => self.fire(&arg).await,
            "builtin" => self.builtin(&arg).await,
            "entity" => self.entity(&arg),
            "implementing" => self.implementing(&arg),
            "session" => Ok(self.session()),
            "enter" => {
                let params = arg
                    .get("params")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                self.enter(text(&arg, "thing"), text(&arg, "service"), params, true)
                    .await
            }
            "leave" => {
                self.frames.pop();
                Ok(Value::Null)
            }
            "result" => self.typed_result(arg, size),
            "dataShape" => self.data_shape(&arg).await,
            "log" => {
                self.log(text(&arg, "level"), text(&arg, "message"));
                Ok(Value::Null)
            }
            other => Err(Throw::Plain(format!("unknown host operation '{other}'"))),
        };
        match outcome {
            Ok(value) => json!({ "v": value }).to_string(),
            Err(Throw::Plain(message)) => json!({ "e": message }).to_string(),
            Err(Throw::Failure(err)) => {
                let message = err.to_string();
                self.failures.push(err);
                json!({ "e": message, "k": self.failures.len() - 1 }).to_string()
            }
        }
    }

    /// The outcome of `kind` on `resource` of `target` under the wrapped-call rule.
    pub(super) fn permitted(
        &self,
        target: Target,
        kind: PermissionKind,
        resource: &str,
    ) -> Outcome {
        let request = Request {
            user: self.ctx.user,
            target,
            kind,
            resource,
        };
        let outcome = decide_wrapped(&self.ctx.index, &request, self.system);
        crate::metrics::METRICS.decision(outcome);
        outcome
    }

    /// Requires `kind` on `resource` of entity `idx`: 404 when not visible, the caller's 403
    /// when neither the caller nor `System` holds it.
    pub(super) fn require(
        &self,
        idx: EntityIdx,
        kind: PermissionKind,
        resource: &str,
    ) -> Result<(), ApiError> {
        match self.permitted(Target::Entity(idx), kind, resource) {
            Outcome::Allow => Ok(()),
            Outcome::NotVisible => Err(ApiError::NotFound),
            Outcome::Deny => {
                let entity = self
                    .ctx
                    .index
                    .entity(idx)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                let (thing, service) = self.current();
                tracing::info!(
                    user = %self.ctx.caller.name,
                    entity = %entity,
                    permission = %kind,
                    resource = %resource,
                    script_thing = %thing,
                    script_service = %service,
                    "script access denied"
                );
                Err(ApiError::forbidden(kind, resource, entity))
            }
        }
    }

    /// The entity `name` of `collection` when the caller or `System` may see it; 404 otherwise.
    pub(super) fn visible_in(
        &self,
        collection: Collection,
        name: &str,
    ) -> Result<EntityIdx, ApiError> {
        let idx = self
            .ctx
            .index
            .lookup(collection, name)
            .ok_or(ApiError::NotFound)?;
        match self.permitted(Target::Entity(idx), PermissionKind::Visibility, "*") {
            Outcome::Allow => Ok(idx),
            _ => Err(ApiError::NotFound),
        }
    }

    /// The Thing `thing` when the caller or `System` may see it, with its definitions; 404
    /// otherwise.
    pub(super) async fn visible_thing(
        &self,
        thing: &str,
    ) -> Result<(EntityIdx, Arc<ThingDefinitions>), ApiError> {
        let idx = self.visible(thing)?;
        let defs = self
            .state
            .models
            .thing(thing, self.ctx.sequences)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok((idx, defs))
    }

    pub(super) fn visible(&self, thing: &str) -> Result<EntityIdx, ApiError> {
        self.visible_in(Collection::Things, thing)
    }

    /// A property's value (`{value, baseType}`), `{service: true}` for a service, `null` for
    /// neither.
    async fn member(&mut self, thing: &str, name: &str) -> Result<Value, Throw> {
        if self.creates(thing) {
            return self.created_member(thing, name);
        }
        let (idx, defs) = self.visible_thing(thing).await?;
        let written = self
            .pending
            .iter()
            .find(|p| p.thing_id == defs.id())
            .and_then(|p| p.writes.iter().find(|w| w.name == name))
            .map(|w| (w.value.clone(), w.base_type.clone()));
        let property = match written {
            Some(found) => Some(found),
            None => {
                self.state
                    .models
                    .with_values(defs.id(), self.ctx.sequences.values, |stored| {
                        properties_of(&defs, stored)
                            .into_iter()
                            .find(|p| p.name == name)
                            .map(|p| {
                                let value = match stored.get(p.name) {
                                    Some(held) => held.value.clone(),
                                    None => values::default_value(p.base_type, p.aspects),
                                };
                                (value, p.base_type.to_owned())
                            })
                    })
                    .await?
            }
        };
        if let Some((value, base_type)) = property {
            self.require(idx, PermissionKind::PropertyRead, name)?;
            return Ok(json!({ "value": value, "baseType": base_type }));
        }
        if THING_SERVICES.contains(&name)
            || (data::is_data_service(name)
                && data::data_kind(&self.state.db, thing).await?.is_some())
        {
            return Ok(json!({ "builtin": true }));
        }
        let service = self
            .state
            .scripts
            .resolve(self.state, self.ctx, thing, name)
            .await?;
        if service.is_some() {
            return Ok(json!({ "service": true }));
        }
        Ok(match event_shape(&self.state.db, thing, name).await? {
            Some(_) => json!({ "event": true }),
            None => Value::Null,
        })
    }

    /// Whether the entity `{collection, name}` (ThingTemplates, ThingShapes, Users, Groups) is
    /// visible to the caller or `System`.
    fn entity(&self, arg: &Value) -> Result<Value, Throw> {
        let collection = entity_collection(text(arg, "collection"))?;
        Ok(Value::Bool(
            self.visible_in(collection, text(arg, "name")).is_ok(),
        ))
    }

    /// `GetImplementingThings` of the template or shape `{collection, name}` (design-time Read
    /// on it under the wrapped-call rule): the implementing Things the caller or `System` may
    /// see, by name.
    fn implementing(&self, arg: &Value) -> Result<Value, Throw> {
        let collection = entity_collection(text(arg, "collection"))?;
        let idx = self.visible_in(collection, text(arg, "name"))?;
        self.require(idx, PermissionKind::Read, ANY_RESOURCE)?;
        let mut names: Vec<String> = crate::domain::definers::implementing(self.ctx, idx)
            .into_iter()
            .filter(|&t| {
                self.permitted(Target::Entity(t), PermissionKind::Visibility, ANY_RESOURCE)
                    == Outcome::Allow
            })
            .filter_map(|t| self.ctx.index.entity(t).map(|e| e.name.clone()))
            .collect();
        names.sort();
        Ok(values::table(
            &[("name", BaseType::ThingName, json!({}))],
            names.into_iter().map(|n| json!({ "name": n })).collect(),
        ))
    }

    /// `Resources["CurrentSessionInfo"]`: the calling user and their groups and organizations.
    fn session(&self) -> Value {
        let user = self.ctx.index.user(self.ctx.user);
        let groups = user.map(|u| u.groups.clone()).unwrap_or_default();
        let organizations = user.map(|u| u.organizations.clone()).unwrap_or_default();
        json!({
            "user": self.ctx.caller.name,
            "groups": groups,
            "organizations": organizations,
        })
    }

    /// Runs a Stream or DataTable service (`{thing, service, params}`) with the invocation's
    /// ServiceInvoke rule; its writes are kept with the invocation's and its reads see them.
    async fn builtin(&mut self, arg: &Value) -> Result<Value, Throw> {
        let (thing, service) = (text(arg, "thing"), text(arg, "service"));
        let params = arg
            .get("params")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if self.creates(thing) {
            // The caller creates it, and owns it (or set its owner as a security
            // administrator).
            return self.thing_builtin(thing, service, params).await;
        }
        let idx = self.visible(thing)?;
        self.require(idx, PermissionKind::ServiceInvoke, service)?;
        if THING_SERVICES.contains(&service) {
            return self.thing_builtin(thing, service, params).await;
        }
        let (state, ctx) = (self.state, self.ctx);
        let mut writes = Writes::Later(&mut self.data);
        match data::thing_service(state, ctx, idx, service, params, &mut writes, || Ok(())).await {
            Some(answer) => Ok(answer?),
            None => Err(Throw::Plain(format!(
                "Thing '{thing}' has no service '{service}'"
            ))),
        }
    }

    /// Checks and keeps the firing of an event (`{thing, event, data}`: the data an object or
    /// an InfoTable of one row, checked against the event's data shape as the REST route
    /// checks it); it is delivered after the invocation's writes commit.
    async fn fire(&mut self, arg: &Value) -> Result<Value, Throw> {
        let (thing, event) = (text(arg, "thing"), text(arg, "event"));
        let idx = self.visible(thing)?;
        self.require(idx, PermissionKind::EventInvoke, event)?;
        let shape = event_shape(&self.state.db, thing, event)
            .await?
            .ok_or_else(|| {
                ApiError::BadRequest(format!("Thing '{thing}' has no event '{event}'"))
            })?;
        let data = arg.get("data").cloned().unwrap_or(Value::Null);
        let rows = rows_of(&data)?;
        let row = match rows.as_slice() {
            [] => Map::new(),
            [row] => row.clone(),
            _ => {
                return Err(ApiError::BadRequest("the event data must be one row".into()).into());
            }
        };
        let row = if shape.is_empty() {
            row
        } else {
            check_row(&shape_fields(&self.state.db, &shape).await?, &row)?
        };
        self.events
            .push((thing.to_owned(), event.to_owned(), Value::Object(row)));
        Ok(Value::Null)
    }

    /// The properties of `thing` the caller (or `System`) may read, as `member` answers them,
    /// but INFOTABLEs (read when the script asks for one): what the outermost service's `me`
    /// reads without asking the server.
    async fn snapshot(&self, thing: &str) -> Result<Map<String, Value>, ApiError> {
        let Ok(idx) = self.visible(thing) else {
            return Ok(Map::new());
        };
        let Some(defs) = self.state.models.thing(thing, self.ctx.sequences).await? else {
            return Ok(Map::new());
        };
        let found = self
            .state
            .models
            .with_values(defs.id(), self.ctx.sequences.values, |stored| {
                properties_of(&defs, stored)
                    .into_iter()
                    .filter(|p| p.base_type != BaseType::Infotable.as_str())
                    .map(|p| {
                        let value = match stored.get(p.name) {
                            Some(held) => held.value.clone(),
                            None => values::default_value(p.base_type, p.aspects),
                        };
                        (p.name.to_owned(), value, p.base_type.to_owned())
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        Ok(found
            .into_iter()
            .filter(|(name, _, _)| {
                self.permitted(Target::Entity(idx), PermissionKind::PropertyRead, name)
                    == Outcome::Allow
            })
            .map(|(name, value, base_type)| {
                (name, json!({ "value": value, "baseType": base_type }))
            })
            .collect())
    }

    /// Checks and keeps a property write (`{thing, name, value}`).
    pub(super) async fn write(&mut self, arg: &Value) -> Result<Value, Throw> {
        let (thing, name) = (text(arg, "thing"), text(arg, "name"));
        let value = arg.get("value").cloned().unwrap_or(Value::Null);
        let (idx, defs) = self.visible_thing(thing).await?;
        self.require(idx, PermissionKind::PropertyWrite, name)?;
        let found = self
            .state
            .models
            .with_values(defs.id(), self.ctx.sequences.values, |stored| {
                properties_of(&defs, stored)
                    .into_iter()
                    .find(|p| p.name == name)
                    .map(|p| (p.base_type.to_owned(), p.is_read_only()))
            })
            .await?;
        let Some((base_type, read_only)) = found else {
            return Err(
                ApiError::BadRequest(format!("Thing '{thing}' has no property '{name}'")).into(),
            );
        };
        if read_only {
            return Err(ApiError::BadRequest(format!(
                "property '{name}' of Thing '{thing}' is read-only"
            ))
            .into());
        }
        let value = values::check(&base_type, value)
            .map_err(|why| ApiError::BadRequest(format!("property '{name}': {why}")))?;
        let write = PropertyWrite {
            name: name.to_owned(),
            base_type,
            value,
            time: now_ms(),
            quality: "GOOD".to_owned(),
        };
        let id = defs.id();
        let pending = match self.pending.iter_mut().position(|p| p.thing_id == id) {
            Some(i) => &mut self.pending[i],
            None => {
                self.pending.push(Pending {
                    thing_id: id,
                    thing: thing.to_owned(),
                    writes: Vec::new(),
                });
                let last = self.pending.len() - 1;
                &mut self.pending[last]
            }
        };
        match pending.writes.iter_mut().find(|w| w.name == write.name) {
            Some(earlier) => *earlier = write,
            None => pending.writes.push(write),
        }
        Ok(Value::Null)
    }

    /// Starts service `service` of `thing`: the depth limit, ServiceInvoke (unless the caller
    /// checked it), the definition, the typed parameters; the plan `prelude.js` runs.
    async fn enter(
        &mut self,
        thing: &str,
        service: &str,
        params: Map<String, Value>,
        check: bool,
    ) -> Result<Value, Throw> {
        let depth = self.settings.script_max_call_depth;
        if u64::try_from(self.frames.len()).unwrap_or(u64::MAX) >= depth {
            return Err(self
                .limit(
                    "call depth",
                    format!(
                        "services called more than {depth} deep \
                         (--script-max-call-depth); '{service}' of Thing '{thing}' was not run"
                    ),
                )
                .into());
        }
        if check {
            let idx = self.visible(thing)?;
            self.require(idx, PermissionKind::ServiceInvoke, service)?;
        }
        let prepared = self
            .state
            .scripts
            .resolve(self.state, self.ctx, thing, service)
            .await?
            .ok_or_else(|| ApiError::missing(Collection::Things, thing, "service", service))?;
        let Some(source) = prepared.source.as_deref().filter(|_| prepared.is_script()) else {
            let how = if prepared.handler.is_empty() {
                "has no implementation".to_owned()
            } else {
                format!(
                    "is implemented by a {} handler, which this server does not run",
                    prepared.handler
                )
            };
            return Err(Throw::Plain(format!(
                "service '{service}' of Thing '{thing}' (defined by {}) {how}; only Script \
                 services run",
                prepared.definer
            )));
        };
        let typed = typing::params(&prepared.params, &params)?;
        self.frames.push(Frame {
            thing: thing.to_owned(),
            service: service.to_owned(),
            result_type: prepared.result_type.clone(),
        });
        Ok(json!({
            "thing": thing,
            "service": service,
            "file": file_of(thing, service),
            "source": source,
            "params": typed,
            "resultType": prepared.result_type,
        }))
    }

    /// The result of the running service, typed by its result type (`{value}`, `size` bytes
    /// of JSON).
    fn typed_result(&mut self, arg: Value, size: usize) -> Result<Value, Throw> {
        let Some(frame) = self.frames.last().cloned() else {
            return Err(Throw::Plain("no service is running".into()));
        };
        let most = self.settings.script_max_result_bytes;
        if u64::try_from(size).unwrap_or(u64::MAX) > most {
            return Err(self
                .limit(
                    "result size",
                    format!(
                        "the result of '{}' of Thing '{}' is {size} bytes of JSON, more than \
                         {most} (--script-max-result-bytes)",
                        frame.service, frame.thing
                    ),
                )
                .into());
        }
        let value = match arg {
            Value::Object(mut o) => o.remove("value").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let typed = typing::result(&frame.result_type, value).map_err(|why| {
            Throw::Plain(format!(
                "the result of service '{}' of Thing '{}': {why}",
                frame.service, frame.thing
            ))
        })?;
        Ok(typed)
    }

    /// The data shape `{name}` as `{name, fieldDefinitions}`; `null` when the caller cannot
    /// see it (an error when `required`).
    async fn data_shape(&mut self, arg: &Value) -> Result<Value, Throw> {
        let name = text(arg, "name");
        if self.visible_in(Collection::DataShapes, name).is_err() {
            return if arg.get("required").and_then(Value::as_bool) == Some(true) {
                Err(Throw::Plain(format!("DataShape '{name}' not found")))
            } else {
                Ok(Value::Null)
            };
        }
        let (entity, _) = models::get_data_shape(&self.state.db, name).await?;
        let mut fields = field_definitions::list(&self.state.db, entity.id).await?;
        fields.sort_by_key(|f| f.ordinal);
        let definitions: Map<String, Value> = fields
            .into_iter()
            .map(|f| {
                let definition = json!({
                    "name": f.name,
                    "baseType": f.base_type,
                    "description": f.description,
                    "ordinal": f.ordinal,
                    "aspects": f.aspects.unwrap_or_else(|| json!({})),
                });
                (f.name, definition)
            })
            .collect();
        Ok(json!({ "name": name, "fieldDefinitions": definitions }))
    }

    fn log(&self, level: &str, message: &str) {
        let (thing, service) = self.current();
        let user = &self.ctx.caller.name;
        match level {
            "error" => {
                tracing::error!(entity = %thing, service = %service, user = %user, "{message}")
            }
            "warn" => {
                tracing::warn!(entity = %thing, service = %service, user = %user, "{message}")
            }
            "info" => {
                tracing::info!(entity = %thing, service = %service, user = %user, "{message}")
            }
            _ => tracing::debug!(entity = %thing, service = %service, user = %user, "{message}"),
        }
    }

    /// A `script_limit` failure naming `limit`.
    pub fn limit(&self, limit: &str, message: String) -> ApiError {
        let (entity, service) = self.current();
        ApiError::Script(Box::new(ScriptFailure {
            limit: Some(limit.to_owned()),
            message,
            entity,
            service,
            line: None,
        }))
    }
}

/// The collection a script names an entity of (`ThingTemplates[…]` and the like).
fn entity_collection(name: &str) -> Result<Collection, Throw> {
    match name.parse() {
        Ok(
            c @ (Collection::ThingTemplates
            | Collection::ThingShapes
            | Collection::Users
            | Collection::Groups),
        ) => Ok(c),
        _ => Err(Throw::Plain(format!(
            "scripts cannot name entities of '{name}'"
        ))),
    }
}

/// The text field `key` of `arg` (empty when absent).
pub(super) fn text<'v>(arg: &'v Value, key: &str) -> &'v str {
    arg.get(key).and_then(Value::as_str).unwrap_or_default()
}
