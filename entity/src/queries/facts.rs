//! Bulk reads of everything authorization decides from, for building the in-memory index:
//! only the columns it needs, in one consistent snapshot when called inside a transaction; and
//! the read of only what changed since a sequence value, when the database can say.

use std::collections::BTreeSet;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::queries::QueryResult;
use crate::queries::permissions::{self, EntityRule, Rule};
use crate::schema::{
    entities, fact_changes, group_members, implemented_shapes, organizational_unit_members,
    organizational_units, thing_templates, things,
};
use crate::vocab::Collection;

/// Every row authorization needs, as read from the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactRows {
    /// The change sequence value the rows were read at.
    pub sequence: i64,
    /// The random mark of that value, when the database holds one ([`sequence_mark`]).
    pub mark: Option<i64>,
    /// (id, collection, name, owner id).
    pub entities: Vec<(i64, String, String, Option<i64>)>,
    /// (Thing id, ThingTemplate name).
    pub thing_templates: Vec<(i64, String)>,
    /// (ThingTemplate id, base template name).
    pub template_bases: Vec<(i64, String)>,
    /// (entity id, shape name, ordinal).
    pub implemented_shapes: Vec<(i64, String, i32)>,
    /// (group id, member id).
    pub memberships: Vec<(i64, i64)>,
    /// (unit id, organization id, name, parent unit id).
    pub units: Vec<(i64, i64, String, Option<i64>)>,
    /// (unit id, member id).
    pub unit_members: Vec<(i64, i64)>,
    /// Every entity rule.
    pub entity_rules: Vec<EntityRule>,
    /// Every collection rule.
    pub collection_rules: Vec<(Collection, Rule)>,
}

/// Reads every fact. Call it inside a transaction for a consistent snapshot; the sequence is
/// read first, so the rows are at least as new as it.
pub async fn read_fact_rows<C: ConnectionTrait>(db: &C) -> QueryResult<FactRows> {
    let sequence = crate::queries::audit::current_sequence(db).await?;
    let mark = sequence_mark(db, sequence).await?;
    let entities = entities::Entity::find()
        .select_only()
        .columns([
            entities::Column::Id,
            entities::Column::Collection,
            entities::Column::Name,
            entities::Column::OwnerId,
        ])
        .order_by_asc(entities::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let thing_templates = things::Entity::find()
        .select_only()
        .columns([things::Column::EntityId, things::Column::ThingTemplate])
        .into_tuple()
        .all(db)
        .await?;
    let template_bases = thing_templates::Entity::find()
        .select_only()
        .columns([
            thing_templates::Column::EntityId,
            thing_templates::Column::BaseThingTemplate,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let implemented_shapes = implemented_shapes::Entity::find()
        .select_only()
        .columns([
            implemented_shapes::Column::EntityId,
            implemented_shapes::Column::ShapeName,
            implemented_shapes::Column::Ordinal,
        ])
        .order_by_asc(implemented_shapes::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let memberships = group_members::Entity::find()
        .select_only()
        .columns([
            group_members::Column::GroupId,
            group_members::Column::MemberId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let units = organizational_units::Entity::find()
        .select_only()
        .columns([
            organizational_units::Column::Id,
            organizational_units::Column::OrganizationId,
            organizational_units::Column::Name,
            organizational_units::Column::ParentId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let unit_members = organizational_unit_members::Entity::find()
        .select_only()
        .columns([
            organizational_unit_members::Column::UnitId,
            organizational_unit_members::Column::MemberId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let entity_rules = permissions::all_entity_rules(db).await?;
    let mut collection_rules = Vec::new();
    for collection in Collection::ALL {
        for rule in permissions::collection_rules(db, *collection).await? {
            collection_rules.push((*collection, rule));
        }
    }
    Ok(FactRows {
        sequence,
        mark,
        entities,
        thing_templates,
        template_bases,
        implemented_shapes,
        memberships,
        units,
        unit_members,
        entity_rules,
        collection_rules,
    })
}

/// The random mark the bump to `sequence` left (`fact_changes`, entity -1), if it is kept: two
/// histories of one database (a restored backup, a promoted standby) that reach the same value
/// tell apart by it.
pub async fn sequence_mark<C: ConnectionTrait>(db: &C, sequence: i64) -> QueryResult<Option<i64>> {
    Ok(fact_changes::Entity::find()
        .filter(fact_changes::Column::Seq.eq(sequence))
        .filter(fact_changes::Column::EntityId.eq(-1))
        .one(db)
        .await?
        .and_then(|row| row.mark))
}

/// What changed since a sequence value: everything (read again whole), or the rules of a few
/// entities (none: nothing the index is built from changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FactChanges {
    /// The database cannot say what changed, or too much did: every fact, read again.
    All(Box<FactRows>),
    /// Only rules of entities changed, or nothing did.
    Rules {
        /// The change sequence value the rows were read at.
        sequence: i64,
        /// Its mark ([`sequence_mark`]).
        mark: Option<i64>,
        /// The entities whose rules changed (each one's rules are all in `rules`); empty when
        /// nothing the index is built from changed.
        entities: BTreeSet<i64>,
        /// Every rule of those entities now, in the order a full read gives.
        rules: Vec<EntityRule>,
    },
}

/// Entities whose rules are read again at most; more than that reads everything.
pub const CHANGED_ENTITIES_MAX: usize = 2_000;

/// What changed since sequence value `since`, whose mark was `mark`, from `fact_changes`
/// (which the database fills itself): the rules of the entities it names. Everything is read
/// when it names anything else, when a change is not stamped yet, when the database no longer
/// holds `since` with that mark (too old, or another history), or when more than
/// [`CHANGED_ENTITIES_MAX`] entities changed. Call it inside a transaction for a consistent
/// snapshot.
pub async fn read_fact_changes<C: ConnectionTrait>(
    db: &C,
    since: i64,
    mark: Option<i64>,
) -> QueryResult<FactChanges> {
    let sequence = crate::queries::audit::current_sequence(db).await?;
    let all = || async { Ok(FactChanges::All(Box::new(read_fact_rows(db).await?))) };
    if since <= 0 || mark.is_none() || sequence_mark(db, since).await? != mark {
        return all().await;
    }
    // Something other than rules, or a change not stamped yet: read everything.
    let unknown = fact_changes::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(fact_changes::Column::Seq.gt(since))
                        .add(fact_changes::Column::EntityId.eq(0)),
                )
                .add(fact_changes::Column::Seq.is_null()),
        )
        .one(db)
        .await?;
    if unknown.is_some() {
        return all().await;
    }
    let limit = u64::try_from(CHANGED_ENTITIES_MAX + 1).unwrap_or(u64::MAX);
    let changed: BTreeSet<i64> = fact_changes::Entity::find()
        .select_only()
        .column(fact_changes::Column::EntityId)
        .distinct()
        .filter(fact_changes::Column::Seq.gt(since))
        .filter(fact_changes::Column::EntityId.gt(0))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    if changed.len() > CHANGED_ENTITIES_MAX {
        return all().await;
    }
    let ids: Vec<i64> = changed.iter().copied().collect();
    let rules = permissions::entity_rules_of(db, &ids).await?;
    Ok(FactChanges::Rules {
        sequence,
        mark: sequence_mark(db, sequence).await?,
        entities: changed,
        rules,
    })
}
