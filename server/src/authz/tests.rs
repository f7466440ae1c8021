//! Decision tables for every rule of the evaluator (contract section 4, items 1–3), on models
//! built in memory.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::authz::decide::{Outcome, Request, StepEffect, Target, decide, explain};
use crate::authz::facts::{EntityFact, Facts, UnitFact};
use crate::authz::index::{AuthzIndex, Pid, PidMask, PidSet};

mod patch;
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

#[test]
fn administrator_and_administrators_bypass_everything() {
    let mut m = Model::new();
    m.user("Administrator").user("alice").user("bob");
    m.group("Ops", &["alice"]).member("Administrators", "Ops");
    m.thing("Hidden", "", &[], None);
    let ix = m.index();
    for user in ["Administrator", "alice"] {
        assert_eq!(
            ask(&ix, user, (Things, "Hidden"), ServiceInvoke, "Reboot"),
            (Allow, "Administrator".into())
        );
        assert_eq!(
            ask(&ix, user, (Things, ""), Create, "*"),
            (Allow, "Administrator".into())
        );
    }
    assert_eq!(
        ask(&ix, "bob", (Things, "Hidden"), ServiceInvoke, "Reboot").0,
        NotVisible
    );
}

#[test]
fn owner_bypasses_rules_and_visibility() {
    let mut m = Model::new();
    m.user("alice").thing("Mine", "", &[], Some("alice"));
    m.rule(
        Things,
        "Mine",
        false,
        PropertyWrite,
        "*",
        User,
        "alice",
        false,
    );
    let ix = m.index();
    assert_eq!(
        ask(&ix, "alice", (Things, "Mine"), PropertyWrite, "x"),
        (Allow, "Owner".into())
    );
    assert_eq!(
        ask(&ix, "alice", (Things, "Mine"), Delete, "*"),
        (Allow, "Owner".into())
    );
}

#[test]
fn default_is_deny_with_a_default_row() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("alice").thing("T", "", &[], None);
    let ix = m.index();
    assert_eq!(
        ask(&ix, "alice", (Things, "T"), PropertyRead, "p"),
        (Deny, "Default".into())
    );
    let (_, steps) = explain(
        &ix,
        &Request {
            user: ix.lookup(Users, "alice").expect("alice"),
            target: Target::Entity(ix.lookup(Things, "T").expect("T")),
            kind: ServiceInvoke,
            resource: "GetStreamEntries",
        },
    );
    let last = steps.last().expect("steps");
    assert!(last.detail.contains("user alice and its groups Users have no ServiceInvoke rule for GetStreamEntries on entity T or the Things collection; nothing else grants it; default is deny"), "{}", last.detail);
}

#[test]
fn visibility_gate() {
    let mut m = Model::new();
    m.user("op").user("sup").user("other").user("nested");
    m.group("LineOps", &["nested"]);
    m.org(
        "Plant",
        &[("Area", "Plant"), ("Line", "Area")],
        &[("Line", "op"), ("Area", "sup"), ("Line", "LineOps")],
    );
    m.org("Elsewhere", &[], &[("Elsewhere", "other")]);
    m.template("Line.TT", "");
    m.thing("LineThing", "", &[], None)
        .thing("AreaThing", "", &[], None)
        .thing("PlantThing", "", &[], None)
        .thing("Templated", "Line.TT", &[], None)
        .thing("Nothing", "", &[], None);
    m.rule(
        Things,
        "LineThing",
        false,
        Visibility,
        "*",
        OrganizationalUnit,
        "Plant:Line",
        true,
    );
    m.rule(
        Things,
        "AreaThing",
        false,
        Visibility,
        "*",
        OrganizationalUnit,
        "Plant:Area",
        true,
    );
    m.rule(
        Things,
        "PlantThing",
        false,
        Visibility,
        "*",
        Organization,
        "Plant",
        true,
    );
    m.rule(
        ThingTemplates,
        "Line.TT",
        true,
        Visibility,
        "*",
        OrganizationalUnit,
        "Plant:Line",
        true,
    );
    let ix = m.index();
    let vis = |u: &str, t: &str| ask(&ix, u, (Things, t), Visibility, "*").0;
    // A grant to a unit is visible to it and to every unit above it.
    assert_eq!(vis("op", "LineThing"), Allow);
    assert_eq!(vis("sup", "LineThing"), Allow);
    assert_eq!(vis("op", "AreaThing"), NotVisible);
    assert_eq!(vis("sup", "AreaThing"), Allow);
    // A grant to an organization covers every unit in it.
    assert_eq!(vis("op", "PlantThing"), Allow);
    assert_eq!(vis("other", "PlantThing"), NotVisible);
    // Membership through a group; template instance visibility.
    assert_eq!(vis("nested", "LineThing"), Allow);
    assert_eq!(vis("op", "Templated"), Allow);
    assert_eq!(vis("other", "Templated"), NotVisible);
    // Not visible answers 404 for every permission, with the Visibility row deciding.
    assert_eq!(
        ask(&ix, "op", (Things, "Nothing"), PropertyRead, "p"),
        (NotVisible, "Visibility".into())
    );
    assert_eq!(
        ask(&ix, "op", (Things, "Nothing"), Read, "*"),
        (NotVisible, "Visibility".into())
    );
    // Visible but no permission: 403, not 404.
    assert_eq!(
        ask(&ix, "op", (Things, "LineThing"), PropertyRead, "p").0,
        Deny
    );
}

