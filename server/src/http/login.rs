//! Form login per organization: the login page of `GET /Thingworx/FormLogin/<Org>`, the form it
//! posts to `POST /Thingworx/action-login`, the landing page `GET /Thingworx/Home` and
//! `POST /Thingworx/Logout`, with their double-submit CSRF token (cookie `CSRFID`, field
//! `x-csrf-id`) and the security headers of every page they render.
//!
//! An organization's page shows its own prompt (HTML-escaped), its image (only when it decodes
//! as a PNG, JPEG, GIF or WebP image) and its styles (a style name becomes a CSS class; an
//! inline JSON style contributes validated colours only). A login through an organization's
//! page succeeds only for members of that organization (`Everyone` admits every user).

use std::fmt::Write as _;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::HttpServiceFactory;
use actix_web::error::UrlencodedError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ironworx_entity::queries::QueryError;
use ironworx_entity::queries::entities;
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::vocab::Collection;
use ironworx_entity::vocab::builtin::EVERYONE;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::auth::{
    authenticate, client_ip, end_session, login_with_password, open_session, security_log,
};
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie holding the CSRF token of the login and logout forms.
pub const CSRF_COOKIE: &str = "CSRFID";

/// The form field repeating the CSRF token.
pub const CSRF_FIELD: &str = "x-csrf-id";

/// Largest login or logout form accepted (16 KiB).
pub const FORM_LIMIT: usize = 16 * 1024;

/// Where a caller without a session is sent.
pub const LOGIN_LOCATION: &str = "/Thingworx/FormLogin/Everyone";

/// Shown when the CSRF token of a login form is missing or stale.
pub const FORM_EXPIRED: &str = "The login form expired. Please sign in again.";

/// Largest login image accepted, in base64 characters (about 1.5 MiB of image).
const MAX_IMAGE_BASE64: usize = 2 * 1024 * 1024;

/// Length of a CSRF token: 32 random bytes, base64url without padding.
const CSRF_TOKEN_LEN: usize = 43;

/// Style applied when an organization names none (as ThingWorx falls back).
const DEFAULT_LOGIN_STYLE: &str = "DefaultLoginStyle";

/// Button style applied when an organization names none.
const DEFAULT_BUTTON_STYLE: &str = "DefaultLoginButtonStyle";

/// The routes of this module, registered by [`crate::http::configure`].
pub fn services() -> impl HttpServiceFactory {
    (
        web::resource(["/Thingworx/FormLogin", "/Thingworx/FormLogin/"])
            .route(web::get().to(login_page)),
        web::resource("/Thingworx/FormLogin/{org}").route(web::get().to(login_page)),
        web::resource("/Thingworx/action-login")
            .app_data(form_config())
            .route(web::post().to(action_login)),
        web::resource("/Thingworx/Home").route(web::get().to(home)),
        web::resource("/Thingworx/Logout")
            .app_data(form_config())
            .route(web::post().to(logout)),
    )
}

/// Form extractor settings: the size limit, and errors mapped onto [`ApiError`].
pub(crate) fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, _req| form_error(err).into())
}

fn form_error(err: UrlencodedError) -> ApiError {
    match err {
        UrlencodedError::Overflow { .. } => ApiError::TooLarge(FORM_LIMIT as u64),
        UrlencodedError::ContentType => ApiError::BadRequest(
            "expected Content-Type: application/x-www-form-urlencoded".to_owned(),
        ),
        other => ApiError::BadRequest(format!("malformed form: {other}")),
    }
}

// ------------------------------------------------------------------------------------------
// Pages

/// The escaper of every HTML template of the server (configured in `askama.toml`): the five
/// characters that matter in HTML text and quoted attributes, as named entities.
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlEntities;

