//! Who is calling. Three credentials, treated alike: HTTP Basic, the `appKey` header, and the
//! session cookie set by form login. Every failure is a 401 with a short reason.

pub mod basic;

pub use basic::{Caller, authenticate};

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

use crate::config::AuthSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// The name of the session cookie (as ThingWorx names it).
pub const SESSION_COOKIE: &str = "JSESSIONID";

/// Checks a user name and password as a login does: lockout, throttling per address, and the
/// rehash of an imported PBKDF2 password to argon2id on success.
pub async fn login_with_password(
    state: &AppState,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let _ = (state, name, password, peer);
    Err(ApiError::Unauthorized("password login is not available".into()))
}

/// Opens a session for `caller` and returns the cookie that carries it.
pub async fn open_session(
    state: &AppState,
    caller: &Caller,
    organization: &str,
    peer: Option<IpAddr>,
) -> Result<Cookie<'static>, ApiError> {
    let _ = (state, caller, organization, peer);
    Err(ApiError::Unauthorized("sessions are not available".into()))
}

/// Ends the session of `req`, if any, and returns the cookie that removes it from the browser.
pub async fn end_session(state: &AppState, req: &HttpRequest) -> Result<Cookie<'static>, ApiError> {
    let _ = (state, req);
    Ok(Cookie::build(SESSION_COOKIE, "").path("/Thingworx").finish())
}

/// The client address: the peer of the connection, or the configured trusted proxy header.
pub fn client_ip(req: &HttpRequest, auth: &AuthSettings) -> Option<IpAddr> {
    if let Some(header) = &auth.trusted_proxy_header {
        let forwarded = req
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}
