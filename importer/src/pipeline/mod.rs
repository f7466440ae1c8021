//! The import pipeline and its way back: gathering entities from a source (in one or two
//! passes), the pure plan step, the transactional apply step with its caller's rights, and
//! extracting the model from the database for an export.

pub mod apply;
pub mod caller;
pub mod extract;
pub mod gather;
pub mod plan;
pub mod stored;
pub mod stream;
