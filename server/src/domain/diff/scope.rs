//! Which questions a change between two states can answer differently, so that the diff asks
//! only those and its time follows what the change can affect, not the size of the model.
//!
//! A decision ([`crate::authz::decide`]) reads the user's administrator flag and the principals
//! it holds (itself, its groups, its organizations and units); the entity's existence, owner,
//! ThingTemplates and ThingShapes; and the rules of the entity, the instance
//! rules of its templates and shapes, and the rules of its collection. Hence:
//! - a user added, removed or whose administrator flag changed: every question of that user;
//! - an entity added, removed, or whose owner, templates or shapes changed: every question on
//!   that entity;
//! - a source whose rules differ: the questions of the users holding a principal the differing
//!   rules name, on the entities the source reaches, for the permissions those rules name;
//! - a user whose principals differ: the questions on the entities reached by a source whose
//!   rules name one of those principals, for the permissions they name.
//!
//! A Visibility rule stands for every permission, since an entity a user cannot see answers
//! every question with "not visible".

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};

use crate::authz::EntityIdx;
use crate::domain::snapshot::{RuleKey, RuleSource, Snapshot};

/// A set of permissions, one bit per [`PermissionKind`].
pub(super) type Kinds = u32;

/// The bit of `kind`.
pub(super) fn bit(kind: PermissionKind) -> Kinds {
    1 << kind as u32
}

/// Every permission.
fn every_kind() -> Kinds {
    PermissionKind::ALL.iter().fold(0, |mask, k| mask | bit(*k))
}

/// The permissions a question must be asked for when rules of `kind` changed.
fn reached_by(kind: PermissionKind) -> Kinds {
    if kind == PermissionKind::Visibility {
        every_kind()
    } else {
        bit(kind)
    }
}

/// An entity by collection and name, or a collection alone (empty name) for `Create`.
pub(super) type Target<'a> = (Collection, &'a str);

type Principal<'a> = (PrincipalType, &'a str);

/// The questions one user is asked: targets in order, each with its permissions.
pub(super) type Questions<'a> = Vec<(Target<'a>, Kinds)>;

/// What a user holds in one state.
struct Held<'a> {
    admin: bool,
    principals: Vec<Principal<'a>>,
}

fn held<'a>(side: &'a Snapshot, user: &str) -> Option<Held<'a>> {
    let node = side
        .index
        .lookup(Collection::Users, user)
        .and_then(|idx| side.index.user(idx))?;
    let mut principals: Vec<Principal<'a>> = node
        .principals
        .iter()
        .chain(&node.visibility)
        .map(|pid| side.index.principal(*pid))
        .collect();
    principals.sort_unstable();
    principals.dedup();
    Some(Held {
        admin: node.admin.is_some(),
        principals,
    })
}

/// The elements of exactly one of two sorted slices.
fn symmetric_difference<'s, T: Ord>(a: &'s [T], b: &'s [T]) -> Vec<&'s T> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => (i, j) = (i + 1, j + 1),
            (Some(x), Some(y)) if x < y => {
                out.push(x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(y);
                j += 1;
            }
            (Some(x), None) => {
                out.push(x);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// One state, with what the scope looks up in it more than once, computed on first use.
struct Side<'a> {
    snapshot: &'a Snapshot,
    /// For each ThingTemplate or ThingShape, the entities whose levels hold it.
    dependents: OnceCell<HashMap<EntityIdx, Vec<EntityIdx>>>,
    /// The entities of each collection.
    members: OnceCell<HashMap<Collection, Vec<EntityIdx>>>,
}

impl<'a> Side<'a> {
    fn new(snapshot: &'a Snapshot) -> Side<'a> {
        Side {
            snapshot,
            dependents: OnceCell::new(),
            members: OnceCell::new(),
        }
    }

    fn name(&self, idx: EntityIdx) -> Option<Target<'a>> {
        let node = self.snapshot.index.entity(idx)?;
        Some((node.collection, node.name.as_str()))
    }

    /// The entities whose templates or shapes include `definer`.
    fn dependents_of(&self, definer: Target<'_>, out: &mut Vec<Target<'a>>) {
        let index = &self.snapshot.index;
        let Some(idx) = index.lookup(definer.0, definer.1) else {
            return;
        };
        let dependents = self.dependents.get_or_init(|| {
            let mut map: HashMap<EntityIdx, Vec<EntityIdx>> = HashMap::new();
            for (e, _, _) in self.snapshot.entities() {
                if let Some(hot) = index.hot(e) {
                    let (templates, shapes) = index.levels(hot);
                    for level in templates.iter().chain(shapes) {
                        map.entry(*level).or_default().push(e);
                    }
                }
            }
            map
        });
        for e in dependents.get(&idx).into_iter().flatten() {
            out.extend(self.name(*e));
        }
    }

    /// The entities of `collection`.
    fn members_of(&self, collection: Collection, out: &mut Vec<Target<'a>>) {
        let members = self.members.get_or_init(|| {
            let mut map: HashMap<Collection, Vec<EntityIdx>> = HashMap::new();
            for (e, c, _) in self.snapshot.entities() {
                map.entry(c).or_default().push(e);
            }
            map
        });
        for e in members.get(&collection).into_iter().flatten() {
            out.extend(self.name(*e));
        }
    }

    /// Whether the entity at `idx` here and the one at `other` in `there` have the same
    /// owner, templates and shapes (a Thing's levels hold its whole template chain and every
    /// shape along it).
    fn same_entity(&self, idx: EntityIdx, there: &Side<'_>, other: EntityIdx) -> bool {
        let (here, far) = (&self.snapshot.index, &there.snapshot.index);
        let (Some(a), Some(b)) = (here.hot(idx), far.hot(other)) else {
            return false;
        };
        let owner_a = a.owner().and_then(|o| self.name(o));
        let owner_b = b.owner().and_then(|o| there.name(o));
        let ((ta, sa), (tb, sb)) = (here.levels(a), far.levels(b));
        owner_a == owner_b
            && self.names(ta).eq(there.names(tb))
            && self.names(sa).eq(there.names(sb))
    }

    fn names<'l>(&'l self, list: &'l [EntityIdx]) -> impl Iterator<Item = Option<Target<'a>>> + 'l {
        list.iter().map(|e| self.name(*e))
    }
}