/// ThingWorx's worked example of precedence: the collection denies ServiceInvoke, the
/// template allows Service1, the Thing allows Service2: the user may run both.
#[test]
fn worked_example_collection_template_thing() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").group("G", &["u"]);
    m.template("TT", "").thing("T", "TT", &[], None);
    m.coll_rule(Things, ServiceInvoke, "*", Group, "G", false);
    m.rule(
        ThingTemplates,
        "TT",
        true,
        ServiceInvoke,
        "Service1",
        Group,
        "G",
        true,
    );
    m.rule(
        Things,
        "T",
        false,
        ServiceInvoke,
        "Service2",
        Group,
        "G",
        true,
    );
    let ix = m.index();
    assert_eq!(
        ask(&ix, "u", (Things, "T"), ServiceInvoke, "Service1"),
        (Allow, "ThingTemplateInstance".into())
    );
    assert_eq!(
        ask(&ix, "u", (Things, "T"), ServiceInvoke, "Service2"),
        (Allow, "Entity".into())
    );
    assert_eq!(
        ask(&ix, "u", (Things, "T"), ServiceInvoke, "Service3"),
        (Deny, "Collection".into())
    );
}

#[test]
fn deny_beats_allow_between_user_and_group_at_every_level() {
    type Placer = fn(&mut Model, PrincipalType, &str, bool);
    let levels: [(&str, Placer); 4] = [
        ("Entity", |m, t, p, a| {
            m.rule(Things, "T", false, PropertyRead, "*", t, p, a);
        }),
        ("ThingTemplateInstance", |m, t, p, a| {
            m.rule(ThingTemplates, "TT", true, PropertyRead, "*", t, p, a);
        }),
        ("ThingShapeInstance", |m, t, p, a| {
            m.rule(ThingShapes, "S", true, PropertyRead, "*", t, p, a);
        }),
        ("Collection", |m, t, p, a| {
            m.coll_rule(Things, PropertyRead, "*", t, p, a);
        }),
    ];
    for (label, place) in levels {
        for (user_allows, group_allows, expected) in [
            (true, false, Deny),
            (false, true, Deny),
            (true, true, Allow),
            (false, false, Deny),
        ] {
            let mut m = Model::visible_to_everyone(Model::new());
            m.user("u").group("G", &["u"]).shape("S").template("TT", "");
            m.thing("T", "TT", &["S"], None);
            place(&mut m, User, "u", user_allows);
            place(&mut m, Group, "G", group_allows);
            let ix = m.index();
            assert_eq!(
                ask(&ix, "u", (Things, "T"), PropertyRead, "p"),
                (expected, label.to_owned()),
                "{label}: user allows {user_allows}, group allows {group_allows}"
            );
        }
    }
}

