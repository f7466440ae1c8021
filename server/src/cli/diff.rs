//! `ironworx diff BEFORE AFTER`: loads two states of the model (an export, `live` or
//! `live@<RFC 3339 time>`), asks
//! [`crate::domain::diff`] which decisions changed and prints them as text or JSON. It reports,
//! so it exits 0 whatever changed.

use std::path::PathBuf;

use anyhow::Context;
use ironworx_entity::vocab::PermissionKind;
use serde_json::{Value, json};

use crate::authz::Step;
use crate::config::Config;
use crate::domain::diff::{Change, Decision, Filter, compare, rule_text};
use crate::domain::snapshot::{self, Snapshot};

/// What to compare.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DiffArgs {
    /// The state before: an export (file, folder, `.zip` or `.twx`), `live` or
    /// `live@<RFC 3339 time>`.
    pub before: String,
    /// The state after: an export, `live` or `live@<RFC 3339 time>`.
    pub after: String,
    /// Only this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only the members of this group (in either state).
    #[arg(long)]
    pub group: Option<String>,
    /// Only entities of this collection (`Things`) or entity type (`Thing`).
    #[arg(long)]
    pub entity_type: Option<String>,
    /// Only this entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this permission.
    #[arg(long)]
    pub permission: Option<String>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How the diff is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped by user and entity, for people.
    Text,
    /// One object with every change, for programs.
    Json,
}

/// Where a state of the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSource {
    /// The configured database now.
    Live,
    /// The configured database as it was at an instant (milliseconds since the epoch),
    /// rebuilt from the audit record.
    LiveAt(i64),
    /// An export, imported into a throw-away database.
    Export(PathBuf),
}

/// Reads `live`, `live@<RFC 3339 time>` or an export path.
pub fn parse_state(text: &str) -> anyhow::Result<StateSource> {
    if text == "live" {
        return Ok(StateSource::Live);
    }
    if let Some(instant) = text.strip_prefix("live@") {
        let at = ironworx_importer::model::values::parse_date(instant).with_context(|| {
            format!("'{instant}' is not an RFC 3339 instant (such as 2026-12-07T10:00:00Z)")
        })?;
        return Ok(StateSource::LiveAt(at));
    }
    let path = PathBuf::from(text);
    if !path.exists() {
        anyhow::bail!("{text} is neither `live` nor an existing export (file, folder or zip)");
    }
    Ok(StateSource::Export(path))
}

/// Loads a state of the model.
pub async fn load(config: &Config, source: &StateSource) -> anyhow::Result<Snapshot> {
    match source {
        StateSource::Live | StateSource::LiveAt(_) => {
            let db = crate::db::connect_with_timeout(&config.database_url, config.database_timeout)
                .await
                .context("cannot open the database")?;
            let state = match source {
                StateSource::LiveAt(at) => snapshot::read_at(&db, *at).await,
                _ => snapshot::read(&db).await,
            };
            db.close().await.context("cannot close the database")?;
            Ok(state.map_err(|e| match e {
                e @ snapshot::SnapshotError::TooEarly { .. } => anyhow::anyhow!(e),
                e => {
                    anyhow::anyhow!(e).context("cannot read the model (was the database migrated?)")
                }
            })?)
        }
        StateSource::Export(path) => {
            Ok(snapshot::from_export(path, &config.limits.import()).await?)
        }
    }
}

/// Runs `ironworx diff`.
pub async fn run(config: Config, args: DiffArgs) -> anyhow::Result<()> {
    let filter = filter(&args)?;
    let before = parse_state(&args.before)?;
    let after = parse_state(&args.after)?;
    let before_state = load(&config, &before).await?;
    let after_state = load(&config, &after).await?;
    let changes = compare(&before_state, &after_state, &filter)?;
    let out = match args.format {
        Format::Text => text(&changes),
        Format::Json => format!("{:#}\n", json(&args.before, &args.after, &changes)),
    };
    print!("{out}");
    Ok(())
}

fn filter(args: &DiffArgs) -> anyhow::Result<Filter> {
    let collection = args
        .entity_type
        .as_deref()
        .map(|t| {
            crate::authz::collection_of(t)
                .ok_or_else(|| anyhow::anyhow!("unknown entity type '{t}'"))
        })
        .transpose()?;
    if args.entity.is_some() && collection.is_none() {
        anyhow::bail!("--entity needs --entity-type (an entity name is unique in its collection)");
    }
    Ok(Filter {
        user: args.user.clone(),
        group: args.group.clone(),
        collection,
        entity: args.entity.clone(),
        permission: args
            .permission
            .as_deref()
            .map(str::parse::<PermissionKind>)
            .transpose()?,
    })
}

fn allowed_word(decision: &Decision) -> &'static str {
    if decision.allowed() {
        "allowed"
    } else {
        "denied"
    }
}

/// The changes grouped by user and entity, then a count.
pub fn text(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no effective permission changed\n".to_owned();
    }
    let mut out = String::new();
    let mut last: Option<(&str, String)> = None;
    for change in changes {
        let entity = change.entity_path();
        if last.as_ref().is_none_or(|(u, _)| *u != change.user) {
            out.push_str(&format!("{}\n", change.user));
            last = None;
        }
        if last.as_ref().is_none_or(|(_, e)| *e != entity) {
            out.push_str(&format!("  {entity}\n"));
        }
        out.push_str(&format!(
            "    {} on {}: {} -> {}\n      before: {}\n      after:  {}\n",
            change.permission,
            change.resource,
            allowed_word(&change.before),
            allowed_word(&change.after),
            rule_text(&change.before.rule),
            rule_text(&change.after.rule),
        ));
        last = Some((&change.user, entity));
    }
    let lost = changes.iter().filter(|c| c.lost()).count();
    out.push_str(&format!(
        "{} change(s): {lost} allowed -> denied, {} denied -> allowed\n",
        changes.len(),
        changes.len() - lost
    ));
    out
}

fn step_json(step: &Step) -> Value {
    json!({
        "layer": step.layer.label(),
        "principal": step.principal.as_ref().map(|(_, n)| n.clone()),
        "principalType": step.principal.as_ref().map(|(t, _)| t.to_string()),
        "resource": step.resource,
        "effect": step.effect.label(),
        "detail": step.detail,
    })
}

fn decision_json(decision: &Decision) -> Value {
    json!({
        "allowed": decision.allowed(),
        "outcome": match decision.outcome {
            crate::authz::Outcome::Allow => "ALLOW",
            crate::authz::Outcome::Deny => "DENY",
            crate::authz::Outcome::NotVisible => "NOT_VISIBLE",
        },
        "rule": step_json(&decision.rule),
    })
}

/// The diff as one JSON object: the two sides, counts and every change (sorted by user,
/// entity, permission and resource).
pub fn json(before: &str, after: &str, changes: &[Change]) -> Value {
    let lost = changes.iter().filter(|c| c.lost()).count();
    json!({
        "before": before,
        "after": after,
        "lost": lost,
        "gained": changes.len() - lost,
        "changes": changes.iter().map(|c| json!({
            "user": c.user,
            "entity": c.entity_path(),
            "collection": c.collection.as_str(),
            "name": c.entity,
            "permission": c.permission.as_str(),
            "resource": c.resource,
            "before": decision_json(&c.before),
            "after": decision_json(&c.after),
        })).collect::<Vec<_>>(),
    })
}
