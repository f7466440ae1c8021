//! Writes an export in storage mode: a ThingworxStorage tree in a folder or in a zip archive.
//!
//! The tree holds one layout-B file per entity at `<Collection>/<Name>.xml`,
//! `permissions/permissions.xml` (layout C, with the collection-level rules) and
//! `sysobj/Entities.xml` (an `<Entities>` skeleton with the export's header and no entity).
//!
//! File names: an entity name is used as it is, except for the characters that are unsafe in a
//! path on some system: `/ \ : * ? " < > |`, control characters and `%` itself are written as
//! `%XX` (the UTF-8 bytes in upper-case hexadecimal), and so are a leading `.` and a trailing
//! `.` or space. Decoding every `%XX` gives the name back ([`unescape_file_name`]); readers take
//! the name from the file's `name` attribute anyway. Two names that differ only in case give
//! two files that clash on case-insensitive file systems; that is not escaped.
//!
//! A folder is written only if it is empty, absent, or holds a previous export: nothing but
//! collection folders, `permissions` and `sysobj`, themselves holding only `.xml` files. The
//! files of such a previous export are removed first (and their folders when they become
//! empty), so that no stale entity survives; anything else in the folder makes the write fail
//! before anything is touched.
//!
//! Archives are deterministic: entries in path order, deflated, dated 1980-01-01 00:00:00,
//! with mode 0644 and no folder entries.

use std::io::{Seek, Write};
use std::path::Path;

use ironworx_entity::vocab::Collection;

use crate::error::ImportError;
use crate::model::Export;
use crate::xml_write::{WriteOptions, write_entity_file, write_permissions_file, write_skeleton};

/// Where the collection-permissions file sits in a tree.
pub const PERMISSIONS_PATH: &str = "permissions/permissions.xml";
/// Where the skeleton sits in a tree.
pub const SKELETON_PATH: &str = "sysobj/Entities.xml";

