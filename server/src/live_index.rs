//! Keeps the authorization index exact. The index is built from the database at start and
//! swapped atomically when it is rebuilt; every request first compares the index's change
//! sequence with the database's, so a change made through any path (REST, the importer, another
//! server process) is seen by the next request; a request whose credential was read together
//! with the sequence ([`Security::current_at`]) does not read it again. On PostgreSQL a LISTEN
//! on the change channel rebuilds the index as soon as another process commits, so requests
//! rarely pay for it; the sequence check stays, so a lost notification can never leave a stale
//! allow. A refresh reads only the rules of the entities a change touched when the database's
//! own record of changes (`fact_changes`, filled by triggers) says that is all that changed,
//! and patches the index with them (a build from every fact when a patch cannot lay them out);
//! otherwise it reads every fact and builds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use ironworx_entity::queries::facts::{FactChanges, FactRows, read_fact_changes, read_fact_rows};
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::queries::{QueryError, audit};
use ironworx_entity::vocab::Collection;
use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    TransactionTrait,
};

use crate::authz::{AuthzIndex, EntityFact, Facts, UnitFact};

/// Why the index could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Reading the facts failed.
    #[error("cannot read the security model: {0}")]
    Query(#[from] QueryError),
    /// Reading the facts failed.
    #[error("cannot read the security model: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Building the index panicked or was cancelled.
    #[error("cannot build the authorization index: {0}")]
    Build(String),
}

/// The shared, always-current authorization index of one server process.
pub struct Security {
    db: DatabaseConnection,
    index: ArcSwap<AuthzIndex>,
    /// Held while the index is brought up to date; holds the facts the current index was
    /// built from and the mark of their sequence value, so that a change that touched only
    /// some entities' rules is applied by reading those rules alone (`None` after a failed
    /// refresh: the next one reads everything).
    rebuild: tokio::sync::Mutex<Option<(Facts, Option<i64>)>>,
    rebuilds: AtomicU64,
    partial: AtomicU64,
    patched: AtomicU64,
}

impl Security {
    /// Reads the model and builds the first index.
    pub async fn load(db: DatabaseConnection) -> Result<Arc<Security>, SecurityError> {
        let rows = read_snapshot(&db).await?;
        let mark = rows.mark;
        let (index, facts) = build(facts_from_rows(rows)).await?;
        Ok(Arc::new(Security {
            db,
            index: ArcSwap::from_pointee(index),
            rebuild: tokio::sync::Mutex::new(Some((facts, mark))),
            rebuilds: AtomicU64::new(1),
            partial: AtomicU64::new(0),
            patched: AtomicU64::new(0),
        }))
    }

    /// The index, brought up to date with the database first when a change happened since it
    /// was built. This is what every authorization decision must use.
    pub async fn current(&self) -> Result<Arc<AuthzIndex>, SecurityError> {
        let sequence = audit::current_sequence(&self.db).await?;
        self.current_at(sequence).await
    }

    /// The index, brought up to date with change sequence `sequence` first when it is older.
    /// `sequence` must have been read from the database during the request it serves (for
    /// example by the statement that read the request's credential): that gives the guarantee
    /// of [`Security::current`] without reading the sequence a second time.
    pub async fn current_at(&self, sequence: i64) -> Result<Arc<AuthzIndex>, SecurityError> {
        let index = self.index.load_full();
        if index.sequence() >= sequence {
            return Ok(index);
        }
        self.refresh(sequence).await
    }

    /// Rebuilds the index unless another task already brought it to `at_least`. When the
    /// database can say that only some entities' rules changed since the index was built
    /// ([`read_fact_changes`]), only those rules are read and patched in; otherwise every fact
    /// is read and the index built.
    pub async fn refresh(&self, at_least: i64) -> Result<Arc<AuthzIndex>, SecurityError> {
        let mut kept = self.rebuild.lock().await;
        let index = self.index.load_full();
        if index.sequence() >= at_least {
            return Ok(index);
        }
        // Without kept facts there is no mark either, and the read is whole.
        let (mut facts, mark) = kept.take().unwrap_or_default();
        let (fresh, facts, mark) = match read_changes(&self.db, index.sequence(), mark).await? {
            FactChanges::Rules {
                sequence,
                mark,
                entities,
                rules,
            } => {
                self.partial.fetch_add(1, Ordering::Relaxed);
                let (fresh, facts) = if entities.is_empty() {
                    // Nothing the index is built from changed (a password, a description).
                    facts.sequence = sequence;
                    tracing::debug!(sequence, "nothing the authorization index holds changed");
                    let fresh = blocking(move || index.at_sequence(sequence)).await?;
                    (fresh, facts)
                } else {
                    let rules: Vec<_> = rules
                        .into_iter()
                        .map(|r| (r.entity_id, r.instance, r.rule))
                        .collect();
                    let (fresh, facts, patched) =
                        patch(index, facts, sequence, entities, rules).await?;
                    if patched {
                        self.patched.fetch_add(1, Ordering::Relaxed);
                    }
                    (fresh, facts)
                };
                (fresh, facts, mark)
            }
            FactChanges::All(rows) => {
                let mark = rows.mark;
                let (fresh, facts) = build(facts_from_rows(*rows)).await?;
                (fresh, facts, mark)
            }
        };
        let fresh = Arc::new(fresh);
        *kept = Some((facts, mark));
        self.index.store(fresh.clone());
        self.rebuilds.fetch_add(1, Ordering::Relaxed);
        crate::metrics::METRICS.index_rebuild();
        tracing::debug!(sequence = fresh.sequence(), "authorization index rebuilt");
        Ok(fresh)
    }

