//! The console's application key pages: the keys the caller sees, a key's user, expiration and
//! whether it expired, and, for security administrators, creating a key (its user, lifetime and
//! IP whitelist) and revoking one. A new key's id is shown once, on the page answering the
//! creating post: never in a URL, never again, never logged. Reads and changes are the domain
//! layer's ([`crate::domain::app_keys`]), with the checks REST makes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::vocab::Collection;
use serde::Deserialize;

use super::{
    Form, Frame, Posted, Stop, enc, finish, message_of, posted, posted_on, see_other_with, session,
    viewing,
};
use crate::domain::app_keys;
use crate::error::ApiError;
use crate::state::AppState;

/// Where the key pages start.
const LIST: &str = "/Thingworx/Console/ApplicationKeys";

/// The longest lifetime the form accepts, in days.
pub const MAX_DAYS: i64 = 3650;

/// Registers the application key pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ApplicationKeys", web::get().to(list))
        .route("/ApplicationKeys", web::post().to(create))
        .route("/ApplicationKeys/{name}", web::get().to(key))
        .route("/ApplicationKeys/{name}/Revoke", web::post().to(revoke));
}

fn key_href(name: &str) -> String {
    format!("{LIST}/{}", enc(name))
}

/// A key created by this request, shown once.
struct Created {
    name: String,
    user: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct ListPage<'a> {
    frame: &'a Frame,
    keys: Vec<(String, String)>,
    created: Option<Created>,
    max_days: i64,
    message: Option<String>,
}

fn list_page<'a>(
    session: &'a super::Session,
    created: Option<Created>,
    message: Option<String>,
) -> ListPage<'a> {
    ListPage {
        frame: &session.frame,
        keys: super::entity::all_visible(&session.ctx, Collection::ApplicationKeys)
            .into_iter()
            .map(|n| (key_href(&n), n))
            .collect(),
        created,
        max_days: MAX_DAYS,
        message,
    }
}

/// `GET /Thingworx/Console/ApplicationKeys`: the keys the caller sees.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(show_list(&req, &state).await)
}

async fn show_list(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, Stop> {
    let session = session(req, state, "Application keys").await?;
    let body = list_page(&session, None, message_of(req));
    session.page(StatusCode::OK, &body)
}

/// The new key's fields.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewKey {
    name: String,
    user: String,
    days: String,
    whitelist: String,
    description: String,
}

/// The expiration `days` from now in epoch milliseconds (`None`: the server's default).
fn expiration(days: &str) -> Result<Option<i64>, ApiError> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(None);
    }
    match days.parse::<i64>() {
        Ok(d) if (1..=MAX_DAYS).contains(&d) => {
            Ok(Some(ironworx_entity::queries::now_ms() + d * 86_400_000))
        }
        _ => Err(ApiError::BadRequest(format!(
            "the lifetime must be a whole number of days from 1 to {MAX_DAYS}"
        ))),
    }
}

/// `POST /Thingworx/Console/ApplicationKeys`: `CreateApplicationKey` ([`app_keys::create`]);
/// the answer is the list with the new key's id, shown this once.
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Posted<NewKey>,
) -> HttpResponse {
    finish(create_key(&req, &state, form.into_inner()).await)
}

async fn create_key(
    req: &HttpRequest,
    state: &AppState,
    form: Form<NewKey>,
) -> Result<HttpResponse, Stop> {
    let session = posted(req, state, "Application keys", &form.csrf).await?;
    let form = form.fields;
    let name = form.name.trim();
    let user = match form.user.trim() {
        "" => session.frame.user.clone(),
        other => other.to_owned(),
    };
    let key = app_keys::NewKey {
        name,
        user: Some(&user),
        expiration: expiration(&form.days)?,
        whitelist: form.whitelist.trim(),
        description: &form.description,
        ..app_keys::NewKey::default()
    };
    let secret = app_keys::create(state, &session.ctx, &key).await?;
    // The key is now visible to its creator: the list is read again from a fresh context.
    let session = super::session(req, state, "Application keys").await?;
    let created = Created {
        name: name.to_owned(),
        user,
        secret,
    };
    let body = list_page(&session, Some(created), None);
    session.page(StatusCode::OK, &body)
}

#[derive(Template)]
#[template(path = "console/key.html")]
struct KeyPage<'a> {
    frame: &'a Frame,
    name: &'a str,
    base: String,
    user: String,
    expires: String,
    expired: Option<bool>,
}

/// `GET /Thingworx/Console/ApplicationKeys/<Name>`: the key's user and expiration (never its
/// id); revoking for security administrators.
async fn key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    finish(key_page(&req, &state, &path.into_inner()).await)
}

async fn key_page(req: &HttpRequest, state: &AppState, name: &str) -> Result<HttpResponse, Stop> {
    let title = format!("Application key {name}");
    let (session, idx) = viewing(req, state, Collection::ApplicationKeys, name, &title).await?;
    let ctx = &session.ctx;
    // What the caller may not read shows as unknown.
    let user = app_keys::user_name(state, ctx, idx).await.ok();
    let expires = app_keys::expiration_date(state, ctx, idx)
        .await
        .ok()
        .flatten();
    let expired = app_keys::is_expired(state, ctx, idx).await.ok();
    let body = KeyPage {
        frame: &session.frame,
        name,
        base: key_href(name),
        user: user.unwrap_or_default(),
        expires: expires.map_or_else(|| "never".to_owned(), super::audit::when),
        expired,
    };
    session.page(StatusCode::OK, &body)
}

/// `POST /Thingworx/Console/ApplicationKeys/<Name>/Revoke`: `DeleteApplicationKey`
/// ([`app_keys::delete`]).
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Posted<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    finish(revoke_key(&req, &state, &path.into_inner(), &form.csrf).await)
}

async fn revoke_key(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    csrf: &str,
) -> Result<HttpResponse, Stop> {
    let key = (Collection::ApplicationKeys, name);
    let (session, _) = posted_on(req, state, key, "Application keys", csrf).await?;
    app_keys::delete(state, &session.ctx, name).await?;
    see_other_with(LIST, &format!("Revoked the application key {name}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_whole_days_within_bounds() {
        assert_eq!(expiration(" ").ok(), Some(None));
        assert!(matches!(expiration("30"), Ok(Some(_))));
        for bad in ["0", "-1", "3651", "1.5", "soon"] {
            assert!(expiration(bad).is_err(), "{bad}");
        }
    }
}
