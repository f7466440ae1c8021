//! Run-time authorization check, side by side with `cedar-policy`, on one generated model.
//!
//! The model: 10k users, 1k groups (nested up to three deep), 50 organizations with unit trees,
//! 200 ThingShapes, 1k ThingTemplates (base chains up to three long), 100k Things. Rules sit at
//! every level (a Thing's own rules, template and shape instance rules, the Things collection),
//! allow and deny, on named resources and on `*`. The rule count is the parameter: 2k, 100k and
//! 1M by default (`AUTHZ_BENCH_SIZES=2000,100000` to choose; `AUTHZ_BENCH_CEDAR_MAX=100000` to
//! skip Cedar above a size).
//!
//! Both engines decide the same sample of requests (70% allow, 20% denied by a deny rule, 10%
//! not visible) and must agree on every one before anything is timed; a second, unfiltered
//! random sample is checked as well. Ours is also timed on that second sample, which holds the
//! same requests at every size, so the sizes can be compared like for like. Each sample holds
//! 100k requests (`AUTHZ_BENCH_REQUESTS`), so that at every size they reach most of the 100k
//! Things instead of a few thousand that stay in cache; `AUTHZ_BENCH_ROUNDS` sets the measured
//! rounds (5). The engines take turns round by round, so noise from a shared machine falls on
//! both. Each round times every engine two ways with `std::time::Instant`:
//!
//! - each call on its own, less the cost of one clock read (measured at the start). Its p99 is
//!   the engine's own slow cases: a machine interrupt lands on one call in thousands.
//! - batches of 64 calls, each batch's time divided by 64, p50 and p99 over those batch means;
//!   a batch during which the thread was switched out (another process took the CPU) is left
//!   out, for every engine alike (the figures over every batch are printed as well). The p99 of
//!   batch means moves with the machine's interrupts: the bench prints how often the thread is
//!   held up for more than 2 µs and for how long (400 to 1,000 times a second, about 20 µs
//!   each, on a 2-vCPU guest), and at that rate 1% to 6% of our batches hold one.
//!
//! Flatness (how the check's p99 grows from the smallest to the largest size) is a ratio between
//! sizes, so it is measured the same way: after every size has been run beside Cedar, each
//! size's index and samples are kept, and ours is timed again with the sizes taking turns, pass
//! by pass (`AUTHZ_BENCH_ROUNDS` × 4 rounds), both ways.
//!
//! Run: `cargo bench -p ironworx-server --features bench-cedar --bench authz`.

mod cedar;
mod model;
mod timing;

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar::*;
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request as CedarRequest, RestrictedExpression,
};
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, PermissionKind, PrincipalType, builtin, unit_principal_name,
};
use ironworx_server::authz::{
    AuthzIndex, EntityFact, EntityIdx, Facts, Layer, Outcome, Request, StepEffect, Target,
    UnitFact, decide, explain,
};
use model::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use timing::*;

const USERS: usize = 10_000;
const GROUPS: usize = 1_000;
const ORGANIZATIONS: usize = 50;
const SHAPES: usize = 200;
const TEMPLATES: usize = 1_000;
const THINGS: usize = 100_000;
/// Generated groups by tier: 0..TIER1 are top groups, TIER1..TIER2 sit in a top group, the rest
/// in a tier-1 group (so a user reaches at most three levels of groups).
const TIER1: usize = 100;
const TIER2: usize = 400;

/// Requests per sample (`AUTHZ_BENCH_REQUESTS` to change): enough that at every size they spread
/// over most of the 100k Things, instead of a few thousand replayed from a warm cache.
const REQUESTS: usize = 100_000;
/// The mixed sample's shares, in percent: allowed, denied by a deny rule, not visible.
const SHARES: [usize; 3] = [70, 20, 10];
const BATCH: usize = 64;
/// Measured rounds; each times Cedar once and ours `OUR_PASSES` times.
const ROUNDS: usize = 5;
const OUR_PASSES: usize = 4;

const MODEL_SEED: u64 = 0x1_2026_0001;
const RULE_SEED: u64 = 0x1_2026_0002;
const REQUEST_SEED: u64 = 0x1_2026_0003;

