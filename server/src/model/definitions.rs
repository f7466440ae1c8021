//! The effective definitions of every Thing, built from the model rows and patched with the
//! rows of the entities a change touched: for each Thing its definers (the Thing, its
//! templates nearest first, its own shapes, then its templates' shapes) and its effective
//! property definitions (the first definition of a name wins). Pure: rows in, definitions out.

use std::collections::{BTreeSet, HashSet};

use std::sync::Arc;

use ironworx_entity::queries::thing_model::ModelRows;
use ironworx_entity::vocab::Collection;
use rustc_hash::{FxHashMap, FxHashSet};

/// An entity that contributes definitions to Things.
#[derive(Clone, Debug, PartialEq)]
pub struct DefinerRecord {
    /// Its entity id.
    pub id: i64,
    /// `Things`, `ThingTemplates` or `ThingShapes`.
    pub collection: Collection,
    /// Its name.
    pub name: Arc<str>,
    /// A Thing's template, a template's base template (empty: none).
    pub template: Arc<str>,
    /// The shapes it implements, in declaration order.
    pub shapes: Vec<Arc<str>>,
    /// Its own property definitions, in definition order.
    pub definitions: Vec<Arc<PropertyDefinition>>,
}

/// A property definition as the model keeps it: names and base types shared, aspects shared
/// between definitions that have the same ones.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyDefinition {
    /// Its name.
    pub name: Arc<str>,
    /// Its base type.
    pub base_type: Arc<str>,
    /// Its aspects.
    pub aspects: Option<Arc<serde_json::Value>>,
}

/// One effective property definition of a Thing.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveProperty {
    /// The definition.
    pub definition: Arc<PropertyDefinition>,
    /// Index into [`ThingDefinitions::definers`] of the entity defining it.
    pub definer: usize,
}

/// A Thing's effective definitions. Names and definers are shared with the records they come
/// from, so a Thing costs little more than its own rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ThingDefinitions {
    /// The Thing first, then its templates nearest first, its shapes, its templates' shapes.
    pub definers: Vec<Arc<DefinerRecord>>,
    /// Its effective properties, in definition order.
    pub properties: Vec<EffectiveProperty>,
    /// Every (collection, name) its definitions were resolved through, found or not: a change
    /// to an entity of one of these names changes this Thing.
    looked_up: Vec<(Collection, Arc<str>)>,
}

impl ThingDefinitions {
    /// The Thing's own record.
    fn own(&self) -> &DefinerRecord {
        &self.definers[0]
    }

    /// Its entity id.
    pub fn id(&self) -> i64 {
        self.own().id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.own().name
    }

    /// The effective property `name`.
    pub fn property(&self, name: &str) -> Option<&EffectiveProperty> {
        self.properties.iter().find(|p| &*p.definition.name == name)
    }
}

/// The definitions of every Thing, and the definers they were built from.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    definers: FxHashMap<i64, Arc<DefinerRecord>>,
    names: FxHashMap<(Collection, Arc<str>), i64>,
    things: FxHashMap<Arc<str>, Arc<ThingDefinitions>>,
}

impl Definitions {
    /// Definitions built from every model row.
    pub fn build(rows: ModelRows) -> Definitions {
        let mut definitions = Definitions::default();
        for record in records(rows) {
            definitions.insert_definer(record);
        }
        let things: Vec<i64> = definitions
            .definers
            .values()
            .filter(|d| d.collection == Collection::Things)
            .map(|d| d.id)
            .collect();
        for id in things {
            if let Some(thing) = definitions.resolve(id) {
                definitions
                    .things
                    .insert(Arc::clone(&thing.definers[0].name), Arc::new(thing));
            }
        }
        definitions
    }

    /// The Thing `name`.
    pub fn thing(&self, name: &str) -> Option<&Arc<ThingDefinitions>> {
        self.things.get(name)
    }

    /// How many Things there are.
    pub fn thing_count(&self) -> usize {
        self.things.len()
    }

