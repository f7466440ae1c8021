//! The wrapped-call rule: inside a script, the caller or `System` decides; the explanation
//! names whose rules decided and keeps exactly one decisive step.

use super::*;

use crate::authz::decide::Layer;
use crate::authz::wrapped::{decide_wrapped, explain_wrapped};

/// alice may see the Thing; System alone may write `Setpoint`; alice is denied `Secret`
/// explicitly and System may not read it either.
fn model() -> AuthzIndex {
    let mut m = Model::new().visible_to_everyone();
    m.user("alice").user("System");
    m.thing("Boiler", "", &[], None);
    m.rule(
        Things,
        "Boiler",
        false,
        PropertyWrite,
        "Setpoint",
        PrincipalType::User,
        "System",
        true,
    );
    m.rule(
        Things,
        "Boiler",
        false,
        PropertyRead,
        "Secret",
        PrincipalType::User,
        "alice",
        false,
    );
    m.rule(
        Things,
        "Boiler",
        false,
        PropertyRead,
        "Level",
        PrincipalType::User,
        "alice",
        true,
    );
    m.index()
}

fn request(ix: &AuthzIndex, kind: PermissionKind, resource: &'static str) -> Request<'static> {
    Request {
        user: ix.lookup(Users, "alice").expect("alice"),
        target: Target::Entity(ix.lookup(Things, "Boiler").expect("Boiler")),
        kind,
        resource,
    }
}

#[test]
fn system_allows_what_the_caller_cannot_and_says_so() {
    let ix = model();
    let system = ix.lookup(Users, "System");
    let req = request(&ix, PropertyWrite, "Setpoint");
    assert_eq!(decide(&ix, &req), Outcome::Deny, "alice alone is denied");
    assert_eq!(decide_wrapped(&ix, &req, system), Outcome::Allow);
    assert_eq!(decide_wrapped(&ix, &req, None), Outcome::Deny);
    let explained = explain_wrapped(&ix, &req, system);
    assert_eq!(explained.outcome, Outcome::Allow);
    assert_eq!(Some(explained.decided_by), system);
    assert_eq!(explained.evaluations.len(), 2);
    let all: Vec<_> = explained
        .evaluations
        .iter()
        .flat_map(|e| e.steps.iter().map(move |s| (e.user, s)))
        .collect();
    let decisive: Vec<_> = all.iter().filter(|(_, s)| s.decisive).collect();
    assert_eq!(decisive.len(), 1, "exactly one decisive step: {all:#?}");
    assert_eq!(Some(decisive[0].0), system, "System's rule decides");
    assert_eq!(decisive[0].1.effect, StepEffect::Allow);
    assert!(
        explained.evaluations[1].steps[0].layer == Layer::WrappedCall,
        "System's evaluation is introduced by the wrapped-call step"
    );
}

#[test]
fn the_caller_decides_when_allowed_or_when_system_is_denied_too() {
    let ix = model();
    let system = ix.lookup(Users, "System");
    let alice = ix.lookup(Users, "alice").expect("alice");
    let read = request(&ix, PropertyRead, "Level");
    let explained = explain_wrapped(&ix, &read, system);
    assert_eq!(explained.outcome, Outcome::Allow);
    assert_eq!(explained.decided_by, alice);
    assert_eq!(explained.evaluations.len(), 1, "System is not asked");

    let secret = request(&ix, PropertyRead, "Secret");
    assert_eq!(decide_wrapped(&ix, &secret, system), Outcome::Deny);
    let explained = explain_wrapped(&ix, &secret, system);
    assert_eq!(explained.outcome, Outcome::Deny);
    assert_eq!(explained.decided_by, alice, "alice's explicit deny decides");
    let decisive: Vec<_> = explained
        .evaluations
        .iter()
        .flat_map(|e| {
            e.steps
                .iter()
                .filter(|s| s.decisive)
                .map(move |s| (e.user, s))
        })
        .collect();
    assert_eq!(decisive.len(), 1);
    assert_eq!(decisive[0].0, alice);
    assert_eq!(decisive[0].1.effect, StepEffect::Deny);
}
