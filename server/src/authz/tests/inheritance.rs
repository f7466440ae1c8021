//! Rules inherited through template chains and shapes: the order levels are looked at in, and
//! visibility along the chain.

use super::*;

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
