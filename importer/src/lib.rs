//! Owns the import and export of ThingWorx files: readers and writers for every format (XML
//! single files and storage trees, collection-permission files, binary `.twx`, zip archives),
//! the format-neutral model they share, the pure plan step and the transactional apply step
//! (one pass over an export in memory, or two over a source that can be read again).

pub mod apply;
pub mod caller;
pub mod error;
pub mod extract;
pub mod extras;
pub mod gather;
pub mod limits;
pub mod model;
pub mod plan;
pub mod source;
pub mod storage;
pub mod stored;
pub mod stream;
pub mod twx;
mod twx_error;
pub mod twx_tree;
pub mod twx_value;
pub mod values;
pub mod xml_read;
pub mod xml_write;

pub use caller::Caller;
pub use error::{ImportError, TwxError};
pub use limits::Limits;
pub use twx::{TwxLimits, read_twx, write_twx};
