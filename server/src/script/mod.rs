//! Script services: a Thing service whose implementation is a `Script` runs in QuickJS
//! (`engine`) on a blocking thread, under a time and a memory limit, against the script API of
//! `prelude.js`; every access it makes is decided and carried out by the server (`host`) with
//! the wrapped-call rule, its writes commit together when it returns, and its parameters and
//! what it returns are typed by its definition (`catalog`, `typing`). A throw answers 500 `script_error` (or the 403/404 of
//! a denied access), a limit 500 `script_limit`.
//! Subscriptions run the same way when their event fires (`subscriptions`).

pub mod builtins;
pub mod catalog;
pub mod engine;
pub mod host;
pub mod subscriptions;
pub mod typing;

use std::time::Duration;

use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

pub use catalog::{Catalog, Prepared};

use crate::domain::Ctx;
use crate::domain::data;
use crate::domain::things::{announce, store_values};
use crate::error::ApiError;
use crate::state::AppState;
use engine::{Ended, Host, Limits};
use host::Session;

/// One question of the script thread to the server: an operation, its argument, where to
/// answer.
struct Ask {
    op: String,
    arg: String,
    reply: std::sync::mpsc::SyncSender<String>,
}

/// The script thread's end of the bridge to the invocation's [`Session`].
struct Bridge {
    asks: mpsc::UnboundedSender<Ask>,
}

impl Host for Bridge {
    fn call(&self, op: &str, arg: &str) -> String {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let ask = Ask {
            op: op.to_owned(),
            arg: arg.to_owned(),
            reply,
        };
        if self.asks.send(ask).is_err() {
            return json!({ "e": "the invocation was cancelled" }).to_string();
        }
        answer
            .recv()
            .unwrap_or_else(|_| json!({ "e": "the invocation was cancelled" }).to_string())
    }

    fn cancelled(&self) -> bool {
        self.asks.is_closed()
    }
}

/// Runs the script service `service` of Thing `thing` for the caller of `ctx` (who holds
/// ServiceInvoke on it), with the parameters of `params`; its answer as the built-in services
/// answer (an InfoTable, the field `result` for a primitive, `{}` for nothing).
pub async fn invoke(
    state: &AppState,
    ctx: &Ctx,
    thing: &str,
    service: &str,
    params: Map<String, Value>,
) -> Result<Value, ApiError> {
    let mut session = Session::new(state, ctx);
    let plan = session.outermost(thing, service, params).await?;
    let settings = state.config.limits.script;
    let ended = drive(&mut session, plan).await?;
    let result_type = session.result_type().to_owned();
    match ended {
        Ended::Returned(value) => {
            let result = session.finish(&value)?;
            settle(state, &ctx.caller.name, 0, session.into_outcome()).await?;
            Ok(answer(&result_type, result))
        }
        Ended::Thrown {
            message,
            stack,
            failure,
        } => {
            if let Some(err) = failure.and_then(|k| session.take_failure(k)) {
                return Err(err);
            }
            let (entity, service, line) = engine::locate(&stack)
                .unwrap_or_else(|| (thing.to_owned(), service.to_owned(), None));
            Err(ApiError::Script(Box::new(crate::error::ScriptFailure {
                limit: None,
                message,
                entity,
                service,
                line,
            })))
        }
        Ended::TimedOut => Err(outer_limit(
            thing,
            service,
            "timeout",
            format!(
                "the script ran longer than {} s (--script-timeout-seconds) and was stopped",
                settings.script_timeout_seconds
            ),
        )),
        Ended::OutOfMemory => Err(outer_limit(
            thing,
            service,
            "memory",
            format!(
                "the script needed more than {} MiB (--script-memory-mib) and was stopped",
                settings.script_memory_mib
            ),
        )),
        Ended::StackOverflow => Err(outer_limit(
            thing,
            service,
            "stack",
            "the script nested calls too deeply for the JavaScript stack".to_owned(),
        )),
        Ended::Unavailable(why) => Err(ApiError::internal(format!(
            "the script engine could not start: {why}"
        ))),
    }
}

/// Runs `plan` on a blocking thread under the configured limits, answering its questions
/// from `session` until it ends.
async fn drive(session: &mut Session<'_>, plan: String) -> Result<Ended, ApiError> {
    let settings = session.settings();
    let limits = Limits {
        timeout: Duration::from_secs(settings.script_timeout_seconds),
        memory_bytes: usize::try_from(settings.script_memory_mib.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
    };
    let (asks, mut questions) = mpsc::unbounded_channel();
    let mut job = tokio::task::spawn_blocking(move || engine::run(limits, plan, Bridge { asks }));
    loop {
        tokio::select! {
            Some(ask) = questions.recv() => {
                let answer = session.answer(&ask.op, &ask.arg).await;
                let _ = ask.reply.send(answer);
            }
            done = &mut job => return done.map_err(ApiError::internal),
        }
    }
}

/// A `script_limit` of the outermost service.
fn outer_limit(thing: &str, service: &str, limit: &str, message: String) -> ApiError {
    ApiError::Script(Box::new(crate::error::ScriptFailure {
        limit: Some(limit.to_owned()),
        message,
        entity: thing.to_owned(),
        service: service.to_owned(),
        line: None,
    }))
}

/// The answer of a service of `result_type` that returned `value`.
fn answer(result_type: &str, value: Value) -> Value {
    match result_type.parse::<BaseType>() {
        Ok(BaseType::Nothing) => json!({}),
        Ok(BaseType::Infotable) if value.is_object() => value,
        Ok(BaseType::Infotable) => json!({ "dataShape": { "fieldDefinitions": {} }, "rows": [] }),
        _ => crate::domain::things::values::table(
            &[("result", result_type, json!({}))],
            vec![json!({ "result": value })],
        ),
    }
}

/// Commits what an invocation made (by `user`, `depth` subscription firings deep) in one
/// transaction, then fires what it made happen: the `DataChange`s of its property writes,
/// `ThingStart` of the Things it enabled or restarted, and the events it fired. Property
/// writes alone go through the group-committing value writer; with entity, Stream or
/// DataTable writes, everything commits in one transaction of its own.
async fn settle(
    state: &AppState,
    user: &str,
    depth: u32,
    outcome: host::Committing,
) -> Result<(), ApiError> {
    let host::Committing {
        values: pending,
        data: data_ops,
        events,
        entities,
    } = outcome;
    let mut started = Vec::new();
    if data_ops.is_empty() && entities.is_empty() {
        if !pending.is_empty() {
            let things = pending
                .iter()
                .map(|p| (p.thing_id, p.writes.clone()))
                .collect();
            state.values.write_all(things).await?;
        }
    } else {
        let txn = crate::db::begin_write(&state.db).await?;
        let (to_start, sequence) = builtins::apply(&txn, user, &entities).await?;
        started = to_start;
        for p in &pending {
            store_values(&txn, p.thing_id, &p.writes).await?;
        }
        data::apply(&txn, &data_ops).await?;
        txn.commit().await?;
        if let Some(sequence) = sequence {
            state
                .security
                .refresh(sequence)
                .await
                .map_err(ApiError::internal)?;
        }
    }
    for p in &pending {
        announce(state, Some(user), depth, &p.thing, &p.writes, &[]);
    }
    let started = started
        .into_iter()
        .map(|t| (t, "ThingStart".to_owned(), json!({})));
    for (thing, event, data) in started.chain(events) {
        state
            .events
            .publish_by(&thing, &event, data, Some(user), depth);
    }
    Ok(())
}
