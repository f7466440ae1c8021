//! The in-memory authorization index: built from [`Facts`] in one pass, immutable afterwards.
//! Every principal name is interned to a small integer; each user carries its sorted principal
//! set (itself and every group it is in, transitively) and its visibility set (the organizations
//! it belongs to and every unit at or below a unit it belongs to); each entity carries the
//! ordered list of rule sources its decisions look at.

use std::collections::VecDeque;

use ironworx_entity::vocab::{
    Collection, PermissionKind, PrincipalType, builtin, unit_principal_name,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::authz::facts::Facts;

/// An interned principal.
pub type Pid = u32;

/// An entity's position in the index.
pub type EntityIdx = u32;

/// The rules of one source (an entity's own, its instance rules, or a collection), by cell:
/// first by permission kind, then by resource, so a lookup never allocates.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    by_kind: Vec<(PermissionKind, Cells)>,
}

/// The rules of one permission kind, by resource: (principal, allow) sorted by principal.
type Cells = FxHashMap<Box<str>, Vec<(Pid, bool)>>;

impl RuleSet {
    /// The rules of one cell: (principal, allow), sorted by principal.
    pub fn cell(&self, kind: PermissionKind, resource: &str) -> &[(Pid, bool)] {
        self.by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, cells)| cells.get(resource))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn add(&mut self, kind: PermissionKind, resource: &str, pid: Pid, allow: bool) {
        let cells = match self.by_kind.iter().position(|(k, _)| *k == kind) {
            Some(i) => &mut self.by_kind[i].1,
            None => {
                self.by_kind.push((kind, FxHashMap::default()));
                let last = self.by_kind.len() - 1;
                &mut self.by_kind[last].1
            }
        };
        // Cells stay sorted by principal, so a check binary-searches the caller's few
        // principals instead of scanning every rule of a crowded cell.
        let cell = cells.entry(resource.into()).or_default();
        match cell.binary_search_by_key(&pid, |(p, _)| *p) {
            Ok(i) => cell[i].1 = allow,
            Err(i) => cell.insert(i, (pid, allow)),
        }
    }

    /// Whether the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

/// Where a level's rules come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// The entity's own rules.
    Entity,
    /// Instance rules of a ThingTemplate in the entity's chain.
    TemplateInstance,
    /// Instance rules of a ThingShape the entity (or its templates) implements.
    ShapeInstance,
}

/// One entity in the index.
#[derive(Clone, Debug)]
pub struct EntityNode {
    /// The database id.
    pub id: i64,
    /// Its collection.
    pub collection: Collection,
    /// Its name.
    pub name: String,
    /// The owner, when it is a known user.
    pub owner: Option<EntityIdx>,
    /// Its own rules.
    pub own: RuleSet,
    /// Its instance rules (templates and shapes only).
    pub instance: RuleSet,
    /// For Things: the template chain, nearest first. For templates: their bases.
    pub templates: Vec<EntityIdx>,
    /// For Things: the shapes it implements, then its templates' shapes, without repeats.
    pub shapes: Vec<EntityIdx>,
}

/// What the index knows of one user.
#[derive(Clone, Debug, Default)]
pub struct UserNode {
    /// The user itself and every group it belongs to, transitively; sorted.
    pub principals: Vec<Pid>,
    /// Organizations it belongs to and units at or below the units it belongs to; sorted.
    pub visibility: Vec<Pid>,
    /// The names of its groups, sorted, for explanations.
    pub groups: Vec<String>,
    /// `Administrator`, or a member of `Administrators`: every right.
    pub admin: Option<String>,
    /// The units it is a member of (directly or through a group), as `Org:Unit`, sorted.
    pub units: Vec<String>,
    /// The organizations it belongs to, sorted.
    pub organizations: Vec<String>,
}

/// The immutable index every decision reads.
#[derive(Clone, Debug, Default)]
pub struct AuthzIndex {
    sequence: i64,
    principal_ids: FxHashMap<(PrincipalType, Box<str>), Pid>,
    principal_names: Vec<(PrincipalType, String)>,
    entities: Vec<EntityNode>,
    by_name: FxHashMap<Collection, FxHashMap<Box<str>, EntityIdx>>,
    users: FxHashMap<EntityIdx, UserNode>,
    collections: FxHashMap<Collection, RuleSet>,
}

