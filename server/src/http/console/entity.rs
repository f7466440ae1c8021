//! The console's entity pages: entities by collection (search and paging over the index), an
//! entity's visibility, design-time and run-time rules (own, instance, collection) in one
//! editor, **who can** (every user's and group's effective decision) and **explain** (the
//! rules looked at and the one that decided). Rules are read and written by the domain layer
//! ([`crate::domain::rules`]), with the checks REST makes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionCategory, PermissionKind};
use serde::Deserialize;

use super::{Frame, Stop, enc, finish, posted, query, see_other, session};
use crate::authz::{Outcome, StepEffect, Target};
use crate::domain::explain::{Question, explain_as};
use crate::domain::preview::Planned;
use crate::domain::rules::carries_instance;
use crate::domain::rules::{self, Holder, RuleScope};
use crate::domain::who_can::{kinds, who_can};
use crate::error::ApiError;
use crate::state::AppState;

/// Entities listed per page.
pub const PAGE: usize = 50;

/// The collections the entity list offers.
const LISTED: &[Collection] = &[
    Collection::Things,
    Collection::ThingTemplates,
    Collection::ThingShapes,
    Collection::Users,
    Collection::Groups,
    Collection::Organizations,
    Collection::Resources,
];

/// Registers the entity pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Entities", web::get().to(list))
        .route("/Entities/{collection}/{name}", web::get().to(page))
        .route(
            "/Entities/{collection}/{name}/Rules",
            web::post().to(change_rule),
        )
        .route(
            "/Entities/{collection}/{name}/WhoCan",
            web::get().to(who_can_page),
        )
        .route(
            "/Entities/{collection}/{name}/Explain",
            web::get().to(explain_page),
        );
}

// ------------------------------------------------------------------------------------------
// The list

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    collection: String,
    q: String,
    page: usize,
}

struct Listed {
    name: String,
    href: String,
}

#[derive(Template)]
#[template(path = "console/entities.html")]
struct ListPage<'a> {
    frame: &'a Frame,
    collections: Vec<(&'static str, bool)>,
    q: &'a str,
    entities: Vec<Listed>,
    page: usize,
    prev: Option<String>,
    next: Option<String>,
}

/// The entities of `collection` whose name contains `q` (case-insensitive) and that the caller
/// sees, page `page` of [`PAGE`], and whether there is a next page.
pub fn visible_page(
    ctx: &crate::domain::Ctx,
    collection: Collection,
    q: &str,
    page: usize,
) -> (Vec<String>, bool) {
    let needle = q.to_lowercase();
    let skip = page * PAGE;
    let mut seen = 0;
    let mut out = Vec::new();
    for i in 0..ctx.index.entity_count() {
        let Ok(idx) = crate::authz::EntityIdx::try_from(i) else {
            continue;
        };
        let Some(node) = ctx.index.entity(idx) else {
            continue;
        };
        if node.collection != collection
            || (!needle.is_empty() && !node.name.to_lowercase().contains(&needle))
            || ctx.decide(
                Target::Entity(idx),
                PermissionKind::Visibility,
                ANY_RESOURCE,
            ) != Outcome::Allow
        {
            continue;
        }
        seen += 1;
        if seen <= skip {
            continue;
        }
        if out.len() == PAGE {
            return (out, true);
        }
        out.push(node.name.clone());
    }
    (out, false)
}

/// Every entity of `collection` the caller sees, sorted by name.
pub fn all_visible(ctx: &crate::domain::Ctx, collection: Collection) -> Vec<String> {
    let mut names = Vec::new();
    let mut page = 0;
    loop {
        let (more, next) = visible_page(ctx, collection, "", page);
        names.extend(more);
        if !next {
            break;
        }
        page += 1;
    }
    names.sort();
    names
}

/// `GET /Thingworx/Console/Entities?collection=&q=&page=`.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let session = session(&req, &state, "Entities").await?;
            let query = query::<ListQuery>(&req);
            let collection = query
                .collection
                .parse::<Collection>()
                .ok()
                .filter(|c| LISTED.contains(c))
                .unwrap_or(Collection::Things);
            let (names, more) = visible_page(&session.ctx, collection, &query.q, query.page);
            let link = |page: usize| {
                format!(
                    "{}&q={}&page={page}",
                    collection_href(collection),
                    enc(&query.q)
                )
            };
            let body = ListPage {
                frame: &session.frame,
                collections: LISTED
                    .iter()
                    .map(|c| (c.as_str(), *c == collection))
                    .collect(),
                q: &query.q,
                entities: names
                    .into_iter()
                    .map(|name| Listed {
                        href: entity_href(collection, &name),
                        name,
                    })
                    .collect(),
                page: query.page,
                prev: (query.page > 0).then(|| link(query.page - 1)),
                next: more.then(|| link(query.page + 1)),
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}