const DEFAULT_SIZES: &[usize] = &[2_000, 100_000, 1_000_000];

fn main() {
    let sizes = env_sizes("AUTHZ_BENCH_SIZES").unwrap_or_else(|| DEFAULT_SIZES.to_vec());
    let cedar_max = env_sizes("AUTHZ_BENCH_CEDAR_MAX")
        .and_then(|v| v.first().copied())
        .unwrap_or(usize::MAX);
    let shape = RunShape::from_env();
    let t = Instant::now();
    let model = generate_model();
    println!(
        "# Authorization check: ours vs cedar-policy {}\n\nmodel generated in {}: {} users, {} groups, {} organizations ({} units), {} templates, {} shapes, {} Things; {} requests per size, batches of {BATCH} calls",
        cedar_policy::get_sdk_version(),
        ms(t.elapsed()),
        model.users.len(),
        model.groups.len() + 2,
        model.organizations.len(),
        model.units.len(),
        model.templates.len(),
        model.shapes.len(),
        model.things.len(),
        shape.requests,
    );
    let clock = clock();
    println!(
        "one clock read costs {} ns (single-call times are given less that cost); the thread was held up {} times a second for more than 2 µs, for {} ns at the median and {} ns at p90",
        clock.read_ns, clock.holdups_per_s, clock.holdup_p50_ns, clock.holdup_p90_ns
    );
    let (rows, held): (Vec<Row>, Vec<Held>) = sizes
        .iter()
        .map(|rules| run_size(&model, *rules, cedar_max, shape, clock.read_ns))
        .unzip();
    let turns_rounds = shape.rounds * OUR_PASSES;
    println!(
        "\n## ours, the sizes taking turns: {turns_rounds} rounds; load average {}",
        load()
    );
    let turns = sizes_taking_turns(&held, turns_rounds, clock.read_ns);
    drop(held);
    println!("load average {}", load());

    println!(
        "\n| rules | index build | Cedar build | ours by id p50 / p99 | ours by name p50 / p99 | Cedar (request + is_authorized) p50 / p99 | Cedar is_authorized alone p50 / p99 | Cedar ÷ ours by name, p50 / p99 | mismatches |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (cedar_build, cedar, authorize, ratio, mismatches) = match &r.cedar {
            Some(c) => (
                ms(c.build),
                kept(&c.check),
                kept(&c.authorize),
                format!(
                    "{:.1}× / {:.1}×",
                    c.check.p50 / r.by_name.p50,
                    c.check.p99 / r.by_name.p99
                ),
                format!("{} of {} ({} errors)", c.mismatches, c.checked, c.errors),
            ),
            None => (
                "not run".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
            ),
        };
        println!(
            "| {} | {} | {cedar_build} | {} | {} | {cedar} | {authorize} | {ratio} | {mismatches} |",
            r.rules,
            ms(r.index_build),
            kept(&r.by_id),
            kept(&r.by_name),
        );
    }
    println!(
        "\nOver every batch, switched out or not:\n\n| rules | ours by id p50 / p99 | ours by name p50 / p99 | Cedar p50 / p99 | Cedar ÷ ours by name, p50 / p99 | batches switched out: ours by name, Cedar |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (cedar, ratio, dropped) = match &r.cedar {
            Some(c) => (
                every(&c.check),
                format!(
                    "{:.1}× / {:.1}×",
                    c.check.all_p50 / r.by_name.all_p50,
                    c.check.all_p99 / r.by_name.all_p99
                ),
                format!("{:.1}%", c.check.dropped * 100.0),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {} | {cedar} | {ratio} | {:.1}%, {dropped} |",
            r.rules,
            every(&r.by_id),
            every(&r.by_name),
            r.by_name.dropped * 100.0,
        );
    }
    println!(
        "\nEach call timed on its own (less one clock read), same rounds:\n\n| rules | ours by id p50 / p99 | ours by name p50 / p99 | Cedar p50 / p99 | Cedar ÷ ours by name, p50 / p99 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let pair = |(p50, p99): (f64, f64)| format!("{} / {}", ns(p50), ns(p99));
    for r in &rows {
        let (cedar, ratio) = match &r.cedar {
            Some(c) => (
                pair(c.check_calls),
                format!(
                    "{:.1}× / {:.1}×",
                    c.check_calls.0 / r.calls[1].0,
                    c.check_calls.1 / r.calls[1].1
                ),
            ),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {} | {cedar} | {ratio} |",
            r.rules,
            pair(r.calls[0]),
            pair(r.calls[1])
        );
    }
    println!(
        "\nThe same {} uniform requests at every size (default denies included):\n\n| rules | ours by id p50 / p99 | ours by name p50 / p99 |",
        shape.requests
    );
    println!("|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} |",
            r.rules,
            kept(&r.same_by_id),
            kept(&r.same_by_name)
        );
    }
    if let Some(r) = rows.first() {
        println!(
            "\n{} entities in the index at every size.",
            r.index_entities
        );
    }
    for r in &rows {
        if let Some(c) = &r.cedar {
            for (how, (p50, p99)) in [
                (
                    "batch means",
                    (c.check.p50 / r.by_name.p50, c.check.p99 / r.by_name.p99),
                ),
                (
                    "single calls",
                    (
                        c.check_calls.0 / r.calls[1].0,
                        c.check_calls.1 / r.calls[1].1,
                    ),
                ),
            ] {
                let verdict = if p50 >= 20.0 && p99 >= 20.0 {
                    "met"
                } else {
                    "missed"
                };
                println!(
                    "{} rules ({how}): Cedar ÷ ours by name = {p50:.1}× at p50, {p99:.1}× at p99 (goal ≥ 20×: {verdict})",
                    r.rules
                );
            }
        }
    }
    println!(
        "\nOurs, the sizes taking turns pass by pass ({turns_rounds} measured rounds):\n\n| rules | mixed, by id p50 / p99 | mixed, by name p50 / p99 | same requests, by id p50 / p99 | same requests, by name p50 / p99 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for (rules, (d, _)) in &turns {
        println!(
            "| {rules} | {} | {} | {} | {} |",
            kept(&d[0]),
            kept(&d[1]),
            kept(&d[2]),
            kept(&d[3])
        );
    }
    println!(
        "\nThe same turns, each call timed on its own (less one clock read):\n\n| rules | mixed, by id p50 / p99 | mixed, by name p50 / p99 | same requests, by id p50 / p99 | same requests, by name p50 / p99 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for (rules, (_, c)) in &turns {
        println!(
            "| {rules} | {} | {} | {} | {} |",
            pair(c[0]),
            pair(c[1]),
            pair(c[2]),
            pair(c[3])
        );
    }
    if let (Some((first_rules, first)), Some((last_rules, last))) = (turns.first(), turns.last())
        && turns.len() > 1
    {
        for (how, p99s) in [
            (
                "batch means",
                [0, 1, 2, 3].map(|i| (first.0[i].p99, last.0[i].p99)),
            ),
            (
                "single calls",
                [0, 1, 2, 3].map(|i| (first.1[i].1, last.1[i].1)),
            ),
        ] {
            for (what, id, name) in [
                ("the mixed sample", 0, 1),
                ("the same requests at every size", 2, 3),
            ] {
                let by_id = p99s[id].1 / p99s[id].0;
                let by_name = p99s[name].1 / p99s[name].0;
                let verdict = if by_id <= 1.5 && by_name <= 1.5 {
                    "met"
                } else {
                    "missed"
                };
                println!(
                    "flatness ({how}) on {what}, sizes taking turns, p99 at {last_rules} rules ÷ p99 at {first_rules} rules: by id {by_id:.2}, by name {by_name:.2} (goal ≤ 1.5: {verdict})",
                );
            }
        }
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        let by_id = last.by_id.p99 / first.by_id.p99;
        let by_name = last.by_name.p99 / first.by_name.p99;
        println!(
            "(the same ratio from the sizes measured one after the other, beside Cedar: by id {by_id:.2}, by name {by_name:.2})"
        );
    }
}
