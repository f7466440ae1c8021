//! Thing properties as ThingWorx defines them, for every door: reading the values a caller may
//! read ([`read_properties`]) and writing values a caller may write ([`write_properties`]),
//! from the Thing model in memory ([`crate::model`]). An invisible Thing is 404; a property is
//! checked for PropertyRead or PropertyWrite on its name before anything else, so a caller
//! without the right learns nothing about it; a property the Thing does not have is 404 when
//! the call names it and 400 when the values do; reading all properties returns the readable
//! ones (403 when none is readable), writing several is all or nothing (one denial, unknown
//! name, read-only property or wrong-typed value refuses the whole write). Value writes are
//! run-time data: transactional, not audited, and they bump the value sequence, not the change
//! sequence; each fires a `DataChange` event once committed.

pub mod values;
pub mod writer;

use std::sync::Arc;

use ironworx_entity::queries::data::{self, PropertyValueRow};
use ironworx_entity::queries::now_ms;
use ironworx_entity::vocab::{Collection, PermissionKind};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use crate::authz::{EntityIdx, Outcome, Target};
use crate::domain::Ctx;
use crate::error::ApiError;
use crate::model::{ThingDefinitions, ThingValues};
use crate::state::AppState;

/// Which properties a call reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection<'a> {
    /// The one property named.
    One(&'a str),
    /// Every property (`*`).
    All,
}

/// The value and lifecycle services every Thing has.
pub const THING_SERVICES: &[&str] = &[
    "GetPropertyValues",
    "SetPropertyValues",
    "UpdatePropertyValues",
    "EnableThing",
    "DisableThing",
    "RestartThing",
    "IsEnabled",
];

/// The resource name of every property.
pub const ALL: &str = "*";

/// The InfoTable of one row holding the values of `which` properties of the Thing `thing`
/// that the caller may read, with their field definitions.
pub async fn read_properties(
    state: &AppState,
    ctx: &Ctx,
    thing: &str,
    which: Selection<'_>,
) -> Result<Value, ApiError> {
    let (_, idx) = ctx.visible_entity(Collection::Things.as_str(), thing)?;
    if let Selection::One(property) = which {
        ctx.require(Target::Entity(idx), PermissionKind::PropertyRead, property)?;
    }
    let thing = thing_of(state, ctx, thing).await?;
    state
        .models
        .with_values(thing.id(), ctx.sequences.values, |stored| {
            let properties = properties_of(&thing, stored);
            match which {
                Selection::All => {
                    let may_read = |name: &str| {
                        ctx.decide(Target::Entity(idx), PermissionKind::PropertyRead, name)
                            == Outcome::Allow
                    };
                    let (table, readable) = readable_table(&properties, stored, &may_read);
                    if readable == 0 {
                        ctx.require(Target::Entity(idx), PermissionKind::PropertyRead, ALL)?;
                    }
                    Ok(table)
                }
                Selection::One(property) => {
                    let found =
                        properties
                            .iter()
                            .find(|p| p.name == property)
                            .ok_or_else(|| {
                                ApiError::missing(
                                    Collection::Things,
                                    thing.name(),
                                    "property",
                                    property,
                                )
                            })?;
                    Ok(info_table(&[found], stored))
                }
            }
        })
        .await?
}

/// The InfoTable of one row holding the properties of `properties` that `may_read` lets the
/// caller read, and how many those are.
pub fn readable_table(
    properties: &[PropertyInfo],
    stored: &ThingValues,
    may_read: &dyn Fn(&str) -> bool,
) -> (Value, usize) {
    let readable: Vec<&PropertyInfo> = properties.iter().filter(|p| may_read(p.name)).collect();
    (info_table(&readable, stored), readable.len())
}

