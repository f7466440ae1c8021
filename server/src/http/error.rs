//! How an [`ApiError`] answers over HTTP: its status code, headers and JSON body
//! `{"code": "<snake_case>", "message": "..."}`. The message of an internal error is generic
//! and the real cause only goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::{ApiError, ErrorChain};

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    /// Where a script service failed (entity, service, line, limit).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    script: Option<&'a crate::error::ScriptFailure>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(_) => StatusCode::FORBIDDEN,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests(_) | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Script(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        let script = match self {
            ApiError::Script(failure) => Some(failure.as_ref()),
            _ => None,
        };
        response.json(ErrorBody {
            code: self.code(),
            message: self.to_string(),
            script,
        })
    }
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
                ApiError::missing(
                    ironworx_entity::vocab::Collection::Things,
                    "T1",
                    "service",
                    "Foo",
                ),
                404,
                "not_found",
                "Thing 'T1' has no service 'Foo'",
            ),
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
