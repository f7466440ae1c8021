//! Patched indexes against builds: after random rule changes on random models, an index patched
//! from the previous one decides and explains as an index built from the changed facts.

use std::collections::BTreeSet;

use super::*;
use ironworx_entity::vocab::PermissionCategory;

use crate::authz::decide::Step;

/// What an explanation says, less the order of rules inside one row (rules are sorted by
/// principal number, which depends on the order names were first met) and which of two denies
/// in one row is called decisive.
fn said(steps: &[Step]) -> (Vec<String>, Option<String>) {
    let mut all: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "{:?} {:?} {} {:?}",
                s.layer, s.principal, s.resource, s.effect
            )
        })
        .collect();
    all.sort();
    let decisive = steps
        .iter()
        .find(|s| s.decisive)
        .map(|s| format!("{:?} {} {:?}", s.layer, s.resource, s.effect));
    (all, decisive)
}

/// New rules for a changed entity: often none, sometimes naming a principal or resource the
/// index has never seen (which a patch must intern, and may not be able to pack).
fn new_rules(rng: &mut StdRng, r: &RandomModel, step: usize) -> Vec<Rule> {
    let count = match rng.random_range(0..4) {
        0 => 0,
        _ => rng.random_range(1..8),
    };
    (0..count)
        .map(|n| {
            let mut rule = r.rule(rng);
            if rng.random_bool(0.1) {
                rule.principal_name = format!("new{step}_{n}");
            }
            if rng.random_bool(0.1) && rule.kind.category() == PermissionCategory::RunTime {
                rule.resource = format!("r{step}_{n}");
            }
            rule
        })
        .collect()
}

#[test]
fn patched_indexes_decide_and_explain_as_builds_do() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0009);
    let (mut patched_count, mut refused) = (0usize, 0usize);
    let mut checked = 0usize;
    for _ in 0..30 {
        let mut r = RandomModel::new(&mut rng);
        let count = rng.random_range(0..30);
        r.place_rules(&mut rng, count);
        let mut index = r.m.index();
        for step in 0..12 {
            // Change the rules of one to four entities: Things' own rules, templates' and
            // shapes' instance rules, a user's own rules, and now and then both kinds at once.
            let mut changed = BTreeSet::new();
            let mut rules = Vec::new();
            for _ in 0..rng.random_range(1..5) {
                let (collection, entity) = match rng.random_range(0..4) {
                    0 => (ThingTemplates, pick(&mut rng, &r.templates)),
                    1 => (ThingShapes, pick(&mut rng, &r.shapes)),
                    2 => (Users, pick(&mut rng, &r.users)),
                    _ => (Things, pick(&mut rng, &r.things)),
                };
                let id = r.m.id_of(collection, &entity);
                if !changed.insert(id) {
                    continue;
                }
                let inherits = matches!(collection, ThingTemplates | ThingShapes);
                for rule in new_rules(&mut rng, &r, step) {
                    let instance = inherits && !rng.random_bool(0.1);
                    rules.push((id, instance, rule));
                }
            }
            let sequence = index.sequence() + 1;
            let patched = index.patch_rules(sequence, &changed, &rules);
            r.m.facts.replace_rules(sequence, &changed, rules);
            let built = r.m.index();
            let Some(patched) = patched else {
                refused += 1;
                index = built;
                continue;
            };
            patched_count += 1;
            assert_eq!(patched.sequence(), sequence);
            for (what, request) in r.requests(&patched) {
                let (outcome, steps) = explain(&patched, &request);
                let (expected, expected_steps) = explain(&built, &request);
                assert_eq!(outcome, expected, "{what}: {:#?}", r.m.facts);
                assert_eq!(decide(&patched, &request), expected, "{what}");
                assert_eq!(said(&steps), said(&expected_steps), "{what}");
                checked += 1;
            }
            index = patched;
        }
    }
    assert!(checked > 50_000, "{checked} requests checked");
    // Both ways are taken: patches, and refusals (new principals beyond the packing, or more
    // unreachable entries than reachable ones) that leave the change to a build.
    assert!(
        patched_count > 200 && refused > 10,
        "{patched_count} patched, {refused} refused"
    );
}
