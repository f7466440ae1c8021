//! The QuickJS side of one outermost invocation, run on a blocking thread: a fresh runtime
//! under the memory limit with an interrupt handler that stops it at the deadline, a full
//! context (the language only: no module loader, no file, network or process access), the
//! prelude (`prelude.js`), then the plan; and what ended it. Everything the script asks of
//! the server goes through [`Host`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::convert::Coerced;
use rquickjs::{Context, Ctx, FromJs, Function, Object, Runtime, Value};

/// The script API evaluated before every service.
const PRELUDE: &str = include_str!("prelude.js");

/// The file name the prelude's frames carry.
const PRELUDE_FILE: &str = "ironworx:prelude";

/// The JavaScript stack one invocation may use (the blocking thread's stack is larger).
const STACK_BYTES: usize = 512 * 1024;

/// The limits of one invocation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long it may run.
    pub timeout: Duration,
    /// How much memory its runtime may allocate.
    pub memory_bytes: usize,
}

/// The server as the script sees it: one operation, its argument and its answer as JSON text.
pub trait Host: Send + 'static {
    /// Answers operation `op` with argument `arg`: `{"v": …}`, or `{"e": message}` (with
    /// `"k"`: the index of the failure the server keeps) to throw.
    fn call(&self, op: &str, arg: &str) -> String;
    /// Whether nobody waits for the invocation any more (it is stopped like a timeout).
    fn cancelled(&self) -> bool;
}

/// What ended an invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The service returned (its result is with the host).
    Returned,
    /// It threw, and nothing caught it.
    Thrown {
        /// The error's message (or the thrown value as text).
        message: String,
        /// Its stack, as QuickJS writes it.
        stack: String,
        /// The failure the host keeps for it, when the host made it.
        failure: Option<u64>,
    },
    /// The deadline passed.
    TimedOut,
    /// The memory limit was reached.
    OutOfMemory,
    /// The JavaScript stack limit was reached.
    StackOverflow,
    /// The engine could not start (no memory for a runtime).
    Unavailable(String),
}

/// Runs `plan` (JSON, see `prelude.js`'s `main`) under `limits`, asking `host`.
pub fn run(limits: Limits, plan: String, host: impl Host) -> Ended {
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return Ended::Unavailable(e.to_string()),
    };
    runtime.set_memory_limit(limits.memory_bytes);
    runtime.set_max_stack_size(STACK_BYTES);
    let host = Arc::new(host);
    let deadline = Instant::now() + limits.timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    {
        let timed_out = Arc::clone(&timed_out);
        let host = Arc::clone(&host);
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if Instant::now() >= deadline || host.cancelled() {
                timed_out.store(true, Ordering::Relaxed);
                return true;
            }
            false
        })));
    }
    let context = match Context::full(&runtime) {
        Ok(context) => context,
        Err(e) => return Ended::Unavailable(e.to_string()),
    };
    let ended = context.with(|ctx| match start(&ctx, host, plan) {
        Ok(()) => Ended::Returned,
        Err(rquickjs::Error::Exception) => thrown(&ctx),
        Err(rquickjs::Error::Allocation) => Ended::OutOfMemory,
        Err(e) => Ended::Thrown {
            message: e.to_string(),
            stack: String::new(),
            failure: None,
        },
    });
    if timed_out.load(Ordering::Relaxed) {
        return Ended::TimedOut;
    }
    ended
}

/// Installs the native functions, evaluates the prelude and runs the plan.
fn start<'js>(ctx: &Ctx<'js>, host: Arc<impl Host>, plan: String) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    let call = Function::new(ctx.clone(), move |op: String, arg: String| {
        host.call(&op, &arg)
    })?;
    globals.set("__ironworxHost", call)?;
    let compile = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, source: String, file: String| -> rquickjs::Result<Function<'js>> {
            ctx.eval_with_options(source, options(file, false))
        },
    )?;
    globals.set("__ironworxCompile", compile)?;
    let main: Function = ctx.eval_with_options(PRELUDE, options(PRELUDE_FILE.into(), true))?;
    main.call::<_, ()>((plan,))
}

/// Global code named `file`; service code is sloppy, as ThingWorx runs it.
fn options(file: String, strict: bool) -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = strict;
    options.filename = Some(file);
    options
}

/// What the pending exception says.
fn thrown(ctx: &Ctx<'_>) -> Ended {
    let value: Value = ctx.catch();
    // QuickJS throws `null` when it cannot even allocate its out-of-memory error (a script's
    // own `throw null` reads the same; scripts do not throw `null`).
    if value.is_null() {
        return Ended::OutOfMemory;
    }
    let Some(object) = value.as_object() else {
        let message = Coerced::<String>::from_js(ctx, value)
            .map(|c| c.0)
            .unwrap_or_else(|_| "an exception was thrown".into());
        return Ended::Thrown {
            message,
            stack: String::new(),
            failure: None,
        };
    };
    let text = |o: &Object, key: &str| o.get::<_, Option<Coerced<String>>>(key).ok().flatten();
    let message = text(object, "message").map(|c| c.0).unwrap_or_default();
    let stack = text(object, "stack").map(|c| c.0).unwrap_or_default();
    let name = text(object, "name").map(|c| c.0).unwrap_or_default();
    if name == "InternalError" && message == "out of memory" {
        return Ended::OutOfMemory;
    }
    if name == "RangeError"
        && (message.contains("stack overflow") || message.contains("call stack size exceeded"))
    {
        return Ended::StackOverflow;
    }
    let failure = object
        .get::<_, Option<f64>>("ironworxFailure")
        .ok()
        .flatten();
    let message = if name.is_empty() || name == "Error" {
        message
    } else {
        format!("{name}: {message}")
    };
    Ended::Thrown {
        message,
        stack,
        failure: failure.filter(|f| *f >= 0.0).map(|f| f as u64),
    }
}

