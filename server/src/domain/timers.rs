//! Timers and Schedulers: a Thing built on the built-in `Timer` template (or a template derived
//! from it) fires its `Timer` event every `updateRate` milliseconds; one built on `Scheduler`
//! fires `ScheduledEvent` at the times of its `schedule`, a cron string as ThingWorx writes it
//! (seconds, minutes, hours, day of month, month, day of week, optional year; UTC). Both read
//! the first row of their `Settings` configuration table (`updateRate` or `schedule`,
//! `enabled`, `runAsUser`), as ThingWorx exports it; a Thing with no `runAsUser` fires
//! nothing, and its subscriptions run as that user (see `script::subscriptions`).
//!
//! **Once per tick.** A Timer's ticks are the multiples of its rate since the epoch and a
//! Scheduler's the times its schedule names, so every process sharing a database computes the
//! same ticks; before firing one, a process inserts (Thing, tick) into `timer_ticks`, and only
//! the process whose insert succeeds fires it. Ticks are read again every second; a process
//! that sees a tick late (more than [`LATE_MS`]) skips it rather than firing it twice.
//! `--disable-timers` turns all of this off for one process.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ironworx_entity::queries::credentials::read_sequences;
use ironworx_entity::queries::entities::find_entity_by_id;
use ironworx_entity::queries::{QueryError, now_ms, parts, timer_ticks};
use serde_json::{Value, json};

use crate::state::AppState;

/// The built-in template of Timers and the event they fire.
pub const TIMER: (&str, &str) = ("Timer", "Timer");
/// The built-in template of Schedulers and the event they fire.
pub const SCHEDULER: (&str, &str) = ("Scheduler", "ScheduledEvent");
/// How often the clock looks at its ticks.
const STEP: Duration = Duration::from_millis(25);
/// How often the Timers and Schedulers are read again when the model changed.
const RESCAN_MS: i64 = 1_000;
/// A tick seen later than this after its time is skipped.
pub const LATE_MS: i64 = 5_000;
/// Ticks are kept this long in `timer_ticks`.
const KEEP_MS: i64 = 10 * 60 * 1_000;
/// The smallest update rate honoured.
const MIN_RATE_MS: i64 = 10;

/// When a Thing fires.
#[derive(Clone, Debug)]
enum Every {
    /// Every so many milliseconds.
    Rate(i64),
    /// At the times of a schedule.
    Cron(Box<cron::Schedule>),
}

/// One Timer or Scheduler Thing that fires.
#[derive(Clone, Debug)]
struct Timed {
    id: i64,
    name: String,
    event: &'static str,
    every: Every,
    user: String,
}

impl Timed {
    /// The first tick after `after` (epoch ms).
    fn next(&self, after: i64) -> Option<i64> {
        match &self.every {
            Every::Rate(rate) => Some((after / rate + 1) * rate),
            Every::Cron(schedule) => {
                let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after)?;
                schedule.after(&at).next().map(|t| t.timestamp_millis())
            }
        }
    }
}

/// Starts firing this process's share of Timer and Scheduler ticks (unless turned off).
pub fn spawn(state: Arc<AppState>) {
    if state.config.limits.script.disable_timers {
        return;
    }
    tokio::spawn(async move {
        let mut clock = Clock::default();
        loop {
            clock.step(&state).await;
            tokio::time::sleep(STEP).await;
        }
    });
}

#[derive(Default)]
struct Clock {
    /// The change sequence the Things were read at (`None`: never read).
    sequence: Option<i64>,
    next_scan: i64,
    next_cleanup: i64,
    timed: Vec<Timed>,
    /// The next tick of each Thing, by id.
    due: HashMap<i64, i64>,
}

