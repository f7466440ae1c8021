//! Decision tables for every rule of the evaluator (contract section 4, items 1–3), on models
//! built in memory.

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};

use crate::authz::decide::{Outcome, Request, StepEffect, Target, decide, explain};
use crate::authz::facts::{EntityFact, Facts, UnitFact};
use crate::authz::index::AuthzIndex;

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
        self.facts.entities.push(EntityFact {
            id,
            collection,
            name: name.into(),
            owner: owner.map(str::to_owned),
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

/// The worked example of thingworx-spec §4.3: the collection denies ServiceInvoke, the
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
