//! The narrowed diff against asking everything: for random models and random changes, the
//! questions [`super::compare`] reports are exactly those a comparison of every user with
//! every entity, permission and resource finds.

use std::collections::BTreeSet;

use ironworx_entity::queries::defined::DefinitionKind;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::{Filter, compare, resources};
use crate::authz::{EntityFact, Facts, Outcome, Request, Target, UnitFact};
use crate::domain::snapshot::Snapshot;

const USERS: i64 = 6;
const GROUPS: i64 = 4;
const TEMPLATES: i64 = 3;
const SHAPES: i64 = 2;
const THINGS: i64 = 8;
const UNITS: i64 = 3;
const ORG: i64 = 90;
const RESOURCES: &[&str] = &["*", "a", "b", "Ping"];

fn user(i: i64) -> i64 {
    10 + i
}
fn group(i: i64) -> i64 {
    20 + i
}
fn template(i: i64) -> i64 {
    30 + i
}
fn shape(i: i64) -> i64 {
    40 + i
}
fn thing(i: i64) -> i64 {
    50 + i
}

/// A model and what its entities define.
#[derive(Clone)]
struct Model {
    facts: Facts,
    defined: Vec<(i64, DefinitionKind, String)>,
}

impl Model {
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(&self.facts, self.defined.clone())
    }
}

fn fact(id: i64, collection: Collection, name: String) -> EntityFact {
    EntityFact {
        id,
        collection,
        name,
        owner: None,
        template: String::new(),
        shapes: Vec::new(),
    }
}

fn principal(rng: &mut StdRng) -> (PrincipalType, String) {
    match rng.random_range(0..4) {
        0 => (
            PrincipalType::User,
            format!("u{}", rng.random_range(0..USERS)),
        ),
        1 => (
            PrincipalType::Group,
            format!("g{}", rng.random_range(0..GROUPS)),
        ),
        2 => (PrincipalType::Organization, "Org".into()),
        _ => (
            PrincipalType::OrganizationalUnit,
            format!("Org:n{}", rng.random_range(0..UNITS)),
        ),
    }
}

fn rule(rng: &mut StdRng) -> Rule {
    let kind = *PermissionKind::ALL
        .choose(rng)
        .unwrap_or(&PermissionKind::Read);
    let (principal_type, principal_name) = principal(rng);
    let resource = if kind.category() == ironworx_entity::vocab::PermissionCategory::RunTime {
        (*RESOURCES.choose(rng).unwrap_or(&"*")).to_owned()
    } else {
        "*".to_owned()
    };
    Rule {
        kind,
        resource,
        principal_type,
        principal_name,
        allow: rng.random_bool(0.7),
    }
}

/// A random rule source: a Thing's, a template's or shape's own or instance rules, or a
/// collection's.
fn add_rule(rng: &mut StdRng, facts: &mut Facts) {
    let rule = rule(rng);
    match rng.random_range(0..5) {
        0 => facts.collection_rules.push((
            *[Collection::Things, Collection::ThingTemplates]
                .choose(rng)
                .unwrap_or(&Collection::Things),
            rule,
        )),
        1 => facts
            .entity_rules
            .push((template(rng.random_range(0..TEMPLATES)), true, rule)),
        2 => facts
            .entity_rules
            .push((shape(rng.random_range(0..SHAPES)), true, rule)),
        3 => facts
            .entity_rules
            .push((template(rng.random_range(0..TEMPLATES)), false, rule)),
        _ => facts
            .entity_rules
            .push((thing(rng.random_range(0..THINGS)), false, rule)),
    }
}

