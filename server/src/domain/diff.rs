//! What changed between two states of the model: every (user, entity, permission, resource)
//! whose effective decision went from allowed to denied or from denied to allowed, for each
//! property, service and event the entity defines (in either state) and for `*`, and `Create`
//! on each collection. Each change carries the rule that decided before and the one that
//! decides after, as the explain evaluator reports them: decisions are made by
//! [`crate::authz::decide`] and a change is explained by [`crate::domain::explain::explain`],
//! so the diff never judges differently from a request.
//!
//! Pure: two [`Snapshot`]s in, changes out, so the command line and a service can share it.
//! Only the questions the difference between the states can reach are asked ([`scope`]), so
//! a change to one group's rules or members costs what that group can affect; they are asked
//! on every core, in batches, and the answer keeps their order.

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionCategory, PermissionKind};

use crate::authz::{EntityIdx, Layer, Outcome, Request, Step, StepEffect, Target};
use crate::domain::explain::{Question, explain};
use crate::domain::snapshot::Snapshot;

mod scope;

use rayon::prelude::*;
use scope::{Questions, Scope, bit};

/// Which part of the comparison to report; every field left empty keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this user.
    pub user: Option<String>,
    /// Only the members (direct or through groups) of this group, in either state.
    pub group: Option<String>,
    /// Only entities of this collection.
    pub collection: Option<Collection>,
    /// Only the entity of this name.
    pub entity: Option<String>,
    /// Only this permission.
    pub permission: Option<PermissionKind>,
}

/// Why a filter cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// The filter names a user that exists in neither state.
    #[error("user '{0}' exists in neither state")]
    UnknownUser(String),
    /// The filter names a group that exists in neither state.
    #[error("group '{0}' exists in neither state")]
    UnknownGroup(String),
    /// The filter names an entity that exists in neither state.
    #[error("{0} '{1}' exists in neither state")]
    UnknownEntity(Collection, String),
}

/// One side's decision on a changed question, with the rule that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The decision (`NotVisible` when the entity does not exist in this state).
    pub outcome: Outcome,
    /// The step that decided; for a user or entity missing from this state, a `Default`
    /// step saying so.
    pub rule: Step,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// A rule as one line, as the text output and the REST service word it: layer, principal,
/// resource, effect and detail.
pub fn rule_text(step: &Step) -> String {
    let principal = step
        .principal
        .as_ref()
        .map(|(t, n)| format!("{t} {n}"))
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "{} {} {} {}: {}",
        step.layer.label(),
        principal,
        step.resource,
        step.effect.label(),
        step.detail
    )
}

/// One question whose answer changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The user.
    pub user: String,
    /// The collection of the entity (or the collection asked about for `Create`).
    pub collection: Collection,
    /// The entity; empty for `Create` on the collection.
    pub entity: String,
    /// The permission.
    pub permission: PermissionKind,
    /// The property, service or event, or `*`.
    pub resource: String,
    /// The decision before.
    pub before: Decision,
    /// The decision after.
    pub after: Decision,
}

impl Change {
    /// `<Collection>/<Name>`, or the collection alone for `Create`.
    pub fn entity_path(&self) -> String {
        if self.entity.is_empty() {
            self.collection.to_string()
        } else {
            format!("{}/{}", self.collection, self.entity)
        }
    }

    /// Whether the change took the permission away.
    pub fn lost(&self) -> bool {
        self.before.allowed() && !self.after.allowed()
    }
}

/// A question whose decision differs between the two states, not yet explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flipped {
    /// The user.
    pub user: String,
    /// The collection of the entity (or the collection asked about for `Create`).
    pub collection: Collection,
    /// The entity; empty for `Create` on the collection.
    pub entity: String,
    /// The permission.
    pub permission: PermissionKind,
    /// The property, service or event, or `*`.
    pub resource: String,
}

/// Every question whose decision differs between `before` and `after`, sorted by user,
/// entity, permission and resource (`*` first), each explained on both sides.
pub fn compare(
    before: &Snapshot,
    after: &Snapshot,
    filter: &Filter,
) -> Result<Vec<Change>, DiffError> {
    let flips = flipped(before, after, filter)?;
    Ok(explained([before, after], &flips))
}

