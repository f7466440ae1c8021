//! The model as it was at a past instant, rebuilt from the full audit record (`model_history`,
//! filled by the database's triggers): the recorded tables are read as they are now, then every
//! row change made after the instant is undone, newest first. Also the record's earliest
//! instant and its retention.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use serde_json::{Map, Value as Json};

use crate::queries::defined::DefinitionKind;
use crate::queries::facts::FactRows;
use crate::queries::permissions::{EntityRule, Rule};
use crate::queries::{QueryError, QueryResult};
use crate::schema::{model_history, model_history_start};
use crate::vocab::Collection;

/// The recorded tables: name, key column, the other columns kept (as the migration
/// `m20261207_000004_model_history` records them).
const RECORDED: &[(&str, &str, &[&str])] = &[
    ("entities", "id", &["collection", "name", "owner_id"]),
    ("things", "entity_id", &["thing_template"]),
    ("thing_templates", "entity_id", &["base_thing_template"]),
    (
        "implemented_shapes",
        "id",
        &["entity_id", "shape_name", "ordinal"],
    ),
    (
        "group_members",
        "id",
        &["group_id", "member_id", "member_type"],
    ),
    (
        "organizational_units",
        "id",
        &["organization_id", "name", "parent_id"],
    ),
    (
        "organizational_unit_members",
        "id",
        &["unit_id", "member_id", "member_type"],
    ),
    (
        "entity_permissions",
        "id",
        &[
            "entity_id",
            "instance",
            "kind",
            "resource",
            "principal_type",
            "principal_name",
            "allow",
        ],
    ),
    (
        "collection_permissions",
        "id",
        &[
            "collection",
            "kind",
            "resource",
            "principal_type",
            "principal_name",
            "allow",
        ],
    ),
    (
        "property_definitions",
        "id",
        &["entity_id", "name", "ordinal"],
    ),
    ("service_definitions", "id", &["entity_id", "name"]),
    ("event_definitions", "id", &["entity_id", "name"]),
];

type Row = Map<String, Json>;

/// The model at an instant: what the authorization index is built from, and the definitions
/// (entity id, kind, name) in the order [`crate::queries::defined::all_defined`] gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PastModel {
    /// The facts.
    pub facts: FactRows,
    /// The definitions.
    pub definitions: Vec<(i64, DefinitionKind, String)>,
}

/// What a rebuild gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebuilt {
    /// The model at the instant.
    At(Box<PastModel>),
    /// The instant is older than the record: the earliest instant it can rebuild.
    TooEarly(i64),
}

/// The earliest instant (milliseconds since the epoch) the record can rebuild the model at.
pub async fn earliest<C: ConnectionTrait>(db: &C) -> QueryResult<i64> {
    Ok(model_history_start::Entity::find_by_id(1)
        .one(db)
        .await?
        .map(|r| r.since)
        .unwrap_or(i64::MAX))
}

/// Drops the row changes recorded before `cutoff` (milliseconds since the epoch); the earliest
/// instant becomes `cutoff`. The audit log itself stays whole (the database keeps it
/// append-only). Returns how many rows were dropped.
pub async fn prune<C: ConnectionTrait>(db: &C, cutoff: i64) -> QueryResult<u64> {
    if earliest(db).await? >= cutoff {
        return Ok(0);
    }
    // The earliest instant moves first: a rebuild at or after it never needs what goes.
    model_history_start::Entity::update_many()
        .col_expr(
            model_history_start::Column::Since,
            sea_orm::sea_query::Expr::value(cutoff),
        )
        .filter(model_history_start::Column::Id.eq(1))
        .exec(db)
        .await?;
    let a = model_history::Entity::delete_many()
        .filter(model_history::Column::At.lt(cutoff))
        .exec(db)
        .await?;
    Ok(a.rows_affected)
}

/// The model as it was at `at` (milliseconds since the epoch). Call it inside a transaction
/// for a consistent snapshot.
pub async fn read_at<C: ConnectionTrait>(db: &C, at: i64) -> QueryResult<Rebuilt> {
    let since = earliest(db).await?;
    if at < since {
        return Ok(Rebuilt::TooEarly(since));
    }
    let mut tables: BTreeMap<&str, BTreeMap<i64, Row>> = BTreeMap::new();
    for (table, key, columns) in RECORDED {
        tables.insert(table, read_table(db, table, key, columns).await?);
    }
    let later = model_history::Entity::find()
        .filter(model_history::Column::At.gt(at))
        .order_by_desc(model_history::Column::Id)
        .all(db)
        .await?;
    for change in later {
        let Some(rows) = tables.get_mut(change.table_name.as_str()) else {
            continue;
        };
        match change.row_before.as_deref() {
            Some(before) => {
                rows.insert(change.row_key, parse_row(before)?);
            }
            None => {
                rows.remove(&change.row_key);
            }
        }
    }
    Ok(Rebuilt::At(Box::new(model(&tables)?)))
}

/// Every row of `table` now, the kept columns as JSON, by key.
async fn read_table<C: ConnectionTrait>(
    db: &C,
    table: &str,
    key: &str,
    columns: &[&str],
) -> QueryResult<BTreeMap<i64, Row>> {
    let backend = db.get_database_backend();
    let pairs: Vec<String> = std::iter::once(key)
        .chain(columns.iter().copied())
        .map(|c| format!("'{c}', {c}"))
        .collect();
    let object = match backend {
        DbBackend::Postgres => format!("json_build_object({})::text", pairs.join(", ")),
        _ => format!("json_object({})", pairs.join(", ")),
    };
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT {key}, {object} FROM {table}"),
        ))
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let id: i64 = row.try_get_by_index(0)?;
        let text: String = row.try_get_by_index(1)?;
        out.insert(id, parse_row(&text)?);
    }
    Ok(out)
}

