//! Rule words and the cells they form: a rule packed in one `u64`, the sorted runs and cell
//! tables a check searches, the rows it reads, and the 32-bit entries ([`Packing`]) that pack
//! rules tighter when the index's ids fit them.

use ironworx_entity::vocab::PermissionKind;

use super::blocks::{KINDS, kind_block};
use super::{ANY_RID, NONE, Pid, Rid};

/// One packed rule: bits 60–63 the permission kind, 33–59 the resource id, 1–32 the principal,
/// bit 0 set when the rule allows. Sorting words sorts rules by cell, then by principal.
pub type Word = u64;

const PID_SHIFT: u32 = 1;
const RID_SHIFT: u32 = 33;
const RID_BITS: u32 = 27;
pub(super) const RID_MAX: Rid = (1 << RID_BITS) - 1;

/// The permission kind of a rule word, as a number (`PermissionKind as u32`).
#[inline]
pub(super) fn word_kind(word: Word) -> u32 {
    // The kind sits above the resource id in the top bits, so it fits 32 bits.
    (word_cell(word) >> RID_BITS) as u32
}

/// The cell key (kind, resource) of a rule word, as [`cell_key`] spells it.
#[inline]
pub fn word_cell(word: Word) -> u64 {
    word >> RID_SHIFT
}

/// The principal a rule word names.
#[inline]
pub fn word_pid(word: Word) -> Pid {
    // The principal occupies exactly 32 bits, so the truncation is the field itself.
    (word >> PID_SHIFT) as u32
}

/// Whether a rule word allows.
#[inline]
pub fn word_allows(word: Word) -> bool {
    word & 1 == 1
}

/// The key of cell (kind, resource) as rule words carry it.
#[inline]
pub fn cell_key(kind: PermissionKind, rid: Rid) -> u64 {
    ((kind as u64) << RID_BITS) | u64::from(rid.min(RID_MAX))
}

pub(super) fn pack(kind: PermissionKind, rid: Rid, pid: Pid, allow: bool) -> Word {
    (cell_key(kind, rid) << RID_SHIFT) | (u64::from(pid) << PID_SHIFT) | u64::from(allow)
}

/// The cell (kind, resource) of a sorted rule run: its rules, sorted by principal.
#[inline]
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
    pub(super) key: u32,
    pub(super) start: u32,
}

pub(super) const EMPTY_CELL: CellSlot = CellSlot {
    key: NONE,
    start: 0,
};

#[inline]
pub(super) fn cell_home(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 7) as usize & mask
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
    #[inline]
    pub fn is_empty(&self) -> bool {
        match self {
            Rules::Run(run) => run.is_empty(),
            Rules::Table(slots, _) => slots.is_empty(),
            Rules::Kinds(entries, ..) | Rules::Packed(entries, _) => entries.is_empty(),
        }
    }

    /// Whether the source may hold a rule of permission `kind` (false: it certainly does not).
    #[inline]
    pub fn may_hold(&self, kind: PermissionKind) -> bool {
        match self {
            Rules::Kinds(_, ends, _) => !kind_block(ends, kind).is_empty(),
            _ => !self.is_empty(),
        }
    }

    /// The rules of row `rid` of permission `kind` (empty when `rid` is `*`), then those of its
    /// `*` row, each sorted by principal.
    #[inline]
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
    #[inline]
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
    pub(super) shift: u32,
    pub(super) pid_mask: u32,
    /// Where the kind sits in the cell, when the entries carry it.
    pub(super) kind_shift: Option<u32>,
}

/// How many principals and resources an index holds at most, for the room its packing leaves.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) principals: usize,
    pub(super) resources: usize,
}

/// Bits for the permission kind in an entry that carries it.
const KIND_BITS: u32 = u64::BITS - RID_SHIFT - RID_BITS;

impl Packing {
    /// The packing for principal ids up to `max_pid` and resource ids up to `max_rid` (and the
    /// kind, when `with_kind`), when all of it fits one 32-bit entry.
    pub(super) fn fitting(max_pid: Pid, max_rid: Rid, with_kind: bool) -> Option<Packing> {
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
    pub(super) fn roomy(
        max_pid: Pid,
        max_rid: Rid,
        held: Held,
        with_kind: bool,
    ) -> Option<Packing> {
        let pids = max_pid.max(Pid::try_from(held.principals).unwrap_or(Pid::MAX));
        let rids = max_rid.max(Rid::try_from(held.resources).unwrap_or(Rid::MAX));
        let room = |max: u32| max.saturating_mul(2).saturating_add(1);
        Packing::fitting(room(pids), room(rids), with_kind)
            .or_else(|| Packing::fitting(pids, rids, with_kind))
            .or_else(|| Packing::fitting(max_pid, max_rid, with_kind))
    }

    /// The cell of (kind, resource id) as entries of this packing carry it.
    #[inline]
    pub(super) fn cell_of(self, kind: PermissionKind, rid: Rid) -> u32 {
        self.cell_bits(kind as u32, rid)
    }

    #[inline]
    fn cell_bits(self, kind: u32, rid: Rid) -> u32 {
        match self.kind_shift {
            Some(at) => kind << at | rid,
            None => rid,
        }
    }

    pub(super) fn pack(self, word: Word) -> u32 {
        let key = word_cell(word);
        // `fitting` checked that the cell and the principal fit above the allow bit.
        let rid = u32::try_from(key & u64::from(RID_MAX)).unwrap_or(0);
        let kind = u32::try_from(key >> RID_BITS).unwrap_or(0);
        self.cell_bits(kind, rid) << self.shift | word_pid(word) << 1 | u32::from(word_allows(word))
    }

    /// Whether `word`'s principal, resource and kind fit this packing's entries.
    pub(super) fn fits(self, word: Word) -> bool {
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
    #[inline]
    fn row(self, run: &[u32], cell: u32) -> &[u32] {
        let lo = run.partition_point(|e| self.cell(*e) < cell);
        let rest = run.get(lo..).unwrap_or(&[]);
        rest.get(..rest.partition_point(|e| self.cell(*e) == cell))
            .unwrap_or(&[])
    }

    /// The cell of an entry: its resource id in blocks by kind.
    #[inline]
    pub fn cell(self, entry: u32) -> u32 {
        entry >> self.shift
    }

    /// The principal of an entry.
    #[inline]
    pub fn pid(self, entry: u32) -> Pid {
        entry >> 1 & self.pid_mask
    }

    /// Whether an entry allows.
    #[inline]
    pub fn allows(self, entry: u32) -> bool {
        entry & 1 == 1
    }
}
