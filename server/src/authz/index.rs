//! The in-memory authorization index: built from [`Facts`] in one pass, immutable afterwards;
//! a change to some entities' rules gives a new index patched from it (`patch`), which shares
//! every array the patch did not write to.
//! Every principal name is interned to a small integer, and so is every resource name a rule
//! mentions; each user carries its sorted principal set (itself and every group it is in,
//! transitively) and its visibility set (the organizations it belongs to and every unit at or
//! below a unit it belongs to); each entity carries the ordered list of rule sources its
//! decisions look at.
//!
//! The layout is built for the check, which touches one random Thing among many: what a check
//! reads sits in a few compact, contiguous arrays, so a check costs a handful of cache lines.
//!
//! - A rule is one `u64` ([`Word`]): permission kind, resource id, principal and allow bit. A
//!   rule source is a sorted run of words, so a cell (kind, resource) is a contiguous sub-run
//!   sorted by principal, found by binary search; a collection with many rules adds a cell
//!   table.
//! - What a check reads for every request is packed tighter, as 32-bit entries ([`Packing`])
//!   whenever the index's principal and resource ids fit them (as words otherwise):
//!   - an entity's run holds its levels (for a Thing: its template chain, then its shapes),
//!     followed by its own rules, so one cache line usually holds everything a Thing
//!     contributes to a check;
//!   - a template's or shape's instance rules, which a check reads for every Thing that
//!     inherits them, are grouped by permission kind (`KindBlocks`), so a level reads one
//!     kind's short block. A source too large for that keeps a run of words and a cell table.
//! - Per entity, a 32-byte [`Hot`] record holds where its run is, its owner and, for a user,
//!   where its principal sets are. Names, ids and explanation texts sit apart, in
//!   [`EntityNode`] and [`UserNode`].
//! - Names are found through open-addressing tables whose 32-byte slots hold the name inline
//!   (names up to 27 bytes), so a lookup usually reads one cache line.

use std::sync::Arc;

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionKind, PrincipalType, builtin};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::authz::facts::Facts;

mod blocks;
mod names;
mod patch;
mod principals;
mod words;

pub use blocks::{Hot, KINDS};
pub use principals::{PidMask, PidSet, UserHot, UserNode};
pub use words::{
    CellSlot, Packing, Row, Rules, Word, cell, cell_key, word_allows, word_cell, word_pid,
};

use blocks::{RuleLayout, add_instance, add_layout, add_own, kinds_of, max_ids, sorted_run};
use names::{NameTable, Names};
use principals::build_users;
use words::Held;

/// An interned principal.
pub type Pid = u32;

/// An entity's position in the index.
pub type EntityIdx = u32;

/// An interned resource name; [`ANY_RID`] is `*`.
pub type Rid = u32;

/// The resource id of `*`.
pub const ANY_RID: Rid = 0;

const NONE: u32 = u32::MAX;

/// One entity in the index: what requests and explanations name.
#[derive(Clone, Debug)]
pub struct EntityNode {
    /// The database id.
    pub id: i64,
    /// Its collection.
    pub collection: Collection,
    /// Its name.
    pub name: String,
}

/// The immutable index every decision reads.
#[derive(Clone, Debug, Default)]
pub struct AuthzIndex {
    sequence: i64,
    names: Arc<Names>,
    /// Cold per-entity data: id, collection, name.
    entities: Arc<Vec<EntityNode>>,
    /// Per collection (by `Collection as usize`), its entities by name.
    by_name: Arc<Vec<NameTable>>,
    /// Per user position.
    users: Arc<Vec<UserNode>>,
    user_hot: Arc<Vec<UserHot>>,
    /// The principal sets of every user, then its visibility set.
    user_pids: Arc<Vec<Pid>>,
    /// Per entity: where its run is.
    hot: Arc<[Hot]>,
    /// Per entity: its instance rules (templates and shapes).
    instance: Arc<[RuleLayout]>,
    /// Per entity: the mask of the principals its instance visibility rules name, so that the
    /// visibility gate passes over a template none of whose visibility rules can name the user.
    instance_visibility: Arc<[PidMask]>,
    /// Per collection (by `Collection as usize`): its rules.
    collections: Arc<[RuleLayout]>,
    /// Every entity's run: its levels, then its own rules when they are packed.
    runs: Arc<[u32]>,
    /// How own rules are packed in the runs; `None`: they are words in the arena.
    own_packing: Option<Packing>,
    /// Rule words: own rules that are not packed, instance rules too many for blocks by kind,
    /// collection rules.
    arena: Arc<[Word]>,
    /// The cell tables of sources with many rules.
    cells: Arc<[CellSlot]>,
    /// The blocks by kind of templates and shapes.
    entries: Arc<[u32]>,
    /// How those blocks pack their entries; `None`: instance rules are runs of words.
    packing: Option<Packing>,
    /// How many entries, words and cell slots of the arrays above patches left unreachable.
    garbage: usize,
}

