//! Who is calling. Three credentials, treated alike: the `appKey` header, HTTP Basic, and the
//! session cookie set by form login. Every failure is a 401 with a short reason; a disabled or
//! locked user is refused at once, whichever credential it holds.

pub mod app_key;
pub mod fresh;
pub mod hashing;
pub mod password;
pub mod pbkdf2;
pub mod reads;
pub mod seal;
pub mod security_log;
pub mod session;
pub mod throttle;
pub mod token_crypto;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, http::header, web};
use base64::Engine;
use ironworx_entity::queries::credentials::{Sequences, read_sequences};
use ironworx_entity::queries::{QueryError, app_keys, now_ms, sessions, users};
use moka::sync::Cache;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use crate::authz::AuthzIndex;
use crate::config::{AuthSettings, Config};
use crate::error::ApiError;
use crate::live_index::Security;

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

/// What authentication reads and keeps: the database, this process's authentication state,
/// the configuration and the authorization index. The HTTP layer's state provides it, so
/// authentication depends on these parts alone.
pub trait AuthHost: Sync {
    /// The connection pool.
    fn db(&self) -> &DatabaseConnection;
    /// Sessions, throttling and verified credentials of this process.
    fn auth(&self) -> &AuthState;
    /// The configuration the server was started with.
    fn config(&self) -> &Config;
    /// The always-current authorization index.
    fn security(&self) -> &Security;
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
    /// Application key reads shared by concurrent requests carrying the same key.
    key_reads: Arc<fresh::FreshReads<Option<app_keys::KeyCredential>>>,
    /// Session reads shared by concurrent requests carrying the same session.
    session_reads: Arc<fresh::FreshReads<Option<sessions::SessionCredential>>>,
    /// The pool those reads run on.
    reads: reads::CredentialReads,
}

impl AuthState {
    /// Loads the session signing key (creating it on the first start); credentials are read
    /// through `reads`.
    pub async fn load(
        db: &DatabaseConnection,
        reads: reads::CredentialReads,
    ) -> Result<AuthState, QueryError> {
        let pepper = crate::auth::hashing::random_bytes::<32>()
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
            key_reads: Arc::default(),
            session_reads: Arc::default(),
            reads,
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
        crate::auth::hashing::hash_password(&crate::auth::hashing::generate_password())
            .unwrap_or_default()
    })
}