/// The questions to ask, built by [`Scope::between`].
pub(super) struct Scope<'a> {
    sides: [Side<'a>; 2],
    /// Every user of either state, in order.
    users: BTreeSet<&'a str>,
    /// Users asked every question.
    every_target: HashSet<&'a str>,
    /// Targets every user is asked about, with the permissions.
    every_user: Questions<'a>,
    /// Further questions per user.
    pairs: HashMap<&'a str, Questions<'a>>,
}

impl<'a> Scope<'a> {
    /// The questions whose answers can differ between `before` and `after`.
    pub(super) fn between(before: &'a Snapshot, after: &'a Snapshot) -> Scope<'a> {
        let mut scope = Scope {
            sides: [Side::new(before), Side::new(after)],
            users: BTreeSet::new(),
            every_target: HashSet::new(),
            every_user: Vec::new(),
            pairs: HashMap::new(),
        };
        let (holders, deltas) = scope.users();
        scope.entities();
        scope.rules(&holders);
        scope.principals(&deltas);
        scope
    }

    /// Collects the users, marks those asked everything, and returns who holds each principal
    /// (in either state) and what each remaining user gained or lost.
    #[expect(
        clippy::type_complexity,
        reason = "two lookups built in one pass over the users"
    )]
    fn users(
        &mut self,
    ) -> (
        HashMap<Principal<'a>, Vec<&'a str>>,
        Vec<(&'a str, Vec<Principal<'a>>)>,
    ) {
        for side in &self.sides {
            for (_, collection, name) in side.snapshot.entities() {
                if collection == Collection::Users {
                    self.users.insert(name);
                }
            }
        }
        let mut holders: HashMap<Principal<'a>, Vec<&'a str>> = HashMap::new();
        let mut deltas = Vec::new();
        for user in &self.users {
            let [before, after] = [&self.sides[0], &self.sides[1]].map(|s| held(s.snapshot, user));
            for h in before.iter().chain(after.iter()) {
                for p in &h.principals {
                    let list = holders.entry(*p).or_default();
                    if list.last() != Some(user) {
                        list.push(user);
                    }
                }
            }
            match (before, after) {
                (Some(b), Some(a)) if b.admin && a.admin => {}
                (Some(b), Some(a)) if b.admin == a.admin => {
                    if b.principals != a.principals {
                        let delta = symmetric_difference(&b.principals, &a.principals)
                            .into_iter()
                            .copied()
                            .collect();
                        deltas.push((*user, delta));
                    }
                }
                _ => {
                    self.every_target.insert(user);
                }
            }
        }
        (holders, deltas)
    }

    /// Marks the entities added, removed, or whose owner or levels changed, for every user.
    /// What an entity defines only says which resources are asked about, never how: the
    /// resources of both states are asked ([`super::resources`]), so definitions need no
    /// comparison.
    fn entities(&mut self) {
        let [before, after] = &self.sides;
        let mut changed: Vec<Target<'a>> = Vec::new();
        // An entity of both states is compared once, from `before`.
        for (here, there, compare) in [(before, after, true), (after, before, false)] {
            for (idx, collection, name) in here.snapshot.entities() {
                let same = match there.snapshot.index.lookup(collection, name) {
                    Some(other) => !compare || here.same_entity(idx, there, other),
                    None => false,
                };
                if !same {
                    changed.push((collection, name));
                }
            }
        }
        let every = every_kind();
        self.every_user
            .extend(changed.into_iter().map(|target| (target, every)));
    }

    /// Every entity (or collection) `source` reaches, in either state.
    fn reach(&self, source: &RuleSource, out: &mut Vec<Target<'a>>) {
        match source {
            RuleSource::Own(collection, name) => {
                // The name is borrowed from whichever state holds the entity.
                for side in &self.sides {
                    if let Some(idx) = side.snapshot.index.lookup(*collection, name) {
                        out.extend(side.name(idx));
                        break;
                    }
                }
            }
            RuleSource::Instance(collection, name) => {
                for side in &self.sides {
                    side.dependents_of((*collection, name), out);
                }
            }
            RuleSource::Collection(collection) => {
                out.push((*collection, ""));
                for side in &self.sides {
                    side.members_of(*collection, out);
                }
            }
        }
    }

    /// Marks, for each source whose rules differ, the users holding a principal those rules
    /// name, on what the source reaches.
    fn rules(&mut self, holders: &HashMap<Principal<'a>, Vec<&'a str>>) {
        let [before, after] = [self.sides[0].snapshot, self.sides[1].snapshot];
        let none: Vec<RuleKey> = Vec::new();
        let mut sources: Vec<(&RuleSource, Vec<&RuleKey>)> = Vec::new();
        for (source, rules) in &before.rules {
            let theirs = after.rules.get(source).unwrap_or(&none);
            if rules != theirs {
                sources.push((source, symmetric_difference(rules, theirs)));
            }
        }
        for (source, rules) in &after.rules {
            if !before.rules.contains_key(source) {
                sources.push((source, rules.iter().collect()));
            }
        }
        for (source, differing) in sources {
            let kinds = differing
                .iter()
                .fold(0, |mask, (kind, ..)| mask | reached_by(*kind));
            let mut users: Vec<&'a str> = differing
                .iter()
                .filter_map(|(_, _, ptype, pname, _)| holders.get(&(*ptype, pname.as_str())))
                .flatten()
                .copied()
                .collect();
            users.sort_unstable();
            users.dedup();
            if !users.is_empty() {
                self.mark(&users, source, kinds);
            }
        }
    }

    /// Asks each of `users` the questions `source` reaches, for `kinds`.
    fn mark(&mut self, users: &[&'a str], source: &RuleSource, kinds: Kinds) {
        let mut targets = Vec::new();
        self.reach(source, &mut targets);
        for user in users {
            let pairs = self.pairs.entry(user).or_default();
            pairs.extend(targets.iter().map(|t| (*t, kinds)));
        }
    }

    /// Marks, for each user whose principals differ, what the sources naming those
    /// principals reach.
    fn principals(&mut self, deltas: &[(&'a str, Vec<Principal<'a>>)]) {
        if deltas.is_empty() {
            return;
        }
        let wanted: HashSet<Principal<'_>> = deltas.iter().flat_map(|(_, d)| d).copied().collect();
        let mut naming: HashMap<Principal<'_>, HashMap<&RuleSource, Kinds>> = HashMap::new();
        for side in &self.sides {
            for (source, rules) in &side.snapshot.rules {
                for (kind, _, ptype, pname, _) in rules {
                    let principal = (*ptype, pname.as_str());
                    if wanted.contains(&principal) {
                        *naming
                            .entry(principal)
                            .or_default()
                            .entry(source)
                            .or_default() |= reached_by(*kind);
                    }
                }
            }
        }
        for (user, delta) in deltas {
            let mut sources: HashMap<&RuleSource, Kinds> = HashMap::new();
            for principal in delta {
                for (source, kinds) in naming.get(principal).into_iter().flatten() {
                    *sources.entry(source).or_default() |= kinds;
                }
            }
            for (source, kinds) in sources {
                self.mark(&[*user], source, kinds);
            }
        }
    }

    /// Every target of either state, collections included, in order.
    fn every_target(&self) -> Questions<'a> {
        let every = every_kind();
        let mut all: Vec<Target<'a>> = Collection::ALL.iter().map(|c| (*c, "")).collect();
        for side in &self.sides {
            all.extend(
                side.snapshot
                    .entities()
                    .map(|(_, collection, name)| (collection, name)),
            );
        }
        all.sort_unstable();
        all.dedup();
        all.into_iter().map(|t| (t, every)).collect()
    }

    /// Each user in order, with the targets (in order) and permissions to ask about; users
    /// with nothing to ask are left out.
    pub(super) fn into_questions(mut self) -> impl Iterator<Item = (&'a str, Questions<'a>)> {
        let mut everything: Option<Questions<'a>> = None;
        let users = std::mem::take(&mut self.users).into_iter();
        users.filter_map(move |user| {
            if self.every_target.contains(user) {
                let all = everything.get_or_insert_with(|| self.every_target());
                return Some((user, all.clone()));
            }
            let mut questions = self.pairs.remove(user).unwrap_or_default();
            questions.extend(self.every_user.iter().copied());
            if questions.is_empty() {
                return None;
            }
            questions.sort_unstable_by_key(|(target, _)| *target);
            questions.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    kept.1 |= later.1;
                    true
                } else {
                    false
                }
            });
            Some((user, questions))
        })
    }
}