impl AuthzIndex {
    /// Builds the index from facts. Dangling names (a template that does not exist, a rule
    /// naming an unknown principal) are kept harmlessly: they never match anything.
    pub fn build(facts: &Facts) -> AuthzIndex {
        let mut names = Names::default();
        let mut entities = Vec::with_capacity(facts.entities.len());
        let mut idx_of_id: FxHashMap<i64, EntityIdx> = FxHashMap::default();
        let mut per_collection: Vec<Vec<EntityIdx>> = vec![Vec::new(); Collection::ALL.len()];
        for (i, e) in facts.entities.iter().enumerate() {
            let i = EntityIdx::try_from(i).unwrap_or(NONE);
            idx_of_id.insert(e.id, i);
            if let Some(list) = per_collection.get_mut(e.collection as usize) {
                list.push(i);
            }
            entities.push(EntityNode {
                id: e.id,
                collection: e.collection,
                name: e.name.clone(),
            });
        }
        let full = |idx: EntityIdx| {
            entities
                .get(idx as usize)
                .map(|e| e.name.as_str())
                .unwrap_or("")
        };
        let by_name: Vec<NameTable> = per_collection
            .iter()
            .map(|list| {
                let mut table = NameTable::with_capacity(list.len());
                for &i in list {
                    table.insert(full(i), i, full);
                }
                table
            })
            .collect();
        let lookup =
            |collection: Collection, name: &str| by_name.get(collection as usize)?.get(name, full);

        // Levels: for Things, the template chain nearest first, then the shapes (the Thing's
        // own, then its templates'), without repeats.
        let template_base: FxHashMap<EntityIdx, EntityIdx> = facts
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.collection == Collection::ThingTemplates && !e.template.is_empty())
            .filter_map(|(i, e)| {
                let base = lookup(Collection::ThingTemplates, &e.template)?;
                Some((EntityIdx::try_from(i).ok()?, base))
            })
            .collect();
        let shapes_of = |i: usize| -> Vec<EntityIdx> {
            facts.entities[i]
                .shapes
                .iter()
                .filter_map(|s| lookup(Collection::ThingShapes, s))
                .collect()
        };
        let mut levels: Vec<(Vec<EntityIdx>, Vec<EntityIdx>)> =
            vec![(Vec::new(), Vec::new()); facts.entities.len()];
        for (i, e) in facts.entities.iter().enumerate() {
            if e.collection != Collection::Things {
                continue;
            }
            let mut chain = Vec::new();
            let mut seen = FxHashSet::default();
            let mut current = lookup(Collection::ThingTemplates, &e.template);
            while let Some(t) = current {
                if !seen.insert(t) {
                    break;
                }
                chain.push(t);
                current = template_base.get(&t).copied();
            }
            let mut shapes: Vec<EntityIdx> = Vec::new();
            let inherited = chain.iter().flat_map(|t| shapes_of(*t as usize));
            for s in shapes_of(i).into_iter().chain(inherited) {
                if !shapes.contains(&s) {
                    shapes.push(s);
                }
            }
            // A level count is 16 bits: a chain or shape list is cut at 65,535 entries, far
            // beyond any model (a chain holds at most one entry per template).
            chain.truncate(usize::from(u16::MAX));
            shapes.truncate(usize::from(u16::MAX));
            levels[i] = (chain, shapes);
        }