/// The console list of a collection's entities.
pub fn collection_href(collection: Collection) -> String {
    format!(
        "/Thingworx/Console/Entities?collection={}",
        collection.as_str()
    )
}

/// The console page of one entity.
pub fn entity_href(collection: Collection, name: &str) -> String {
    format!(
        "/Thingworx/Console/Entities/{}/{}",
        collection.as_str(),
        enc(name)
    )
}

// ------------------------------------------------------------------------------------------
// The entity page and its rule editor

/// A rule as the editor lists it.
struct RuleRow {
    scope: &'static str,
    category: &'static str,
    allow: bool,
    principal: String,
    principal_type: String,
    permission: String,
    resource: String,
}

#[derive(Template)]
#[template(path = "console/entity.html")]
struct EntityPage<'a> {
    frame: &'a Frame,
    collection: &'a str,
    name: &'a str,
    base: String,
    rules: Vec<RuleRow>,
    unreadable: Vec<String>,
    editable: bool,
    scopes: Vec<&'static str>,
    permissions: Vec<&'static str>,
    resources: Vec<String>,
    message: Option<String>,
}

/// The rule editor's word for a scope.
fn scope_name(scope: RuleScope) -> &'static str {
    match scope {
        RuleScope::Own => "Own",
        RuleScope::Instance => "Instance",
        RuleScope::Collection => "Collection",
    }
}

/// The scope the rule editor's word names.
fn scope_of(name: &str) -> Result<RuleScope, ApiError> {
    [RuleScope::Own, RuleScope::Instance, RuleScope::Collection]
        .into_iter()
        .find(|s| scope_name(*s) == name)
        .ok_or_else(|| ApiError::BadRequest("unknown scope".into()))
}

const CATEGORIES: [(PermissionCategory, &str); 3] = [
    (PermissionCategory::Visibility, "Visibility"),
    (PermissionCategory::DesignTime, "DesignTime"),
    (PermissionCategory::RunTime, "RunTime"),
];

