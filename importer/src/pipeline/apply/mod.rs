//! The apply step: writes a [`Plan`] in one transaction with batched inserts. A failure rolls
//! everything back, so the database is exactly as it was. An entity that exists already is
//! replaced (its row keeps its id, so rules and memberships naming it stay); memberships and
//! localization tokens are only ever added, as ThingWorx does. A two-pass import hands the
//! Things over as a [`ThingStream`], written in their place in the same transaction.

mod collection;
mod lookups;
mod membership;
mod rule_rows;
mod vocabulary;

use std::collections::{BTreeMap, HashMap, HashSet};

use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::bulk::{self, insert_all};
use ironworx_entity::queries::groups::all_memberships;
use ironworx_entity::queries::now_ms;
use ironworx_entity::schema::{
    collection_permissions, configuration_tables, data_shapes, entities, entity_permissions,
    entity_tags, event_definitions, field_definitions, group_members, groups, implemented_shapes,
    localization_tokens, organizational_unit_members, organizational_units, organizations,
    property_definitions, property_values, service_definitions, service_implementations,
    subscriptions, thing_shapes, thing_templates, things, user_extension_values, vocabulary_terms,
};
use ironworx_entity::vocab::{Collection, MemberType, PrincipalType, Tag};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ActiveValue::Unchanged, ConnectionTrait,
    DatabaseConnection, TransactionTrait,
};
use serde_json::{Map, Value as Json, json};

use crate::caller::Caller;
use crate::error::ImportError;

mod trusted;

use crate::model::{Definitions, Entity, EntityRule, Kind};
use crate::plan::{Dropped, Membership, Plan, PlannedThing};
use crate::stored;
use collection::*;
pub use lookups::known;
use membership::*;
use rule_rows::*;
use trusted::{WriteContext, write_app_key, write_user};
use vocabulary::*;

/// How application-key secrets are stored: the server hashes and seals them.
pub trait KeySecrets: Sync {
    /// The stored hash of a key id.
    fn hash(&self, key_id: &str) -> String;
    /// The key id sealed for `GetKeyID`, when sealing is available.
    fn seal(&self, key_id: &str) -> Option<String>;
    /// The key id from its sealed form (for exports that keep secrets).
    fn open(&self, sealed: &str) -> Option<String>;
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Entities created, per collection.
    pub created: BTreeMap<Collection, usize>,
    /// Entities replaced (they existed), per collection.
    pub replaced: BTreeMap<Collection, usize>,
    /// Entity rules written (own rules).
    pub entity_rules: usize,
    /// Instance rules written.
    pub instance_rules: usize,
    /// Collection rules written (storage mode).
    pub collection_rules: usize,
    /// Collection-level rules ignored (file mode).
    pub ignored_collection_rules: usize,
    /// Memberships added.
    pub memberships: usize,
    /// Principals named but defined nowhere; their rules and memberships were dropped.
    pub dropped: Vec<Dropped>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The change sequence value of the import's commit.
    pub change_sequence: i64,
}

impl Report {
    /// Entities written (created or replaced), all collections.
    pub fn entities(&self) -> usize {
        self.created.values().sum::<usize>() + self.replaced.values().sum::<usize>()
    }
}

/// Entities written per round of batched statements.
pub(crate) const ENTITY_CHUNK: usize = 1_000;
/// Rule rows collected before they are written.
const ROW_CHUNK: usize = 10_000;

fn db_err(err: impl std::fmt::Display) -> ImportError {
    ImportError::Db(err.to_string())
}

/// Applies `plan` in one transaction, writing what `caller` may set (its name is recorded in
/// the audit log).
pub async fn apply(
    db: &DatabaseConnection,
    plan: Plan,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let txn = db.begin().await.map_err(db_err)?;
    let report = apply_in(&txn, plan, secrets, caller).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(report)
}

/// The Things of a two-pass import, planned as its second pass reads them.
pub struct ThingStream {
    /// The name of every Thing to come (looked up once, before anything is written).
    pub names: Vec<String>,
    /// The planned Things, in chunks; an error ends the import.
    pub chunks: tokio::sync::mpsc::Receiver<Result<Vec<PlannedThing>, ImportError>>,
}

/// Applies `plan` and the Things of `stream` (at `plan.streamed_at`) in one transaction.
pub async fn apply_streamed(
    db: &DatabaseConnection,
    plan: Plan,
    stream: ThingStream,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let txn = db.begin().await.map_err(db_err)?;
    let report = apply_with(&txn, plan, Some(stream), secrets, caller).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(report)
}

/// Applies `plan` inside a transaction the caller owns (and commits).
pub async fn apply_in<C: ConnectionTrait>(
    db: &C,
    plan: Plan,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    apply_with(db, plan, None, secrets, caller).await
}

