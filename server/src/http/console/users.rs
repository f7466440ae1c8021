//! The console's user pages: the users the caller sees (search and paging), a user's state
//! (enabled, locked), groups and language preferences, and, for security administrators,
//! creating a user and the account actions (enable, disable, lock, unlock, a new password, the
//! language preferences, ending every session); the user's open sessions, each with its end
//! button, for the user itself and security administrators. Reads and changes are the domain
//! layer's ([`crate::domain::accounts`], [`crate::domain::create`], [`crate::domain::sessions`],
//! [`crate::domain::membership`]), with the checks REST makes, so a non-administrator posting a
//! form gets the answer REST gives.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::vocab::{Collection, MemberType};
use serde::Deserialize;

use super::{
    Form, Frame, Posted, Session, Stop, enc, finish, message_of, posted, posted_on, query,
    see_other_with, session, viewing,
};
use crate::authz::EntityIdx;
use crate::domain::accounts::{self, UserChange};
use crate::domain::create::{self, CreateParams};
use crate::domain::{membership, sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// Registers the user pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Users", web::get().to(list))
        .route("/Users", web::post().to(create))
        .route("/Users/{name}", web::get().to(user))
        .route("/Users/{name}/Actions", web::post().to(act));
}

/// The console page of user `name`.
pub fn user_href(name: &str) -> String {
    format!("/Thingworx/Console/Users/{}", enc(name))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    q: String,
    page: usize,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct ListPage<'a> {
    frame: &'a Frame,
    q: &'a str,
    users: Vec<(String, String)>,
    page: usize,
    prev: Option<String>,
    next: Option<String>,
    message: Option<String>,
}

/// `GET /Thingworx/Console/Users?q=&page=`: the users the caller sees, searched by name.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(list_page(&req, &state).await)
}

async fn list_page(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, Stop> {
    let session = session(req, state, "Users").await?;
    let query = query::<ListQuery>(req);
    let (names, more) =
        super::entity::visible_page(&session.ctx, Collection::Users, &query.q, query.page);
    let link = |page: usize| format!("/Thingworx/Console/Users?q={}&page={page}", enc(&query.q));
    let body = ListPage {
        frame: &session.frame,
        q: &query.q,
        users: names.into_iter().map(|n| (user_href(&n), n)).collect(),
        page: query.page,
        prev: (query.page > 0).then(|| link(query.page - 1)),
        next: more.then(|| link(query.page + 1)),
        message: message_of(req),
    };
    session.page(StatusCode::OK, &body)
}

/// The new user's fields.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewUser {
    name: String,
    password: String,
    description: String,
}

/// `POST /Thingworx/Console/Users`: `CreateUser` with its password ([`create::create`]).
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Posted<NewUser>,
) -> HttpResponse {
    finish(create_user(&req, &state, form.into_inner()).await)
}

async fn create_user(
    req: &HttpRequest,
    state: &AppState,
    form: Form<NewUser>,
) -> Result<HttpResponse, Stop> {
    let session = posted(req, state, "Users", &form.csrf).await?;
    let name = form.fields.name.trim();
    let user = CreateParams {
        name: Some(name.to_owned()),
        password: Some(form.fields.password),
        description: Some(form.fields.description),
        ..CreateParams::default()
    };
    create::create(state, &session.ctx, "CreateUser", Collection::Users, user).await?;
    see_other_with(&user_href(name), &format!("Created user {name}."))
}

/// A group the user belongs to.
struct GroupRow {
    name: String,
    href: String,
    /// `direct`, `through a nested group`, or empty when the caller may not read the members.
    how: &'static str,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage<'a> {
    frame: &'a Frame,
    name: &'a str,
    base: String,
    entity: String,
    enabled: Option<bool>,
    locked: Option<bool>,
    groups: Vec<GroupRow>,
    /// The account actions offered: (action, button, whether it takes something away).
    actions: Vec<(&'static str, &'static str, bool)>,
    languages: String,
    /// The user's open sessions, when the caller may see them (the user itself or a security
    /// administrator).
    sessions: Option<Vec<SessionRow>>,
    message: Option<String>,
}

/// An open session on the user page.
struct SessionRow {
    id: String,
    created: String,
    last_seen: String,
    address: String,
}

/// `GET /Thingworx/Console/Users/<Name>`: the user's state and groups; the actions for
/// security administrators.
async fn user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    finish(user_page(&req, &state, &path.into_inner()).await)
}

