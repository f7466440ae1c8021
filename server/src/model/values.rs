//! Property values in memory: the stored values of the Things read so far, each with the value
//! sequence value that wrote it, so that a value read again since is applied once and an older
//! one never replaces a newer one.

use dashmap::DashMap;
use std::sync::{Arc, Mutex, PoisonError};

use indexmap::IndexMap;
use ironworx_entity::queries::thing_model::StampedValue;
use rustc_hash::FxHashSet;
use serde_json::Value;

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredValue {
    /// The base type it was written with.
    pub base_type: Arc<str>,
    /// The value (`Null` when none was stored).
    pub value: Value,
    /// Its time (epoch ms).
    pub time: i64,
    /// Its quality.
    pub quality: Arc<str>,
    /// The value sequence value that wrote it.
    seq: i64,
}

/// The stored values of one Thing, by property name, in the order they were first stored.
pub type ThingValues = IndexMap<Box<str>, StoredValue>;

/// The values of the Things read so far, by Thing id.
#[derive(Debug, Default)]
pub struct ValueStore {
    things: DashMap<i64, ThingValues>,
    /// Base types and qualities repeat across every value: one copy of each.
    words: Mutex<FxHashSet<Arc<str>>>,
}

impl ValueStore {
    /// Whether the values of Thing `id` are held.
    pub fn holds(&self, id: i64) -> bool {
        self.things.contains_key(&id)
    }

    /// The values of Thing `id`, when they are held (read them without awaiting).
    pub fn get(&self, id: i64) -> Option<dashmap::mapref::one::Ref<'_, i64, ThingValues>> {
        self.things.get(&id)
    }

    /// The shared copy of `word`.
    fn word(&self, word: String) -> Arc<str> {
        let mut words = self.words.lock().unwrap_or_else(PoisonError::into_inner);
        match words.get(word.as_str()) {
            Some(held) => Arc::clone(held),
            None => {
                let held: Arc<str> = Arc::from(word);
                words.insert(Arc::clone(&held));
                held
            }
        }
    }

    /// `row` as held, and its property's name.
    fn stored(&self, row: StampedValue) -> (Box<str>, StoredValue) {
        let value = StoredValue {
            base_type: self.word(row.base_type),
            value: row.value.unwrap_or(Value::Null),
            time: row.value_time,
            quality: self.word(row.quality),
            seq: row.seq,
        };
        (row.name.into_boxed_str(), value)
    }

    /// Holds `rows`, every stored value of Thing `id`.
    pub fn load(&self, id: i64, rows: Vec<StampedValue>) {
        let mut values: ThingValues = rows.into_iter().map(|row| self.stored(row)).collect();
        values.shrink_to_fit();
        self.things.insert(id, values);
    }

    /// Applies values written since (of held Things only; the others are read when needed).
    pub fn apply(&self, rows: Vec<StampedValue>) {
        for row in rows {
            let Some(mut values) = self.things.get_mut(&row.entity_id) else {
                continue;
            };
            match values.get_mut(row.name.as_str()) {
                Some(held) if held.seq >= row.seq => {}
                _ => {
                    let (name, value) = self.stored(row);
                    values.insert(name, value);
                }
            }
        }
    }

    /// Forgets the values of `things` (read again when needed).
    pub fn forget(&self, things: impl IntoIterator<Item = i64>) {
        for id in things {
            self.things.remove(&id);
        }
    }

    /// Forgets every value.
    pub fn clear(&self) {
        self.things.clear();
    }
}
