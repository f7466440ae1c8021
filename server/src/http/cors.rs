//! Cross-origin requests from browser pages (CORS): only the origins of
//! `--cors-allowed-origins` get CORS headers. A preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) from a listed origin is answered here, with the methods and
//! headers a ThingWorx client sends (`appKey`, `Content-Type`, `X-XSRF-TOKEN`, `Authorization`,
//! …) and credentials allowed; any other origin's preflight answers 403 with no CORS header, so
//! its browser sends nothing else. This adds no way around the cross-site protection
//! (`http::csrf`): what a page of an unlisted origin can send without a preflight is what a
//! form can, and that is refused there.

use actix_web::ResponseError as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

/// The methods a listed origin may use.
pub const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";

/// The request headers a listed origin may send.
pub const ALLOWED_HEADERS: &str = "appKey, Accept, Authorization, Content-Type, X-XSRF-TOKEN, \
     X-Requested-With, X-Requested-By";

/// How long a browser may keep a preflight's answer, in seconds.
pub const MAX_AGE: &str = "600";

/// The origin of the request, when it is one of `allowed`.
fn listed<'a>(headers: &'a HeaderMap, allowed: &[String]) -> Option<&'a HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?.trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(text))
        .then_some(origin)
}

/// The CORS headers of every answer to a listed origin.
fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The middleware: answers preflights, and adds the CORS headers to what a listed origin gets.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let allowed: &[String] = req.app_data::<web::Data<AppState>>().map_or(&[], |state| {
        state.config.auth.cors_allowed_origins.as_slice()
    });
    let origin = listed(req.headers(), allowed).cloned();
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = match origin {
            Some(origin) => {
                let mut response = HttpResponse::NoContent().finish();
                let headers = response.headers_mut();
                allow(headers, origin);
                let fixed = HeaderValue::from_static;
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, fixed(ALLOWED_METHODS));
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, fixed(ALLOWED_HEADERS));
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, fixed(MAX_AGE));
                response
            }
            None => ApiError::Refused(
                "this origin is not allowed to call the server (--cors-allowed-origins)".into(),
            )
            .error_response(),
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?.map_into_left_body();
    if let Some(origin) = origin {
        allow(res.headers_mut(), origin);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_match() {
        let allowed = vec!["https://app.example".to_owned()];
        let mut headers = HeaderMap::new();
        assert!(listed(&headers, &allowed).is_none());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://APP.example"),
        );
        assert!(listed(&headers, &allowed).is_some());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(listed(&headers, &allowed).is_none());
        assert!(listed(&headers, &[]).is_none());
    }
}
