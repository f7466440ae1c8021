//! Import and export as the server runs them for the command line and the HTTP API: read,
//! plan, apply in one transaction; or extract and write in the chosen format and mode. At most
//! a few imports run at once (each holds a write transaction); where uploads wait and who may
//! upload is [`uploads`].

pub mod uploads;

use std::io::{Cursor, Write};
use std::path::Path;
use std::sync::OnceLock;

use ironworx_importer::apply::{KeySecrets, Report};
use ironworx_importer::extract::{ExtractOptions, Filter};
use ironworx_importer::model::Export;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::stream::{self, ExportLocation, FirstPass};
use ironworx_importer::twx_tree::TreeOptions;
use ironworx_importer::xml_write::WriteOptions;
use ironworx_importer::{Caller, ImportError, Limits, storage, twx, xml_write};
use sea_orm::DatabaseConnection;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::auth::seal::Sealer;

/// Import slots of a process whose configuration never set them (`--concurrent-imports`).
const DEFAULT_IMPORT_SLOTS: usize = crate::config::DEFAULT_CONCURRENT_IMPORTS as usize;

static IMPORT_SLOTS: OnceLock<Semaphore> = OnceLock::new();

/// Sets how many imports may run at once in this process; only before the first import.
pub fn limit_concurrent_imports(slots: u64) {
    let slots = usize::try_from(slots)
        .unwrap_or(DEFAULT_IMPORT_SLOTS)
        .max(1);
    let _ = IMPORT_SLOTS.set(Semaphore::new(slots));
}

fn import_slots() -> &'static Semaphore {
    IMPORT_SLOTS.get_or_init(|| Semaphore::new(DEFAULT_IMPORT_SLOTS))
}

/// Application-key secrets as the server stores them: a SHA-256 for authentication and the
/// key sealed under the server key for `GetKeyID`.
pub struct ServerSecrets {
    sealer: Sealer,
}

impl ServerSecrets {
    /// Loads the server's sealing key.
    pub async fn load(db: &DatabaseConnection) -> Result<Self, ImportError> {
        Ok(ServerSecrets {
            sealer: Sealer::load(db).await?,
        })
    }
}

impl KeySecrets for ServerSecrets {
    fn hash(&self, key_id: &str) -> String {
        crate::auth::app_key::key_hash(key_id)
    }

    fn seal(&self, key_id: &str) -> Option<String> {
        self.sealer.seal(key_id.trim()).ok()
    }

    fn open(&self, sealed: &str) -> Option<String> {
        self.sealer.open(sealed)
    }
}

/// The format an export is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// XML: one file (file mode) or a folder of one file per entity (storage mode).
    Xml,
    /// Binary `.twx` (file mode).
    Twx,
    /// A zip archive of the XML (one file, or the storage tree).
    Zip,
}

/// Plans and applies `export` in one transaction, writing what `caller` may set.
pub async fn import(
    db: &DatabaseConnection,
    export: Export,
    options: PlanOptions,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let _slot = import_slot().await?;
    let secrets = ServerSecrets::load(db).await?;
    let known = ironworx_importer::apply::known(db).await?;
    let result = match ironworx_importer::plan::plan(export, &known, options) {
        Ok(plan) => ironworx_importer::apply::apply(db, plan, &secrets, caller).await,
        Err(e) => Err(e),
    };
    crate::metrics::METRICS.import_job(result.is_ok());
    result
}

/// Imports the file, folder or zip archive at `path` in two passes and one transaction (see
/// [`ironworx_importer::stream`]): the same report as reading it whole and calling [`import`],
/// with memory bounded by everything but its Things.
pub async fn import_path(
    db: &DatabaseConnection,
    path: &Path,
    limits: &Limits,
    options: PlanOptions,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let slot = import_slot().await?;
    let source = ExportLocation::path(path);
    import_checked(slot, db, &source, limits, options, caller, |_| Ok(())).await
}

/// One of the import slots of this process, held for the whole of one import. An upload takes
/// it once it is saved, so a slow upload never keeps another import waiting.
pub async fn import_slot() -> Result<SemaphorePermit<'static>, ImportError> {
    import_slots()
        .acquire()
        .await
        .map_err(|e| ImportError::Db(e.to_string()))
}