/// Writes `values` (property name to value) to the Thing `thing`: every one checked first
/// (see the module), then all in one transaction; `which` names the one property the call is
/// for, when it is for one.
pub async fn write_properties(
    state: &AppState,
    ctx: &Ctx,
    thing: &str,
    which: Selection<'_>,
    values: Map<String, Value>,
) -> Result<(), ApiError> {
    let (_, idx) = ctx.visible_entity(Collection::Things.as_str(), thing)?;
    if let Selection::One(property) = which {
        ctx.require(Target::Entity(idx), PermissionKind::PropertyWrite, property)?;
        if values.len() != 1 || !values.contains_key(property) {
            return Err(ApiError::BadRequest(format!(
                "the body must be {{\"{property}\": <value>}}"
            )));
        }
    }
    let now = now_ms();
    let entries: Vec<Entry> = values
        .into_iter()
        .map(|(name, value)| Entry {
            name,
            value,
            time: now,
            quality: "GOOD".to_owned(),
        })
        .collect();
    write_entries(state, ctx, thing, which, entries).await
}

/// Writes `entries` (each with its own time and quality) to the Thing `thing`: every one
/// checked first (see the module), then all committed together; `which` names the one
/// property the call is for, when it is for one.
pub async fn write_entries(
    state: &AppState,
    ctx: &Ctx,
    thing: &str,
    which: Selection<'_>,
    entries: Vec<Entry>,
) -> Result<(), ApiError> {
    let (_, idx) = ctx.visible_entity(Collection::Things.as_str(), thing)?;
    let thing = thing_of(state, ctx, thing).await?;
    let writes = state
        .models
        .with_values(thing.id(), ctx.sequences.values, |stored| {
            let properties = properties_of(&thing, stored);
            let find = |name: &str| properties.iter().find(|p| p.name == name).copied();
            if let Selection::One(property) = which
                && find(property).is_none()
            {
                return Err(ApiError::missing(
                    Collection::Things,
                    thing.name(),
                    "property",
                    property,
                ));
            }
            let writes = check_writes(ctx, idx, thing.name(), find, entries)?;
            let olds: Vec<Value> = writes
                .iter()
                .map(|w| match stored.get(w.name.as_str()) {
                    Some(old) => serde_json::json!({
                        "value": old.value,
                        "time": old.time,
                        "quality": &*old.quality,
                    }),
                    None => serde_json::json!({ "value": null, "time": 0, "quality": "UNKNOWN" }),
                })
                .collect();
            Ok::<_, ApiError>((writes, olds))
        })
        .await??;
    let (writes, olds) = writes;
    state.values.write(thing.id(), writes.clone()).await?;
    announce(
        state,
        Some(&ctx.caller.name),
        0,
        thing.name(),
        &writes,
        &olds,
    );
    Ok(())
}

/// The Thing `name` from the model in memory, as current as the caller's index; 404 when it
/// is not there (deleted since the index was read).
async fn thing_of(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<Arc<ThingDefinitions>, ApiError> {
    state
        .models
        .thing(name, ctx.sequences)
        .await?
        .ok_or(ApiError::NotFound)
}

/// One property of a Thing as the value routes see it: from its effective definition, or, for
/// a value stored without one (imported data), from the value.
#[derive(Clone, Copy, Debug)]
pub struct PropertyInfo<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its base type.
    pub base_type: &'a str,
    /// The aspects of its definition.
    pub aspects: Option<&'a Value>,
}

impl PropertyInfo<'_> {
    /// Whether writes through the API are refused.
    pub fn is_read_only(&self) -> bool {
        self.aspects
            .and_then(|a| a.get("isReadOnly"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Every property of `thing`: its effective definitions in order, then the values stored
/// without a definition.
pub fn properties_of<'a>(
    thing: &'a ThingDefinitions,
    stored: &'a ThingValues,
) -> Vec<PropertyInfo<'a>> {
    let defined = thing.properties.iter().map(|p| PropertyInfo {
        name: &p.definition.name,
        base_type: &p.definition.base_type,
        aspects: p.definition.aspects.as_deref(),
    });
    let undefined = stored
        .iter()
        .filter(|(name, _)| thing.property(name).is_none())
        .map(|(name, value)| PropertyInfo {
            name,
            base_type: &value.base_type,
            aspects: None,
        });
    defined.chain(undefined).collect()
}

/// The one-row InfoTable of `properties` with their aspects and current values.
pub fn info_table(properties: &[&PropertyInfo], stored: &ThingValues) -> Value {
    let fields: Vec<(&str, &str, Value)> = properties
        .iter()
        .map(|p| (p.name, p.base_type, values::field_aspects(p.aspects)))
        .collect();
    let row: Map<String, Value> = properties
        .iter()
        .map(|p| {
            let value = match stored.get(p.name) {
                Some(held) => held.value.clone(),
                None => values::default_value(p.base_type, p.aspects),
            };
            (p.name.to_owned(), value)
        })
        .collect();
    values::table(&fields, vec![Value::Object(row)])
}

/// A value a caller asks to write, not yet checked.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The property.
    pub name: String,
    /// The value as sent.
    pub value: Value,
    /// Its time (epoch ms).
    pub time: i64,
    /// Its quality.
    pub quality: String,
}