/// Every question whose decision differs between `before` and `after`, in the order of
/// [`compare`], without explaining them (a page that lists only some explains only those,
/// with [`explained`]).
pub fn flipped(
    before: &Snapshot,
    after: &Snapshot,
    filter: &Filter,
) -> Result<Vec<Flipped>, DiffError> {
    check(before, after, filter)?;
    let sides = [before, after];
    let mut flips = Vec::new();
    let mut batch: Vec<(&str, Questions)> = Vec::new();
    let mut weight = 0;
    for (user, questions) in Scope::between(before, after).into_questions() {
        if !keeps_user(before, after, filter, user) {
            continue;
        }
        weight += questions.len();
        batch.push((user, questions));
        if weight >= BATCH {
            flips.extend(ask_batch(sides, filter, &batch));
            batch.clear();
            weight = 0;
        }
    }
    flips.extend(ask_batch(sides, filter, &batch));
    Ok(flips)
}

/// `flips` with the rule that decided each on either side, on the available cores, in order.
pub fn explained(sides: [&Snapshot; 2], flips: &[Flipped]) -> Vec<Change> {
    let [before, after] = sides;
    flips
        .par_iter()
        .with_min_len(CHUNK)
        .map(|f| {
            let question = Question {
                user: &f.user,
                entity_type: f.collection.as_str(),
                entity: &f.entity,
                kind: f.permission,
                resource: &f.resource,
                wrapped: false,
            };
            Change {
                user: f.user.clone(),
                collection: f.collection,
                entity: f.entity.clone(),
                permission: f.permission,
                resource: f.resource.clone(),
                before: decision(before, &question, f.collection),
                after: decision(after, &question, f.collection),
            }
        })
        .collect()
}

/// How many (user, target) questions are gathered before they are asked in parallel.
const BATCH: usize = 1 << 16;

/// How many questions one task asks.
const CHUNK: usize = 512;

/// Asks the questions of `batch` on the available cores; the flips keep the batch's order.
fn ask_batch(sides: [&Snapshot; 2], filter: &Filter, batch: &[(&str, Questions)]) -> Vec<Flipped> {
    let tasks: Vec<(&str, &[(scope::Target, scope::Kinds)])> = batch
        .iter()
        .flat_map(|(user, questions)| questions.chunks(CHUNK).map(move |c| (*user, c)))
        .collect();
    // An indexed parallel map collects in the tasks' order.
    let answers: Vec<Vec<Flipped>> = tasks
        .into_par_iter()
        .map(|(user, questions)| ask(sides, filter, user, questions))
        .collect();
    answers.into_iter().flatten().collect()
}

/// The flips among `questions` of `user`.
fn ask(
    sides: [&Snapshot; 2],
    filter: &Filter,
    user: &str,
    questions: &[(scope::Target, scope::Kinds)],
) -> Vec<Flipped> {
    let mut flips = Vec::new();
    let users = sides.map(|s| s.index.lookup(Collection::Users, user));
    for &((collection, entity), kinds) in questions {
        if filter.collection.is_some_and(|c| c != collection)
            || filter.entity.as_deref().is_some_and(|e| e != entity)
        {
            continue;
        }
        let targets = sides.map(|s| target(s, collection, entity));
        let entities = targets.map(|t| match t {
            Some(Target::Entity(idx)) => Some(idx),
            _ => None,
        });
        for &kind in PermissionKind::ALL {
            // Create is asked of a collection, everything else of an entity.
            if kinds & bit(kind) == 0
                || filter.permission.is_some_and(|p| p != kind)
                || (kind == PermissionKind::Create) != entity.is_empty()
            {
                continue;
            }
            for resource in resources(sides, entities, kind) {
                let [was, is] = [0, 1].map(|i| match (users[i], targets[i]) {
                    (Some(user), Some(target)) => {
                        let request = Request {
                            user,
                            target,
                            kind,
                            resource,
                        };
                        crate::authz::decide(&sides[i].index, &request) == Outcome::Allow
                    }
                    _ => false,
                });
                if was != is {
                    flips.push(Flipped {
                        user: user.to_owned(),
                        collection,
                        entity: entity.to_owned(),
                        permission: kind,
                        resource: resource.to_owned(),
                    });
                }
            }
        }
    }
    flips
}