        // Rules, grouped by source: (source, key without allow bit, order, word).
        let mut own: Vec<Vec<(u64, usize, Word)>> = vec![Vec::new(); facts.entities.len()];
        let mut instance: Vec<Vec<(u64, usize, Word)>> = vec![Vec::new(); facts.entities.len()];
        for (order, (entity_id, is_instance, rule)) in facts.entity_rules.iter().enumerate() {
            let Some(&i) = idx_of_id.get(entity_id) else {
                continue;
            };
            let word = names.intern_word(rule);
            let list = if *is_instance {
                &mut instance[i as usize]
            } else {
                &mut own[i as usize]
            };
            list.push((word >> 1, order, word));
        }
        let mut collection_rules: Vec<Vec<(u64, usize, Word)>> =
            vec![Vec::new(); Collection::ALL.len()];
        for (order, (collection, rule)) in facts.collection_rules.iter().enumerate() {
            let word = names.intern_word(rule);
            if let Some(list) = collection_rules.get_mut(*collection as usize) {
                list.push((word >> 1, order, word));
            }
        }

        // An entity's own rules follow its levels as entries when every own rule's principal,
        // resource and kind fit one; otherwise (millions of principals and resources at once)
        // they are words in the arena. Every principal the index will hold: those rules name,
        // and at most every user, group, organization and unit; every resource any rule names.
        let principal_entities = facts.entities.iter().filter(|e| {
            matches!(
                e.collection,
                Collection::Users | Collection::Groups | Collection::Organizations
            )
        });
        let held = Held {
            principals: names.principal_names.len()
                + principal_entities.count()
                + facts.units.len(),
            resources: names.resource_ids.len(),
        };
        let (max_pid, max_rid) = max_ids(own.iter().flatten());
        let own_packing = Packing::roomy(max_pid, max_rid, held, true);
        let mut arena: Vec<Word> = Vec::new();
        let mut runs: Vec<u32> = Vec::new();
        let mut hot = Vec::with_capacity(facts.entities.len());
        for (i, e) in facts.entities.iter().enumerate() {
            let (chain, shapes) = &levels[i];
            let run = runs.len();
            runs.extend(chain.iter().chain(shapes));
            let rules = &mut own[i];
            sorted_run(rules);
            let own_words = add_own(&mut runs, &mut arena, rules, own_packing);
            hot.push(Hot {
                run: u32::try_from(run).unwrap_or(NONE),
                own_words,
                own: u32::try_from(rules.len()).unwrap_or(0),
                owner: e
                    .owner
                    .and_then(|o| idx_of_id.get(&o).copied())
                    .filter(|&o| {
                        entities
                            .get(o as usize)
                            .is_some_and(|n| n.collection == Collection::Users)
                    })
                    .unwrap_or(NONE),
                user: NONE,
                templates: u16::try_from(chain.len()).unwrap_or(u16::MAX),
                shapes: u16::try_from(shapes.len()).unwrap_or(u16::MAX),
                own_kinds: kinds_of(rules),
                collection: e.collection,
            });
        }
        drop(own);
        let mut cells = Vec::new();
        let mut entries = Vec::new();
        let mut words = Vec::new();
        let mut instance_sources = vec![RuleLayout::default(); facts.entities.len()];
        let mut instance_visibility = vec![PidMask::default(); facts.entities.len()];
        // Blocks by kind when every instance rule's principal and resource fit one entry;
        // otherwise (millions of principals and resources at once) cell tables.
        let (max_pid, max_rid) = max_ids(instance.iter().flatten());
        let packing = Packing::roomy(max_pid, max_rid, held, false);
        for (i, rules) in instance.iter_mut().enumerate() {
            if rules.is_empty() {
                continue;
            }
            sorted_run(rules);
            words.clear();
            words.extend(rules.iter().map(|(_, _, w)| *w));
            (instance_sources[i], instance_visibility[i]) =
                add_instance(&mut entries, &mut arena, &mut cells, &words, packing);
        }
        let mut collections = vec![RuleLayout::default(); Collection::ALL.len()];
        for (c, rules) in collection_rules.iter_mut().enumerate() {
            sorted_run(rules);
            words.clear();
            words.extend(rules.iter().map(|(_, _, w)| *w));
            collections[c] = add_layout(&mut arena, &mut cells, &words);
        }

