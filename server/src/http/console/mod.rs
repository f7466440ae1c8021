//! The web console under `/Thingworx/Console/`: its routes, the frame every page shares
//! (session login, navigation, the double-submit CSRF token of every form, the strict CSP) and
//! the vendored assets it serves. Pages live in one file per family; every read and change
//! is a call of the domain layer (`crate::domain`), whose operations check their caller with
//! the needs the REST catalog declares, so the console never checks less than REST does.
//!
//! Vendored: htmx 2.0.11 (`assets/console/htmx-2.0.11.min.js`, from the npm package
//! `htmx.org@2.0.11`), SHA-256 `d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717`.

pub mod audit;
pub mod changes;
pub mod entity;
pub mod groups;
pub mod keys;
pub mod organizations;
pub mod users;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use askama::Template;
use ironworx_entity::vocab::Collection;

use crate::auth::SESSION_COOKIE;
use crate::authz::EntityIdx;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::login::{LOGIN_LOCATION, csrf_for_page, csrf_matches, html, redirect};
use crate::state::AppState;

/// Where the console starts.
pub const ROOT: &str = "/Thingworx/Console/";

/// The Content-Security-Policy of console pages: scripts and styles only from this server (the
/// vendored htmx and the console's style sheet), nothing inline, no `eval`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src \
     'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors \
     'none'; base-uri 'none'";

/// Shown when a console form's CSRF token is missing or stale.
pub const FORM_EXPIRED: &str =
    "The form expired, so nothing was changed. Reload the page and try again.";

/// The vendored htmx.
const HTMX: &[u8] = include_bytes!("../../../assets/console/htmx-2.0.11.min.js");
/// The console's style sheet.
const CSS: &[u8] = include_bytes!("../../../assets/console/console.css");

/// The routes of the console, registered by [`crate::http::routes`].
pub fn services() -> impl HttpServiceFactory {
    web::scope("/Thingworx/Console")
        .app_data(crate::http::login::form_config())
        .route("", web::get().to(to_root))
        .route("/", web::get().to(index))
        .route("/assets/htmx-2.0.11.min.js", web::get().to(htmx))
        .route("/assets/console.css", web::get().to(css))
        .configure(entity::routes)
        .configure(groups::routes)
        .configure(audit::routes)
        .configure(changes::routes)
        .configure(users::routes)
        .configure(keys::routes)
        .configure(organizations::routes)
        .default_service(web::to(not_found))
}

/// What every page shows around its content: who is signed in, the navigation and the CSRF
/// token its forms carry.
pub struct Frame {
    /// The signed-in user.
    pub user: String,
    /// Whether the administration pages are offered.
    pub admin: bool,
    /// Whether the audit view is offered.
    pub auditor: bool,
    /// The token of every form.
    pub csrf: String,
    /// The page's title.
    pub title: String,
}

/// A signed-in request: the caller's context, its frame and the cookie a new token needs.
pub struct Session {
    /// The caller's context.
    pub ctx: Guard,
    /// The frame of its pages.
    pub frame: Frame,
    cookies: Vec<actix_web::cookie::Cookie<'static>>,
}

/// A console form: its CSRF token and its own fields.
#[derive(serde::Deserialize)]
pub struct Form<T> {
    /// The double-submit token every form carries.
    #[serde(rename = "x-csrf-id", default)]
    pub csrf: String,
    /// The form's fields.
    #[serde(flatten)]
    pub fields: T,
}

/// A posted console form.
pub type Posted<T> = web::Form<Form<T>>;

/// Why a console request stops: a redirect to the login page, or an error page.
pub enum Stop {
    /// Not signed in.
    Login,
    /// An error to show in words.
    Error(ApiError),
}

impl From<ApiError> for Stop {
    fn from(err: ApiError) -> Stop {
        match err {
            ApiError::Unauthorized(_) => Stop::Login,
            other => Stop::Error(other),
        }
    }
}

/// The session of `req`: only a session cookie signs in to the console (an application key or
/// Basic credentials do not); without one the browser is sent to the login page.
pub async fn session(req: &HttpRequest, state: &AppState, title: &str) -> Result<Session, Stop> {
    if req
        .cookie(SESSION_COOKIE)
        .is_none_or(|c| c.value().is_empty())
    {
        return Err(Stop::Login);
    }
    let ctx = Guard::of(req, state).await?;
    let (csrf, cookies) = csrf_for_page(req, state)?;
    let frame = Frame {
        user: ctx.caller.name.clone(),
        admin: ctx.is_security_admin(),
        auditor: ctx.is_auditor(),
        csrf,
        title: title.to_owned(),
    };
    Ok(Session {
        ctx,
        frame,
        cookies,
    })
}