/// Escapes an entity name into a file name (without the `.xml`), as the module says.
pub fn escape_file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let last = name.chars().count().saturating_sub(1);
    for (i, c) in name.chars().enumerate() {
        let unsafe_char = matches!(
            c,
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '%'
        ) || c.is_control()
            || (i == 0 && c == '.')
            || (i == last && (c == '.' || c == ' '));
        if unsafe_char {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The entity name a file name (without the `.xml`) stands for: every `%XX` decoded.
pub fn unescape_file_name(file: &str) -> String {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a tree holds, one file at a time: its path and which content.
enum TreeFile {
    Entity(usize),
    Permissions,
    Skeleton,
}

/// Every file of the tree of `export`, sorted by path; refuses two entities with one path.
fn tree_files(export: &Export) -> Result<Vec<(String, TreeFile)>, ImportError> {
    let mut files: Vec<(String, TreeFile)> = Vec::with_capacity(export.entities.len() + 2);
    for (index, entity) in export.entities.iter().enumerate() {
        if entity.name.is_empty() {
            return Err(ImportError::Invalid {
                origin: entity.origin.clone(),
                entity: entity.path(),
                message: "an entity without a name cannot be written to a file".into(),
            });
        }
        files.push((
            format!(
                "{}/{}.xml",
                entity.collection.as_str(),
                escape_file_name(&entity.name)
            ),
            TreeFile::Entity(index),
        ));
    }
    files.push((PERMISSIONS_PATH.to_owned(), TreeFile::Permissions));
    files.push((SKELETON_PATH.to_owned(), TreeFile::Skeleton));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in files.windows(2) {
        if pair[0].0 == pair[1].0 {
            let (origin, entity) = match pair[1].1 {
                TreeFile::Entity(i) => {
                    (export.entities[i].origin.clone(), export.entities[i].path())
                }
                _ => (Default::default(), pair[1].0.clone()),
            };
            return Err(ImportError::Invalid {
                origin,
                entity,
                message: format!(
                    "two entities would be written to the same file {}",
                    pair[0].0
                ),
            });
        }
    }
    Ok(files)
}

fn render(
    export: &Export,
    file: &TreeFile,
    options: &WriteOptions,
    buf: &mut Vec<u8>,
) -> Result<(), ImportError> {
    buf.clear();
    match file {
        TreeFile::Entity(i) => {
            write_entity_file(&export.header, &export.entities[*i], options, buf)
        }
        TreeFile::Permissions => write_permissions_file(export, buf),
        TreeFile::Skeleton => write_skeleton(&export.header, options, buf),
    }
}

/// Whether `name` is a folder a previous export may hold.
fn is_tree_folder(name: &str) -> bool {
    name == "permissions" || name == "sysobj" || name.parse::<Collection>().is_ok()
}

/// The files of a previous export in `dir` (to remove), or why `dir` may not be written.
fn previous_export(dir: &Path) -> Result<Vec<std::path::PathBuf>, ImportError> {
    let io = |e| ImportError::io(dir.display(), e);
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    let refuse = |what: &Path| ImportError::Unsupported {
        path: dir.display().to_string(),
        message: format!(
            "refusing to write a storage tree into a folder that is not empty and not a previous \
             export (it holds {})",
            what.display()
        ),
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        let is_dir = entry.file_type().map_err(io)?.is_dir();
        if !is_dir || !name.to_str().is_some_and(is_tree_folder) {
            return Err(refuse(&path));
        }
        for inner in std::fs::read_dir(&path).map_err(io)? {
            let inner = inner.map_err(io)?;
            let inner_path = inner.path();
            let is_file = inner.file_type().map_err(io)?.is_file();
            if !is_file || inner_path.extension().is_none_or(|e| e != "xml") {
                return Err(refuse(&inner_path));
            }
            files.push(inner_path);
        }
    }
    Ok(files)
}

/// Writes `export` as a storage tree in `dir` (created when absent); see the module for what
/// a folder must hold to be written into.
pub fn write_tree(export: &Export, dir: &Path, options: &WriteOptions) -> Result<(), ImportError> {
    let files = tree_files(export)?;
    let stale = previous_export(dir)?;
    for file in &stale {
        std::fs::remove_file(file).map_err(|e| ImportError::io(file.display(), e))?;
    }
    for file in &stale {
        if let Some(parent) = file.parent() {
            // Fails harmlessly while the folder still holds files.
            let _ = std::fs::remove_dir(parent);
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| ImportError::io(dir.display(), e))?;
    let mut buf = Vec::new();
    for (path, file) in &files {
        render(export, file, options, &mut buf)?;
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ImportError::io(parent.display(), e))?;
        }
        std::fs::write(&target, &buf).map_err(|e| ImportError::io(target.display(), e))?;
    }
    Ok(())
}

/// Writes `export` as a storage tree inside a zip archive (entries at the archive's root).
pub fn write_zip<W: Write + Seek>(
    export: &Export,
    out: W,
    options: &WriteOptions,
) -> Result<(), ImportError> {
    let zip_error = |e: zip::result::ZipError| ImportError::Zip {
        file: "<output>".into(),
        message: e.to_string(),
    };
    let files = tree_files(export)?;
    let entry_options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(out);
    let mut buf = Vec::new();
    for (path, file) in &files {
        render(export, file, options, &mut buf)?;
        zip.start_file(path.as_str(), entry_options)
            .map_err(zip_error)?;
        zip.write_all(&buf)
            .map_err(|e| ImportError::io(format!("<output>/{path}"), e))?;
    }
    zip.finish().map_err(zip_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_escape_reversibly() {
        for name in [
            "Pump1",
            "a/b",
            "50%",
            ".hidden",
            "end.",
            "end ",
            "x:y*z?\"<>|\\",
            "tab\there",
            "ünï & 'q'",
        ] {
            let file = escape_file_name(name);
            assert!(!file.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|', '\t']));
            assert!(!file.starts_with('.'));
            assert_eq!(unescape_file_name(&file), name, "{file}");
        }
        assert_eq!(escape_file_name("a/b%"), "a%2Fb%25");
    }
}