#[test]
fn most_specific_level_decides() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").group("G", &["u"]).group("Outer", &["G"]);
    m.template("Base", "")
        .template("Mid", "Base")
        .shape("S")
        .shape("TS");
    m.add(ThingTemplates, "WithShape", "Mid", &["TS"], None);
    m.thing("T", "WithShape", &["S"], None);
    // Collection allows, base template denies: the template is nearer.
    m.coll_rule(Things, PropertyWrite, "*", Group, "G", true);
    m.rule(
        ThingTemplates,
        "Base",
        true,
        PropertyWrite,
        "*",
        Group,
        "Outer",
        false,
    );
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), PropertyWrite, "p"),
        (Deny, "ThingTemplateInstance".into())
    );
    // A nearer template overrides its base.
    m.rule(
        ThingTemplates,
        "Mid",
        true,
        PropertyWrite,
        "*",
        Group,
        "G",
        true,
    );
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), PropertyWrite, "p"),
        (Allow, "ThingTemplateInstance".into())
    );
    // The entity overrides its templates.
    m.rule(Things, "T", false, PropertyWrite, "*", User, "u", false);
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), PropertyWrite, "p"),
        (Deny, "Entity".into())
    );
    // Shapes: the Thing's own shape, and the shapes of its templates, both count.
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), EventSubscribe, "e").0,
        Deny
    );
    m.rule(
        ThingShapes,
        "TS",
        true,
        EventSubscribe,
        "e",
        Group,
        "Outer",
        true,
    );
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), EventSubscribe, "e"),
        (Allow, "ThingShapeInstance".into())
    );
    m.rule(
        ThingShapes,
        "S",
        true,
        EventSubscribe,
        "*",
        Group,
        "G",
        false,
    );
    assert_eq!(
        ask(&m.index(), "u", (Things, "T"), EventSubscribe, "e"),
        (Deny, "ThingShapeInstance".into())
    );
}

#[test]
fn named_resource_row_before_wildcard_row() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").thing("T", "", &[], None);
    m.rule(Things, "T", false, ServiceInvoke, "*", User, "u", false);
    m.rule(
        Things,
        "T",
        false,
        ServiceInvoke,
        "Allowed",
        User,
        "u",
        true,
    );
    let ix = m.index();
    assert_eq!(
        ask(&ix, "u", (Things, "T"), ServiceInvoke, "Allowed").0,
        Allow
    );
    assert_eq!(ask(&ix, "u", (Things, "T"), ServiceInvoke, "Other").0, Deny);
    // A named rule for another permission does not leak.
    assert_eq!(
        ask(&ix, "u", (Things, "T"), PropertyRead, "Allowed").0,
        Deny
    );
}

#[test]
fn design_time_levels() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("dev").group("Devs", &["dev"]).shape("S");
    m.template("TT", "")
        .thing("T", "TT", &["S"], None)
        .thing("U", "", &[], None);
    m.coll_rule(Things, Create, "*", Group, "Devs", true);
    m.rule(ThingTemplates, "TT", true, Update, "*", Group, "Devs", true);
    m.rule(ThingShapes, "S", true, Update, "*", Group, "Devs", true);
    m.rule(Things, "U", false, Read, "*", User, "dev", true);
    let ix = m.index();
    assert_eq!(
        ask(&ix, "dev", (Things, ""), Create, "*"),
        (Allow, "Collection".into())
    );
    assert_eq!(ask(&ix, "dev", (ThingTemplates, ""), Create, "*").0, Deny);
    assert_eq!(
        ask(&ix, "dev", (Things, "T"), Update, "*"),
        (Allow, "ThingTemplateInstance".into())
    );
    // Shapes carry no design-time instance rules; a design-time check ignores them.
    assert_eq!(ask(&ix, "dev", (Things, "U"), Update, "*").0, Deny);
    assert_eq!(
        ask(&ix, "dev", (Things, "U"), Read, "anything"),
        (Allow, "Entity".into())
    );
    // Instance rules apply to Things, not to the template itself.
    assert_eq!(ask(&ix, "dev", (ThingTemplates, "TT"), Update, "*").0, Deny);
}

#[test]
fn self_service_on_own_user_only() {
    let mut m = Model::new();
    m.user("alice").user("bob");
    let ix = m.index();
    assert_eq!(
        ask(
            &ix,
            "alice",
            (Users, "alice"),
            ServiceInvoke,
            "ChangePassword"
        ),
        (Allow, "SelfService".into())
    );
    assert_eq!(
        ask(&ix, "alice", (Users, "alice"), Visibility, "*").0,
        Allow
    );
    assert_eq!(
        ask(
            &ix,
            "alice",
            (Users, "alice"),
            ServiceInvoke,
            "AssignNewPassword"
        )
        .0,
        Deny
    );
    assert_eq!(
        ask(
            &ix,
            "alice",
            (Users, "bob"),
            ServiceInvoke,
            "ChangePassword"
        )
        .0,
        NotVisible
    );
}