        let (users, user_hot, user_pids) =
            build_users(facts, &idx_of_id, &entities, &mut names, &mut hot);
        AuthzIndex {
            sequence: facts.sequence,
            names: Arc::new(names),
            entities: Arc::new(entities),
            by_name: Arc::new(by_name),
            users: Arc::new(users),
            user_hot: Arc::new(user_hot),
            user_pids: Arc::new(user_pids),
            hot: hot.into(),
            instance: instance_sources.into(),
            instance_visibility: instance_visibility.into(),
            collections: collections.into(),
            runs: runs.into(),
            own_packing,
            arena: arena.into(),
            cells: cells.into(),
            entries: entries.into(),
            packing,
            garbage: 0,
        }
    }

    /// The change sequence value the index was built at.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The same index at change sequence `sequence`, for changes that touched nothing it is
    /// built from. It shares every array with this one.
    pub fn at_sequence(&self, sequence: i64) -> AuthzIndex {
        AuthzIndex {
            sequence,
            ..self.clone()
        }
    }

    /// The entity `name` of `collection`, if it exists.
    pub fn lookup(&self, collection: Collection, name: &str) -> Option<EntityIdx> {
        let entities = &self.entities;
        self.by_name.get(collection as usize)?.get(name, |idx| {
            entities
                .get(idx as usize)
                .map(|e| e.name.as_str())
                .unwrap_or("")
        })
    }

    /// The resource id of a resource name, when some rule names it.
    pub fn resource_id(&self, resource: &str) -> Option<Rid> {
        if resource == ANY_RESOURCE {
            return Some(ANY_RID);
        }
        self.names.resource_ids.get(resource).copied()
    }

    /// The entity at `idx`.
    pub fn entity(&self, idx: EntityIdx) -> Option<&EntityNode> {
        self.entities.get(idx as usize)
    }

    /// What a check reads of the entity at `idx`.
    pub fn hot(&self, idx: EntityIdx) -> Option<&Hot> {
        self.hot.get(idx as usize)
    }

    /// The levels of a Thing: its template chain nearest first, and its shapes.
    pub fn levels(&self, hot: &Hot) -> (&[EntityIdx], &[EntityIdx]) {
        let start = hot.run as usize;
        let templates = usize::from(hot.templates);
        let shapes = usize::from(hot.shapes);
        (
            self.runs.get(start..start + templates).unwrap_or(&[]),
            self.runs
                .get(start + templates..start + templates + shapes)
                .unwrap_or(&[]),
        )
    }

    /// The entity's own rules of permission `kind` (and perhaps others); none when it has no
    /// rule of that kind.
    pub fn own_rules(&self, hot: &Hot, kind: PermissionKind) -> Rules<'_> {
        if hot.own_kinds.wrapping_shr(kind as u32) & 1 == 0 {
            return Rules::Run(&[]);
        }
        let own = hot.own as usize;
        if hot.own_words != NONE {
            let start = hot.own_words as usize;
            return Rules::Run(self.arena.get(start..start + own).unwrap_or(&[]));
        }
        let start = hot.run as usize + usize::from(hot.templates) + usize::from(hot.shapes);
        Rules::Packed(
            self.runs.get(start..start + own).unwrap_or(&[]),
            self.own_packing.unwrap_or_default(),
        )
    }

    fn rules<'a>(&'a self, source: Option<&'a RuleLayout>) -> Rules<'a> {
        match source {
            Some(RuleLayout::Run(span)) => Rules::Run(span.of(&self.arena)),
            Some(RuleLayout::Table(table)) => {
                let start = table.start as usize;
                Rules::Table(
                    self.cells
                        .get(start..start + table.slots as usize)
                        .unwrap_or(&[]),
                    table.run.of(&self.arena),
                )
            }
            Some(RuleLayout::Kinds(blocks)) => {
                let start = blocks.base as usize;
                let len = blocks.ends.last().map_or(0, |end| usize::from(*end));
                Rules::Kinds(
                    self.entries.get(start..start + len).unwrap_or(&[]),
                    &blocks.ends,
                    self.packing.unwrap_or_default(),
                )
            }
            None => Rules::Run(&[]),
        }
    }

    /// The instance rules of a template or shape.
    pub fn instance_rules(&self, idx: EntityIdx) -> Rules<'_> {
        self.rules(self.instance.get(idx as usize))
    }

    /// The mask of the principals the instance visibility rules of a template name.
    pub fn instance_visibility(&self, idx: EntityIdx) -> PidMask {
        self.instance_visibility
            .get(idx as usize)
            .copied()
            .unwrap_or_default()
    }

    /// The user at `idx`, when that entity is a user (or a group: groups carry the same sets
    /// so that they can be asked about as subjects).
    pub fn user(&self, idx: EntityIdx) -> Option<&UserNode> {
        let u = self.hot.get(idx as usize)?.user;
        self.users.get(u as usize)
    }

    /// What a check reads of the user at `idx`, with its principal and visibility sets.
    pub fn user_hot(&self, idx: EntityIdx) -> Option<(&UserHot, PidSet<'_>, PidSet<'_>)> {
        let u = self.hot.get(idx as usize)?.user;
        let hot = self.user_hot.get(u as usize)?;
        let start = hot.start as usize;
        let mid = start + hot.principals as usize;
        let end = mid + hot.visibility as usize;
        Some((
            hot,
            PidSet {
                pids: self.user_pids.get(start..mid).unwrap_or(&[]),
                mask: hot.principal_mask,
            },
            PidSet {
                pids: self.user_pids.get(mid..end).unwrap_or(&[]),
                mask: hot.visibility_mask,
            },
        ))
    }

    /// The rules of a collection.
    pub fn collection_rules(&self, collection: Collection) -> Rules<'_> {
        self.rules(self.collections.get(collection as usize))
    }

    /// The type and name of an interned principal.
    pub fn principal(&self, pid: Pid) -> (PrincipalType, &str) {
        self.names
            .principal_names
            .get(pid as usize)
            .map(|(t, n)| (*t, n.as_str()))
            .unwrap_or((PrincipalType::User, ""))
    }

    /// Whether `user` belongs to organization `organization` (is in one of its units, directly
    /// or through a group). Every user belongs to `Everyone`.
    pub fn belongs_to_organization(&self, user: EntityIdx, organization: &str) -> bool {
        let Some((_, _, visibility)) = self.user_hot(user) else {
            return false;
        };
        if organization == builtin::EVERYONE {
            return true;
        }
        self.names
            .principal_ids
            .get(&(PrincipalType::Organization, organization.into()))
            .is_some_and(|pid| visibility.holds(*pid))
    }

    /// How many entities the index holds.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }
}

