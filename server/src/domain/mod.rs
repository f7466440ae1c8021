//! ThingWorx behaviour below HTTP, free of actix types: what a Thing does, and the security
//! operations (creation, membership, rules, users, application keys, sessions, the audit
//! record, the permission diff), each checking its caller, so the HTTP handlers, the console,
//! scripts, the command line and the event relay call the same code.

pub mod accounts;
pub mod app_keys;
pub mod changes;
pub mod create;
pub mod ctx;
pub mod data;
pub mod definers;
pub mod diff;
pub mod events;
pub mod expect;
pub mod explain;
pub mod history;
pub mod localization;
pub mod membership;
pub mod need;
pub mod preview;
pub mod rules;
pub mod security_log;
pub mod sessions;
pub mod shapes;
pub mod snapshot;
pub mod things;
pub mod timers;
pub mod usage;
pub mod who_can;
pub mod write;

pub use ctx::Ctx;