/// The entity `entity` of `collection` in `side` (the collection itself when the name is
/// empty); `None` when it does not exist there.
fn target(side: &Snapshot, collection: Collection, entity: &str) -> Option<Target> {
    if entity.is_empty() {
        Some(Target::Collection(collection))
    } else {
        side.index.lookup(collection, entity).map(Target::Entity)
    }
}

/// Refuses a filter naming a user, group or entity that exists in neither state.
fn check(before: &Snapshot, after: &Snapshot, filter: &Filter) -> Result<(), DiffError> {
    let exists = |collection: Collection, name: &str| {
        [before, after]
            .iter()
            .any(|s| s.index.lookup(collection, name).is_some())
    };
    if let Some(group) = &filter.group
        && !exists(Collection::Groups, group)
    {
        return Err(DiffError::UnknownGroup(group.clone()));
    }
    if let Some(user) = &filter.user
        && !exists(Collection::Users, user)
    {
        return Err(DiffError::UnknownUser(user.clone()));
    }
    if let Some(entity) = &filter.entity {
        let found = match filter.collection {
            Some(collection) => exists(collection, entity),
            None => Collection::ALL.iter().any(|c| exists(*c, entity)),
        };
        if !found {
            return Err(DiffError::UnknownEntity(
                filter.collection.unwrap_or(Collection::Things),
                entity.clone(),
            ));
        }
    }
    Ok(())
}

/// Whether the filter keeps `user`.
fn keeps_user(before: &Snapshot, after: &Snapshot, filter: &Filter, user: &str) -> bool {
    filter.user.as_deref().is_none_or(|u| u == user)
        && filter
            .group
            .as_deref()
            .is_none_or(|group| is_member(before, user, group) || is_member(after, user, group))
}

/// Whether `user` belongs to `group` (directly or through groups) in `side`.
pub fn is_member(side: &Snapshot, user: &str, group: &str) -> bool {
    side.index
        .lookup(Collection::Users, user)
        .and_then(|idx| side.index.user(idx))
        .is_some_and(|node| node.groups.iter().any(|g| g == group))
}

/// The resources a question on `kind` is asked for: `*`, then what the entity defines in
/// either state (run-time permissions only).
fn resources(
    sides: [&Snapshot; 2],
    entities: [Option<EntityIdx>; 2],
    kind: PermissionKind,
) -> Vec<&str> {
    let mut names = vec![ANY_RESOURCE];
    if kind.category() != PermissionCategory::RunTime {
        return names;
    }
    for (side, entity) in sides.into_iter().zip(entities) {
        let Some(idx) = entity else {
            continue;
        };
        for name in side.resources(idx, kind) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// The explained decision of `question` in `side`.
fn decision(side: &Snapshot, question: &Question, collection: Collection) -> Decision {
    let absent = |outcome: Outcome, detail: String| Decision {
        outcome,
        rule: Step {
            layer: Layer::Default,
            principal: None,
            resource: question.resource.to_owned(),
            effect: StepEffect::Deny,
            decisive: true,
            detail,
        },
    };
    if side
        .index
        .lookup(Collection::Users, question.user)
        .is_none()
    {
        return absent(
            Outcome::Deny,
            format!("user {} does not exist here", question.user),
        );
    }
    match explain(&side.index, question) {
        Ok(explanation) => {
            let rule = explanation
                .steps
                .iter()
                .find(|s| s.decisive)
                .or(explanation.steps.last())
                .cloned();
            match rule {
                Some(rule) => Decision {
                    outcome: explanation.outcome,
                    rule,
                },
                None => absent(explanation.outcome, "no rule was looked at".into()),
            }
        }
        Err(_) => absent(
            Outcome::NotVisible,
            format!("{collection} {} does not exist here", question.entity),
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod scope_tests;
