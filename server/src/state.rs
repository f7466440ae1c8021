//! Shared application state handed to every request handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::AuthState;
use crate::config::Config;
use crate::security::Security;

/// State shared by all workers: the database pool, the resolved configuration and the
/// authorization index.
///
/// Registered once as `web::Data<AppState>`; cloning is cheap (the pool and the
/// configuration are reference-counted).
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The configuration the server was started with.
    pub config: Arc<Config>,
    /// The always-current authorization index.
    pub security: Arc<Security>,
    /// Sessions, throttling and verified credentials.
    pub auth: Arc<AuthState>,
    /// Thing event firings and their subscribers in this process.
    pub events: Arc<crate::http::events::EventBus>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `db`, `config`, the index kept by `security`, and `auth`.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        security: Arc<Security>,
        auth: Arc<AuthState>,
    ) -> Self {
        AppState {
            db,
            config,
            security,
            auth,
            events: Arc::default(),
        }
    }
}
