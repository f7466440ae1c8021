//! `Resources/SecurityServices/GetEffectivePermissionChanges(before, after, user, group,
//! entityType, entity, permission)`: the effective-permission diff of `ironworx diff` over REST,
//! computed by [`crate::domain::changes::between`], one InfoTable row per changed decision.
//!
//! A side is `live` or an instant (`live@<RFC 3339>` or the RFC 3339 instant alone); exports
//! are the command line's: a service does not read the server's file system.

use ironworx_entity::vocab::BaseType;
use serde_json::{Value, json};

use crate::authz::Outcome;
use crate::domain::changes::{self, Side};
use crate::domain::diff::{Change, Filter, rule_text};
use crate::error::ApiError;
use crate::http::guard::Guard;
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

/// How a row words a decision.
pub fn outcome_word(outcome: Outcome) -> &'static str {
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

/// Answers the changed decisions between `before` and `after` ([`changes::between`]).
pub async fn effective_permission_changes(
    state: &AppState,
    guard: &Guard,
    p: &Params,
) -> Result<Value, ApiError> {
    let before = side(params::required(&p.before, "before")?, "before")?;
    let after = side(params::required(&p.after, "after")?, "after")?;
    let changes = changes::between(state, guard, (before, after), &filter(p)?).await?;
    Ok(infotable(FIELDS, rows(&changes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::diff::compare;
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
