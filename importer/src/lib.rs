//! Owns the import and export of ThingWorx files, in three parts: the format-neutral model
//! every format reads into and writes from (`model`), the readers and writers of every format
//! (`formats`: XML single files and storage trees, collection-permission files, binary `.twx`,
//! zip archives) and the pipeline (`pipeline`: the pure plan step and the transactional apply
//! step, over an export in memory or a source read twice, and the extraction of exports).
//! Each module is also reachable at the crate root (`ironworx_importer::xml_read`).

pub mod error;
pub mod formats;
pub mod limits;
pub mod model;
pub mod pipeline;
mod twx_error;

pub use formats::{source, storage, twx, twx_tree, twx_value, xml_read, xml_write};
pub use model::{extras, values};
pub use pipeline::{apply, caller, extract, gather, plan, stored, stream};

pub use caller::Caller;
pub use error::{ImportError, TwxError};
pub use limits::Limits;
pub use twx::{TwxLimits, read_twx, write_twx};
