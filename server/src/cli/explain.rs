//! `ironworx explain`: prints why a user is allowed or denied, layer by layer, from the same
//! evaluator and the same index the server uses.

use anyhow::Context;
use ironworx_entity::vocab::{ANY_RESOURCE, PermissionKind};

use crate::authz::{AuthzIndex, Outcome, Target};
use crate::config::Config;
use crate::domain::explain::{Explanation, Question, explain};
use crate::error::ApiError;
use crate::live_index::Security;

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ExplainArgs {
    /// The user whose request is explained.
    #[arg(long)]
    pub user: String,
    /// The collection (`Things`) or entity type (`Thing`).
    #[arg(long)]
    pub entity_type: String,
    /// The entity; leave it out to explain `Create` on the whole collection.
    #[arg(long, default_value = "")]
    pub entity: String,
    /// The permission (`PropertyRead`, `ServiceInvoke`, `Read`, `Visibility`, …).
    #[arg(long)]
    pub permission: String,
    /// The property, service or event (run-time permissions); `*` by default.
    #[arg(long, default_value = ANY_RESOURCE)]
    pub resource: String,
    /// Explain an access made from inside a script service the user called: when the user is
    /// not allowed, the `System` user's rules decide (the wrapped-call rule).
    #[arg(long)]
    pub wrapped: bool,
}

/// Reads the model from the configured database and prints the explanation.
pub async fn run(config: Config, args: ExplainArgs) -> anyhow::Result<()> {
    let db = crate::db::connect_with_timeout(&config.database_url, config.database_timeout)
        .await
        .context("cannot open the database")?;
    let security = Security::load(db.clone())
        .await
        .context("cannot read the security model (was the database migrated?)")?;
    let text = render(&security.snapshot(), &args)?;
    print!("{text}");
    db.close().await.context("cannot close the database")?;
    Ok(())
}

/// The explanation as text: a verdict line, then one numbered line per rule looked at.
pub fn render(index: &AuthzIndex, args: &ExplainArgs) -> anyhow::Result<String> {
    let kind: PermissionKind = args.permission.parse()?;
    let question = Question {
        user: &args.user,
        entity_type: &args.entity_type,
        entity: &args.entity,
        kind,
        resource: &args.resource,
        wrapped: args.wrapped,
    };
    let Explanation {
        outcome,
        collection,
        target,
        steps,
        decided_by,
        system_from,
        ..
    } = explain(index, &question).map_err(|e| match e {
        ApiError::NotFound => {
            anyhow::anyhow!("{} '{}' does not exist", args.entity_type, args.entity)
        }
        other => anyhow::anyhow!(other.to_string()),
    })?;
    let what = match target {
        Target::Collection(c) => format!("{kind} on the {c} collection"),
        Target::Entity(_)
            if kind.category() == ironworx_entity::vocab::PermissionCategory::RunTime =>
        {
            format!(
                "{kind} on {} of {collection} {}",
                args.resource, args.entity
            )
        }
        Target::Entity(_) => format!("{kind} on {collection} {}", args.entity),
    };
    let mut out = format!("{} asks {what}: {}\n", args.user, verdict(outcome));
    match system_from {
        Some(from) => {
            out.push_str(&format!("  as {}:\n", args.user));
            out.push_str(&steps_text(&steps[..from], "  "));
            out.push_str(&format!("  as {decided_by} (wrapped call):\n"));
            out.push_str(&steps_text(&steps[from..], "  "));
            out.push_str(&format!("decided by the rules of {decided_by}\n"));
        }
        None => out.push_str(&steps_text(&steps, "")),
    }
    Ok(out)
}

/// The verdict as `ironworx explain` prints it.
pub fn verdict(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "ALLOWED",
        Outcome::Deny => "DENIED (403 Forbidden)",
        Outcome::NotVisible => "NOT VISIBLE (404 Entity Not Found)",
    }
}

/// One numbered line per rule looked at, each after `indent`; the deciding one marked.
pub fn steps_text(steps: &[crate::authz::Step], indent: &str) -> String {
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        let principal = step
            .principal
            .as_ref()
            .map(|(t, n)| format!("{t} {n}"))
            .unwrap_or_else(|| "-".to_owned());
        out.push_str(&format!(
            "{indent}{:>3}. {:<22} {:<32} {:<6} {:<5} {}{}\n",
            i + 1,
            step.layer.label(),
            principal,
            step.resource,
            step.effect.label(),
            step.detail,
            if step.decisive { "  <= decides" } else { "" }
        ));
    }
    out
}
