//! Script services against the built-in routes, side by side in one run on the same server
//! and credential (the application key of the reader, granted ServiceInvoke on each service):
//!
//! - (e) `POST …/Services/Trivial` (`result = me.Pressure + 1`) against (f) `POST
//!   …/Services/GetPropertyValues`, wrk with the usual load, taking turns;
//! - (g) `POST …/Services/ReadLoop` (a loop of 10,000 `Things["BenchTank"].Level`) against
//!   (h) the trivial service and (i) the authorized REST read of `Pressure`, each on one
//!   connection (`wrk -t1 -c1`), so that a request's mean time is 1 / its rate: one read in a
//!   script costs ((g) − (h)) / 10,000, compared with (i);
//! - the first call of a service (resolved from the database, compiled) against its later
//!   calls, one request at a time, on services added for the purpose.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::{
    ADMIN, ADMIN_PASSWORD, GROUP, Load, PROPERTY, THING, Variant, admin_post, basic, median, range,
    request, wrk,
};

/// The Thing the read loop reads, and its property.
const TANK: &str = "BenchTank";
const LEVEL: &str = "Level";
/// Property reads in one call of the loop.
const READS: f64 = 10_000.0;
/// Goals: (e) ≥ 0.5 × (f); one read in a script ≤ 1/100 of (i).
const GOAL_TRIVIAL: f64 = 0.5;
const GOAL_READ: f64 = 0.01;
/// Services whose first call is timed, and later calls timed per service.
const FRESH: usize = 10;
const LATER: usize = 20;

/// Adds the script service `name` (NUMBER result) to the Thing and lets the reader's group
/// invoke it.
fn script_service(addr: &str, name: &str, code: &str) {
    let thing = format!("/Thingworx/Things/{THING}");
    admin_post(
        addr,
        &format!("{thing}/Services/AddServiceDefinition"),
        json!({
            "name": name,
            "parameters": {"rows": []},
            "resultType": {"rows": [{"name": "result", "baseType": "NUMBER"}]},
            "code": code,
        }),
    );
    invoke_grant(addr, name);
}

fn invoke_grant(addr: &str, service: &str) {
    admin_post(
        addr,
        &format!("/Thingworx/Things/{THING}/Services/AddRunTimePermission"),
        json!({"principal": GROUP, "principalType": "Group", "resource": service,
               "type": "ServiceInvoke", "allow": true}),
    );
}

