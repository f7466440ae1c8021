//! The Ironworx persistent model: sea-orm entities ([`schema`]), the domain vocabulary
//! ([`vocab`]: collections, permission kinds, principal types, validated names) and the
//! queries shared by the server and the importer ([`queries`]), the only place that writes SQL.

pub mod queries;
pub mod schema;
pub mod vocab;