impl AuthzIndex {
    /// Builds the index from facts. Dangling names (a template that does not exist, a rule
    /// naming an unknown principal) are kept harmlessly: they never match anything.
    pub fn build(facts: &Facts) -> AuthzIndex {
        let mut index = AuthzIndex {
            sequence: facts.sequence,
            ..AuthzIndex::default()
        };
        let mut idx_of_id: FxHashMap<i64, EntityIdx> = FxHashMap::default();
        for (i, e) in facts.entities.iter().enumerate() {
            let i = EntityIdx::try_from(i).unwrap_or(EntityIdx::MAX);
            idx_of_id.insert(e.id, i);
            index
                .by_name
                .entry(e.collection)
                .or_default()
                .insert(e.name.as_str().into(), i);
            index.entities.push(EntityNode {
                id: e.id,
                collection: e.collection,
                name: e.name.clone(),
                owner: None,
                own: RuleSet::default(),
                instance: RuleSet::default(),
                templates: Vec::new(),
                shapes: Vec::new(),
            });
        }
        for (i, e) in facts.entities.iter().enumerate() {
            let owner = e
                .owner
                .as_deref()
                .and_then(|o| index.lookup(Collection::Users, o));
            index.entities[i].owner = owner;
        }
        index.wire_inheritance(facts);
        for (entity_id, instance, rule) in &facts.entity_rules {
            let Some(&i) = idx_of_id.get(entity_id) else {
                continue;
            };
            let pid = index.intern(rule.principal_type, &rule.principal_name);
            let node = &mut index.entities[i as usize];
            let set = if *instance {
                &mut node.instance
            } else {
                &mut node.own
            };
            set.add(rule.kind, &rule.resource, pid, rule.allow);
        }
        for (collection, rule) in &facts.collection_rules {
            let pid = index.intern(rule.principal_type, &rule.principal_name);
            index.collections.entry(*collection).or_default().add(
                rule.kind,
                &rule.resource,
                pid,
                rule.allow,
            );
        }
        index.build_users(facts, &idx_of_id);
        index
    }

    fn intern(&mut self, principal_type: PrincipalType, name: &str) -> Pid {
        if let Some(&pid) = self.principal_ids.get(&(principal_type, name.into())) {
            return pid;
        }
        let pid = Pid::try_from(self.principal_names.len()).unwrap_or(Pid::MAX);
        self.principal_ids
            .insert((principal_type, name.into()), pid);
        self.principal_names.push((principal_type, name.to_owned()));
        pid
    }

