//! Who is calling. Three credentials, treated alike: the `appKey` header, HTTP Basic, and the
//! session cookie set by form login. Every failure is a 401 with a short reason; a disabled or
//! locked user is refused at once, whichever credential it holds.

pub mod app_key;
pub mod password;
pub mod pbkdf2;
pub mod seal;
pub mod session;
pub mod throttle;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use base64::Engine;
use ironworx_entity::queries::{QueryError, now_ms, users};
use moka::sync::Cache;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::error::ApiError;
use crate::state::AppState;

pub use password::BAD_CREDENTIALS;

/// The name of the session cookie (as ThingWorx names it).
pub const SESSION_COOKIE: &str = "JSESSIONID";

/// The header carrying an application key (matched without regard to case).
pub const APP_KEY_HEADER: &str = "appKey";

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user's entity id.
    pub user_id: i64,
    /// The user's name.
    pub name: String,
}

/// Authentication state of one server process: sessions, throttling, verified credentials.
pub struct AuthState {
    /// Session signing and verified-token cache.
    pub sessions: session::Sessions,
    /// Failed-login counters per address.
    pub throttle: throttle::Throttle,
    /// Seals application key ids for `GetKeyID`.
    pub sealer: seal::Sealer,
    /// Basic credentials already verified: digest of (pepper, name, password) to the user and
    /// the time its password was last changed, so a changed password is a miss.
    basic: Cache<[u8; 32], (i64, Option<i64>)>,
    pepper: [u8; 32],
}

impl AuthState {
    /// Loads the session signing key (creating it on the first start).
    pub async fn load(db: &DatabaseConnection) -> Result<AuthState, QueryError> {
        let pepper = crate::password::random_bytes::<32>()
            .map_err(|e| QueryError::Refused(e.to_string()))?;
        Ok(AuthState {
            sessions: session::Sessions::load(db).await?,
            throttle: throttle::Throttle::default(),
            sealer: seal::Sealer::load(db).await?,
            basic: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
            pepper,
        })
    }

    fn basic_key(&self, name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.pepper);
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

/// A hash of a random password, verified when the user does not exist so that the response
/// takes as long as for a wrong password.
pub fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        crate::password::hash_password(&crate::password::generate_password()).unwrap_or_default()
    })
}

/// Refuses a user that may not act now: nobody logs in as `System`, a disabled user is
/// refused, a locked user is refused until its lock ends.
pub fn check_user_state(user: &users::UserRow, now: i64) -> Result<(), ApiError> {
    if !user.login_allowed {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    if !user.enabled {
        return Err(ApiError::Unauthorized("the user is disabled".into()));
    }
    if password::is_locked(user, now) {
        return Err(ApiError::Unauthorized("the user is locked".into()));
    }
    Ok(())
}

/// Splits a `Basic` authorization header into user name and password.
fn basic_credentials(value: &str) -> Result<(String, String), ApiError> {
    let malformed = || ApiError::Unauthorized("malformed Basic credentials".into());
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthorized(
            "unsupported authorization scheme".into(),
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (user, password) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok((user.to_owned(), password.to_owned()))
}

/// Basic credentials: the full login check the first time, then the cache while the password
/// stays the same; the user's state is checked on every request.
async fn authenticate_basic(
    state: &AppState,
    value: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let (name, password) = basic_credentials(value)?;
    let key = state.auth.basic_key(&name, &password);
    if let Some((user_id, changed_at)) = state.auth.basic.get(&key) {
        let record = users::find_user(&state.db, &name)
            .await
            .map_err(ApiError::internal)?;
        if let Some(record) =
            record.filter(|r| r.entity.id == user_id && r.user.password_changed_at == changed_at)
        {
            check_user_state(&record.user, now_ms())?;
            return Ok(Caller {
                user_id: record.entity.id,
                name: record.entity.name,
            });
        }
        state.auth.basic.invalidate(&key);
    }
    let (caller, changed_at) = password::login_checked(state, &name, &password, peer).await?;
    state.auth.basic.insert(key, (caller.user_id, changed_at));
    Ok(caller)
}

fn query_app_key(req: &HttpRequest) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| {
            q.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(APP_KEY_HEADER))
                .map(|(_, v)| v.clone())
        })
}

/// Authenticates a request: an `appKey` header, then Basic credentials, then the session
/// cookie. An `appKey` query parameter is refused unless the configuration allows it.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let peer = client_ip(req, &state.config.auth);
    let header_key = req
        .headers()
        .get(APP_KEY_HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    if let Some(key) = header_key {
        let key = key.map_err(|_| ApiError::Unauthorized("invalid application key".into()))?;
        return app_key::authenticate(state, &key, peer).await;
    }
    if let Some(key) = query_app_key(req) {
        if !state.config.auth.allow_app_key_in_url {
            return Err(ApiError::Unauthorized(
                "application keys are not accepted in the URL; send the appKey header".into(),
            ));
        }
        return app_key::authenticate(state, &key, peer).await;
    }
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        return authenticate_basic(state, value, peer).await;
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        return state.auth.sessions.verify(state, cookie.value()).await;
    }
    Err(ApiError::Unauthorized("authentication required".into()))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("application state missing"))?;
            authenticate(&req, state).await
        })
    }
}

/// Checks a user name and password as a login does: lockout, throttling per address, and the
/// rehash of an imported PBKDF2 password to argon2id on success.
pub async fn login_with_password(
    state: &AppState,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    password::login(state, name, password, peer).await
}

/// Opens a session for `caller` and returns the cookie that carries it.
pub async fn open_session(
    state: &AppState,
    caller: &Caller,
    organization: &str,
    peer: Option<IpAddr>,
) -> Result<Cookie<'static>, ApiError> {
    state
        .auth
        .sessions
        .open(state, caller, organization, peer)
        .await
}

/// Ends the session of `req`, if any, and returns the cookie that removes it from the browser.
pub async fn end_session(state: &AppState, req: &HttpRequest) -> Result<Cookie<'static>, ApiError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state.auth.sessions.end(state, cookie.value()).await?;
    }
    Ok(session::removal_cookie(state.config.auth.secure_cookies))
}

/// The client address: the configured trusted proxy header when present, else the peer of the
/// connection.
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
