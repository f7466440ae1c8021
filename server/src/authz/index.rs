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

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, PermissionKind, PrincipalType, builtin, unit_principal_name,
};
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::authz::facts::Facts;

mod patch;

/// An interned principal.
pub type Pid = u32;

/// An entity's position in the index.
pub type EntityIdx = u32;

/// An interned resource name; [`ANY_RID`] is `*`.
pub type Rid = u32;

/// The resource id of `*`.
pub const ANY_RID: Rid = 0;

/// One packed rule: bits 60–63 the permission kind, 33–59 the resource id, 1–32 the principal,
/// bit 0 set when the rule allows. Sorting words sorts rules by cell, then by principal.
pub type Word = u64;

const NONE: u32 = u32::MAX;
const PID_SHIFT: u32 = 1;
const RID_SHIFT: u32 = 33;
const RID_BITS: u32 = 27;
const RID_MAX: Rid = (1 << RID_BITS) - 1;

/// The permission kind of a rule word, as a number (`PermissionKind as u32`).
fn word_kind(word: Word) -> u32 {
    // The kind sits above the resource id in the top bits, so it fits 32 bits.
    (word_cell(word) >> RID_BITS) as u32
}

/// The cell key (kind, resource) of a rule word, as [`cell_key`] spells it.
pub fn word_cell(word: Word) -> u64 {
    word >> RID_SHIFT
}

/// The principal a rule word names.
pub fn word_pid(word: Word) -> Pid {
    // The principal occupies exactly 32 bits, so the truncation is the field itself.
    (word >> PID_SHIFT) as u32
}

/// Whether a rule word allows.
pub fn word_allows(word: Word) -> bool {
    word & 1 == 1
}

/// The key of cell (kind, resource) as rule words carry it.
pub fn cell_key(kind: PermissionKind, rid: Rid) -> u64 {
    ((kind as u64) << RID_BITS) | u64::from(rid.min(RID_MAX))
}

fn pack(kind: PermissionKind, rid: Rid, pid: Pid, allow: bool) -> Word {
    (cell_key(kind, rid) << RID_SHIFT) | (u64::from(pid) << PID_SHIFT) | u64::from(allow)
}

/// The cell (kind, resource) of a sorted rule run: its rules, sorted by principal.
pub fn cell(rules: &[Word], key: u64) -> &[Word] {
    let lo = rules.partition_point(|w| word_cell(*w) < key);
    let rest = rules.get(lo..).unwrap_or(&[]);
    let len = rest.partition_point(|w| word_cell(*w) == key);
    rest.get(..len).unwrap_or(&[])
}

/// One slot of a source's cell table: a cell key and where the cell starts in the source's
/// run (the cell ends where the key changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(8))]
pub struct CellSlot {
    key: u32,
    start: u32,
}

const EMPTY_CELL: CellSlot = CellSlot {
    key: NONE,
    start: 0,
};

fn cell_home(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 7) as usize & mask
}

/// Where a source with many rules keeps them: its sorted run, and an open-addressing table of
/// its cells, so a cell costs one probe instead of a binary search over every rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CellTable {
    run: Span,
    start: u32,
    slots: u32,
}

