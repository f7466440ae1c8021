//! The audit record as entries to read: who changed what, when, through which action, in
//! which audit category, with a readable message; shared by the audit services, the console
//! and `ironworx audit`, so all show the same entries, and read for a caller by [`record`] and
//! [`of_entity`] with the checks REST makes. Rows come from
//! [`ironworx_entity::queries::audit::history`], newest first.

use ironworx_entity::queries::QueryError;
use ironworx_entity::queries::audit::{AuditRow, History, history};
use ironworx_entity::vocab::BaseType;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use crate::authz::EntityIdx;
use crate::domain::Ctx;
use crate::domain::need::{AUDITOR, ON_VISIBLE};
use crate::error::ApiError;
use crate::state::AppState;

/// How often the retention of the audit record is applied.
const RETENTION_PERIOD: std::time::Duration = std::time::Duration::from_secs(3600);

/// Drops, now and then hourly, what the audit record and the security log hold from more than
/// `days` days ago ([`ironworx_entity::queries::model_history::prune`],
/// [`ironworx_entity::queries::security_log::prune`]).
pub fn spawn_retention(db: sea_orm::DatabaseConnection, days: u32) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_PERIOD);
        loop {
            every.tick().await;
            let cutoff = ironworx_entity::queries::now_ms() - i64::from(days) * 86_400_000;
            match ironworx_entity::queries::model_history::prune(&db, cutoff).await {
                Ok(dropped) => tracing::info!(dropped, days, "audit record retention applied"),
                Err(e) => tracing::warn!(error = %e, "audit record retention failed"),
            }
            match ironworx_entity::queries::security_log::prune(&db, cutoff).await {
                Ok(dropped) => tracing::info!(dropped, days, "security log retention applied"),
                Err(e) => tracing::warn!(error = %e, "security log retention failed"),
            }
        }
    });
}

/// The most entries one query answers.
pub const MAX_ITEMS: usize = 10_000;

/// How many rows are read per round while a filter the database cannot apply thins them.
const PAGE: u64 = 500;

/// The audit categories, as `auditCategory` names them.
pub const CATEGORIES: &[&str] = &[
    "Security",
    "Authentication",
    "Modeling",
    "ImportExport",
    "Localization",
    "System",
];

/// The audit category of an action (a service or command name).
pub fn category(action: &str) -> &'static str {
    let has = |words: &[&str]| words.iter().any(|w| action.contains(w));
    if action.starts_with("Bootstrap") || action == "CatalogFixtures" {
        "System"
    } else if has(&["Session", "Login", "Logout"]) {
        "Authentication"
    } else if has(&[
        "Permission",
        "Owner",
        "Member",
        "ApplicationKey",
        "Password",
        "Lock",
        "Enable",
        "Disable",
        "IPWhitelist",
        "UserName",
        "Expiration",
    ]) {
        "Security"
    } else if has(&["Import", "Export"]) {
        "ImportExport"
    } else if has(&["Token", "Language"]) {
        "Localization"
    } else {
        "Modeling"
    }
}

/// One entry of the audit record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The row id (newer entries have larger ids).
    pub id: i64,
    /// When, in milliseconds since the epoch.
    pub timestamp: i64,
    /// Who made the change.
    pub user: String,
    /// What was done.
    pub action: String,
    /// The audit category of the action.
    pub category: &'static str,
    /// The collection of the changed entity (empty when there is none).
    pub collection: String,
    /// The changed entity's name (empty when there is none).
    pub name: String,
    /// The recorded parameters of the change (never a secret).
    pub detail: Option<Value>,
    /// Through which door (`REST <service>`, `import`, `cli`, `console`; empty before the
    /// audit record said).
    pub door: String,
    /// The client address of the request, when there was one.
    pub address: String,
    /// The server process that made the change (`<pid>@<host>`).
    pub process: String,
}

impl Entry {
    /// An entry from an audit row.
    pub fn from_row(row: AuditRow) -> Entry {
        Entry {
            id: row.id,
            timestamp: row.at,
            category: category(&row.action),
            user: row.actor,
            action: row.action,
            collection: row.target_collection,
            name: row.target_name,
            detail: row.detail,
            door: row.door,
            address: row.address,
            process: row.process,
        }
    }