async fn apply_with<C: ConnectionTrait>(
    db: &C,
    plan: Plan,
    stream: Option<ThingStream>,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let mut report = Report {
        dropped: plan.dropped.clone(),
        warnings: plan.warnings.clone(),
        ignored_collection_rules: plan.ignored_collection_rules,
        ..Report::default()
    };
    let mut ids: HashMap<(Collection, String), i64> = HashMap::new();
    let mut vocabularies = Vocabularies::default();

    // Entities in plan order, in chunks of one collection each (templates are ordered inside
    // theirs), so that the rows being built stay bounded however large the import.
    let Plan {
        entities,
        rules,
        memberships,
        collection_rules,
        streamed_at,
        ..
    } = plan;
    // Which entities exist already, looked up once per collection before anything is written
    // (lookups against tables growing inside the transaction get slower with every chunk).
    let mut names: BTreeMap<Collection, Vec<String>> = BTreeMap::new();
    for e in &entities {
        names.entry(e.collection).or_default().push(e.name.clone());
    }
    let mut stream = stream;
    let mut expected_things = 0;
    if let Some(stream) = &mut stream {
        expected_things = stream.names.len();
        names
            .entry(Collection::Things)
            .or_default()
            .append(&mut stream.names);
    }
    let mut existing: HashMap<Collection, HashMap<String, i64>> = HashMap::new();
    for (collection, list) in names {
        existing.insert(collection, bulk::entity_ids(db, collection, &list).await?);
    }
    let mut writer = Writer {
        existing,
        none: HashMap::new(),
        ctx: WriteContext::new(secrets, caller),
        ids: &mut ids,
        vocabularies: &mut vocabularies,
        report: &mut report,
    };
    let mut entities = entities.into_iter();
    writer
        .entities(db, entities.by_ref().take(streamed_at))
        .await?;
    if let Some(stream) = stream {
        writer.stream(db, stream, expected_things).await?;
    }
    writer.entities(db, entities).await?;
    let Writer {
        ctx,
        report: written,
        ..
    } = writer;
    ctx.report(written);
    vocabularies.write(db).await?;
    write_memberships(db, &memberships, &mut report).await?;
    write_rules(db, &rules, &ids, &mut report).await?;
    write_collection_rules(db, &collection_rules, &mut report).await?;

    let detail = json!({
        "created": report.created.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<Map<_, _>>(),
        "replaced": report.replaced.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<Map<_, _>>(),
        "entityRules": report.entity_rules,
        "instanceRules": report.instance_rules,
        "collectionRules": report.collection_rules,
        "dropped": report.dropped.iter().map(|d| format!("{}:{}", d.principal_type, d.name)).collect::<Vec<_>>(),
    });
    report.change_sequence = audit::record(
        db,
        &Change {
            door: "import".into(),
            ..Change::by(&caller.name, "Import", detail)
        },
    )
    .await?;
    Ok(report)
}

/// Writes entities in chunks of one collection each, with what the whole import shares.
struct Writer<'a> {
    /// The entities that exist already, per collection.
    existing: HashMap<Collection, HashMap<String, i64>>,
    none: HashMap<String, i64>,
    /// Secrets, the caller and the owners the import names.
    ctx: WriteContext<'a>,
    /// The ids of the entities written (whose rules and memberships come last).
    ids: &'a mut HashMap<(Collection, String), i64>,
    vocabularies: &'a mut Vocabularies,
    report: &'a mut Report,
}

impl Writer<'_> {
    /// Writes `entities` (in plan order) in chunks of one collection each (templates are
    /// ordered inside theirs), so that the rows being built stay bounded however large the
    /// import.
    async fn entities<C: ConnectionTrait>(
        &mut self,
        db: &C,
        entities: impl Iterator<Item = Entity> + Send,
    ) -> Result<(), ImportError> {
        let mut entities = entities.peekable();
        while let Some(first) = entities.next() {
            let collection = first.collection;
            let mut chunk = vec![first];
            while chunk.len() < ENTITY_CHUNK
                && entities.peek().is_some_and(|e| e.collection == collection)
            {
                chunk.extend(entities.next());
            }
            let known = self.existing.get(&collection).unwrap_or(&self.none);
            write_collection(
                db,
                collection,
                &chunk,
                known,
                &mut self.ctx,
                self.ids,
                self.report,
            )
            .await?;
            for e in &chunk {
                self.vocabularies.note(e);
            }
        }
        Ok(())
    }

    /// Writes the Things of a two-pass import chunk by chunk as they come, each chunk with its
    /// rules (their ids are not kept); refuses a stream that ends before `expected` Things.
    async fn stream<C: ConnectionTrait>(
        &mut self,
        db: &C,
        mut stream: ThingStream,
        expected: usize,
    ) -> Result<(), ImportError> {
        let collection = Collection::Things;
        let mut received = 0usize;
        while let Some(chunk) = stream.chunks.recv().await {
            let (group, rules): (Vec<Entity>, Vec<Vec<EntityRule>>) = chunk?.into_iter().unzip();
            received += group.len();
            let known = self.existing.get(&collection).unwrap_or(&self.none);
            let mut chunk_ids = HashMap::new();
            write_collection(
                db,
                collection,
                &group,
                known,
                &mut self.ctx,
                &mut chunk_ids,
                self.report,
            )
            .await?;
            let mut rows = Vec::new();
            for (e, rules) in group.iter().zip(&rules) {
                self.vocabularies.note(e);
                if let Some(&id) = chunk_ids.get(&(collection, e.name.clone())) {
                    rule_rows(id, rules, self.report, &mut rows);
                }
            }
            insert_all(db, rows).await?;
        }
        if received != expected {
            return Err(ImportError::Db(format!(
                "the second reading pass ended after {received} of {expected} Things"
            )));
        }
        Ok(())
    }
}