/// The property, service and event names the entity defines (with what a Thing inherits).
async fn resources_of(
    state: &AppState,
    ctx: &crate::domain::Ctx,
    collection: Collection,
    idx: crate::authz::EntityIdx,
) -> Result<Vec<String>, ApiError> {
    let mut names = vec![ANY_RESOURCE.to_owned()];
    for kind in [
        PermissionKind::PropertyRead,
        PermissionKind::ServiceInvoke,
        PermissionKind::EventInvoke,
    ] {
        for name in
            crate::http::permissions::defined_resources(state, ctx, collection, idx, kind).await?
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    message: String,
}

/// `GET /Thingworx/Console/Entities/<Collection>/<Name>`.
async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    finish(
        async {
            let (collection, name) = path.into_inner();
            let session = session(&req, &state, &format!("{collection}/{name}")).await?;
            let ctx = &session.ctx;
            let (collection, idx) = ctx.visible_entity(&collection, &name)?;
            let mut rules = Vec::new();
            let mut unreadable = Vec::new();
            let mut scopes = vec![RuleScope::Own];
            let instance = [PermissionCategory::DesignTime, PermissionCategory::RunTime]
                .iter()
                .any(|c| carries_instance(collection, *c));
            if instance {
                scopes.push(RuleScope::Instance);
            }
            scopes.push(RuleScope::Collection);
            for scope in &scopes {
                for (category, word) in CATEGORIES {
                    if *scope == RuleScope::Instance && !carries_instance(collection, category) {
                        continue;
                    }
                    let holder = Holder::of(*scope, collection, idx);
                    let read = match rules::rules(&state, ctx, holder, category).await {
                        Ok(read) => read,
                        Err(ApiError::Forbidden { .. } | ApiError::NotFound) => {
                            unreadable.push(format!("{} {word}", scope_name(*scope)));
                            continue;
                        }
                        Err(other) => return Err(Stop::Error(other)),
                    };
                    rules.extend(read.into_iter().map(|rule| RuleRow {
                        scope: scope_name(*scope),
                        category: word,
                        allow: rule.allow,
                        principal: rule.principal_name,
                        principal_type: rule.principal_type.as_str().to_owned(),
                        permission: rule.kind.as_str().to_owned(),
                        resource: rule.resource,
                    }));
                }
            }
            let editable = ctx.decide(Target::Entity(idx), PermissionKind::Update, ANY_RESOURCE)
                == Outcome::Allow;
            let message = web::Query::<PageQuery>::from_query(req.query_string())
                .map(|q| q.into_inner().message)
                .unwrap_or_default();
            let body = EntityPage {
                frame: &session.frame,
                collection: collection.as_str(),
                name: &name,
                base: entity_href(collection, &name),
                rules,
                unreadable,
                editable,
                scopes: scopes.into_iter().map(scope_name).collect(),
                permissions: PermissionKind::ALL.iter().map(|k| k.as_str()).collect(),
                resources: resources_of(&state, ctx, collection, idx).await?,
                message: (!message.is_empty()).then_some(message),
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}

/// The fields of the rule editor.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RuleForm {
    #[serde(rename = "x-csrf-id")]
    csrf: String,
    action: String,
    scope: String,
    permission: String,
    resource: String,
    principal_type: String,
    principal: String,
    effect: String,
    /// `preview` lists the decisions the change flips and asks to confirm; anything else saves.
    step: String,
}

#[derive(Template)]
#[template(path = "console/rule_preview.html")]
struct RulePreviewPage<'a> {
    frame: &'a Frame,
    base: String,
    form: &'a RuleForm,
    flips: super::groups::Flips,
}

impl RuleForm {
    /// The scope, whether the rule is added, and the rule the form names
    /// ([`rules::named_rule`]).
    fn change(&self) -> Result<(RuleScope, bool, Rule), ApiError> {
        let bad = |e: ironworx_entity::vocab::VocabError| ApiError::BadRequest(e.to_string());
        let kind: PermissionKind = self.permission.parse().map_err(bad)?;
        let add = match self.action.as_str() {
            "add" => true,
            "delete" => false,
            _ => return Err(ApiError::BadRequest("unknown action".into())),
        };
        let principal_type = self.principal_type.parse().map_err(bad)?;
        let rule = rules::named_rule(
            kind,
            &self.resource,
            (principal_type, self.principal.trim()),
            self.effect != "deny",
            add,
        );
        Ok((scope_of(&self.scope)?, add, rule))
    }
}

/// The preview of adding or deleting `rule` where `scope` keeps it for the entity.
async fn preview_rule(
    state: &AppState,
    session: &super::Session,
    (collection, name): (Collection, &str),
    form: &RuleForm,
    (scope, add, rule): (RuleScope, bool, Rule),
) -> Result<HttpResponse, Stop> {
    let planned = Planned::Rule {
        collection,
        entity: name.to_owned(),
        scope,
        add,
        rule,
    };
    let body = RulePreviewPage {
        frame: &session.frame,
        base: entity_href(collection, name),
        form,
        flips: super::groups::flips(state, &session.ctx, &planned).await?,
    };
    session.page(StatusCode::OK, &body)
}

/// `POST /Thingworx/Console/Entities/<Collection>/<Name>/Rules`: adds or deletes one rule
/// ([`crate::domain::rules::change`], as `Add…Permission` / `Delete…Permission` do);
/// `step=preview` first lists the decisions the change flips ([`crate::domain::preview`]).
async fn change_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<RuleForm>,
) -> HttpResponse {
    finish(
        async {
            let (collection, name) = path.into_inner();
            let form = form.into_inner();
            let session = posted(&req, &state, "Rules", &form.csrf).await?;
            let ctx = &session.ctx;
            let (collection, idx) = ctx.visible_entity(&collection, &name)?;
            let (scope, add, rule) = form.change()?;
            if form.step == "preview" {
                let change = (scope, add, rule);
                return preview_rule(&state, &session, (collection, &name), &form, change).await;
            }
            rules::change(&state, ctx, Holder::of(scope, collection, idx), add, &rule).await?;
            let done = format!(
                "{} {} {} for {} {} on {}.",
                if add { "Saved" } else { "Deleted" },
                if rule.allow { "allow" } else { "deny" },
                rule.kind.as_str(),
                rule.principal_type.as_str(),
                rule.principal_name,
                rule.resource
            );
            see_other(&format!(
                "{}?message={}",
                entity_href(collection, &name),
                enc(&done)
            ))
        }
        .await,
    )
}

// ------------------------------------------------------------------------------------------
// Who can