fn model(rng: &mut StdRng) -> Model {
    let mut facts = Facts::default();
    facts
        .entities
        .push(fact(ORG, Collection::Organizations, "Org".into()));
    for i in 0..USERS {
        facts
            .entities
            .push(fact(user(i), Collection::Users, format!("u{i}")));
    }
    for i in 0..GROUPS {
        facts
            .entities
            .push(fact(group(i), Collection::Groups, format!("g{i}")));
    }
    for i in 0..SHAPES {
        facts
            .entities
            .push(fact(shape(i), Collection::ThingShapes, format!("s{i}")));
    }
    for i in 0..TEMPLATES {
        let mut t = fact(template(i), Collection::ThingTemplates, format!("t{i}"));
        if i > 0 && rng.random_bool(0.6) {
            t.template = format!("t{}", rng.random_range(0..i));
        }
        if rng.random_bool(0.4) {
            t.shapes.push(format!("s{}", rng.random_range(0..SHAPES)));
        }
        facts.entities.push(t);
    }
    for i in 0..THINGS {
        facts.entities.push(random_thing(rng, i));
    }
    for i in 0..UNITS {
        facts.units.push(UnitFact {
            id: 100 + i,
            organization: ORG,
            name: format!("n{i}"),
            parent: (i > 0).then(|| 100 + rng.random_range(0..i)),
        });
    }
    for _ in 0..8 {
        membership(rng, &mut facts, true);
    }
    // Most users see the Things and templates, so that run-time rules decide something.
    for i in 0..USERS {
        if rng.random_bool(0.8) {
            facts.unit_members.push((100, user(i)));
        }
    }
    for collection in [Collection::Things, Collection::ThingTemplates] {
        facts.collection_rules.push((
            collection,
            Rule {
                kind: PermissionKind::Visibility,
                resource: "*".into(),
                principal_type: PrincipalType::Organization,
                principal_name: "Org".into(),
                allow: true,
            },
        ));
    }
    for _ in 0..4 {
        unit_member(rng, &mut facts, true);
    }
    for _ in 0..14 {
        add_rule(rng, &mut facts);
    }
    let mut defined = Vec::new();
    for id in [template(0), template(1), shape(0), thing(0), thing(3)] {
        define(rng, &mut defined, id);
    }
    Model { facts, defined }
}

fn random_thing(rng: &mut StdRng, i: i64) -> EntityFact {
    let mut t = fact(thing(i), Collection::Things, format!("x{i}"));
    t.template = format!("t{}", rng.random_range(0..TEMPLATES));
    if rng.random_bool(0.3) {
        t.shapes.push(format!("s{}", rng.random_range(0..SHAPES)));
    }
    if rng.random_bool(0.2) {
        t.owner = Some(user(rng.random_range(0..USERS)));
    }
    t
}

fn define(rng: &mut StdRng, defined: &mut Vec<(i64, DefinitionKind, String)>, id: i64) {
    let kind = *[
        DefinitionKind::Property,
        DefinitionKind::Service,
        DefinitionKind::Event,
    ]
    .choose(rng)
    .unwrap_or(&DefinitionKind::Property);
    let name = *["a", "b", "Ping", "c"].choose(rng).unwrap_or(&"a");
    defined.push((id, kind, name.to_owned()));
}

/// Adds (or, with `add` false, removes) a random membership of a user or group in a group.
fn membership(rng: &mut StdRng, facts: &mut Facts, add: bool) {
    if !add {
        if !facts.memberships.is_empty() {
            let i = rng.random_range(0..facts.memberships.len());
            facts.memberships.remove(i);
        }
        return;
    }
    let g = rng.random_range(0..GROUPS);
    let member = if rng.random_bool(0.7) {
        user(rng.random_range(0..USERS))
    } else {
        // Nested groups point downwards only, so no cycle arises.
        match rng.random_range(0..GROUPS) {
            h if h > g => group(h),
            _ => return,
        }
    };
    facts.memberships.push((group(g), member));
}

fn unit_member(rng: &mut StdRng, facts: &mut Facts, add: bool) {
    if !add {
        if !facts.unit_members.is_empty() {
            let i = rng.random_range(0..facts.unit_members.len());
            facts.unit_members.remove(i);
        }
        return;
    }
    let member = if rng.random_bool(0.6) {
        user(rng.random_range(0..USERS))
    } else {
        group(rng.random_range(0..GROUPS))
    };
    facts
        .unit_members
        .push((100 + rng.random_range(0..UNITS), member));
}

