//! Measurement: clocks, rounds taken in turns, distributions and the printed rows.

use super::*;

/// How many times this thread has been switched out (voluntarily or not), from
/// `/proc/thread-self/status`; `None` where that file cannot be read.
pub(super) fn context_switches() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let mut total = 0;
    for line in status.lines() {
        if let Some(v) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            total += v.trim().parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Per-call nanoseconds of each timed batch: every batch, and the batches during which the
/// thread kept its CPU (no context switch between the batch's first and last call).
#[derive(Default)]
pub(super) struct Samples {
    pub(super) all: Vec<f64>,
    pub(super) kept: Vec<f64>,
}

/// One pass over the `n` requests in batches of `BATCH` consecutive calls; records the per-call
/// nanoseconds of each batch in `out` (a warm-up pass passes `None`).
pub(super) fn time_round(n: usize, out: Option<&mut Samples>, mut call: impl FnMut(usize) -> bool) {
    let mut local = Vec::with_capacity(n.div_ceil(BATCH));
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let before = context_switches();
        let t = Instant::now();
        for i in start..end {
            black_box(call(black_box(i)));
        }
        let per_call = t.elapsed().as_nanos() as f64 / (end - start) as f64;
        let switched = before != context_switches();
        local.push((per_call, switched));
        start = end;
    }
    if let Some(out) = out {
        for (per_call, switched) in local {
            out.all.push(per_call);
            if !switched {
                out.kept.push(per_call);
            }
        }
    }
}

#[derive(Clone, Copy, Default)]
pub(super) struct Dist {
    /// Over the batches that kept their CPU.
    pub(super) p50: f64,
    pub(super) p99: f64,
    /// Over every batch.
    pub(super) all_p50: f64,
    pub(super) all_p99: f64,
    /// Share of batches dropped because the thread was switched out.
    pub(super) dropped: f64,
}

pub(super) fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN)
    };
    (at(0.50), at(0.99))
}

pub(super) fn dist(samples: Samples) -> Dist {
    let dropped = 1.0 - samples.kept.len() as f64 / samples.all.len().max(1) as f64;
    let (all_p50, all_p99) = percentiles(samples.all);
    let (p50, p99) = percentiles(samples.kept);
    Dist {
        p50,
        p99,
        all_p50,
        all_p99,
        dropped,
    }
}

/// `p50 / p99` over the batches that kept their CPU, as the tables print it.
pub(super) fn kept(d: &Dist) -> String {
    format!("{} / {}", ns(d.p50), ns(d.p99))
}

/// `p50 / p99` over every batch.
pub(super) fn every(d: &Dist) -> String {
    format!("{} / {}", ns(d.all_p50), ns(d.all_p99))
}

/// `p50 / p99`, then the figures over every batch and the share dropped.
pub(super) fn show(d: &Dist) -> String {
    format!(
        "p50 {} p99 {} (every batch: p50 {} p99 {}; {:.1}% of batches switched out)",
        ns(d.p50),
        ns(d.p99),
        ns(d.all_p50),
        ns(d.all_p99),
        d.dropped * 100.0
    )
}

pub(super) struct Row {
    pub(super) rules: usize,
    pub(super) index_build: Duration,
    pub(super) index_entities: usize,
    pub(super) by_id: Dist,
    pub(super) by_name: Dist,
    /// Over the uniform sample, which holds the same requests at every size.
    pub(super) same_by_id: Dist,
    pub(super) same_by_name: Dist,
    /// Each call timed on its own (p50, p99): by id and by name on the mixed sample, then on
    /// the uniform one.
    pub(super) calls: [(f64, f64); 4],
    pub(super) cedar: Option<CedarRow>,
}

pub(super) struct CedarRow {
    pub(super) build: Duration,
    pub(super) check: Dist,
    /// Each call timed on its own: p50, p99.
    pub(super) check_calls: (f64, f64),
    pub(super) authorize: Dist,
    pub(super) mismatches: usize,
    pub(super) errors: usize,
    pub(super) checked: usize,
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

pub(super) fn ns(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

pub(super) fn env_sizes(name: &str) -> Option<Vec<usize>> {
    let value = std::env::var(name).ok()?;
    let sizes = value
        .split(',')
        .map(|s| s.trim().replace('_', ""))
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .expect("sizes are comma-separated integers")
        })
        .collect();
    Some(sizes)
}

