//! The audit record over REST with ThingWorx's names:
//! `Subsystems/AuditSubsystem/Services/{QueryAuditHistory,QueryAuditHistoryWithQueryCriteria}`
//! (maxItems, startDate, endDate, auditCategory, query) and `QueryAuditHistory` on an entity
//! (only that entity's entries). Entries come from [`crate::domain::history`], newest first, as
//! an InfoTable; the `query` filters are compiled by [`crate::domain::data::compile`] over the
//! entry fields, its `sorts` order the answer and its `pageSize`/`pageNumber` page it. Also the
//! security log, `Logs/SecurityLog/Services/QueryLogEntries`, from
//! [`crate::domain::security_log`]. Who may read the record is the domain's to check
//! ([`history::record`], [`history::of_entity`]), with the needs the catalog declares.

use ironworx_entity::queries::audit::History;
use ironworx_entity::queries::security_log::Query as LogQuery;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::authz::EntityIdx;
use crate::domain::data::{self, Filter};
use crate::domain::history::{self, CATEGORIES, Entry, FIELDS, Query, Sort};
use crate::domain::security_log;
use crate::error::ApiError;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::parse_body;
use crate::state::AppState;

/// The most sorts one query takes.
const MAX_SORTS: usize = 8;

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

/// What a ThingWorx `query` asks besides its filters: the sorts, and the page.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    sorts: Vec<Sort>,
    /// `pageSize` (replacing `maxItems`) and the 1-based `pageNumber`.
    page: Option<(usize, usize)>,
}

/// A whole number from 1 to `largest` in a query key.
fn whole(value: &Value, key: &str, largest: usize) -> Result<usize, ApiError> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=largest).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "parameter 'query': '{key}' must be a whole number from 1 to {largest}"
            ))
        })
}

/// Splits a `query` (an object or its JSON text) into the filters [`data::compile`] takes and
/// the [`Shape`]: `sorts` (`[{"fieldName", "isAscending"}]` over the entry fields),
/// `pageSize` and `pageNumber`.
fn split_query(query: Option<&Value>) -> Result<(Option<Value>, Shape), ApiError> {
    let bad = |what: String| ApiError::BadRequest(format!("parameter 'query': {what}"));
    let mut object = match query {
        None | Some(Value::Null) => return Ok((None, Shape::default())),
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Ok((None, Shape::default()));
        }
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            Ok(other) => return Ok((Some(other), Shape::default())),
            Err(e) => return Err(bad(e.to_string())),
        },
        Some(Value::Object(object)) => object.clone(),
        Some(other) => return Ok((Some(other.clone()), Shape::default())),
    };
    let mut shape = Shape::default();
    if let Some(sorts) = object.remove("sorts").filter(|s| !s.is_null()) {
        let sorts = sorts
            .as_array()
            .ok_or_else(|| bad("'sorts' must be a list".into()))?;
        if sorts.len() > MAX_SORTS {
            return Err(bad(format!("more than {MAX_SORTS} sorts")));
        }
        for sort in sorts {
            let field = sort
                .get("fieldName")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a sort needs a 'fieldName'".into()))?;
            if history::field_type(field).is_none() {
                return Err(bad(format!("unknown sort field '{field}'")));
            }
            let ascending = match sort.get("isAscending") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("'isAscending' must be true or false".into())),
            };
            shape.sorts.push(Sort {
                field: field.to_owned(),
                ascending,
            });
        }
    }
    let size = object.remove("pageSize").filter(|v| !v.is_null());
    let number = object.remove("pageNumber").filter(|v| !v.is_null());
    if let Some(size) = size {
        let size = whole(&size, "pageSize", history::MAX_ITEMS)?;
        let number = number
            .map(|n| whole(&n, "pageNumber", history::MAX_ITEMS / size))
            .transpose()?
            .unwrap_or(1);
        shape.page = Some((size, number));
    } else if number.is_some() {
        return Err(bad("'pageNumber' needs a 'pageSize'".into()));
    }
    Ok((Some(Value::Object(object)), shape))
}

/// What a call asks for: the rows to read, the filter the entries must pass and the shape of
/// the answer.
fn read(state: &AppState, body: &[u8]) -> Result<(Query, Option<Filter>, Shape), ApiError> {
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
    let (filters, shape) = split_query(p.query.as_ref())?;
    let filter = data::compile(filters.as_ref(), &history::field_type)?;
    let query = Query {
        rows: History {
            since,
            until,
            ..History::default()
        },
        category,
        max_items: usize::try_from(max_items).unwrap_or(history::MAX_ITEMS),
    };
    Ok((query, filter, shape))
}

/// Whose entries a call reads: the whole record, or one entity's.
#[derive(Clone, Copy)]
enum Of {
    Record,
    Entity(EntityIdx),
}

