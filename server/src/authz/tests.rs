//! Tests of the evaluator (contract section 4, items 1–3), by topic in `tests/`, and the models
//! they build in memory: a small model builder, one request asked and explained, random models.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::authz::decide::{Outcome, Request, StepEffect, Target, decide, explain};
use crate::authz::facts::{EntityFact, Facts, UnitFact};
use crate::authz::index::{AuthzIndex, Pid, PidMask, PidSet};

mod inheritance;
mod packing;
mod patch;
mod random;
mod tables;
mod wrapped;

use Collection::{ThingShapes, ThingTemplates, Things, Users};
use PermissionKind::{
    Create, Delete, EventSubscribe, PropertyRead, PropertyWrite, Read, ServiceInvoke, Update,
    Visibility,
};

/// A small model builder: every user joins `Users`, which is in organization `Everyone`.
struct Model {
    facts: Facts,
    next: i64,
}

impl Model {
    fn new() -> Model {
        let mut m = Model {
            facts: Facts::default(),
            next: 1,
        };
        m.group("Users", &[]);
        m.group("Administrators", &[]);
        m.org("Everyone", &[], &[("Everyone", "Users")]);
        m
    }

    /// Grants collection visibility to `Everyone` on the collections tests use.
    fn visible_to_everyone(mut self) -> Model {
        for c in [Things, ThingTemplates, ThingShapes, Users] {
            self.coll_rule(
                c,
                Visibility,
                "*",
                PrincipalType::Organization,
                "Everyone",
                true,
            );
        }
        self
    }

    fn id_of(&self, collection: Collection, name: &str) -> i64 {
        self.facts
            .entities
            .iter()
            .find(|e| e.collection == collection && e.name == name)
            .map(|e| e.id)
            .unwrap_or_else(|| panic!("{collection} {name} is not in the model"))
    }

    fn add(
        &mut self,
        collection: Collection,
        name: &str,
        template: &str,
        shapes: &[&str],
        owner: Option<&str>,
    ) -> i64 {
        let id = self.next;
        self.next += 1;
        // The owner is named by the test and stored by identity, as the database does; an
        // owner missing from the model is an id nothing has.
        let owner = owner.map(|o| {
            self.facts
                .entities
                .iter()
                .find(|e| e.collection == Users && e.name == o)
                .map_or(i64::MAX, |e| e.id)
        });
        self.facts.entities.push(EntityFact {
            id,
            collection,
            name: name.into(),
            owner,
            template: template.into(),
            shapes: shapes.iter().map(|s| (*s).to_owned()).collect(),
        });
        id
    }

    fn user(&mut self, name: &str) -> &mut Self {
        let id = self.add(Users, name, "", &[], None);
        let users = self.id_of(Collection::Groups, "Users");
        self.facts.memberships.push((users, id));
        self
    }

    /// A group with members (users or groups, looked up by name; users first).
    fn group(&mut self, name: &str, members: &[&str]) -> &mut Self {
        let id = self.add(Collection::Groups, name, "", &[], None);
        for m in members {
            let member = self
                .facts
                .entities
                .iter()
                .find(|e| e.name == *m && matches!(e.collection, Users | Collection::Groups))
                .map(|e| e.id)
                .unwrap_or_else(|| panic!("member {m} is not in the model"));
            self.facts.memberships.push((id, member));
        }
        self
    }

    fn member(&mut self, group: &str, member: &str) -> &mut Self {
        let g = self.id_of(Collection::Groups, group);
        let m = self
            .facts
            .entities
            .iter()
            .find(|e| e.name == member && matches!(e.collection, Users | Collection::Groups))
            .map(|e| e.id)
            .unwrap_or_else(|| panic!("member {member} is not in the model"));
        self.facts.memberships.push((g, m));
        self
    }

    /// An organization: units as (unit, parent) below the root unit, members as (unit, member).
    fn org(&mut self, name: &str, units: &[(&str, &str)], members: &[(&str, &str)]) -> &mut Self {
        let org = self.add(Collection::Organizations, name, "", &[], None);
        let root = self.next;
        self.next += 1;
        self.facts.units.push(UnitFact {
            id: root,
            organization: org,
            name: name.into(),
            parent: None,
        });
        for (unit, parent) in units {
            let parent = self
                .facts
                .units
                .iter()
                .find(|u| u.organization == org && u.name == *parent)
                .map(|u| u.id);
            let id = self.next;
            self.next += 1;
            self.facts.units.push(UnitFact {
                id,
                organization: org,
                name: (*unit).into(),
                parent,
            });
        }
        for (unit, member) in members {
            let unit = self
                .facts
                .units
                .iter()
                .find(|u| u.organization == org && u.name == *unit)
                .map(|u| u.id)
                .unwrap_or_else(|| panic!("unit {unit} is not in {name}"));
            let member = self
                .facts
                .entities
                .iter()
                .find(|e| e.name == *member && matches!(e.collection, Users | Collection::Groups))
                .map(|e| e.id)
                .unwrap_or_else(|| panic!("member {member} is not in the model"));
            self.facts.unit_members.push((unit, member));
        }
        self
    }

