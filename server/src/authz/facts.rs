//! The facts the authorization core decides from: plain values read from the model, with no
//! database types, so the core can be built and tested without I/O.

use std::collections::BTreeSet;

use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::Collection;

/// One entity, with what authorization needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityFact {
    /// The entity id in the database.
    pub id: i64,
    /// Its collection.
    pub collection: Collection,
    /// Its name.
    pub name: String,
    /// The id of the owning principal, if any: an owning user has every right on the entity
    /// (ownership follows the principal's identity, not its name).
    pub owner: Option<i64>,
    /// For a Thing its ThingTemplate; for a ThingTemplate its base template; else empty.
    pub template: String,
    /// The ThingShapes it implements, in declaration order.
    pub shapes: Vec<String>,
}

/// A unit of an organization's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitFact {
    /// The unit id in the database.
    pub id: i64,
    /// The organization (entity id).
    pub organization: i64,
    /// The unit's name inside its organization.
    pub name: String,
    /// The parent unit, `None` for the root unit.
    pub parent: Option<i64>,
}

/// Everything one decision may depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The change sequence value these facts were read at.
    pub sequence: i64,
    /// Every entity of every collection (users, groups and organizations included).
    pub entities: Vec<EntityFact>,
    /// Group memberships: (group entity id, member entity id).
    pub memberships: Vec<(i64, i64)>,
    /// Every unit of every organization.
    pub units: Vec<UnitFact>,
    /// Unit memberships: (unit id, member entity id).
    pub unit_members: Vec<(i64, i64)>,
    /// Rules on entities: (entity id, instance, rule).
    pub entity_rules: Vec<(i64, bool, Rule)>,
    /// Rules on collections.
    pub collection_rules: Vec<(Collection, Rule)>,
}

impl Facts {
    /// Replaces every rule of the entities `changed` (own and instance) with `rules`, all of
    /// theirs as the database now holds them, in database order, read at change sequence
    /// `sequence`. A source's rules keep their relative order, which is all the index reads
    /// of their order.
    pub fn replace_rules(
        &mut self,
        sequence: i64,
        changed: &BTreeSet<i64>,
        rules: impl IntoIterator<Item = (i64, bool, Rule)>,
    ) {
        self.entity_rules.retain(|(id, _, _)| !changed.contains(id));
        self.entity_rules.extend(rules);
        self.sequence = sequence;
    }
}