    /// The definitions with the entities `changed` read again (`rows` holds their rows now;
    /// an entity of `changed` without rows was deleted). Returns the new definitions and the
    /// ids of the Things whose definitions changed.
    pub fn patch(&self, changed: &BTreeSet<i64>, rows: ModelRows) -> (Definitions, BTreeSet<i64>) {
        let mut next = self.clone();
        let mut touched: FxHashSet<(Collection, Arc<str>)> = FxHashSet::default();
        for id in changed {
            if let Some(old) = next.definers.remove(id) {
                next.names.remove(&(old.collection, Arc::clone(&old.name)));
                touched.insert((old.collection, Arc::clone(&old.name)));
                if old.collection == Collection::Things {
                    next.things.remove(&old.name);
                }
            }
        }
        for record in records(rows) {
            touched.insert((record.collection, Arc::clone(&record.name)));
            next.insert_definer(record);
        }
        // Things whose own entity changed, and Things resolved through a changed name.
        let mut affected: BTreeSet<i64> = changed
            .iter()
            .copied()
            .filter(|id| {
                next.definers
                    .get(id)
                    .is_some_and(|d| d.collection == Collection::Things)
            })
            .collect();
        affected.extend(
            self.things
                .values()
                .filter(|t| t.looked_up.iter().any(|n| touched.contains(n)))
                .map(|t| t.id()),
        );
        for id in &affected {
            if let Some(old) = self.definers.get(id).filter(|_| !changed.contains(id)) {
                next.things.remove(&old.name);
            }
            if let Some(thing) = next.resolve(*id) {
                next.things
                    .insert(Arc::clone(&thing.definers[0].name), Arc::new(thing));
            }
        }
        let mut changed_things: BTreeSet<i64> = affected;
        changed_things.extend(changed.iter().copied().filter(|id| {
            self.definers
                .get(id)
                .is_some_and(|d| d.collection == Collection::Things)
        }));
        (next, changed_things)
    }

    fn insert_definer(&mut self, record: DefinerRecord) {
        // Two entities never share a name in one collection; the newer row wins if they did.
        if let Some(previous) = self
            .names
            .insert((record.collection, Arc::clone(&record.name)), record.id)
            .filter(|previous| *previous != record.id)
        {
            self.definers.remove(&previous);
        }
        self.definers.insert(record.id, Arc::new(record));
    }

    fn named(&self, collection: Collection, name: &Arc<str>) -> Option<&Arc<DefinerRecord>> {
        self.names
            .get(&(collection, Arc::clone(name)))
            .and_then(|id| self.definers.get(id))
    }

    /// The effective definitions of the Thing `id`, from the definers held now.
    fn resolve(&self, id: i64) -> Option<ThingDefinitions> {
        let thing = self.definers.get(&id)?;
        let mut looked_up = Vec::new();
        let mut definers = vec![Arc::clone(thing)];
        // The template chain: a missing base ends it, a loop ends it where it loops.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut current = &thing.template;
        while !current.is_empty() && seen.insert(current) {
            looked_up.push((Collection::ThingTemplates, Arc::clone(current)));
            let Some(template) = self.named(Collection::ThingTemplates, current) else {
                break;
            };
            definers.push(Arc::clone(template));
            current = &template.template;
        }
        let mut shapes: Vec<&Arc<str>> = Vec::new();
        for definer in &definers {
            for shape in &definer.shapes {
                if !shapes.contains(&shape) {
                    shapes.push(shape);
                }
            }
        }
        let mut shape_definers = Vec::new();
        for shape in shapes {
            looked_up.push((Collection::ThingShapes, Arc::clone(shape)));
            if let Some(record) = self.named(Collection::ThingShapes, shape) {
                shape_definers.push(Arc::clone(record));
            }
        }
        definers.extend(shape_definers);
        let mut properties: Vec<EffectiveProperty> = Vec::new();
        let mut defined: FxHashSet<&str> = FxHashSet::default();
        for (index, definer) in definers.iter().enumerate() {
            for definition in &definer.definitions {
                if defined.insert(&definition.name) {
                    properties.push(EffectiveProperty {
                        definition: Arc::clone(definition),
                        definer: index,
                    });
                }
            }
        }
        properties.shrink_to_fit();
        looked_up.shrink_to_fit();
        Some(ThingDefinitions {
            definers,
            properties,
            looked_up,
        })
    }
}