/// The groups of user `idx` (transitively, as `GetGroups` answers), each marked direct or not
/// when the caller may read the group's members.
async fn groups_of(
    session: &Session,
    state: &AppState,
    idx: EntityIdx,
    name: &str,
) -> Vec<GroupRow> {
    let ctx = &session.ctx;
    let groups = accounts::groups(ctx, idx).unwrap_or_default();
    let mut listed = Vec::new();
    for group in groups {
        let members = match ctx.visible_entity(Collection::Groups.as_str(), &group) {
            Ok((_, group_idx)) => membership::group_members(state, ctx, group_idx).await,
            Err(hidden) => Err(hidden),
        };
        let how = match members {
            Ok(members)
                if members
                    .iter()
                    .any(|(member, kind)| member == name && *kind == MemberType::User) =>
            {
                "direct"
            }
            Ok(_) => "through a nested group",
            Err(_) => "",
        };
        listed.push(GroupRow {
            href: format!("/Thingworx/Console/Groups/{}", enc(&group)),
            name: group,
            how,
        });
    }
    listed
}

/// The open sessions of `name` ([`sessions::list`]); `None` when the caller may not see them.
async fn sessions_of(session: &Session, state: &AppState, name: &str) -> Option<Vec<SessionRow>> {
    let open = sessions::list(state, &session.ctx, Some(name)).await.ok()?;
    Some(
        open.into_iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                created: super::audit::when(s.created_at),
                last_seen: super::audit::when(s.last_seen_at),
                address: s.address,
            })
            .collect(),
    )
}

async fn user_page(req: &HttpRequest, state: &AppState, name: &str) -> Result<HttpResponse, Stop> {
    let (session, idx) =
        viewing(req, state, Collection::Users, name, &format!("User {name}")).await?;
    // What the caller may not read shows as unknown.
    let enabled = accounts::is_enabled(state, &session.ctx, idx).await.ok();
    let locked = accounts::is_locked(state, &session.ctx, idx).await.ok();
    let languages = if session.frame.admin {
        ironworx_entity::queries::users::find_user(&state.db, name)
            .await
            .map_err(ApiError::from)?
            .map(|r| r.user.language_preferences)
            .unwrap_or_default()
    } else {
        String::new()
    };
    let body = UserPage {
        frame: &session.frame,
        name,
        base: user_href(name),
        entity: super::entity::entity_href(Collection::Users, name),
        enabled,
        locked,
        groups: groups_of(&session, state, idx, name).await,
        sessions: sessions_of(&session, state, name).await,
        actions: vec![
            if enabled == Some(false) {
                ("enable", "Enable", false)
            } else {
                ("disable", "Disable", true)
            },
            if locked == Some(true) {
                ("unlock", "Unlock", false)
            } else {
                ("lock", "Lock", true)
            },
            ("end-sessions", "End all sessions", true),
        ],
        languages,
        message: message_of(req),
    };
    session.page(StatusCode::OK, &body)
}

/// An account action and what it needs.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Action {
    action: String,
    password: String,
    password_confirm: String,
    preferences: String,
    session: String,
}

/// `POST /Thingworx/Console/Users/<Name>/Actions`: one account action, checked and made as its
/// REST service is.
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Posted<Action>,
) -> HttpResponse {
    finish(run_action(&req, &state, &path.into_inner(), form.into_inner()).await)
}

/// What ending sessions says it did.
fn ended_message(ended: u64, name: &str) -> String {
    let plural = if ended == 1 { "" } else { "s" };
    format!("Ended {ended} session{plural} of {name}.")
}

async fn run_action(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    form: Form<Action>,
) -> Result<HttpResponse, Stop> {
    let title = format!("User {name}");
    let (session, idx) =
        posted_on(req, state, (Collection::Users, name), &title, &form.csrf).await?;
    let ctx = &session.ctx;
    let form = form.fields;
    let (change, done) = match form.action.as_str() {
        "enable" => (UserChange::Enabled(true), format!("Enabled {name}.")),
        "disable" => (
            UserChange::Enabled(false),
            format!("Disabled {name}; their sessions ended."),
        ),
        "lock" => (UserChange::Locked(true), format!("Locked {name}.")),
        "unlock" => (UserChange::Locked(false), format!("Unlocked {name}.")),
        "password" => (
            UserChange::AssignNewPassword {
                new: &form.password,
                confirm: &form.password_confirm,
            },
            format!("Set a new password for {name}; their sessions ended."),
        ),
        "languages" => (
            UserChange::LanguagePreferences(form.preferences.trim()),
            format!("Saved the language preferences of {name}."),
        ),
        "end-sessions" => {
            let ended = sessions::end_all(state, ctx, Some(name)).await?;
            return see_other_with(&user_href(name), &ended_message(ended, name));
        }
        "end-session" => {
            let Ok(id) = form.session.trim().parse::<i64>() else {
                // Who may end the user's sessions is decided before the id is read, as REST
                // decides it.
                ctx.require_subject(name, "TerminateUserSession")?;
                let missing = ApiError::BadRequest("missing parameter 'sessionId'".into());
                return Err(missing.into());
            };
            let ended = sessions::end_one(state, ctx, Some(name), id).await?;
            return see_other_with(&user_href(name), &ended_message(ended, name));
        }
        _ => return Err(Stop::Error(ApiError::BadRequest("unknown action".into()))),
    };
    accounts::change(state, ctx, idx, change).await?;
    see_other_with(&user_href(name), &done)
}
