//! The security log as entries to read, shared by `Logs/SecurityLog/QueryLogEntries` and
//! `ironworx audit --security-log`, so both show the same entries. Rows are recorded by
//! [`crate::auth::security_log`] and read by [`ironworx_entity::queries::security_log`].

use ironworx_entity::queries::QueryError;
use ironworx_entity::queries::security_log::{self, Query, SecurityLogRow};
use ironworx_entity::vocab::BaseType;
use ironworx_importer::values::format_date;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

/// The most entries one query answers.
pub const MAX_ITEMS: u64 = 10_000;

/// The fields of an entry row, with their base types: ThingWorx's log fields (`timestamp`,
/// `level`, `user`, `origin`, `instance`, `content`) and the audit record's (`action`,
/// `entity`, `message`, `door`, `organization`).
pub const FIELDS: &[(&str, BaseType)] = &[
    ("id", BaseType::Long),
    ("timestamp", BaseType::Datetime),
    ("level", BaseType::String),
    ("user", BaseType::UserName),
    ("action", BaseType::String),
    ("entity", BaseType::String),
    ("origin", BaseType::String),
    ("door", BaseType::String),
    ("organization", BaseType::String),
    ("instance", BaseType::String),
    ("content", BaseType::String),
    ("message", BaseType::String),
];

/// The level of an event: `INFO` for a login or a logout, `WARN` for a refusal, a lockout or
/// a session ended by someone else or by time.
pub fn level(kind: &str) -> &'static str {
    match kind {
        "LoginSucceeded" | "Logout" => "INFO",
        _ => "WARN",
    }
}

/// An event as an InfoTable row (see [`FIELDS`]).
pub fn row(event: &SecurityLogRow) -> Map<String, Value> {
    let text = |s: &str| Value::String(s.to_owned());
    [
        ("id", Value::from(event.id)),
        ("timestamp", Value::from(event.at)),
        ("level", text(level(&event.kind))),
        ("user", text(&event.user_name)),
        ("action", text(&event.kind)),
        ("entity", text(&event.entity)),
        ("origin", text(&event.address)),
        ("door", text(&event.door)),
        ("organization", text(&event.organization)),
        ("instance", text(&event.process)),
        ("content", text(&event.message)),
        ("message", text(&event.message)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// The events `query` selects, at most [`MAX_ITEMS`].
pub async fn entries<C: ConnectionTrait>(
    db: &C,
    query: &Query,
) -> Result<Vec<SecurityLogRow>, QueryError> {
    let query = Query {
        limit: query.limit.clamp(1, MAX_ITEMS),
        ..query.clone()
    };
    security_log::query(db, &query).await
}

/// The events, one line each: time, level, action, user, message, then where it came from.
pub fn text(events: &[SecurityLogRow]) -> String {
    if events.is_empty() {
        return "no security log entries\n".to_owned();
    }
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "{} {} {} {}: {}",
            format_date(e.at),
            level(&e.kind),
            e.kind,
            e.user_name,
            e.message
        ));
        let mut from = vec![format!("via {}", e.door)];
        if !e.address.is_empty() {
            from.push(format!("from {}", e.address));
        }
        if !e.organization.is_empty() {
            from.push(format!("in {}", e.organization));
        }
        out.push_str(&format!(" ({})\n", from.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_every_field_and_a_line_says_who_and_where() {
        let event = SecurityLogRow {
            id: 3,
            at: 0,
            user_name: "alice".into(),
            kind: "LoginFailed".into(),
            address: "10.0.0.1".into(),
            door: "basic".into(),
            organization: String::new(),
            entity: String::new(),
            message: "login failed for alice".into(),
            process: "1@host".into(),
        };
        let row = row(&event);
        assert!(FIELDS.iter().all(|(name, _)| row.contains_key(*name)));
        assert_eq!(row["level"], "WARN");
        assert_eq!(row["origin"], "10.0.0.1");
        let line = text(&[event]);
        assert!(
            line.contains("LoginFailed alice: login failed for alice (via basic from 10.0.0.1)")
        );
        assert_eq!(text(&[]), "no security log entries\n");
    }
}
