//! `ironworx import` and `ironworx export`: the importer on the configured database, with a
//! progress spinner on a terminal and a summary (counts per collection, rules, principals
//! dropped, warnings).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ironworx_entity::vocab::{Collection, Tag, builtin};
use ironworx_importer::Caller;
use ironworx_importer::apply::Report;
use ironworx_importer::extract::Filter;
use ironworx_importer::plan::{Mode, PlanOptions};

use crate::config::Config;
use crate::transfer::{self, Format};

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ImportArgs {
    /// `file` (entity-level permissions only) or `storage` (collection-level ones too).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Mode,
    /// Fail when the import names principals defined nowhere (instead of dropping their rules).
    #[arg(long)]
    pub strict: bool,
    /// An `.xml`, `.twx` or `.zip` file, or a storage folder.
    pub path: PathBuf,
}

/// What to export, where.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ExportArgs {
    /// `file` (no collection-level permissions) or `storage` (with them).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Mode,
    /// `xml` (a file, or a folder in storage mode), `twx` or `zip`.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Only the entities of this project.
    #[arg(long)]
    pub project: Option<String>,
    /// Only the entities carrying all these tags (`Vocabulary:Term;…`).
    #[arg(long)]
    pub tags: Option<String>,
    /// Only these collections (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub collection: Vec<String>,
    /// Write password hashes and application key ids (never the default).
    #[arg(long)]
    pub include_secrets: bool,
    /// Include the server's built-in entities (left out by default, as ThingWorx does).
    #[arg(long)]
    pub include_system: bool,
    /// The file (or folder) to write.
    pub out: PathBuf,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(message.to_owned());
    bar
}

/// Runs `ironworx import`.
pub async fn import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let db = crate::app::prepare(&config).await?;
    let bar = spinner(&format!("importing {}", args.path.display()));
    let result = transfer::import_path(
        &db,
        &args.path,
        &config.limits.import(),
        PlanOptions {
            mode: args.mode,
            strict: args.strict,
        },
        // The command line works on the database directly: it restores everything.
        &Caller::full(builtin::ADMINISTRATOR),
    )
    .await;
    bar.finish_and_clear();
    let report = result.with_context(|| format!("import of {} failed", args.path.display()))?;
    print!("{}", summary(&report));
    db.close().await.context("cannot close the database")?;
    Ok(())
}

/// The summary printed after an import.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!("imported {} entities\n", report.entities()));
    let mut collections: Vec<Collection> = report
        .created
        .keys()
        .chain(report.replaced.keys())
        .copied()
        .collect();
    collections.sort();
    collections.dedup();
    for c in collections {
        out.push_str(&format!(
            "  {c}: {} created, {} replaced\n",
            report.created.get(&c).copied().unwrap_or(0),
            report.replaced.get(&c).copied().unwrap_or(0)
        ));
    }
    out.push_str(&format!(
        "rules: {} entity, {} instance, {} collection; {} memberships added\n",
        report.entity_rules, report.instance_rules, report.collection_rules, report.memberships
    ));
    if report.ignored_collection_rules > 0 {
        out.push_str(&format!(
            "file mode: {} collection-level rule(s) ignored\n",
            report.ignored_collection_rules
        ));
    }
    for d in &report.dropped {
        out.push_str(&format!(
            "dropped principal {}:{} ({} reference(s)): defined neither in the import nor in the database\n",
            d.principal_type, d.name, d.references
        ));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// Runs `ironworx export`.
pub async fn export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let db = crate::app::prepare(&config).await?;
    let filter = Filter {
        collections: args
            .collection
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| c.parse::<Collection>())
            .collect::<Result<_, _>>()?,
        project: args.project.clone(),
        tags: match &args.tags {
            Some(t) => Tag::parse_list(t)?,
            None => Vec::new(),
        },
        names: Vec::new(),
    };
    let bar = spinner("reading the model");
    let blank = !args.include_secrets;
    let export = transfer::extract(&db, &filter, args.mode, blank, args.include_system).await?;
    bar.set_message(format!("writing {} entities", export.entities.len()));
    let out = args.out.clone();
    let (mode, format) = (args.mode, args.format);
    let count = export.entities.len();
    let rules = export.collection_rules.len();
    tokio::task::spawn_blocking(move || transfer::write_to(&export, mode, format, blank, &out))
        .await
        .context("the writer stopped")??;
    bar.finish_and_clear();
    println!(
        "exported {count} entities{} to {}",
        if mode == Mode::Storage {
            format!(" and {rules} collection rule(s)")
        } else {
            String::new()
        },
        args.out.display()
    );
    db.close().await.context("cannot close the database")?;
    Ok(())
}
