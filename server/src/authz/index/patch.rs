//! Patching the index after a change that touched only some entities' rules: their runs and
//! instance sources are written again at the ends of copies of the arrays they live in, every
//! array a patch does not write to is shared with the index patched, and the result decides
//! as a build from the changed facts would.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ironworx_entity::queries::permissions::Rule;

use super::{AuthzIndex, EntityIdx, RuleLayout, Word, add_instance, add_own, kinds_of, sorted_run};

/// One changed entity's rules as a patch sorts them: (key without allow bit, order, word).
type Listed = Vec<(u64, usize, Word)>;

/// A copy of `shared` to append to, taken the first time it is needed.
fn grown<'a, T: Copy>(copy: &'a mut Option<Vec<T>>, shared: &Arc<[T]>) -> &'a mut Vec<T> {
    copy.get_or_insert_with(|| shared.to_vec())
}

/// The grown copy when there is one, else the shared array.
fn settled<T: Copy>(copy: Option<Vec<T>>, shared: &Arc<[T]>) -> Arc<[T]> {
    copy.map_or_else(|| Arc::clone(shared), Arc::from)
}

impl AuthzIndex {
    /// This index after the rules of the entities `changed` (their ids; own and instance rules)
    /// became `rules`, all of theirs as the database now holds them, in database order, read
    /// at change sequence `sequence`. `None` when a patch cannot lay them out as a build would
    /// (a principal or resource id beyond the index's packing) or when the arrays would hold
    /// more unreachable entries than reachable ones: build from the changed facts then.
    pub fn patch_rules(
        &self,
        sequence: i64,
        changed: &BTreeSet<i64>,
        rules: &[(i64, bool, Rule)],
    ) -> Option<AuthzIndex> {
        let mut listed: BTreeMap<i64, (EntityIdx, Listed, Listed)> = BTreeMap::new();
        if !changed.is_empty() {
            for (i, e) in self.entities.iter().enumerate() {
                if changed.contains(&e.id) {
                    let i = EntityIdx::try_from(i).ok()?;
                    listed.insert(e.id, (i, Vec::new(), Vec::new()));
                }
            }
        }
        let mut names = Cow::Borrowed(&*self.names);
        for (order, (id, is_instance, rule)) in rules.iter().enumerate() {
            let Some((_, own, instance)) = listed.get_mut(id) else {
                continue;
            };
            let word = match names.word(rule) {
                Some(word) => word,
                None => names.to_mut().intern_word(rule),
            };
            let list = if *is_instance { instance } else { own };
            list.push((word >> 1, order, word));
        }
        let mut hot = None;
        let mut instance = None;
        let mut instance_visibility = None;
        let (mut runs, mut arena, mut cells, mut entries) = (None, None, None, None);
        let mut garbage = self.garbage;
        let mut words = Vec::new();
        for (idx, mut own, mut inherited) in listed.into_values() {
            let i = idx as usize;
            let before = *self.hot.get(i)?;
            if before.own > 0 || !own.is_empty() {
                sorted_run(&mut own);
                if let Some(packing) = self.own_packing
                    && !own.iter().all(|(_, _, w)| packing.fits(*w))
                {
                    return None;
                }
                let h = grown(&mut hot, &self.hot).get_mut(i)?;
                if self.own_packing.is_some() {
                    // The run moves: its levels, then the new own rules.
                    let runs = grown(&mut runs, &self.runs);
                    let (templates, shapes) = self.levels(&before);
                    h.run = u32::try_from(runs.len()).ok()?;
                    runs.extend(templates.iter().chain(shapes));
                    garbage += templates.len() + shapes.len() + before.own as usize;
                    h.own_words = add_own(runs, &mut Vec::new(), &own, self.own_packing);
                } else {
                    // The run stays; the own rules are words in the arena.
                    let arena = grown(&mut arena, &self.arena);
                    garbage += before.own as usize;
                    h.own_words = add_own(&mut Vec::new(), arena, &own, self.own_packing);
                }
                h.own = u32::try_from(own.len()).ok()?;
                h.own_kinds = kinds_of(&own);
            }
            let old = self.instance.get(i).copied().unwrap_or_default();
            if old.size() > 0 || !inherited.is_empty() {
                sorted_run(&mut inherited);
                words.clear();
                words.extend(inherited.iter().map(|(_, _, w)| *w));
                if let Some(packing) = self.packing
                    && !words.iter().all(|w| packing.fits(*w))
                {
                    return None;
                }
                let (source, visibility) = if words.is_empty() {
                    (RuleLayout::default(), Default::default())
                } else {
                    add_instance(
                        grown(&mut entries, &self.entries),
                        grown(&mut arena, &self.arena),
                        grown(&mut cells, &self.cells),
                        &words,
                        self.packing,
                    )
                };
                garbage += old.size();
                *grown(&mut instance, &self.instance).get_mut(i)? = source;
                *grown(&mut instance_visibility, &self.instance_visibility).get_mut(i)? =
                    visibility;
            }
        }
        let index = AuthzIndex {
            sequence,
            names: match names {
                Cow::Borrowed(_) => Arc::clone(&self.names),
                Cow::Owned(names) => Arc::new(names),
            },
            hot: settled(hot, &self.hot),
            instance: settled(instance, &self.instance),
            instance_visibility: settled(instance_visibility, &self.instance_visibility),
            runs: settled(runs, &self.runs),
            arena: settled(arena, &self.arena),
            cells: settled(cells, &self.cells),
            entries: settled(entries, &self.entries),
            garbage,
            ..self.clone()
        };
        let size = index.runs.len() + index.arena.len() + index.cells.len() + index.entries.len();
        (garbage <= size / 2).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};

    use super::*;
    use crate::authz::facts::{EntityFact, Facts};

    fn entity(id: i64, collection: Collection, name: &str) -> EntityFact {
        EntityFact {
            id,
            collection,
            name: name.into(),
            owner: None,
            template: String::new(),
            shapes: Vec::new(),
        }
    }

    fn size(index: &AuthzIndex) -> usize {
        index.runs.len() + index.arena.len() + index.cells.len() + index.entries.len()
    }

    #[test]
    fn patches_give_way_to_a_build_before_unreachable_entries_outnumber_the_rest() {
        let mut facts = Facts {
            entities: vec![
                entity(1, Collection::Users, "u"),
                entity(2, Collection::ThingTemplates, "t"),
                entity(3, Collection::Things, "x"),
            ],
            ..Facts::default()
        };
        facts.entities[2].template = "t".into();
        let rule = |resource: &str| Rule {
            kind: PermissionKind::PropertyRead,
            resource: resource.into(),
            principal_type: PrincipalType::User,
            principal_name: "u".into(),
            allow: true,
        };
        for (id, instance) in [(2, true), (3, false)] {
            facts
                .entity_rules
                .extend((0..4).map(|_| (id, instance, rule("*"))));
        }
        let mut index = AuthzIndex::build(&facts);
        let built = size(&index);
        let changed = BTreeSet::from([2, 3]);
        let rules = vec![(2, true, rule("*")), (3, false, rule("*"))];
        let mut patches = 0;
        while let Some(patched) = index.patch_rules(index.sequence() + 1, &changed, &rules) {
            assert!(
                patched.garbage > index.garbage,
                "each patch leaves the old rules behind"
            );
            assert!(2 * patched.garbage <= size(&patched));
            index = patched;
            patches += 1;
            assert!(patches < 1_000, "patches never give way to a build");
        }
        assert!(patches > 0, "the first patches are taken");
        assert!(
            size(&index) <= 2 * built + 16,
            "{} against {built}",
            size(&index)
        );
    }
}