/// The session of a form post, whose token must match the cookie's: a post without it changes
/// nothing and answers 403 with the reason in words.
pub async fn posted(
    req: &HttpRequest,
    state: &AppState,
    title: &str,
    token: &str,
) -> Result<Session, Stop> {
    let session = session(req, state, title).await?;
    if !csrf_matches(req, token) {
        tracing::info!(user = %session.frame.user, path = %req.path(), "console form refused: the CSRF token is missing or does not match");
        return Err(Stop::Error(ApiError::Refused(FORM_EXPIRED.to_owned())));
    }
    Ok(session)
}

/// The query string of a page as `Q`; a missing or malformed one reads as `Q::default()`.
pub fn query<Q: serde::de::DeserializeOwned + Default>(req: &HttpRequest) -> Q {
    web::Query::<Q>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// The session of a page about the entity `name` of `collection`, and the entity: 404 unless
/// the caller sees it.
pub async fn viewing(
    req: &HttpRequest,
    state: &AppState,
    collection: Collection,
    name: &str,
    title: &str,
) -> Result<(Session, EntityIdx), Stop> {
    let session = session(req, state, title).await?;
    let (_, idx) = session.ctx.visible_entity(collection.as_str(), name)?;
    Ok((session, idx))
}

/// The session of a form post about the entity `name` of `collection`, and the entity: the
/// token checked as [`posted`] does, then 404 unless the caller sees the entity.
pub async fn posted_on(
    req: &HttpRequest,
    state: &AppState,
    (collection, name): (Collection, &str),
    title: &str,
    token: &str,
) -> Result<(Session, EntityIdx), Stop> {
    let session = posted(req, state, title, token).await?;
    let (_, idx) = session.ctx.visible_entity(collection.as_str(), name)?;
    Ok((session, idx))
}

impl Session {
    /// The page `body` rendered, answered with `status`.
    pub fn page(&self, status: StatusCode, body: &impl Template) -> Result<HttpResponse, Stop> {
        let text = body.render().map_err(ApiError::internal)?;
        Ok(with_policy(html(status, text, self.cookies.clone())))
    }
}

/// A console response: its own CSP (the default one of HTML pages allows no script).
fn with_policy(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// A `303 See Other` to `location` after a change.
pub fn see_other(location: &str) -> Result<HttpResponse, Stop> {
    Ok(redirect(location, Vec::new()))
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    frame: Option<&'a Frame>,
    heading: &'a str,
    message: String,
}

/// Turns a handler's outcome into a response: a login redirect, or an error page saying in
/// words what went wrong, with the status REST answers for the same error.
pub fn finish(result: Result<HttpResponse, Stop>) -> HttpResponse {
    let err = match result {
        Ok(res) => return res,
        Err(Stop::Login) => return redirect(LOGIN_LOCATION, Vec::new()),
        Err(Stop::Error(err)) => err,
    };
    let status = err.status_code();
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => "The change was refused",
        _ => "Something went wrong",
    };
    let message = match &err {
        ApiError::NotFound => "There is no such page or entity, or you may not see it.".to_owned(),
        other => sentence(&other.to_string()),
    };
    let body = ErrorPage {
        frame: None,
        heading,
        message,
    }
    .render()
    .unwrap_or_else(|_| heading.to_owned());
    with_policy(html(status, body, Vec::new()))
}

/// `text` with a capital first letter and a final full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The `message` query parameter of a page reached after a change (shown as a notice).
pub fn message_of(req: &HttpRequest) -> Option<String> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct MessageQuery {
        message: String,
    }
    web::Query::<MessageQuery>::from_query(req.query_string())
        .ok()
        .map(|q| q.into_inner().message)
        .filter(|m| !m.is_empty())
}

/// A `303` to `location` carrying `message` for the page to show.
pub fn see_other_with(location: &str, message: &str) -> Result<HttpResponse, Stop> {
    see_other(&format!("{location}?message={}", enc(message)))
}

/// Percent-encodes one path segment or query value.
pub fn enc(value: &str) -> String {
    crate::http::login::encode_component(value)
}

#[derive(Template)]
#[template(path = "console/index.html")]
struct IndexPage<'a> {
    frame: &'a Frame,
}

async fn to_root() -> HttpResponse {
    redirect(ROOT, Vec::new())
}

/// `GET /Thingworx/Console/`: the start page.
async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let session = session(&req, &state, "Console").await?;
            let page = IndexPage {
                frame: &session.frame,
            };
            let text = page.render().map_err(ApiError::internal)?;
            Ok(with_policy(html(StatusCode::OK, text, session.cookies)))
        }
        .await,
    )
}

fn asset(body: &'static [u8], content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}

async fn htmx() -> HttpResponse {
    asset(HTMX, "text/javascript; charset=utf-8")
}

async fn css() -> HttpResponse {
    asset(CSS, "text/css; charset=utf-8")
}

async fn not_found() -> HttpResponse {
    finish(Err(Stop::Error(ApiError::NotFound)))
}