    fn template(&mut self, name: &str, base: &str) -> &mut Self {
        self.add(ThingTemplates, name, base, &[], None);
        self
    }

    fn shape(&mut self, name: &str) -> &mut Self {
        self.add(ThingShapes, name, "", &[], None);
        self
    }

    fn thing(
        &mut self,
        name: &str,
        template: &str,
        shapes: &[&str],
        owner: Option<&str>,
    ) -> &mut Self {
        self.add(Things, name, template, shapes, owner);
        self
    }

    #[allow(clippy::too_many_arguments, reason = "a table row of a rule")]
    fn rule(
        &mut self,
        collection: Collection,
        entity: &str,
        instance: bool,
        kind: PermissionKind,
        resource: &str,
        principal_type: PrincipalType,
        principal: &str,
        allow: bool,
    ) -> &mut Self {
        let id = self.id_of(collection, entity);
        self.facts.entity_rules.push((
            id,
            instance,
            Rule {
                kind,
                resource: resource.into(),
                principal_type,
                principal_name: principal.into(),
                allow,
            },
        ));
        self
    }

    fn coll_rule(
        &mut self,
        collection: Collection,
        kind: PermissionKind,
        resource: &str,
        principal_type: PrincipalType,
        principal: &str,
        allow: bool,
    ) -> &mut Self {
        self.facts.collection_rules.push((
            collection,
            Rule {
                kind,
                resource: resource.into(),
                principal_type,
                principal_name: principal.into(),
                allow,
            },
        ));
        self
    }

    fn index(&self) -> AuthzIndex {
        AuthzIndex::build(&self.facts)
    }
}

fn ask(
    index: &AuthzIndex,
    user: &str,
    target: (Collection, &str),
    kind: PermissionKind,
    resource: &str,
) -> (Outcome, String) {
    let user = index.lookup(Users, user).expect("user in the index");
    let target = if target.1.is_empty() {
        Target::Collection(target.0)
    } else {
        Target::Entity(
            index
                .lookup(target.0, target.1)
                .expect("entity in the index"),
        )
    };
    let request = Request {
        user,
        target,
        kind,
        resource,
    };
    let (outcome, steps) = explain(index, &request);
    assert_eq!(decide(index, &request), outcome, "explain and decide agree");
    let decisive: Vec<_> = steps.iter().filter(|s| s.decisive).collect();
    match outcome {
        Outcome::NotVisible | Outcome::Deny | Outcome::Allow => {
            assert_eq!(decisive.len(), 1, "exactly one decisive step: {steps:#?}");
        }
    }
    let d = decisive[0];
    match outcome {
        Outcome::Allow => assert_eq!(d.effect, StepEffect::Allow, "{steps:#?}"),
        _ => assert_eq!(d.effect, StepEffect::Deny, "{steps:#?}"),
    }
    (outcome, d.layer.label())
}

use Outcome::{Allow, Deny, NotVisible};
use PrincipalType::{Group, Organization, OrganizationalUnit, User};

/// A random model of a few users, nested groups, one organization with units, templates with
/// chains (some dangling) and shapes, and Things; rules come from [`RandomModel::rule`].
struct RandomModel {
    m: Model,
    users: Vec<String>,
    groups: Vec<String>,
    shapes: Vec<String>,
    templates: Vec<String>,
    things: Vec<String>,
}

/// Resources rules name; requests also ask for `c`, which no rule names.
const RANDOM_RESOURCES: &[&str] = &["*", "a", "b"];