/// The machine's load average, to judge how noisy a run was.
pub(super) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// How much one run measures: requests per sample and measured rounds, from the environment or
/// the defaults (a smaller run suits a profiler).
#[derive(Clone, Copy)]
pub(super) struct RunShape {
    pub(super) requests: usize,
    pub(super) rounds: usize,
}

impl RunShape {
    pub(super) fn from_env() -> RunShape {
        let first = |name: &str| env_sizes(name).and_then(|v| v.first().copied());
        RunShape {
            requests: first("AUTHZ_BENCH_REQUESTS")
                .filter(|n| *n >= 100)
                .unwrap_or(REQUESTS),
            rounds: first("AUTHZ_BENCH_ROUNDS")
                .filter(|n| *n >= 1)
                .unwrap_or(ROUNDS),
        }
    }
}

/// One pass over the `n` requests with each call timed on its own (the clock read between two
/// calls closes one and opens the next); records each call's nanoseconds, less the clock's own
/// cost `clock_ns`, in `out` (a warm-up pass passes `None`). An interrupt of the machine lands
/// on one call, not on a batch of 64: a batch of ours lasts 15 to 70 µs, so at 400 to 1,000
/// hold-ups a second 1% to 6% of the batches hold one, and the p99 of batch means is then the
/// hold-up spread over 64 calls.
pub(super) fn time_calls(
    n: usize,
    out: Option<&mut Vec<f32>>,
    clock_ns: f64,
    mut call: impl FnMut(usize) -> bool,
) {
    let mut local = Vec::with_capacity(n);
    let mut last = Instant::now();
    for i in 0..n {
        black_box(call(black_box(i)));
        let now = Instant::now();
        local.push((now.duration_since(last).as_nanos() as f64 - clock_ns).max(0.0) as f32);
        last = now;
    }
    if let Some(out) = out {
        out.extend(local);
    }
}

/// What one second of back-to-back clock reads shows: the cost of one read (the median gap),
/// how many times a second the thread was held up for more than 2 µs (interrupts, the
/// hypervisor, the scheduler), and the median and p90 of those hold-ups in nanoseconds.
pub(super) struct Clock {
    pub(super) read_ns: f64,
    pub(super) holdups_per_s: usize,
    pub(super) holdup_p50_ns: u128,
    pub(super) holdup_p90_ns: u128,
}

pub(super) fn clock() -> Clock {
    // Written before the clock runs, so that no page is first touched between two reads.
    let mut first = vec![u32::MAX; 1 << 20];
    let mut holdups = vec![u128::MAX; 1 << 16];
    holdups.clear();
    let mut reads = 0usize;
    let start = Instant::now();
    let mut last = start;
    while last.duration_since(start) < Duration::from_secs(1) {
        let now = Instant::now();
        let gap = now.duration_since(last).as_nanos();
        if let Some(slot) = first.get_mut(reads) {
            *slot = u32::try_from(gap).unwrap_or(u32::MAX);
        }
        if gap > 2_000 && holdups.len() < holdups.capacity() {
            holdups.push(gap);
        }
        reads += 1;
        last = now;
    }
    let elapsed = last.duration_since(start).as_secs_f64().max(1e-9);
    first.truncate(reads);
    first.sort_unstable();
    holdups.sort_unstable();
    let at = |v: &[u128], q: f64| v.get((v.len() as f64 * q) as usize).copied().unwrap_or(0);
    Clock {
        read_ns: f64::from(first.get(first.len() / 2).copied().unwrap_or(0)),
        holdups_per_s: (holdups.len() as f64 / elapsed).round() as usize,
        holdup_p50_ns: at(&holdups, 0.5),
        holdup_p90_ns: at(&holdups, 0.9),
    }
}

/// p50 and p99 of single calls.
pub(super) fn call_percentiles(v: Vec<f32>) -> (f64, f64) {
    percentiles(v.into_iter().map(f64::from).collect())
}

/// What one size keeps for the phase in which the sizes take turns: its index and samples.
pub(super) struct Held {
    pub(super) rules: usize,
    pub(super) index: AuthzIndex,
    pub(super) samples: Vec<Sample>,
    pub(super) uniform: Vec<Sample>,
}

/// Ours by id and by name, on the mixed sample, then on the uniform one: over batch means, and
/// over single calls (p50, p99).
pub(super) type OurDists = ([Dist; 4], [(f64, f64); 4]);

