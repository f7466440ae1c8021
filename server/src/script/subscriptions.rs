//! Subscriptions run: every firing made in this process ([`crate::domain::events::Origin`])
//! runs the enabled `Script` subscriptions that listen to it, one after another in one task,
//! each as one outermost script ([`run`]) whose writes commit together or not at all.
//!
//! **Which listen.** A subscription of the firing Thing, of a template of its chain or of one
//! of their ThingShapes with an empty `source` (or the Thing's own name) listens to the Thing
//! itself (`me`); a subscription of another Thing whose `source` names the firing Thing listens
//! to that Thing (and runs with `me` its holder, or each Thing built on its holder when the
//! holder is a ThingTemplate; a ThingShape's subscription with a source is not run). A
//! `DataChange` subscription listens to the property its `sourceProperty` names (every
//! property when empty); an `AnyDataChange` subscription to every `DataChange`.
//!
//! **Security context.** The subscription runs as the user whose request fired the event (a
//! property write, `FireEvent`, a script service), the `runAsUser` of a Timer or Scheduler
//! (`crate::domain::timers`), or the user a subscription ran as for the firings it makes,
//! under the same wrapped-call rule as script services: an access is allowed when that user or
//! the `System` user holds the permission. A firing with no user runs no subscription.
//!
//! **Once across processes.** Only the process where a firing was made runs its subscriptions;
//! firings relayed from other processes ([`crate::relay`]) are delivered to event streams only.
//! Nothing is written to claim a firing: a firing lives in the memory of the process that made
//! it, so a firing whose process stops before its subscriptions ran is not run by another one
//! after a restart (at most once, as events are delivered at most once); a claim row would not
//! make it survive either, because the firing itself is not stored.
//!
//! **Failures.** A subscription that throws or passes a limit is logged (entity, subscription,
//! line) and its writes are dropped; the request that fired the event has already answered.
//! Firings made by subscriptions run subscriptions too, at most [`MAX_DEPTH`] deep.

use std::collections::HashMap;
use std::sync::Arc;

use ironworx_entity::queries::credentials::{Sequences, read_sequences};
use ironworx_entity::queries::entities::names_by_id;
use ironworx_entity::queries::{parts, subscribers, timer_ticks};
use ironworx_entity::schema::subscriptions;
use ironworx_entity::vocab::{BaseType, Collection};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::catalog::{Param, SCRIPT, script_code, wrap};
use super::engine::{self, Ended};
use super::host::Session;
use super::{drive, settle};
use crate::auth::Caller;
use crate::domain::Ctx;
use crate::domain::events::{Firing, Origin};
use crate::error::{ApiError, ScriptFailure};
use crate::state::AppState;

/// Firings waiting for their subscriptions; beyond this a firing runs none (and is logged).
pub const QUEUE: usize = 65_536;
/// How many subscription firings deep a firing still runs subscriptions.
pub const MAX_DEPTH: u32 = 8;

/// The variables a subscription's code sees besides `me`.
const VARIABLES: [(&str, BaseType); 5] = [
    ("eventData", BaseType::Infotable),
    ("eventName", BaseType::String),
    ("eventTime", BaseType::Datetime),
    ("source", BaseType::String),
    ("sourceProperty", BaseType::String),
];

/// A subscription that listens to a firing, and the Thing it runs on (`me`).
#[derive(Clone, Debug)]
struct Listener {
    me: String,
    subscription: subscriptions::Model,
}

/// The subscriptions of one Thing's definers, and those naming a Thing as their source, as
/// of a change sequence.
#[derive(Default)]
struct Known {
    own: HashMap<String, (i64, Arc<Vec<subscriptions::Model>>)>,
    sourced: HashMap<String, (i64, Arc<Vec<Listener>>)>,
}

/// Starts running the subscriptions of this process's firings.
pub fn spawn(state: Arc<AppState>) {
    let (sender, mut receiver) = mpsc::channel(QUEUE);
    state.events.originate_to(sender);
    tokio::spawn(async move {
        let mut known = Known::default();
        let mut batch = Vec::new();
        while receiver.recv_many(&mut batch, 256).await > 0 {
            let sequences = match read_sequences(&state.db).await {
                Ok(sequences) => sequences,
                Err(e) => {
                    tracing::error!(error = %e, "subscriptions not run: the database is unavailable");
                    batch.clear();
                    continue;
                }
            };
            for origin in batch.drain(..) {
                dispatch(&state, &mut known, sequences, origin).await;
            }
        }
    });
}

