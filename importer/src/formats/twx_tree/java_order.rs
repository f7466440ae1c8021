//! Java `HashMap` iteration order, in which every object of a `.twx` tree below its root is
//! written.

use super::*;

/// Java's `String.hashCode`.
pub(super) fn java_hash(s: &str) -> u32 {
    s.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(u32::from(unit))
    })
}

/// The table size of a `HashMap` after `len` insertions.
pub(super) fn table_size(len: usize) -> usize {
    let mut size = 16usize;
    while len * 4 > size * 3 {
        size *= 2;
    }
    size
}

pub(super) fn bucket(key: &str, size: usize) -> usize {
    let h = java_hash(key);
    let spread = h ^ (h >> 16);
    usize::try_from(spread).unwrap_or_default() & (size - 1)
}

/// Orders every object of `value` as a Java `HashMap` holding its keys, inserted in their
/// current order, iterates them.
pub(super) fn hash_order(value: &mut Json) {
    match value {
        Json::Object(map) => {
            let size = table_size(map.len());
            let mut entries: Vec<(String, Json)> = std::mem::take(map).into_iter().collect();
            for (_, child) in &mut entries {
                hash_order(child);
            }
            entries.sort_by_key(|(key, _)| bucket(key, size));
            *map = entries.into_iter().collect();
        }
        Json::Array(list) => list.iter_mut().for_each(hash_order),
        _ => {}
    }
}
