//! Owns the import and export of ThingWorx files (currently the binary `.twx` exports).

pub mod error;
pub mod twx;

pub use error::TwxError;
pub use twx::{TwxLimits, read_twx, write_twx};
