//! The console's group pages: the groups (for security administrators), a group's members and
//! nested groups with add and remove, and the preview of what removing or adding a member
//! flips ([`crate::domain::preview`]) before it is saved. Reads and changes are the domain
//! layer's ([`crate::domain::membership`], [`crate::domain::create`]), with the checks REST
//! makes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::vocab::{Collection, MemberType};
use serde::Deserialize;

use super::{Frame, Stop, enc, finish, message_of, posted, see_other_with, session};
use crate::domain::Ctx;
use crate::domain::create::{self, CreateParams};
use crate::domain::membership::{self, MembershipChange};
use crate::domain::preview::{Planned, preview};
use crate::error::ApiError;
use crate::state::AppState;

/// Registers the group pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Groups", web::get().to(list))
        .route("/Groups", web::post().to(create))
        .route("/Groups/{name}", web::get().to(group))
        .route("/Groups/{name}/Members", web::post().to(change_member));
}

fn group_href(name: &str) -> String {
    format!("/Thingworx/Console/Groups/{}", enc(name))
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct ListPage<'a> {
    frame: &'a Frame,
    groups: Vec<(String, String)>,
    message: Option<String>,
}

/// `GET /Thingworx/Console/Groups`: every group the caller sees; security administrators only
/// (403 otherwise, as the membership services answer).
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let session = session(&req, &state, "Groups").await?;
            session.ctx.require_security_admin("the group list")?;
            let names = super::entity::all_visible(&session.ctx, Collection::Groups);
            let body = ListPage {
                frame: &session.frame,
                groups: names.into_iter().map(|n| (group_href(&n), n)).collect(),
                message: message_of(&req),
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateForm {
    #[serde(rename = "x-csrf-id")]
    csrf: String,
    name: String,
    description: String,
}

/// `POST /Thingworx/Console/Groups`: `CreateGroup`.
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CreateForm>,
) -> HttpResponse {
    finish(
        async {
            let form = form.into_inner();
            let session = posted(&req, &state, "Groups", &form.csrf).await?;
            let name = form.name.trim();
            let params = CreateParams {
                name: Some(name.to_owned()),
                description: Some(form.description),
                ..CreateParams::default()
            };
            create::create(
                &state,
                &session.ctx,
                "CreateGroup",
                Collection::Groups,
                params,
            )
            .await?;
            see_other_with(&group_href(name), &format!("Created group {name}."))
        }
        .await,
    )
}

struct Member {
    name: String,
    kind: String,
    href: String,
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage<'a> {
    frame: &'a Frame,
    name: &'a str,
    base: String,
    entity: String,
    members: Vec<Member>,
    message: Option<String>,
    /// Where the group is used, for a security administrator.
    usage: Option<Usage>,
}

/// Where a group is used, as the group page lists it.
struct Usage {
    rules: Vec<UsedIn>,
    truncated: bool,
    member_of: Vec<(String, String)>,
    units: Vec<String>,
}

/// One rule naming the group.
struct UsedIn {
    place: String,
    href: String,
    scope: &'static str,
    permission: &'static str,
    resource: String,
    allow: bool,
}

impl Usage {
    fn of(usage: crate::domain::usage::GroupUsage) -> Usage {
        let rules = usage
            .rules
            .into_iter()
            .map(|r| {
                let (place, href, scope) = match &r.entity {
                    Some(entity) => (
                        format!("{}/{entity}", r.collection),
                        super::entity::entity_href(r.collection, entity),
                        if r.instance { "Instance" } else { "Own" },
                    ),
                    None => (
                        r.collection.to_string(),
                        super::entity::collection_href(r.collection),
                        "Collection",
                    ),
                };
                UsedIn {
                    place,
                    href,
                    scope,
                    permission: r.rule.kind.as_str(),
                    resource: r.rule.resource,
                    allow: r.rule.allow,
                }
            })
            .collect();
        Usage {
            rules,
            truncated: usage.truncated,
            member_of: usage
                .member_of
                .into_iter()
                .map(|g| (group_href(&g), g))
                .collect(),
            units: usage.units,
        }
    }
}

