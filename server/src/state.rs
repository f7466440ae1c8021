//! Shared application state handed to every request handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;

/// State shared by all workers: the database pool and the resolved configuration.
///
/// Registered once as `web::Data<AppState>`; cloning is cheap (the pool and the
/// configuration are reference-counted).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The configuration the server was started with.
    pub config: Arc<Config>,
}

impl AppState {
    /// State over `db` and `config`.
    pub fn new(db: DatabaseConnection, config: Arc<Config>) -> Self {
        AppState { db, config }
    }
}
