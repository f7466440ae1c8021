//! The differences between a read `.twx` entity and what the writer gives back for it: found when
//! reading, applied when writing (plain keys and JSON pointers).

use super::*;

/// Whether an extra key is a JSON pointer (a nested value, or a removal with `-`).
pub(super) fn is_pointer(key: &str) -> bool {
    key.starts_with('/') || key.starts_with("-/")
}

pub(super) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

pub(super) fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Records in `out` what `written` does not reproduce of `original`: top-level keys as plain
/// keys, deeper ones as pointers, keys only `written` has as `-` pointers.
pub(super) fn diff(
    original: &Map<String, Json>,
    written: &Map<String, Json>,
    prefix: &str,
    out: &mut Extra,
) {
    for (key, value) in original {
        let pointer = format!("{prefix}/{}", escape(key));
        let at = if prefix.is_empty() {
            key.clone()
        } else {
            pointer.clone()
        };
        match written.get(key) {
            Some(w) if w == value => {}
            Some(Json::Object(w)) if value.is_object() => {
                if let Json::Object(o) = value {
                    diff(o, w, &pointer, out);
                }
            }
            _ => {
                out.insert(at, value.clone());
            }
        }
    }
    for key in written.keys() {
        if !original.contains_key(key) {
            out.insert(format!("-{prefix}/{}", escape(key)), Json::Null);
        }
    }
}

/// Applies the kept extras of an entity over what the writer built (the neutral form of
/// [`crate::extras`] is the `.twx` form: plain keys replace, pointers reach below).
pub(super) fn apply_extra(object: &mut Map<String, Json>, extra: &Extra) {
    let mut removals = Vec::new();
    for (key, value) in extra {
        if let Some(pointer) = key.strip_prefix('-').filter(|p| p.starts_with('/')) {
            removals.push(pointer);
        } else if key.starts_with('/') {
            set_pointer(object, key, value.clone());
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    for pointer in removals {
        remove_pointer(object, pointer);
    }
}

pub(super) fn tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(unescape).collect()
}

pub(super) fn set_pointer(object: &mut Map<String, Json>, pointer: &str, value: Json) {
    let tokens = tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = object;
    for token in parents {
        let next = current
            .entry(token.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        match next {
            Json::Object(m) => current = m,
            _ => return,
        }
    }
    current.insert(last.clone(), value);
}

pub(super) fn remove_pointer(object: &mut Map<String, Json>, pointer: &str) {
    let tokens = tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = object;
    for token in parents {
        match current.get_mut(token) {
            Some(Json::Object(m)) => current = m,
            _ => return,
        }
    }
    current.shift_remove(last);
}