/// `GET /Thingworx/Console/Groups/<Name>`: the direct members (users and nested groups) and,
/// for a security administrator, where the group is used ([`crate::domain::usage`]).
async fn group(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    finish(
        async {
            let name = path.into_inner();
            let session = session(&req, &state, &format!("Group {name}")).await?;
            let ctx = &session.ctx;
            let (_, idx) = ctx.visible_entity(Collection::Groups.as_str(), &name)?;
            let members = membership::group_members(&state, ctx, idx)
                .await?
                .into_iter()
                .map(|(name, kind)| Member {
                    href: group_href(&name),
                    name,
                    kind: kind.as_str().to_owned(),
                })
                .collect();
            let usage = if session.frame.admin {
                let usage = crate::domain::usage::group_usage(&state, ctx, &name).await?;
                Some(Usage::of(usage))
            } else {
                None
            };
            let body = GroupPage {
                frame: &session.frame,
                name: &name,
                base: group_href(&name),
                entity: super::entity::entity_href(Collection::Groups, &name),
                members,
                message: message_of(&req),
                usage,
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemberForm {
    #[serde(rename = "x-csrf-id")]
    csrf: String,
    action: String,
    member: String,
    member_type: String,
    /// `preview` shows what the change flips; `save` makes it.
    step: String,
}

/// A decision a planned change flips, as the preview pages list it.
pub struct Flip {
    /// The user whose decision flips.
    pub user: String,
    /// `Collection/Name`.
    pub entity: String,
    /// The permission.
    pub permission: String,
    /// The resource.
    pub resource: String,
    /// Whether the user loses it.
    pub lost: bool,
    /// The rule deciding before.
    pub before: String,
    /// The rule deciding after.
    pub after: String,
}

/// How many flipped decisions a preview page lists; the heading still gives the total.
pub const PREVIEW_ROWS: usize = 1_000;

/// The flipped decisions of a preview, as many as a page lists.
pub struct Flips {
    /// The first [`PREVIEW_ROWS`] flips.
    pub rows: Vec<Flip>,
    /// How many decisions flip in all.
    pub total: usize,
}

/// The flipped decisions of a preview ([`crate::domain::preview`]), of which the first
/// [`PREVIEW_ROWS`] are explained.
pub async fn flips(state: &AppState, ctx: &Ctx, planned: &Planned) -> Result<Flips, ApiError> {
    let preview = preview(state, ctx, planned, PREVIEW_ROWS).await?;
    let rows = preview
        .changes
        .iter()
        .map(|c| Flip {
            user: c.user.clone(),
            entity: c.entity_path(),
            permission: c.permission.as_str().to_owned(),
            resource: c.resource.clone(),
            lost: c.lost(),
            before: c.before.rule.detail.clone(),
            after: c.after.rule.detail.clone(),
        })
        .collect();
    Ok(Flips {
        rows,
        total: preview.total,
    })
}

#[derive(Template)]
#[template(path = "console/preview.html")]
struct PreviewPage<'a> {
    frame: &'a Frame,
    base: String,
    action: &'a str,
    member: &'a str,
    member_type: &'a str,
    flips: Flips,
}

/// `POST /Thingworx/Console/Groups/<Name>/Members`: `step=preview` lists what adding or
/// removing the member flips and asks to confirm; `step=save` runs `AddMember` or
/// `DeleteMember`.
async fn change_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> HttpResponse {
    finish(
        async {
            let name = path.into_inner();
            let form = form.into_inner();
            let session = posted(&req, &state, &format!("Group {name}"), &form.csrf).await?;
            let ctx = &session.ctx;
            let (_, idx) = ctx.visible_entity(Collection::Groups.as_str(), &name)?;
            let member = form.member.trim();
            let member_type: MemberType =
                form.member_type
                    .parse()
                    .map_err(|e: ironworx_entity::vocab::VocabError| {
                        ApiError::BadRequest(e.to_string())
                    })?;
            let remove = match form.action.as_str() {
                "add" => false,
                "remove" => true,
                _ => return Err(Stop::Error(ApiError::BadRequest("unknown action".into()))),
            };
            if form.step == "preview" {
                let planned = if remove {
                    Planned::RemoveMember {
                        group: name.clone(),
                        member: member.to_owned(),
                        member_type,
                    }
                } else {
                    Planned::AddMember {
                        group: name.clone(),
                        member: member.to_owned(),
                        member_type,
                    }
                };
                let flips = flips(&state, ctx, &planned).await?;
                let body = PreviewPage {
                    frame: &session.frame,
                    base: group_href(&name),
                    action: &form.action,
                    member,
                    member_type: member_type.as_str(),
                    flips,
                };
                return session.page(StatusCode::OK, &body);
            }
            let change = MembershipChange::GroupMember {
                member,
                kind: member_type,
                add: !remove,
            };
            membership::change(&state, ctx, idx, change).await?;
            let done = if remove {
                format!("Removed {} {member} from {name}.", member_type.as_str())
            } else {
                format!("Added {} {member} to {name}.", member_type.as_str())
            };
            see_other_with(&group_href(&name), &done)
        }
        .await,
    )
}
