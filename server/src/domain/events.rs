//! Thing events below HTTP: which events a Thing has ([`event_shape`], [`BUILTIN_EVENTS`]),
//! one firing ([`Firing`]) and [`EventBus`], the in-process broadcast that carries firings to
//! the subscribers of this server process (and, through [`crate::relay`], to those of the
//! other processes on the same PostgreSQL database). Firing and subscribing over HTTP, as
//! Server-Sent Events, is `http::events`.
//!
//! An event is one the Thing, a template of its chain or one of their ThingShapes defines, or
//! a built-in event ([`BUILTIN_EVENTS`]).

use std::sync::{Arc, OnceLock};

use ironworx_entity::queries::{QueryError, models, now_ms, parts};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::metrics::{METRICS, RelayOutcome};

/// Firings kept for a subscriber that is slow to read; older ones are dropped for it.
pub const CHANNEL_CAPACITY: usize = 1024;
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

/// The broadcast of firings inside one server process, and the queue that relays this
/// process's firings to the others when there are others.
#[derive(Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Firing>>,
    relay: OnceLock<mpsc::Sender<Arc<Firing>>>,
    origin: OnceLock<mpsc::Sender<Origin>>,
}

/// A firing made in this process, with who made it: what runs its subscriptions (see
/// `script::subscriptions`; relayed firings never reach it).
#[derive(Clone, Debug)]
pub struct Origin {
    /// The firing.
    pub firing: Arc<Firing>,
    /// The user whose request (or Timer, Scheduler or subscription) fired it; `None` runs no
    /// subscription.
    pub user: Option<String>,
    /// How many subscription firings led to this one (0 for a request's own).
    pub depth: u32,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        EventBus {
            sender,
            relay: OnceLock::new(),
            origin: OnceLock::new(),
        }
    }
}

impl EventBus {
    /// Delivers event `event` of Thing `thing` with `data` to every current subscriber;
    /// returns how many subscriptions (of any event) received it. The caller has checked
    /// that the event may be fired.
    pub fn publish(&self, thing: &str, event: &str, data: Value) -> usize {
        self.publish_by(thing, event, data, None, 0)
    }

    /// [`EventBus::publish`] by `user` (whose security context runs the subscriptions of the
    /// event), `depth` subscription firings deep.
    pub fn publish_by(
        &self,
        thing: &str,
        event: &str,
        data: Value,
        user: Option<&str>,
        depth: u32,
    ) -> usize {
        let firing = Arc::new(Firing {
            thing: thing.to_owned(),
            event: event.to_owned(),
            time: now_ms(),
            data,
        });
        if let Some(relay) = self.relay.get()
            && relay.try_send(Arc::clone(&firing)).is_err()
        {
            METRICS.event_relay(RelayOutcome::Dropped);
        }
        if let Some(origin) = self.origin.get()
            && origin
                .try_send(Origin {
                    firing: Arc::clone(&firing),
                    user: user.map(str::to_owned),
                    depth,
                })
                .is_err()
        {
            tracing::warn!(
                thing = %firing.thing,
                event = %firing.event,
                "too many firings wait for their subscriptions; this one runs none"
            );
        }
        self.deliver(firing)
    }

    /// Sends every firing published in this process from now on to `origin` too (once; later
    /// calls are ignored).
    pub fn originate_to(&self, origin: mpsc::Sender<Origin>) {
        let _ = self.origin.set(origin);
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

/// Whether the Thing `thing` has the event `event`: the event's data shape (empty when it has
/// none), or `None` when the Thing has no such event.
pub async fn event_shape<C: sea_orm::ConnectionTrait>(
    db: &C,
    thing: &str,
    event: &str,
) -> Result<Option<String>, QueryError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn published_firings_reach_subscribers() {
        let bus = EventBus::default();
        assert_eq!(bus.publish("T", "E", json!({})), 0, "no subscriber yet");
        let mut rx = bus.subscribe();
        assert_eq!(bus.publish("T", "E", json!({"a": 1})), 1);
        let firing = rx.recv().await.expect("a firing");
        assert_eq!((firing.thing.as_str(), firing.event.as_str()), ("T", "E"));
        assert_eq!(firing.data, json!({"a": 1}));
    }
}
