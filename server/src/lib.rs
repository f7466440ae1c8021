//! Ironworx server library: configuration, database, HTTP API, bootstrap and the command line.
//! The modules form layers, from the command line down to configuration and errors; `layers`
//! (a test) lists them and keeps every reference pointing down.

pub mod app;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
#[cfg(test)]
mod layers;
pub mod markup;
pub mod metrics;
pub mod model;

pub mod live_index;
pub mod relay;
pub mod script;
pub mod state;
pub mod telemetry;
pub mod transfer;

pub use app::serve;
pub use config::Config;