impl askama::filters::Escaper for HtmlEntities {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, string: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, b) in string.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTemplate<'a> {
    organization: &'a str,
    prompt: &'a str,
    image: Option<String>,
    page_class: String,
    page_style: String,
    button_class: String,
    button_style: String,
    csrf: &'a str,
    message: Option<&'a str>,
    user_name: &'a str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomeTemplate<'a> {
    user: &'a str,
    organization: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageTemplate<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// An organization whose login page is shown: the one asked for, or `Everyone`.
struct Organization {
    name: String,
    page: LoginPage,
}

/// The organization named `requested` (empty: `Everyone`); an unknown one falls back to
/// `Everyone` with a warning in the log, as ThingWorx does.
async fn resolve_organization(state: &AppState, requested: &str) -> Result<Organization, ApiError> {
    let requested = requested.trim();
    let name = if requested.is_empty() {
        EVERYONE
    } else {
        requested
    };
    match organizations::login_page(&state.db, name).await {
        Ok(page) => {
            return Ok(Organization {
                name: name.to_owned(),
                page,
            });
        }
        Err(QueryError::NotFound { .. }) => {}
        Err(err) => return Err(ApiError::internal(err)),
    }
    if name != EVERYONE {
        tracing::warn!(
            organization = ?name,
            "login page of an unknown organization requested; showing the Everyone page"
        );
    }
    let page = match organizations::login_page(&state.db, EVERYONE).await {
        Ok(page) => page,
        Err(QueryError::NotFound { .. }) => LoginPage::default(),
        Err(err) => return Err(ApiError::internal(err)),
    };
    Ok(Organization {
        name: EVERYONE.to_owned(),
        page,
    })
}

/// The login page of `org` with `status`, an optional message and the cookies to set.
fn render_login(
    org: &Organization,
    csrf: &str,
    message: Option<&str>,
    user_name: &str,
    status: StatusCode,
    cookies: Vec<Cookie<'static>>,
) -> Result<HttpResponse, ApiError> {
    let page = style_of(&org.page.login_style, DEFAULT_LOGIN_STYLE);
    let button = style_of(&org.page.login_button_style, DEFAULT_BUTTON_STYLE);
    let body = LoginTemplate {
        organization: &org.name,
        prompt: &org.page.login_prompt,
        image: image_data_uri(&org.page.login_image),
        page_class: page.class,
        page_style: page.css,
        button_class: button.class,
        button_style: button.css,
        csrf,
        message,
        user_name,
    }
    .render()
    .map_err(ApiError::internal)?;
    Ok(html(status, body, cookies))
}

/// An HTML response (its security headers are added by [`crate::http::headers`]).
pub(crate) fn html(
    status: StatusCode,
    body: String,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder.content_type("text/html; charset=utf-8");
    for cookie in cookies {
        builder.cookie(cookie);
    }
    builder.body(body)
}

/// A `303 See Other` to `location` (a path on this server), setting `cookies`.
pub(crate) fn redirect(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut builder = HttpResponse::SeeOther();
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder.insert_header((header::LOCATION, location));
    for cookie in cookies {
        builder.cookie(cookie);
    }
    builder.finish()
}

// ------------------------------------------------------------------------------------------
// Styles and image

/// What an organization's style becomes on the page: a CSS class, and declarations built only
/// from validated values.
#[derive(Debug, PartialEq, Eq)]
struct Style {
    class: String,
    css: String,
}

/// A style name becomes the class `twx-style-<name>` (characters outside `[A-Za-z0-9_-]`
/// replaced); an inline JSON style (starting with `{`) keeps the default class and contributes
/// its colours when they are `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`. Anything else is
/// dropped: nothing of the value reaches the page unchecked.
fn style_of(value: &str, default: &str) -> Style {
    let value = value.trim();
    if value.starts_with('{') {
        let css = serde_json::from_str::<Value>(value)
            .map(|v| inline_css(&v))
            .unwrap_or_default();
        Style {
            class: class_name(default),
            css,
        }
    } else if value.is_empty() {
        Style {
            class: class_name(default),
            css: String::new(),
        }
    } else {
        Style {
            class: class_name(value),
            css: String::new(),
        }
    }
}

fn class_name(name: &str) -> String {
    let mut class = String::from("twx-style-");
    class.extend(name.chars().take(64).map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '-'
        }
    }));
    class
}

/// CSS declarations from the colours of a ThingWorx style definition.
fn inline_css(style: &Value) -> String {
    let mut css = String::new();
    for (key, property) in [
        ("backgroundColor", "background-color"),
        ("foregroundColor", "color"),
        ("lineColor", "border-color"),
    ] {
        if let Some(color) = style
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| is_hex_color(c))
        {
            let _ = write!(css, "{property}: {color}; ");
        }
    }
    if style.get("fontEmphasisBold") == Some(&Value::Bool(true)) {
        css.push_str("font-weight: bold; ");
    }
    if style.get("fontEmphasisItalic") == Some(&Value::Bool(true)) {
        css.push_str("font-style: italic; ");
    }
    css.trim_end().to_owned()
}

