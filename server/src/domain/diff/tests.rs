//! The diff on models built in memory: a membership removed takes exactly the permissions
//! the group gave, with the rule before and after; filters narrow it.

use ironworx_entity::queries::defined::DefinitionKind;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, Effect, PermissionKind, PrincipalType};

use super::{DiffError, Filter, compare};
use crate::authz::{EntityFact, Facts, Layer, Outcome, StepEffect, UnitFact};
use crate::domain::snapshot::Snapshot;

fn entity(id: i64, collection: Collection, name: &str, template: &str) -> EntityFact {
    EntityFact {
        id,
        collection,
        name: name.into(),
        owner: None,
        template: template.into(),
        shapes: Vec::new(),
    }
}

/// bob and alice in `Users` and (bob only when `bob_in_ops`) `Ops`; `Ops` may read every
/// property of Thing `T`, which defines `temperature` and inherits service `Ping`.
pub(crate) fn state(bob_in_ops: bool) -> Snapshot {
    let mut facts = Facts {
        entities: vec![
            entity(1, Collection::Groups, "Users", ""),
            entity(2, Collection::Groups, "Ops", ""),
            entity(3, Collection::Organizations, "Everyone", ""),
            entity(4, Collection::Users, "bob", ""),
            entity(5, Collection::Users, "alice", ""),
            entity(6, Collection::ThingTemplates, "GenericThing", ""),
            entity(7, Collection::Things, "T", "GenericThing"),
        ],
        memberships: vec![(1, 4), (1, 5), (2, 5)],
        units: vec![UnitFact {
            id: 100,
            organization: 3,
            name: "Everyone".into(),
            parent: None,
        }],
        unit_members: vec![(100, 1)],
        entity_rules: vec![(
            7,
            false,
            Rule::any(
                PermissionKind::PropertyRead,
                PrincipalType::Group,
                "Ops",
                Effect::Allow,
            ),
        )],
        collection_rules: vec![(
            Collection::Things,
            Rule::any(
                PermissionKind::Visibility,
                PrincipalType::Organization,
                "Everyone",
                Effect::Allow,
            ),
        )],
        ..Facts::default()
    };
    if bob_in_ops {
        facts.memberships.push((2, 4));
    }
    Snapshot::new(
        &facts,
        [
            (7, DefinitionKind::Property, "temperature".to_owned()),
            (6, DefinitionKind::Service, "Ping".to_owned()),
        ],
    )
}

#[test]
fn a_removed_membership_loses_exactly_what_the_group_gave() {
    let (before, after) = (state(true), state(false));
    let changes = compare(&before, &after, &Filter::default()).expect("diff");
    let asked: Vec<(&str, String, PermissionKind, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.user.as_str(),
                c.entity_path(),
                c.permission,
                c.resource.as_str(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        vec![
            ("bob", "Things/T".into(), PermissionKind::PropertyRead, "*"),
            (
                "bob",
                "Things/T".into(),
                PermissionKind::PropertyRead,
                "temperature"
            ),
        ]
    );
    for change in &changes {
        assert!(change.lost());
        assert_eq!(change.before.outcome, Outcome::Allow);
        assert_eq!(change.before.rule.layer, Layer::Entity("T".into()));
        assert_eq!(
            change.before.rule.principal,
            Some((PrincipalType::Group, "Ops".into()))
        );
        assert_eq!(change.before.rule.effect, StepEffect::Allow);
        assert_eq!(change.after.outcome, Outcome::Deny);
        assert_eq!(change.after.rule.layer, Layer::Default);
    }
    // The other way round, the same questions are gained.
    let back = compare(&after, &before, &Filter::default()).expect("diff");
    assert_eq!(back.len(), 2);
    assert!(back.iter().all(|c| !c.lost()));
    // Nothing changes between equal states.
    assert!(
        compare(&before, &state(true), &Filter::default())
            .expect("diff")
            .is_empty()
    );
}

#[test]
fn filters_narrow_the_diff_and_unknown_names_are_errors() {
    let (before, after) = (state(true), state(false));
    let count = |filter: Filter| compare(&before, &after, &filter).map(|c| c.len());
    assert_eq!(
        count(Filter {
            user: Some("alice".into()),
            ..Filter::default()
        }),
        Ok(0)
    );
    assert_eq!(
        count(Filter {
            group: Some("Ops".into()),
            ..Filter::default()
        }),
        Ok(2),
        "bob was a member before"
    );
    assert_eq!(
        count(Filter {
            permission: Some(PermissionKind::PropertyWrite),
            ..Filter::default()
        }),
        Ok(0)
    );
    assert_eq!(
        count(Filter {
            collection: Some(Collection::Things),
            entity: Some("T".into()),
            ..Filter::default()
        }),
        Ok(2)
    );
    assert_eq!(
        count(Filter {
            collection: Some(Collection::ThingTemplates),
            ..Filter::default()
        }),
        Ok(0)
    );
    assert_eq!(
        count(Filter {
            group: Some("Nobody".into()),
            ..Filter::default()
        }),
        Err(DiffError::UnknownGroup("Nobody".into()))
    );
    assert_eq!(
        count(Filter {
            user: Some("ghost".into()),
            ..Filter::default()
        }),
        Err(DiffError::UnknownUser("ghost".into()))
    );
    assert_eq!(
        count(Filter {
            collection: Some(Collection::Things),
            entity: Some("Nope".into()),
            ..Filter::default()
        }),
        Err(DiffError::UnknownEntity(Collection::Things, "Nope".into()))
    );
}

#[test]
fn a_thing_asks_about_what_its_templates_define() {
    let side = state(true);
    let idx = side
        .index
        .lookup(Collection::Things, "T")
        .expect("T is in the index");
    assert_eq!(
        side.resources(idx, PermissionKind::ServiceInvoke),
        vec!["Ping"]
    );
    assert_eq!(
        side.resources(idx, PermissionKind::PropertyWrite),
        vec!["temperature"]
    );
    assert!(side.resources(idx, PermissionKind::EventInvoke).is_empty());
}

#[test]
fn a_user_missing_on_one_side_is_denied_there_with_a_rule_saying_so() {
    let before = state(true);
    // The same model without bob: every question bob was allowed is lost.
    let after = {
        let side = state(false);
        let mut entities: Vec<EntityFact> = Vec::new();
        for (idx, collection, name) in side.entities() {
            if name == "bob" {
                continue;
            }
            let node = side.index.entity(idx).expect("entity");
            entities.push(entity(
                node.id,
                collection,
                name,
                if name == "T" { "GenericThing" } else { "" },
            ));
        }
        let facts = Facts {
            entities,
            memberships: vec![(1, 5), (2, 5)],
            units: vec![UnitFact {
                id: 100,
                organization: 3,
                name: "Everyone".into(),
                parent: None,
            }],
            unit_members: vec![(100, 1)],
            collection_rules: vec![(
                Collection::Things,
                Rule::any(
                    PermissionKind::Visibility,
                    PrincipalType::Organization,
                    "Everyone",
                    Effect::Allow,
                ),
            )],
            ..Facts::default()
        };
        Snapshot::new(&facts, [])
    };
    let changes = compare(
        &before,
        &after,
        &Filter {
            user: Some("bob".into()),
            ..Filter::default()
        },
    )
    .expect("diff");
    assert!(!changes.is_empty());
    for change in &changes {
        assert!(change.lost(), "{change:?}");
        assert_eq!(change.after.rule.layer, Layer::Default);
        assert_eq!(change.after.rule.detail, "user bob does not exist here");
    }
}
