//! Where each source's rules sit: blocks by kind, spans of the arenas, cell tables, the
//! [`RuleLayout`] of a template, shape or collection, and the 32-byte [`Hot`] record of an entity.

use ironworx_entity::vocab::{Collection, PermissionKind};

use super::principals::PidMask;
use super::words::{
    CellSlot, EMPTY_CELL, Packing, RID_MAX, Word, cell, cell_home, cell_key, word_cell, word_kind,
    word_pid,
};
use super::{ANY_RID, EntityIdx, NONE, Pid, Rid};

/// How many permission kinds there are: a source laid out by kind has one block for each.
pub const KINDS: usize = PermissionKind::ALL.len();

/// Where kind `kind`'s block sits among a source's entries, from its blocks' ends.
#[inline]
pub(super) fn kind_block(ends: &[u16; KINDS], kind: PermissionKind) -> std::ops::Range<usize> {
    let k = kind as usize;
    let start = k.checked_sub(1).map_or(0, |p| usize::from(ends[p]));
    start..usize::from(ends[k])
}

/// Where a source with many rules keeps them: its sorted run, and an open-addressing table of
/// its cells, so a cell costs one probe instead of a binary search over every rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CellTable {
    pub(super) run: Span,
    pub(super) start: u32,
    pub(super) slots: u32,
}

/// Where the rules of a template or shape are, laid out by kind so that a level reads one
/// short block, usually one or two cache lines: per kind (in [`PermissionKind`] order), the
/// count of its `*` rules, then its rules as 32-bit entries ([`Packing`]), sorted, so the `*`
/// row first. An empty kind takes no room. `ends[k]` is where kind `k`'s block ends, counted
/// in entries from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KindBlocks {
    pub(super) base: u32,
    pub(super) ends: [u16; KINDS],
}

/// Appends one source's sorted rules as blocks by kind; `None` (and nothing appended) when
/// there are too many of them for 16-bit block ends.
pub(super) fn add_kind_blocks(
    entries: &mut Vec<u32>,
    rules: &[Word],
    packing: Packing,
) -> Option<KindBlocks> {
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
pub(super) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    #[inline]
    pub(super) fn of<T>(self, arena: &[T]) -> &[T] {
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
    pub(super) run: u32,
    /// Where its own rules start in the word arena, or `NONE` when they follow its levels.
    pub(super) own_words: u32,
    /// How many own rules it has.
    pub(super) own: u32,
    /// The owning user, or `NONE`.
    pub(super) owner: EntityIdx,
    /// The position among users, or `NONE` when the entity is not a user.
    pub(super) user: u32,
    /// How many templates start the run (Things only).
    pub(super) templates: u16,
    /// How many shapes follow them (Things only).
    pub(super) shapes: u16,
    /// Bit `kind` is set when some own rule is of that kind.
    pub(super) own_kinds: u16,
    /// Its collection.
    pub collection: Collection,
}

impl Hot {
    /// The owning user, if any.
    #[inline]
    pub fn owner(&self) -> Option<EntityIdx> {
        (self.owner != NONE).then_some(self.owner)
    }
}

// A check reads one cache line of it.
const _: () = assert!(size_of::<Hot>() == 32);
// `Hot::own_kinds` has a bit per kind.
const _: () = assert!(KINDS <= u16::BITS as usize);

/// Where the rules of a template, shape or collection are: a short sorted run, a table, or
/// blocks by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RuleLayout {
    Run(Span),
    Table(CellTable),
    Kinds(KindBlocks),
}

impl Default for RuleLayout {
    fn default() -> RuleLayout {
        RuleLayout::Run(Span::default())
    }
}

/// Appends one source's sorted rules to the arena, with a cell table when there are many.
pub(super) fn add_layout(
    arena: &mut Vec<Word>,
    cells: &mut Vec<CellSlot>,
    rules: &[Word],
) -> RuleLayout {
    let start = arena.len();
    arena.extend_from_slice(rules);
    let run = span(start, rules.len());
    if rules.len() <= TABLE_MIN {
        return RuleLayout::Run(run);
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
    RuleLayout::Table(CellTable {
        run,
        start: u32::try_from(table_start).unwrap_or(NONE),
        slots: u32::try_from(slots).unwrap_or(0),
    })
}

impl RuleLayout {
    /// How many entries, words and cell slots the source takes.
    pub(super) fn size(&self) -> usize {
        match self {
            RuleLayout::Run(span) => span.len as usize,
            RuleLayout::Table(table) => table.run.len as usize + table.slots as usize,
            RuleLayout::Kinds(blocks) => blocks.ends.last().map_or(0, |end| usize::from(*end)),
        }
    }
}

/// Appends an entity's own rules (sorted): as entries after its levels when `packing` (the
/// index's packing of own rules) is given, which the caller has just appended to `runs`; else
/// as words in the arena. Returns where its words start, or `NONE` when they are packed.
pub(super) fn add_own(
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
pub(super) fn kinds_of(rules: &[(u64, usize, Word)]) -> u16 {
    rules.iter().fold(0, |kinds, (_, _, w)| {
        kinds | 1u16.wrapping_shl(word_kind(*w))
    })
}

/// Appends the instance rules (sorted words) of a template or shape: blocks by kind when
/// `packing` (the index's packing of blocks) is given and they fit 16-bit block ends, else a
/// run with a cell table when long. Returns the source and the mask of the principals its
/// visibility rules name.
pub(super) fn add_instance(
    entries: &mut Vec<u32>,
    arena: &mut Vec<Word>,
    cells: &mut Vec<CellSlot>,
    words: &[Word],
    packing: Option<Packing>,
) -> (RuleLayout, PidMask) {
    let blocks = packing.and_then(|p| add_kind_blocks(entries, words, p));
    let source = match blocks {
        Some(blocks) => RuleLayout::Kinds(blocks),
        None => add_layout(arena, cells, words),
    };
    let visibility = cell(words, cell_key(PermissionKind::Visibility, ANY_RID));
    (source, PidMask::of(visibility.iter().map(|w| word_pid(*w))))
}

/// The largest principal and resource ids among rules.
pub(super) fn max_ids<'a>(rules: impl Iterator<Item = &'a (u64, usize, Word)>) -> (Pid, Rid) {
    rules.fold((0, 0), |(pid, rid), (_, _, w)| {
        let w_rid = u32::try_from(word_cell(*w) & u64::from(RID_MAX)).unwrap_or(RID_MAX);
        (pid.max(word_pid(*w)), rid.max(w_rid))
    })
}

/// Sorts one source's rules and drops all but the last of each (kind, resource, principal):
/// when a principal appears twice in a cell, the later rule wins.
pub(super) fn sorted_run(rules: &mut Vec<(u64, usize, Word)>) {
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
