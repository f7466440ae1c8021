//! The names of the index: per collection, an open-addressing table that finds an entity by
//! name, and the interned principal and resource names.

use std::hash::BuildHasher;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{ANY_RESOURCE, PrincipalType};
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::words::{RID_MAX, Word, pack};
use super::{ANY_RID, EntityIdx, NONE, Pid, Rid};

/// Names held inline in a [`NameSlot`]; longer names are confirmed against the entity.
const INLINE: usize = 27;
/// The `len` of a slot whose name is longer than [`INLINE`].
const LONG: u8 = u8::MAX;

/// One slot of a [`NameTable`]: an entity and its name (or the name's first bytes).
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
struct NameSlot {
    idx: EntityIdx,
    len: u8,
    bytes: [u8; INLINE],
}

const EMPTY_SLOT: NameSlot = NameSlot {
    idx: NONE,
    len: 0,
    bytes: [0; INLINE],
};

/// The entities of one collection by name: open addressing, linear probing, at most half full.
#[derive(Clone, Debug, Default)]
pub(super) struct NameTable {
    slots: Vec<NameSlot>,
    shift: u32,
}

#[inline]
fn name_hash(name: &str) -> u64 {
    FxBuildHasher
        .hash_one(name)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl NameTable {
    pub(super) fn with_capacity(n: usize) -> NameTable {
        let slots = (n * 2).next_power_of_two().max(2);
        NameTable {
            slots: vec![EMPTY_SLOT; slots],
            shift: 64 - slots.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, name: &str) -> usize {
        usize::try_from(name_hash(name) >> self.shift).unwrap_or(0)
    }

    fn slot_for(name: &str, idx: EntityIdx) -> NameSlot {
        let bytes = name.as_bytes();
        let mut slot = NameSlot {
            idx,
            len: if bytes.len() <= INLINE {
                u8::try_from(bytes.len()).unwrap_or(LONG)
            } else {
                LONG
            },
            bytes: [0; INLINE],
        };
        let n = bytes.len().min(INLINE);
        slot.bytes[..n].copy_from_slice(&bytes[..n]);
        slot
    }

    /// Whether `slot` holds `name` (`full` gives the whole name of a long slot's entity).
    #[inline]
    fn holds<'a>(slot: &NameSlot, name: &str, full: impl Fn(EntityIdx) -> &'a str) -> bool {
        let bytes = name.as_bytes();
        if bytes.len() <= INLINE {
            usize::from(slot.len) == bytes.len() && slot.bytes[..bytes.len()] == *bytes
        } else {
            slot.len == LONG && slot.bytes[..] == bytes[..INLINE] && full(slot.idx) == name
        }
    }

    /// Adds `name`; a name already present is moved to `idx` (the later entity wins).
    pub(super) fn insert<'a>(
        &mut self,
        name: &str,
        idx: EntityIdx,
        full: impl Fn(EntityIdx) -> &'a str,
    ) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(name);
        loop {
            let slot = &mut self.slots[i];
            if slot.idx == NONE {
                *slot = NameTable::slot_for(name, idx);
                return;
            }
            if NameTable::holds(slot, name, &full) {
                slot.idx = idx;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(super) fn get<'a>(
        &self,
        name: &str,
        full: impl Fn(EntityIdx) -> &'a str,
    ) -> Option<EntityIdx> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(name);
        loop {
            let slot = &self.slots[i];
            if slot.idx == NONE {
                return None;
            }
            if NameTable::holds(slot, name, &full) {
                return Some(slot.idx);
            }
            i = (i + 1) & mask;
        }
    }
}

/// The names and interned principals, shared between an index and the indexes patched from it.
#[derive(Clone, Debug, Default)]
pub(super) struct Names {
    pub(super) principal_ids: FxHashMap<(PrincipalType, Box<str>), Pid>,
    pub(super) principal_names: Vec<(PrincipalType, String)>,
    pub(super) resource_ids: FxHashMap<Box<str>, Rid>,
}

impl Names {
    pub(super) fn intern(&mut self, principal_type: PrincipalType, name: &str) -> Pid {
        if let Some(&pid) = self.principal_ids.get(&(principal_type, name.into())) {
            return pid;
        }
        let pid = Pid::try_from(self.principal_names.len()).unwrap_or(Pid::MAX);
        self.principal_ids
            .insert((principal_type, name.into()), pid);
        self.principal_names.push((principal_type, name.to_owned()));
        pid
    }

    /// `rule` as a word, its principal and resource interned.
    pub(super) fn intern_word(&mut self, rule: &Rule) -> Word {
        let pid = self.intern(rule.principal_type, &rule.principal_name);
        let rid = self.intern_resource(&rule.resource);
        pack(rule.kind, rid, pid, rule.allow)
    }

    /// `rule` as a word, when its principal and resource are interned already.
    pub(super) fn word(&self, rule: &Rule) -> Option<Word> {
        let pid = *self
            .principal_ids
            .get(&(rule.principal_type, rule.principal_name.as_str().into()))?;
        let rid = if rule.resource == ANY_RESOURCE {
            ANY_RID
        } else {
            *self.resource_ids.get(rule.resource.as_str())?
        };
        Some(pack(rule.kind, rid, pid, rule.allow))
    }

    pub(super) fn intern_resource(&mut self, resource: &str) -> Rid {
        if resource == ANY_RESOURCE {
            return ANY_RID;
        }
        if let Some(&rid) = self.resource_ids.get(resource) {
            return rid;
        }
        // Id 0 is `*`; the first named resource is 1.
        let rid = Rid::try_from(self.resource_ids.len() + 1)
            .unwrap_or(RID_MAX)
            .min(RID_MAX);
        self.resource_ids.insert(resource.into(), rid);
        rid
    }
}