    /// `<Collection>/<Name>`, the collection alone, or empty.
    pub fn entity(&self) -> String {
        match (self.collection.is_empty(), self.name.is_empty()) {
            (true, _) => String::new(),
            (false, true) => self.collection.clone(),
            (false, false) => format!("{}/{}", self.collection, self.name),
        }
    }

    /// A recorded side of the change (`before` or `after`) when the detail holds one.
    pub fn side(&self, key: &str) -> Option<&Value> {
        self.detail.as_ref().and_then(|d| d.get(key))
    }

    /// One readable line: who did what to which entity, with the recorded parameters.
    pub fn message(&self) -> String {
        let mut out = format!("{} ran {}", self.user, self.action);
        let entity = self.entity();
        if !entity.is_empty() {
            out.push_str(&format!(" on {entity}"));
        }
        if let Some(detail) = &self.detail {
            out.push_str(&format!(": {detail}"));
        }
        out
    }

    /// The entry as an InfoTable row (see [`FIELDS`]).
    pub fn row(&self) -> Map<String, Value> {
        let text = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_default();
        let row = json!({
            "id": self.id,
            "timestamp": self.timestamp,
            "user": self.user,
            "auditCategory": self.category,
            "action": self.action,
            "entityType": self.collection,
            "entityName": self.name,
            "entity": self.entity(),
            "message": self.message(),
            "before": text(self.side("before")),
            "after": text(self.side("after")),
            "detail": text(self.detail.as_ref()),
            "door": self.door,
            "address": self.address,
            "process": self.process,
        });
        match row {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// The fields of an entry row, with their base types.
pub const FIELDS: &[(&str, BaseType)] = &[
    ("id", BaseType::Long),
    ("timestamp", BaseType::Datetime),
    ("user", BaseType::UserName),
    ("auditCategory", BaseType::String),
    ("action", BaseType::String),
    ("entityType", BaseType::String),
    ("entityName", BaseType::String),
    ("entity", BaseType::String),
    ("message", BaseType::String),
    ("before", BaseType::String),
    ("after", BaseType::String),
    ("detail", BaseType::String),
    ("door", BaseType::String),
    ("address", BaseType::String),
    ("process", BaseType::String),
];

/// The base type of an entry field, for filters.
pub fn field_type(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.as_str())
}

/// One sort of a ThingWorx query (`{"fieldName": …, "isAscending": …}`) over an entry field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    /// The field sorted on (one of [`FIELDS`]).
    pub field: String,
    /// Smallest first.
    pub ascending: bool,
}

/// Orders two values of one field: numbers by value, text by its characters, a missing value
/// or `null` first, anything else by its JSON text.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    let a = a.unwrap_or(&Value::Null);
    let b = b.unwrap_or(&Value::Null);
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Sorts `rows` by `sorts`, the first deciding first; rows equal on every sort keep their
/// order (newest first).
pub fn sort_rows(rows: &mut [Map<String, Value>], sorts: &[Sort]) {
    rows.sort_by(|a, b| {
        sorts
            .iter()
            .map(|s| {
                let order = compare_values(a.get(&s.field), b.get(&s.field));
                if s.ascending { order } else { order.reverse() }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// What to read and how many entries to keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// The filters the database applies.
    pub rows: History,
    /// Only entries of this audit category.
    pub category: Option<String>,
    /// At most this many entries.
    pub max_items: usize,
}

/// The entries `query` selects and `keep` accepts, newest first, at most `query.max_items`.
pub async fn entries<C: ConnectionTrait>(
    db: &C,
    query: &Query,
    keep: &dyn Fn(&Entry) -> bool,
) -> Result<Vec<Entry>, QueryError> {
    let want = query.max_items.min(MAX_ITEMS);
    let mut out = Vec::new();
    let mut page = History {
        limit: PAGE,
        ..query.rows.clone()
    };
    while out.len() < want {
        let rows = history(db, &page).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        let short = (rows.len() as u64) < PAGE;
        for row in rows {
            let entry = Entry::from_row(row);
            let in_category = query
                .category
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(entry.category));
            if in_category && keep(&entry) {
                out.push(entry);
                if out.len() == want {
                    break;
                }
            }
        }
        if short {
            break;
        }
        page.before_id = Some(last);
    }
    Ok(out)
}

/// The audit record `query` selects and `keep` accepts, newest first, for a security
/// administrator or a member of `Auditors` (`AuditSubsystem/QueryAuditHistory…`).
pub async fn record(
    state: &AppState,
    ctx: &Ctx,
    query: &Query,
    keep: &dyn Fn(&Entry) -> bool,
) -> Result<Vec<Entry>, ApiError> {
    ctx.enforce(&AUDITOR, None, "QueryAuditHistory", &|_| None)?;
    Ok(entries(&state.db, query, keep).await?)
}

/// The entries of entity `idx` alone that `query` selects and `keep` accepts, newest first,
/// for anyone who may see the entity (`QueryAuditHistory` on an entity).
pub async fn of_entity(
    state: &AppState,
    ctx: &Ctx,
    idx: EntityIdx,
    query: &Query,
    keep: &dyn Fn(&Entry) -> bool,
) -> Result<Vec<Entry>, ApiError> {
    ctx.enforce(&ON_VISIBLE, Some(idx), "QueryAuditHistory", &|_| None)?;
    let entity = ctx.index.entity(idx).ok_or(ApiError::NotFound)?;
    let target = (entity.collection.as_str().to_owned(), entity.name.clone());
    let query = Query {
        rows: History {
            target: Some(target),
            ..query.rows.clone()
        },
        ..query.clone()
    };
    Ok(entries(&state.db, &query, keep).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_fall_into_categories() {
        assert_eq!(category("AddRunTimePermission"), "Security");
        assert_eq!(category("AddMember"), "Security");
        assert_eq!(category("SetOwner"), "Security");
        assert_eq!(category("TerminateUserSessions"), "Authentication");
        assert_eq!(category("Bootstrap"), "System");
        assert_eq!(category("AddOrUpdateToken"), "Localization");
        assert_eq!(category("CreateThing"), "Modeling");
        assert!(CATEGORIES.contains(&category("anything")));
    }

    #[test]
    fn rows_sort_on_any_field_in_either_direction() {
        let mut rows: Vec<Map<String, Value>> = [(1, "b"), (3, "a"), (2, "a")]
            .into_iter()
            .map(|(id, user)| match json!({"id": id, "user": user}) {
                Value::Object(map) => map,
                _ => Map::new(),
            })
            .collect();
        let sort = |field: &str, ascending| Sort {
            field: field.into(),
            ascending,
        };
        sort_rows(&mut rows, &[sort("id", true)]);
        let ids =
            |rows: &[Map<String, Value>]| rows.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&rows), [json!(1), json!(2), json!(3)]);
        sort_rows(&mut rows, &[sort("user", true), sort("id", false)]);
        assert_eq!(ids(&rows), [json!(3), json!(2), json!(1)]);
        sort_rows(&mut rows, &[sort("id", false)]);
        assert_eq!(ids(&rows), [json!(3), json!(2), json!(1)]);
    }

    #[test]
    fn a_row_carries_the_entity_the_message_and_the_sides() {
        let entry = Entry {
            id: 7,
            timestamp: 1,
            user: "alice".into(),
            action: "SetName".into(),
            category: "Modeling",
            collection: "Things".into(),
            name: "T".into(),
            detail: Some(json!({"before": "a", "after": "b"})),
            door: "REST SetName".into(),
            address: "127.0.0.1".into(),
            process: "1@host".into(),
        };
        let row = entry.row();
        assert_eq!(row["entity"], "Things/T");
        assert_eq!(row["before"], "\"a\"");
        assert_eq!(row["after"], "\"b\"");
        assert!(entry.message().starts_with("alice ran SetName on Things/T"));
        assert!(FIELDS.iter().all(|(name, _)| row.contains_key(*name)));
    }
}
