//! Carries Thing event firings between the server processes of one PostgreSQL database, so a
//! subscriber on one process receives what is fired on any other. Each process sends its own
//! firings with `NOTIFY` on [`EVENT_CHANNEL`] from a background task (never on the request
//! path) and listens on the same channel; a firing from another process is handed to this
//! process's [`crate::domain::events::EventBus`], whose subscribers check their right against the
//! current index before each delivery, as for a local firing.
//!
//! A notification holds at most [`PART_BYTES`] of payload: small firings are batched into one,
//! a large one is cut into parts sent in one transaction (PostgreSQL delivers one
//! transaction's notifications together and in order) and joined again on arrival. Delivery is
//! best effort, as in ThingWorx: a firing made while a listener is reconnecting is not seen by
//! that process. On SQLite there is one process per database file to serve events; firings stay
//! in the process that made them.

use std::sync::Arc;
use std::time::Duration;

use ironworx_entity::queries::postgres;
use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::domain::events::{EventBus, Firing};
use crate::metrics::{METRICS, RelayOutcome};

/// The channel firings travel on.
pub const EVENT_CHANNEL: &str = "ironworx_events";
/// Largest payload text of one notification (PostgreSQL refuses 8,000 bytes and more).
pub const PART_BYTES: usize = 7_000;
/// Most parts of one firing: 7,000 × 200 bytes is more than the 1 MiB request body limit.
pub const MAX_PARTS: usize = 200;
/// Firings waiting to be sent; beyond this a firing is not relayed (and counted as dropped).
pub const QUEUE: usize = 4_096;

/// One notification's payload.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Envelope {
    /// The process that sent it.
    origin: String,
    /// The message number within the origin (parts of one message share it).
    message: u64,
    /// This part's index and the message's part count.
    part: usize,
    parts: usize,
    /// The message text, or its part: a JSON array of firings.
    text: String,
}