/// The Thing the loop reads (the reader may read its property) and the services.
pub fn setup(addr: &str) {
    admin_post(
        addr,
        "/Thingworx/Resources/EntityServices/Services/CreateThing",
        json!({"name": TANK, "thingTemplateName": "GenericThing"}),
    );
    let tank = format!("/Thingworx/Things/{TANK}");
    admin_post(
        addr,
        &format!("{tank}/Services/AddPropertyDefinition"),
        json!({"name": LEVEL, "type": "NUMBER"}),
    );
    let body = json!({ LEVEL: 2.0 }).to_string();
    let res = request(
        addr,
        "PUT",
        &format!("{tank}/Properties/{LEVEL}"),
        &[basic(ADMIN, ADMIN_PASSWORD)],
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(res.status, 200, "write {LEVEL}: {}", res.body);
    admin_post(
        addr,
        &format!("{tank}/Services/AddRunTimePermission"),
        json!({"principal": GROUP, "principalType": "Group", "resource": LEVEL,
               "type": "PropertyRead", "allow": true}),
    );
    script_service(addr, "Trivial", "result = me.Pressure + 1;");
    script_service(
        addr,
        "ReadLoop",
        &format!(
            "var s = 0; for (var i = 0; i < {READS}; i++) {{ s += Things[\"{TANK}\"].{LEVEL}; }} result = s;"
        ),
    );
    invoke_grant(addr, "GetPropertyValues");
}

/// The wrk script of a `POST` with the body `{}`, counting answers other than 200 as the
/// write script does.
fn post_script() -> String {
    r#"wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  not_ok = 0
end
function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_ok")
  end
  io.write(string.format("answers other than 200: %d\n", total))
end
"#
    .to_owned()
}

/// Milliseconds one `POST` of `service` with the key takes, on a new connection; requires a
/// 200 with `expected` as its result.
fn timed_call(addr: &str, key: &(&'static str, String), service: &str, expected: f64) -> f64 {
    let path = format!("/Thingworx/Things/{THING}/Services/{service}");
    let started = Instant::now();
    let res = request(
        addr,
        "POST",
        &path,
        std::slice::from_ref(key),
        Some(("application/json", b"{}")),
    );
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(res.status, 200, "{service}: {}", res.body);
    assert_eq!(
        res.json()["rows"][0]["result"].as_f64(),
        Some(expected),
        "{service}: {}",
        res.body
    );
    ms
}

pub fn run(label: &str, addr: &str, app_key: &str, load: &Load, dir: &Path) {
    let key = ("appKey", app_key.to_owned());
    // The answers are right before anything is timed.
    timed_call(addr, &key, "Trivial", 4.5);
    timed_call(addr, &key, "ReadLoop", 2.0 * READS);
    let values = request(
        addr,
        "POST",
        &format!("/Thingworx/Things/{THING}/Services/GetPropertyValues"),
        std::slice::from_ref(&key),
        Some(("application/json", b"{}")),
    );
    assert_eq!(values.status, 200, "GetPropertyValues: {}", values.body);

    let script = dir.join("post.lua");
    std::fs::write(&script, post_script()).expect("write the wrk script");
    let service = |name: &str, service: &str| Variant {
        name: name.to_owned(),
        addr: addr.to_owned(),
        path: format!("/Thingworx/Things/{THING}/Services/{service}"),
        header: Some(key.clone()),
        script: Some(script.clone()),
    };
    let throughput = [
        service("(e) script service Trivial", "Trivial"),
        service("(f) GetPropertyValues", "GetPropertyValues"),
    ];
    let single = Load {
        seconds: load.seconds,
        rounds: load.rounds,
        connections: 1,
        threads: 1,
    };
    let sequential = [
        service("(g) script ReadLoop, -c1", "ReadLoop"),
        service("(h) script Trivial, -c1", "Trivial"),
        Variant {
            name: "(i) REST property read, -c1".to_owned(),
            addr: addr.to_owned(),
            path: format!("/Thingworx/Things/{THING}/Properties/{PROPERTY}"),
            header: Some(key.clone()),
            script: None,
        },
    ];
    for variant in &throughput {
        wrk(variant, load, 2);
    }
    for variant in &sequential {
        wrk(variant, &single, 2);
    }
    let mut rates = vec![Vec::new(); throughput.len() + sequential.len()];
    let mut p99s = vec![Vec::new(); rates.len()];
    for round in 0..load.rounds {
        let turn = usize::try_from(round).unwrap_or(0);
        for k in 0..throughput.len() {
            let i = (k + turn) % throughput.len();
            let run = wrk(&throughput[i], load, load.seconds);
            println!(
                "{label} round {}: {:<32} {:>9.0} req/s  p99 {:>7.2} ms",
                round + 1,
                throughput[i].name,
                run.requests_per_sec,
                run.p99_ms
            );
            rates[i].push(run.requests_per_sec);
            p99s[i].push(run.p99_ms);
        }
        for k in 0..sequential.len() {
            let i = (k + turn) % sequential.len();
            let run = wrk(&sequential[i], &single, load.seconds);
            println!(
                "{label} round {}: {:<32} {:>9.1} req/s  p99 {:>7.2} ms",
                round + 1,
                sequential[i].name,
                run.requests_per_sec,
                run.p99_ms
            );
            rates[throughput.len() + i].push(run.requests_per_sec);
            p99s[throughput.len() + i].push(run.p99_ms);
        }
    }

    // First calls against later ones, one request at a time.
    let mut first = Vec::new();
    let mut later = Vec::new();
    for n in 0..FRESH {
        let name = format!("Fresh{n}");
        script_service(
            addr,
            &name,
            &format!(
                "var a = [];\nfor (var i = 0; i < 10; i++) {{ a.push(i * {n}); }}\nresult = a.length + me.Pressure;"
            ),
        );
        first.push(timed_call(addr, &key, &name, 13.5));
        for _ in 0..LATER {
            later.push(timed_call(addr, &key, &name, 13.5));
        }
    }

    println!(
        "\n{label} scripts ({} rounds of {} s; (e), (f) wrk -t{} -c{}; (g), (h), (i) wrk -t1 -c1):",
        load.rounds, load.seconds, load.threads, load.connections
    );
    println!("| load | req/s (median) | req/s (range) | p99 ms (median) |");
    println!("|---|---:|---:|---:|");
    let names = throughput.iter().chain(&sequential).map(|v| v.name.clone());
    for ((name, r), p) in names.zip(&rates).zip(&p99s) {
        println!(
            "| {name} | {:.1} | {} | {:.2} |",
            median(r.clone()),
            range(r, 1),
            median(p.clone())
        );
    }
    let trivial: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(e, f)| e / f).collect();
    let t = median(trivial.clone());
    println!(
        "(e) / (f): {t:.2} ({}); goal ≥ {GOAL_TRIVIAL}: {}",
        range(&trivial, 2),
        if t >= GOAL_TRIVIAL { "met" } else { "MISSED" }
    );
    // Per round: one read in the loop (µs) and its share of a REST read.
    let per_read: Vec<f64> = (0..rates[2].len())
        .map(|i| (1e6 / rates[2][i] - 1e6 / rates[3][i]) / READS)
        .collect();
    let share: Vec<f64> = (0..rates[2].len())
        .map(|i| per_read[i] / (1e6 / rates[4][i]))
        .collect();
    let s = median(share.clone());
    println!(
        "one read in a script: {:.3} µs against {:.1} µs for a REST read (i): 1/{:.0} ({}); goal ≤ 1/{:.0}: {}",
        median(per_read.clone()),
        1e6 / median(rates[4].clone()),
        1.0 / s,
        range(&share, 4),
        1.0 / GOAL_READ,
        if s <= GOAL_READ { "met" } else { "MISSED" }
    );
    println!(
        "first call of a service: {:.2} ms median ({}) of {FRESH}; later calls: {:.2} ms median ({}) of {}",
        median(first.clone()),
        range(&first, 2),
        median(later.clone()),
        range(&later, 2),
        later.len()
    );
    println!();
    // The admin may still read the Thing (nothing the loads did broke it).
    let check = request(
        addr,
        "GET",
        &format!("/Thingworx/Things/{TANK}/Properties/{LEVEL}"),
        &[basic(ADMIN, ADMIN_PASSWORD)],
        None,
    );
    assert_eq!(check.status, 200, "{}", check.body);
}