#[test]
fn group_cycles_and_dangling_names_are_harmless() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u")
        .group("A", &["u"])
        .group("B", &["A"])
        .member("A", "B");
    m.thing("T", "Missing.TT", &["Missing.TS"], Some("nobody"));
    m.rule(Things, "T", false, PropertyRead, "*", Group, "B", true);
    m.rule(Things, "T", false, PropertyWrite, "*", Group, "Ghost", true);
    let ix = m.index();
    assert_eq!(ask(&ix, "u", (Things, "T"), PropertyRead, "p").0, Allow);
    assert_eq!(ask(&ix, "u", (Things, "T"), PropertyWrite, "p").0, Deny);
}

#[test]
fn explanation_names_every_rule_in_order() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").group("G", &["u"]);
    m.template("TT", "").thing("T", "TT", &[], None);
    m.rule(
        ThingTemplates,
        "TT",
        true,
        ServiceInvoke,
        "*",
        Group,
        "G",
        true,
    );
    m.rule(
        ThingTemplates,
        "TT",
        true,
        ServiceInvoke,
        "*",
        User,
        "u",
        false,
    );
    let ix = m.index();
    let (outcome, steps) = explain(
        &ix,
        &Request {
            user: ix.lookup(Users, "u").expect("u"),
            target: Target::Entity(ix.lookup(Things, "T").expect("T")),
            kind: ServiceInvoke,
            resource: "Run",
        },
    );
    assert_eq!(outcome, Deny);
    let labels: Vec<_> = steps
        .iter()
        .map(|s| (s.layer.label(), s.effect, s.decisive))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("Visibility".to_owned(), StepEffect::None, false),
            ("Visibility".to_owned(), StepEffect::None, false),
            ("Visibility".to_owned(), StepEffect::Allow, false),
            ("Entity".to_owned(), StepEffect::None, false),
            ("ThingTemplateInstance".to_owned(), StepEffect::Allow, false),
            ("ThingTemplateInstance".to_owned(), StepEffect::Deny, true),
        ]
    );
    assert!(
        steps[5]
            .detail
            .contains("inside one row a deny beats an allow"),
        "{}",
        steps[5].detail
    );
}

/// A rule of a table row: (collection, entity or `""` for the collection itself, kind,
/// resource, principal type, principal, allows).
type RuleRow = (
    Collection,
    &'static str,
    PermissionKind,
    &'static str,
    PrincipalType,
    &'static str,
    bool,
);

/// Templates `Root` ← `A` ← `A2` and `Root` ← `B`; `A` implements `S2`, `Root` implements `S3`.
/// `TA2` (template `A2`, own shape `S1`), `TB` (template `B`), `TA2s` (template `A2`, own shape
/// `S2`, which `A` implements too), `TR` (template `Root`, no shape).
fn inheritance_model(rules: &[RuleRow]) -> AuthzIndex {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").user("v");
    m.group("G", &["u"]).group("Outer", &["G"]);
    m.shape("S1").shape("S2").shape("S3");
    m.add(ThingTemplates, "Root", "", &["S3"], None);
    m.add(ThingTemplates, "A", "Root", &["S2"], None);
    m.template("A2", "A").template("B", "Root");
    m.thing("TA2", "A2", &["S1"], None)
        .thing("TB", "B", &[], None)
        .thing("TA2s", "A2", &["S2"], None)
        .thing("TR", "Root", &[], None);
    for &(collection, entity, kind, resource, ptype, principal, allow) in rules {
        if entity.is_empty() {
            m.coll_rule(collection, kind, resource, ptype, principal, allow);
        } else {
            let instance = collection != Things;
            m.rule(
                collection, entity, instance, kind, resource, ptype, principal, allow,
            );
        }
    }
    m.index()
}

