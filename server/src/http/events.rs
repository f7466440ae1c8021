//! Thing events: firing (`POST /Thingworx/Things/<T>/Events/<e>`, EventInvoke on the event),
//! subscribing as Server-Sent Events (`GET /Thingworx/Things/<T>/Events/<e>/Subscribe`,
//! EventSubscribe on the event), and [`EventBus`], the in-process broadcast that carries
//! firings to the subscribers of this server process (and, through [`crate::relay`], to those
//! of the other processes on the same PostgreSQL database).
//!
//! An event is one the Thing, a template of its chain or one of their ThingShapes defines, or
//! a built-in event ([`BUILTIN_EVENTS`]). Its data is checked against the event's data shape.
//! A subscriber's right is checked again, against the current index, before each delivery:
//! revoking EventSubscribe (or visibility) ends the stream at the next firing or keep-alive.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use ironworx_entity::queries::{models, now_ms, parts};
use ironworx_entity::vocab::{Collection, PermissionKind};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::authz::{Outcome, Request, Target, decide};
use crate::error::ApiError;
use crate::http::data::{check_row, rows_of, shape_fields};
use crate::http::guard::Guard;
use crate::security::Security;
use crate::state::AppState;

/// Firings kept for a subscriber that is slow to read; older ones are dropped for it.
pub const CHANNEL_CAPACITY: usize = 1024;
/// How often an idle subscription gets a comment line (and its right is checked again).
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Events every Thing has without defining them; `DataChange` is fired by property writes.
pub const BUILTIN_EVENTS: &[&str] = &["DataChange", "AnyDataChange", "ThingStart", "ThingStop"];

/// One firing of an event (serialized as it travels between processes, see
/// [`crate::relay`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Firing {
    /// The Thing that fired.
    pub thing: String,
    /// The event.
    pub event: String,
    /// When (epoch ms).
    pub time: i64,
    /// The event data (an object).
    pub data: Value,
}

impl Firing {
    /// The Server-Sent Events message of this firing: one `data:` line with its JSON.
    pub fn sse(&self) -> Bytes {
        let body = json!({
            "source": self.thing,
            "eventName": self.event,
            "eventTime": self.time,
            "eventData": self.data,
        });
        Bytes::from(format!("data: {body}\n\n"))
    }
}

/// The broadcast of firings inside one server process, and the queue that relays this
/// process's firings to the others when there are others.
#[derive(Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Firing>>,
    relay: OnceLock<mpsc::Sender<Arc<Firing>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        EventBus {
            sender,
            relay: OnceLock::new(),
        }
    }
}

impl EventBus {
    /// Delivers event `event` of Thing `thing` with `data` to every current subscriber;
    /// returns how many subscriptions (of any event) received it. The caller has checked
    /// that the event may be fired.
    pub fn publish(&self, thing: &str, event: &str, data: Value) -> usize {
        let firing = Arc::new(Firing {
            thing: thing.to_owned(),
            event: event.to_owned(),
            time: now_ms(),
            data,
        });
        if let Some(relay) = self.relay.get()
            && relay.try_send(Arc::clone(&firing)).is_err()
        {
            crate::metrics::METRICS.event_relay(crate::metrics::RelayOutcome::Dropped);
        }
        self.deliver(firing)
    }

    /// Hands a firing to this process's subscribers only; how many received it.
    pub fn deliver(&self, firing: Arc<Firing>) -> usize {
        self.sender.send(firing).unwrap_or(0)
    }

    /// Sends every firing published from now on to `relay` too (once; later calls are
    /// ignored).
    pub fn relay_to(&self, relay: mpsc::Sender<Arc<Firing>>) {
        let _ = self.relay.set(relay);
    }

    /// A receiver of every firing from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Firing>> {
        self.sender.subscribe()
    }
}

/// Fires `event` of Thing `thing` with `data` (see [`EventBus::publish`]).
pub fn publish(state: &AppState, thing: &str, event: &str, data: Value) -> usize {
    state.events.publish(thing, event, data)
}

/// Whether the Thing `thing` has the event `event`; the event's data shape, empty when none.
async fn event_shape<C: sea_orm::ConnectionTrait>(
    db: &C,
    thing: &str,
    event: &str,
) -> Result<Option<String>, ApiError> {
    let (entity, row) = models::get_thing(db, thing).await?;
    let chain = models::template_chain(db, &row.thing_template).await?;
    let mut owners = vec![entity.id];
    let mut shape_owners = vec![entity.id];
    for template in &chain {
        let (t, _) = models::get_thing_template(db, template).await?;
        owners.push(t.id);
        shape_owners.push(t.id);
    }
    for owner in shape_owners {
        for shape in models::implemented_shape_names(db, owner).await? {
            if let Ok((s, _)) = models::get_thing_shape(db, &shape).await {
                owners.push(s.id);
            }
        }
    }
    for owner in owners {
        let definitions = parts::event_definitions::list(db, owner).await?;
        if let Some(def) = definitions.into_iter().find(|d| d.name == event) {
            return Ok(Some(def.data_shape));
        }
    }
    if BUILTIN_EVENTS.contains(&event) {
        return Ok(Some(String::new()));
    }
    Ok(None)
}