    /// The index as it is, without checking the database (for diagnostics only).
    pub fn snapshot(&self) -> Arc<AuthzIndex> {
        self.index.load_full()
    }

    /// How many times the index was brought up to date since start (built, or kept at a new
    /// sequence when nothing it holds changed).
    pub fn rebuild_count(&self) -> u64 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// How many of those builds read only the rules that changed (or nothing, when a change
    /// touched nothing the index is built from), not every fact.
    pub fn partial_refresh_count(&self) -> u64 {
        self.partial.load(Ordering::Relaxed)
    }

    /// How many of those read only changed rules and patched them into the index, instead of
    /// building it from every fact.
    pub fn patched_refresh_count(&self) -> u64 {
        self.patched.load(Ordering::Relaxed)
    }

    /// On PostgreSQL, listens for changes committed by any process and rebuilds at once.
    /// Reconnects after a lost connection; the per-request check covers the gap.
    pub fn spawn_listener(self: &Arc<Security>) {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.listen().await {
                    tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen(&self) -> Result<(), SecurityError> {
        use sea_orm::sqlx::postgres::PgListener;
        let pool = self.db.get_postgres_connection_pool();
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(|e| SecurityError::Build(e.to_string()))?;
        listener
            .listen(audit::CHANGE_CHANNEL)
            .await
            .map_err(|e| SecurityError::Build(e.to_string()))?;
        // Changes committed while no one listened are caught here.
        let sequence = audit::current_sequence(&self.db).await?;
        self.refresh(sequence).await?;
        loop {
            let note = listener
                .recv()
                .await
                .map_err(|e| SecurityError::Build(e.to_string()))?;
            let sequence = note.payload().parse::<i64>().unwrap_or(i64::MAX);
            if let Err(e) = self.refresh(sequence.min(i64::MAX - 1)).await {
                tracing::warn!(error = %e, "cannot rebuild the authorization index");
            }
        }
    }
}

/// Patches `index` off the async threads after the rules of the entities `changed` became
/// `rules` (their rules now, in database order), or builds from the changed facts when a
/// patch cannot; gives the changed facts back, and whether it patched.
async fn patch(
    index: Arc<AuthzIndex>,
    mut facts: Facts,
    sequence: i64,
    changed: BTreeSet<i64>,
    rules: Vec<(i64, bool, Rule)>,
) -> Result<(AuthzIndex, Facts, bool), SecurityError> {
    blocking(move || {
        let patched = index.patch_rules(sequence, &changed, &rules);
        facts.replace_rules(sequence, &changed, rules);
        match patched {
            Some(patched) => (patched, facts, true),
            None => {
                tracing::debug!(
                    sequence,
                    "rule change not patched; building from every fact"
                );
                (AuthzIndex::build(&facts), facts, false)
            }
        }
    })
    .await
}

/// Builds the index off the async threads; gives the facts back.
async fn build(facts: Facts) -> Result<(AuthzIndex, Facts), SecurityError> {
    blocking(move || (AuthzIndex::build(&facts), facts)).await
}

/// Runs `work` (a build or a copy of an index) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SecurityError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SecurityError::Build(e.to_string()))
}

/// A read-only transaction that sees one snapshot of the database.
pub(crate) async fn snapshot_transaction(
    db: &DatabaseConnection,
) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}

/// Reads every fact the index is built from, in one read-only snapshot.
pub async fn read_snapshot(db: &DatabaseConnection) -> Result<FactRows, SecurityError> {
    let txn = snapshot_transaction(db).await?;
    let rows = read_fact_rows(&txn).await?;
    txn.commit().await?;
    Ok(rows)
}

/// Reads what changed since change sequence `since` (whose mark was `mark`), in one read-only
/// snapshot.
pub async fn read_changes(
    db: &DatabaseConnection,
    since: i64,
    mark: Option<i64>,
) -> Result<FactChanges, SecurityError> {
    let txn = snapshot_transaction(db).await?;
    let changes = read_fact_changes(&txn, since, mark).await?;
    txn.commit().await?;
    Ok(changes)
}

/// Turns database rows into the plain facts the core decides from.
pub fn facts_from_rows(rows: FactRows) -> Facts {
    use std::collections::HashMap;
    let mut template_of: HashMap<i64, String> = rows.thing_templates.into_iter().collect();
    template_of.extend(rows.template_bases);
    let mut shapes_of: HashMap<i64, Vec<(i32, String)>> = HashMap::new();
    for (entity, shape, ordinal) in rows.implemented_shapes {
        shapes_of.entry(entity).or_default().push((ordinal, shape));
    }
    let entities = rows
        .entities
        .into_iter()
        .filter_map(|(id, collection, name, owner)| {
            let collection: Collection = collection.parse().ok()?;
            let mut shapes = shapes_of.remove(&id).unwrap_or_default();
            shapes.sort_by_key(|(ordinal, _)| *ordinal);
            Some(EntityFact {
                id,
                collection,
                name,
                owner,
                template: template_of.remove(&id).unwrap_or_default(),
                shapes: shapes.into_iter().map(|(_, s)| s).collect(),
            })
        })
        .collect();
    Facts {
        sequence: rows.sequence,
        entities,
        memberships: rows.memberships,
        units: rows
            .units
            .into_iter()
            .map(|(id, organization, name, parent)| UnitFact {
                id,
                organization,
                name,
                parent,
            })
            .collect(),
        unit_members: rows.unit_members,
        entity_rules: rows
            .entity_rules
            .into_iter()
            .map(|r| (r.entity_id, r.instance, r.rule))
            .collect(),
        collection_rules: rows.collection_rules,
    }
}