    /// Resolves template chains and shape lists to entity positions.
    fn wire_inheritance(&mut self, facts: &Facts) {
        let template_base: FxHashMap<EntityIdx, EntityIdx> = facts
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.collection == Collection::ThingTemplates && !e.template.is_empty())
            .filter_map(|(i, e)| {
                let base = self.lookup(Collection::ThingTemplates, &e.template)?;
                Some((EntityIdx::try_from(i).ok()?, base))
            })
            .collect();
        let shapes_of: Vec<Vec<EntityIdx>> = facts
            .entities
            .iter()
            .map(|e| {
                e.shapes
                    .iter()
                    .filter_map(|s| self.lookup(Collection::ThingShapes, s))
                    .collect()
            })
            .collect();
        for (i, e) in facts.entities.iter().enumerate() {
            let first = match e.collection {
                Collection::Things => self.lookup(Collection::ThingTemplates, &e.template),
                Collection::ThingTemplates => EntityIdx::try_from(i)
                    .ok()
                    .and_then(|i| template_base.get(&i).copied()),
                _ => continue,
            };
            let mut chain = Vec::new();
            let mut seen = FxHashSet::default();
            let mut current = first;
            while let Some(t) = current {
                if !seen.insert(t) {
                    break;
                }
                chain.push(t);
                current = template_base.get(&t).copied();
            }
            let mut shapes: Vec<EntityIdx> = Vec::new();
            for s in shapes_of[i]
                .iter()
                .chain(chain.iter().flat_map(|t| &shapes_of[*t as usize]))
            {
                if !shapes.contains(s) {
                    shapes.push(*s);
                }
            }
            self.entities[i].templates = chain;
            self.entities[i].shapes = shapes;
        }
    }

    /// Computes every user's principal and visibility sets.
    fn build_users(&mut self, facts: &Facts, idx_of_id: &FxHashMap<i64, EntityIdx>) {
        let mut parents: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
        for (group, member) in &facts.memberships {
            parents.entry(*member).or_default().push(*group);
        }
        let mut unit_children: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
        for u in &facts.units {
            if let Some(p) = u.parent {
                unit_children.entry(p).or_default().push(u.id);
            }
        }
        let units_by_id: FxHashMap<i64, &crate::authz::facts::UnitFact> =
            facts.units.iter().map(|u| (u.id, u)).collect();
        let mut units_of_member: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
        for (unit, member) in &facts.unit_members {
            units_of_member.entry(*member).or_default().push(*unit);
        }
        let user_ids: Vec<(EntityIdx, i64)> = self
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.collection == Collection::Users)
            .filter_map(|(i, e)| Some((EntityIdx::try_from(i).ok()?, e.id)))
            .collect();
        for (idx, user_id) in user_ids {
            // Transitive groups, safe against cycles.
            let mut groups: FxHashSet<i64> = FxHashSet::default();
            let mut queue = VecDeque::from([user_id]);
            while let Some(id) = queue.pop_front() {
                for g in parents.get(&id).into_iter().flatten() {
                    if groups.insert(*g) {
                        queue.push_back(*g);
                    }
                }
            }
            let user_name = self.entities[idx as usize].name.clone();
            let mut principals = vec![self.intern(PrincipalType::User, &user_name)];
            let mut group_names = Vec::new();
            for g in &groups {
                if let Some(&gi) = idx_of_id.get(g) {
                    let name = self.entities[gi as usize].name.clone();
                    principals.push(self.intern(PrincipalType::Group, &name));
                    group_names.push(name);
                }
            }
            principals.sort_unstable();
            principals.dedup();
            group_names.sort();
            let admin = if user_name == builtin::ADMINISTRATOR {
                Some(format!("{user_name} is the built-in administrator"))
            } else if group_names.iter().any(|g| g == builtin::ADMINISTRATORS) {
                Some(format!(
                    "{user_name} is a member of group {}",
                    builtin::ADMINISTRATORS
                ))
            } else {
                None
            };
            // Units the user is in, directly or through a group; then every unit below them.
            let mut visibility = Vec::new();
            let mut seen_units: FxHashSet<i64> = FxHashSet::default();
            let mut queue: VecDeque<i64> = std::iter::once(user_id)
                .chain(groups.iter().copied())
                .flat_map(|m| units_of_member.get(&m).cloned().unwrap_or_default())
                .collect();
            let mut direct_units: Vec<String> = queue
                .iter()
                .filter_map(|unit| {
                    let u = units_by_id.get(unit)?;
                    let oi = idx_of_id.get(&u.organization)?;
                    Some(unit_principal_name(
                        &self.entities[*oi as usize].name,
                        &u.name,
                    ))
                })
                .collect();
            direct_units.sort();
            direct_units.dedup();
            let mut orgs: FxHashSet<i64> = FxHashSet::default();
            while let Some(unit) = queue.pop_front() {
                if !seen_units.insert(unit) {
                    continue;
                }
                let Some(u) = units_by_id.get(&unit) else {
                    continue;
                };
                orgs.insert(u.organization);
                if let Some(&oi) = idx_of_id.get(&u.organization) {
                    let org_name = self.entities[oi as usize].name.clone();
                    let unit_name = unit_principal_name(&org_name, &u.name);
                    visibility.push(self.intern(PrincipalType::OrganizationalUnit, &unit_name));
                }
                queue.extend(unit_children.get(&unit).into_iter().flatten().copied());
            }
            let mut org_names = Vec::new();
            for org in orgs {
                if let Some(&oi) = idx_of_id.get(&org) {
                    let org_name = self.entities[oi as usize].name.clone();
                    visibility.push(self.intern(PrincipalType::Organization, &org_name));
                    org_names.push(org_name);
                }
            }
            org_names.sort();
            visibility.sort_unstable();
            visibility.dedup();
            self.users.insert(
                idx,
                UserNode {
                    principals,
                    visibility,
                    groups: group_names,
                    admin,
                    units: direct_units,
                    organizations: org_names,
                },
            );
        }
    }

    /// The change sequence value the index was built at.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The entity `name` of `collection`, if it exists.
    pub fn lookup(&self, collection: Collection, name: &str) -> Option<EntityIdx> {
        self.by_name.get(&collection)?.get(name).copied()
    }

    /// The entity at `idx`.
    pub fn entity(&self, idx: EntityIdx) -> Option<&EntityNode> {
        self.entities.get(idx as usize)
    }

    /// The user at `idx`, when that entity is a user.
    pub fn user(&self, idx: EntityIdx) -> Option<&UserNode> {
        self.users.get(&idx)
    }

    /// The rules of a collection.
    pub fn collection_rules(&self, collection: Collection) -> Option<&RuleSet> {
        self.collections.get(&collection)
    }

    /// The type and name of an interned principal.
    pub fn principal(&self, pid: Pid) -> (PrincipalType, &str) {
        self.principal_names
            .get(pid as usize)
            .map(|(t, n)| (*t, n.as_str()))
            .unwrap_or((PrincipalType::User, ""))
    }

    /// Whether `user` belongs to organization `organization` (is in one of its units, directly
    /// or through a group). Every user belongs to `Everyone`.
    pub fn belongs_to_organization(&self, user: EntityIdx, organization: &str) -> bool {
        if organization == builtin::EVERYONE {
            return self.users.contains_key(&user);
        }
        let Some(pid) = self
            .principal_ids
            .get(&(PrincipalType::Organization, organization.into()))
        else {
            return false;
        };
        self.users
            .get(&user)
            .is_some_and(|u| u.visibility.binary_search(pid).is_ok())
    }

    /// How many entities the index holds.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }
}
