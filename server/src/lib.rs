//! Ironworx server library: configuration, database, HTTP API, bootstrap and the command line.

pub mod app;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod explain_cmd;
pub mod http;
pub mod metrics;
pub mod password;
pub mod relay;
pub mod security;
pub mod state;
pub mod telemetry;
pub mod transfer;
pub mod transfer_cmd;

pub use app::serve;
pub use config::Config;
