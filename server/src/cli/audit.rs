//! `ironworx audit`: prints the audit record's entries (newest first) from the configured
//! database, the same entries the `QueryAuditHistory` services answer
//! ([`crate::domain::history`]), as text or JSON; with `--security-log`, the security log's
//! events as `Logs/SecurityLog/QueryLogEntries` answers them ([`crate::domain::security_log`]).

use anyhow::Context;
use ironworx_entity::queries::audit::History;
use ironworx_entity::queries::security_log::Query as LogQuery;
use ironworx_importer::values::{format_date, parse_date};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::domain::history::{self, Entry, Query};
use crate::domain::security_log;

/// Which entries to print.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AuditArgs {
    /// Only entries recorded at or after this RFC 3339 instant.
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries recorded at or before this RFC 3339 instant.
    #[arg(long)]
    pub until: Option<String>,
    /// Only changes made by this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only changes of this entity, `<Collection>/<Name>`.
    #[arg(long)]
    pub entity: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 500)]
    pub max_items: usize,
    /// Print the security log (logins, refusals, lockouts, session ends) instead of the audit
    /// record.
    #[arg(long)]
    pub security_log: bool,
    /// With `--security-log`: only events whose message contains this text (any case).
    #[arg(long, requires = "security_log")]
    pub search: Option<String>,
    /// With `--security-log`: oldest first.
    #[arg(long, requires = "security_log")]
    pub oldest_first: bool,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How entries are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per entry, for people.
    Text,
    /// One array of entry objects (the InfoTable rows), for programs.
    Json,
}

fn instant(text: Option<&str>, flag: &str) -> anyhow::Result<Option<i64>> {
    text.map(|t| {
        parse_date(t).with_context(|| format!("--{flag} '{t}' is not an RFC 3339 instant"))
    })
    .transpose()
}

/// The query the arguments describe.
pub fn query(args: &AuditArgs) -> anyhow::Result<Query> {
    let target = args
        .entity
        .as_deref()
        .map(|e| {
            let (collection, name) = e
                .split_once('/')
                .filter(|(c, n)| !c.is_empty() && !n.is_empty())
                .with_context(|| format!("--entity '{e}' is not <Collection>/<Name>"))?;
            let collection = crate::authz::collection_of(collection)
                .with_context(|| format!("--entity '{e}': unknown collection"))?;
            anyhow::Ok((collection.as_str().to_owned(), name.to_owned()))
        })
        .transpose()?;
    if args.max_items == 0 || args.max_items > history::MAX_ITEMS {
        anyhow::bail!("--max-items must be from 1 to {}", history::MAX_ITEMS);
    }
    Ok(Query {
        rows: History {
            since: instant(args.since.as_deref(), "since")?,
            until: instant(args.until.as_deref(), "until")?,
            actor: args.user.clone(),
            target,
            ..History::default()
        },
        category: None,
        max_items: args.max_items,
    })
}

/// The entries, one line each: time, user, category, action, entity and message, then where
/// the change came from when the record says (`via <door> from <address> in <process>`).
pub fn text(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "no audit entries\n".to_owned();
    }
    let mut out = String::new();
    for e in entries {
        let at = format_date(e.timestamp);
        out.push_str(&format!("{at} {} [{}] {}", e.user, e.category, e.message()));
        if !e.door.is_empty() {
            out.push_str(&format!(" (via {}", e.door));
            if !e.address.is_empty() {
                out.push_str(&format!(" from {}", e.address));
            }
            out.push_str(&format!(" in {})", e.process));
        }
        out.push('\n');
    }
    out
}

/// The security log query the arguments describe (`--entity` names no event).
pub fn log_query(args: &AuditArgs) -> anyhow::Result<LogQuery> {
    if args.entity.is_some() {
        anyhow::bail!("--entity does not apply to --security-log");
    }
    let largest = usize::try_from(security_log::MAX_ITEMS).unwrap_or(usize::MAX);
    if args.max_items == 0 || args.max_items > largest {
        anyhow::bail!("--max-items must be from 1 to {largest}");
    }
    Ok(LogQuery {
        since: instant(args.since.as_deref(), "since")?,
        until: instant(args.until.as_deref(), "until")?,
        user: args.user.clone(),
        search: args.search.clone().filter(|s| !s.is_empty()),
        oldest_first: args.oldest_first,
        limit: u64::try_from(args.max_items).unwrap_or(security_log::MAX_ITEMS),
    })
}

/// Runs `ironworx audit`.
pub async fn run(config: Config, args: AuditArgs) -> anyhow::Result<()> {
    let (query, log) = if args.security_log {
        (None, Some(log_query(&args)?))
    } else {
        (Some(query(&args)?), None)
    };
    let db = crate::db::connect_with_timeout(&config.database_url, config.database_timeout)
        .await
        .context("cannot open the database")?;
    let rows: Vec<Map<String, Value>>;
    let out = if let Some(log) = &log {
        let events = security_log::entries(&db, log)
            .await
            .context("cannot read the security log (was the database migrated?)")?;
        rows = events.iter().map(security_log::row).collect();
        security_log::text(&events)
    } else {
        let query = query.unwrap_or_default();
        let entries = history::entries(&db, &query, &|_| true)
            .await
            .context("cannot read the audit record (was the database migrated?)")?;
        rows = entries.iter().map(Entry::row).collect();
        text(&entries)
    };
    db.close().await.context("cannot close the database")?;
    let out = match args.format {
        Format::Text => out,
        Format::Json => format!(
            "{:#}\n",
            Value::Array(rows.into_iter().map(Value::Object).collect())
        ),
    };
    print!("{out}");
    Ok(())
}
