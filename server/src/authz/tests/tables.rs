//! Decision tables of the evaluator's rules: the administrators' and the owner's bypass, the
//! default deny, the visibility gate, precedence between users, groups, levels and resource
//! rows, design time, self services, and what an explanation names.

use super::*;

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