/// The event, or a 400 naming what is missing.
async fn require_event(state: &AppState, thing: &str, event: &str) -> Result<String, ApiError> {
    event_shape(&state.db, thing, event)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("Thing '{thing}' has no event '{event}'")))
}

/// Fires an event of a Thing; the body is the event data (an object, or an InfoTable of one row).
#[post("/Thingworx/Things/{name}/Events/{event}")]
pub async fn fire(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, event) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity(Collection::Things.as_str(), &name)?;
    guard.require(Target::Entity(idx), PermissionKind::EventInvoke, &event)?;
    let shape = require_event(&state, &name, &event).await?;
    let data: Value =
        crate::http::params::parse_body::<Option<Value>>(&body)?.unwrap_or(Value::Null);
    let rows = rows_of(&data)?;
    let row = match rows.as_slice() {
        [] => Map::new(),
        [row] => row.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "the event data must be one row".into(),
            ));
        }
    };
    let row = if shape.is_empty() {
        row
    } else {
        check_row(&shape_fields(&state.db, &shape).await?, &row)?
    };
    state.events.publish(&name, &event, Value::Object(row));
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Streams the firings of an event of a Thing as Server-Sent Events.
#[get("/Thingworx/Things/{name}/Events/{event}/Subscribe")]
pub async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, event) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity(Collection::Things.as_str(), &name)?;
    guard.require(Target::Entity(idx), PermissionKind::EventSubscribe, &event)?;
    require_event(&state, &name, &event).await?;
    let watch = Watch {
        security: state.security.clone(),
        user: guard.caller.name.clone(),
        thing: name,
        event,
        receiver: state.events.subscribe(),
        greeted: false,
        keepalive: tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE),
    };
    let stream = futures_util::stream::unfold(watch, |mut watch| async move {
        watch
            .next_message()
            .await
            .map(|m| (Ok::<_, Infallible>(m), watch))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// One subscription: the firings it waits for and who it delivers to.
struct Watch {
    security: Arc<Security>,
    user: String,
    thing: String,
    event: String,
    receiver: broadcast::Receiver<Arc<Firing>>,
    greeted: bool,
    keepalive: tokio::time::Interval,
}

impl Watch {
    /// The next chunk of the stream; `None` ends it.
    async fn next_message(&mut self) -> Option<Bytes> {
        if !self.greeted {
            // Sent at once, so that a client knows the subscription is in place.
            self.greeted = true;
            return Some(Bytes::from_static(b": subscribed\n\n"));
        }
        loop {
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(firing) if firing.thing == self.thing && firing.event == self.event => {
                        return self.still_allowed().await.then(|| firing.sse());
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        return Some(Bytes::from(format!(": missed {missed} firings\n\n")));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.keepalive.tick() => {
                    return self
                        .still_allowed()
                        .await
                        .then(|| Bytes::from_static(b": keep-alive\n\n"));
                }
            }
        }
    }

    /// Whether the subscriber still may see the Thing and subscribe to the event, by the
    /// current index.
    async fn still_allowed(&self) -> bool {
        let Ok(index) = self.security.current().await else {
            return false;
        };
        let (Some(user), Some(thing)) = (
            index.lookup(Collection::Users, &self.user),
            index.lookup(Collection::Things, &self.thing),
        ) else {
            return false;
        };
        let allowed = decide(
            &index,
            &Request {
                user,
                target: Target::Entity(thing),
                kind: PermissionKind::EventSubscribe,
                resource: &self.event,
            },
        ) == Outcome::Allow;
        if !allowed {
            tracing::info!(user = %self.user, entity = %self.thing, event = %self.event,
                "subscription ended: EventSubscribe no longer granted");
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn published_firings_reach_subscribers() {
        let bus = EventBus::default();
        assert_eq!(bus.publish("T", "E", json!({})), 0, "no subscriber yet");
        let mut rx = bus.subscribe();
        assert_eq!(bus.publish("T", "E", json!({"a": 1})), 1);
        let firing = rx.recv().await.expect("a firing");
        assert_eq!((firing.thing.as_str(), firing.event.as_str()), ("T", "E"));
        let text = String::from_utf8(firing.sse().to_vec()).expect("utf-8");
        assert!(
            text.starts_with("data: {") && text.ends_with("}\n\n"),
            "{text}"
        );
        assert!(text.contains("\"eventData\":{\"a\":1}"), "{text}");
    }
}
