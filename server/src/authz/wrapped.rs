//! The wrapped-call rule of script services: an access a script makes is allowed when the
//! user who called the outermost service or the `System` user holds the permission (README,
//! "Script services"). One rule, decided here for the script host and explained here for
//! `ExplainPermission` and `ironworx explain --wrapped`, so both always agree.

use crate::authz::decide::{Layer, Outcome, Request, Step, StepEffect, decide, explain};
use crate::authz::index::{AuthzIndex, EntityIdx};
use ironworx_entity::vocab::{ANY_RESOURCE, PrincipalType};

/// The decision for an access made from inside a script: `request.user` is the calling user,
/// `system` the `System` user (when the model has one).
pub fn decide_wrapped(
    index: &AuthzIndex,
    request: &Request<'_>,
    system: Option<EntityIdx>,
) -> Outcome {
    let user = decide(index, request);
    if user == Outcome::Allow {
        return user;
    }
    match system {
        Some(system)
            if decide(
                index,
                &Request {
                    user: system,
                    ..*request
                },
            ) == Outcome::Allow =>
        {
            Outcome::Allow
        }
        _ => user,
    }
}

/// The steps of one principal's evaluation, named by the user they were evaluated for.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// The user whose rules these are (the caller or `System`).
    pub user: EntityIdx,
    /// What that user alone would get.
    pub outcome: Outcome,
    /// The rules looked at, in order.
    pub steps: Vec<Step>,
}

/// An explained wrapped call: the decision, the user whose evaluation decided it, and each
/// evaluation made (the caller's, then `System`'s when the caller was not allowed).
#[derive(Clone, Debug)]
pub struct WrappedExplanation {
    /// The decision.
    pub outcome: Outcome,
    /// The user whose evaluation decided (the caller, or `System` when it allowed what the
    /// caller could not do).
    pub decided_by: EntityIdx,
    /// The evaluations, the caller's first. Exactly one step of all of them is decisive.
    pub evaluations: Vec<Evaluated>,
}

/// Explains the decision [`decide_wrapped`] makes.
pub fn explain_wrapped(
    index: &AuthzIndex,
    request: &Request<'_>,
    system: Option<EntityIdx>,
) -> WrappedExplanation {
    let (outcome, mut steps) = explain(index, request);
    let caller = request.user;
    let system = system.filter(|s| *s != caller && outcome != Outcome::Allow);
    let Some(system) = system else {
        return WrappedExplanation {
            outcome,
            decided_by: caller,
            evaluations: vec![Evaluated {
                user: caller,
                outcome,
                steps,
            }],
        };
    };
    let (system_outcome, mut system_steps) = explain(
        index,
        &Request {
            user: system,
            ..*request
        },
    );
    let name = |idx: EntityIdx| {
        index
            .entity(idx)
            .map(|e| e.name.clone())
            .unwrap_or_default()
    };
    let (decided, decided_by) = if system_outcome == Outcome::Allow {
        // The caller's refusal is overruled: System's allow decides.
        for step in &mut steps {
            step.decisive = false;
        }
        (Outcome::Allow, system)
    } else {
        for step in &mut system_steps {
            step.decisive = false;
        }
        (outcome, caller)
    };
    system_steps.insert(
        0,
        Step {
            layer: Layer::WrappedCall,
            principal: Some((PrincipalType::User, name(system))),
            resource: ANY_RESOURCE.into(),
            effect: StepEffect::None,
            decisive: false,
            detail: format!(
                "{} is not allowed, so inside a script service the System user's rules are \
                 looked at too",
                name(caller)
            ),
        },
    );
    WrappedExplanation {
        outcome: decided,
        decided_by,
        evaluations: vec![
            Evaluated {
                user: caller,
                outcome,
                steps,
            },
            Evaluated {
                user: system,
                outcome: system_outcome,
                steps: system_steps,
            },
        ],
    }
}
