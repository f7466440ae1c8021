//! The console's "what changed" view: every (user, entity, permission, resource) whose
//! effective decision differs between two instants (`now` for the live state), grouped by user
//! and entity with the rule deciding before and after, read through
//! `SecurityServices/GetEffectivePermissionChanges` (the same diff, over
//! [`crate::domain::diff::compare`], and the same check as REST: security administrators and
//! members of `Auditors`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::{Frame, field, finish, query, rows, session};
use crate::http::dispatch::Place;
use crate::state::AppState;

/// Registers the view.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Changes", web::get().to(changes));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangesQuery {
    before: String,
    after: String,
    user: String,
    #[serde(rename = "entityType")]
    entity_type: String,
    entity: String,
}

/// One changed decision.
struct Flip {
    permission: String,
    resource: String,
    before: String,
    after: String,
    before_rule: String,
    after_rule: String,
}

/// The changes of one user on one entity.
struct Group {
    user: String,
    entity: String,
    flips: Vec<Flip>,
}

#[derive(Template)]
#[template(path = "console/changes.html")]
struct ChangesPage<'a> {
    frame: &'a Frame,
    before: &'a str,
    after: &'a str,
    user: &'a str,
    entity_type: &'a str,
    entity: &'a str,
    /// `None` until an instant to compare from is given.
    groups: Option<Vec<Group>>,
}

/// A side as the diff service takes it: `now` (or nothing) is the live state.
fn side(text: &str) -> String {
    match text.trim() {
        "" | "now" | "live" => "live".to_owned(),
        other => other.to_owned(),
    }
}

/// `GET /Thingworx/Console/Changes?before=&after=&user=&entityType=&entity=`.
async fn changes(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let session = session(&req, &state, "What changed").await?;
            session.ctx.require_auditor("the permission changes")?;
            let q = query::<ChangesQuery>(&req);
            let groups = if q.before.trim().is_empty() {
                None
            } else {
                let sides = json!({
                    "before": side(&q.before),
                    "after": side(&q.after),
                    "user": q.user.trim(),
                    "entityType": q.entity_type.trim(),
                    "entity": q.entity.trim(),
                });
                let place = Place::Resource("SecurityServices");
                let table = session
                    .call(&state, place, "GetEffectivePermissionChanges", &sides)
                    .await?;
                let mut found: Vec<_> = rows(&table)
                    .into_iter()
                    .map(|r| {
                        (
                            field(r, "user"),
                            field(r, "entity"),
                            Flip {
                                permission: field(r, "permission"),
                                resource: field(r, "resource"),
                                before: field(r, "before"),
                                after: field(r, "after"),
                                before_rule: field(r, "beforeRule"),
                                after_rule: field(r, "afterRule"),
                            },
                        )
                    })
                    .collect();
                found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
                let mut groups: Vec<Group> = Vec::new();
                for (user, entity, flip) in found {
                    match groups.last_mut() {
                        Some(g) if g.user == user && g.entity == entity => g.flips.push(flip),
                        _ => groups.push(Group {
                            user,
                            entity,
                            flips: vec![flip],
                        }),
                    }
                }
                Some(groups)
            };
            let after = if q.after.trim().is_empty() {
                "now"
            } else {
                q.after.as_str()
            };
            let body = ChangesPage {
                frame: &session.frame,
                before: &q.before,
                after,
                user: &q.user,
                entity_type: &q.entity_type,
                entity: &q.entity,
                groups,
            };
            session.page(StatusCode::OK, &body)
        }
        .await,
    )
}
