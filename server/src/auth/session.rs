//! Sessions: a signed token (HS256) in an HttpOnly, SameSite cookie, backed by a row in the
//! sessions table. The token proves who opened the session; the row decides whether it still
//! holds, so logout, `TerminateUserSessions`, disabling or locking a user, or changing its
//! password end the session at once on every server process. Verified tokens are cached, so a
//! request does not pay again for a signature check it already paid; the row, its user and the
//! change sequence are read by one statement.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use futures_util::FutureExt;
use ironworx_entity::queries::credentials::Sequences;
use ironworx_entity::queries::sessions::{self, NewSession};
use ironworx_entity::queries::{QueryError, now_ms, settings};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moka::sync::Cache;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::auth::AuthHost;
use crate::auth::{Caller, SESSION_COOKIE};
use crate::error::ApiError;

/// The setting holding the key sessions are signed with (shared by every server process).
pub const SIGNING_KEY_SETTING: &str = "session.signing_key";

/// How often the last-activity time of a session is written (at most once per this interval).
pub const TOUCH_INTERVAL_MS: i64 = 60_000;

/// What a session token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user name.
    pub sub: String,
    /// The session id (the row in the sessions table).
    pub sid: String,
    /// Issued at (seconds).
    pub iat: u64,
    /// Expires at (seconds).
    pub exp: u64,
}

/// Signing keys and the cache of verified tokens.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    verified: Cache<String, Claims>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    crate::auth::hashing::random_bytes().map_err(ApiError::internal)
}

impl Sessions {
    /// Loads the signing key, generating it on the very first start.
    pub async fn load(db: &DatabaseConnection) -> Result<Sessions, QueryError> {
        crate::auth::token_crypto::install();
        let candidate = random_bytes::<32>()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
            .map_err(|e| QueryError::Refused(e.to_string()))?;
        settings::set_once(db, SIGNING_KEY_SETTING, &candidate).await?;
        let encoded = settings::get(db, SIGNING_KEY_SETTING)
            .await?
            .ok_or_else(|| QueryError::Refused("the session signing key is missing".into()))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| QueryError::Refused(format!("the session signing key is corrupt: {e}")))?;
        Ok(Sessions {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            verified: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        })
    }

    /// Opens a session and returns its cookie.
    pub async fn open(
        &self,
        state: &impl AuthHost,
        caller: &Caller,
        organization: &str,
        peer: Option<IpAddr>,
    ) -> Result<Cookie<'static>, ApiError> {
        let now = now_ms();
        let max = i64::try_from(
            state
                .config()
                .auth
                .session_max_hours
                .saturating_mul(3_600_000),
        )
        .unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(max);
        let sid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<24>()?);
        sessions::open_session(
            state.db(),
            &NewSession {
                token_id: sid.clone(),
                user_id: caller.user_id,
                organization: organization.to_owned(),
                peer_addr: peer.map(|p| p.to_string()).unwrap_or_default(),
                created_at: now,
                expires_at,
            },
        )
        .await
        .map_err(ApiError::internal)?;
        let claims = Claims {
            sub: caller.name.clone(),
            sid,
            iat: u64::try_from(now / 1000).unwrap_or(0),
            exp: u64::try_from(expires_at / 1000).unwrap_or(u64::MAX),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(cookie(token, state.config().auth.secure_cookies))
    }

    /// Verifies a session token and its row: the caller it stands for, and the sequences that
    /// the statement reading the session row and its user read too (for
    /// [`crate::live_index::Security::current_at`] and the Thing model).
    pub async fn verify(
        &self,
        state: &impl AuthHost,
        token: &str,
    ) -> Result<(Caller, Sequences), ApiError> {
        let invalid = || ApiError::Unauthorized("invalid or expired session".into());
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.leeway = 0;
                let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
                    .map_err(|_| invalid())?;
                self.verified.insert(token.to_owned(), data.claims.clone());
                data.claims
            }
        };
        let now = now_ms();
        let reads = state.auth().reads.clone();
        let sid = claims.sid.clone();
        let found = state
            .auth()
            .session_reads
            .read(&claims.sid, move || {
                async move {
                    reads
                        .run(|db| {
                            let sid = &sid;
                            async move { sessions::find_credential(&db, sid).await }
                        })
                        .await
                }
                .boxed()
            })
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(invalid)?;
        let row = &found.session;
        let idle = i64::try_from(
            state
                .config()
                .auth
                .session_idle_minutes
                .saturating_mul(60_000),
        )
        .unwrap_or(i64::MAX);
        if row.expires_at <= now || now.saturating_sub(row.last_seen_at) > idle {
            // Ended here once (on whichever process sees it first), so it is recorded once.
            if row.revoked_at.is_none()
                && sessions::revoke_session(state.db(), &row.token_id, now)
                    .await
                    .map_err(ApiError::internal)?
            {
                let event = crate::auth::security_log::Event {
                    kind: crate::auth::security_log::SESSION_EXPIRED,
                    user: &claims.sub,
                    door: crate::auth::security_log::SESSION,
                    peer: row.peer_addr.parse().ok(),
                    organization: &row.organization,
                    message: format!("the session of {} expired", claims.sub),
                    ..Default::default()
                };
                crate::auth::security_log::record(state, event).await;
            }
            return Err(ApiError::Unauthorized("the session has expired".into()));
        }
        if row.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("the session has ended".into()));
        }
        let user = found
            .user
            .filter(|u| u.name == claims.sub)
            .ok_or_else(invalid)?;
        crate::auth::check_user_state(&user.user, now)?;
        if now.saturating_sub(row.last_seen_at) > TOUCH_INTERVAL_MS {
            sessions::touch_session(state.db(), row.id, now)
                .await
                .map_err(ApiError::internal)?;
        }
        Ok((
            Caller {
                user_id: user.id,
                name: user.name,
            },
            found.sequence,
        ))
    }

    /// Ends the session carried by `token`, if it is one of ours; answers its user when this
    /// ended it.
    pub async fn end(
        &self,
        state: &impl AuthHost,
        token: &str,
    ) -> Result<Option<String>, ApiError> {
        let validation = {
            let mut v = Validation::new(Algorithm::HS256);
            // An expired session can still be logged out of.
            v.validate_exp = false;
            v
        };
        let mut ended = None;
        if let Ok(data) = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            && sessions::revoke_session(state.db(), &data.claims.sid, now_ms())
                .await
                .map_err(ApiError::internal)?
        {
            ended = Some(data.claims.sub);
        }
        self.verified.invalidate(token);
        Ok(ended)
    }
}

/// The session cookie: HttpOnly, SameSite=Strict, path `/Thingworx`, `Secure` behind TLS.
pub fn cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/Thingworx")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The cookie that removes the session cookie from the browser.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut c = cookie(String::new(), secure);
    c.make_removal();
    c
}