/// The entries as an InfoTable: with sorts, the newest [`history::MAX_ITEMS`] matching entries
/// are read and sorted before the page (or `maxItems`) is cut from them.
async fn answer(
    state: &AppState,
    guard: &Guard,
    of: Of,
    (query, filter, shape): (Query, Option<Filter>, Shape),
) -> Result<Value, ApiError> {
    let keep = |entry: &Entry| filter.as_ref().is_none_or(|f| f.matches(&entry.row()));
    let (skip, take) = match shape.page {
        Some((size, number)) => (size * (number - 1), size),
        None => (0, query.max_items),
    };
    let read = Query {
        max_items: if shape.sorts.is_empty() {
            skip + take
        } else {
            history::MAX_ITEMS
        },
        ..query
    };
    let entries = match of {
        Of::Record => history::record(state, guard, &read, &keep).await?,
        Of::Entity(idx) => history::of_entity(state, guard, idx, &read, &keep).await?,
    };
    let mut rows: Vec<Map<String, Value>> = entries.iter().map(Entry::row).collect();
    history::sort_rows(&mut rows, &shape.sorts);
    let rows = rows
        .into_iter()
        .skip(skip)
        .take(take)
        .map(Value::Object)
        .collect();
    Ok(infotable(FIELDS, rows))
}

/// `AuditSubsystem` services: the whole audit record.
pub async fn subsystem_service(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let (query, filter, shape) = read(state, body)?;
    if service == "QueryAuditHistory" && (filter.is_some() || shape != Shape::default()) {
        return Err(ApiError::BadRequest(
            "QueryAuditHistory takes no 'query'; call QueryAuditHistoryWithQueryCriteria".into(),
        ));
    }
    answer(state, guard, Of::Record, (query, filter, shape)).await
}

/// `QueryAuditHistory` on an entity: only that entity's entries.
pub async fn entity_history(
    state: &AppState,
    guard: &Guard,
    idx: EntityIdx,
    body: &[u8],
) -> Result<Value, ApiError> {
    let read = read(state, body)?;
    answer(state, guard, Of::Entity(idx), read).await
}

/// The parameters of `QueryLogEntries`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LogParams {
    max_items: Option<Value>,
    start_date: Option<Value>,
    end_date: Option<Value>,
    user: Option<String>,
    search_expression: Option<String>,
    oldest_first: Option<Value>,
}

/// `Logs/SecurityLog/Services/QueryLogEntries`: the security log, newest first (or oldest
/// first), by time, user and a case-insensitive text in the message.
pub async fn security_log_service(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let p: LogParams = parse_body(body)?;
    let largest = state
        .config
        .limits
        .max_page_rows
        .min(security_log::MAX_ITEMS);
    let limit = data::max_items(&p.max_items, largest)?;
    let since = data::date(&p.start_date, "startDate")?;
    let until = data::date(&p.end_date, "endDate")?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(ApiError::BadRequest("startDate is after endDate".into()));
    }
    let oldest_first = match &p.oldest_first {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => false,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "parameter 'oldestFirst' must be true or false".into(),
            ));
        }
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let query = LogQuery {
        since,
        until,
        user: nonempty(p.user),
        search: nonempty(p.search_expression),
        oldest_first,
        limit,
    };
    let events = security_log::entries(&state.db, &query).await?;
    let rows = events
        .iter()
        .map(|e| Value::Object(security_log::row(e)))
        .collect();
    Ok(infotable(security_log::FIELDS, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_query_splits_into_filters_sorts_and_a_page() {
        let query = json!({
            "filters": {"type": "EQ", "fieldName": "user", "value": "a"},
            "sorts": [{"fieldName": "timestamp", "isAscending": true}, {"fieldName": "id"}],
            "pageSize": 10,
            "pageNumber": 2
        });
        let (filters, shape) = split_query(Some(&query)).expect("split");
        assert_eq!(
            filters,
            Some(json!({"filters": {"type": "EQ", "fieldName": "user", "value": "a"}}))
        );
        assert_eq!(shape.sorts.len(), 2);
        assert!(shape.sorts.iter().all(|s| s.ascending));
        assert_eq!(shape.page, Some((10, 2)));
        let text = Value::String(
            json!({"sorts": [{"fieldName": "user", "isAscending": false}]}).to_string(),
        );
        let (_, shape) = split_query(Some(&text)).expect("text");
        assert!(!shape.sorts[0].ascending);
        for bad in [
            json!({"sorts": [{"fieldName": "nope"}]}),
            json!({"sorts": {"fieldName": "id"}}),
            json!({"sorts": [{"fieldName": "id", "isAscending": "yes"}]}),
            json!({"pageNumber": 2}),
            json!({"pageSize": 0}),
        ] {
            assert!(split_query(Some(&bad)).is_err(), "{bad}");
        }
        assert_eq!(split_query(None).expect("none"), (None, Shape::default()));
    }
}
