//! Property values in memory: the stored values of the Things read so far, each with the value
//! sequence value that wrote it, so that a value read again since is applied once and an older
//! one never replaces a newer one.

use dashmap::DashMap;
use indexmap::IndexMap;
use ironworx_entity::queries::thing_model::StampedValue;
use serde_json::Value;

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredValue {
    /// The base type it was written with.
    pub base_type: String,
    /// The value (`Null` when none was stored).
    pub value: Value,
    /// Its time (epoch ms).
    pub time: i64,
    /// Its quality.
    pub quality: String,
    /// The value sequence value that wrote it.
    seq: i64,
}

impl From<StampedValue> for StoredValue {
    fn from(row: StampedValue) -> Self {
        StoredValue {
            base_type: row.base_type,
            value: row.value.unwrap_or(Value::Null),
            time: row.value_time,
            quality: row.quality,
            seq: row.seq,
        }
    }
}

/// The stored values of one Thing, by property name, in the order they were first stored.
pub type ThingValues = IndexMap<String, StoredValue>;

/// The values of the Things read so far, by Thing id.
#[derive(Debug, Default)]
pub struct ValueStore {
    things: DashMap<i64, ThingValues>,
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

    /// Holds `rows`, every stored value of Thing `id`.
    pub fn load(&self, id: i64, rows: Vec<StampedValue>) {
        let values: ThingValues = rows
            .into_iter()
            .map(|row| (row.name.clone(), StoredValue::from(row)))
            .collect();
        self.things.insert(id, values);
    }

    /// Applies values written since (of held Things only; the others are read when needed).
    pub fn apply(&self, rows: Vec<StampedValue>) {
        for row in rows {
            let Some(mut values) = self.things.get_mut(&row.entity_id) else {
                continue;
            };
            match values.get_mut(&row.name) {
                Some(held) if held.seq >= row.seq => {}
                Some(held) => *held = StoredValue::from(row),
                None => {
                    values.insert(row.name.clone(), StoredValue::from(row));
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