#[derive(Deserialize, Default)]
#[serde(default)]
struct WhoCanQuery {
    resource: String,
}

struct WhoRow {
    kind: &'static str,
    name: String,
    cells: Vec<bool>,
}

#[derive(Template)]
#[template(path = "console/who_can.html")]
struct WhoCanPage<'a> {
    frame: &'a Frame,
    base: String,
    resource: &'a str,
    resources: Vec<String>,
    kinds: Vec<&'static str>,
    rows: Vec<WhoRow>,
}

/// `GET /Thingworx/Console/Entities/<Collection>/<Name>/WhoCan?resource=`.
async fn who_can_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    finish(
        async {
            let (collection, name) = path.into_inner();
            let session =
                session(&req, &state, &format!("Who can use {collection}/{name}")).await?;
            let ctx = &session.ctx;
            let (collection, idx) = ctx.visible_entity(&collection, &name)?;
            let query = query::<WhoCanQuery>(&req);
            let resource = match query.resource.trim() {
                "" => ANY_RESOURCE,
                r => r,
            };
            let decided = who_can(ctx, idx, resource)?;
            let body = WhoCanPage {
                frame: &session.frame,
                base: entity_href(collection, &name),
                resource,
                resources: resources_of(&state, ctx, collection, idx).await?,
                kinds: kinds(resource).iter().map(|k| k.as_str()).collect(),
                rows: decided
                    .into_iter()
                    .map(|r| WhoRow {
                        kind: if r.collection == Collection::Users {
                            "User"
                        } else {
                            "Group"
                        },
                        name: r.name,
                        cells: r.allowed,
                    })
                    .collect(),
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}

// ------------------------------------------------------------------------------------------
// Explain

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExplainQuery {
    user: String,
    permission: String,
    resource: String,
}

struct StepRow {
    layer: String,
    principal: String,
    resource: String,
    effect: &'static str,
    decisive: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/explain.html")]
struct ExplainPage<'a> {
    frame: &'a Frame,
    base: String,
    user: &'a str,
    permission: &'a str,
    resource: &'a str,
    permissions: Vec<&'static str>,
    resources: Vec<String>,
    outcome: Option<&'static str>,
    steps: Vec<StepRow>,
}

/// `GET /Thingworx/Console/Entities/<Collection>/<Name>/Explain?user=&permission=&resource=`.
async fn explain_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    finish(
        async {
            let (collection, name) = path.into_inner();
            let session = session(&req, &state, &format!("Explain {collection}/{name}")).await?;
            let ctx = &session.ctx;
            let (collection, idx) = ctx.visible_entity(&collection, &name)?;
            let query = query::<ExplainQuery>(&req);
            let user = match query.user.trim() {
                "" => ctx.caller.name.as_str(),
                u => u,
            };
            let mut outcome = None;
            let mut steps = Vec::new();
            if !query.permission.is_empty() {
                let kind: PermissionKind =
                    query
                        .permission
                        .parse()
                        .map_err(|e: ironworx_entity::vocab::VocabError| {
                            ApiError::BadRequest(e.to_string())
                        })?;
                let explanation = explain_as(
                    ctx,
                    &Question {
                        user,
                        entity_type: collection.as_str(),
                        entity: &name,
                        kind,
                        resource: query.resource.trim(),
                        wrapped: false,
                    },
                )?;
                outcome = Some(match explanation.outcome {
                    Outcome::Allow => "allowed",
                    Outcome::Deny => "denied",
                    Outcome::NotVisible => "not visible (404)",
                });
                steps = explanation
                    .steps
                    .iter()
                    .map(|s| StepRow {
                        layer: s.layer.label(),
                        principal: s
                            .principal
                            .as_ref()
                            .map(|(t, n)| format!("{} {n}", t.as_str()))
                            .unwrap_or_default(),
                        resource: s.resource.clone(),
                        effect: match s.effect {
                            StepEffect::Allow => "allow",
                            StepEffect::Deny => "deny",
                            StepEffect::None => "nothing",
                        },
                        decisive: s.decisive,
                        detail: s.detail.clone(),
                    })
                    .collect();
            }
            let body = ExplainPage {
                frame: &session.frame,
                base: entity_href(collection, &name),
                user,
                permission: &query.permission,
                resource: query.resource.trim(),
                permissions: PermissionKind::ALL.iter().map(|k| k.as_str()).collect(),
                resources: resources_of(&state, ctx, collection, idx).await?,
                outcome,
                steps,
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}