/// Refuses a user that may not act now, whatever credential it holds: nobody logs in as
/// `System`, a disabled user is refused, a user an administrator locked is refused until its
/// lock ends. (A lock for one client address after failed logins refuses password logins
/// only: see [`password::check_address`].)
pub fn check_user_state(user: &users::UserRow, now: i64) -> Result<(), ApiError> {
    if !user.login_allowed {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    if !user.enabled {
        return Err(ApiError::Unauthorized("the user is disabled".into()));
    }
    if password::is_locked(user, now) {
        return Err(ApiError::Unauthorized(password::LOCKED.into()));
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

/// Basic credentials as [`check_basic`] checks them; a refusal is recorded in the security log.
async fn authenticate_basic(
    state: &impl AuthHost,
    value: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let result = check_basic(state, value, peer).await;
    if let Err(error) = &result {
        let name = basic_credentials(value)
            .map(|(name, _)| name)
            .unwrap_or_default();
        security_log::login_refused(state, &name, security_log::BASIC, peer, error).await;
    }
    result
}

/// Basic credentials: the full login check the first time, then the cache while the password
/// stays the same; the user's state and the lock for this address are checked on every
/// request. A user disabled since is checked in full again, so that it gets the answer of any
/// wrong password.
async fn check_basic(
    state: &impl AuthHost,
    value: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let (name, password) = basic_credentials(value)?;
    let key = state
        .auth()
        .basic_key(&password::login_name(&name), &password);
    if let Some((user_id, changed_at)) = state.auth().basic.get(&key) {
        let record = password::find_login_user(state, &name).await?;
        if let Some(record) = record.filter(|r| {
            r.entity.id == user_id
                && r.user.password_changed_at == changed_at
                && r.user.enabled
                && r.user.login_allowed
        }) {
            let now = now_ms();
            check_user_state(&record.user, now)?;
            password::check_address(state, record.entity.id, peer, now).await?;
            return Ok(Caller {
                user_id: record.entity.id,
                name: record.entity.name,
            });
        }
        state.auth().basic.invalidate(&key);
    }
    let (caller, changed_at) = password::login_checked(state, &name, &password, peer).await?;
    state.auth().basic.insert(key, (caller.user_id, changed_at));
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
pub async fn authenticate(req: &HttpRequest, state: &impl AuthHost) -> Result<Caller, ApiError> {
    authenticate_at(req, state).await.map(|(caller, _)| caller)
}

/// Authenticates a request as [`authenticate`] does, and takes the authorization index current
/// as of this request. An application key or a session is read by one statement together with
/// its user and the sequences, so the index needs no read of its own; Basic credentials read
/// the sequences apart, in one statement.
pub async fn authenticate_current(
    req: &HttpRequest,
    state: &impl AuthHost,
) -> Result<(Caller, Arc<AuthzIndex>), ApiError> {
    authenticate_sequenced(req, state)
        .await
        .map(|(caller, index, _)| (caller, index))
}

/// Authenticates a request as [`authenticate_current`] does, and returns the sequences the
/// index was brought up to, for the Thing model ([`crate::model::Models`]) to be brought up to
/// them too.
pub async fn authenticate_sequenced(
    req: &HttpRequest,
    state: &impl AuthHost,
) -> Result<(Caller, Arc<AuthzIndex>, Sequences), ApiError> {
    let (caller, sequences) = authenticate_at(req, state).await?;
    let sequences = match sequences {
        Some(sequences) => sequences,
        None => read_sequences(state.db())
            .await
            .map_err(ApiError::internal)?,
    };
    let index = state
        .security()
        .current_at(sequences.changes)
        .await
        .map_err(ApiError::internal)?;
    Ok((caller, index, sequences))
}

/// The caller, and the sequences when the credential's statement read them.
async fn authenticate_at(
    req: &HttpRequest,
    state: &impl AuthHost,
) -> Result<(Caller, Option<Sequences>), ApiError> {
    let peer = client_ip(req, &state.config().auth);
    let with_sequence = |(caller, sequence)| (caller, Some(sequence));
    if let Some(key) = req.headers().get(APP_KEY_HEADER) {
        let key = key
            .to_str()
            .map_err(|_| ApiError::Unauthorized("invalid application key".into()))?;
        return app_key::authenticate(state, key, peer)
            .await
            .map(with_sequence);
    }
    if let Some(key) = query_app_key(req) {
        if !state.config().auth.allow_app_key_in_url {
            return Err(ApiError::Unauthorized(
                "application keys are not accepted in the URL; send the appKey header (or \
                 start the server with --allow-app-key-in-url / \
                 IRONWORX_ALLOW_APP_KEY_IN_URL=true to accept ?appKey=)"
                    .into(),
            ));
        }
        return app_key::authenticate(state, &key, peer)
            .await
            .map(with_sequence);
    }
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        return authenticate_basic(state, value, peer)
            .await
            .map(|caller| (caller, None));
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        return state
            .auth()
            .sessions
            .verify(state, cookie.value())
            .await
            .map(with_sequence);
    }
    Err(ApiError::Unauthorized("authentication required".into()))
}

/// Checks a user name and password as a login does: lockout for the client address,
/// throttling per address, and the rehash of an imported PBKDF2 password to argon2id on
/// success.
pub async fn login_with_password(
    state: &impl AuthHost,
    name: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    password::login(state, name, password, peer).await
}

/// Opens a session for `caller` and returns the cookie that carries it.
pub async fn open_session(
    state: &impl AuthHost,
    caller: &Caller,
    organization: &str,
    peer: Option<IpAddr>,
) -> Result<Cookie<'static>, ApiError> {
    state
        .auth()
        .sessions
        .open(state, caller, organization, peer)
        .await
}

/// Ends the session of `req`, if any, and returns the cookie that removes it from the browser.
pub async fn end_session(
    state: &impl AuthHost,
    req: &HttpRequest,
) -> Result<Cookie<'static>, ApiError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE)
        && let Some(user) = state.auth().sessions.end(state, cookie.value()).await?
    {
        let event = security_log::Event {
            kind: security_log::LOGOUT,
            user: &user,
            door: security_log::SESSION,
            peer: client_ip(req, &state.config().auth),
            message: format!("{user} logged out"),
            ..security_log::Event::default()
        };
        security_log::record(state, event).await;
    }
    Ok(session::removal_cookie(state.config().auth.secure_cookies))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AppState;
    use actix_web::test::TestRequest;
    use ironworx_entity::queries::app_keys::{self, NewAppKey};
    use ironworx_entity::queries::users::NewUser;
    use ironworx_entity::queries::{audit, sessions};
    use ironworx_entity::vocab::Collection;

    const KEY: &str = "5d1e7a0c-93b4-4e0f-8c55-2b7f0d9a6e31";

    async fn state() -> (tempfile::TempDir, AppState) {
        crate::state::for_tests("a.db", async |_, _| {}).await
    }

    fn unauthorized(result: Result<(Caller, Arc<AuthzIndex>), ApiError>) -> String {
        match result {
            Err(ApiError::Unauthorized(reason)) => reason,
            Err(other) => panic!("expected a 401, got {other:?}"),
            Ok((caller, _)) => panic!("expected a 401, got {caller:?}"),
        }
    }

    /// A key or a session brings the index to the change sequence read with the credential, and
    /// a change to the key, the user or the session counts on the very next request.
    #[actix_web::test]
    async fn credentials_read_with_the_change_sequence_stay_exact() {
        let (_tmp, state) = state().await;
        let db = &state.db;
        let user = users::create_user(
            db,
            &NewUser {
                name: "keyuser".into(),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
        app_keys::create_app_key(
            db,
            &NewAppKey {
                name: "Key".into(),
                key_hash: Some(app_key::key_hash(KEY)),
                user_id: Some(user.entity.id),
                ..NewAppKey::default()
            },
        )
        .await
        .expect("key");
        // A change made behind the server's back: the index is stale until it is rebuilt.
        let changed = audit::bump_sequence(db).await.expect("bump");
        let with_key = || {
            TestRequest::get()
                .insert_header((APP_KEY_HEADER, KEY))
                .to_http_request()
        };
        let (caller, index) = authenticate_current(&with_key(), &state)
            .await
            .expect("the key authenticates");
        assert_eq!(caller.name, "keyuser");
        assert_eq!(caller.user_id, user.entity.id);
        assert!(index.sequence() >= changed, "the index was rebuilt");
        assert!(index.lookup(Collection::Users, "keyuser").is_some());

        users::set_enabled(db, user.entity.id, false)
            .await
            .expect("disable");
        assert!(unauthorized(authenticate_current(&with_key(), &state).await).contains("disabled"));
        users::set_enabled(db, user.entity.id, true)
            .await
            .expect("enable");
        users::set_locked(db, user.entity.id, true, None)
            .await
            .expect("lock");
        assert!(unauthorized(authenticate_current(&with_key(), &state).await).contains("locked"));
        users::set_locked(db, user.entity.id, false, None)
            .await
            .expect("unlock");
        let mut expired = app_keys::get_app_key(db, "Key").await.expect("key").key;
        expired.expiration_date = Some(now_ms() - 1);
        app_keys::save_app_key(db, &expired).await.expect("expire");
        assert!(unauthorized(authenticate_current(&with_key(), &state).await).contains("expired"));
        let mut orphan = expired.clone();
        orphan.expiration_date = None;
        orphan.user_id = None;
        app_keys::save_app_key(db, &orphan)
            .await
            .expect("a key without a user");
        assert!(
            unauthorized(authenticate_current(&with_key(), &state).await)
                .contains("invalid application key")
        );
        let mut restored = orphan.clone();
        restored.user_id = Some(user.entity.id);
        app_keys::save_app_key(db, &restored)
            .await
            .expect("restore");
        assert!(authenticate_current(&with_key(), &state).await.is_ok());

        let cookie = open_session(&state, &caller, "Everyone", None)
            .await
            .expect("session");
        let with_session = || TestRequest::get().cookie(cookie.clone()).to_http_request();
        let changed = audit::bump_sequence(db).await.expect("bump");
        let (again, index) = authenticate_current(&with_session(), &state)
            .await
            .expect("the session authenticates");
        assert_eq!(again, caller);
        assert!(index.sequence() >= changed, "the index was rebuilt");
        users::set_enabled(db, user.entity.id, false)
            .await
            .expect("disable");
        assert!(
            unauthorized(authenticate_current(&with_session(), &state).await).contains("disabled")
        );
        users::set_enabled(db, user.entity.id, true)
            .await
            .expect("enable");
        sessions::revoke_user_sessions(db, user.entity.id, now_ms())
            .await
            .expect("revoke");
        assert!(
            unauthorized(authenticate_current(&with_session(), &state).await).contains("ended")
        );
    }
}
