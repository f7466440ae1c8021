//! Principal sets: each user's (and group's) sorted principal and visibility sets, the 64-bit
//! masks that summarize them, and how a build computes them from memberships and units.

use std::collections::VecDeque;

use ironworx_entity::vocab::{Collection, PrincipalType, builtin, unit_principal_name};
use rustc_hash::{FxHashMap, FxHashSet};

use super::blocks::Hot;
use super::names::Names;
use super::{EntityIdx, EntityNode, NONE, Pid};
use crate::authz::facts::Facts;

/// A 64-bit summary of a principal set: bit `pid % 64` is set for each member, so a rule
/// naming a principal whose bit is clear is passed over without searching the set. Principals
/// are numbered in the order they are met, so the low bits spread a user's few principals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidMask(u64);

impl PidMask {
    /// The mask of `pids`.
    pub fn of(pids: impl IntoIterator<Item = Pid>) -> PidMask {
        PidMask(
            pids.into_iter()
                .fold(0, |mask, pid| mask | 1u64.wrapping_shl(pid)),
        )
    }

    /// Whether `pid` may be in the set (false: it certainly is not). A shift by `pid` takes
    /// its low six bits, so the test is one shift and one `and`.
    #[inline]
    fn may_hold(&self, pid: Pid) -> bool {
        self.0.wrapping_shr(pid) & 1 == 1
    }
}

/// A sorted principal set as a check tests it: the members, and their [`PidMask`].
#[derive(Clone, Copy, Debug)]
pub struct PidSet<'a> {
    /// The members, sorted.
    pub pids: &'a [Pid],
    pub(super) mask: PidMask,
}

impl<'a> PidSet<'a> {
    /// The set of `pids` (sorted), with its mask.
    pub fn new(pids: &'a [Pid]) -> PidSet<'a> {
        PidSet {
            pids,
            mask: PidMask::of(pids.iter().copied()),
        }
    }

    /// Whether some member may be among the principals `mask` summarizes (false: none is).
    #[inline]
    pub fn may_meet(&self, mask: PidMask) -> bool {
        self.mask.0 & mask.0 != 0
    }

    /// Whether `pid` is a member: the mask first, then a scan of the usual few members, or a
    /// binary search of many.
    #[inline]
    pub fn holds(&self, pid: Pid) -> bool {
        if !self.mask.may_hold(pid) {
            return false;
        }
        if self.pids.len() <= 32 {
            self.pids.iter().fold(false, |found, p| found | (*p == pid))
        } else {
            self.pids.binary_search(&pid).is_ok()
        }
    }
}

/// What a check reads of one user, in 32 bytes.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
pub struct UserHot {
    /// The masks of its principal set and of its visibility set.
    pub(super) principal_mask: PidMask,
    pub(super) visibility_mask: PidMask,
    /// Its principal set, then its visibility set, in the principal arena.
    pub(super) start: u32,
    pub(super) principals: u32,
    pub(super) visibility: u32,
    /// `Administrator`, or a member of `Administrators`.
    pub admin: bool,
    /// A group asked about as a subject: visibility is a user's, through its organizations,
    /// so a group's question skips the visibility gate (unless it asks about Visibility).
    pub group: bool,
}

// A check reads one cache line of it.
const _: () = assert!(size_of::<UserHot>() == 32);

/// What the index knows of one user, for explanations and the user services.
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

/// Computes every user's principal and visibility sets, and records each user's position in
/// `hot`.
pub(super) fn build_users(
    facts: &Facts,
    idx_of_id: &FxHashMap<i64, EntityIdx>,
    entities: &[EntityNode],
    names: &mut Names,
    hot: &mut [Hot],
) -> (Vec<UserNode>, Vec<UserHot>, Vec<Pid>) {
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
    let name_of = |i: EntityIdx| entities.get(i as usize).map(|e| e.name.as_str());
    let mut users = Vec::new();
    let mut user_hot = Vec::new();
    let mut user_pids = Vec::new();
    for (idx, e) in entities.iter().enumerate() {
        // Groups get the same sets, so that a group can be asked about as a subject
        // (`CheckPermissionForGroup`): itself and the groups it is in, and its units.
        let is_group = match e.collection {
            Collection::Users => false,
            Collection::Groups => true,
            _ => continue,
        };
        let user_id = e.id;
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
        let user_name = e.name.as_str();
        let own_type = if is_group {
            PrincipalType::Group
        } else {
            PrincipalType::User
        };
        let mut principals = vec![names.intern(own_type, user_name)];
        let mut group_names = Vec::new();
        for g in &groups {
            if let Some(name) = idx_of_id.get(g).and_then(|gi| name_of(*gi)) {
                principals.push(names.intern(PrincipalType::Group, name));
                group_names.push(name.to_owned());
            }
        }
        principals.sort_unstable();
        principals.dedup();
        group_names.sort();
        let admin = if is_group && user_name == builtin::ADMINISTRATORS {
            Some(format!("{user_name} is the administrators' group"))
        } else if !is_group && user_name == builtin::ADMINISTRATOR {
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
                let org = name_of(*idx_of_id.get(&u.organization)?)?;
                Some(unit_principal_name(org, &u.name))
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
            if let Some(org) = idx_of_id.get(&u.organization).and_then(|oi| name_of(*oi)) {
                let unit_name = unit_principal_name(org, &u.name);
                visibility.push(names.intern(PrincipalType::OrganizationalUnit, &unit_name));
            }
            queue.extend(unit_children.get(&unit).into_iter().flatten().copied());
        }
        let mut org_names = Vec::new();
        for org in orgs {
            if let Some(org_name) = idx_of_id.get(&org).and_then(|oi| name_of(*oi)) {
                visibility.push(names.intern(PrincipalType::Organization, org_name));
                org_names.push(org_name.to_owned());
            }
        }
        org_names.sort();
        visibility.sort_unstable();
        visibility.dedup();
        if let Some(h) = hot.get_mut(idx) {
            h.user = u32::try_from(users.len()).unwrap_or(NONE);
        }
        user_hot.push(UserHot {
            principal_mask: PidMask::of(principals.iter().copied()),
            visibility_mask: PidMask::of(visibility.iter().copied()),
            start: u32::try_from(user_pids.len()).unwrap_or(NONE),
            principals: u32::try_from(principals.len()).unwrap_or(0),
            visibility: u32::try_from(visibility.len()).unwrap_or(0),
            admin: admin.is_some(),
            group: is_group,
        });
        user_pids.extend(&principals);
        user_pids.extend(&visibility);
        users.push(UserNode {
            principals,
            visibility,
            groups: group_names,
            admin,
            units: direct_units,
            organizations: org_names,
        });
    }
    (users, user_hot, user_pids)
}
