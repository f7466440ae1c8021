//! The console's "what changed" view: every (user, entity, permission, resource) whose
//! effective decision differs between two instants (`now` for the live state), grouped by user
//! and entity with the rule deciding before and after ([`crate::domain::changes::between`],
//! as `SecurityServices/GetEffectivePermissionChanges` answers, with the same check: security
//! administrators and members of `Auditors`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Frame, finish, query, session};
use crate::domain::changes;
use crate::domain::diff::rule_text;
use crate::http::diff;
use crate::http::params::Params;
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

/// A side as [`diff::side`] reads it: `now` (or nothing) is the live state.
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
                let before = diff::side(&side(&q.before), "before")?;
                let after = diff::side(&side(&q.after), "after")?;
                let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
                let asked = Params {
                    user: nonempty(&q.user),
                    entity_type: nonempty(&q.entity_type),
                    entity: nonempty(&q.entity),
                    ..Params::default()
                };
                let filter = diff::filter(&asked)?;
                let changed =
                    changes::between(&state, &session.ctx, (before, after), &filter).await?;
                let mut found: Vec<_> = changed
                    .iter()
                    .map(|c| {
                        (
                            c.user.clone(),
                            c.entity_path(),
                            Flip {
                                permission: c.permission.as_str().to_owned(),
                                resource: c.resource.clone(),
                                before: diff::outcome_word(c.before.outcome).to_owned(),
                                after: diff::outcome_word(c.after.outcome).to_owned(),
                                before_rule: rule_text(&c.before.rule),
                                after_rule: rule_text(&c.after.rule),
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
