//! `Resources/SecurityServices/GetEffectivePermissionChanges(before, after, user, group,
//! entityType, entity, permission)`: the effective-permission diff of `ironworx diff` over REST,
//! computed by [`crate::domain::diff::compare`], one InfoTable row per changed decision.
//!
//! A side is a state [`crate::domain::snapshot`] can read while the server runs: `live`, or an
//! instant (`live@<RFC 3339>` or the RFC 3339 instant alone) rebuilt from the full audit record;
//! an instant older than the record is refused with 400 naming the earliest instant available
//! (exports are the command line's: a service does not read the server's file system).

use ironworx_entity::vocab::BaseType;
use serde_json::{Value, json};

use crate::authz::Outcome;
use crate::domain::diff::{Change, DiffError, Filter, compare, rule_text};
use crate::domain::snapshot::{self, Snapshot, SnapshotError};
use crate::error::ApiError;
use crate::http::infotable::infotable;
use crate::http::params::{self, Params};
use crate::state::AppState;

/// The fields of a change row.
pub const FIELDS: &[(&str, BaseType)] = &[
    ("user", BaseType::UserName),
    ("entity", BaseType::String),
    ("permission", BaseType::String),
    ("resource", BaseType::String),
    ("before", BaseType::String),
    ("after", BaseType::String),
    ("beforeRule", BaseType::String),
    ("afterRule", BaseType::String),
];

/// A side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The database now.
    Live,
    /// The database at an instant (milliseconds since the epoch).
    At(i64),
}

/// Reads a side: `live`, `live@<RFC 3339>` or an RFC 3339 instant.
pub fn side(text: &str, name: &str) -> Result<Side, ApiError> {
    if text == "live" {
        return Ok(Side::Live);
    }
    let instant = text.strip_prefix("live@").unwrap_or(text);
    ironworx_importer::model::values::parse_date(instant)
        .map(Side::At)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "parameter '{name}': '{text}' is neither 'live' nor an RFC 3339 instant"
            ))
        })
}

/// The filters of the call, as `ironworx diff` takes them.
pub fn filter(p: &Params) -> Result<Filter, ApiError> {
    let text = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let collection = text(&p.entity_type)
        .map(|t| {
            crate::authz::collection_of(&t)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown entityType '{t}'")))
        })
        .transpose()?;
    let entity = text(&p.entity);
    if entity.is_some() && collection.is_none() {
        return Err(ApiError::BadRequest(
            "parameter 'entity' needs 'entityType' (an entity name is unique in its collection)"
                .into(),
        ));
    }
    let permission = match text(&p.permission) {
        Some(_) => Some(params::kind(&p.permission, "permission")?),
        None => None,
    };
    Ok(Filter {
        user: text(&p.user),
        group: text(&p.group),
        collection,
        entity,
        permission,
    })
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allowed",
        Outcome::Deny => "denied",
        Outcome::NotVisible => "not visible",
    }
}

/// The changes as InfoTable rows.
pub fn rows(changes: &[Change]) -> Vec<Value> {
    changes
        .iter()
        .map(|c| {
            json!({
                "user": c.user,
                "entity": c.entity_path(),
                "permission": c.permission.as_str(),
                "resource": c.resource,
                "before": outcome_word(c.before.outcome),
                "after": outcome_word(c.after.outcome),
                "beforeRule": rule_text(&c.before.rule),
                "afterRule": rule_text(&c.after.rule),
            })
        })
        .collect()
}

fn snapshot_error(err: SnapshotError) -> ApiError {
    match err {
        SnapshotError::Db(e) => e.into(),
        SnapshotError::Query(e) => e.into(),
        e @ SnapshotError::TooEarly { .. } => ApiError::BadRequest(e.to_string()),
        other => ApiError::internal(other),
    }
}

fn diff_error(err: DiffError) -> ApiError {
    ApiError::BadRequest(err.to_string())
}

async fn load(state: &AppState, side: Side) -> Result<Snapshot, ApiError> {
    match side {
        Side::Live => snapshot::read(&state.db).await.map_err(snapshot_error),
        Side::At(at) => snapshot::read_at(&state.db, at)
            .await
            .map_err(snapshot_error),
    }
}

/// Answers the changed decisions between `before` and `after`.
pub async fn effective_permission_changes(state: &AppState, p: &Params) -> Result<Value, ApiError> {
    let before = side(params::required(&p.before, "before")?, "before")?;
    let after = side(params::required(&p.after, "after")?, "after")?;
    let filter = filter(p)?;
    let before_state = load(state, before).await?;
    let after_state = if after == before {
        before_state.clone()
    } else {
        load(state, after).await?
    };
    let changes = compare(&before_state, &after_state, &filter).map_err(diff_error)?;
    Ok(infotable(FIELDS, rows(&changes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::diff::tests::state;

    #[test]
    fn a_removed_membership_becomes_rows_with_both_rules() {
        let changes = compare(&state(true), &state(false), &Filter::default()).expect("diff");
        let rows = rows(&changes);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["user"], "bob");
        assert_eq!(rows[0]["entity"], "Things/T");
        assert_eq!(rows[0]["permission"], "PropertyRead");
        assert_eq!(rows[1]["resource"], "temperature");
        assert_eq!(rows[0]["before"], "allowed");
        assert_eq!(rows[0]["after"], "denied");
        let before_rule = rows[0]["beforeRule"].as_str().unwrap_or_default();
        assert!(before_rule.contains("Group Ops"), "{before_rule}");
        assert!(before_rule.contains("ALLOW"), "{before_rule}");
        let after_rule = rows[0]["afterRule"].as_str().unwrap_or_default();
        assert!(after_rule.starts_with("Default"), "{after_rule}");
    }

    #[test]
    fn a_side_is_live_or_an_instant() {
        assert_eq!(side("live", "before").ok(), Some(Side::Live));
        assert_eq!(
            side("2026-01-01T00:00:00Z", "before").ok(),
            Some(Side::At(1_767_225_600_000))
        );
        assert_eq!(
            side("live@2026-01-01T00:00:00.001Z", "before").ok(),
            Some(Side::At(1_767_225_600_001))
        );
        let err = side("yesterday", "after").expect_err("word");
        assert!(err.to_string().contains("'after'"), "{err}");
    }
}
