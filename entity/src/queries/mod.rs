//! The queries shared by the server and the importer: the only place that reads or writes the
//! model. Every function takes any connection or transaction (`C: ConnectionTrait`), so callers
//! decide the transaction boundary; none of them commits.

pub mod app_keys;
pub mod audit;
pub mod bulk;
pub mod credentials;
pub mod data;
pub mod defined;
pub mod dependents;
pub mod entities;
pub mod facts;
pub mod groups;
pub mod localization;
pub mod login_failures;
pub mod model_history;
pub mod models;
pub mod organizations;
pub mod parts;
pub mod permissions;
pub mod postgres;
pub mod security_log;
pub mod sessions;
pub mod settings;
pub mod streams;
pub mod subscribers;
pub mod thing_model;
pub mod timer_ticks;
pub mod users;

use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::{DbErr, SqlErr};

use crate::vocab::{Collection, VocabError};

/// Why a shared query refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The database refused the statement or could not be reached.
    #[error("database error: {0}")]
    Db(DbErr),
    /// A name, tag or word of the vocabulary is invalid.
    #[error(transparent)]
    Invalid(#[from] VocabError),
    /// The named entity (or part of one) does not exist.
    #[error("{what} '{name}' not found")]
    NotFound {
        /// What was looked for (`Things`, `organizational unit`, …).
        what: String,
        /// Its name.
        name: String,
    },
    /// The name is already taken in its collection.
    #[error("{what} '{name}' already exists")]
    Conflict {
        /// What was being created.
        what: String,
        /// The taken name.
        name: String,
    },
    /// Adding the member would make a group contain itself.
    #[error("adding group '{member}' to group '{group}' would make a membership cycle")]
    Cycle {
        /// The group receiving a member.
        group: String,
        /// The group being added.
        member: String,
    },
    /// The request contradicts the model (a rule naming the wrong principal type, …).
    #[error("{0}")]
    Refused(String),
}

impl From<DbErr> for QueryError {
    fn from(err: DbErr) -> Self {
        QueryError::Db(err)
    }
}

impl QueryError {
    /// A not-found error for an entity of `collection`.
    pub fn not_found(collection: Collection, name: &str) -> Self {
        QueryError::NotFound {
            what: collection.as_str().to_owned(),
            name: name.to_owned(),
        }
    }

    /// Turns a unique-constraint violation into a [`QueryError::Conflict`], for races where two
    /// writers pass the existence check at once.
    pub(crate) fn conflict_or(err: DbErr, what: &str, name: &str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => QueryError::Conflict {
                what: what.to_owned(),
                name: name.to_owned(),
            },
            _ => QueryError::Db(err),
        }
    }
}

/// The result of every shared query.
pub type QueryResult<T> = Result<T, QueryError>;

/// The current time in epoch milliseconds, the unit of every time column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
