//! The console's user pages: the users the caller sees (search and paging), a user's state
//! (enabled, locked), groups and language preferences, and, for security administrators,
//! creating a user and the account actions (enable, disable, lock, unlock, a new password, the
//! language preferences, ending every session); the user's open sessions, each with its end
//! button, for the user itself and security administrators. Every read of sessions and every
//! change runs the REST service (`CreateUser`, `EnableUser`, `DisableUser`, `LockUser`,
//! `UnlockUser`, `AssignNewPassword`, `SetLanguagePreferences`, `CurrentSessionInfo/
//! GetUserSessions`, `TerminateUserSession`, `TerminateUserSessions`) through
//! [`crate::http::dispatch::invoke`], so a non-administrator posting a form gets the answer REST
//! gives.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::vocab::Collection;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Form, Frame, Posted, Session, Stop, enc, field, finish, message_of, posted, posted_on, query,
    result, rows, see_other_with, session, viewing,
};
use crate::error::ApiError;
use crate::http::dispatch::Place;
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

/// `POST /Thingworx/Console/Users`: `CreateUser` with its password.
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
    let user = json!({
        "name": name,
        "password": form.fields.password,
        "description": form.fields.description,
    });
    session
        .call(
            state,
            Place::Resource("EntityServices"),
            "CreateUser",
            &user,
        )
        .await?;
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

/// The groups of `name` (transitively, as `GetGroups` answers), each marked direct or not when
/// the caller may read the group's members.
async fn groups_of(session: &Session, state: &AppState, name: &str) -> Vec<GroupRow> {
    let none = json!({});
    let on_user = Place::Entity(Collection::Users.as_str(), name);
    let groups: Vec<String> = match session.call(state, on_user, "GetGroups", &none).await {
        Ok(table) => rows(&table).into_iter().map(|r| field(r, "name")).collect(),
        Err(_) => Vec::new(),
    };
    let mut listed = Vec::new();
    for group in groups {
        let of_group = Place::Entity(Collection::Groups.as_str(), &group);
        let how = match session
            .call(state, of_group, "GetGroupMembers", &none)
            .await
        {
            Ok(members)
                if rows(&members)
                    .iter()
                    .any(|m| field(m, "name") == name && field(m, "type") == "User") =>
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

/// The open sessions of `name` as `GetUserSessions` lists them; `None` when the caller may
/// not see them.
async fn sessions_of(session: &Session, state: &AppState, name: &str) -> Option<Vec<SessionRow>> {
    let body = json!({ "userName": name });
    let place = Place::Resource("CurrentSessionInfo");
    let table = session
        .call(state, place, "GetUserSessions", &body)
        .await
        .ok()?;
    let time = |row: &serde_json::Map<String, Value>, f: &str| {
        row.get(f)
            .and_then(Value::as_i64)
            .map(super::audit::when)
            .unwrap_or_default()
    };
    Some(
        rows(&table)
            .into_iter()
            .map(|r| SessionRow {
                id: field(r, "id"),
                created: time(r, "created"),
                last_seen: time(r, "lastSeen"),
                address: field(r, "address"),
            })
            .collect(),
    )
}

async fn user_page(req: &HttpRequest, state: &AppState, name: &str) -> Result<HttpResponse, Stop> {
    let (session, _) =
        viewing(req, state, Collection::Users, name, &format!("User {name}")).await?;
    let on_user = || Place::Entity(Collection::Users.as_str(), name);
    let flag = |answer: Option<Value>| answer.and_then(|v| v.as_bool());
    let enabled = flag(session.ask(state, on_user(), "IsEnabled").await);
    let locked = flag(session.ask(state, on_user(), "IsLocked").await);
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
        groups: groups_of(&session, state, name).await,
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

/// `POST /Thingworx/Console/Users/<Name>/Actions`: one account action, run as its REST service.
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Posted<Action>,
) -> HttpResponse {
    finish(run_action(&req, &state, &path.into_inner(), form.into_inner()).await)
}

async fn run_action(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    form: Form<Action>,
) -> Result<HttpResponse, Stop> {
    let title = format!("User {name}");
    let (session, _) = posted_on(req, state, (Collection::Users, name), &title, &form.csrf).await?;
    let form = form.fields;
    let on_user = Place::Entity(Collection::Users.as_str(), name);
    let (place, service, body, done) = match form.action.as_str() {
        "enable" => (on_user, "EnableUser", json!({}), format!("Enabled {name}.")),
        "disable" => (
            on_user,
            "DisableUser",
            json!({}),
            format!("Disabled {name}; their sessions ended."),
        ),
        "lock" => (on_user, "LockUser", json!({}), format!("Locked {name}.")),
        "unlock" => (
            on_user,
            "UnlockUser",
            json!({}),
            format!("Unlocked {name}."),
        ),
        "password" => (
            on_user,
            "AssignNewPassword",
            json!({ "newPassword": form.password, "newPasswordConfirm": form.password_confirm }),
            format!("Set a new password for {name}; their sessions ended."),
        ),
        "languages" => (
            on_user,
            "SetLanguagePreferences",
            json!({ "preferences": form.preferences.trim() }),
            format!("Saved the language preferences of {name}."),
        ),
        "end-sessions" => (
            Place::Resource("CurrentSessionInfo"),
            "TerminateUserSessions",
            json!({ "userName": name }),
            String::new(),
        ),
        "end-session" => (
            Place::Resource("CurrentSessionInfo"),
            "TerminateUserSession",
            json!({ "userName": name, "sessionId": form.session.trim() }),
            String::new(),
        ),
        _ => return Err(Stop::Error(ApiError::BadRequest("unknown action".into()))),
    };
    let answer = session.call(state, place, service, &body).await?;
    let done = if done.is_empty() {
        let ended = result(&answer).and_then(|v| v.as_i64()).unwrap_or(0);
        let plural = if ended == 1 { "" } else { "s" };
        format!("Ended {ended} session{plural} of {name}.")
    } else {
        done
    };
    see_other_with(&user_href(name), &done)
}