/// The rules of one source, as a check reads them.
#[derive(Clone, Copy, Debug)]
pub enum Rules<'a> {
    /// A short run, sorted: its cells are found by binary search.
    Run(&'a [Word]),
    /// A cell table (a power-of-two number of slots) over the source's sorted run.
    Table(&'a [CellSlot], &'a [Word]),
    /// Blocks by kind (`KindBlocks`): the source's entries, where each kind's block ends, and
    /// how its entries are packed.
    Kinds(&'a [u32], &'a [u16; KINDS], Packing),
    /// A short sorted run of entries that carry their kind.
    Packed(&'a [u32], Packing),
}

impl<'a> Rules<'a> {
    /// Whether the source holds no rule.
    pub fn is_empty(&self) -> bool {
        match self {
            Rules::Run(run) => run.is_empty(),
            Rules::Table(slots, _) => slots.is_empty(),
            Rules::Kinds(entries, ..) | Rules::Packed(entries, _) => entries.is_empty(),
        }
    }

    /// Whether the source may hold a rule of permission `kind` (false: it certainly does not).
    pub fn may_hold(&self, kind: PermissionKind) -> bool {
        match self {
            Rules::Kinds(_, ends, _) => !kind_block(ends, kind).is_empty(),
            _ => !self.is_empty(),
        }
    }

    /// The rules of row `rid` of permission `kind` (empty when `rid` is `*`), then those of its
    /// `*` row, each sorted by principal.
    pub fn rows(&self, kind: PermissionKind, rid: Rid) -> [Row<'a>; 2] {
        let (entries, ends, packing) = match *self {
            Rules::Kinds(entries, ends, packing) => (entries, ends, packing),
            Rules::Packed(run, packing) => {
                let row = |rid: Rid| packing.row(run, packing.cell_of(kind, rid));
                let named = if rid == ANY_RID { &[] } else { row(rid) };
                return [named, row(ANY_RID)].map(|row| Row::Entries(row, packing));
            }
            Rules::Run(_) | Rules::Table(..) => {
                let named = if rid == ANY_RID {
                    &[]
                } else {
                    self.cell(cell_key(kind, rid))
                };
                return [named, self.cell(cell_key(kind, ANY_RID))].map(Row::Words);
            }
        };
        let block = entries.get(kind_block(ends, kind)).unwrap_or(&[]);
        let Some((&stars, rest)) = block.split_first() else {
            return [Row::Entries(&[], packing); 2];
        };
        let (star, named) = rest.split_at((stars as usize).min(rest.len()));
        let named = if rid == ANY_RID {
            &[]
        } else {
            packing.row(named, rid)
        };
        [named, star].map(|row| Row::Entries(row, packing))
    }

    /// The rules of cell `key` ([`cell_key`]) of a run or a table, sorted by principal (empty
    /// for entries, which [`Rules::rows`] reads).
    fn cell(&self, key: u64) -> &'a [Word] {
        match *self {
            Rules::Kinds(..) | Rules::Packed(..) => &[],
            Rules::Run(run) => cell(run, key),
            Rules::Table(slots, run) => {
                let Ok(key) = u32::try_from(key) else {
                    return &[];
                };
                if slots.is_empty() {
                    return &[];
                }
                let mask = slots.len() - 1;
                let mut i = cell_home(key, mask);
                loop {
                    let slot = &slots[i];
                    if slot.key == key {
                        let rest = run.get(slot.start as usize..).unwrap_or(&[]);
                        let short = rest.len().min(16);
                        let mut len = rest[..short]
                            .iter()
                            .take_while(|w| word_cell(**w) == u64::from(key))
                            .count();
                        if len == short {
                            len = rest.partition_point(|w| word_cell(*w) == u64::from(key));
                        }
                        return &rest[..len];
                    }
                    if slot.key == NONE {
                        return &[];
                    }
                    i = (i + 1) & mask;
                }
            }
        }
    }
}

/// One row of a source as a check reads it: rule words, or the entries of blocks by kind.
#[derive(Clone, Copy, Debug)]
pub enum Row<'a> {
    /// Rule words of a run or a table.
    Words(&'a [Word]),
    /// Entries of a kind's block or of an entity's run, and how they are packed.
    Entries(&'a [u32], Packing),
}

/// How 32-bit entries pack a rule: its cell above the principal, the principal above the allow
/// bit. In blocks by kind the cell is the resource id (the block says the kind); in an entity's
/// own run it is the kind above the resource id. One packing of each sort serves a whole index,
/// sized to the largest principal and resource ids it holds; a sort of entries sorts rules by
/// cell, then principal, so a kind's `*` row (resource id 0) comes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packing {
    shift: u32,
    pid_mask: u32,
    /// Where the kind sits in the cell, when the entries carry it.
    kind_shift: Option<u32>,
}

/// How many principals and resources an index holds at most, for the room its packing leaves.
#[derive(Clone, Copy, Debug)]
struct Held {
    principals: usize,
    resources: usize,
}

/// Bits for the permission kind in an entry that carries it.
const KIND_BITS: u32 = u64::BITS - RID_SHIFT - RID_BITS;