/// The line of the script file `file` (`Things/<T>/Services/<S>`) nearest the top of
/// `stack`, with the Thing and service it names: the frame where the error happened.
pub fn locate(stack: &str) -> Option<(String, String, Option<u32>)> {
    stack.lines().find_map(|line| {
        let start = line.find("Things/")?;
        let rest = &line[start..];
        let rest = rest.strip_suffix(')').unwrap_or(rest);
        // `file:line:column` or `file:line`.
        let mut file = rest;
        let mut numbers = Vec::new();
        while let Some((head, tail)) = file.rsplit_once(':') {
            match tail.parse::<u32>() {
                Ok(n) if numbers.len() < 2 => {
                    numbers.push(n);
                    file = head;
                }
                _ => break,
            }
        }
        let line_number = numbers.last().copied();
        let (thing, service) = file.strip_prefix("Things/")?.rsplit_once("/Services/")?;
        Some((thing.to_owned(), service.to_owned(), line_number))
    })
}

/// The file name of the service `service` of Thing `thing` (see [`locate`]).
pub fn file_of(thing: &str, service: &str) -> String {
    format!("Things/{thing}/Services/{service}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A host that answers every operation from a list, recording what it was asked.
    struct Scripted {
        calls: Arc<Mutex<Vec<(String, String)>>>,
        answer: fn(&str, &str) -> String,
    }

    impl Host for Scripted {
        fn call(&self, op: &str, arg: &str) -> String {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push((op.to_owned(), arg.to_owned()));
            }
            (self.answer)(op, arg)
        }
        fn cancelled(&self) -> bool {
            false
        }
    }

    fn plan(code: &str) -> String {
        let source = crate::script::catalog::wrap(&[], code);
        serde_json::json!({
            "thing": "T",
            "service": "S",
            "file": file_of("T", "S"),
            "source": source,
            "params": [],
            "resultType": "NUMBER",
        })
        .to_string()
    }

    fn limits(seconds: u64) -> Limits {
        Limits {
            timeout: Duration::from_secs(seconds),
            memory_bytes: 16 * 1024 * 1024,
        }
    }

    fn null(_: &str, _: &str) -> String {
        "{\"v\":null}".into()
    }

    fn run_code(code: &str, seconds: u64) -> (Ended, Vec<(String, String)>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let host = Scripted {
            calls: Arc::clone(&calls),
            answer: null,
        };
        let ended = run(limits(seconds), plan(code), host);
        let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
        (ended, calls)
    }

    #[test]
    fn a_result_goes_to_the_host() {
        let (ended, calls) = run_code("result = 20 + 22;", 5);
        assert_eq!(ended, Ended::Returned);
        assert!(
            calls
                .iter()
                .any(|(op, arg)| op == "result" && arg.contains("42"))
        );
        assert_eq!(calls.last().map(|(op, _)| op.as_str()), Some("leave"));
    }

    #[test]
    fn a_script_cannot_change_what_the_prelude_uses() {
        let (ended, calls) = run_code(
            "JSON.parse = function () { return { v: 1 }; };\n\
             JSON.stringify = function () { return '{}'; };\nresult = 5;",
            5,
        );
        assert_eq!(ended, Ended::Returned);
        assert!(
            calls
                .iter()
                .any(|(op, arg)| op == "result" && arg.contains('5'))
        );
    }

    #[test]
    fn a_throw_names_its_line() {
        let (ended, _) = run_code("var a = 1;\n\nthrow new Error('boom');", 5);
        let Ended::Thrown { message, stack, .. } = ended else {
            panic!("{ended:?}");
        };
        assert_eq!(message, "boom");
        assert_eq!(
            locate(&stack),
            Some(("T".to_owned(), "S".to_owned(), Some(3)))
        );
    }

    #[test]
    fn a_syntax_error_is_thrown() {
        let (ended, _) = run_code("var a = 1;\nvar = ;", 5);
        let Ended::Thrown { message, stack, .. } = &ended else {
            panic!("{ended:?}");
        };
        assert!(message.starts_with("SyntaxError"), "{ended:?}");
        assert_eq!(
            locate(stack),
            Some(("T".to_owned(), "S".to_owned(), Some(2))),
            "{ended:?}"
        );
    }

    #[test]
    fn limits_stop_scripts() {
        let (ended, _) = run_code("while (true) {}", 1);
        assert_eq!(ended, Ended::TimedOut);
        // Small allocations leave no room for the error (QuickJS throws `null`), large ones do.
        for size in [1_000, 100_000] {
            let code = format!("var a = []; while (true) {{ a.push('x'.repeat({size})); }}");
            let (ended, _) = run_code(&code, 30);
            assert_eq!(ended, Ended::OutOfMemory, "{size}");
        }
        let (ended, _) = run_code("function f() { return f() + 1; } f();", 30);
        assert_eq!(ended, Ended::StackOverflow);
    }

    #[test]
    fn nothing_of_the_machine_is_reachable() {
        let (ended, _) = run_code(
            "if (typeof require !== 'undefined' || typeof std !== 'undefined' || \
             typeof os !== 'undefined' || typeof __ironworxHost !== 'undefined') \
             throw new Error('reachable');",
            5,
        );
        assert_eq!(ended, Ended::Returned);
        let (ended, _) = run_code("import('os');", 5);
        assert_eq!(ended, Ended::Returned);
        let (ended, _) = run_code("pause(1000);", 5);
        assert!(
            matches!(&ended, Ended::Thrown { message, .. } if message.contains("pause() is refused")),
            "{ended:?}"
        );
    }
}
