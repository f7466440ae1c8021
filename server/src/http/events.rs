//! Thing events over HTTP: firing (`POST /Thingworx/Things/<T>/Events/<e>`, EventInvoke on
//! the event) and subscribing as Server-Sent Events
//! (`GET /Thingworx/Things/<T>/Events/<e>/Subscribe`, EventSubscribe on the event). The bus
//! that carries firings, and which events a Thing has, are [`crate::domain::events`].
//!
//! An event's data is checked against the event's data shape. A subscriber's right is checked
//! again, against the current index, before each delivery: revoking EventSubscribe (or
//! visibility) ends the stream at the next firing or keep-alive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use ironworx_entity::vocab::{Collection, PermissionKind};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::authz::{Outcome, Request, Target, decide};
use crate::domain::events::{Firing, event_shape};
use crate::domain::shapes::{check_row, rows_of, shape_fields};
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::live_index::Security;
use crate::state::AppState;

/// How often an idle subscription gets a comment line (and its right is checked again).
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// The Server-Sent Events message of a firing: one `data:` line with its JSON.
pub fn sse(firing: &Firing) -> Bytes {
    let body = json!({
        "source": firing.thing,
        "eventName": firing.event,
        "eventTime": firing.time,
        "eventData": firing.data,
    });
    Bytes::from(format!("data: {body}\n\n"))
}

/// Fires `event` of Thing `thing` with `data` (see [`crate::domain::events::EventBus::publish`]).
pub fn publish(state: &AppState, thing: &str, event: &str, data: Value) -> usize {
    state.events.publish(thing, event, data)
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
    let data: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        crate::http::params::json(&body)?
    };
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
    state.events.publish_by(
        &name,
        &event,
        Value::Object(row),
        Some(&guard.caller.name),
        0,
    );
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
                        return self.still_allowed().await.then(|| sse(&firing));
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

    #[test]
    fn a_firing_is_one_data_line() {
        let firing = Firing {
            thing: "T".into(),
            event: "E".into(),
            time: 1,
            data: json!({"a": 1}),
        };
        let text = String::from_utf8(sse(&firing).to_vec()).expect("utf-8");
        assert!(
            text.starts_with("data: {") && text.ends_with("}\n\n"),
            "{text}"
        );
        assert!(text.contains("\"eventData\":{\"a\":1}"), "{text}");
    }
}
