//! One state of the model as the forensic commands compare it: the authorization index and
//! the names of what every entity defines, read from a database in one snapshot (now, or at a
//! past instant rebuilt from the full audit record). An export
//! becomes such a state by being imported (storage mode, as `ironworx import` does) into a
//! throw-away SQLite database that is deleted afterwards, so an export is judged by exactly
//! the import pipeline and evaluator the server runs.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use ironworx_entity::queries::QueryError;
use ironworx_entity::queries::defined::{DefinitionKind, all_defined};
use ironworx_entity::queries::facts::read_fact_rows;
use ironworx_entity::queries::model_history::{PastModel, Rebuilt, read_at as read_model_at};
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType, builtin};
use ironworx_importer::model::values::format_date;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::{Caller, ImportError, Limits};
use sea_orm::{DatabaseConnection, DbErr};

use crate::authz::{AuthzIndex, EntityIdx, Facts};

/// How long the throw-away database of an export waits for a connection.
const SCRATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a state of the model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The export could not be imported.
    #[error("cannot read the export {path}: {source}")]
    Import {
        /// The export.
        path: String,
        /// Why.
        source: ImportError,
    },
    /// The instant is older than what the audit record can rebuild.
    #[error(
        "cannot rebuild the model as it was at {at}: the audit record starts at {earliest}, \
         the earliest instant available"
    )]
    TooEarly {
        /// The instant asked for.
        at: String,
        /// The earliest instant the record can rebuild.
        earliest: String,
    },
    /// The throw-away database could not be made.
    #[error("cannot prepare a scratch database for the export: {0}")]
    Scratch(String),
}

/// What one entity defines itself, by kind, in definition order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defined {
    /// Property names.
    pub properties: Vec<String>,
    /// Service names.
    pub services: Vec<String>,
    /// Event names.
    pub events: Vec<String>,
}

impl Defined {
    /// The names run-time permission `kind` can name (none for other kinds).
    pub fn names(&self, kind: PermissionKind) -> &[String] {
        match kind {
            PermissionKind::PropertyRead | PermissionKind::PropertyWrite => &self.properties,
            PermissionKind::ServiceInvoke => &self.services,
            PermissionKind::EventInvoke | PermissionKind::EventSubscribe => &self.events,
            _ => &[],
        }
    }
}

/// Where rules sit, by name rather than database id, so that two states read from different
/// databases (an export and the live model) can be compared rule by rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleSource {
    /// An entity's own rules.
    Own(Collection, String),
    /// The instance rules of a ThingTemplate or ThingShape.
    Instance(Collection, String),
    /// A collection's rules.
    Collection(Collection),
}

/// One rule by name: permission, resource, principal type, principal name, allow.
pub type RuleKey = (PermissionKind, String, PrincipalType, String, bool);

/// One state of the model.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The authorization index of that state.
    pub index: AuthzIndex,
    /// What each entity (by database id) defines itself.
    pub defined: HashMap<i64, Defined>,
    /// Every rule of the state by where it sits, each source's rules sorted and distinct.
    pub rules: HashMap<RuleSource, Vec<RuleKey>>,
}

impl Snapshot {
    /// A state from its facts and the definitions rows (entity id, kind, name).
    pub fn new(
        facts: &Facts,
        definitions: impl IntoIterator<Item = (i64, DefinitionKind, String)>,
    ) -> Snapshot {
        let index = AuthzIndex::build(facts);
        let rules = rules_by_source(facts);
        let mut defined: HashMap<i64, Defined> = HashMap::new();
        for (entity, kind, name) in definitions {
            let slot = defined.entry(entity).or_default();
            let names = match kind {
                DefinitionKind::Property => &mut slot.properties,
                DefinitionKind::Service => &mut slot.services,
                DefinitionKind::Event => &mut slot.events,
            };
            names.push(name);
        }
        Snapshot {
            index,
            defined,
            rules,
        }
    }

