//! Owns decoding the Smile document of a `.twx` file into a JSON tree within explicit bounds:
//! every value is charged what it costs in memory as it is decoded (see [`cost`]), and decoding
//! stops with an error naming the limit as soon as the total passes the tree budget or the
//! nesting passes the depth limit. A Smile document can name a string it already holds with a
//! one-byte back-reference, and every value of the tree takes far more memory than the byte
//! that encodes it, so the size of the payload says little about the size of its tree.
//!
//! The tree is the one `serde_json` builds from the same document (object key order kept).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::{Map, Number, Value};

use crate::twx_error::TwxError;

/// What each part of a tree is charged, in bytes.
pub mod cost {
    /// Any value: its slot in its array, object or root.
    pub const VALUE: usize = std::mem::size_of::<serde_json::Value>();
    /// An object entry besides its value: the key's string, its hash and its index.
    pub const ENTRY: usize = std::mem::size_of::<String>() + 2 * std::mem::size_of::<usize>();
}

/// Why decoding stopped early, kept beside the Smile error that carried it out.
#[derive(Clone, Copy)]
enum Stop {
    Budget,
    Depth,
}

/// What decoding has spent so far, shared by every level of the tree.
struct Budget {
    limit: usize,
    spent: Cell<usize>,
    max_depth: usize,
    stop: Cell<Option<Stop>>,
}

impl Budget {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let spent = self.spent.get().saturating_add(bytes);
        self.spent.set(spent);
        if spent > self.limit {
            self.stop.set(Some(Stop::Budget));
            return Err(E::custom("the tree budget is spent"));
        }
        Ok(())
    }
}

/// Decodes the Smile document `payload` into a tree charged at most `max_bytes` (see [`cost`]),
/// containers nested at most `max_depth` deep (the root container is depth 1).
pub fn decode(payload: &[u8], max_bytes: usize, max_depth: usize) -> Result<Value, TwxError> {
    let budget = Budget {
        limit: max_bytes,
        spent: Cell::new(0),
        max_depth,
        stop: Cell::new(None),
    };
    let mut de = serde_smile::Deserializer::from_slice(payload);
    let decoded = Node {
        budget: &budget,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    decoded.map_err(|err| match budget.stop.get() {
        Some(Stop::Budget) => TwxError::TreeTooLarge { limit: max_bytes },
        Some(Stop::Depth) => TwxError::TooDeep { limit: max_depth },
        None => TwxError::InvalidSmile(err),
    })
}

/// One value of the tree, at `depth` (the number of containers around it).
#[derive(Clone, Copy)]
struct Node<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl Node<'_> {
    fn scalar<E: de::Error>(self, value: Value) -> Result<Value, E> {
        self.budget.charge(cost::VALUE)?;
        Ok(value)
    }

    fn string<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.budget.charge(cost::VALUE.saturating_add(s.len()))?;
        Ok(Value::String(s.to_owned()))
    }

    /// Charges a container at this node and returns the node of its children, one deeper.
    fn container<E: de::Error>(self) -> Result<Self, E> {
        let depth = self.depth + 1;
        if depth > self.budget.max_depth {
            self.budget.stop.set(Some(Stop::Depth));
            return Err(E::custom("the tree is nested too deep"));
        }
        self.budget.charge(cost::VALUE)?;
        Ok(Node {
            budget: self.budget,
            depth,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.scalar(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.scalar(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.scalar(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.scalar(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Err(E::invalid_type(Unexpected::Bytes(v), &self))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.container()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.container()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(Key {
            budget: self.budget,
        })? {
            let value = map.next_value_seed(child)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// An object key.
struct Key<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.budget.charge(cost::ENTRY.saturating_add(v.len()))?;
        Ok(v.to_owned())
    }
}
