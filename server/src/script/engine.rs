//! The QuickJS side of one outermost invocation, run on a blocking thread: the thread's warm
//! runtime and context (the language only: no module loader, no file, network or process
//! access; the prelude `prelude.js` evaluated once, everything reachable frozen), under the
//! memory limit with an interrupt handler that stops it at the deadline; the plan; and what
//! ended it. The context is reused for the thread's next call when the prelude could put the
//! global object back; after a limit or a failed reset it is dropped. Everything the script
//! asks of the server goes through [`Host`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ironworx_entity::vocab::Collection;
use rquickjs::context::EvalOptions;
use rquickjs::convert::Coerced;
use rquickjs::{Context, Ctx, FromJs, Function, Object, Persistent, Runtime, Value};

/// The script API evaluated before every service.
const PRELUDE: &str = include_str!("prelude.js");

/// The file name the prelude's frames carry.
const PRELUDE_FILE: &str = "ironworx:prelude";

/// How many calls a warm context runs between full garbage collections.
const GC_EVERY: u32 = 32;

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
    /// The service returned: `{"value": …}` as JSON text (the outermost result, untyped).
    Returned(String),
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

/// A context with the prelude evaluated, kept by the blocking thread that made it and reused
/// for one call after another (see `prelude.js` for what keeps calls apart).
struct Warm {
    /// The prelude's `main` and `reset`.
    api: Persistent<Object<'static>>,
    /// Calls run since the last full collection.
    since_gc: Cell<u32>,
    /// The host of the call running now.
    slot: Slot,
    context: Context,
    runtime: Runtime,
}

/// Where the native host function finds the host of the call running now.
type Slot = Rc<RefCell<Option<Box<dyn Host>>>>;

thread_local! {
    /// This thread's warm context, when it has one and no call is running in it.
    static WARM: RefCell<Option<Warm>> = const { RefCell::new(None) };
}

impl Warm {
    fn new() -> Result<Warm, String> {
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        runtime.set_max_stack_size(STACK_BYTES);
        let context = Context::full(&runtime).map_err(|e| e.to_string())?;
        let slot: Slot = Rc::new(RefCell::new(None));
        let api = context
            .with(|ctx| -> rquickjs::Result<Persistent<Object<'static>>> {
                let api = install(&ctx, Rc::clone(&slot))?;
                Ok(Persistent::save(&ctx, api))
            })
            .map_err(|e| e.to_string())?;
        Ok(Warm {
            since_gc: Cell::new(0),
            api,
            slot,
            context,
            runtime,
        })
    }
}

/// Runs `plan` (JSON, see `prelude.js`'s `main`) under `limits`, asking `host`, in this
/// thread's warm context (made first when there is none); the context is kept for the next
/// call only when the call returned or threw and the prelude's reset succeeded.
pub fn run(limits: Limits, plan: String, host: impl Host) -> Ended {
    let warm = match WARM.with(|w| w.borrow_mut().take()) {
        Some(warm) => warm,
        None => match Warm::new() {
            Ok(warm) => warm,
            Err(why) => return Ended::Unavailable(why),
        },
    };
    let (ended, reusable) = run_in(&warm, limits, plan, Box::new(host));
    if let Ok(mut slot) = warm.slot.try_borrow_mut() {
        *slot = None;
    }
    warm.runtime.set_interrupt_handler(None);
    if reusable && !warm.runtime.is_job_pending() {
        // Reference counting frees a call's garbage as it goes and QuickJS collects cycles
        // when its heap grows; a full collection (which walks every frozen intrinsic) runs
        // only every `GC_EVERY` calls, so cycles one call left never stay long.
        let calls = warm.since_gc.get() + 1;
        if calls >= GC_EVERY {
            warm.runtime.run_gc();
            warm.since_gc.set(0);
        } else {
            warm.since_gc.set(calls);
        }
        WARM.with(|w| *w.borrow_mut() = Some(warm));
    }
    ended
}

