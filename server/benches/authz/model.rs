//! The generated model (users, nested groups, organizations, shapes, templates, Things), its rules
//! and the request samples.

use super::*;

/// The generated model without rules, plus what the request sampler needs.
pub(super) struct Model {
    pub(super) facts: Facts,
    pub(super) users: Vec<String>,
    pub(super) internal_users: Vec<usize>,
    pub(super) groups: Vec<String>,
    pub(super) organizations: Vec<String>,
    pub(super) units: Vec<String>,
    pub(super) templates: Vec<String>,
    pub(super) template_ids: Vec<i64>,
    pub(super) shapes: Vec<String>,
    pub(super) shape_ids: Vec<i64>,
    pub(super) things: Vec<String>,
    pub(super) thing_ids: Vec<i64>,
    /// Users of each group, transitively.
    pub(super) users_of_group: HashMap<String, Vec<usize>>,
    /// Things whose template chain holds the template.
    pub(super) things_of_template: Vec<Vec<usize>>,
    /// Things that implement the shape (directly or through a template).
    pub(super) things_of_shape: Vec<Vec<usize>>,
    pub(super) properties: Vec<String>,
    pub(super) services: Vec<String>,
    pub(super) events: Vec<String>,
}

impl Model {
    pub(super) fn resources(&self, kind: PermissionKind) -> &[String] {
        match kind {
            PermissionKind::PropertyRead | PermissionKind::PropertyWrite => &self.properties,
            PermissionKind::ServiceInvoke => &self.services,
            _ => &self.events,
        }
    }

    pub(super) fn random_resource(&self, rng: &mut StdRng, kind: PermissionKind) -> String {
        let names = self.resources(kind);
        names[rng.random_range(0..names.len())].clone()
    }
}

pub(super) fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

pub(super) fn random_run_time(rng: &mut StdRng) -> PermissionKind {
    *pick(rng, &PermissionKind::RUN_TIME)
}

/// Generates every entity, membership and unit; no rules.
pub(super) fn generate_model() -> Model {
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
pub(super) fn permission_rule(rng: &mut StdRng, model: &Model) -> Rule {
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
pub(super) fn visibility_rule(rng: &mut StdRng, model: &Model) -> Rule {
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
pub(super) fn with_rules(model: &Model, count: usize) -> Facts {
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
pub(super) struct Sample {
    pub(super) user: String,
    pub(super) thing: String,
    pub(super) kind: PermissionKind,
    pub(super) resource: String,
    pub(super) user_idx: EntityIdx,
    pub(super) thing_idx: EntityIdx,
    pub(super) outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Allow,
    DenyRule,
    DefaultDeny,
    NotVisible,
}

pub(super) fn classify(index: &AuthzIndex, request: &Request<'_>) -> (Outcome, Class) {
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
pub(super) fn candidate(
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
pub(super) fn sample_requests(
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
pub(super) fn uniform_requests(model: &Model, index: &AuthzIndex, requests: usize) -> Vec<Sample> {
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