/// Runs the subscriptions that listen to one firing.
async fn dispatch(state: &AppState, known: &mut Known, sequences: Sequences, origin: Origin) {
    let Some(user) = origin.user.as_deref() else {
        return;
    };
    let firing = &origin.firing;
    let listeners = match listeners(state, known, sequences, firing).await {
        Ok(listeners) => listeners,
        Err(e) => {
            tracing::error!(thing = %firing.thing, event = %firing.event, error = %e,
                "the subscriptions of a firing could not be read");
            return;
        }
    };
    if listeners.is_empty() {
        return;
    }
    if origin.depth >= MAX_DEPTH {
        tracing::warn!(thing = %firing.thing, event = %firing.event, depth = origin.depth,
            "subscriptions fired events {MAX_DEPTH} deep; this firing runs none");
        return;
    }
    let ctx = match context(state, sequences, user).await {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::warn!(thing = %firing.thing, event = %firing.event, user = %user,
                error = %e, "subscriptions not run: their user is not available");
            return;
        }
    };
    for listener in listeners {
        let name = listener.subscription.name.clone();
        if let Err(e) = run(state, &ctx, &listener, firing, origin.depth).await {
            let (entity, line) = match &e {
                ApiError::Script(f) => (f.entity.clone(), f.line),
                _ => (listener.me.clone(), None),
            };
            tracing::error!(
                entity = %entity,
                subscription = %name,
                line = ?line,
                user = %ctx.caller.name,
                error = %e,
                "subscription failed; nothing it wrote was kept"
            );
        }
    }
}

/// The context of `user` as of `sequences`.
async fn context(state: &AppState, sequences: Sequences, user: &str) -> Result<Ctx, ApiError> {
    let index = state
        .security
        .current_at(sequences.changes)
        .await
        .map_err(ApiError::internal)?;
    let idx = index
        .lookup(Collection::Users, user)
        .ok_or_else(|| ApiError::Unauthorized(format!("no user '{user}'")))?;
    let user_id = index.entity(idx).map(|e| e.id).unwrap_or_default();
    Ok(Ctx {
        caller: Caller {
            user_id,
            name: user.to_owned(),
        },
        user: idx,
        index,
        sequences,
    })
}

/// Whether `subscription` listens to `firing` by its event and property.
fn hears(subscription: &subscriptions::Model, firing: &Firing) -> bool {
    if !subscription.enabled || subscription.handler_name != SCRIPT {
        return false;
    }
    let event = subscription.event_name.as_str();
    if firing.event != "DataChange" {
        return event == firing.event;
    }
    match event {
        "AnyDataChange" => true,
        "DataChange" => {
            subscription.source_property.is_empty()
                || firing.data.get("name").and_then(Value::as_str)
                    == Some(subscription.source_property.as_str())
        }
        _ => false,
    }
}

/// The subscriptions that listen to `firing`, in order: the Thing's definers' first.
async fn listeners(
    state: &AppState,
    known: &mut Known,
    sequences: Sequences,
    firing: &Firing,
) -> Result<Vec<Listener>, ApiError> {
    let thing = firing.thing.as_str();
    let own = match known.own.get(thing) {
        Some((seq, subs)) if *seq >= sequences.changes => Arc::clone(subs),
        _ => {
            let mut subs = Vec::new();
            if let Some(defs) = state.models.thing(thing, sequences).await? {
                for definer in &defs.definers {
                    subs.extend(
                        parts::subscriptions::list(&state.db, definer.id)
                            .await?
                            .into_iter()
                            .filter(|s| s.source.is_empty() || s.source == thing),
                    );
                }
            }
            let subs = Arc::new(subs);
            known
                .own
                .insert(thing.to_owned(), (sequences.changes, Arc::clone(&subs)));
            subs
        }
    };
    let sourced = match known.sourced.get(thing) {
        Some((seq, subs)) if *seq >= sequences.changes => Arc::clone(subs),
        _ => {
            let mut subs = Vec::new();
            for held in subscribers::listening_to(&state.db, thing).await? {
                let holders = match held.collection {
                    Collection::Things if held.holder != thing => vec![held.holder],
                    Collection::ThingTemplates => {
                        let ids = timer_ticks::things_on(&state.db, &held.holder).await?;
                        names_by_id(&state.db, ids).await?.into_values().collect()
                    }
                    _ => Vec::new(),
                };
                subs.extend(
                    holders
                        .into_iter()
                        .filter(|me| me != thing)
                        .map(|me| Listener {
                            me,
                            subscription: held.subscription.clone(),
                        }),
                );
            }
            let subs = Arc::new(subs);
            known
                .sourced
                .insert(thing.to_owned(), (sequences.changes, Arc::clone(&subs)));
            subs
        }
    };
    Ok(own
        .iter()
        .filter(|s| hears(s, firing))
        .map(|s| Listener {
            me: thing.to_owned(),
            subscription: s.clone(),
        })
        .chain(
            sourced
                .iter()
                .filter(|l| hears(&l.subscription, firing))
                .cloned(),
        )
        .collect())
}

/// The file name the code of subscription `name` of `thing` is compiled as.
fn file_of(thing: &str, name: &str) -> String {
    format!(
        "{}/{thing}/Subscriptions/{name}",
        Collection::Things.as_str()
    )
}

/// `data` as an InfoTable of one row, its fields typed by their values.
fn event_table(data: &Value) -> Value {
    let row = data.as_object().cloned().unwrap_or_default();
    let fields: Map<String, Value> = row
        .iter()
        .zip(0..)
        .map(|((name, value), ordinal)| {
            let base_type = match value {
                Value::String(_) => BaseType::String,
                Value::Number(_) => BaseType::Number,
                Value::Bool(_) => BaseType::Boolean,
                _ => BaseType::Json,
            };
            let definition = json!({
                "name": name, "baseType": base_type.as_str(), "description": "",
                "ordinal": ordinal, "aspects": {},
            });
            (name.clone(), definition)
        })
        .collect();
    json!({ "dataShape": { "fieldDefinitions": fields }, "rows": [row] })
}

