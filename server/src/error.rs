//! The one error type of the HTTP API and its mapping to status codes and JSON bodies.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use ironworx_entity::queries::QueryError;
use ironworx_importer::ImportError;
use serde::Serialize;

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
    /// Anything else (500). The cause is logged, not shown.
    #[error("internal server error")]
    Internal(#[source] BoxError),
}

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
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
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Refused(_) => "forbidden",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::TooManyRequests(_) | ApiError::Busy(_) => "too_many_requests",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(_) => StatusCode::FORBIDDEN,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests(_) | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %ErrorChain(cause.as_ref()), "request failed");
            }
            ApiError::DatabaseUnavailable(cause) => {
                tracing::warn!(error = %ErrorChain(cause.as_ref()), "database unavailable");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        // A 401 carries no Basic challenge here: only a client that sent Basic credentials
        // gets one (the CSRF middleware adds it), so a browser never offers cached credentials
        // to a request it did not make itself.
        match self {
            ApiError::TooManyRequests(seconds) => {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            ApiError::Timeout(_) => {
                response.insert_header(("Connection", "close"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            code: self.code(),
            message: self.to_string(),
        })
    }
}

/// Whether `err`, or an error it was caused by, is a database error saying that the database
/// cannot be reached ([`crate::db::is_unreachable`]); such a failure answers 503.
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
        if db.is_some_and(crate::db::is_unreachable) {
            return true;
        }
        next = err.source();
    }
    false
}

/// Displays an error followed by its sources, `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

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

/// A size in bytes as people read it: whole KiB, MiB or GiB when it is one, else bytes.
pub fn size_text(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn render(err: &ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.error_response();
        let status = response.status();
        let bytes = response
            .into_body()
            .try_into_bytes()
            .expect("error bodies are in memory");
        (
            status,
            serde_json::from_slice(&bytes).expect("error bodies are JSON"),
        )
    }

    #[test]
    fn mapping_follows_the_contract() {
        let cases = [
            (
                ApiError::Unauthorized("user is locked".into()),
                401,
                "unauthorized",
                "user is locked",
            ),
            (
                ApiError::forbidden("PropertyRead", "temperature", "Pump1"),
                403,
                "forbidden",
                "Not authorized for PropertyRead on temperature in Pump1",
            ),
            (ApiError::NotFound, 404, "not_found", "Entity Not Found"),
            (
                ApiError::BadRequest("unknown base type FOO".into()),
                400,
                "bad_request",
                "unknown base type FOO",
            ),
            (
                ApiError::Conflict("Pump1".into()),
                409,
                "conflict",
                "Pump1 already exists",
            ),
            (
                ApiError::TooLarge(1024 * 1024),
                413,
                "payload_too_large",
                "request body too large (the limit is 1 MiB)",
            ),
            (
                ApiError::Refused("send Content-Type: application/json".into()),
                403,
                "forbidden",
                "send Content-Type: application/json",
            ),
            (
                ApiError::Timeout("request body timeout".into()),
                408,
                "request_timeout",
                "request body timeout",
            ),
            (
                ApiError::Busy("an upload is under way".into()),
                429,
                "too_many_requests",
                "an upload is under way",
            ),
        ];
        for (err, status, code, message) in cases {
            let (got_status, body) = render(&err);
            assert_eq!(got_status.as_u16(), status, "{err:?}");
            assert_eq!(body["code"], code, "{err:?}");
            assert_eq!(body["message"], message, "{err:?}");
        }
    }

    #[test]
    fn an_unreachable_database_answers_503() {
        use sea_orm::{ConnAcquireErr, DbErr};
        let err = ApiError::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        let (status, body) = render(&err);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "database_unavailable");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("--database-timeout-ms")),
            "{body}"
        );
        // Wrapped in a query error, as the shared queries return it.
        let wrapped = ironworx_entity::queries::QueryError::Db(DbErr::ConnectionAcquire(
            ConnAcquireErr::ConnectionClosed,
        ));
        assert_eq!(render(&ApiError::internal(wrapped)).0, 503);
        // A statement the database refused stays a 500.
        assert_eq!(render(&ApiError::from(DbErr::Custom("x".into()))).0, 500);
    }

    #[test]
    fn a_401_carries_no_challenge_of_its_own() {
        let response = ApiError::Unauthorized("authentication required".into()).error_response();
        assert!(!response.headers().contains_key("www-authenticate"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::from(sea_orm::DbErr::Custom("secret table xyz broke".into()));
        let (status, body) = render(&err);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal");
        assert_eq!(body["message"], "internal server error");
        assert!(!body.to_string().contains("xyz"));
    }

    #[test]
    fn error_chain_lists_sources() {
        let err = ApiError::internal(std::io::Error::other("disk full"));
        let ApiError::Internal(cause) = &err else {
            panic!("internal expected");
        };
        assert_eq!(ErrorChain(cause.as_ref()).to_string(), "disk full");
    }
}