fn is_hex_color(value: &str) -> bool {
    value.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The `data:` URI of a login image stored as base64, when it decodes to a PNG, JPEG, GIF or
/// WebP image; `None` otherwise (the page then shows no image). The URI is re-encoded from the
/// decoded bytes, so only base64 characters reach the page.
fn image_data_uri(encoded: &str) -> Option<String> {
    let encoded = encoded.trim();
    let encoded = match encoded.split_once(";base64,") {
        Some((prefix, rest)) if prefix.starts_with("data:") => rest,
        _ => encoded,
    };
    if encoded.is_empty() || encoded.len() > MAX_IMAGE_BASE64 {
        return None;
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD.decode(compact).ok()?;
    let mime = image_type(&bytes)?;
    Some(format!("data:{mime};base64,{}", STANDARD.encode(&bytes)))
}

fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes[8..12] == *b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

// ------------------------------------------------------------------------------------------
// CSRF

/// A new CSRF token: 32 bytes from the operating system's generator, base64url.
fn new_csrf_token() -> Result<String, ApiError> {
    let bytes = crate::auth::hashing::random_bytes::<32>().map_err(ApiError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn is_csrf_token(value: &str) -> bool {
    value.len() == CSRF_TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF cookie: HttpOnly, SameSite=Strict, path `/Thingworx`, `Secure` behind TLS.
fn csrf_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build(CSRF_COOKIE, token)
        .path("/Thingworx")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The token a page puts in its forms: the request's CSRF cookie when it holds a well-formed
/// token (so that several open pages stay valid), otherwise a new one with the cookie to set.
pub(crate) fn csrf_for_page(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(String, Vec<Cookie<'static>>), ApiError> {
    if let Some(cookie) = req.cookie(CSRF_COOKIE)
        && is_csrf_token(cookie.value())
    {
        return Ok((cookie.value().to_owned(), Vec::new()));
    }
    let token = new_csrf_token()?;
    let cookie = csrf_cookie(token.clone(), state.config.auth.secure_cookies);
    Ok((token, vec![cookie]))
}

/// Whether the form's token equals the cookie's (compared in constant time).
pub(crate) fn csrf_matches(req: &HttpRequest, field: &str) -> bool {
    let Some(cookie) = req.cookie(CSRF_COOKIE) else {
        return false;
    };
    let cookie = cookie.value();
    !cookie.is_empty() && !field.is_empty() && bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
}

// ------------------------------------------------------------------------------------------
// Handlers

/// `GET /Thingworx/FormLogin[/<Org>]`: the organization's login page.
async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let requested = req.match_info().get("org").unwrap_or_default();
    let org = resolve_organization(&state, requested).await?;
    let (csrf, cookies) = csrf_for_page(&req, &state)?;
    render_login(&org, &csrf, None, "", StatusCode::OK, cookies)
}

/// The fields of the login form.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(rename = "thingworx-form-userid", default)]
    user: String,
    #[serde(rename = "thingworx-form-password", default)]
    password: String,
    #[serde(rename = "OrganizationName", default)]
    organization: String,
    #[serde(rename = "x-csrf-id", default)]
    csrf: String,
}

/// `POST /Thingworx/action-login`: CSRF check, password check, membership check, session.
async fn action_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let org = resolve_organization(&state, &form.organization).await?;
    let secure = state.config.auth.secure_cookies;

    if !csrf_matches(&req, &form.csrf) {
        tracing::info!(
            organization = %org.name,
            "login refused: the CSRF token is missing or does not match"
        );
        let token = new_csrf_token()?;
        let cookie = csrf_cookie(token.clone(), secure);
        return render_login(
            &org,
            &token,
            Some(FORM_EXPIRED),
            &form.user,
            StatusCode::FORBIDDEN,
            vec![cookie],
        );
    }

    let peer = client_ip(&req, &state.config.auth);
    let login = login_with_password(state.get_ref(), &form.user, &form.password, peer).await;
    if let Err(error) = &login {
        security_log::login_refused(state.get_ref(), &form.user, security_log::FORM, peer, error)
            .await;
    }
    let caller = match login {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized(reason)) => {
            return render_login(
                &org,
                &form.csrf,
                Some(&sentence(&reason)),
                &form.user,
                StatusCode::UNAUTHORIZED,
                Vec::new(),
            );
        }
        Err(other) => return Err(other),
    };

    let index = state.security.current().await.map_err(ApiError::internal)?;
    let member = index
        .lookup(Collection::Users, &caller.name)
        .is_some_and(|user| index.belongs_to_organization(user, &org.name));
    if !member {
        tracing::info!(
            user = %caller.name,
            organization = %org.name,
            "login refused: the user is not a member of the organization"
        );
        let message = format!(
            "User {} is not a member of organization {}.",
            caller.name, org.name
        );
        let event = security_log::Event {
            kind: security_log::LOGIN_FAILED,
            user: &caller.name,
            door: security_log::FORM,
            peer,
            organization: &org.name,
            message: format!(
                "login failed for {} (not a member of the organization)",
                caller.name
            ),
            ..security_log::Event::default()
        };
        security_log::record(state.get_ref(), event).await;
        return render_login(
            &org,
            &form.csrf,
            Some(&message),
            &form.user,
            StatusCode::FORBIDDEN,
            Vec::new(),
        );
    }

    let session = open_session(state.get_ref(), &caller, &org.name, peer).await?;
    let location = home_location(&state, &org.name).await?;
    tracing::info!(user = %caller.name, organization = %org.name, "form login");
    let event = security_log::Event {
        kind: security_log::LOGIN_SUCCEEDED,
        user: &caller.name,
        door: security_log::FORM,
        peer,
        organization: &org.name,
        message: format!("{} logged in", caller.name),
        ..security_log::Event::default()
    };
    security_log::record(state.get_ref(), event).await;
    // A new CSRF token for the signed-in pages: the one of the login form is not reused.
    let fresh = csrf_cookie(new_csrf_token()?, secure);
    Ok(redirect(&location, vec![session, fresh]))
}

/// Where a login through `organization` lands: its home mashup, or the landing page.
async fn home_location(state: &AppState, organization: &str) -> Result<String, ApiError> {
    let entity = entities::find_entity(&state.db, Collection::Organizations, organization)
        .await
        .map_err(ApiError::internal)?;
    let mashup = entity
        .map(|e| e.home_mashup.trim().to_owned())
        .filter(|m| !m.is_empty());
    Ok(match mashup {
        Some(mashup) => format!(
            "/Thingworx/Runtime/index.html#mashup={}",
            encode_component(&mashup)
        ),
        None => format!("/Thingworx/Home?org={}", encode_component(organization)),
    })
}

/// `GET /Thingworx/Home[?org=<Org>]`: who is signed in, and a logout form. The organization
/// shown is the one asked for when the user belongs to it, otherwise `Everyone`.
async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = match authenticate(&req, state.get_ref()).await {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized(_)) => return Ok(redirect(LOGIN_LOCATION, Vec::new())),
        Err(other) => return Err(other),
    };
    let requested = web::Query::<HomeQuery>::from_query(req.query_string())
        .map(|q| q.into_inner().org)
        .unwrap_or_default();
    let requested = requested.trim();
    let index = state.security.current().await.map_err(ApiError::internal)?;
    let organization = if !requested.is_empty()
        && index
            .lookup(Collection::Users, &caller.name)
            .is_some_and(|user| index.belongs_to_organization(user, requested))
    {
        requested
    } else {
        EVERYONE
    };
    let (csrf, cookies) = csrf_for_page(&req, &state)?;
    let body = HomeTemplate {
        user: &caller.name,
        organization,
        csrf: &csrf,
    }
    .render()
    .map_err(ApiError::internal)?;
    Ok(html(StatusCode::OK, body, cookies))
}

