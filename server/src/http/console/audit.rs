//! The console's audit view: the audit record newest first, filtered by user, action, entity
//! and category, a page at a time, read by [`crate::domain::history::record`], so only security
//! administrators and members of `Auditors` see it, as through REST.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ironworx_entity::queries::audit::History;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Frame, enc, finish, query, session};
use crate::domain::data;
use crate::domain::history::{self, CATEGORIES, Entry, Query};
use crate::state::AppState;

/// Entries per page.
pub const PAGE: usize = 50;

/// Registers the audit view.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Audit", web::get().to(audit));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditQuery {
    user: String,
    action: String,
    entity: String,
    category: String,
    before: Option<i64>,
}

struct EntryRow {
    id: String,
    when: String,
    user: String,
    action: String,
    entity: String,
    message: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    frame: &'a Frame,
    user: &'a str,
    action: &'a str,
    entity: &'a str,
    categories: Vec<(&'static str, bool)>,
    entries: Vec<EntryRow>,
    next: Option<String>,
}

/// The filter of the query: every field given must match (`action` and `entity` as
/// `LIKE *text*`, as a ThingWorx query would ask).
fn criteria(q: &AuditQuery) -> Value {
    let mut filters = Vec::new();
    if !q.user.trim().is_empty() {
        filters.push(json!({"type": "EQ", "fieldName": "user", "value": q.user.trim()}));
    }
    for (field, text) in [("action", &q.action), ("entity", &q.entity)] {
        if !text.trim().is_empty() {
            filters.push(
                json!({"type": "LIKE", "fieldName": field, "value": format!("*{}*", text.trim())}),
            );
        }
    }
    json!({"filters": {"type": "And", "filters": filters}})
}

/// `millis` since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic Gregorian calendar).
pub fn when(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (the era-based algorithm over 400-year cycles).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `GET /Thingworx/Console/Audit?user=&action=&entity=&category=&before=`.
async fn audit(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let session = session(&req, &state, "Audit").await?;
            let q = query::<AuditQuery>(&req);
            let filter = data::compile(Some(&criteria(&q)), &history::field_type)?;
            let keep = |entry: &Entry| filter.as_ref().is_none_or(|f| f.matches(&entry.row()));
            let category = CATEGORIES
                .iter()
                .find(|c| c.eq_ignore_ascii_case(q.category.trim()))
                .map(|c| (*c).to_owned());
            let read = Query {
                rows: History {
                    before_id: q.before,
                    ..History::default()
                },
                category,
                max_items: PAGE + 1,
            };
            let found = history::record(&state, &session.ctx, &read, &keep).await?;
            let more = found.len() > PAGE;
            let entries: Vec<EntryRow> = found
                .into_iter()
                .take(PAGE)
                .map(|e| EntryRow {
                    id: e.id.to_string(),
                    when: when(e.timestamp),
                    entity: e.entity(),
                    message: e.message(),
                    user: e.user,
                    action: e.action,
                })
                .collect();
            let next = match (more, entries.last()) {
                (true, Some(last)) => Some(format!(
                    "/Thingworx/Console/Audit?user={}&action={}&entity={}&category={}&before={}",
                    enc(&q.user),
                    enc(&q.action),
                    enc(&q.entity),
                    enc(&q.category),
                    enc(&last.id)
                )),
                _ => None,
            };
            let page = AuditPage {
                frame: &session.frame,
                user: &q.user,
                action: &q.action,
                entity: &q.entity,
                categories: CATEGORIES.iter().map(|c| (*c, *c == q.category)).collect(),
                entries,
                next,
            };
            session.page(StatusCode::OK, &page)
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_as_utc_dates() {
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(when(1_796_644_800_123), "2026-12-07 12:00:00 UTC");
    }
}
