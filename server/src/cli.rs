//! Command line: parses the subcommand and settings, sets up logging and runs the command.
//! This is the binary's edge: errors become one line on stderr and a failure exit code.

pub mod audit;
pub mod convert;
pub mod diff;
pub mod explain;
pub mod import_export;
pub mod verify;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ironworx_entity::queries::audit::{ORIGIN, Origin};

use crate::config::{Config, Settings};

/// Ironworx: a platform server speaking the ThingWorx model.
#[derive(Debug, Parser)]
#[command(name = "ironworx", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the server (migrates and bootstraps an empty database first).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print why a user is allowed or denied a permission, layer by layer.
    Explain(crate::cli::explain::ExplainArgs),
    /// Print every effective permission that differs between two states (exports or `live`).
    Diff(crate::cli::diff::DiffArgs),
    /// Check permission expectations (TOML) against `live` or an export; exit 1 when one fails.
    Verify(crate::cli::verify::VerifyArgs),
    /// Print the audit record's entries, newest first.
    Audit(crate::cli::audit::AuditArgs),
    /// Import a ThingWorx export: an .xml, .twx or .zip file, or a storage folder.
    Import(crate::cli::import_export::ImportArgs),
    /// Export the model (or part of it) as XML, .twx or zip.
    Export(crate::cli::import_export::ExportArgs),
    /// Rewrite an export in another format (XML, .twx, storage folder or zip), no database.
    Convert(crate::cli::convert::ConvertArgs),
}

/// The origin of the changes a command makes on its own (the server's bootstrap, an import).
fn command_origin() -> Origin {
    Origin {
        door: "cli".into(),
        address: String::new(),
    }
}

/// Parses the process arguments and runs the command; the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line; `Ok(false)` when the command ran and reports a failure
/// (`verify` with an expectation that failed).
pub fn execute(cli: Cli) -> anyhow::Result<bool> {
    let default_filter = match cli.command {
        Command::Diff(_) | Command::Verify(_) | Command::Audit(_) => {
            crate::telemetry::REPORT_FILTER
        }
        _ => crate::telemetry::DEFAULT_FILTER,
    };
    crate::telemetry::init_with_default(cli.settings.log_format, default_filter)?;
    if let Command::Convert(args) = &cli.command {
        return crate::cli::convert::run(args).map(|()| true);
    }
    let config = Config::resolve(cli.settings).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve => runtime
            .block_on(ORIGIN.scope(command_origin(), crate::app::serve(config)))
            .map(|()| true),
        Command::Migrate => runtime
            .block_on(ORIGIN.scope(command_origin(), crate::app::migrate(config)))
            .map(|()| true),
        Command::Explain(args) => runtime
            .block_on(crate::cli::explain::run(config, args))
            .map(|()| true),
        Command::Diff(args) => runtime
            .block_on(crate::cli::diff::run(config, args))
            .map(|()| true),
        Command::Verify(args) => runtime.block_on(crate::cli::verify::run(config, args)),
        Command::Audit(args) => runtime
            .block_on(crate::cli::audit::run(config, args))
            .map(|()| true),
        Command::Import(args) => runtime
            .block_on(ORIGIN.scope(
                command_origin(),
                crate::cli::import_export::import(config, args),
            ))
            .map(|()| true),
        Command::Export(args) => runtime
            .block_on(crate::cli::import_export::export(config, args))
            .map(|()| true),
        Command::Convert(args) => crate::cli::convert::run(&args).map(|()| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn settings_are_accepted_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["ironworx", "--bind", "127.0.0.1:0", "serve"])
            .expect("flag before subcommand");
        let after = Cli::try_parse_from(["ironworx", "serve", "--bind", "127.0.0.1:0"])
            .expect("flag after subcommand");
        assert_eq!(before.command, Command::Serve);
        assert_eq!(after.command, Command::Serve);
        assert_eq!(before.settings.bind.port(), 0);
        assert_eq!(after.settings.bind.port(), 0);
    }

    #[test]
    fn known_commands_only() {
        assert!(Cli::try_parse_from(["ironworx", "migrate"]).is_ok());
        let explain = Cli::try_parse_from([
            "ironworx",
            "explain",
            "--user",
            "u",
            "--entity-type",
            "Things",
            "--entity",
            "T",
            "--permission",
            "PropertyRead",
        ])
        .expect("explain");
        assert!(matches!(explain.command, Command::Explain(ref a) if a.resource == "*"));
        assert!(Cli::try_parse_from(["ironworx", "import"]).is_err());
        let import = Cli::try_parse_from(["ironworx", "import", "--mode", "storage", "x.zip"])
            .expect("import");
        assert!(
            matches!(import.command, Command::Import(ref a) if a.mode == ironworx_importer::plan::Mode::Storage)
        );
        assert!(Cli::try_parse_from(["ironworx", "import", "--mode", "disk", "x.zip"]).is_err());
        assert!(
            Cli::try_parse_from([
                "ironworx", "export", "--mode", "file", "--format", "twx", "o.twx"
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["ironworx"]).is_err());
    }

    #[test]
    fn admin_password_has_no_flag() {
        assert!(Cli::try_parse_from(["ironworx", "serve", "--admin-password", "x"]).is_err());
    }
}
