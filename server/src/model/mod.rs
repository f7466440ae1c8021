//! The Thing model in memory, kept exactly as current as the authorization index: the effective
//! definitions of every Thing (read at start, patched with the rows of the entities a change
//! touched, as `model_changes` names them) and the stored property values of the Things read so
//! far (patched with the values written since, as the value sequence orders them).
//!
//! Every request reads the change sequence and the value sequence with its credential
//! (`ironworx_entity::queries::credentials::Sequences`); the model is brought up to both
//! before it answers, so a change committed by any process is seen by the next request, and a
//! request for which nothing changed reads nothing from the database.

mod definitions;
mod values;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use ironworx_entity::queries::QueryError;
use ironworx_entity::queries::credentials::{Sequences, read_sequences};
use ironworx_entity::queries::thing_model::{
    ModelChanges, read_model_changes, read_model_rows, values_of, values_since,
};
use sea_orm::{DatabaseConnection, DbErr};

pub use definitions::{
    DefinerRecord, Definitions, EffectiveProperty, PropertyDefinition, ThingDefinitions,
};
pub use values::{StoredValue, ThingValues};

use values::ValueStore;

/// Why the model could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading the model failed.
    #[error("cannot read the Thing model: {0}")]
    Query(#[from] QueryError),
    /// Reading the model failed.
    #[error("cannot read the Thing model: {0}")]
    Db(#[from] DbErr),
    /// Building the definitions panicked or was cancelled.
    #[error("cannot build the Thing model: {0}")]
    Build(String),
}

/// The definitions and the change sequence value they are current with.
#[derive(Debug)]
pub struct Held {
    /// The change sequence value.
    pub sequence: i64,
    /// The definitions.
    pub definitions: Arc<Definitions>,
}

/// The Thing model of one server process.
pub struct Models {
    db: DatabaseConnection,
    held: ArcSwap<Held>,
    values: ValueStore,
    /// Every held value is current with this value sequence value.
    value_mark: AtomicI64,
    /// Held while the definitions are brought up to date.
    definitions_refresh: tokio::sync::Mutex<()>,
    /// Held while values are read from the database (a Thing's, or those written since).
    values_refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("sequence", &self.held.load().sequence)
            .field("value_mark", &self.value_mark)
            .finish_non_exhaustive()
    }
}

impl Models {
    /// Reads every definition; values are read when a Thing's are first needed.
    pub async fn load(db: DatabaseConnection) -> Result<Arc<Models>, ModelError> {
        let txn = crate::live_index::snapshot_transaction(&db).await?;
        let sequences = read_sequences(&txn).await?;
        let rows = read_model_rows(&txn, None).await?;
        txn.commit().await?;
        let definitions = blocking(move || Definitions::build(rows)).await?;
        tracing::info!(things = definitions.thing_count(), "Thing model loaded");
        Ok(Arc::new(Models {
            db,
            held: ArcSwap::from_pointee(Held {
                sequence: sequences.changes,
                definitions: Arc::new(definitions),
            }),
            values: ValueStore::default(),
            value_mark: AtomicI64::new(sequences.values),
            definitions_refresh: tokio::sync::Mutex::new(()),
            values_refresh: tokio::sync::Mutex::new(()),
        }))
    }

    /// The definitions, brought up to change sequence `changes` first when they are older.
    /// `changes` must have been read from the database during the request it serves.
    pub async fn definitions_at(&self, changes: i64) -> Result<Arc<Held>, ModelError> {
        let held = self.held.load_full();
        if held.sequence >= changes {
            return Ok(held);
        }
        let _refreshing = self.definitions_refresh.lock().await;
        let held = self.held.load_full();
        if held.sequence >= changes {
            return Ok(held);
        }
        let txn = crate::live_index::snapshot_transaction(&self.db).await?;
        let fresh = match read_model_changes(&txn, held.sequence).await? {
            ModelChanges::Entities { sequence, entities } if entities.is_empty() => Held {
                sequence,
                definitions: Arc::clone(&held.definitions),
            },
            ModelChanges::Entities { sequence, entities } => {
                let rows = read_model_rows(&txn, Some(&entities)).await?;
                let current = Arc::clone(&held.definitions);
                let (definitions, things) =
                    blocking(move || current.patch(&entities, rows)).await?;
                {
                    let _values = self.values_refresh.lock().await;
                    self.values.forget(things);
                }
                Held {
                    sequence,
                    definitions: Arc::new(definitions),
                }
            }
            ModelChanges::All { sequence } => {
                let rows = read_model_rows(&txn, None).await?;
                let definitions = blocking(move || Definitions::build(rows)).await?;
                {
                    let _values = self.values_refresh.lock().await;
                    self.values.clear();
                }
                Held {
                    sequence,
                    definitions: Arc::new(definitions),
                }
            }
        };
        txn.commit().await?;
        let fresh = Arc::new(fresh);
        self.held.store(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// The Thing `name` as of `at`, when it exists.
    pub async fn thing(
        &self,
        name: &str,
        at: Sequences,
    ) -> Result<Option<Arc<ThingDefinitions>>, ModelError> {
        let held = self.definitions_at(at.changes).await?;
        Ok(held.definitions.thing(name).cloned())
    }

    /// Runs `read` over the stored values of Thing `id` as of value sequence `values` (read
    /// from the database first when they are not held, or older).
    pub async fn with_values<T>(
        &self,
        id: i64,
        values: i64,
        read: impl FnOnce(&ThingValues) -> T,
    ) -> Result<T, ModelError> {
        loop {
            if self.value_mark.load(Ordering::Acquire) < values || !self.values.holds(id) {
                self.refresh_values(id, values).await?;
            }
            // None when a change made since forgot them: read them again.
            if let Some(held) = self.values.get(id) {
                return Ok(read(&held));
            }
        }
    }

    async fn refresh_values(&self, id: i64, values: i64) -> Result<(), ModelError> {
        let _refreshing = self.values_refresh.lock().await;
        let mark = self.value_mark.load(Ordering::Acquire);
        if mark < values {
            let rows = values_since(&self.db, mark).await?;
            let newest = rows.iter().map(|r| r.seq).max().unwrap_or(mark);
            self.values.apply(rows);
            self.value_mark
                .store(newest.max(values).max(mark), Ordering::Release);
        }
        if !self.values.holds(id) {
            let rows = values_of(&self.db, id).await?;
            self.values.load(id, rows);
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ModelError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ModelError::Build(e.to_string()))
}

impl From<ModelError> for crate::error::ApiError {
    fn from(err: ModelError) -> Self {
        crate::error::ApiError::internal(err)
    }
}
