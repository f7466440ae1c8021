//! Cross-site request forgery at the HTTP edge: a state-changing request authenticated by
//! something a browser adds on its own (the session cookie, Basic credentials) must carry
//! what a cross-site form cannot send; and a 401 asks for Basic credentials only from a client
//! that sent them.

use actix_web::ResponseError as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::mime;

use crate::auth::{APP_KEY_HEADER, SESSION_COOKIE};
use crate::error::ApiError;
use crate::http::import_export::XSRF_HEADER;

/// The header scripts send to say a request is theirs (no cross-site form can send it).
pub const REQUESTED_WITH_HEADER: &str = "X-Requested-With";

/// The Basic challenge of a 401 to a client that sent Basic credentials.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"ThingWorx\"";

/// Routes with a CSRF check of their own (the login form's double-submit token).
pub const OWN_CHECK: [&str; 2] = ["/Thingworx/action-login", "/Thingworx/Logout"];

/// The path prefix of the console, whose forms carry the login forms' double-submit token and
/// are checked by the console itself (`http::console`).
pub const OWN_CHECK_PREFIX: &str = "/Thingworx/Console/";

/// What a refused request is told.
pub const REFUSAL: &str = "a request that changes something and is authenticated by a session \
     cookie or Basic credentials must send Content-Type: application/json, the header \
     X-XSRF-TOKEN or the header X-Requested-With (or authenticate with the appKey header)";

/// Why `method path` with `headers` (and the session cookie when `has_session`) must be
/// refused, if it must: a state-changing request authenticated by credentials a browser adds
/// by itself, carrying neither a JSON body type nor a header only a script can add.
pub fn refusal(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    has_session: bool,
) -> Option<ApiError> {
    let changes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !changes
        || OWN_CHECK.contains(&path)
        || path.starts_with(OWN_CHECK_PREFIX)
        || headers.contains_key(APP_KEY_HEADER)
    {
        return None;
    }
    let ambient = has_session || headers.contains_key(header::AUTHORIZATION);
    if !ambient
        || is_json(headers)
        || headers.contains_key(XSRF_HEADER)
        || headers.contains_key(REQUESTED_WITH_HEADER)
    {
        return None;
    }
    Some(ApiError::Refused(REFUSAL.to_owned()))
}

/// Whether the body is declared JSON: `application/json` or `application/<name>+json`. No
/// cross-site form can send that type, and a cross-site script can only after a CORS preflight
/// that the server answers for listed origins only.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        })
}

/// Whether the request carries Basic credentials.
fn sends_basic(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_whitespace().next())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"))
}

/// Gives a 401 the Basic challenge when the client spoke Basic, and none otherwise.
fn challenge(headers: &mut HeaderMap, status: StatusCode, basic: bool) {
    if status != StatusCode::UNAUTHORIZED {
        return;
    }
    if basic {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_CHALLENGE),
        );
    } else {
        headers.remove(header::WWW_AUTHENTICATE);
    }
}

/// The middleware: refuses what [`refusal`] refuses, before any handler runs (and so before
/// the body is read or the caller authenticated), and sets the challenge of every 401.
pub async fn protect(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let basic = sends_basic(req.headers());
    let has_session = req
        .cookie(SESSION_COOKIE)
        .is_some_and(|c| !c.value().is_empty());
    let mut res = match refusal(req.method(), req.path(), req.headers(), has_session) {
        Some(refused) => {
            tracing::info!(method = %req.method(), path = %req.path(), "cross-site protection refused a request");
            req.into_response(refused.error_response())
                .map_into_right_body()
        }
        None => next.call(req).await?.map_into_left_body(),
    };
    let status = res.status();
    challenge(res.headers_mut(), status, basic);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    const PATH: &str = "/Thingworx/Resources/EntityServices/Services/CreateUser";

    #[test]
    fn ambient_credentials_need_json_or_a_script_header() {
        let basic = ("authorization", "Basic YTpi");
        for refused in [
            headers(&[basic]),
            headers(&[basic, ("content-type", "text/plain")]),
            headers(&[basic, ("content-type", "application/x-www-form-urlencoded")]),
        ] {
            assert!(refusal(&Method::POST, PATH, &refused, false).is_some());
        }
        assert!(refusal(&Method::DELETE, PATH, &headers(&[]), true).is_some());
        for allowed in [
            headers(&[basic, ("content-type", "application/json; charset=utf-8")]),
            headers(&[basic, ("content-type", "application/problem+json")]),
            headers(&[basic, ("x-xsrf-token", "TWX-XSRF-TOKEN-VALUE")]),
            headers(&[basic, ("x-requested-with", "XMLHttpRequest")]),
            headers(&[basic, ("appkey", "k")]),
            headers(&[("content-type", "text/plain")]),
        ] {
            assert!(refusal(&Method::POST, PATH, &allowed, false).is_none());
        }
        assert!(refusal(&Method::GET, PATH, &headers(&[basic]), true).is_none());
        for own in OWN_CHECK {
            assert!(refusal(&Method::POST, own, &headers(&[]), true).is_none());
        }
        let console = "/Thingworx/Console/Groups";
        assert!(refusal(&Method::POST, console, &headers(&[]), true).is_none());
    }

    #[test]
    fn only_a_basic_client_is_challenged() {
        let mut map = HeaderMap::new();
        challenge(&mut map, StatusCode::UNAUTHORIZED, true);
        assert_eq!(
            map.get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some(BASIC_CHALLENGE)
        );
        challenge(&mut map, StatusCode::UNAUTHORIZED, false);
        assert!(!map.contains_key(header::WWW_AUTHENTICATE));
        assert!(sends_basic(&headers(&[("authorization", "basic YTpi")])));
        assert!(!sends_basic(&headers(&[("authorization", "Bearer x")])));
    }
}