#[cfg(test)]
mod layout_tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::blocks::add_kind_blocks;
    use super::words::pack;
    use super::*;

    /// What a row holds, as (principal, allow) in order.
    fn listed(row: Row<'_>) -> Vec<(Pid, bool)> {
        match row {
            Row::Words(cell) => cell
                .iter()
                .map(|w| (word_pid(*w), word_allows(*w)))
                .collect(),
            Row::Entries(cell, packing) => cell
                .iter()
                .map(|e| (packing.pid(*e), packing.allows(*e)))
                .collect(),
        }
    }

    /// Random sorted rule words, one per (kind, resource, principal).
    fn random_rules(rng: &mut StdRng, count: usize, rids: Rid, pids: Pid) -> Vec<Word> {
        let mut words: Vec<Word> = (0..count)
            .map(|_| {
                let kind = PermissionKind::ALL[rng.random_range(0..KINDS)];
                let rid = if rng.random_bool(0.5) {
                    ANY_RID
                } else {
                    rng.random_range(1..rids)
                };
                pack(kind, rid, rng.random_range(0..pids), rng.random_bool(0.7))
            })
            .collect();
        words.sort_unstable();
        words.dedup_by_key(|w| *w >> 1);
        words
    }

    fn check_every_row(rules: Rules<'_>, words: &[Word], rids: Rid) {
        for &kind in PermissionKind::ALL {
            for rid in 0..rids + 1 {
                let expected: Vec<(Pid, bool)> = words
                    .iter()
                    .filter(|w| word_cell(**w) == cell_key(kind, rid))
                    .map(|w| (word_pid(*w), word_allows(*w)))
                    .collect();
                let [named, star] = rules.rows(kind, rid);
                let any: Vec<(Pid, bool)> = words
                    .iter()
                    .filter(|w| word_cell(**w) == cell_key(kind, ANY_RID))
                    .map(|w| (word_pid(*w), word_allows(*w)))
                    .collect();
                assert_eq!(listed(star), any, "{kind} *");
                if rid == ANY_RID {
                    assert_eq!(listed(named), [], "{kind}: no named row for *");
                } else {
                    assert_eq!(listed(named), expected, "{kind} {rid}");
                }
            }
        }
    }

    #[test]
    fn every_layout_answers_a_row_as_a_filter_of_the_rules_would() {
        let mut rng = StdRng::seed_from_u64(0x5EED_0006);
        for round in 0..400 {
            let count = [0, 1, 5, 17, 60, 400][round % 6];
            // Narrow and wide principal ids, so entries are packed at several widths.
            let pids = [50, 1 << 16, 1 << 22][round % 3];
            let words = random_rules(&mut rng, count, 12, pids);
            let packing = Packing::fitting(pids - 1, 12, false).expect("fits");
            let own_packing = Packing::fitting(pids - 1, 12, true).expect("fits");
            let mut entries = vec![u32::MAX; round % 3];
            let blocks = add_kind_blocks(&mut entries, &words, packing).expect("fits");
            let start = blocks.base as usize;
            let len = usize::from(blocks.ends[KINDS - 1]);
            check_every_row(
                Rules::Kinds(&entries[start..start + len], &blocks.ends, packing),
                &words,
                12,
            );
            check_every_row(Rules::Run(&words), &words, 12);
            let packed: Vec<u32> = words.iter().map(|w| own_packing.pack(*w)).collect();
            check_every_row(Rules::Packed(&packed, own_packing), &words, 12);
            let mut arena = Vec::new();
            let mut cells = Vec::new();
            let source = add_layout(&mut arena, &mut cells, &words);
            let index = AuthzIndex {
                arena: arena.into(),
                cells: cells.into(),
                ..AuthzIndex::default()
            };
            check_every_row(index.rules(Some(&source)), &words, 12);
        }
    }

    #[test]
    fn entries_are_packed_only_when_principal_resource_and_kind_fit() {
        assert!(Packing::fitting(0, 0, true).is_some());
        assert!(Packing::fitting((1 << 20) - 1, (1 << 11) - 1, false).is_some());
        assert_eq!(Packing::fitting(1 << 20, (1 << 11) - 1, false), None);
        assert_eq!(Packing::fitting(Pid::MAX, 0, false), None);
        assert!(Packing::fitting((1 << 20) - 1, (1 << 7) - 1, true).is_some());
        assert_eq!(Packing::fitting((1 << 20) - 1, (1 << 11) - 1, true), None);
        let word = pack(
            PermissionKind::Visibility,
            (1 << 7) - 1,
            (1 << 20) - 1,
            true,
        );
        for (with_kind, rids) in [(false, (1 << 11) - 1), (true, (1 << 7) - 1)] {
            let packing = Packing::fitting((1 << 20) - 1, rids, with_kind).expect("fits");
            let entry = packing.pack(word);
            let cell = packing.cell_of(PermissionKind::Visibility, (1 << 7) - 1);
            assert_eq!(packing.cell(entry), cell);
            assert_eq!(packing.pid(entry), (1 << 20) - 1);
            assert!(packing.allows(entry));
        }
    }

    #[test]
    fn a_source_too_large_for_blocks_by_kind_is_left_to_a_cell_table() {
        let mut rng = StdRng::seed_from_u64(0x5EED_0007);
        // More rules than 16-bit block ends can count.
        let words = random_rules(&mut rng, 80_000, 40, 1 << 20);
        let packing = Packing::fitting(1 << 20, 40, false).expect("fits");
        let mut entries = vec![7];
        assert_eq!(add_kind_blocks(&mut entries, &words, packing), None);
        assert_eq!(entries, [7], "nothing is left behind");
    }
}