/// On PostgreSQL, starts relaying `bus`'s firings to the other processes and theirs to it.
pub fn spawn(db: &DatabaseConnection, bus: &Arc<EventBus>) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let origin = uuid::Uuid::new_v4().simple().to_string();
    let (sender, receiver) = mpsc::channel(QUEUE);
    bus.relay_to(sender);
    tokio::spawn(send_loop(db.clone(), origin.clone(), receiver));
    let db = db.clone();
    let bus = Arc::clone(bus);
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&db, &origin, &bus).await {
                tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn send_loop(
    db: DatabaseConnection,
    origin: String,
    mut receiver: mpsc::Receiver<Arc<Firing>>,
) {
    let mut message = 0u64;
    let mut waiting = Vec::new();
    while receiver.recv_many(&mut waiting, 256).await > 0 {
        let texts: Vec<String> = waiting
            .drain(..)
            .filter_map(|f| serde_json::to_string(f.as_ref()).ok())
            .collect();
        for batch in batches(texts) {
            message += 1;
            let envelopes = split(&origin, message, &batch);
            if let Err(e) = notify(&db, &envelopes).await {
                tracing::warn!(error = %e, "cannot relay event firings to other processes");
                METRICS.event_relay(RelayOutcome::Dropped);
            } else {
                METRICS.event_relay(RelayOutcome::Sent);
            }
        }
    }
}

/// Joins serialized firings into JSON arrays of about [`PART_BYTES`] each; a firing longer
/// than that is an array of its own.
fn batches(texts: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for text in texts {
        if !current.is_empty() && current.len() + text.len() + 2 > PART_BYTES {
            current.push(']');
            out.push(std::mem::take(&mut current));
        }
        current.push(if current.is_empty() { '[' } else { ',' });
        current.push_str(&text);
    }
    if !current.is_empty() {
        current.push(']');
        out.push(current);
    }
    out
}

/// How many bytes `c` takes inside a JSON string (a quote or a backslash is escaped, a control
/// character may take six).
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Cuts `text` into envelopes whose text, escaped as the envelope's JSON string, is at most
/// [`PART_BYTES`] (on character boundaries): a batch of firings is JSON, full of quotes that
/// the envelope escapes.
fn split(origin: &str, message: u64, text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = 0;
    for (at, c) in text.char_indices() {
        let len = escaped_len(c);
        if escaped + len > PART_BYTES {
            pieces.push(&text[start..at]);
            start = at;
            escaped = 0;
        }
        escaped += len;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    let parts = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .filter_map(|(part, text)| {
            serde_json::to_string(&Envelope {
                origin: origin.to_owned(),
                message,
                part,
                parts,
                text: text.to_owned(),
            })
            .ok()
        })
        .collect()
}

async fn notify(db: &DatabaseConnection, envelopes: &[String]) -> Result<(), sea_orm::DbErr> {
    if let [one] = envelopes {
        return postgres::notify(db, EVENT_CHANNEL, one).await;
    }
    let txn = db.begin().await?;
    for envelope in envelopes {
        postgres::notify(&txn, EVENT_CHANNEL, envelope).await?;
    }
    txn.commit().await
}

async fn listen(
    db: &DatabaseConnection,
    origin: &str,
    bus: &EventBus,
) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    listener.listen(EVENT_CHANNEL).await?;
    let mut joiner = Joiner::default();
    loop {
        let note = listener.recv().await?;
        let Ok(envelope) = serde_json::from_str::<Envelope>(note.payload()) else {
            METRICS.event_relay(RelayOutcome::Dropped);
            continue;
        };
        if envelope.origin == origin {
            continue;
        }
        let Some(text) = joiner.add(envelope) else {
            continue;
        };
        match serde_json::from_str::<Vec<Firing>>(&text) {
            Ok(firings) => {
                METRICS.event_relay(RelayOutcome::Received);
                for firing in firings {
                    bus.deliver(Arc::new(firing));
                }
            }
            Err(_) => METRICS.event_relay(RelayOutcome::Dropped),
        }
    }
}

/// Joins the parts of one message; parts arrive together and in order, so one message is
/// joined at a time and a part out of turn drops the message it interrupts.
#[derive(Default)]
struct Joiner {
    current: Option<(String, u64, usize, String)>,
}

impl Joiner {
    /// The whole message text once its last part is in.
    fn add(&mut self, envelope: Envelope) -> Option<String> {
        if envelope.parts == 0 || envelope.parts > MAX_PARTS || envelope.part >= envelope.parts {
            return None;
        }
        if envelope.parts == 1 {
            return Some(envelope.text);
        }
        if envelope.part == 0 {
            self.current = Some((envelope.origin, envelope.message, 1, envelope.text));
            return None;
        }
        let (origin, message, next, mut text) = self.current.take()?;
        if origin != envelope.origin || message != envelope.message || next != envelope.part {
            return None;
        }
        text.push_str(&envelope.text);
        if envelope.part + 1 == envelope.parts {
            return Some(text);
        }
        self.current = Some((origin, message, next + 1, text));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing(data: serde_json::Value) -> String {
        serde_json::to_string(&Firing {
            thing: "Pump".into(),
            event: "Alarm".into(),
            time: 1,
            data,
        })
        .expect("json")
    }

    fn envelopes(origin: &str, message: u64, text: &str) -> Vec<Envelope> {
        split(origin, message, text)
            .iter()
            .map(|e| serde_json::from_str(e).expect("envelope"))
            .collect()
    }

    #[test]
    fn small_firings_share_a_notification_and_large_ones_are_cut_and_joined() {
        let small: Vec<String> = (0..10)
            .map(|i| firing(serde_json::json!({ "i": i })))
            .collect();
        let joined = batches(small.clone());
        assert_eq!(joined.len(), 1);
        let back: Vec<Firing> = serde_json::from_str(&joined[0]).expect("array");
        assert_eq!(back.len(), 10);

        // Multi-byte characters straddle the cuts.
        let big = firing(serde_json::json!({ "text": "é€😀".repeat(5_000) }));
        let texts = batches(vec![small[0].clone(), big.clone(), small[1].clone()]);
        assert_eq!(texts.len(), 3, "the large firing is a message of its own");
        let parts = envelopes("a", 7, &texts[1]);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(serde_json::to_string(part).expect("json").len() < 8_000);
        }
        let mut joiner = Joiner::default();
        let mut whole = None;
        for part in parts {
            whole = joiner.add(part);
        }
        let back: Vec<Firing> = serde_json::from_str(&whole.expect("joined")).expect("array");
        assert_eq!(serde_json::to_string(&back[0]).expect("json"), big);
    }

    /// A batch of many small firings is mostly quotes: escaped in its envelope, no part may
    /// pass PostgreSQL's limit.
    #[test]
    fn escaped_parts_stay_below_the_notification_limit() {
        let firings: Vec<String> = (0..200)
            .map(|i| firing(serde_json::json!({ "name": "p", "newValue": { "value": i, "quality": "GOOD" } })))
            .collect();
        for batch in batches(firings) {
            let parts = split("origin", 1, &batch);
            for part in &parts {
                assert!(part.len() < 8_000, "{} bytes", part.len());
            }
            let mut joiner = Joiner::default();
            let mut whole = None;
            for part in parts {
                whole = joiner.add(serde_json::from_str(&part).expect("envelope"));
            }
            assert_eq!(whole.as_deref(), Some(batch.as_str()));
        }
    }

    #[test]
    fn a_part_out_of_turn_drops_its_message() {
        let text = "x".repeat(PART_BYTES * 3);
        let mut parts = envelopes("a", 1, &text);
        let mut joiner = Joiner::default();
        let last = parts.pop().expect("three parts");
        let middle = parts.pop().expect("three parts");
        let first = parts.pop().expect("three parts");
        assert_eq!(joiner.add(first), None);
        assert_eq!(joiner.add(last), None, "the middle part is missing");
        assert_eq!(joiner.add(middle), None);
        let too_many = Envelope {
            origin: "a".into(),
            message: 2,
            part: 0,
            parts: MAX_PARTS + 1,
            text: String::new(),
        };
        assert_eq!(joiner.add(too_many), None);
    }
}