/// Checks what a caller asks to write to the Thing `thing`, whose properties `find` looks up:
/// PropertyWrite on every name first (one denial refuses everything), then that each property
/// exists, is not read-only, and that each value fits its base type (400 otherwise). Nothing
/// is written here.
fn check_writes<'a>(
    ctx: &Ctx,
    idx: EntityIdx,
    thing: &str,
    find: impl Fn(&str) -> Option<PropertyInfo<'a>>,
    entries: Vec<Entry>,
) -> Result<Vec<PropertyWrite>, ApiError> {
    for entry in &entries {
        ctx.require(
            Target::Entity(idx),
            PermissionKind::PropertyWrite,
            &entry.name,
        )?;
    }
    let mut writes: Vec<PropertyWrite> = Vec::with_capacity(entries.len());
    for entry in entries {
        let property = find(&entry.name).ok_or_else(|| {
            ApiError::BadRequest(format!("Thing '{thing}' has no property '{}'", entry.name))
        })?;
        if property.is_read_only() {
            return Err(ApiError::BadRequest(format!(
                "property '{}' of Thing '{thing}' is read-only",
                entry.name
            )));
        }
        let value = values::check(property.base_type, entry.value)
            .map_err(|why| ApiError::BadRequest(format!("property '{}': {why}", entry.name)))?;
        let write = PropertyWrite {
            name: entry.name,
            base_type: property.base_type.to_owned(),
            value,
            time: entry.time,
            quality: entry.quality,
        };
        match writes.iter_mut().find(|w| w.name == write.name) {
            Some(earlier) => *earlier = write,
            None => writes.push(write),
        }
    }
    Ok(writes)
}

/// One checked value to write.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyWrite {
    /// The property.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// The canonical value.
    pub value: Value,
    /// Its time (epoch ms).
    pub time: i64,
    /// Its quality (`GOOD`, …).
    pub quality: String,
}

/// Writes checked values of the Thing inside the caller's transaction. Every property write of
/// every route goes through here, so that firing DataChange events is one addition.
pub async fn store_values<C: ConnectionTrait>(
    db: &C,
    thing_id: i64,
    writes: &[PropertyWrite],
) -> Result<(), ApiError> {
    for write in writes {
        data::set_property_value(
            db,
            &PropertyValueRow {
                id: 0,
                entity_id: thing_id,
                name: write.name.clone(),
                base_type: write.base_type.clone(),
                value: Some(write.value.clone()),
                value_time: write.time,
                quality: write.quality.clone(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Fires a `DataChange` event for every written property, once the write is committed (a
/// subscriber never hears of a value that was rolled back), made by `user`, `depth`
/// subscription firings deep; `olds` holds each write's previous value (`{value, time,
/// quality}`) when it was read, in the order of `writes`.
pub fn announce(
    state: &crate::state::AppState,
    user: Option<&str>,
    depth: u32,
    thing: &str,
    writes: &[PropertyWrite],
    olds: &[Value],
) {
    for (i, write) in writes.iter().enumerate() {
        let mut data = serde_json::json!({
            "name": write.name,
            "newValue": {
                "value": write.value,
                "time": write.time,
                "quality": write.quality,
            },
        });
        if let (Some(old), Some(object)) = (olds.get(i), data.as_object_mut()) {
            object.insert("oldValue".to_owned(), old.clone());
        }
        state
            .events
            .publish_by(thing, "DataChange", data, user, depth);
    }
}
