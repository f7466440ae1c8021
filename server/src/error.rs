//! The one error type below HTTP: why an operation failed, as the caller may be told. Query and
//! import errors convert into it, so errors flow by `?`; the HTTP layer maps it to status codes
//! and JSON bodies once (`http::error`).

use std::fmt;

use ironworx_entity::queries::QueryError;
use ironworx_importer::ImportError;

/// A boxed error behind an internal failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a request failed, as the client sees it.
///
/// The body is always JSON `{"code": "<snake_case>", "message": "..."}`; the message of an
/// internal error is generic and the real cause only goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or bad credentials, an expired key, a disabled or locked user (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not permitted (403).
    #[error("Not authorized for {permission} on {resource} in {entity}")]
    Forbidden {
        /// The permission checked (`PropertyRead`, `Update`, …).
        permission: String,
        /// The resource it was checked on (`*` when none).
        resource: String,
        /// The entity's name.
        entity: String,
    },
    /// The entity does not exist or is not visible to the caller (404). Never names it.
    #[error("Entity Not Found")]
    NotFound,
    /// Something an entity the caller may see does not have (404): a service, property,
    /// definition or route, named (`Thing 'T1' has no service 'Foo'`). A missing or invisible
    /// entity is [`ApiError::NotFound`], never this.
    #[error("{0}")]
    Missing(String),
    /// Bad input: what is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// A name already taken (409); holds the name.
    #[error("{0} already exists")]
    Conflict(String),
    /// The request body exceeds the configured limit (413); holds the limit in bytes.
    #[error("request body too large (the limit is {})", size_text(*.0))]
    TooLarge(u64),
    /// A request refused whatever the caller's rights (403): what it lacks and what to send.
    #[error("{0}")]
    Refused(String),
    /// The client took too long to send the request (408): names the limit that ran out.
    #[error("{0}")]
    Timeout(String),
    /// Too many failed logins from one address (429); retry after this many seconds.
    #[error("too many failed logins from this address; retry in {0} s")]
    TooManyRequests(u64),
    /// The caller already has as many requests of this kind under way as it may (429): which.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached (503): no connection within `--database-timeout-ms`,
    /// a connection lost, a file that cannot be read. The cause is logged, not shown.
    #[error(
        "the database is unavailable (no answer within --database-timeout-ms); try again later"
    )]
    DatabaseUnavailable(#[source] BoxError),
    /// A script service threw or was stopped by a limit (500): what, where.
    #[error("{}", .0.message)]
    Script(Box<ScriptFailure>),
    /// Anything else (500). The cause is logged, not shown.
    #[error("internal server error")]
    Internal(#[source] BoxError),
}

/// Why a script service failed: an error it threw (`script_error`) or a limit that stopped it
/// (`script_limit`), with the entity, service and line where it happened.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScriptFailure {
    /// The limit that stopped it (`timeout`, `memory`, `call depth`, `result size`, `stack`);
    /// `None` for an error the script threw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The message.
    #[serde(skip)]
    pub message: String,
    /// The Thing whose service ran.
    pub entity: String,
    /// The service.
    pub service: String,
    /// The line of the script, when known.
    pub line: Option<u32>,
}

impl ApiError {
    /// A 403 for `permission` on `resource` of entity `entity`.
    pub fn forbidden(
        permission: impl fmt::Display,
        resource: impl Into<String>,
        entity: impl Into<String>,
    ) -> Self {
        ApiError::Forbidden {
            permission: permission.to_string(),
            resource: resource.into(),
            entity: entity.into(),
        }
    }

    /// A 500 wrapping `err`, or a 503 when `err` says the database cannot be reached
    /// ([`database_unreachable`]).
    pub fn internal(err: impl Into<BoxError>) -> Self {
        let err = err.into();
        if database_unreachable(err.as_ref()) {
            return ApiError::DatabaseUnavailable(err);
        }
        ApiError::Internal(err)
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound | ApiError::Missing(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Refused(_) => "forbidden",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::TooManyRequests(_) | ApiError::Busy(_) => "too_many_requests",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Script(failure) if failure.limit.is_some() => "script_limit",
            ApiError::Script(_) => "script_error",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}

/// A refused query: validation problems are the caller's (400), a taken name a 409, a missing
/// entity a 404 and a database failure a 500.
impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Invalid(e) => ApiError::BadRequest(e.to_string()),
            QueryError::Refused(m) => ApiError::BadRequest(m),
            QueryError::Cycle { .. } => ApiError::BadRequest(err.to_string()),
            QueryError::Conflict { name, .. } => ApiError::Conflict(name),
            QueryError::NotFound { .. } => ApiError::NotFound,
            QueryError::Db(e) => ApiError::internal(e),
        }
    }
}

impl ApiError {
    /// A 404 naming what the entity `entity` of `collection` (one the caller may see) lacks:
    /// `what` (`service`, `property`, …) called `name`.
    pub fn missing(
        collection: ironworx_entity::vocab::Collection,
        entity: &str,
        what: &str,
        name: &str,
    ) -> Self {
        ApiError::Missing(format!(
            "{} '{entity}' has no {what} '{name}'",
            collection.element_name()
        ))
    }
}

/// A failed import or export: bad input is a 400 with the reason, a value the caller may not
/// set a 403 naming the entity, a database failure a 500.
impl From<ImportError> for ApiError {
    fn from(err: ImportError) -> Self {
        match err {
            ImportError::Db(_) => ApiError::internal(err),
            ImportError::Forbidden(refusal) => {
                tracing::info!(
                    entity = %refusal.entity,
                    permission = %refusal.permission,
                    resource = %refusal.resource,
                    "import denied"
                );
                ApiError::forbidden(refusal.permission, refusal.resource, refusal.name)
            }
            ImportError::Limit { .. } => ApiError::BadRequest(err.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// Whether `err`, or an error it was caused by, is a database error saying that the database
/// cannot be reached ([`is_unreachable`]); such a failure answers 503.
pub fn database_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    use ironworx_entity::queries::QueryError;
    let mut next = Some(err);
    while let Some(err) = next {
        let db = err.downcast_ref::<sea_orm::DbErr>().or_else(|| {
            match err.downcast_ref::<QueryError>() {
                Some(QueryError::Db(db)) => Some(db),
                _ => None,
            }
        });
        if db.is_some_and(is_unreachable) {
            return true;
        }
        next = err.source();
    }
    false
}

/// Whether `err` says the database cannot be reached, as opposed to refusing a statement: no
/// connection within the timeout, a connection refused, reset or closed, an I/O error, a
/// PostgreSQL server shutting down or refusing connections (SQLSTATE classes 08 and 57P, and
/// 53300), a SQLite file that cannot be opened or read (`SQLITE_CANTOPEN`, `SQLITE_IOERR`,
/// `SQLITE_NOTADB`) or a SQLite worker that stopped.
pub fn is_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>() {
                // SQLite's primary result code is the low byte of the extended one.
                Some(_) => code
                    .parse::<i32>()
                    .is_ok_and(|c| matches!(c & 0xff, 10 | 14 | 26)),
                None => code.starts_with("08") || code.starts_with("57P") || code == "53300",
            }
        }
        _ => false,
    }
}

/// Displays an error followed by its sources, `a: b: c`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// A required text parameter: missing or empty is a 400 naming it.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("missing parameter '{name}'")))
}

/// A size in bytes as people read it: whole KiB, MiB or GiB when it is one, else bytes.
pub fn size_text(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}