impl Clock {
    async fn step(&mut self, state: &AppState) {
        let now = now_ms();
        if now >= self.next_scan {
            self.next_scan = now + RESCAN_MS;
            if let Err(e) = self.scan(state).await {
                tracing::warn!(error = %e, "Timers and Schedulers could not be read");
            }
        }
        if now >= self.next_cleanup {
            self.next_cleanup = now + KEEP_MS / 2;
            if let Err(e) = timer_ticks::forget_before(&state.db, now - KEEP_MS).await {
                tracing::warn!(error = %e, "old timer ticks could not be removed");
            }
        }
        for timed in &self.timed {
            let Some(due) = self.due.get(&timed.id).copied() else {
                if let Some(next) = timed.next(now) {
                    self.due.insert(timed.id, next);
                }
                continue;
            };
            if now < due {
                continue;
            }
            match timed.next(now) {
                Some(next) => self.due.insert(timed.id, next),
                None => self.due.remove(&timed.id),
            };
            if now - due > LATE_MS {
                tracing::warn!(thing = %timed.name, tick = due, "a tick was seen too late and skipped");
                continue;
            }
            match timer_ticks::claim(&state.db, timed.id, due).await {
                Ok(true) => {
                    state.events.publish_by(
                        &timed.name,
                        timed.event,
                        json!({ "timestamp": due }),
                        Some(&timed.user),
                        0,
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(thing = %timed.name, error = %e, "a tick could not be claimed")
                }
            }
        }
    }

    /// Reads the Timers and Schedulers again when the model changed.
    async fn scan(&mut self, state: &AppState) -> Result<(), QueryError> {
        let sequence = read_sequences(&state.db).await?.changes;
        if self.sequence == Some(sequence) {
            return Ok(());
        }
        let mut timed = Vec::new();
        for (template, event) in [TIMER, SCHEDULER] {
            for id in timer_ticks::things_on(&state.db, template).await? {
                if let Some(t) = read_timed(state, id, event).await? {
                    timed.push(t);
                }
            }
        }
        self.due.retain(|id, _| timed.iter().any(|t| t.id == *id));
        self.timed = timed;
        self.sequence = Some(sequence);
        Ok(())
    }
}

/// The Thing `id` as it fires `event`, when it is enabled and names a user.
async fn read_timed(
    state: &AppState,
    id: i64,
    event: &'static str,
) -> Result<Option<Timed>, QueryError> {
    let Some(entity) = find_entity_by_id(&state.db, id).await? else {
        return Ok(None);
    };
    let tables = parts::configuration_tables::list(&state.db, id).await?;
    let row = tables
        .iter()
        .find(|t| t.name == "Settings")
        .and_then(|t| t.rows.as_ref())
        .and_then(|rows| rows.as_array().and_then(|r| r.first()).cloned())
        .unwrap_or(Value::Null);
    let setting = |key: &str| row.get(key).cloned().unwrap_or(Value::Null);
    let enabled = match setting("enabled") {
        Value::Bool(b) => b,
        Value::String(s) => s.trim() != "false",
        _ => true,
    };
    let user = setting("runAsUser")
        .as_str()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if !enabled || user.is_empty() {
        return Ok(None);
    }
    let every = if event == TIMER.1 {
        let rate = match setting("updateRate") {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .unwrap_or(60_000.0);
        Every::Rate((rate as i64).max(MIN_RATE_MS))
    } else {
        let text = setting("schedule");
        let text = text.as_str().map(str::trim).unwrap_or_default();
        match cron::Schedule::from_str(text) {
            Ok(schedule) => Every::Cron(Box::new(schedule)),
            Err(e) => {
                tracing::warn!(thing = %entity.name, schedule = %text, error = %e,
                    "a Scheduler's schedule cannot be read; it fires nothing");
                return Ok(None);
            }
        }
    };
    Ok(Some(Timed {
        id,
        name: entity.name,
        event,
        every,
        user,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(every: Every) -> Timed {
        Timed {
            id: 1,
            name: "T".into(),
            event: "Timer",
            every,
            user: "U".into(),
        }
    }

    #[test]
    fn ticks_are_the_same_for_every_process() {
        let t = timed(Every::Rate(200));
        assert_eq!(t.next(1_000), Some(1_200));
        assert_eq!(t.next(1_199), Some(1_200));
        // ThingWorx writes seconds first and `?` for "any day".
        let schedule = cron::Schedule::from_str("0 0/5 * * * ?").expect("a schedule");
        let s = timed(Every::Cron(Box::new(schedule)));
        // 2020-01-01T00:01:00Z → 00:05:00Z.
        assert_eq!(s.next(1_577_836_860_000), Some(1_577_837_100_000));
    }
}
