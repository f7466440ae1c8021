//! The console's organization pages: the organizations the caller sees, and an organization's
//! unit tree drawn as a nested list with the members of each unit; those allowed to change the
//! organization add units and add and remove members. Reads and changes are the domain
//! layer's ([`crate::domain::membership`]), with the checks REST makes.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::vocab::{Collection, MemberType};
use serde::Deserialize;

use super::{
    Form, Frame, Posted, Stop, enc, finish, message_of, posted_on, see_other_with, session, viewing,
};
use crate::domain::membership::{self, Connection, MembershipChange};
use crate::error::ApiError;
use crate::state::AppState;

/// Where the organization pages start.
const LIST: &str = "/Thingworx/Console/Organizations";

/// Registers the organization pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Organizations", web::get().to(list))
        .route("/Organizations/{name}", web::get().to(organization))
        .route("/Organizations/{name}/Members", web::post().to(change))
        .route("/Organizations/{name}/Units", web::post().to(change));
}

fn organization_href(name: &str) -> String {
    format!("{LIST}/{}", enc(name))
}

#[derive(Template)]
#[template(path = "console/organizations.html")]
struct ListPage<'a> {
    frame: &'a Frame,
    organizations: Vec<(String, String)>,
}

/// `GET /Thingworx/Console/Organizations`: the organizations the caller sees.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(list_page(&req, &state).await)
}

async fn list_page(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, Stop> {
    let session = session(req, state, "Organizations").await?;
    let body = ListPage {
        frame: &session.frame,
        organizations: super::entity::all_visible(&session.ctx, Collection::Organizations)
            .into_iter()
            .map(|n| (organization_href(&n), n))
            .collect(),
    };
    session.page(StatusCode::OK, &body)
}

/// One step of drawing the tree: `start` opens a unit's item (with its members), `open` and
/// `close` its list of child units, `end` closes the item.
struct Step {
    kind: &'static str,
    unit: String,
    members: Vec<(String, String)>,
}

/// The units below each unit and the members of each, from the connections table.
#[derive(Default)]
struct Tree {
    children: BTreeMap<String, Vec<String>>,
    members: BTreeMap<String, Vec<(String, String)>>,
}

impl Tree {
    /// The steps drawing `unit` and everything below it (a unit met twice is drawn once).
    fn draw(&self, unit: &str, out: &mut Vec<Step>, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == unit) {
            return;
        }
        seen.push(unit.to_owned());
        let step = |kind| Step {
            kind,
            unit: unit.to_owned(),
            members: Vec::new(),
        };
        out.push(Step {
            members: self.members.get(unit).cloned().unwrap_or_default(),
            ..step("start")
        });
        if let Some(children) = self.children.get(unit) {
            out.push(step("open"));
            for child in children {
                self.draw(child, out, seen);
            }
            out.push(step("close"));
        }
        out.push(step("end"));
    }
}

#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage<'a> {
    frame: &'a Frame,
    name: &'a str,
    base: String,
    tree: Vec<Step>,
    units: Vec<String>,
    /// Whether the caller may read the units (`GetOrganizationConnections`).
    readable: bool,
    message: Option<String>,
}

/// `GET /Thingworx/Console/Organizations/<Name>`: the unit tree with each unit's members.
async fn organization(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    finish(organization_page(&req, &state, &path.into_inner()).await)
}

/// The tree of an organization's connections (unit to child unit, unit to member) and every
/// unit.
fn tree_of(name: &str, edges: Vec<Connection>) -> (Tree, Vec<String>) {
    let mut tree = Tree::default();
    let mut units = vec![name.to_owned()];
    for Connection { from, to, kind } in edges {
        if kind == "Organization" {
            units.push(to.clone());
            tree.children.entry(from).or_default().push(to);
        } else {
            tree.members
                .entry(from)
                .or_default()
                .push((kind.to_owned(), to));
        }
    }
    (tree, units)
}

async fn organization_page(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
) -> Result<HttpResponse, Stop> {
    let title = format!("Organization {name}");
    let (session, idx) = viewing(req, state, Collection::Organizations, name, &title).await?;
    let answer = membership::connections(state, &session.ctx, idx).await;
    let readable = answer.is_ok();
    let mut steps = Vec::new();
    let units = match answer {
        Ok(edges) => {
            let (tree, units) = tree_of(name, edges);
            tree.draw(name, &mut steps, &mut Vec::new());
            units
        }
        Err(_) => Vec::new(),
    };
    let body = OrganizationPage {
        frame: &session.frame,
        name,
        base: organization_href(name),
        tree: steps,
        units,
        readable,
        message: message_of(req),
    };
    session.page(StatusCode::OK, &body)
}

/// A change of the organization: `add` or `remove` a member of `unit`, or `add-unit` below
/// `parent`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Change {
    action: String,
    unit: String,
    member: String,
    member_type: String,
    parent: String,
    description: String,
}

/// `POST /Thingworx/Console/Organizations/<Name>/Members` (`AddMember` or `DeleteMember` on a
/// unit) and `POST …/Units` (`AddOrganizationalUnit`).
async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Posted<Change>,
) -> HttpResponse {
    finish(apply(&req, &state, &path.into_inner(), form.into_inner()).await)
}

/// The change a form asks for and what to say once it is made.
fn change_of(form: &Change) -> Result<(MembershipChange<'_>, String), ApiError> {
    let (unit, member) = (form.unit.trim(), form.member.trim());
    if form.action == "add-unit" {
        let parent = form.parent.trim();
        let change = MembershipChange::Unit {
            parent,
            name: unit,
            description: &form.description,
        };
        return Ok((change, format!("Added the unit {unit} below {parent}.")));
    }
    let kind: MemberType = form
        .member_type
        .parse()
        .map_err(|e: ironworx_entity::vocab::VocabError| ApiError::BadRequest(e.to_string()))?;
    let add = match form.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(ApiError::BadRequest("unknown action".into())),
    };
    let shown = kind.as_str();
    let done = if add {
        format!("Added {shown} {member} to the unit {unit}.")
    } else {
        format!("Removed {shown} {member} from the unit {unit}.")
    };
    let change = MembershipChange::UnitMember {
        unit,
        member,
        kind,
        add,
    };
    Ok((change, done))
}

async fn apply(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    form: Form<Change>,
) -> Result<HttpResponse, Stop> {
    let title = format!("Organization {name}");
    let organization = (Collection::Organizations, name);
    let (session, idx) = posted_on(req, state, organization, &title, &form.csrf).await?;
    let (change, done) = change_of(&form.fields)?;
    membership::change(state, &session.ctx, idx, change).await?;
    see_other_with(&organization_href(name), &done)
}