/// Ours at one size: by id and by name, on the mixed and on the uniform sample; in the phase
/// in which the sizes take turns, also each call timed on its own (`calls`, same order).
#[derive(Default)]
pub(super) struct OurSamples {
    pub(super) by_id: Samples,
    pub(super) by_name: Samples,
    pub(super) same_by_id: Samples,
    pub(super) same_by_name: Samples,
    pub(super) calls: [Vec<f32>; 4],
}

impl OurSamples {
    /// One pass of ours by id and by name on the mixed sample, then on the uniform one,
    /// recorded when `record` (a warm-up pass is not).
    pub(super) fn pass(
        &mut self,
        index: &AuthzIndex,
        samples: &[Sample],
        uniform: &[Sample],
        record: bool,
    ) {
        for (requests, by_id, by_name) in [
            (samples, &mut self.by_id, &mut self.by_name),
            (uniform, &mut self.same_by_id, &mut self.same_by_name),
        ] {
            time_round(requests.len(), record.then_some(by_id), |i| {
                by_id_check(index, &requests[i])
            });
            time_round(requests.len(), record.then_some(by_name), |i| {
                by_name_check(index, &requests[i])
            });
        }
    }

    /// One pass of ours by id and by name on the mixed sample, then on the uniform one, each
    /// call timed on its own.
    pub(super) fn pass_calls(
        &mut self,
        index: &AuthzIndex,
        samples: &[Sample],
        uniform: &[Sample],
        record: bool,
        clock_ns: f64,
    ) {
        let [by_id, by_name, same_by_id, same_by_name] = &mut self.calls;
        for (requests, by_id, by_name) in [
            (samples, by_id, by_name),
            (uniform, same_by_id, same_by_name),
        ] {
            time_calls(requests.len(), record.then_some(by_id), clock_ns, |i| {
                by_id_check(index, &requests[i])
            });
            time_calls(requests.len(), record.then_some(by_name), clock_ns, |i| {
                by_name_check(index, &requests[i])
            });
        }
    }

    /// By id and by name on the mixed sample, then on the uniform one: batch means, and single
    /// calls (p50, p99).
    pub(super) fn dists(self) -> OurDists {
        (
            [self.by_id, self.by_name, self.same_by_id, self.same_by_name].map(dist),
            self.calls.map(call_percentiles),
        )
    }
}

/// Ours at every size, the sizes taking turns pass by pass, so that the machine's noise falls
/// on every size alike and their ratio is measured side by side, as Cedar's ratio to ours is:
/// each round times, size after size, one pass of each of ours by id and by name on the mixed
/// and on the uniform sample, in batches and in single calls. Round 0 warms up.
pub(super) fn sizes_taking_turns(
    held: &[Held],
    rounds: usize,
    clock_ns: f64,
) -> Vec<(usize, OurDists)> {
    let mut turns: Vec<OurSamples> = held.iter().map(|_| OurSamples::default()).collect();
    for round in 0..=rounds {
        for (k, t) in held.iter().zip(turns.iter_mut()) {
            t.pass(&k.index, &k.samples, &k.uniform, round > 0);
            t.pass_calls(&k.index, &k.samples, &k.uniform, round > 0, clock_ns);
        }
    }
    held.iter()
        .zip(turns)
        .map(|(k, t)| (k.rules, t.dists()))
        .collect()
}

