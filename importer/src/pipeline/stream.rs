//! The two-pass import of a source that can be read again (a file, a folder, a zip archive):
//! the first pass keeps every entity but the Things, of which it keeps only what planning
//! needs (name, origin, the principals their rules name); the plan step plans everything from
//! it; the second pass reads the source again on a blocking thread and hands the Things, planned
//! one at a time, in chunks to the apply step, which writes them in their place in the one
//! transaction of the import. Memory stays bounded by the non-Thing entities and a few chunks,
//! however many Things the source holds.

use std::path::{Path, PathBuf};

use ironworx_entity::vocab::Collection;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::apply::{self, ENTITY_CHUNK, KeySecrets, Report, ThingStream};
use crate::caller::Caller;
use crate::error::ImportError;
use crate::gather::Gather;
use crate::limits::Limits;
use crate::model::{CollectionRule, Export, ListedRules};
use crate::plan::{self, PlanOptions, PlannedThing, Streamed};
use crate::source;

/// Chunks of planned Things read ahead of the apply step.
const CHUNKS_AHEAD: usize = 2;

/// Imports the source at `path` (what [`source::read_path`] reads) in two passes and one
/// transaction: what [`crate::plan::plan`] and [`crate::apply::apply`] do for the export read
/// whole, with the same report, the same refusals and nothing written when it fails.
pub async fn import_path(
    db: &DatabaseConnection,
    path: &Path,
    limits: &Limits,
    options: PlanOptions,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let source = ExportLocation::path(path);
    let first = read_first(&source, limits).await?;
    import_read(db, &source, limits, first, options, secrets, caller).await
}

/// Where an export is (a file, folder or zip archive), read twice: its path, and what messages
/// call it.
#[derive(Clone, Debug)]
pub struct ExportLocation {
    path: PathBuf,
    shown: String,
}

impl ExportLocation {
    /// The file, folder or zip archive at `path`, called by its path.
    pub fn path(path: &Path) -> ExportLocation {
        ExportLocation {
            path: path.to_path_buf(),
            shown: path.display().to_string(),
        }
    }

    /// A file saved at `path` that messages call `shown`, whose extension chooses the format
    /// (an upload, saved under a name of the server's own).
    pub fn upload(path: &Path, shown: &str) -> ExportLocation {
        ExportLocation {
            path: path.to_path_buf(),
            shown: shown.to_owned(),
        }
    }

    fn read(&self, limits: &Limits, sink: source::Sink<'_>) -> Result<Export, ImportError> {
        source::read_path_as(&self.path, &self.shown, limits, sink)
    }
}

/// What the first pass read, before anything is planned or written: enough to check what the
/// import would write (the caller's rights) without holding the Things.
#[derive(Debug)]
pub struct FirstPass {
    rest: Export,
    gather: Gather,
}

impl FirstPass {
    /// Every entity the source holds, as (collection, name), sorted.
    pub fn entities(&self) -> Vec<(Collection, &str)> {
        let mut keys: Vec<(Collection, &str)> = self
            .gather
            .by_key
            .keys()
            .map(|(c, n)| (*c, n.as_str()))
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The collection rules it holds (a storage tree's permissions file).
    pub fn collection_rules(&self) -> &[CollectionRule] {
        &self.rest.collection_rules
    }

    /// The entity rules a permissions file lists.
    pub fn listed_rules(&self) -> &[ListedRules] {
        &self.rest.listed_rules
    }
}

/// The first pass over `source`: every entity gathered (the Things summarized), and the rest of
/// the export. As with an export read whole, an error of the reader comes before a refused
/// entity.
pub async fn read_first(
    source: &ExportLocation,
    limits: &Limits,
) -> Result<FirstPass, ImportError> {
    let source = source.clone();
    let limits = *limits;
    let (rest, gather) = blocking(move || first_pass(&source, &limits)).await??;
    Ok(FirstPass { rest, gather })
}

/// Plans what the first pass read and applies it in one transaction, reading the Things of
/// `source` again. The source must not change between the passes: a Thing added or removed
/// since the first pass is refused, and a Thing's content is what the second reading finds.
pub async fn import_read(
    db: &DatabaseConnection,
    source: &ExportLocation,
    limits: &Limits,
    first: FirstPass,
    options: PlanOptions,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let known = apply::known(db).await?;
    let (plan, streamed) = plan::plan_gathered(first.gather, first.rest, &known, options)?;
    drop(known);

    let names = streamed.names();
    let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
    let second = source.clone();
    let second_limits = *limits;
    let reader = tokio::task::spawn_blocking(move || {
        second_pass(&second, &second_limits, streamed, &sender);
    });
    let result =
        apply::apply_streamed(db, plan, ThingStream { names, chunks }, secrets, caller).await;
    // The receiver is gone: a reader still running stops at its next chunk.
    reader.await.ok();
    result
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ImportError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ImportError::Db(format!("the reader stopped: {e}")))
}

/// The first pass: every entity gathered, and the rest of the export.
fn first_pass(source: &ExportLocation, limits: &Limits) -> Result<(Export, Gather), ImportError> {
    let mut gather = Gather::two_pass().limited(limits);
    let mut refused: Option<ImportError> = None;
    let rest = source.read(limits, &mut |entity| {
        if refused.is_none()
            && let Err(err) = gather.push(entity)
        {
            refused = Some(err);
        }
        Ok(())
    })?;
    match refused {
        Some(err) => Err(err),
        None => Ok((rest, gather)),
    }
}

/// The second pass: the Things planned as they are read, sent in chunks; an error is sent last.
fn second_pass(
    source: &ExportLocation,
    limits: &Limits,
    mut streamed: Streamed,
    sender: &mpsc::Sender<Result<Vec<PlannedThing>, ImportError>>,
) {
    let stopped = || ImportError::Db("the import stopped".into());
    let mut chunk: Vec<PlannedThing> = Vec::with_capacity(ENTITY_CHUNK);
    let read = source
        .read(limits, &mut |entity| {
            if let Some(planned) = streamed.take(entity)? {
                chunk.push(planned);
                if chunk.len() == ENTITY_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(ENTITY_CHUNK));
                    sender.blocking_send(Ok(full)).map_err(|_| stopped())?;
                }
            }
            Ok(())
        })
        .and_then(|_| streamed.finish(&source.shown));
    let last = match read {
        Ok(()) if chunk.is_empty() => return,
        Ok(()) => Ok(chunk),
        Err(err) => Err(err),
    };
    // A closed channel means the apply step has already stopped.
    sender.blocking_send(last).ok();
}