#[derive(Deserialize)]
struct HomeQuery {
    #[serde(default)]
    org: String,
}

/// The fields of the logout form.
#[derive(Default, Deserialize)]
struct LogoutForm {
    #[serde(rename = "x-csrf-id", default)]
    csrf: String,
    #[serde(rename = "OrganizationName", default)]
    organization: String,
}

/// `POST /Thingworx/Logout`: ends the session and sends the browser to the login page of the
/// organization named by the form (`Everyone` when none). A form must carry the CSRF token; a
/// script may instead send `X-Requested-With` or a JSON body (`Content-Type:
/// application/json`), which no other site can send without a CORS preflight.
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<LogoutForm>>,
) -> Result<HttpResponse, ApiError> {
    let form = form.map(web::Form::into_inner).unwrap_or_default();
    let scripted =
        req.headers().contains_key("x-requested-with") || crate::http::csrf::is_json(req.headers());
    if !scripted && !csrf_matches(&req, &form.csrf) {
        tracing::info!("logout refused: the CSRF token is missing or does not match");
        let body = MessageTemplate {
            title: "Sign out",
            message: "The form expired, so you are still signed in. Reload the page and sign \
                      out again.",
            link: "/Thingworx/Home",
            link_text: "Back",
        }
        .render()
        .map_err(ApiError::internal)?;
        return Ok(html(StatusCode::FORBIDDEN, body, Vec::new()));
    }
    let removal = end_session(state.get_ref(), &req).await?;
    let organization = match form.organization.trim() {
        "" => EVERYONE,
        name => name,
    };
    let location = format!("/Thingworx/FormLogin/{}", encode_component(organization));
    Ok(redirect(&location, vec![removal]))
}

