//! What changed between two states of the model: every (user, entity, permission, resource)
//! whose effective decision went from allowed to denied or from denied to allowed, for each
//! property, service and event the entity defines (in either state) and for `*`, and `Create`
//! on each collection. Each change carries the rule that decided before and the one that
//! decides after, as the explain evaluator reports them: decisions are made by
//! [`crate::authz::decide`] and a change is explained by [`crate::domain::explain::explain`],
//! so the diff never judges differently from a request.
//!
//! Pure: two [`Snapshot`]s in, changes out, so the command line and a service can share it.
//! It compares every user with every entity; a change that can only affect a few (one group's
//! rules or members) is not narrowed down yet.

use std::collections::BTreeSet;

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionCategory, PermissionKind};

use crate::authz::{Layer, Outcome, Request, Step, StepEffect, Target};
use crate::domain::explain::{Question, explain};
use crate::domain::snapshot::Snapshot;

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

/// Every question whose decision differs between `before` and `after`, sorted by user,
/// entity, permission and resource (`*` first).
pub fn compare(
    before: &Snapshot,
    after: &Snapshot,
    filter: &Filter,
) -> Result<Vec<Change>, DiffError> {
    let users = users(before, after, filter)?;
    let targets = targets(before, after, filter)?;
    let kinds: Vec<PermissionKind> = PermissionKind::ALL
        .iter()
        .copied()
        .filter(|k| filter.permission.is_none_or(|p| p == *k))
        .collect();
    let mut changes = Vec::new();
    for user in &users {
        for (collection, entity) in &targets {
            for &kind in &kinds {
                // Create is asked of a collection, everything else of an entity.
                if (kind == PermissionKind::Create) != entity.is_empty() {
                    continue;
                }
                for resource in resources(before, after, *collection, entity, kind) {
                    let question = Question {
                        user,
                        entity_type: collection.as_str(),
                        entity,
                        kind,
                        resource: &resource,
                        wrapped: false,
                    };
                    let was = decide(before, &question, *collection);
                    let is = decide(after, &question, *collection);
                    if (was == Some(Outcome::Allow)) == (is == Some(Outcome::Allow)) {
                        continue;
                    }
                    changes.push(Change {
                        user: user.clone(),
                        collection: *collection,
                        entity: entity.clone(),
                        permission: kind,
                        resource: resource.clone(),
                        before: decision(before, &question, *collection),
                        after: decision(after, &question, *collection),
                    });
                }
            }
        }
    }
    Ok(changes)
}

/// The users of either state the filter keeps, by name.
fn users(
    before: &Snapshot,
    after: &Snapshot,
    filter: &Filter,
) -> Result<BTreeSet<String>, DiffError> {
    let mut names = BTreeSet::new();
    if let Some(group) = &filter.group
        && [before, after]
            .iter()
            .all(|s| s.index.lookup(Collection::Groups, group).is_none())
    {
        return Err(DiffError::UnknownGroup(group.clone()));
    }
    for side in [before, after] {
        for (_, collection, name) in side.entities() {
            if collection != Collection::Users {
                continue;
            }
            if filter.user.as_deref().is_some_and(|u| u != name) {
                continue;
            }
            if let Some(group) = &filter.group
                && !is_member(before, name, group)
                && !is_member(after, name, group)
            {
                continue;
            }
            names.insert(name.to_owned());
        }
    }
    if let Some(user) = &filter.user
        && names.is_empty()
        && [before, after]
            .iter()
            .all(|s| s.index.lookup(Collection::Users, user).is_none())
    {
        return Err(DiffError::UnknownUser(user.clone()));
    }
    Ok(names)
}

/// Whether `user` belongs to `group` (directly or through groups) in `side`.
pub fn is_member(side: &Snapshot, user: &str, group: &str) -> bool {
    side.index
        .lookup(Collection::Users, user)
        .and_then(|idx| side.index.user(idx))
        .is_some_and(|node| node.groups.iter().any(|g| g == group))
}

/// The entities (and, for `Create`, collections with an empty name) of either state the
/// filter keeps.
fn targets(
    before: &Snapshot,
    after: &Snapshot,
    filter: &Filter,
) -> Result<BTreeSet<(Collection, String)>, DiffError> {
    let mut targets = BTreeSet::new();
    for side in [before, after] {
        for (_, collection, name) in side.entities() {
            if filter.collection.is_some_and(|c| c != collection)
                || filter.entity.as_deref().is_some_and(|e| e != name)
            {
                continue;
            }
            targets.insert((collection, name.to_owned()));
        }
    }
    if let Some(entity) = &filter.entity {
        if targets.is_empty() {
            return Err(DiffError::UnknownEntity(
                filter.collection.unwrap_or(Collection::Things),
                entity.clone(),
            ));
        }
    } else {
        for &collection in Collection::ALL {
            if filter.collection.is_none_or(|c| c == collection) {
                targets.insert((collection, String::new()));
            }
        }
    }
    Ok(targets)
}

/// The resources a question on `kind` is asked for: `*`, then what the entity defines in
/// either state (run-time permissions only).
fn resources(
    before: &Snapshot,
    after: &Snapshot,
    collection: Collection,
    entity: &str,
    kind: PermissionKind,
) -> Vec<String> {
    let mut names = vec![ANY_RESOURCE.to_owned()];
    if kind.category() != PermissionCategory::RunTime {
        return names;
    }
    for side in [before, after] {
        let Some(idx) = side.index.lookup(collection, entity) else {
            continue;
        };
        for name in side.resources(idx, kind) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// The fast decision of `question` in `side`; `None` when its user or entity is missing.
fn decide(side: &Snapshot, question: &Question, collection: Collection) -> Option<Outcome> {
    let user = side.index.lookup(Collection::Users, question.user)?;
    let target = if question.entity.is_empty() {
        Target::Collection(collection)
    } else {
        Target::Entity(side.index.lookup(collection, question.entity)?)
    };
    Some(crate::authz::decide(
        &side.index,
        &Request {
            user,
            target,
            kind: question.kind,
            resource: question.resource,
        },
    ))
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