/// Imports `source` in two passes and one transaction, as [`import_path`] does, in the import
/// slot `_slot`, once `check` has approved what the first pass read (the caller's rights):
/// nothing is planned or written when it refuses.
pub async fn import_checked<E: From<ImportError>>(
    _slot: SemaphorePermit<'static>,
    db: &DatabaseConnection,
    source: &ExportLocation,
    limits: &Limits,
    options: PlanOptions,
    caller: &Caller<'_>,
    check: impl FnOnce(&FirstPass) -> Result<(), E>,
) -> Result<Report, E> {
    let first = stream::read_first(source, limits).await?;
    check(&first)?;
    let secrets = ServerSecrets::load(db).await?;
    let result = stream::import_read(db, source, limits, first, options, &secrets, caller).await;
    crate::metrics::METRICS.import_job(result.is_ok());
    result.map_err(E::from)
}

/// Reads the model chosen by `filter` for an export in `mode`; built-in entities only with
/// `include_system` or when the filter names them.
pub async fn extract(
    db: &DatabaseConnection,
    filter: &Filter,
    mode: Mode,
    blank_secrets: bool,
    include_system: bool,
) -> Result<Export, ImportError> {
    let secrets = ServerSecrets::load(db).await?;
    ironworx_importer::extract::extract(
        db,
        filter,
        ExtractOptions {
            collection_rules: mode == Mode::Storage,
            blank_secrets,
            include_system,
        },
        Some(&secrets),
    )
    .await
}

/// Writes `export` in `format` for `mode` to bytes (every format but a storage folder).
pub fn to_bytes(
    export: &Export,
    mode: Mode,
    format: Format,
    blank_secrets: bool,
) -> Result<Vec<u8>, ImportError> {
    let options = WriteOptions { blank_secrets };
    let mut out = Vec::new();
    match (mode, format) {
        (Mode::File, Format::Xml) => xml_write::write_single_file(export, &options, &mut out)?,
        (Mode::File, Format::Twx) => {
            let tree = ironworx_importer::twx_tree::tree_from_export(
                export,
                &TreeOptions { blank_secrets },
            );
            twx::write_twx(&tree, &mut out).map_err(|source| ImportError::Twx {
                file: "export.twx".into(),
                source,
            })?;
        }
        (Mode::File, Format::Zip) => {
            let mut xml = Vec::new();
            xml_write::write_single_file(export, &options, &mut xml)?;
            let mut cursor = Cursor::new(Vec::new());
            {
                let mut zip = zip::ZipWriter::new(&mut cursor);
                let file_options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .last_modified_time(zip::DateTime::default());
                zip.start_file("Entities.xml", file_options)
                    .map_err(|e| zip_error(&e))?;
                zip.write_all(&xml)
                    .map_err(|e| ImportError::io("Entities.xml", e))?;
                zip.finish().map_err(|e| zip_error(&e))?;
            }
            out = cursor.into_inner();
        }
        (Mode::Storage, Format::Zip) => {
            let mut cursor = Cursor::new(Vec::new());
            storage::write_zip(export, &mut cursor, &options)?;
            out = cursor.into_inner();
        }
        (Mode::Storage, Format::Xml) => {
            return Err(ImportError::Unsupported {
                path: String::new(),
                message: "a storage-mode XML export is a folder; write it with write_to".into(),
            });
        }
        (Mode::Storage, Format::Twx) => {
            return Err(ImportError::Unsupported {
                path: String::new(),
                message: "the binary format carries no collection permissions: export storage \
                          mode as xml (a folder) or zip"
                    .into(),
            });
        }
    }
    Ok(out)
}

fn zip_error(err: &zip::result::ZipError) -> ImportError {
    ImportError::Zip {
        file: "export.zip".into(),
        message: err.to_string(),
    }
}

/// Writes `export` to `out`: a folder for a storage-mode XML export, a file otherwise.
pub fn write_to(
    export: &Export,
    mode: Mode,
    format: Format,
    blank_secrets: bool,
    out: &Path,
) -> Result<(), ImportError> {
    if mode == Mode::Storage && format == Format::Xml {
        return storage::write_tree(export, out, &WriteOptions { blank_secrets });
    }
    let bytes = to_bytes(export, mode, format, blank_secrets)?;
    std::fs::write(out, bytes).map_err(|e| ImportError::io(out.display(), e))
}
