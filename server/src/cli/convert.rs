//! `ironworx convert IN OUT`: rewrites a ThingWorx export in another format (XML ⇄ `.twx`,
//! single file ⇄ storage folder or zip) without a database, through the same readers and
//! writers as import and export.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ironworx_importer::Limits;
use ironworx_importer::plan::Mode;
use ironworx_importer::source::read_path;

use crate::transfer::{self, Format};

/// What to convert, where.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ConvertArgs {
    /// Keep the password hashes and application key ids the input holds (blanked by default,
    /// as exports do).
    #[arg(long)]
    pub include_secrets: bool,
    /// An `.xml`, `.twx` or `.zip` file, or a storage folder.
    pub input: PathBuf,
    /// `.xml` (a single-file export), `.twx`, `.zip` (a storage archive) or a folder (a
    /// storage tree).
    pub output: PathBuf,
}

/// The mode and format an output path asks for, by its extension.
fn target(out: &Path) -> (Mode, Format) {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("xml") => (Mode::File, Format::Xml),
        Some("twx") => (Mode::File, Format::Twx),
        Some("zip") => (Mode::Storage, Format::Zip),
        _ => (Mode::Storage, Format::Xml),
    }
}

/// Reads `input` and writes it as `output` asks; prints what was written.
pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let export = read_path(&args.input, &Limits::default())
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let (mode, format) = target(&args.output);
    transfer::write_to(&export, mode, format, !args.include_secrets, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "converted {} entities from {} to {}",
        export.entities.len(),
        args.input.display(),
        args.output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_extension_chooses_the_format() {
        assert_eq!(target(Path::new("a.XML")), (Mode::File, Format::Xml));
        assert_eq!(target(Path::new("a.twx")), (Mode::File, Format::Twx));
        assert_eq!(target(Path::new("a.zip")), (Mode::Storage, Format::Zip));
        assert_eq!(target(Path::new("tree")), (Mode::Storage, Format::Xml));
    }
}