/// Runs one subscription for one firing as `ctx`'s user; its writes commit when it returns.
async fn run(
    state: &AppState,
    ctx: &Ctx,
    listener: &Listener,
    firing: &Firing,
    depth: u32,
) -> Result<(), ApiError> {
    let subscription = &listener.subscription;
    let me = listener.me.as_str();
    let Some(code) = script_code(subscription.configuration.as_ref()) else {
        return Ok(());
    };
    let params: Vec<Param> = VARIABLES
        .iter()
        .map(|(name, base_type)| Param {
            name: (*name).to_owned(),
            base_type: base_type.as_str().to_owned(),
            default: None,
        })
        .collect();
    let source = wrap(&params, &code);
    let source_property = match firing.data.get("name").and_then(Value::as_str) {
        Some(name) if firing.event == "DataChange" => name.to_owned(),
        _ => subscription.source_property.clone(),
    };
    let values = [
        event_table(&firing.data),
        json!(firing.event),
        json!(firing.time),
        json!(firing.thing),
        json!(source_property),
    ];
    let typed = params
        .iter()
        .zip(values)
        .map(|(p, value)| json!({ "name": p.name, "baseType": p.base_type, "value": value }))
        .collect();
    let file = file_of(me, &subscription.name);
    let mut session = Session::new(state, ctx);
    let plan = session
        .outermost_code(me, &subscription.name, &file, &source, typed)
        .await?;
    let ended = drive(&mut session, plan).await?;
    let failure = |limit: Option<&str>, message: String, line: Option<u32>| {
        ApiError::Script(Box::new(ScriptFailure {
            limit: limit.map(str::to_owned),
            message,
            entity: me.to_owned(),
            service: subscription.name.clone(),
            line,
        }))
    };
    match ended {
        Ended::Returned(_) => {
            settle(state, &ctx.caller.name, depth + 1, session.into_outcome()).await
        }
        Ended::Thrown {
            message,
            stack,
            failure: kept,
        } => {
            if let Some(err) = kept.and_then(|k| session.take_failure(k)) {
                return Err(err);
            }
            let line = engine::locate(&stack.replace("/Subscriptions/", "/Services/"))
                .and_then(|(_, _, line)| line);
            Err(failure(None, message, line))
        }
        Ended::TimedOut => Err(failure(
            Some("timeout"),
            "the subscription ran longer than --script-timeout-seconds".into(),
            None,
        )),
        Ended::OutOfMemory => Err(failure(
            Some("memory"),
            "the subscription needed more than --script-memory-mib".into(),
            None,
        )),
        Ended::StackOverflow => Err(failure(
            Some("stack"),
            "the subscription nested calls too deeply".into(),
            None,
        )),
        Ended::Unavailable(why) => Err(ApiError::internal(format!(
            "the script engine could not start: {why}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(event: &str, property: &str, enabled: bool) -> subscriptions::Model {
        subscriptions::Model {
            id: 1,
            entity_id: 1,
            name: "S".into(),
            description: String::new(),
            enabled,
            event_name: event.into(),
            source: String::new(),
            source_property: property.into(),
            source_type: String::new(),
            handler_name: SCRIPT.into(),
            configuration: None,
        }
    }

    fn firing(event: &str, data: Value) -> Firing {
        Firing {
            thing: "T".into(),
            event: event.into(),
            time: 0,
            data,
        }
    }

    #[test]
    fn a_subscription_hears_its_event_and_property() {
        let speed = firing("DataChange", json!({"name": "speed"}));
        assert!(hears(&subscription("DataChange", "speed", true), &speed));
        assert!(hears(&subscription("DataChange", "", true), &speed));
        assert!(hears(&subscription("AnyDataChange", "", true), &speed));
        assert!(!hears(&subscription("DataChange", "other", true), &speed));
        assert!(!hears(&subscription("DataChange", "speed", false), &speed));
        assert!(!hears(&subscription("Alarm", "", true), &speed));
        let alarm = firing("Alarm", json!({"level": 1}));
        assert!(hears(&subscription("Alarm", "", true), &alarm));
        assert!(!hears(&subscription("AnyDataChange", "", true), &alarm));
        let mut other = subscription("Alarm", "", true);
        other.handler_name = "SQLQuery".into();
        assert!(!hears(&other, &alarm));
    }

    #[test]
    fn event_data_is_a_table_of_one_row() {
        let table = event_table(&json!({"name": "p", "newValue": {"value": 1}}));
        assert_eq!(
            table["rows"],
            json!([{"name": "p", "newValue": {"value": 1}}])
        );
        assert_eq!(
            table["dataShape"]["fieldDefinitions"]["newValue"]["baseType"],
            json!("JSON")
        );
    }
}
