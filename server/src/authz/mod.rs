//! The pure authorization core: facts in, a decision and its reasons out. No I/O, no async,
//! no clock: [`facts`] holds the plain input, [`index`] the immutable in-memory index built
//! from it, [`decide`] the one evaluator for visibility, design time and run time,
//! [`target`] turns the names a caller gives into what is asked about, and [`wrapped`] holds
//! the wrapped-call rule of script services.

pub mod decide;
pub mod facts;
pub mod index;
pub mod target;
pub mod wrapped;

pub use decide::{Layer, Outcome, Request, Step, StepEffect, Target, decide, explain};
pub use facts::{EntityFact, Facts, UnitFact};
pub use index::{AuthzIndex, EntityIdx};
pub use target::{collection_of, target_of};
pub use wrapped::{WrappedExplanation, decide_wrapped, explain_wrapped};

#[cfg(test)]
mod tests;
