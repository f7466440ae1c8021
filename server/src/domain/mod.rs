//! ThingWorx behaviour below HTTP: what a Thing does, free of actix types, so the HTTP
//! handlers, the command line and the event relay call the same code.

pub mod ctx;
pub mod events;
pub mod explain;
pub mod need;
pub mod things;

pub use ctx::Ctx;