/// The definer records the rows describe.
fn records(rows: ModelRows) -> Vec<DefinerRecord> {
    // Template and shape names repeat across Things: one copy of each.
    let mut names: FxHashSet<Arc<str>> = FxHashSet::default();
    let mut intern = |name: String| -> Arc<str> {
        match names.get(name.as_str()) {
            Some(held) => Arc::clone(held),
            None => {
                let held: Arc<str> = Arc::from(name);
                names.insert(Arc::clone(&held));
                held
            }
        }
    };
    let mut records: FxHashMap<i64, DefinerRecord> = FxHashMap::default();
    for row in rows.definers {
        let Ok(collection) = row.collection.parse::<Collection>() else {
            continue;
        };
        records.insert(
            row.id,
            DefinerRecord {
                id: row.id,
                collection,
                name: intern(row.name),
                template: Arc::from(""),
                shapes: Vec::new(),
                definitions: Vec::new(),
            },
        );
    }
    for (id, template) in rows.things {
        if let Some(record) = records.get_mut(&id) {
            record.template = intern(template);
        }
    }
    for (id, base) in rows.templates {
        if let Some(record) = records.get_mut(&id) {
            record.template = intern(base);
        }
    }
    for (id, shape) in rows.shapes {
        if let Some(record) = records.get_mut(&id) {
            record.shapes.push(intern(shape));
        }
    }
    // Aspects repeat across definitions (the same defaults): one copy of each.
    let mut aspects: FxHashMap<String, Arc<serde_json::Value>> = FxHashMap::default();
    for row in rows.definitions {
        let Some(record) = records.get_mut(&row.entity_id) else {
            continue;
        };
        let shared = row.aspects.map(|value| {
            let key = value.to_string();
            Arc::clone(aspects.entry(key).or_insert_with(|| Arc::new(value)))
        });
        record.definitions.push(Arc::new(PropertyDefinition {
            name: intern(row.name),
            base_type: intern(row.base_type),
            aspects: shared,
        }));
    }
    records
        .into_values()
        .map(|mut record| {
            record.shapes.shrink_to_fit();
            record.definitions.shrink_to_fit();
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ironworx_entity::queries::thing_model::{DefinerRow, PropertyDefinitionRow};

    use super::*;

    fn definer(id: i64, collection: Collection, name: &str) -> DefinerRow {
        DefinerRow {
            id,
            collection: collection.as_str().to_owned(),
            name: name.to_owned(),
        }
    }

    fn property(id: i64, entity_id: i64, name: &str, ordinal: i32) -> PropertyDefinitionRow {
        PropertyDefinitionRow {
            id,
            entity_id,
            name: name.to_owned(),
            base_type: "STRING".to_owned(),
            description: String::new(),
            category: String::new(),
            ordinal,
            is_local_only: false,
            aspects: None,
        }
    }

    fn rows() -> ModelRows {
        ModelRows {
            definers: vec![
                definer(1, Collection::Things, "T"),
                definer(2, Collection::ThingTemplates, "A"),
                definer(3, Collection::ThingTemplates, "B"),
                definer(4, Collection::ThingShapes, "S"),
            ],
            things: vec![(1, "A".into())],
            templates: vec![(2, "B".into()), (3, "Missing".into())],
            shapes: vec![(3, "S".into()), (3, "Absent".into())],
            definitions: vec![
                property(10, 1, "own", 0),
                property(11, 2, "shared", 0),
                property(12, 3, "shared", 0),
                property(13, 3, "base", 1),
                property(14, 4, "shaped", 0),
            ],
        }
    }

    #[test]
    fn the_nearest_definition_wins() {
        let defs = Definitions::build(rows());
        let thing = defs.thing("T").expect("T");
        let names: Vec<&str> = thing.definers.iter().map(|d| &*d.name).collect();
        assert_eq!(names, ["T", "A", "B", "S"]);
        let properties: Vec<(&str, usize)> = thing
            .properties
            .iter()
            .map(|p| (&*p.definition.name, p.definer))
            .collect();
        assert_eq!(
            properties,
            [("own", 0), ("shared", 1), ("base", 2), ("shaped", 3)]
        );
    }

    #[test]
    fn a_patch_equals_a_build() {
        let defs = Definitions::build(rows());
        // The missing base template appears, with a property; the shape loses its property.
        let mut after = rows();
        after
            .definers
            .push(definer(5, Collection::ThingTemplates, "Missing"));
        after.definitions.retain(|d| d.entity_id != 4);
        after.definitions.push(property(15, 5, "deep", 0));
        let changed: BTreeSet<i64> = [4, 5].into();
        let only = |ids: &BTreeSet<i64>| ModelRows {
            definers: after
                .definers
                .iter()
                .filter(|d| ids.contains(&d.id))
                .cloned()
                .collect(),
            things: vec![],
            templates: vec![],
            shapes: vec![],
            definitions: after
                .definitions
                .iter()
                .filter(|d| ids.contains(&d.entity_id))
                .cloned()
                .collect(),
        };
        let (patched, things) = defs.patch(&changed, only(&changed));
        assert_eq!(things, [1].into());
        assert_eq!(
            patched.thing("T"),
            Definitions::build(after.clone()).thing("T")
        );
        // The Thing deleted: gone.
        let (gone, things) = patched.patch(&[1].into(), ModelRows::default());
        assert!(gone.thing("T").is_none());
        assert_eq!(things, [1].into());
    }
}
