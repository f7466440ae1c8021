//! Security headers on every response: `X-Content-Type-Options: nosniff` always; on every HTML
//! response a Content-Security-Policy (unless the page sets its own), `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`; and
//! `Strict-Transport-Security` on every response when the server is reached over TLS
//! (`--secure-cookies`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// The Content-Security-Policy of HTML pages: no scripts, images only inline, styles only from
/// this server, forms posting only to this server, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src data:; style-src 'self' \
     'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security` when the server is behind TLS: one year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the security headers to `headers`, the headers of a response; `tls` says whether
/// clients reach the server over TLS.
pub fn add(headers: &mut HeaderMap, tls: bool) {
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let fixed = |value: &'static str| HeaderValue::from_static(value);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, fixed("nosniff"));
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, fixed(HSTS));
    }
    if is_html {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                fixed(CONTENT_SECURITY_POLICY),
            );
        }
        headers.insert(header::X_FRAME_OPTIONS, fixed("DENY"));
        headers.insert(header::REFERRER_POLICY, fixed("no-referrer"));
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, fixed("no-store"));
        }
    }
}

/// The middleware adding [`add`]'s headers to every response, errors included.
pub async fn secure(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let tls = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.config.auth.secure_cookies);
    let mut res = next.call(req).await?;
    add(res.headers_mut(), tls);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn html_gets_every_header_and_json_only_nosniff() {
        let mut html = with_type("text/html; charset=utf-8");
        add(&mut html, false);
        for (name, value) in [
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ] {
            assert_eq!(
                html.get(&name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
        assert!(!html.contains_key(header::STRICT_TRANSPORT_SECURITY));

        let mut json = with_type("application/json");
        add(&mut json, true);
        assert_eq!(
            json.get(header::X_CONTENT_TYPE_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );
        assert_eq!(
            json.get(header::STRICT_TRANSPORT_SECURITY)
                .and_then(|v| v.to_str().ok()),
            Some(HSTS)
        );
        assert!(!json.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(!json.contains_key(header::X_FRAME_OPTIONS));
    }

    #[test]
    fn a_page_keeps_its_own_policy_and_caching() {
        let mut html = with_type("TEXT/HTML");
        html.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        html.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        add(&mut html, false);
        assert_eq!(
            html.get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok()),
            Some("default-src 'self'")
        );
        assert_eq!(
            html.get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("max-age=60")
        );
        assert_eq!(
            html.get(header::X_FRAME_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("DENY")
        );
    }
}