/// What a rule change costs the index: the rules of one entity (a Thing's own rules, then a
/// template's instance rules) with the allow bit of one of them flipped, patched into the
/// index, against the build from every fact. Each patch first decides as a build from the
/// changed facts does, for every user on the Things the change covers.
pub(super) fn patch_cost(facts: &Facts, index: &AuthzIndex, build: Duration) {
    let by_id: HashMap<i64, &EntityFact> = facts.entities.iter().map(|e| (e.id, e)).collect();
    let collection_of = |id: i64| by_id.get(&id).map(|e| (e.collection, e.name.as_str()));
    for collection in [Collection::Things, Collection::ThingTemplates] {
        let Some((id, name)) = facts.entity_rules.iter().find_map(|(id, _, _)| {
            collection_of(*id)
                .filter(|(c, _)| *c == collection)
                .map(|(_, name)| (*id, name))
        }) else {
            continue;
        };
        let changed = std::collections::BTreeSet::from([id]);
        let mut rules: Vec<(i64, bool, Rule)> = facts
            .entity_rules
            .iter()
            .filter(|(of, _, _)| *of == id)
            .cloned()
            .collect();
        rules[0].2.allow = !rules[0].2.allow;
        let sequence = index.sequence() + 1;
        let patched = index
            .patch_rules(sequence, &changed, &rules)
            .expect("patched");
        let mut changed_facts = facts.clone();
        changed_facts.replace_rules(sequence, &changed, rules.clone());
        let built = AuthzIndex::build(&changed_facts);
        let covered: Vec<&str> = facts
            .entities
            .iter()
            .filter(|e| {
                e.collection == Collection::Things
                    && (e.id == id
                        || (collection == Collection::ThingTemplates && e.template == name))
            })
            .map(|e| e.name.as_str())
            .collect();
        let users: Vec<EntityIdx> = facts
            .entities
            .iter()
            .filter(|e| e.collection == Collection::Users)
            .filter_map(|e| index.lookup(Collection::Users, &e.name))
            .collect();
        let rule = &rules[0].2;
        let mut checked = 0;
        for thing in &covered {
            let thing = index.lookup(Collection::Things, thing).expect("thing");
            for &user in &users {
                let request = Request {
                    user,
                    target: Target::Entity(thing),
                    kind: rule.kind,
                    resource: &rule.resource,
                };
                assert_eq!(decide(&patched, &request), decide(&built, &request));
                checked += 1;
            }
        }
        let mut times: Vec<Duration> = (0..7)
            .map(|_| {
                let t = Instant::now();
                black_box(index.patch_rules(sequence, &changed, &rules));
                t.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{} rules of one of the {collection} patched in {:.2} ms (median of 7; the build from every fact took {}: {:.0}x); {checked} decisions checked against a build",
            rules.len(),
            median.as_secs_f64() * 1e3,
            ms(build),
            build.as_secs_f64() / median.as_secs_f64()
        );
    }
}

pub(super) fn run_size(
    model: &Model,
    rules: usize,
    cedar_max: usize,
    shape: RunShape,
    clock_ns: f64,
) -> (Row, Held) {
    let t = Instant::now();
    let facts = with_rules(model, rules);
    let generated = t.elapsed();
    let rule_count = facts.entity_rules.len() + facts.collection_rules.len();
    let t = Instant::now();
    let index = AuthzIndex::build(&facts);
    let index_build = t.elapsed();
    println!(
        "\n## {rule_count} rules: facts generated in {}, index built in {} ({} entities); load average {}",
        ms(generated),
        ms(index_build),
        index.entity_count(),
        load()
    );

    patch_cost(&facts, &index, index_build);

    let t = Instant::now();
    let samples = sample_requests(model, &facts, &index, shape.requests);
    let mix = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count();
    let distinct =
        |key: fn(&Sample) -> EntityIdx| samples.iter().map(key).collect::<HashSet<_>>().len();
    println!(
        "sampled {} requests in {}: {} allow, {} deny (a deny rule decides), {} not visible; {} distinct Things, {} distinct users",
        samples.len(),
        ms(t.elapsed()),
        mix(Outcome::Allow),
        mix(Outcome::Deny),
        mix(Outcome::NotVisible),
        distinct(|s| s.thing_idx),
        distinct(|s| s.user_idx)
    );

    // The hot path and the explanation agree on every sampled and every uniform request,
    // before anything is timed.
    let uniform = uniform_requests(model, &index, shape.requests);
    let disagreeing = samples.iter().chain(&uniform).filter(|s| {
        let request = Request {
            user: s.user_idx,
            target: Target::Entity(s.thing_idx),
            kind: s.kind,
            resource: &s.resource,
        };
        decide(&index, &request) != explain(&index, &request).0
    });
    assert_eq!(disagreeing.count(), 0, "decide and explain disagree");

    let cedar = (rules <= cedar_max).then(|| {
        let t = Instant::now();
        let side = build_cedar(&facts);
        let build = t.elapsed();
        println!(
            "cedar entities and policies built in {} ({} bytes of policy text)",
            ms(build),
            side.policy_text.len()
        );
        // Equivalence before timing: the mixed sample, then an unfiltered uniform sample.
        let mut mismatches = 0;
        let mut errors = 0;
        for s in samples.iter().chain(&uniform) {
            let (allowed, errs) = side.check(&s.user, &s.thing, s.kind, &s.resource);
            errors += errs;
            if allowed != (s.outcome == Outcome::Allow) {
                mismatches += 1;
                if mismatches <= 5 {
                    eprintln!(
                        "MISMATCH {} {} {} {}: ours {:?}, cedar allow={allowed}",
                        s.user, s.thing, s.kind, s.resource, s.outcome
                    );
                }
            }
        }
        let uniform_allow = uniform.iter().filter(|s| s.outcome == Outcome::Allow).count();
        println!(
            "equivalence: {} requests ({} mixed + {} uniform, {uniform_allow} of those allowed), {mismatches} mismatches, {errors} cedar evaluation errors",
            samples.len() + uniform.len(),
            samples.len(),
            uniform.len()
        );
        assert_eq!(mismatches, 0, "Cedar and the index disagree");
        assert_eq!(errors, 0, "Cedar reported evaluation errors");
        let requests: Vec<CedarRequest> = samples
            .iter()
            .map(|s| side.request(&s.user, &s.thing, s.kind, &s.resource))
            .collect();
        (side, requests, build, mismatches, errors, samples.len() + uniform.len())
    });

    // The engines take turns, round by round, so that noise from the machine falls on both:
    // each round is one pass of Cedar (request + is_authorized), one of Cedar's is_authorized on
    // prebuilt requests, and OUR_PASSES passes of ours by id and by name. Round 0 warms up.
    let n = samples.len();
    let (mut cedar_check, mut cedar_authorize) = (Samples::default(), Samples::default());
    let mut cedar_calls: Vec<f32> = Vec::new();
    let mut ours = OurSamples::default();
    for round in 0..=shape.rounds {
        let record = round > 0;
        if let Some((side, requests, ..)) = &cedar {
            time_round(n, record.then_some(&mut cedar_check), |i| {
                let s = &samples[i];
                side.check(&s.user, &s.thing, s.kind, &s.resource).0
            });
            time_round(n, record.then_some(&mut cedar_authorize), |i| {
                side.authorize(&requests[i]).0
            });
            time_calls(n, record.then_some(&mut cedar_calls), clock_ns, |i| {
                let s = &samples[i];
                side.check(&s.user, &s.thing, s.kind, &s.resource).0
            });
        }
        for _ in 0..OUR_PASSES {
            ours.pass(&index, &samples, &uniform, record);
            ours.pass_calls(&index, &samples, &uniform, record, clock_ns);
        }
    }
    let ([by_id, by_name, same_by_id, same_by_name], calls) = ours.dists();
    let cedar = cedar.map(|(side, requests, build, mismatches, errors, checked)| {
        drop(requests);
        drop(side);
        let (check, authorize) = (dist(cedar_check), dist(cedar_authorize));
        let check_calls = call_percentiles(cedar_calls);
        println!("cedar: {}", show(&check));
        println!(
            "cedar, each call timed on its own: p50 {} p99 {}",
            ns(check_calls.0),
            ns(check_calls.1)
        );
        println!("cedar is_authorized alone: {}", show(&authorize));
        CedarRow {
            build,
            check,
            check_calls,
            authorize,
            mismatches,
            errors,
            checked,
        }
    });
    println!("ours by id: {}", show(&by_id));
    println!("ours by name: {}", show(&by_name));
    println!(
        "ours, each call timed on its own: by id p50 {} p99 {}, by name p50 {} p99 {}",
        ns(calls[0].0),
        ns(calls[0].1),
        ns(calls[1].0),
        ns(calls[1].1)
    );
    println!(
        "ours by id, same requests at every size: {}",
        show(&same_by_id)
    );
    println!(
        "ours by name, same requests at every size: {}",
        show(&same_by_name)
    );
    println!("load average {}", load());
    let row = Row {
        rules: rule_count,
        index_build,
        index_entities: index.entity_count(),
        by_id,
        by_name,
        same_by_id,
        same_by_name,
        calls,
        cedar,
    };
    let held = Held {
        rules: rule_count,
        index,
        samples,
        uniform,
    };
    (row, held)
}

/// Ours by id: the user and the Thing already resolved.
pub(super) fn by_id_check(index: &AuthzIndex, s: &Sample) -> bool {
    decide(
        index,
        &Request {
            user: s.user_idx,
            target: Target::Entity(s.thing_idx),
            kind: s.kind,
            resource: &s.resource,
        },
    ) == Outcome::Allow
}

/// Ours by name: both names looked up, then the check (the REST path).
pub(super) fn by_name_check(index: &AuthzIndex, s: &Sample) -> bool {
    let Some(user) = index.lookup(Collection::Users, &s.user) else {
        return false;
    };
    let Some(thing) = index.lookup(Collection::Things, &s.thing) else {
        return false;
    };
    decide(
        index,
        &Request {
            user,
            target: Target::Entity(thing),
            kind: s.kind,
            resource: &s.resource,
        },
    ) == Outcome::Allow
}
