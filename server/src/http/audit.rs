//! The audit record over REST with ThingWorx's names:
//! `Subsystems/AuditSubsystem/Services/{QueryAuditHistory,QueryAuditHistoryWithQueryCriteria}`
//! (maxItems, startDate, endDate, auditCategory, query) and `QueryAuditHistory` on an entity
//! (only that entity's entries). Entries come from [`crate::domain::history`], newest first, as
//! an InfoTable; the `query` filters are compiled by [`crate::domain::data::compile`] over the
//! entry fields. Who may call is declared in the catalog (security administrators and members
//! of `Auditors`).

use ironworx_entity::queries::audit::History;
use ironworx_entity::vocab::Collection;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::data::{self, Filter};
use crate::domain::history::{self, CATEGORIES, Entry, FIELDS, Query};
use crate::error::ApiError;
use crate::http::infotable::infotable;
use crate::http::params::parse_body;
use crate::state::AppState;

/// The parameters of the audit services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AuditParams {
    max_items: Option<Value>,
    start_date: Option<Value>,
    end_date: Option<Value>,
    audit_category: Option<String>,
    query: Option<Value>,
}

/// What a call asks for: the rows to read and the filter the entries must pass.
fn read(state: &AppState, body: &[u8]) -> Result<(Query, Option<Filter>), ApiError> {
    let p: AuditParams = parse_body(body)?;
    let largest = state
        .config
        .limits
        .max_page_rows
        .min(history::MAX_ITEMS as u64);
    let max_items = data::max_items(&p.max_items, largest)?;
    let since = data::date(&p.start_date, "startDate")?;
    let until = data::date(&p.end_date, "endDate")?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(ApiError::BadRequest("startDate is after endDate".into()));
    }
    let category = p
        .audit_category
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            CATEGORIES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(c.trim()))
                .map(|k| (*k).to_owned())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown auditCategory '{c}' (one of {})",
                        CATEGORIES.join(", ")
                    ))
                })
        })
        .transpose()?;
    let filter = data::compile(p.query.as_ref(), &history::field_type)?;
    let query = Query {
        rows: History {
            since,
            until,
            ..History::default()
        },
        category,
        max_items: usize::try_from(max_items).unwrap_or(history::MAX_ITEMS),
    };
    Ok((query, filter))
}

async fn answer(
    state: &AppState,
    query: &Query,
    filter: Option<&Filter>,
) -> Result<Value, ApiError> {
    let keep = |entry: &Entry| filter.is_none_or(|f| f.matches(&entry.row()));
    let entries = history::entries(&state.db, query, &keep).await?;
    let rows = entries.iter().map(|e| Value::Object(e.row())).collect();
    Ok(infotable(FIELDS, rows))
}

/// `AuditSubsystem` services: the whole audit record.
pub async fn subsystem_service(
    state: &AppState,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let (query, filter) = read(state, body)?;
    if service == "QueryAuditHistory" && filter.is_some() {
        return Err(ApiError::BadRequest(
            "QueryAuditHistory takes no 'query'; call QueryAuditHistoryWithQueryCriteria".into(),
        ));
    }
    answer(state, &query, filter.as_ref()).await
}

/// `QueryAuditHistory` on an entity: only that entity's entries.
pub async fn entity_history(
    state: &AppState,
    collection: Collection,
    name: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let (mut query, filter) = read(state, body)?;
    query.rows.target = Some((collection.as_str().to_owned(), name.to_owned()));
    answer(state, &query, filter.as_ref()).await
}