#[test]
fn inherited_levels_in_order() {
    const TTI: &str = "ThingTemplateInstance";
    const TSI: &str = "ThingShapeInstance";
    type Case = (
        &'static str,
        &'static [RuleRow],
        (&'static str, &'static str, PermissionKind, &'static str),
        (Outcome, &'static str),
    );
    let cases: &[Case] = &[
        (
            "same principal at two ranks: the nearer allows",
            &[
                (ThingTemplates, "A2", PropertyRead, "p", Group, "G", true),
                (ThingTemplates, "Root", PropertyRead, "p", Group, "G", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Allow, TTI),
        ),
        (
            "same principal at two ranks: the nearer denies",
            &[
                (ThingTemplates, "A2", PropertyRead, "p", Group, "G", false),
                (ThingTemplates, "Root", PropertyRead, "p", Group, "G", true),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, TTI),
        ),
        (
            "a deny at a nearer level beats an allow at a farther one",
            &[
                (
                    ThingTemplates,
                    "A",
                    PropertyWrite,
                    "*",
                    Group,
                    "Outer",
                    false,
                ),
                (ThingTemplates, "Root", PropertyWrite, "p", User, "u", true),
            ],
            ("u", "TA2", PropertyWrite, "p"),
            (Deny, TTI),
        ),
        (
            "an allow at a nearer level beats a deny at a farther one",
            &[
                (
                    ThingTemplates,
                    "A2",
                    PropertyWrite,
                    "*",
                    Group,
                    "Outer",
                    true,
                ),
                (ThingTemplates, "Root", PropertyWrite, "*", User, "u", false),
            ],
            ("u", "TA2", PropertyWrite, "p"),
            (Allow, TTI),
        ),
        (
            "`*` at a nearer rank beats the named row at a farther one",
            &[
                (ThingTemplates, "A2", ServiceInvoke, "*", Group, "G", true),
                (
                    ThingTemplates,
                    "Root",
                    ServiceInvoke,
                    "s",
                    Group,
                    "G",
                    false,
                ),
            ],
            ("u", "TA2", ServiceInvoke, "s"),
            (Allow, TTI),
        ),
        (
            "the named row at a nearer rank beats `*` at a farther one",
            &[
                (ThingTemplates, "A", ServiceInvoke, "s", User, "u", false),
                (ThingTemplates, "Root", ServiceInvoke, "*", User, "u", true),
            ],
            ("u", "TA2", ServiceInvoke, "s"),
            (Deny, TTI),
        ),
        (
            "at one rank the named row comes before `*`",
            &[
                (ThingTemplates, "A2", ServiceInvoke, "*", Group, "G", false),
                (
                    ThingTemplates,
                    "A2",
                    ServiceInvoke,
                    "s",
                    Group,
                    "Outer",
                    true,
                ),
            ],
            ("u", "TA2", ServiceInvoke, "s"),
            (Allow, TTI),
        ),
        (
            "at one rank `*` decides when the named row names someone else",
            &[
                (ThingTemplates, "A2", ServiceInvoke, "s", User, "v", true),
                (ThingTemplates, "A2", ServiceInvoke, "*", Group, "G", false),
            ],
            ("u", "TA2", ServiceInvoke, "s"),
            (Deny, TTI),
        ),
        (
            "inside a row at one rank a deny beats an allow",
            &[
                (ThingTemplates, "A", EventSubscribe, "e", User, "u", true),
                (
                    ThingTemplates,
                    "A",
                    EventSubscribe,
                    "e",
                    Group,
                    "Outer",
                    false,
                ),
                (ThingTemplates, "Root", EventSubscribe, "e", User, "u", true),
            ],
            ("u", "TA2", EventSubscribe, "e"),
            (Deny, TTI),
        ),
        (
            "a nearer level naming someone else does not decide",
            &[
                (ThingTemplates, "A2", EventSubscribe, "*", User, "v", true),
                (
                    ThingTemplates,
                    "Root",
                    EventSubscribe,
                    "e",
                    Group,
                    "G",
                    false,
                ),
            ],
            ("u", "TA2", EventSubscribe, "e"),
            (Deny, TTI),
        ),
        (
            "templates come before every shape",
            &[
                (ThingShapes, "S1", PropertyRead, "p", Group, "G", true),
                (ThingShapes, "S2", PropertyRead, "p", Group, "G", true),
                (ThingTemplates, "Root", PropertyRead, "*", Group, "G", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, TTI),
        ),
        (
            "the Thing's own shapes come before the inherited ones",
            &[
                (ThingShapes, "S1", PropertyRead, "*", Group, "G", true),
                (ThingShapes, "S2", PropertyRead, "p", Group, "G", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Allow, TSI),
        ),
        (
            "inherited shapes follow the chain: the nearer template's shape first",
            &[
                (ThingShapes, "S3", PropertyRead, "p", Group, "G", true),
                (ThingShapes, "S2", PropertyRead, "*", Group, "Outer", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, TSI),
        ),
        (
            "a shape both own and inherited counts at its own rank",
            &[
                (ThingShapes, "S2", PropertyWrite, "*", User, "u", true),
                (ThingShapes, "S3", PropertyWrite, "p", User, "u", false),
            ],
            ("u", "TA2s", PropertyWrite, "p"),
            (Allow, TSI),
        ),
        (
            "an inherited shape decides after the own shapes name nobody",
            &[
                (ThingShapes, "S1", PropertyWrite, "p", User, "v", true),
                (ThingShapes, "S3", PropertyWrite, "p", User, "u", true),
            ],
            ("u", "TA2", PropertyWrite, "p"),
            (Allow, TSI),
        ),
        (
            "chains sharing an ancestor: the override on one branch",
            &[
                (ThingTemplates, "Root", ServiceInvoke, "s", Group, "G", true),
                (ThingTemplates, "A", ServiceInvoke, "s", Group, "G", false),
            ],
            ("u", "TA2", ServiceInvoke, "s"),
            (Deny, TTI),
        ),
        (
            "chains sharing an ancestor: the other branch keeps the ancestor's rule",
            &[
                (ThingTemplates, "Root", ServiceInvoke, "s", Group, "G", true),
                (ThingTemplates, "A", ServiceInvoke, "s", Group, "G", false),
            ],
            ("u", "TB", ServiceInvoke, "s"),
            (Allow, TTI),
        ),
        (
            "chains sharing an ancestor: the root's own Things",
            &[
                (ThingTemplates, "Root", ServiceInvoke, "*", Group, "G", true),
                (ThingTemplates, "B", ServiceInvoke, "*", Group, "G", false),
            ],
            ("u", "TR", ServiceInvoke, "s"),
            (Allow, TTI),
        ),
        (
            "the Thing's own rules come before every inherited level",
            &[
                (Things, "TA2", PropertyRead, "*", User, "u", false),
                (ThingTemplates, "A2", PropertyRead, "p", User, "u", true),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, "Entity"),
        ),
        (
            "the collection comes after every inherited level",
            &[
                (Things, "", PropertyRead, "p", Group, "G", true),
                (ThingShapes, "S3", PropertyRead, "*", Group, "G", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, TSI),
        ),
        (
            "the collection decides when no inherited level names the caller",
            &[
                (Things, "", PropertyRead, "p", Group, "G", true),
                (ThingTemplates, "Root", PropertyRead, "*", User, "v", false),
            ],
            ("u", "TA2", PropertyRead, "p"),
            (Allow, "Collection"),
        ),
        (
            "a rule for another permission does not count",
            &[(ThingTemplates, "A2", PropertyWrite, "p", User, "u", true)],
            ("u", "TA2", PropertyRead, "p"),
            (Deny, "Default"),
        ),
        (
            "shapes take no part at design time",
            &[
                (ThingShapes, "S1", Update, "*", Group, "G", true),
                (ThingShapes, "S3", Update, "*", Group, "G", true),
            ],
            ("u", "TA2", Update, "*"),
            (Deny, "Default"),
        ),
        (
            "templates decide at design time, nearest first",
            &[
                (ThingShapes, "S1", Update, "*", Group, "G", false),
                (ThingTemplates, "A", Update, "*", Group, "G", true),
                (ThingTemplates, "Root", Update, "*", Group, "G", false),
            ],
            ("u", "TA2", Update, "*"),
            (Allow, TTI),
        ),
    ];
    for (label, rules, (user, thing, kind, resource), (outcome, layer)) in cases {
        let ix = inheritance_model(rules);
        assert_eq!(
            ask(&ix, user, (Things, thing), *kind, resource),
            (*outcome, (*layer).to_owned()),
            "{label}"
        );
    }
}

#[test]
fn visibility_follows_the_template_chain_without_shapes() {
    // Nothing visible by default: only the templates' and shapes' visibility rules speak.
    let build = |rules: &[RuleRow]| {
        let mut m = Model::new();
        m.user("u");
        m.org("Partner", &[("East", "Partner")], &[("East", "u")]);
        m.shape("S");
        m.add(ThingTemplates, "Root", "", &["S"], None);
        m.template("A", "Root");
        m.thing("T", "A", &["S"], None);
        m.coll_rule(Things, PropertyRead, "*", Group, "Users", true);
        for &(collection, entity, kind, resource, ptype, principal, allow) in rules {
            m.rule(
                collection, entity, true, kind, resource, ptype, principal, allow,
            );
        }
        m.index()
    };
    let cases: &[(&str, &[RuleRow], Outcome)] = &[
        ("no rule: not visible", &[], NotVisible),
        (
            "the root template grants",
            &[(
                ThingTemplates,
                "Root",
                Visibility,
                "*",
                Organization,
                "Partner",
                true,
            )],
            Allow,
        ),
        (
            "a nearer template's deny beats the root's grant",
            &[
                (
                    ThingTemplates,
                    "Root",
                    Visibility,
                    "*",
                    Organization,
                    "Partner",
                    true,
                ),
                (
                    ThingTemplates,
                    "A",
                    Visibility,
                    "*",
                    OrganizationalUnit,
                    "Partner:East",
                    false,
                ),
            ],
            NotVisible,
        ),
        (
            "a nearer template's grant beats the root's deny",
            &[
                (
                    ThingTemplates,
                    "Root",
                    Visibility,
                    "*",
                    Organization,
                    "Partner",
                    false,
                ),
                (
                    ThingTemplates,
                    "A",
                    Visibility,
                    "*",
                    OrganizationalUnit,
                    "Partner:East",
                    true,
                ),
            ],
            Allow,
        ),
        (
            "a shape's visibility rule does not count",
            &[(
                ThingShapes,
                "S",
                Visibility,
                "*",
                Organization,
                "Partner",
                true,
            )],
            NotVisible,
        ),
    ];
    for (label, rules, outcome) in cases {
        let ix = build(rules);
        assert_eq!(
            ask(&ix, "u", (Things, "T"), PropertyRead, "p").0,
            *outcome,
            "{label}"
        );
    }
}

#[test]
fn a_long_template_chain_keeps_its_order() {
    let mut m = Model::visible_to_everyone(Model::new());
    m.user("u").group("G", &["u"]);
    m.template("L0000", "");
    for i in 1..300 {
        m.template(&format!("L{i:04}"), &format!("L{:04}", i - 1));
    }
    m.thing("T", "L0299", &[], None)
        .thing("Short", "L0001", &[], None);
    m.rule(
        ThingTemplates,
        "L0000",
        true,
        PropertyRead,
        "*",
        Group,
        "G",
        true,
    );
    m.rule(
        ThingTemplates,
        "L0100",
        true,
        PropertyRead,
        "p",
        User,
        "u",
        false,
    );
    let ix = m.index();
    assert_eq!(
        ask(&ix, "u", (Things, "T"), PropertyRead, "p"),
        (Deny, "ThingTemplateInstance".into())
    );
    assert_eq!(
        ask(&ix, "u", (Things, "T"), PropertyRead, "q"),
        (Allow, "ThingTemplateInstance".into())
    );
    assert_eq!(
        ask(&ix, "u", (Things, "Short"), PropertyRead, "p"),
        (Allow, "ThingTemplateInstance".into())
    );
}

/// Rules that 32-bit entries cannot hold are kept as words, and decided as any others: a
/// template with more instance rules than a block by kind counts, a model whose instance rules
/// name so many principals and resources that an entry cannot pack both, and one whose
/// Things' own rules do.
#[test]
fn rules_beyond_packed_entries_decide_as_packed_ones() {
    type Ghost = fn(usize) -> (Collection, String, String, String);
    let one_big: Ghost = |i| {
        let (resource, principal) = (format!("p{}", i % 50), format!("ghost{i}"));
        (ThingTemplates, "Big".into(), resource, principal)
    };
    let many_names: Ghost = |i| {
        (
            ThingTemplates,
            format!("Ghosts{}", i % 1000),
            format!("p{i}"),
            format!("ghost{i}"),
        )
    };
    let crowded_things: Ghost = |i| {
        (
            Things,
            format!("Crowd{}", i % 1000),
            format!("p{i}"),
            format!("ghost{i}"),
        )
    };
    for ghost in [one_big, many_names, crowded_things] {
        let mut m = Model::visible_to_everyone(Model::new());
        m.user("u").group("G", &["u"]);
        m.template("Big", "").template("Small", "Big");
        for t in 0..1000 {
            m.template(&format!("Ghosts{t}"), "");
            m.thing(&format!("Crowd{t}"), "", &[], None);
        }
        m.thing("T", "Small", &[], None);
        for i in 0..70_000 {
            let (collection, entity, resource, principal) = ghost(i);
            let instance = collection == ThingTemplates;
            m.rule(
                collection,
                &entity,
                instance,
                PropertyRead,
                &resource,
                User,
                &principal,
                true,
            );
        }
        m.rule(
            ThingTemplates,
            "Big",
            true,
            PropertyRead,
            "p7",
            User,
            "u",
            true,
        )
        .rule(
            ThingTemplates,
            "Big",
            true,
            ServiceInvoke,
            "*",
            Group,
            "G",
            false,
        )
        .rule(
            ThingTemplates,
            "Big",
            true,
            ServiceInvoke,
            "s",
            User,
            "u",
            true,
        )
        .rule(Things, "T", false, PropertyWrite, "*", Group, "G", true)
        .rule(Things, "T", false, PropertyWrite, "w", User, "u", false);
        let ix = m.index();
        let template = Some("ThingTemplateInstance");
        let own = Some("Entity");
        let cases = [
            (PropertyRead, "p7", Allow, template),
            (PropertyRead, "p8", Deny, None),
            (ServiceInvoke, "s", Allow, template),
            (ServiceInvoke, "t", Deny, template),
            (PropertyWrite, "v", Allow, own),
            (PropertyWrite, "w", Deny, own),
        ];
        for (kind, resource, outcome, layer) in cases {
            let (got, got_layer) = ask(&ix, "u", (Things, "T"), kind, resource);
            assert_eq!(got, outcome, "{kind} {resource}");
            if let Some(layer) = layer {
                assert_eq!(got_layer, layer, "{kind} {resource}");
            }
        }
        // The rules of T and Big patched (every rule for u or G turned around), in whatever
        // layout the case forced: the patched index decides as a build of the changed facts.
        let changed = std::collections::BTreeSet::from([
            m.id_of(Things, "T"),
            m.id_of(ThingTemplates, "Big"),
        ]);
        let mut rules: Vec<_> = m
            .facts
            .entity_rules
            .iter()
            .filter(|(id, _, _)| changed.contains(id))
            .cloned()
            .collect();
        for (_, _, rule) in &mut rules {
            if rule.principal_name == "u" || rule.principal_name == "G" {
                rule.allow = !rule.allow;
            }
        }
        let sequence = ix.sequence() + 1;
        let patched = ix.patch_rules(sequence, &changed, &rules).expect("patched");
        m.facts.replace_rules(sequence, &changed, rules);
        let built = m.index();
        for (kind, resource, outcome, _) in cases {
            let got = ask(&patched, "u", (Things, "T"), kind, resource);
            assert_eq!(got, ask(&built, "u", (Things, "T"), kind, resource));
            if outcome == Allow {
                assert_eq!(got.0, Deny, "{kind} {resource} turned around");
            }
        }
    }
}

/// Random models with template chains (cycles and dangling bases included), shapes on
/// templates and Things, and rules of every kind at every level: the hot path and the
/// explanation always give the same outcome.
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

#[test]
fn decide_and_explain_agree_on_random_models() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0004);
    let mut checked = 0usize;
    for _ in 0..300 {
        let mut r = RandomModel::new(&mut rng);
        let count = rng.random_range(0..40);
        r.place_rules(&mut rng, count);
        let ix = r.m.index();
        for (what, request) in r.requests(&ix) {
            let (outcome, _) = explain(&ix, &request);
            assert_eq!(decide(&ix, &request), outcome, "{what}: {:#?}", r.m.facts);
            checked += 1;
        }
    }
    assert!(checked > 100_000);
}

#[test]
fn principal_sets_answer_as_a_search_would() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0005);
    for round in 0..2_000 {
        // Small and large sets (a large one is binary-searched), dense and sparse principals.
        let len = if round % 10 == 0 {
            rng.random_range(33..200)
        } else {
            rng.random_range(0..12)
        };
        let span: Pid = if round % 2 == 0 { 300 } else { 4_000_000 };
        let mut pids: Vec<Pid> = (0..len).map(|_| rng.random_range(0..span)).collect();
        pids.sort_unstable();
        pids.dedup();
        let set = PidSet::new(&pids);
        for _ in 0..50 {
            let pid = if rng.random_bool(0.3) && !pids.is_empty() {
                pids[rng.random_range(0..pids.len())]
            } else {
                rng.random_range(0..span)
            };
            assert_eq!(
                set.holds(pid),
                pids.binary_search(&pid).is_ok(),
                "{pid} in {pids:?}"
            );
        }
        // The mask test may say yes wrongly, never no wrongly.
        let other: Vec<Pid> = (0..rng.random_range(0..20))
            .map(|_| rng.random_range(0..span))
            .collect();
        if other.iter().any(|p| pids.binary_search(p).is_ok()) {
            assert!(
                set.may_meet(PidMask::of(other.iter().copied())),
                "{other:?} meets {pids:?}"
            );
        }
        assert!(!set.may_meet(PidMask::of([])));
    }
}
