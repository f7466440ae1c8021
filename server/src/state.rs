//! Shared application state handed to every request handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::AuthState;
use crate::config::Config;
use crate::domain::things::writer::ValueWriter;
use crate::live_index::Security;
use crate::model::Models;

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
    /// The Thing model in memory, as current as the index.
    pub models: Arc<Models>,
    /// Commits the property values of concurrent requests together.
    pub values: ValueWriter,
    /// Sessions, throttling and verified credentials.
    pub auth: Arc<AuthState>,
    /// Thing event firings and their subscribers in this process.
    pub events: Arc<crate::domain::events::EventBus>,
    /// The script services prepared to run.
    pub scripts: Arc<crate::script::Catalog>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `db`, `config`, the index kept by `security`, the model kept by `models`,
    /// and `auth`.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        security: Arc<Security>,
        models: Arc<Models>,
        auth: Arc<AuthState>,
    ) -> Self {
        AppState {
            values: ValueWriter::start(db.clone()),
            db,
            config,
            security,
            models,
            auth,
            events: Arc::default(),
            scripts: Arc::default(),
        }
    }
}

/// For unit tests: state over a fresh, migrated SQLite database `file` in a temporary
/// directory, with the default settings. `prepare` runs on the database (and the directory)
/// before the authorization index and the session keys are loaded.
#[cfg(test)]
pub(crate) async fn for_tests(
    file: &str,
    prepare: impl AsyncFnOnce(&DatabaseConnection, &std::path::Path),
) -> (tempfile::TempDir, AppState) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = crate::config::sqlite_url(&tmp.path().join(file)).expect("url");
    let db = crate::db::connect(&url).await.expect("connects");
    crate::db::migrate(&db).await.expect("migrates");
    prepare(&db, tmp.path()).await;
    let config = Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: tmp.path().to_path_buf(),
        database_url: url,
        database_timeout: std::time::Duration::from_millis(
            crate::config::DEFAULT_DATABASE_TIMEOUT_MS,
        ),
        storage_dir: tmp.path().to_path_buf(),
        admin_password: None,
        log_format: crate::config::LogFormat::Text,
        auth: crate::config::AuthSettings::default(),
        limits: crate::config::LimitSettings::default(),
    };
    let security = Security::load(db.clone()).await.expect("index");
    let models = Models::load(db.clone()).await.expect("model");
    let reads = crate::auth::reads::CredentialReads::new(db.clone(), config.database_timeout);
    let auth = AuthState::load(&db, reads).await.expect("auth");
    let state = AppState::new(db, Arc::new(config), security, models, Arc::new(auth));
    (tmp, state)
}

impl crate::auth::AuthHost for AppState {
    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn auth(&self) -> &AuthState {
        &self.auth
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn security(&self) -> &Security {
        &self.security
    }
}