impl RandomModel {
    fn new(rng: &mut StdRng) -> RandomModel {
        let mut m = Model::new();
        let users: Vec<String> = (0..4).map(|i| format!("u{i}")).collect();
        for u in &users {
            m.user(u);
        }
        let groups: Vec<String> = (0..4).map(|i| format!("g{i}")).collect();
        for (i, g) in groups.iter().enumerate() {
            let members: Vec<&str> = users
                .iter()
                .map(String::as_str)
                .filter(|_| rng.random_bool(0.4))
                .collect();
            m.group(g, &members);
            if i > 0 && rng.random_bool(0.5) {
                let outer = groups[rng.random_range(0..i)].clone();
                m.member(&outer, g);
            }
        }
        m.org(
            "P",
            &[("P1", "P"), ("P2", "P1")],
            &[("P1", "u0"), ("P2", "g1"), ("P", "u2")],
        );
        let shapes: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
        for s in &shapes {
            m.shape(s);
        }
        let templates: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        for t in &templates {
            let base = match rng.random_range(0..10) {
                0 => "missing".to_owned(),
                1..=3 => String::new(),
                _ => templates[rng.random_range(0..templates.len())].clone(),
            };
            let own: Vec<&str> = shapes
                .iter()
                .map(String::as_str)
                .filter(|_| rng.random_bool(0.3))
                .collect();
            m.add(ThingTemplates, t, &base, &own, None);
        }
        let things: Vec<String> = (0..8).map(|i| format!("x{i}")).collect();
        for x in &things {
            let template = if rng.random_bool(0.15) {
                String::new()
            } else {
                templates[rng.random_range(0..templates.len())].clone()
            };
            let own: Vec<&str> = shapes
                .iter()
                .map(String::as_str)
                .filter(|_| rng.random_bool(0.3))
                .collect();
            m.thing(x, &template, &own, None);
        }
        RandomModel {
            m,
            users,
            groups,
            shapes,
            templates,
            things,
        }
    }

    /// A random rule: visibility rules name the organizations and units, the others a user or
    /// a group.
    fn rule(&self, rng: &mut StdRng) -> Rule {
        let kind = PermissionKind::ALL[rng.random_range(0..PermissionKind::ALL.len())];
        let (principal_type, principal_name) = match kind {
            Visibility => match rng.random_range(0..4) {
                0 => (Organization, "P".to_owned()),
                1 => (Organization, "Everyone".to_owned()),
                2 => (OrganizationalUnit, "P:P1".to_owned()),
                _ => (OrganizationalUnit, "P:P2".to_owned()),
            },
            _ if rng.random_bool(0.4) => (User, pick(rng, &self.users)),
            _ => (Group, pick(rng, &self.groups)),
        };
        Rule {
            kind,
            resource: pick(rng, RANDOM_RESOURCES),
            principal_type,
            principal_name,
            allow: rng.random_bool(0.6),
        }
    }

    /// Adds `count` random rules: instance rules of templates and shapes, own rules of Things,
    /// and one in ten on the Things collection.
    fn place_rules(&mut self, rng: &mut StdRng, count: usize) {
        for _ in 0..count {
            let rule = self.rule(rng);
            let (collection, entity, instance) = match rng.random_range(0..10) {
                0..=3 => (ThingTemplates, pick(rng, &self.templates), true),
                4..=6 => (ThingShapes, pick(rng, &self.shapes), true),
                7 | 8 => (Things, pick(rng, &self.things), false),
                _ => {
                    self.m.facts.collection_rules.push((Things, rule));
                    continue;
                }
            };
            let id = self.m.id_of(collection, &entity);
            self.m.facts.entity_rules.push((id, instance, rule));
        }
    }

    /// Every request of every user on every Thing, template, shape and user, for every kind
    /// and resource.
    fn requests(&self, index: &AuthzIndex) -> Vec<(String, Request<'static>)> {
        let targets: Vec<(Collection, &String)> = [
            (Things, &self.things),
            (ThingTemplates, &self.templates),
            (ThingShapes, &self.shapes),
            (Users, &self.users),
        ]
        .into_iter()
        .flat_map(|(c, names)| names.iter().map(move |n| (c, n)))
        .collect();
        let mut requests = Vec::new();
        for u in &self.users {
            let user = index.lookup(Users, u).expect("user");
            for (collection, x) in &targets {
                let target = index.lookup(*collection, x).expect("target");
                for &kind in PermissionKind::ALL {
                    for resource in ["*", "a", "b", "c"] {
                        let request = Request {
                            user,
                            target: Target::Entity(target),
                            kind,
                            resource,
                        };
                        requests.push((format!("{u} {kind} {resource} on {x}"), request));
                    }
                }
            }
        }
        requests
    }
}

fn pick<T: ToString>(rng: &mut StdRng, items: &[T]) -> String {
    items[rng.random_range(0..items.len())].to_string()
}