// ------------------------------------------------------------------------------------------
// Helpers

/// `reason` as a sentence: first letter upper case, final full stop.
fn sentence(reason: &str) -> String {
    let reason = reason.trim();
    let mut chars = reason.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Invalid user name or password".to_owned(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub(crate) fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    #[test]
    fn images_must_be_base64_images() {
        let uri = image_data_uri(PNG_1X1).expect("a PNG");
        assert_eq!(uri, format!("data:image/png;base64,{PNG_1X1}"));
        let wrapped = format!("{}\n{}", &PNG_1X1[..20], &PNG_1X1[20..]);
        assert_eq!(image_data_uri(&wrapped), Some(uri.clone()));
        let prefixed = format!("data:image/png;base64,{PNG_1X1}");
        assert_eq!(image_data_uri(&prefixed), Some(uri));
        assert_eq!(image_data_uri(""), None);
        assert_eq!(image_data_uri("not base64 \"><script>"), None);
        // Valid base64, but not an image.
        assert_eq!(image_data_uri(&STANDARD.encode("<svg onload=x>")), None);
    }

    #[test]
    fn styles_become_classes_or_checked_colours() {
        assert_eq!(
            style_of("", DEFAULT_LOGIN_STYLE),
            Style {
                class: "twx-style-DefaultLoginStyle".into(),
                css: String::new()
            }
        );
        assert_eq!(
            style_of("My Style\"><script>", DEFAULT_LOGIN_STYLE).class,
            "twx-style-My-Style---script-"
        );
        let inline = style_of(
            r##"{"backgroundColor":"#ffeedd","foregroundColor":"red;}body{x:url(evil)","lineColor":"#000","fontEmphasisBold":true}"##,
            DEFAULT_BUTTON_STYLE,
        );
        assert_eq!(inline.class, "twx-style-DefaultLoginButtonStyle");
        assert_eq!(
            inline.css,
            "background-color: #ffeedd; border-color: #000; font-weight: bold;"
        );
        assert_eq!(style_of("{not json", DEFAULT_LOGIN_STYLE).css, "");
    }

    #[test]
    fn csrf_tokens_are_random_and_well_formed() {
        let a = new_csrf_token().expect("token");
        let b = new_csrf_token().expect("token");
        assert!(is_csrf_token(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_csrf_token("short"));
        assert!(!is_csrf_token(&format!("{}=", &a[..42])));
    }

    #[test]
    fn helpers() {
        assert_eq!(
            sentence("invalid user name or password"),
            "Invalid user name or password."
        );
        assert_eq!(sentence("the user is locked."), "The user is locked.");
        assert_eq!(encode_component("Org A/é?#"), "Org%20A%2F%C3%A9%3F%23");
    }

    #[test]
    fn prompts_are_escaped() {
        let org = Organization {
            name: "Acme".into(),
            page: LoginPage {
                login_prompt: "<script>alert(1)</script> & \"hi\"".into(),
                login_image: PNG_1X1.into(),
                ..LoginPage::default()
            },
        };
        let res = render_login(
            &org,
            "tok",
            Some("<b>x</b>"),
            "u\"><",
            StatusCode::OK,
            Vec::new(),
        )
        .expect("renders");
        let body = match res.into_body().try_into_bytes() {
            Ok(bytes) => String::from_utf8(bytes.to_vec()).expect("utf-8"),
            Err(_) => panic!("the body is in memory"),
        };
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;hi&quot;"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;b&gt;x&lt;/b&gt;"), "{body}");
        assert!(body.contains("value=\"u&quot;&gt;&lt;\""), "{body}");
        assert!(body.contains("src=\"data:image/png;base64,"), "{body}");
        assert!(body.contains("name=\"x-csrf-id\" value=\"tok\""), "{body}");
    }
}