impl Packing {
    /// The packing for principal ids up to `max_pid` and resource ids up to `max_rid` (and the
    /// kind, when `with_kind`), when all of it fits one 32-bit entry.
    fn fitting(max_pid: Pid, max_rid: Rid, with_kind: bool) -> Option<Packing> {
        let pid_bits = Pid::BITS - max_pid.leading_zeros();
        let rid_bits = Rid::BITS - max_rid.leading_zeros();
        let kind_bits = if with_kind { KIND_BITS } else { 0 };
        (pid_bits + rid_bits + kind_bits < u32::BITS).then(|| Packing {
            shift: pid_bits + 1,
            pid_mask: u32::MAX.checked_shr(u32::BITS - pid_bits).unwrap_or(0),
            kind_shift: with_kind.then_some(rid_bits),
        })
    }

    /// The packing of a build whose rules name principal ids up to `max_pid` and resource ids
    /// up to `max_rid`, in an index that holds `held`: room for twice the principals and
    /// resources it holds when that fits, else for as many, so that a patch naming a principal
    /// or resource its rules did not name still fits; else exactly the ids at hand.
    fn roomy(max_pid: Pid, max_rid: Rid, held: Held, with_kind: bool) -> Option<Packing> {
        let pids = max_pid.max(Pid::try_from(held.principals).unwrap_or(Pid::MAX));
        let rids = max_rid.max(Rid::try_from(held.resources).unwrap_or(Rid::MAX));
        let room = |max: u32| max.saturating_mul(2).saturating_add(1);
        Packing::fitting(room(pids), room(rids), with_kind)
            .or_else(|| Packing::fitting(pids, rids, with_kind))
            .or_else(|| Packing::fitting(max_pid, max_rid, with_kind))
    }

    /// The cell of (kind, resource id) as entries of this packing carry it.
    fn cell_of(self, kind: PermissionKind, rid: Rid) -> u32 {
        self.cell_bits(kind as u32, rid)
    }

    fn cell_bits(self, kind: u32, rid: Rid) -> u32 {
        match self.kind_shift {
            Some(at) => kind << at | rid,
            None => rid,
        }
    }

    fn pack(self, word: Word) -> u32 {
        let key = word_cell(word);
        // `fitting` checked that the cell and the principal fit above the allow bit.
        let rid = u32::try_from(key & u64::from(RID_MAX)).unwrap_or(0);
        let kind = u32::try_from(key >> RID_BITS).unwrap_or(0);
        self.cell_bits(kind, rid) << self.shift | word_pid(word) << 1 | u32::from(word_allows(word))
    }

    /// Whether `word`'s principal, resource and kind fit this packing's entries.
    fn fits(self, word: Word) -> bool {
        let key = word_cell(word);
        let rid = key & u64::from(RID_MAX);
        let cell = match self.kind_shift {
            Some(at) if rid >> at != 0 => return false,
            Some(at) => (key >> RID_BITS) << at | rid,
            None => rid,
        };
        word_pid(word) <= self.pid_mask && (cell << self.shift) >> u32::BITS == 0
    }

    /// The entries of `cell` in a sorted run of entries.
    fn row(self, run: &[u32], cell: u32) -> &[u32] {
        let lo = run.partition_point(|e| self.cell(*e) < cell);
        let rest = run.get(lo..).unwrap_or(&[]);
        rest.get(..rest.partition_point(|e| self.cell(*e) == cell))
            .unwrap_or(&[])
    }

    /// The cell of an entry: its resource id in blocks by kind.
    pub fn cell(self, entry: u32) -> u32 {
        entry >> self.shift
    }

    /// The principal of an entry.
    pub fn pid(self, entry: u32) -> Pid {
        entry >> 1 & self.pid_mask
    }

    /// Whether an entry allows.
    pub fn allows(self, entry: u32) -> bool {
        entry & 1 == 1
    }
}

/// How many permission kinds there are: a source laid out by kind has one block for each.
pub const KINDS: usize = PermissionKind::ALL.len();

/// Where kind `kind`'s block sits among a source's entries, from its blocks' ends.
fn kind_block(ends: &[u16; KINDS], kind: PermissionKind) -> std::ops::Range<usize> {
    let k = kind as usize;
    let start = k.checked_sub(1).map_or(0, |p| usize::from(ends[p]));
    start..usize::from(ends[k])
}