fn parse_row(text: &str) -> QueryResult<Row> {
    match serde_json::from_str(text) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(QueryError::Refused(format!(
            "the audit record holds a row that is not an object: {text}"
        ))),
    }
}

fn bad(row: &Row, column: &str) -> QueryError {
    QueryError::Refused(format!(
        "the audit record's row {} has no usable '{column}'",
        Json::Object(row.clone())
    ))
}

fn int(row: &Row, column: &str) -> QueryResult<i64> {
    row.get(column)
        .and_then(Json::as_i64)
        .ok_or_else(|| bad(row, column))
}

fn opt_int(row: &Row, column: &str) -> QueryResult<Option<i64>> {
    match row.get(column) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| bad(row, column)),
    }
}

fn text(row: &Row, column: &str) -> QueryResult<String> {
    row.get(column)
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad(row, column))
}

/// A boolean as either database writes it in JSON (`true`, or SQLite's `1`).
fn boolean(row: &Row, column: &str) -> QueryResult<bool> {
    match row.get(column) {
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) => Ok(n.as_i64() != Some(0)),
        _ => Err(bad(row, column)),
    }
}

fn rule(row: &Row) -> QueryResult<Rule> {
    Ok(Rule {
        kind: text(row, "kind")?.parse()?,
        resource: text(row, "resource")?,
        principal_type: text(row, "principal_type")?.parse()?,
        principal_name: text(row, "principal_name")?,
        allow: boolean(row, "allow")?,
    })
}

fn rows<'a>(tables: &'a BTreeMap<&str, BTreeMap<i64, Row>>, table: &str) -> Vec<&'a Row> {
    tables
        .get(table)
        .map(|t| t.values().collect())
        .unwrap_or_default()
}

/// The facts and definitions of the rebuilt tables, in the orders the live reads give.
fn model(tables: &BTreeMap<&str, BTreeMap<i64, Row>>) -> QueryResult<PastModel> {
    let mut facts = FactRows::default();
    for r in rows(tables, "entities") {
        facts.entities.push((
            int(r, "id")?,
            text(r, "collection")?,
            text(r, "name")?,
            opt_int(r, "owner_id")?,
        ));
    }
    for r in rows(tables, "things") {
        facts
            .thing_templates
            .push((int(r, "entity_id")?, text(r, "thing_template")?));
    }
    for r in rows(tables, "thing_templates") {
        facts
            .template_bases
            .push((int(r, "entity_id")?, text(r, "base_thing_template")?));
    }
    for r in rows(tables, "implemented_shapes") {
        let ordinal = i32::try_from(int(r, "ordinal")?).map_err(|_| bad(r, "ordinal"))?;
        facts
            .implemented_shapes
            .push((int(r, "entity_id")?, text(r, "shape_name")?, ordinal));
    }
    for r in rows(tables, "group_members") {
        facts
            .memberships
            .push((int(r, "group_id")?, int(r, "member_id")?));
    }
    for r in rows(tables, "organizational_units") {
        facts.units.push((
            int(r, "id")?,
            int(r, "organization_id")?,
            text(r, "name")?,
            opt_int(r, "parent_id")?,
        ));
    }
    for r in rows(tables, "organizational_unit_members") {
        facts
            .unit_members
            .push((int(r, "unit_id")?, int(r, "member_id")?));
    }
    for r in rows(tables, "entity_permissions") {
        facts.entity_rules.push(EntityRule {
            entity_id: int(r, "entity_id")?,
            instance: boolean(r, "instance")?,
            rule: rule(r)?,
        });
    }
    let mut by_collection: Vec<(Collection, Rule)> = Vec::new();
    for r in rows(tables, "collection_permissions") {
        by_collection.push((text(r, "collection")?.parse()?, rule(r)?));
    }
    for collection in Collection::ALL {
        for (c, rule) in &by_collection {
            if c == collection {
                facts.collection_rules.push((*collection, rule.clone()));
            }
        }
    }
    let mut properties = Vec::new();
    for r in rows(tables, "property_definitions") {
        properties.push((int(r, "entity_id")?, int(r, "ordinal")?, text(r, "name")?));
    }
    properties.sort_by_key(|(entity, ordinal, _)| (*entity, *ordinal));
    let mut definitions: Vec<(i64, DefinitionKind, String)> = properties
        .into_iter()
        .map(|(entity, _, name)| (entity, DefinitionKind::Property, name))
        .collect();
    for (table, kind) in [
        ("service_definitions", DefinitionKind::Service),
        ("event_definitions", DefinitionKind::Event),
    ] {
        let mut named = Vec::new();
        for r in rows(tables, table) {
            named.push((int(r, "entity_id")?, text(r, "name")?));
        }
        // Stable: rows of one entity stay in id order.
        named.sort_by_key(|(entity, _)| *entity);
        definitions.extend(named.into_iter().map(|(e, n)| (e, kind, n)));
    }
    Ok(PastModel { facts, definitions })
}