/// One call in `warm`: what ended it and whether the context may be reused.
fn run_in(warm: &Warm, limits: Limits, plan: String, host: Box<dyn Host>) -> (Ended, bool) {
    match warm.slot.try_borrow_mut() {
        Ok(mut slot) => *slot = Some(host),
        Err(_) => {
            return (
                Ended::Unavailable("the script context is busy".into()),
                false,
            );
        }
    }
    warm.runtime.set_memory_limit(limits.memory_bytes);
    let deadline = Instant::now() + limits.timeout;
    let timed_out = Rc::new(Cell::new(false));
    {
        let timed_out = Rc::clone(&timed_out);
        let slot = Rc::clone(&warm.slot);
        warm.runtime.set_interrupt_handler(Some(Box::new(move || {
            let cancelled = slot
                .try_borrow()
                .map(|h| h.as_ref().is_some_and(|h| h.cancelled()))
                .unwrap_or(false);
            if Instant::now() >= deadline || cancelled {
                timed_out.set(true);
                return true;
            }
            false
        })));
    }
    let (ended, reusable) = warm.context.with(|ctx| {
        let api = match warm.api.clone().restore(&ctx) {
            Ok(api) => api,
            Err(e) => return (Ended::Unavailable(e.to_string()), false),
        };
        let outcome = api
            .get::<_, Function>("main")
            .and_then(|main| main.call::<_, String>((plan,)));
        let ended = match outcome {
            Ok(value) => Ended::Returned(value),
            Err(rquickjs::Error::Exception) => thrown(&ctx),
            Err(rquickjs::Error::Allocation) => Ended::OutOfMemory,
            Err(e) => Ended::Thrown {
                message: e.to_string(),
                stack: String::new(),
                failure: None,
            },
        };
        let clean = matches!(ended, Ended::Returned(_) | Ended::Thrown { .. })
            && !timed_out.get()
            && api
                .get::<_, Function>("reset")
                .and_then(|reset| reset.call::<_, bool>(()))
                .unwrap_or(false);
        (ended, clean)
    });
    if timed_out.get() {
        return (Ended::TimedOut, false);
    }
    (ended, reusable)
}

/// Installs the native functions and evaluates the prelude; its `{main, reset}`.
fn install<'js>(ctx: &Ctx<'js>, slot: Slot) -> rquickjs::Result<Object<'js>> {
    let globals = ctx.globals();
    let call = Function::new(ctx.clone(), move |op: String, arg: String| {
        match slot.try_borrow() {
            Ok(host) => match host.as_ref() {
                Some(host) => host.call(&op, &arg),
                None => CANCELLED.to_owned(),
            },
            Err(_) => CANCELLED.to_owned(),
        }
    })?;
    globals.set("__ironworxHost", call)?;
    let compile = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, source: String, file: String| -> rquickjs::Result<Function<'js>> {
            ctx.eval_with_options(source, options(file, false))
        },
    )?;
    globals.set("__ironworxCompile", compile)?;
    ctx.eval_with_options(PRELUDE, options(PRELUDE_FILE.into(), true))
}

/// Whether `source` (a service wrapped by [`crate::script::catalog::wrap`]) compiles, in a
/// runtime of its own under `limits`: nothing of the body runs (the wrapped source is a
/// function expression). The syntax error, with its line, when it does not.
pub fn compiles(source: &str, file: &str, limits: Limits) -> Result<(), String> {
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    runtime.set_max_stack_size(STACK_BYTES);
    runtime.set_memory_limit(limits.memory_bytes);
    let deadline = Instant::now() + limits.timeout;
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() >= deadline)));
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    context.with(|ctx| {
        match ctx.eval_with_options::<Value, _>(source, options(file.to_owned(), false)) {
            Ok(_) => Ok(()),
            Err(rquickjs::Error::Exception) => match thrown(&ctx) {
                Ended::Thrown { message, stack, .. } => {
                    let line = stack
                        .lines()
                        .find_map(|l| l.split(&format!("{file}:")).nth(1))
                        .map(|rest| rest.trim_end_matches(')').to_owned());
                    Err(match line {
                        Some(at) => format!("{message} (at line:column {at})"),
                        None => message,
                    })
                }
                other => Err(format!("{other:?}")),
            },
            Err(e) => Err(e.to_string()),
        }
    })
}

/// The answer of the host function when no call is running.
const CANCELLED: &str = "{\"e\":\"the invocation was cancelled\"}";

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
    let things = Collection::Things.as_str();
    stack.lines().find_map(|line| {
        let start = line.find(&format!("{things}/"))?;
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
        let (thing, service) = file
            .strip_prefix(things)?
            .strip_prefix('/')?
            .rsplit_once("/Services/")?;
        Some((thing.to_owned(), service.to_owned(), line_number))
    })
}

