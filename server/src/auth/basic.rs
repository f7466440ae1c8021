//! Who is calling: HTTP Basic credentials checked against the stored argon2id hash. Every
//! failure is a 401 with a short reason, and an unknown user costs the same time as a wrong
//! password (a dummy hash is verified), so the answer never tells which user names exist.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use base64::Engine;
use ironworx_entity::queries::{now_ms, users};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user's entity id.
    pub user_id: i64,
    /// The user's name.
    pub name: String,
}

const BAD_CREDENTIALS: &str = "invalid user name or password";

/// A hash of a random password, verified when the user does not exist so that the response
/// takes as long as for a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        crate::password::hash_password(&crate::password::generate_password()).unwrap_or_default()
    })
}

/// Splits a `Basic` authorization header into user name and password.
fn basic_credentials(req: &HttpRequest) -> Result<(String, String), ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, encoded) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthorized(
            "unsupported authorization scheme".into(),
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::Unauthorized("malformed Basic credentials".into()))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| ApiError::Unauthorized("malformed Basic credentials".into()))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| ApiError::Unauthorized("malformed Basic credentials".into()))?;
    Ok((user.to_owned(), password.to_owned()))
}

/// Checks the credentials of `req`.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let (name, password) = basic_credentials(req)?;
    let record = users::find_user(&state.db, &name)
        .await
        .map_err(ApiError::internal)?;
    let stored = record
        .as_ref()
        .and_then(|r| users::password_of(&r.user))
        .filter(|p| p.algorithm == users::ARGON2ID)
        .map(|p| p.hash);
    let hash = stored.clone().unwrap_or_else(|| dummy_hash().to_owned());
    let matches = web::block(move || crate::password::verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    let (Some(record), true, Some(_)) = (record, matches, stored) else {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    let user = &record.user;
    if !user.login_allowed {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    if !user.enabled {
        return Err(ApiError::Unauthorized("the user is disabled".into()));
    }
    if user.locked && user.locked_until.is_none_or(|until| until > now_ms()) {
        return Err(ApiError::Unauthorized("the user is locked".into()));
    }
    Ok(Caller {
        user_id: record.entity.id,
        name: record.entity.name,
    })
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
