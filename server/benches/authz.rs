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

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

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
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

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

/// The generated model without rules, plus what the request sampler needs.
struct Model {
    facts: Facts,
    users: Vec<String>,
    internal_users: Vec<usize>,
    groups: Vec<String>,
    organizations: Vec<String>,
    units: Vec<String>,
    templates: Vec<String>,
    template_ids: Vec<i64>,
    shapes: Vec<String>,
    shape_ids: Vec<i64>,
    things: Vec<String>,
    thing_ids: Vec<i64>,
    /// Users of each group, transitively.
    users_of_group: HashMap<String, Vec<usize>>,
    /// Things whose template chain holds the template.
    things_of_template: Vec<Vec<usize>>,
    /// Things that implement the shape (directly or through a template).
    things_of_shape: Vec<Vec<usize>>,
    properties: Vec<String>,
    services: Vec<String>,
    events: Vec<String>,
}

impl Model {
    fn resources(&self, kind: PermissionKind) -> &[String] {
        match kind {
            PermissionKind::PropertyRead | PermissionKind::PropertyWrite => &self.properties,
            PermissionKind::ServiceInvoke => &self.services,
            _ => &self.events,
        }
    }

    fn random_resource(&self, rng: &mut StdRng, kind: PermissionKind) -> String {
        let names = self.resources(kind);
        names[rng.random_range(0..names.len())].clone()
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_run_time(rng: &mut StdRng) -> PermissionKind {
    *pick(rng, &PermissionKind::RUN_TIME)
}

/// Generates every entity, membership and unit; no rules.
fn generate_model() -> Model {
    let mut rng = StdRng::seed_from_u64(MODEL_SEED);
    let mut facts = Facts::default();
    let mut next_id: i64 = 1;
    let mut add = |facts: &mut Facts,
                   collection: Collection,
                   name: &str,
                   template: &str,
                   shapes: Vec<String>,
                   owner: Option<i64>| {
        let id = next_id;
        next_id += 1;
        facts.entities.push(EntityFact {
            id,
            collection,
            name: name.to_owned(),
            owner,
            template: template.to_owned(),
            shapes,
        });
        id
    };

    // Groups: the built-in `Users` and `Administrators`, then tiers of generated groups.
    let users_group = add(
        &mut facts,
        Collection::Groups,
        builtin::USERS,
        "",
        Vec::new(),
        None,
    );
    let admins_group = add(
        &mut facts,
        Collection::Groups,
        builtin::ADMINISTRATORS,
        "",
        Vec::new(),
        None,
    );
    let mut groups = Vec::new();
    let mut group_ids = Vec::new();
    for i in 0..GROUPS - 2 {
        let name = format!("G{i:04}");
        group_ids.push(add(
            &mut facts,
            Collection::Groups,
            &name,
            "",
            Vec::new(),
            None,
        ));
        groups.push(name);
    }
    let mut group_parent: Vec<Option<usize>> = vec![None; groups.len()];
    for (i, parent) in group_parent.iter_mut().enumerate() {
        let p = if i >= TIER2 {
            Some(rng.random_range(TIER1..TIER2))
        } else if i >= TIER1 {
            Some(rng.random_range(0..TIER1))
        } else {
            None
        };
        if let Some(p) = p {
            facts.memberships.push((group_ids[p], group_ids[i]));
            *parent = Some(p);
        }
    }

    // Users: 1 to 5 generated groups each; nine in ten are in `Users` (and so in `Everyone`),
    // the tenth are external users who only belong to partner organizations.
    let mut users = Vec::new();
    let mut user_ids = Vec::new();
    let mut internal_users = Vec::new();
    let mut external_users = Vec::new();
    let mut users_of_group: HashMap<String, Vec<usize>> = HashMap::new();
    for u in 0..USERS {
        let name = format!("user{u:05}");
        let id = add(&mut facts, Collection::Users, &name, "", Vec::new(), None);
        let mut direct: Vec<usize> = Vec::new();
        for _ in 0..rng.random_range(1..=5) {
            let roll: f64 = rng.random();
            let g = if roll < 0.6 {
                rng.random_range(TIER2..groups.len())
            } else if roll < 0.9 {
                rng.random_range(TIER1..TIER2)
            } else {
                rng.random_range(0..TIER1)
            };
            if !direct.contains(&g) {
                direct.push(g);
                facts.memberships.push((group_ids[g], id));
            }
        }
        let mut all: HashSet<usize> = HashSet::new();
        for g in &direct {
            let mut current = Some(*g);
            while let Some(c) = current {
                if !all.insert(c) {
                    break;
                }
                current = group_parent[c];
            }
        }
        for g in all {
            users_of_group.entry(groups[g].clone()).or_default().push(u);
        }
        if u % 10 == 9 {
            external_users.push(id);
        } else {
            facts.memberships.push((users_group, id));
            users_of_group
                .entry(builtin::USERS.to_owned())
                .or_default()
                .push(u);
            internal_users.push(u);
        }
        if u < 2 {
            facts.memberships.push((admins_group, id));
        }
        users.push(name);
        user_ids.push(id);
    }
    for members in users_of_group.values_mut() {
        members.sort_unstable();
    }

    // Organizations: `Everyone` (root unit holds `Users`), then partner organizations with a
    // unit tree three deep; groups and users join random units.
    let mut organizations = Vec::new();
    let mut units = Vec::new();
    let mut next_unit: i64 = 1_000_000_000;
    let mut org_units: Vec<Vec<i64>> = Vec::new();
    for o in 0..ORGANIZATIONS {
        let name = if o == 0 {
            builtin::EVERYONE.to_owned()
        } else {
            format!("Org{o:02}")
        };
        let org = add(
            &mut facts,
            Collection::Organizations,
            &name,
            "",
            Vec::new(),
            None,
        );
        let mut ids = Vec::new();
        let tree: &[(&str, Option<usize>)] = if o == 0 {
            &[("", None)]
        } else {
            &[
                ("", None),
                ("U1", Some(0)),
                ("U2", Some(0)),
                ("U11", Some(1)),
                ("U12", Some(1)),
                ("U21", Some(2)),
                ("U22", Some(2)),
            ]
        };
        for (unit, parent) in tree {
            let unit_name = if unit.is_empty() {
                name.clone()
            } else {
                (*unit).to_owned()
            };
            let id = next_unit;
            next_unit += 1;
            facts.units.push(UnitFact {
                id,
                organization: org,
                name: unit_name.clone(),
                parent: parent.map(|p| ids[p]),
            });
            ids.push(id);
            units.push(unit_principal_name(&name, &unit_name));
        }
        if o == 0 {
            facts.unit_members.push((ids[0], users_group));
        } else {
            for _ in 0..8 {
                let g = rng.random_range(0..groups.len());
                facts
                    .unit_members
                    .push((*pick(&mut rng, &ids), group_ids[g]));
            }
            for _ in 0..20 {
                let u = *pick(&mut rng, &internal_users);
                facts
                    .unit_members
                    .push((*pick(&mut rng, &ids), user_ids[u]));
            }
        }
        organizations.push(name);
        org_units.push(ids);
    }
    for id in &external_users {
        for _ in 0..rng.random_range(1..=2) {
            let o = rng.random_range(1..ORGANIZATIONS);
            facts
                .unit_members
                .push((*pick(&mut rng, &org_units[o]), *id));
        }
    }

    // Shapes, then templates in three tiers (roots, children of roots, grandchildren).
    let mut shapes = Vec::new();
    let mut shape_ids = Vec::new();
    for s in 0..SHAPES {
        let name = format!("TS{s:03}");
        shape_ids.push(add(
            &mut facts,
            Collection::ThingShapes,
            &name,
            "",
            Vec::new(),
            None,
        ));
        shapes.push(name);
    }
    let mut templates: Vec<String> = Vec::new();
    let mut template_ids = Vec::new();
    let mut template_base: Vec<Option<usize>> = Vec::new();
    let mut template_shapes: Vec<Vec<usize>> = Vec::new();
    for t in 0..TEMPLATES {
        let name = format!("TT{t:04}");
        let base = if t < 100 {
            None
        } else if t < 400 {
            Some(rng.random_range(0..100))
        } else {
            Some(rng.random_range(100..400))
        };
        let own_shapes: Vec<usize> = if rng.random_bool(0.5) {
            vec![rng.random_range(0..SHAPES)]
        } else {
            Vec::new()
        };
        let base_name = base
            .map(|b: usize| templates[b].clone())
            .unwrap_or_default();
        template_ids.push(add(
            &mut facts,
            Collection::ThingTemplates,
            &name,
            &base_name,
            own_shapes.iter().map(|s| shapes[*s].clone()).collect(),
            None,
        ));
        templates.push(name);
        template_base.push(base);
        template_shapes.push(own_shapes);
    }

    // Things.
    let mut things = Vec::new();
    let mut thing_ids = Vec::new();
    let mut things_of_template: Vec<Vec<usize>> = vec![Vec::new(); TEMPLATES];
    let mut things_of_shape: Vec<Vec<usize>> = vec![Vec::new(); SHAPES];
    for i in 0..THINGS {
        let name = format!("Thing{i:06}");
        let template = rng.random_range(0..TEMPLATES);
        let roll: f64 = rng.random();
        let count = if roll < 0.5 {
            0
        } else if roll < 0.85 {
            1
        } else {
            2
        };
        let mut own_shapes: Vec<usize> = Vec::new();
        for _ in 0..count {
            let s = rng.random_range(0..SHAPES);
            if !own_shapes.contains(&s) {
                own_shapes.push(s);
            }
        }
        let owner = if rng.random_bool(0.01) {
            Some(user_ids[*pick(&mut rng, &internal_users)])
        } else {
            None
        };
        thing_ids.push(add(
            &mut facts,
            Collection::Things,
            &name,
            &templates[template],
            own_shapes.iter().map(|s| shapes[*s].clone()).collect(),
            owner,
        ));
        let mut all_shapes = own_shapes.clone();
        let mut current = Some(template);
        while let Some(t) = current {
            things_of_template[t].push(i);
            for s in &template_shapes[t] {
                if !all_shapes.contains(s) {
                    all_shapes.push(*s);
                }
            }
            current = template_base[t];
        }
        for s in all_shapes {
            things_of_shape[s].push(i);
        }
        things.push(name);
    }

    Model {
        facts,
        users,
        internal_users,
        groups,
        organizations,
        units,
        templates,
        template_ids,
        shapes,
        shape_ids,
        things,
        thing_ids,
        users_of_group,
        things_of_template,
        things_of_shape,
        properties: (0..20).map(|i| format!("p{i:02}")).collect(),
        services: (0..10).map(|i| format!("s{i:02}")).collect(),
        events: (0..5).map(|i| format!("e{i:02}")).collect(),
    }
}

/// A run-time rule naming a user (15%) or a group, more often a wide one.
fn permission_rule(rng: &mut StdRng, model: &Model) -> Rule {
    let kind = random_run_time(rng);
    let resource = if rng.random_bool(0.5) {
        ANY_RESOURCE.to_owned()
    } else {
        model.random_resource(rng, kind)
    };
    let roll: f64 = rng.random();
    let (principal_type, principal_name) = if roll < 0.15 {
        (PrincipalType::User, pick(rng, &model.users).clone())
    } else {
        let g = if roll < 0.5 {
            rng.random_range(0..TIER1)
        } else if roll < 0.8 {
            rng.random_range(TIER1..TIER2)
        } else {
            rng.random_range(TIER2..model.groups.len())
        };
        (PrincipalType::Group, model.groups[g].clone())
    };
    Rule {
        kind,
        resource,
        principal_type,
        principal_name,
        allow: rng.random_bool(0.8),
    }
}

/// A visibility rule naming a partner organization (30%) or one of its units.
fn visibility_rule(rng: &mut StdRng, model: &Model) -> Rule {
    let (principal_type, principal_name) = if rng.random_bool(0.3) {
        let o = rng.random_range(1..model.organizations.len());
        (PrincipalType::Organization, model.organizations[o].clone())
    } else {
        // Unit 0 is `Everyone:Everyone`; partners' units follow.
        let u = rng.random_range(1..model.units.len());
        (PrincipalType::OrganizationalUnit, model.units[u].clone())
    };
    Rule {
        kind: PermissionKind::Visibility,
        resource: ANY_RESOURCE.to_owned(),
        principal_type,
        principal_name,
        allow: rng.random_bool(0.85),
    }
}

/// The model's facts with exactly `count` rules: a dozen on the Things collection, then 15%
/// template instance rules, 5% shape instance rules and 80% Things' own rules; one in ten
/// template rules and one in twenty own rules is a visibility rule.
fn with_rules(model: &Model, count: usize) -> Facts {
    let mut rng = StdRng::seed_from_u64(RULE_SEED);
    let mut facts = model.facts.clone();
    let collection = |kind, resource: &str, principal_type, name: &str, allow| {
        (
            Collection::Things,
            Rule {
                kind,
                resource: resource.to_owned(),
                principal_type,
                principal_name: name.to_owned(),
                allow,
            },
        )
    };
    facts.collection_rules.push(collection(
        PermissionKind::Visibility,
        ANY_RESOURCE,
        PrincipalType::Organization,
        builtin::EVERYONE,
        true,
    ));
    for kind in PermissionKind::RUN_TIME {
        facts.collection_rules.push(collection(
            kind,
            ANY_RESOURCE,
            PrincipalType::Group,
            builtin::USERS,
            true,
        ));
    }
    for g in &model.groups[..5] {
        facts.collection_rules.push(collection(
            PermissionKind::PropertyWrite,
            ANY_RESOURCE,
            PrincipalType::Group,
            g,
            false,
        ));
    }
    facts.collection_rules.push(collection(
        PermissionKind::ServiceInvoke,
        "s09",
        PrincipalType::Group,
        builtin::USERS,
        false,
    ));
    let rest = count.saturating_sub(facts.collection_rules.len());
    facts.entity_rules.reserve(rest);
    for _ in 0..rest {
        let roll: f64 = rng.random();
        if roll < 0.15 {
            let t = rng.random_range(0..model.template_ids.len());
            let rule = if rng.random_bool(0.1) {
                visibility_rule(&mut rng, model)
            } else {
                permission_rule(&mut rng, model)
            };
            facts.entity_rules.push((model.template_ids[t], true, rule));
        } else if roll < 0.2 {
            let s = rng.random_range(0..model.shape_ids.len());
            let rule = permission_rule(&mut rng, model);
            facts.entity_rules.push((model.shape_ids[s], true, rule));
        } else {
            let t = rng.random_range(0..model.thing_ids.len());
            let rule = if rng.random_bool(0.05) {
                visibility_rule(&mut rng, model)
            } else {
                permission_rule(&mut rng, model)
            };
            facts.entity_rules.push((model.thing_ids[t], false, rule));
        }
    }
    facts
}

/// One sampled request, by name and by index.
struct Sample {
    user: String,
    thing: String,
    kind: PermissionKind,
    resource: String,
    user_idx: EntityIdx,
    thing_idx: EntityIdx,
    outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Allow,
    DenyRule,
    DefaultDeny,
    NotVisible,
}

fn classify(index: &AuthzIndex, request: &Request<'_>) -> (Outcome, Class) {
    let (outcome, steps) = explain(index, request);
    let class = match outcome {
        Outcome::Allow => Class::Allow,
        Outcome::NotVisible => Class::NotVisible,
        Outcome::Deny => {
            if steps
                .iter()
                .any(|s| s.decisive && s.effect == StepEffect::Deny && s.layer != Layer::Default)
            {
                Class::DenyRule
            } else {
                Class::DefaultDeny
            }
        }
    };
    (outcome, class)
}

/// A candidate request: uniform, or aimed at one permission rule (a user it names, a Thing it
/// covers) so that deny rules are reached often enough.
fn candidate(
    rng: &mut StdRng,
    model: &Model,
    facts: &Facts,
    kinds_by_id: &HashMap<i64, (Collection, usize)>,
) -> (usize, usize, PermissionKind, String) {
    let uniform = |rng: &mut StdRng| {
        let kind = random_run_time(rng);
        let resource = if rng.random_bool(0.15) {
            ANY_RESOURCE.to_owned()
        } else {
            model.random_resource(rng, kind)
        };
        (
            rng.random_range(0..model.users.len()),
            rng.random_range(0..model.things.len()),
            kind,
            resource,
        )
    };
    if rng.random_bool(0.4) {
        return uniform(rng);
    }
    let total = facts.entity_rules.len() + facts.collection_rules.len();
    let r = rng.random_range(0..total);
    let (rule, thing) = if r < facts.collection_rules.len() {
        let rule = &facts.collection_rules[r].1;
        (rule, rng.random_range(0..model.things.len()))
    } else {
        let (entity, _, rule) = &facts.entity_rules[r - facts.collection_rules.len()];
        let thing = match kinds_by_id.get(entity) {
            Some((Collection::Things, i)) => *i,
            Some((Collection::ThingTemplates, t)) if !model.things_of_template[*t].is_empty() => {
                *pick(rng, &model.things_of_template[*t])
            }
            Some((Collection::ThingShapes, s)) if !model.things_of_shape[*s].is_empty() => {
                *pick(rng, &model.things_of_shape[*s])
            }
            _ => return uniform(rng),
        };
        (rule, thing)
    };
    let user = match rule.principal_type {
        PrincipalType::User => model.users.iter().position(|u| *u == rule.principal_name),
        PrincipalType::Group => model
            .users_of_group
            .get(&rule.principal_name)
            .filter(|m| !m.is_empty())
            .map(|m| *pick(rng, m)),
        _ => None,
    };
    let Some(user) = user else {
        return uniform(rng);
    };
    let resource = if rule.resource == ANY_RESOURCE && rng.random_bool(0.7) {
        model.random_resource(rng, rule.kind)
    } else {
        rule.resource.clone()
    };
    (user, thing, rule.kind, resource)
}

/// 10k requests: 70% allowed, 20% denied by a deny rule, 10% not visible, classified by our
/// evaluator (the Cedar side is checked against it afterwards).
fn sample_requests(
    model: &Model,
    facts: &Facts,
    index: &AuthzIndex,
    requests: usize,
) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(REQUEST_SEED);
    let mut kinds_by_id: HashMap<i64, (Collection, usize)> = HashMap::new();
    for (i, id) in model.thing_ids.iter().enumerate() {
        kinds_by_id.insert(*id, (Collection::Things, i));
    }
    for (i, id) in model.template_ids.iter().enumerate() {
        kinds_by_id.insert(*id, (Collection::ThingTemplates, i));
    }
    for (i, id) in model.shape_ids.iter().enumerate() {
        kinds_by_id.insert(*id, (Collection::ThingShapes, i));
    }
    let mut left = SHARES.map(|share| requests * share / 100);
    let mut samples = Vec::with_capacity(requests);
    let mut attempts = 0usize;
    while left.iter().any(|l| *l > 0) {
        attempts += 1;
        assert!(
            attempts < 5_000_000,
            "could not fill the request mix (left: {left:?})"
        );
        let (user, thing, kind, resource) = candidate(&mut rng, model, facts, &kinds_by_id);
        let user_idx = index
            .lookup(Collection::Users, &model.users[user])
            .expect("a generated user is in the index");
        let thing_idx = index
            .lookup(Collection::Things, &model.things[thing])
            .expect("a generated Thing is in the index");
        let request = Request {
            user: user_idx,
            target: Target::Entity(thing_idx),
            kind,
            resource: &resource,
        };
        let (outcome, class) = classify(index, &request);
        let slot = match class {
            Class::Allow => 0,
            Class::DenyRule => 1,
            Class::NotVisible => 2,
            Class::DefaultDeny => continue,
        };
        if left[slot] == 0 {
            continue;
        }
        left[slot] -= 1;
        samples.push(Sample {
            user: model.users[user].clone(),
            thing: model.things[thing].clone(),
            kind,
            resource,
            user_idx,
            thing_idx,
            outcome,
        });
    }
    // The classes fill at different rates: shuffled, every batch holds the mix, not only the
    // classes filled last.
    samples.shuffle(&mut rng);
    samples
}

/// Uniform random requests, unfiltered (default denies included), for a second equivalence check.
fn uniform_requests(model: &Model, index: &AuthzIndex, requests: usize) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(REQUEST_SEED ^ 0xFFFF);
    (0..requests)
        .map(|_| {
            let user = if rng.random_bool(0.5) {
                rng.random_range(0..model.users.len())
            } else {
                *pick(&mut rng, &model.internal_users)
            };
            let thing = rng.random_range(0..model.things.len());
            let kind = random_run_time(&mut rng);
            let resource = if rng.random_bool(0.15) {
                ANY_RESOURCE.to_owned()
            } else {
                model.random_resource(&mut rng, kind)
            };
            let user_idx = index
                .lookup(Collection::Users, &model.users[user])
                .expect("a generated user is in the index");
            let thing_idx = index
                .lookup(Collection::Things, &model.things[thing])
                .expect("a generated Thing is in the index");
            let outcome = decide(
                index,
                &Request {
                    user: user_idx,
                    target: Target::Entity(thing_idx),
                    kind,
                    resource: &resource,
                },
            );
            Sample {
                user: model.users[user].clone(),
                thing: model.things[thing].clone(),
                kind,
                resource,
                user_idx,
                thing_idx,
                outcome,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The Cedar encoding.
// ---------------------------------------------------------------------------------------------

/// The Cedar side: entities, policies and the pre-parsed names a request needs.
struct CedarSide {
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
    user_type: EntityTypeName,
    thing_type: EntityTypeName,
    actions: Vec<(PermissionKind, EntityUid)>,
    policy_text: String,
}

struct Types {
    user: EntityTypeName,
    group: EntityTypeName,
    organization: EntityTypeName,
    unit: EntityTypeName,
    thing: EntityTypeName,
    template: EntityTypeName,
    shape: EntityTypeName,
    collection: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Types {
        let t = |name: &str| EntityTypeName::from_str(name).expect("a valid Cedar type name");
        Types {
            user: t("User"),
            group: t("Group"),
            organization: t("Organization"),
            unit: t("Unit"),
            thing: t("Thing"),
            template: t("ThingTemplate"),
            shape: t("ThingShape"),
            collection: t("Collection"),
            action: t("Action"),
        }
    }

    fn principal(&self, principal_type: PrincipalType, name: &str) -> EntityUid {
        let ty = match principal_type {
            PrincipalType::User => &self.user,
            PrincipalType::Group => &self.group,
            PrincipalType::Organization => &self.organization,
            PrincipalType::OrganizationalUnit => &self.unit,
        };
        uid(ty, name)
    }
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// The rules of one source, by tag key `Kind:resource`: (principal, allow) with the last rule
/// for a principal winning, as in the index.
type Cells = HashMap<String, Vec<(EntityUid, bool)>>;

fn add_cell(cells: &mut Cells, types: &Types, rule: &Rule) {
    let key = format!("{}:{}", rule.kind, rule.resource);
    let principal = types.principal(rule.principal_type, &rule.principal_name);
    let cell = cells.entry(key).or_default();
    match cell.iter_mut().find(|(p, _)| *p == principal) {
        Some(existing) => existing.1 = rule.allow,
        None => cell.push((principal, rule.allow)),
    }
}

/// Tags `Kind:resource` -> `{ names: [every principal of the row], denies: [those denying] }`.
fn tags(cells: Cells) -> Vec<(String, RestrictedExpression)> {
    cells
        .into_iter()
        .map(|(key, cell)| {
            let names = RestrictedExpression::new_set(
                cell.iter()
                    .map(|(p, _)| RestrictedExpression::new_entity_uid(p.clone())),
            );
            let denies = RestrictedExpression::new_set(
                cell.iter()
                    .filter(|(_, allow)| !allow)
                    .map(|(p, _)| RestrictedExpression::new_entity_uid(p.clone())),
            );
            let value = RestrictedExpression::new_record([
                ("names".to_owned(), names),
                ("denies".to_owned(), denies),
            ])
            .expect("distinct record keys");
            (key, value)
        })
        .collect()
}

/// One level row of the policy: `(guard && SRC.hasTag(KEY) && principal in SRC.getTag(KEY).names,
/// !(principal in SRC.getTag(KEY).denies))`.
fn row(source: &str, guard: Option<&str>, key: &str) -> (String, String) {
    let guard = guard.map(|g| format!("{g} && ")).unwrap_or_default();
    (
        format!("{guard}{source}.hasTag({key}) && principal in {source}.getTag({key}).names"),
        format!("!(principal in {source}.getTag({key}).denies)"),
    )
}

/// `if c1 then d1 else if c2 then d2 ... else false`: the first row that names one of the
/// principal's ancestors decides, and a deny in it beats an allow.
fn first_row_decides(rows: &[(String, String)]) -> String {
    let mut text = String::from("false");
    for (cond, then) in rows.iter().rev() {
        text = format!("(if {cond} then {then} else {text})");
    }
    text
}

/// The policy set for Things with template chains of up to `max_templates` and up to
/// `max_shapes` shapes.
fn policy_text(max_templates: usize, max_shapes: usize) -> String {
    let collection = "Collection::\"Things\"";
    let mut sources: Vec<(String, Option<String>)> = vec![("resource".into(), None)];
    let mut visibility_sources = sources.clone();
    for t in 0..max_templates {
        let s = (format!("resource.t{t}"), Some(format!("resource has t{t}")));
        sources.push(s.clone());
        visibility_sources.push(s);
    }
    for s in 0..max_shapes {
        sources.push((format!("resource.s{s}"), Some(format!("resource has s{s}"))));
    }
    sources.push((collection.into(), None));
    visibility_sources.push((collection.into(), None));
    let mut permission_rows = Vec::new();
    for (source, guard) in &sources {
        for key in ["context.row", "context.star"] {
            permission_rows.push(row(source, guard.as_deref(), key));
        }
    }
    let visibility_rows: Vec<(String, String)> = visibility_sources
        .iter()
        .map(|(source, guard)| row(source, guard.as_deref(), "\"Visibility:*\""))
        .collect();
    format!(
        r#"@id("administrators")
permit (principal in Group::"{admins}", action, resource);

@id("owner")
permit (principal, action, resource is Thing)
when {{ resource has owner && resource.owner == principal }};

@id("acl")
permit (principal, action, resource is Thing)
when {{
  {visible}
  &&
  {permitted}
}};
"#,
        admins = builtin::ADMINISTRATORS,
        visible = first_row_decides(&visibility_rows),
        permitted = first_row_decides(&permission_rows),
    )
}

/// Encodes the facts for Cedar. Principals: users and groups with their groups and units as
/// parents; units have their organization and their child units as parents (a grant to a unit
/// below one's own unit reaches the user). Things carry their template chain (`t0..`), their
/// shapes (`s0..`) and owner as attributes and their own rules as tags; templates and shapes
/// carry their instance rules as tags; the Things collection is one entity with its rules.
fn build_cedar(facts: &Facts) -> CedarSide {
    let types = Types::new();
    let by_id: HashMap<i64, &EntityFact> = facts.entities.iter().map(|e| (e.id, e)).collect();
    let named = |collection: Collection| -> HashMap<&str, &EntityFact> {
        facts
            .entities
            .iter()
            .filter(|e| e.collection == collection)
            .map(|e| (e.name.as_str(), e))
            .collect()
    };
    let templates = named(Collection::ThingTemplates);
    let shapes = named(Collection::ThingShapes);
    let users = named(Collection::Users);

    let mut parents: HashMap<i64, Vec<EntityUid>> = HashMap::new();
    for (group, member) in &facts.memberships {
        if let Some(g) = by_id
            .get(group)
            .filter(|g| g.collection == Collection::Groups)
        {
            parents
                .entry(*member)
                .or_default()
                .push(uid(&types.group, &g.name));
        }
    }
    let unit_uid = |u: &UnitFact| -> Option<EntityUid> {
        let org = by_id.get(&u.organization)?;
        Some(uid(&types.unit, &unit_principal_name(&org.name, &u.name)))
    };
    let units_by_id: HashMap<i64, &UnitFact> = facts.units.iter().map(|u| (u.id, u)).collect();
    let mut unit_parents: HashMap<i64, Vec<EntityUid>> = HashMap::new();
    for u in &facts.units {
        let Some(org) = by_id.get(&u.organization) else {
            continue;
        };
        unit_parents
            .entry(u.id)
            .or_default()
            .push(uid(&types.organization, &org.name));
        if let (Some(p), Some(me)) = (u.parent, unit_uid(u)) {
            unit_parents.entry(p).or_default().push(me);
        }
    }
    for (unit, member) in &facts.unit_members {
        if let Some(u) = units_by_id.get(unit).and_then(|u| unit_uid(u)) {
            parents.entry(*member).or_default().push(u);
        }
    }

    let mut own: HashMap<i64, Cells> = HashMap::new();
    let mut instance: HashMap<i64, Cells> = HashMap::new();
    for (entity, is_instance, rule) in &facts.entity_rules {
        let target = if *is_instance {
            &mut instance
        } else {
            &mut own
        };
        add_cell(target.entry(*entity).or_default(), &types, rule);
    }
    let mut collection_cells = Cells::new();
    for (c, rule) in &facts.collection_rules {
        if *c == Collection::Things {
            add_cell(&mut collection_cells, &types, rule);
        }
    }

    let mut entities: Vec<Entity> = Vec::with_capacity(facts.entities.len() + facts.units.len());
    let mut max_templates = 0;
    let mut max_shapes = 0;
    for e in &facts.entities {
        let parents = parents.remove(&e.id).unwrap_or_default();
        let entity = match e.collection {
            Collection::Users => {
                Entity::new_no_attrs(uid(&types.user, &e.name), parents.into_iter().collect())
            }
            Collection::Groups => {
                Entity::new_no_attrs(uid(&types.group, &e.name), parents.into_iter().collect())
            }
            Collection::Organizations => {
                Entity::new_no_attrs(uid(&types.organization, &e.name), HashSet::new())
            }
            Collection::ThingTemplates => Entity::new_with_tags(
                uid(&types.template, &e.name),
                [],
                [],
                tags(instance.remove(&e.id).unwrap_or_default()),
            )
            .expect("a template entity"),
            Collection::ThingShapes => Entity::new_with_tags(
                uid(&types.shape, &e.name),
                [],
                [],
                tags(instance.remove(&e.id).unwrap_or_default()),
            )
            .expect("a shape entity"),
            Collection::Things => {
                // The template chain, nearest first, and the shapes: the Thing's own, then its
                // templates', without repeats.
                let mut chain: Vec<&EntityFact> = Vec::new();
                let mut current = templates.get(e.template.as_str()).copied();
                while let Some(t) = current {
                    if chain.iter().any(|c| c.id == t.id) {
                        break;
                    }
                    chain.push(t);
                    current = if t.template.is_empty() {
                        None
                    } else {
                        templates.get(t.template.as_str()).copied()
                    };
                }
                let mut thing_shapes: Vec<&str> = Vec::new();
                for s in e.shapes.iter().chain(chain.iter().flat_map(|t| &t.shapes)) {
                    if shapes.contains_key(s.as_str()) && !thing_shapes.contains(&s.as_str()) {
                        thing_shapes.push(s);
                    }
                }
                max_templates = max_templates.max(chain.len());
                max_shapes = max_shapes.max(thing_shapes.len());
                let mut attrs: Vec<(String, RestrictedExpression)> = Vec::new();
                if let Some(owner) = e
                    .owner
                    .and_then(|o| by_id.get(&o))
                    .filter(|o| {
                        o.collection == Collection::Users && users.contains_key(o.name.as_str())
                    })
                    .map(|o| o.name.as_str())
                {
                    attrs.push((
                        "owner".into(),
                        RestrictedExpression::new_entity_uid(uid(&types.user, owner)),
                    ));
                }
                for (i, t) in chain.iter().enumerate() {
                    attrs.push((
                        format!("t{i}"),
                        RestrictedExpression::new_entity_uid(uid(&types.template, &t.name)),
                    ));
                }
                for (i, s) in thing_shapes.iter().enumerate() {
                    attrs.push((
                        format!("s{i}"),
                        RestrictedExpression::new_entity_uid(uid(&types.shape, s)),
                    ));
                }
                Entity::new_with_tags(
                    uid(&types.thing, &e.name),
                    attrs,
                    [],
                    tags(own.remove(&e.id).unwrap_or_default()),
                )
                .expect("a Thing entity")
            }
            _ => continue,
        };
        entities.push(entity);
    }
    for u in &facts.units {
        if let Some(me) = unit_uid(u) {
            let parents = unit_parents.remove(&u.id).unwrap_or_default();
            entities.push(Entity::new_no_attrs(me, parents.into_iter().collect()));
        }
    }
    entities.push(
        Entity::new_with_tags(
            uid(&types.collection, Collection::Things.as_str()),
            [],
            [],
            tags(collection_cells),
        )
        .expect("the Things collection entity"),
    );
    let entities = Entities::from_entities(entities, None).expect("a consistent entity set");
    let text = policy_text(max_templates, max_shapes);
    let policies = PolicySet::from_str(&text).expect("the policy set parses");
    CedarSide {
        authorizer: Authorizer::new(),
        policies,
        entities,
        user_type: types.user.clone(),
        thing_type: types.thing.clone(),
        actions: PermissionKind::RUN_TIME
            .iter()
            .map(|k| (*k, uid(&types.action, k.as_str())))
            .collect(),
        policy_text: text,
    }
}

impl CedarSide {
    /// The Cedar request from names: principal, action, resource, and the two row keys
    /// (`Kind:resource` and `Kind:*`) in the context.
    fn request(
        &self,
        user: &str,
        thing: &str,
        kind: PermissionKind,
        resource: &str,
    ) -> CedarRequest {
        let action = self
            .actions
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| a.clone())
            .expect("a run-time action");
        let context = Context::from_pairs([
            (
                "row".to_owned(),
                RestrictedExpression::new_string(format!("{kind}:{resource}")),
            ),
            (
                "star".to_owned(),
                RestrictedExpression::new_string(format!("{kind}:{ANY_RESOURCE}")),
            ),
        ])
        .expect("a valid context");
        CedarRequest::new(
            uid(&self.user_type, user),
            action,
            uid(&self.thing_type, thing),
            context,
            None,
        )
        .expect("a valid request")
    }

    /// Asks the authorizer: (allowed, evaluation errors).
    fn authorize(&self, request: &CedarRequest) -> (bool, usize) {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, &self.entities);
        (
            response.decision() == Decision::Allow,
            response.diagnostics().errors().count(),
        )
    }

    /// The Cedar check from names: the request, then the authorizer.
    fn check(
        &self,
        user: &str,
        thing: &str,
        kind: PermissionKind,
        resource: &str,
    ) -> (bool, usize) {
        self.authorize(&self.request(user, thing, kind, resource))
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement.
// ---------------------------------------------------------------------------------------------

/// How many times this thread has been switched out (voluntarily or not), from
/// `/proc/thread-self/status`; `None` where that file cannot be read.
fn context_switches() -> Option<u64> {
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
struct Samples {
    all: Vec<f64>,
    kept: Vec<f64>,
}

/// One pass over the `n` requests in batches of `BATCH` consecutive calls; records the per-call
/// nanoseconds of each batch in `out` (a warm-up pass passes `None`).
fn time_round(n: usize, out: Option<&mut Samples>, mut call: impl FnMut(usize) -> bool) {
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
struct Dist {
    /// Over the batches that kept their CPU.
    p50: f64,
    p99: f64,
    /// Over every batch.
    all_p50: f64,
    all_p99: f64,
    /// Share of batches dropped because the thread was switched out.
    dropped: f64,
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN)
    };
    (at(0.50), at(0.99))
}

fn dist(samples: Samples) -> Dist {
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
fn kept(d: &Dist) -> String {
    format!("{} / {}", ns(d.p50), ns(d.p99))
}

/// `p50 / p99` over every batch.
fn every(d: &Dist) -> String {
    format!("{} / {}", ns(d.all_p50), ns(d.all_p99))
}

/// `p50 / p99`, then the figures over every batch and the share dropped.
fn show(d: &Dist) -> String {
    format!(
        "p50 {} p99 {} (every batch: p50 {} p99 {}; {:.1}% of batches switched out)",
        ns(d.p50),
        ns(d.p99),
        ns(d.all_p50),
        ns(d.all_p99),
        d.dropped * 100.0
    )
}

struct Row {
    rules: usize,
    index_build: Duration,
    index_entities: usize,
    by_id: Dist,
    by_name: Dist,
    /// Over the uniform sample, which holds the same requests at every size.
    same_by_id: Dist,
    same_by_name: Dist,
    /// Each call timed on its own (p50, p99): by id and by name on the mixed sample, then on
    /// the uniform one.
    calls: [(f64, f64); 4],
    cedar: Option<CedarRow>,
}

struct CedarRow {
    build: Duration,
    check: Dist,
    /// Each call timed on its own: p50, p99.
    check_calls: (f64, f64),
    authorize: Dist,
    mismatches: usize,
    errors: usize,
    checked: usize,
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn ns(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

fn env_sizes(name: &str) -> Option<Vec<usize>> {
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
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// How much one run measures: requests per sample and measured rounds, from the environment or
/// the defaults (a smaller run suits a profiler).
#[derive(Clone, Copy)]
struct RunShape {
    requests: usize,
    rounds: usize,
}

impl RunShape {
    fn from_env() -> RunShape {
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
fn time_calls(
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
struct Clock {
    read_ns: f64,
    holdups_per_s: usize,
    holdup_p50_ns: u128,
    holdup_p90_ns: u128,
}

fn clock() -> Clock {
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
fn call_percentiles(v: Vec<f32>) -> (f64, f64) {
    percentiles(v.into_iter().map(f64::from).collect())
}

/// What one size keeps for the phase in which the sizes take turns: its index and samples.
struct Held {
    rules: usize,
    index: AuthzIndex,
    samples: Vec<Sample>,
    uniform: Vec<Sample>,
}

/// Ours by id and by name, on the mixed sample, then on the uniform one: over batch means, and
/// over single calls (p50, p99).
type OurDists = ([Dist; 4], [(f64, f64); 4]);

/// Ours at one size: by id and by name, on the mixed and on the uniform sample; in the phase
/// in which the sizes take turns, also each call timed on its own (`calls`, same order).
#[derive(Default)]
struct OurSamples {
    by_id: Samples,
    by_name: Samples,
    same_by_id: Samples,
    same_by_name: Samples,
    calls: [Vec<f32>; 4],
}

impl OurSamples {
    /// One pass of ours by id and by name on the mixed sample, then on the uniform one,
    /// recorded when `record` (a warm-up pass is not).
    fn pass(&mut self, index: &AuthzIndex, samples: &[Sample], uniform: &[Sample], record: bool) {
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
    fn pass_calls(
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
    fn dists(self) -> OurDists {
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
fn sizes_taking_turns(held: &[Held], rounds: usize, clock_ns: f64) -> Vec<(usize, OurDists)> {
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
fn patch_cost(facts: &Facts, index: &AuthzIndex, build: Duration) {
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

fn run_size(
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
fn by_id_check(index: &AuthzIndex, s: &Sample) -> bool {
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
fn by_name_check(index: &AuthzIndex, s: &Sample) -> bool {
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