/// Where the rules of a template or shape are, laid out by kind so that a level reads one
/// short block, usually one or two cache lines: per kind (in [`PermissionKind`] order), the
/// count of its `*` rules, then its rules as 32-bit entries ([`Packing`]), sorted, so the `*`
/// row first. An empty kind takes no room. `ends[k]` is where kind `k`'s block ends, counted
/// in entries from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KindBlocks {
    base: u32,
    ends: [u16; KINDS],
}

/// Appends one source's sorted rules as blocks by kind; `None` (and nothing appended) when
/// there are too many of them for 16-bit block ends.
fn add_kind_blocks(entries: &mut Vec<u32>, rules: &[Word], packing: Packing) -> Option<KindBlocks> {
    let base = entries.len();
    let mut ends = [0u16; KINDS];
    let mut rest = rules;
    let mut fill = || -> Option<()> {
        for (k, end) in ends.iter_mut().enumerate() {
            let len = rest.partition_point(|w| word_kind(*w) as usize == k);
            let (block, after) = rest.split_at(len);
            rest = after;
            if !block.is_empty() {
                let stars = block.partition_point(|w| word_cell(*w) & u64::from(RID_MAX) == 0);
                entries.push(u32::try_from(stars).ok()?);
                entries.extend(block.iter().map(|w| packing.pack(*w)));
            }
            *end = u16::try_from(entries.len() - base).ok()?;
        }
        rest.is_empty().then_some(())
    };
    if fill().is_none() {
        entries.truncate(base);
        return None;
    }
    Some(KindBlocks {
        base: u32::try_from(base).ok()?,
        ends,
    })
}

/// Runs longer than this get a cell table.
const TABLE_MIN: usize = 16;

/// A run of an arena: `len` items from `start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of<T>(self, arena: &[T]) -> &[T] {
        let start = self.start as usize;
        arena.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

fn span(start: usize, len: usize) -> Span {
    Span {
        start: u32::try_from(start).unwrap_or(NONE),
        len: u32::try_from(len).unwrap_or(0),
    }
}

/// What a check reads of one entity, in 32 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
pub struct Hot {
    /// Start of the entity's run: its levels, then (when the index packs them) its own rules.
    run: u32,
    /// Where its own rules start in the word arena, or `NONE` when they follow its levels.
    own_words: u32,
    /// How many own rules it has.
    own: u32,
    /// The owning user, or `NONE`.
    owner: EntityIdx,
    /// The position among users, or `NONE` when the entity is not a user.
    user: u32,
    /// How many templates start the run (Things only).
    templates: u16,
    /// How many shapes follow them (Things only).
    shapes: u16,
    /// Bit `kind` is set when some own rule is of that kind.
    own_kinds: u16,
    /// Its collection.
    pub collection: Collection,
}

impl Hot {
    /// The owning user, if any.
    pub fn owner(&self) -> Option<EntityIdx> {
        (self.owner != NONE).then_some(self.owner)
    }
}

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
    fn may_hold(&self, pid: Pid) -> bool {
        self.0.wrapping_shr(pid) & 1 == 1
    }
}

/// A sorted principal set as a check tests it: the members, and their [`PidMask`].
#[derive(Clone, Copy, Debug)]
pub struct PidSet<'a> {
    /// The members, sorted.
    pub pids: &'a [Pid],
    mask: PidMask,
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
    pub fn may_meet(&self, mask: PidMask) -> bool {
        self.mask.0 & mask.0 != 0
    }

    /// Whether `pid` is a member: the mask first, then a scan of the usual few members, or a
    /// binary search of many.
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
    principal_mask: PidMask,
    visibility_mask: PidMask,
    /// Its principal set, then its visibility set, in the principal arena.
    start: u32,
    principals: u32,
    visibility: u32,
    /// `Administrator`, or a member of `Administrators`.
    pub admin: bool,
    /// A group asked about as a subject: visibility is a user's, through its organizations,
    /// so a group's question skips the visibility gate (unless it asks about Visibility).
    pub group: bool,
}

// A check reads one cache line of each record.
const _: () = assert!(size_of::<Hot>() == 32 && size_of::<UserHot>() == 32);
// `Hot::own_kinds` has a bit per kind.
const _: () = assert!(KINDS <= u16::BITS as usize);

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
struct NameTable {
    slots: Vec<NameSlot>,
    shift: u32,
}