/// The file name of the service `service` of Thing `thing` (see [`locate`]).
pub fn file_of(thing: &str, service: &str) -> String {
    format!("{}/{thing}/Services/{service}", Collection::Things.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

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

    fn returned(value: &str) -> Ended {
        Ended::Returned(format!("{{\"value\":{value}}}"))
    }

    #[test]
    fn a_result_may_be_declared_by_the_code() {
        assert_eq!(run_code("let result = 6 * 7;", 5).0, returned("42"));
        assert_eq!(run_code("const result = 'x';", 5).0, returned("\"x\""));
        assert_eq!(run_code("if (true) { result = 1; }", 5).0, returned("1"));
        // Assigning an undeclared name still makes no global.
        let (ended, _) = run_code("result = typeof globalThis.result;", 5);
        assert_eq!(ended, returned("\"undefined\""));
    }

    #[test]
    fn a_result_is_returned_without_asking_the_host() {
        let (ended, calls) = run_code("result = 20 + 22;", 5);
        assert_eq!(ended, returned("42"));
        assert!(calls.is_empty(), "{calls:?}");
    }

    #[test]
    fn nothing_a_call_leaves_is_seen_by_the_next() {
        // Each thread keeps one warm context: both calls run in it.
        let (ended, _) = run_code(
            "leaked = 'secret'; globalThis.other = 1; this.third = 2;\n\
             try { Object.prototype.spy = 'x'; } catch (e) {}\n\
             try { Array.prototype.push = function () {}; } catch (e) {}\n\
             try { JSON.stringify = function () { return 'x'; }; } catch (e) {}\n\
             try { Math.max = null; } catch (e) {}\n\
             try { Object.getPrototypeOf([][Symbol.iterator]()).next = null; } catch (e) {}\n\
             try { Object.getPrototypeOf(function* () {}).prototype.next = null; } catch (e) {}\n\
             Things = 5; logger = null; Symbol.iterator2 = 1;\n\
             /(sec)ret/.exec('secret');\n\
             var o = {}; o.toString = function () { return 'mine'; };\n\
             function F() {} F.prototype = {}; F.prototype.constructor = F;\n\
             var e = new Error(); e.message = 'set';\n\
             result = String(o) + (new F().constructor === F) + e.message;",
            5,
        );
        // Assigning what scripts commonly set on their own objects still works.
        assert_eq!(ended, returned("\"minetrueset\""));
        let (ended, _) = run_code(
            "result = [typeof leaked, typeof other, typeof third, typeof ({}).spy, \
             [1].push(2), JSON.stringify(1), typeof Math.max, [...[1, 2]].length, \
             typeof Things, typeof logger, typeof Symbol.iterator2, \
             typeof RegExp.lastMatch === 'string' ? RegExp.lastMatch : ''].join(',');",
            5,
        );
        assert_eq!(
            ended,
            returned(
                "\"undefined,undefined,undefined,undefined,2,1,function,2,object,object,undefined,\""
            )
        );
    }

    #[test]
    fn a_context_left_unclean_is_not_reused() {
        let (ended, _) = run_code(
            "Object.defineProperty(globalThis, 'stuck', { value: 'secret' }); result = 1;",
            5,
        );
        assert_eq!(ended, returned("1"));
        let (ended, _) = run_code("result = typeof stuck;", 5);
        assert_eq!(ended, returned("\"undefined\""));
        let (ended, _) = run_code("Object.preventExtensions(globalThis); result = 1;", 5);
        assert_eq!(ended, returned("1"));
        let (ended, _) = run_code("globalThis.x = 1; result = typeof x;", 5);
        assert_eq!(ended, returned("\"number\""));
        let (ended, _) = run_code(
            "Promise.resolve().then(function () { late = 1; }); result = 1;",
            5,
        );
        assert_eq!(ended, returned("1"));
        let (ended, _) = run_code("result = typeof late;", 5);
        assert_eq!(ended, returned("\"undefined\""));
        // After a limit, a fresh context.
        let (ended, _) = run_code("kept = 1; while (true) {}", 1);
        assert_eq!(ended, Ended::TimedOut);
        let (ended, _) = run_code("result = typeof kept;", 5);
        assert_eq!(ended, returned("\"undefined\""));
    }

    #[test]
    fn a_script_cannot_change_what_the_prelude_uses() {
        let (ended, calls) = run_code(
            "JSON.parse = function () { return { v: 1 }; };\n\
             JSON.stringify = function () { return '{}'; };\nresult = 5;",
            5,
        );
        assert_eq!(ended, returned("5"));
        assert!(calls.is_empty(), "{calls:?}");
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
    fn compiling_runs_nothing_and_names_a_syntax_error() {
        let limits = limits(5);
        let runs_forever = crate::script::catalog::wrap(&[], "while (true) {}");
        assert_eq!(
            compiles(&runs_forever, "Things/T/Services/S", limits),
            Ok(())
        );
        let broken = crate::script::catalog::wrap(&[], "var a = 1;\nvar = ;");
        let why = compiles(&broken, "Things/T/Services/S", limits).expect_err("a syntax error");
        assert!(why.contains("SyntaxError"), "{why}");
        assert!(why.contains("line:column 2"), "{why}");
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
        assert_eq!(ended, returned("null"));
        let (ended, _) = run_code("import('os');", 5);
        assert_eq!(ended, returned("null"));
        let (ended, _) = run_code("pause(1000);", 5);
        assert!(
            matches!(&ended, Ended::Thrown { message, .. } if message.contains("pause() is refused")),
            "{ended:?}"
        );
    }
}
