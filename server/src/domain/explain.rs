//! Why a user is allowed or denied: the question (user, entity type, entity, permission,
//! resource) checked once and answered by the evaluator with every rule it looked at, for
//! every door. [`explain`] answers anyone who may read the whole index (the command line,
//! run by the operator of the database); [`explain_as`] answers a caller: anyone may explain
//! their own decisions, explaining another user's needs a security administrator, and a caller
//! who cannot see the entity gets 404, as on every other route, so an explanation never
//! reveals an entity.

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionKind, builtin};

use crate::authz::{AuthzIndex, Outcome, Request, Step, Target, collection_of, target_of};
use crate::domain::Ctx;
use crate::error::ApiError;

/// What to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// The user whose request is explained.
    pub user: &'a str,
    /// The collection (`Things`) or entity type (`Thing`).
    pub entity_type: &'a str,
    /// The entity; empty for `Create` on the whole collection.
    pub entity: &'a str,
    /// The permission.
    pub kind: PermissionKind,
    /// The property, service or event (run-time permissions); empty means `*`.
    pub resource: &'a str,
    /// Asked of an access made from inside a script service: the wrapped-call rule applies
    /// (the `System` user's rules are looked at when the user is not allowed).
    pub wrapped: bool,
}

/// The answer: the decision, what was asked of what, and every rule looked at, in order.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The decision.
    pub outcome: Outcome,
    /// The collection asked about.
    pub collection: Collection,
    /// The entity or collection asked about.
    pub target: Target,
    /// The resource the question was decided on.
    pub resource: String,
    /// The rules looked at, in order: the user's, then (for a wrapped call the user was not
    /// allowed) the `System` user's from [`Explanation::system_from`].
    pub steps: Vec<Step>,
    /// The user whose rules decided (the one asked about, or `System` for a wrapped call).
    pub decided_by: String,
    /// Where the `System` user's steps start in `steps`, when they were looked at.
    pub system_from: Option<usize>,
}

/// The collection and target of `question`, checked.
fn target(index: &AuthzIndex, question: &Question) -> Result<(Collection, Target), ApiError> {
    let collection = collection_of(question.entity_type).ok_or_else(|| {
        ApiError::BadRequest(format!("unknown entity type '{}'", question.entity_type))
    })?;
    if question.entity.is_empty() && question.kind != PermissionKind::Create {
        return Err(ApiError::BadRequest(
            "the entity is required (only Create is asked of a whole collection)".into(),
        ));
    }
    let target = target_of(index, collection, question.entity).ok_or(ApiError::NotFound)?;
    Ok((collection, target))
}

/// Explains `question` over `index`, for whoever may read all of it.
pub fn explain(index: &AuthzIndex, question: &Question) -> Result<Explanation, ApiError> {
    let (collection, target) = target(index, question)?;
    answer(index, question, collection, target)
}

/// Explains `question` for the caller of `ctx` (see the module for who may ask what).
pub fn explain_as(ctx: &Ctx, question: &Question) -> Result<Explanation, ApiError> {
    if question.user != ctx.caller.name {
        ctx.require_security_admin("explanations of other users")?;
    }
    let (collection, target) = target(&ctx.index, question)?;
    // The caller must see the entity itself before learning anything about it.
    if matches!(target, Target::Entity(_))
        && ctx.decide(target, PermissionKind::Visibility, ANY_RESOURCE) != Outcome::Allow
    {
        return Err(ApiError::NotFound);
    }
    answer(&ctx.index, question, collection, target)
}

fn answer(
    index: &AuthzIndex,
    question: &Question,
    collection: Collection,
    target: Target,
) -> Result<Explanation, ApiError> {
    let user = index
        .lookup(Collection::Users, question.user)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{}'", question.user)))?;
    let resource = if question.resource.is_empty() {
        ANY_RESOURCE
    } else {
        question.resource
    };
    let request = Request {
        user,
        target,
        kind: question.kind,
        resource,
    };
    let system = question
        .wrapped
        .then(|| index.lookup(Collection::Users, builtin::SYSTEM))
        .flatten();
    let explained = crate::authz::explain_wrapped(index, &request, system);
    let name = |idx| {
        index
            .entity(idx)
            .map(|e| e.name.clone())
            .unwrap_or_default()
    };
    let mut steps = Vec::new();
    let mut system_from = None;
    for evaluation in explained.evaluations {
        if evaluation.user != user {
            system_from = Some(steps.len());
        }
        steps.extend(evaluation.steps);
    }
    Ok(Explanation {
        outcome: explained.outcome,
        collection,
        target,
        resource: resource.to_owned(),
        steps,
        decided_by: name(explained.decided_by),
        system_from,
    })
}