fn name_hash(name: &str) -> u64 {
    FxBuildHasher
        .hash_one(name)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl NameTable {
    fn with_capacity(n: usize) -> NameTable {
        let slots = (n * 2).next_power_of_two().max(2);
        NameTable {
            slots: vec![EMPTY_SLOT; slots],
            shift: 64 - slots.trailing_zeros(),
        }
    }

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
    fn holds<'a>(slot: &NameSlot, name: &str, full: impl Fn(EntityIdx) -> &'a str) -> bool {
        let bytes = name.as_bytes();
        if bytes.len() <= INLINE {
            usize::from(slot.len) == bytes.len() && slot.bytes[..bytes.len()] == *bytes
        } else {
            slot.len == LONG && slot.bytes[..] == bytes[..INLINE] && full(slot.idx) == name
        }
    }

    /// Adds `name`; a name already present is moved to `idx` (the later entity wins).
    fn insert<'a>(&mut self, name: &str, idx: EntityIdx, full: impl Fn(EntityIdx) -> &'a str) {
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

    fn get<'a>(&self, name: &str, full: impl Fn(EntityIdx) -> &'a str) -> Option<EntityIdx> {
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
struct Names {
    principal_ids: FxHashMap<(PrincipalType, Box<str>), Pid>,
    principal_names: Vec<(PrincipalType, String)>,
    resource_ids: FxHashMap<Box<str>, Rid>,
}

impl Names {
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

    /// `rule` as a word, its principal and resource interned.
    fn intern_word(&mut self, rule: &Rule) -> Word {
        let pid = self.intern(rule.principal_type, &rule.principal_name);
        let rid = self.intern_resource(&rule.resource);
        pack(rule.kind, rid, pid, rule.allow)
    }

    /// `rule` as a word, when its principal and resource are interned already.
    fn word(&self, rule: &Rule) -> Option<Word> {
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

    fn intern_resource(&mut self, resource: &str) -> Rid {
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
    instance: Arc<[Source]>,
    /// Per entity: the mask of the principals its instance visibility rules name, so that the
    /// visibility gate passes over a template none of whose visibility rules can name the user.
    instance_visibility: Arc<[PidMask]>,
    /// Per collection (by `Collection as usize`): its rules.
    collections: Arc<[Source]>,
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

/// Where the rules of a template, shape or collection are: a short sorted run, a table, or
/// blocks by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Run(Span),
    Table(CellTable),
    Kinds(KindBlocks),
}

impl Default for Source {
    fn default() -> Source {
        Source::Run(Span::default())
    }
}

/// Appends one source's sorted rules to the arena, with a cell table when there are many.
fn add_source(arena: &mut Vec<Word>, cells: &mut Vec<CellSlot>, rules: &[Word]) -> Source {
    let start = arena.len();
    arena.extend_from_slice(rules);
    let run = span(start, rules.len());
    if rules.len() <= TABLE_MIN {
        return Source::Run(run);
    }
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for (i, w) in rules.iter().enumerate() {
        let key = u32::try_from(word_cell(*w)).unwrap_or(NONE);
        if runs.last().is_none_or(|(k, _)| *k != key) {
            runs.push((key, i));
        }
    }
    // At most three quarters full.
    let slots = (runs.len() + runs.len() / 3 + 1).next_power_of_two().max(2);
    let mask = slots - 1;
    let table_start = cells.len();
    cells.resize(table_start + slots, EMPTY_CELL);
    for (key, cell_start) in runs {
        let mut i = cell_home(key, mask);
        while cells[table_start + i].key != NONE {
            i = (i + 1) & mask;
        }
        cells[table_start + i] = CellSlot {
            key,
            start: u32::try_from(cell_start).unwrap_or(NONE),
        };
    }
    Source::Table(CellTable {
        run,
        start: u32::try_from(table_start).unwrap_or(NONE),
        slots: u32::try_from(slots).unwrap_or(0),
    })
}

impl Source {
    /// How many entries, words and cell slots the source takes.
    fn size(&self) -> usize {
        match self {
            Source::Run(span) => span.len as usize,
            Source::Table(table) => table.run.len as usize + table.slots as usize,
            Source::Kinds(blocks) => blocks.ends.last().map_or(0, |end| usize::from(*end)),
        }
    }
}

/// Appends an entity's own rules (sorted): as entries after its levels when `packing` (the
/// index's packing of own rules) is given, which the caller has just appended to `runs`; else
/// as words in the arena. Returns where its words start, or `NONE` when they are packed.
fn add_own(
    runs: &mut Vec<u32>,
    arena: &mut Vec<Word>,
    rules: &[(u64, usize, Word)],
    packing: Option<Packing>,
) -> u32 {
    match packing {
        Some(packing) => {
            runs.extend(rules.iter().map(|(_, _, w)| packing.pack(*w)));
            NONE
        }
        None => {
            let start = arena.len();
            arena.extend(rules.iter().map(|(_, _, w)| *w));
            u32::try_from(start).unwrap_or(NONE)
        }
    }
}

/// The kinds present among rules, a bit per kind.
fn kinds_of(rules: &[(u64, usize, Word)]) -> u16 {
    rules.iter().fold(0, |kinds, (_, _, w)| {
        kinds | 1u16.wrapping_shl(word_kind(*w))
    })
}

/// Appends the instance rules (sorted words) of a template or shape: blocks by kind when
/// `packing` (the index's packing of blocks) is given and they fit 16-bit block ends, else a
/// run with a cell table when long. Returns the source and the mask of the principals its
/// visibility rules name.
fn add_instance(
    entries: &mut Vec<u32>,
    arena: &mut Vec<Word>,
    cells: &mut Vec<CellSlot>,
    words: &[Word],
    packing: Option<Packing>,
) -> (Source, PidMask) {
    let blocks = packing.and_then(|p| add_kind_blocks(entries, words, p));
    let source = match blocks {
        Some(blocks) => Source::Kinds(blocks),
        None => add_source(arena, cells, words),
    };
    let visibility = cell(words, cell_key(PermissionKind::Visibility, ANY_RID));
    (source, PidMask::of(visibility.iter().map(|w| word_pid(*w))))
}

/// The largest principal and resource ids among rules.
fn max_ids<'a>(rules: impl Iterator<Item = &'a (u64, usize, Word)>) -> (Pid, Rid) {
    rules.fold((0, 0), |(pid, rid), (_, _, w)| {
        let w_rid = u32::try_from(word_cell(*w) & u64::from(RID_MAX)).unwrap_or(RID_MAX);
        (pid.max(word_pid(*w)), rid.max(w_rid))
    })
}

/// Sorts one source's rules and drops all but the last of each (kind, resource, principal):
/// when a principal appears twice in a cell, the later rule wins.
fn sorted_run(rules: &mut Vec<(u64, usize, Word)>) {
    rules.sort_unstable_by_key(|(key, order, _)| (*key, *order));
    let mut out = 0;
    for i in 0..rules.len() {
        if i + 1 < rules.len() && rules[i + 1].0 == rules[i].0 {
            continue;
        }
        rules[out] = rules[i];
        out += 1;
    }
    rules.truncate(out);
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
        let mut instance_sources = vec![Source::default(); facts.entities.len()];
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
        let mut collections = vec![Source::default(); Collection::ALL.len()];
        for (c, rules) in collection_rules.iter_mut().enumerate() {
            sorted_run(rules);
            words.clear();
            words.extend(rules.iter().map(|(_, _, w)| *w));
            collections[c] = add_source(&mut arena, &mut cells, &words);
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

    fn rules<'a>(&'a self, source: Option<&'a Source>) -> Rules<'a> {
        match source {
            Some(Source::Run(span)) => Rules::Run(span.of(&self.arena)),
            Some(Source::Table(table)) => {
                let start = table.start as usize;
                Rules::Table(
                    self.cells
                        .get(start..start + table.slots as usize)
                        .unwrap_or(&[]),
                    table.run.of(&self.arena),
                )
            }
            Some(Source::Kinds(blocks)) => {
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

/// Computes every user's principal and visibility sets, and records each user's position in
/// `hot`.
fn build_users(
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

#[cfg(test)]
mod layout_tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
            let source = add_source(&mut arena, &mut cells, &words);
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