/// One random change of the kinds the audit record knows.
fn change(rng: &mut StdRng, model: &mut Model) {
    let facts = &mut model.facts;
    match rng.random_range(0..12) {
        0 => membership(rng, facts, true),
        1 => membership(rng, facts, false),
        2 => {
            let add = rng.random_bool(0.5);
            unit_member(rng, facts, add);
        }
        3 => add_rule(rng, facts),
        4 => {
            if !facts.entity_rules.is_empty() {
                let i = rng.random_range(0..facts.entity_rules.len());
                facts.entity_rules.remove(i);
            }
        }
        5 => {
            if !facts.collection_rules.is_empty() {
                let i = rng.random_range(0..facts.collection_rules.len());
                facts.collection_rules.remove(i);
            }
        }
        6 => {
            // A Thing moves to another template, shape or owner.
            let i = rng.random_range(0..THINGS);
            let replacement = random_thing(rng, i);
            if let Some(t) = facts.entities.iter_mut().find(|e| e.id == thing(i)) {
                *t = replacement;
            }
        }
        7 => {
            // A Thing, a user or a group goes away with its rules and memberships.
            let id = *[
                thing(rng.random_range(0..THINGS)),
                user(rng.random_range(0..USERS)),
                group(rng.random_range(0..GROUPS)),
            ]
            .choose(rng)
            .unwrap_or(&thing(0));
            facts.entities.retain(|e| e.id != id);
            facts.memberships.retain(|(g, m)| *g != id && *m != id);
            facts.unit_members.retain(|(_, m)| *m != id);
            facts.entity_rules.retain(|(e, _, _)| *e != id);
        }
        8 => {
            // A template's base changes (still pointing to a lower one: no cycle).
            let i = rng.random_range(1..TEMPLATES);
            let base = format!("t{}", rng.random_range(0..i));
            if let Some(t) = facts.entities.iter_mut().find(|e| e.id == template(i)) {
                t.template = if t.template == base {
                    String::new()
                } else {
                    base
                };
            }
        }
        9 => {
            let id = *[template(0), shape(1), thing(rng.random_range(0..THINGS))]
                .choose(rng)
                .unwrap_or(&thing(0));
            define(rng, &mut model.defined, id);
        }
        10 => {
            // A unit moves under another one.
            let i = rng.random_range(1..UNITS);
            let parent = 100 + rng.random_range(0..i);
            if let Some(u) = facts.units.iter_mut().find(|u| u.id == 100 + i) {
                u.parent = Some(parent);
            }
        }
        _ => {
            // Administrators appear or a user joins them.
            if !facts.entities.iter().any(|e| e.name == "Administrators") {
                facts
                    .entities
                    .push(fact(99, Collection::Groups, "Administrators".into()));
            }
            facts
                .memberships
                .push((99, user(rng.random_range(0..USERS))));
        }
    }
}

type Question = (String, Collection, String, PermissionKind, String);

/// Every question whose answer differs, found by asking every user about every target.
fn everything(before: &Snapshot, after: &Snapshot) -> BTreeSet<(Question, bool)> {
    let mut users = BTreeSet::new();
    let mut targets: BTreeSet<(Collection, String)> = Collection::ALL
        .iter()
        .map(|c| (*c, String::new()))
        .collect();
    for side in [before, after] {
        for (_, collection, name) in side.entities() {
            if collection == Collection::Users {
                users.insert(name.to_owned());
            }
            targets.insert((collection, name.to_owned()));
        }
    }
    let allowed = |side: &Snapshot,
                   user: &str,
                   (collection, entity): &(Collection, String),
                   kind,
                   resource: &str| {
        let Some(user) = side.index.lookup(Collection::Users, user) else {
            return false;
        };
        let target = if entity.is_empty() {
            Target::Collection(*collection)
        } else {
            match side.index.lookup(*collection, entity) {
                Some(idx) => Target::Entity(idx),
                None => return false,
            }
        };
        crate::authz::decide(
            &side.index,
            &Request {
                user,
                target,
                kind,
                resource,
            },
        ) == Outcome::Allow
    };
    let mut found = BTreeSet::new();
    for user in &users {
        for target in &targets {
            for &kind in PermissionKind::ALL {
                if (kind == PermissionKind::Create) != target.1.is_empty() {
                    continue;
                }
                let entities = [before, after].map(|s| s.index.lookup(target.0, &target.1));
                for resource in resources([before, after], entities, kind) {
                    let was = allowed(before, user, target, kind, resource);
                    if was != allowed(after, user, target, kind, resource) {
                        found.insert((
                            (
                                user.clone(),
                                target.0,
                                target.1.clone(),
                                kind,
                                resource.to_owned(),
                            ),
                            was,
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn the_narrowed_diff_finds_what_asking_everything_finds() {
    let mut nonempty = 0;
    for seed in 0..400 {
        let mut rng = StdRng::seed_from_u64(seed);
        let before_model = model(&mut rng);
        let mut after_model = before_model.clone();
        for _ in 0..rng.random_range(1..4) {
            change(&mut rng, &mut after_model);
        }
        let (before, after) = (before_model.snapshot(), after_model.snapshot());
        let expected = everything(&before, &after);
        let got: BTreeSet<(Question, bool)> = compare(&before, &after, &Filter::default())
            .expect("diff")
            .into_iter()
            .map(|c| {
                let was = c.before.allowed();
                (
                    (c.user, c.collection, c.entity, c.permission, c.resource),
                    was,
                )
            })
            .collect();
        assert_eq!(got, expected, "seed {seed}");
        nonempty += usize::from(!expected.is_empty());
    }
    // The changes are not all no-ops: most seeds flip something.
    assert!(
        nonempty > 200,
        "only {nonempty} of 400 seeds changed a decision"
    );
}