    /// Every entity of the state, with its collection and name.
    pub fn entities(&self) -> impl Iterator<Item = (EntityIdx, Collection, &str)> + '_ {
        (0..self.index.entity_count()).filter_map(|i| {
            let idx = EntityIdx::try_from(i).ok()?;
            let node = self.index.entity(idx)?;
            Some((idx, node.collection, node.name.as_str()))
        })
    }

    /// The property, service or event names (as `kind` asks) the entity at `idx` defines,
    /// with those a Thing inherits from its templates and shapes, first definition first.
    pub fn resources(&self, idx: EntityIdx, kind: PermissionKind) -> Vec<&str> {
        let mut definers: Vec<EntityIdx> = vec![idx];
        if let Some(hot) = self.index.hot(idx) {
            let (templates, shapes) = self.index.levels(hot);
            definers.extend(templates);
            definers.extend(shapes);
        }
        let mut names: Vec<&str> = Vec::new();
        for definer in definers {
            let Some(node) = self.index.entity(definer) else {
                continue;
            };
            for name in self
                .defined
                .get(&node.id)
                .map(|d| d.names(kind))
                .unwrap_or(&[])
            {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// The rules of `facts` by source; rules on an entity the facts do not hold are left out, as
/// the index leaves them out.
fn rules_by_source(facts: &Facts) -> HashMap<RuleSource, Vec<RuleKey>> {
    let key = |rule: &Rule| -> RuleKey {
        (
            rule.kind,
            rule.resource.clone(),
            rule.principal_type,
            rule.principal_name.clone(),
            rule.allow,
        )
    };
    let names: HashMap<i64, (Collection, &str)> = facts
        .entities
        .iter()
        .map(|e| (e.id, (e.collection, e.name.as_str())))
        .collect();
    let mut rules: HashMap<RuleSource, Vec<RuleKey>> = HashMap::new();
    for (id, instance, rule) in &facts.entity_rules {
        let Some((collection, name)) = names.get(id) else {
            continue;
        };
        let source = if *instance {
            RuleSource::Instance(*collection, (*name).to_owned())
        } else {
            RuleSource::Own(*collection, (*name).to_owned())
        };
        rules.entry(source).or_default().push(key(rule));
    }
    for (collection, rule) in &facts.collection_rules {
        rules
            .entry(RuleSource::Collection(*collection))
            .or_default()
            .push(key(rule));
    }
    for keys in rules.values_mut() {
        keys.sort_unstable();
        keys.dedup();
    }
    rules
}

/// Reads the state of the model in `db` now, in one read-only snapshot.
pub async fn read(db: &DatabaseConnection) -> Result<Snapshot, SnapshotError> {
    let (facts, definitions) = read_facts(db).await?;
    Ok(Snapshot::new(&facts, definitions))
}

/// The facts of the model in `db` now and what each entity defines, in one read-only
/// snapshot: what [`read`] builds a state from, for a caller that changes the facts first (a
/// preview of a change).
pub async fn read_facts(db: &DatabaseConnection) -> Result<(Facts, Definitions), SnapshotError> {
    let txn = crate::live_index::snapshot_transaction(db).await?;
    let rows = read_fact_rows(&txn).await?;
    let definitions = all_defined(&txn).await?;
    txn.commit().await?;
    Ok((crate::live_index::facts_from_rows(rows), definitions))
}

/// Reads the state of the model in `db` as it was at `at` (milliseconds since the epoch),
/// rebuilt from the full audit record in one read-only snapshot; refused when the record does
/// not reach back that far.
pub async fn read_at(db: &DatabaseConnection, at: i64) -> Result<Snapshot, SnapshotError> {
    let txn = crate::live_index::snapshot_transaction(db).await?;
    let rebuilt = read_model_at(&txn, at).await?;
    txn.commit().await?;
    match rebuilt {
        Rebuilt::At(past) => {
            let PastModel { facts, definitions } = *past;
            let facts = crate::live_index::facts_from_rows(facts);
            Ok(Snapshot::new(&facts, definitions))
        }
        Rebuilt::TooEarly(earliest) => Err(SnapshotError::TooEarly {
            at: format_date(at),
            earliest: format_date(earliest),
        }),
    }
}

/// What every entity defines: (entity id, kind, name) rows.
pub type Definitions = Vec<(i64, DefinitionKind, String)>;

/// The state an export describes: the export imported in storage mode (collection rules
/// included) into a bootstrapped throw-away SQLite database, which is deleted afterwards.
pub async fn from_export(path: &Path, limits: &Limits) -> Result<Snapshot, SnapshotError> {
    let scratch = tempfile::tempdir().map_err(|e| SnapshotError::Scratch(e.to_string()))?;
    let url = crate::config::sqlite_url(&scratch.path().join("state.db"))
        .map_err(|e| SnapshotError::Scratch(e.to_string()))?;
    let db = crate::db::connect_with_timeout(&url, SCRATCH_TIMEOUT).await?;
    let result = import_and_read(&db, scratch.path(), path, limits).await;
    db.close().await?;
    result
}

async fn import_and_read(
    db: &DatabaseConnection,
    scratch: &Path,
    path: &Path,
    limits: &Limits,
) -> Result<Snapshot, SnapshotError> {
    crate::db::migrate(db).await?;
    // Nobody logs in to this database: its Administrator gets a password no one sees.
    let password = crate::auth::hashing::generate_password();
    crate::bootstrap::bootstrap(db, Some(&password), scratch)
        .await
        .map_err(|e| SnapshotError::Scratch(e.to_string()))?;
    crate::transfer::import_path(
        db,
        path,
        limits,
        PlanOptions {
            mode: Mode::Storage,
            strict: false,
        },
        &Caller::full(builtin::ADMINISTRATOR),
    )
    .await
    .map_err(|source| SnapshotError::Import {
        path: path.display().to_string(),
        source,
    })?;
    read(db).await
}
