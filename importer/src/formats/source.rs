//! Owns the input-source layer: turning a path (`.xml`, `.twx`, `.zip`, or a storage-tree
//! folder) or uploaded bytes into one merged [`Export`], with every size, count and path limit
//! enforced before or while reading.

use std::cell::{Cell, RefCell};
use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read, Seek};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use zip::ZipArchive;

use crate::error::ImportError;
use crate::limits::Limits;
use crate::model::{Entity, Export, Note, Origin};
use crate::twx::{TwxLimits, unframe};
use crate::twx_error::TwxError;
use crate::twx_tree::export_from_tree;
use crate::twx_value;
use crate::xml_read::read_xml_with;

/// Where a reader hands each entity, in reading order; its error stops the reading.
pub type Sink<'a> = &'a mut dyn FnMut(Entity) -> Result<(), ImportError>;

/// Entries at least this large (expanded) are checked against
/// [`Limits::max_compression_ratio`]; tiny entries compress unevenly and prove nothing.
const RATIO_CHECK_FLOOR: u64 = 64 * 1024;

/// Reads a `.xml` file, a `.twx` file, a `.zip` archive (of one file or of a storage tree) or a
/// folder holding a storage tree.
pub fn read_path(path: &Path, limits: &Limits) -> Result<Export, ImportError> {
    collect(|sink| read_path_with(path, limits, sink))
}

/// Reads uploaded bytes, choosing the format by the extension of `name`.
pub fn read_bytes(name: &str, bytes: &[u8], limits: &Limits) -> Result<Export, ImportError> {
    collect(|sink| read_bytes_with(name, bytes, limits, sink))
}

/// Runs a reader with a sink that keeps every entity, in order.
fn collect(
    read: impl FnOnce(Sink<'_>) -> Result<Export, ImportError>,
) -> Result<Export, ImportError> {
    let mut entities = Vec::new();
    let mut export = read(&mut |entity| {
        entities.push(entity);
        Ok(())
    })?;
    export.entities = entities;
    Ok(export)
}

/// Reads what [`read_path`] reads, handing each entity to `sink` as soon as it is read: the
/// returned export holds everything but the entities (header, notes, collection and listed
/// rules), merged as [`read_path`] merges them.
pub fn read_path_with(path: &Path, limits: &Limits, sink: Sink<'_>) -> Result<Export, ImportError> {
    read_path_as(path, &path.display().to_string(), limits, sink)
}

/// [`read_path_with`] for a file that messages call `shown` (an upload saved under a name of
/// the server's own is called by the name it was uploaded as); its extension chooses the
/// format, as for [`read_bytes`].
pub fn read_path_as(
    path: &Path,
    shown: &str,
    limits: &Limits,
    sink: Sink<'_>,
) -> Result<Export, ImportError> {
    let meta = fs::metadata(path).map_err(|e| ImportError::io(shown, e))?;
    if meta.is_dir() {
        return read_folder(path, limits, sink);
    }
    if meta.len() > limits.max_file_bytes {
        return Err(too_big(shown, limits.max_file_bytes));
    }
    let kind = FileKind::of(shown).ok_or_else(|| unsupported(shown))?;
    let file = File::open(path).map_err(|e| ImportError::io(shown, e))?;
    match kind {
        FileKind::Zip => read_zip(file, shown, limits, sink),
        kind => read_single(kind, file, shown, limits, sink).map(|(export, _)| export),
    }
}

/// Reads what [`read_bytes`] reads, handing each entity to `sink` (see [`read_path_with`]).
pub fn read_bytes_with(
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    sink: Sink<'_>,
) -> Result<Export, ImportError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_big(name, limits.max_file_bytes));
    }
    match FileKind::of(name).ok_or_else(|| unsupported(name))? {
        FileKind::Xml => read_xml_with(bytes, name, limits, sink),
        FileKind::Twx => twx_export(bytes, name, limits, limits.max_expanded_bytes, sink),
        FileKind::Zip => read_zip(Cursor::new(bytes), name, limits, sink),
    }
}

/// What a file name says about its content.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Xml,
    Twx,
    Zip,
}

impl FileKind {
    fn of(name: &str) -> Option<FileKind> {
        let ext = Path::new(name).extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("xml") {
            Some(FileKind::Xml)
        } else if ext.eq_ignore_ascii_case("twx") {
            Some(FileKind::Twx)
        } else if ext.eq_ignore_ascii_case("zip") {
            Some(FileKind::Zip)
        } else {
            None
        }
    }
}

fn unsupported(name: &str) -> ImportError {
    ImportError::Unsupported {
        path: name.to_owned(),
        message: "expected a .xml, .twx or .zip file, or a folder holding a storage tree".into(),
    }
}

fn too_big(file: &str, limit: u64) -> ImportError {
    ImportError::Limit {
        file: file.to_owned(),
        what: "the file size in bytes".into(),
        limit,
    }
}

/// A `.twx` document is decoded whole (its tree is in memory anyway); its entities then go to
/// `sink` one by one. Its payload and the tree decoded from it together take at most `budget`
/// bytes (see [`crate::twx_value::cost`]), within [`Limits::max_expanded_bytes`]; the tree is
/// nested at most [`Limits::max_depth`] deep.
fn twx_export(
    reader: impl Read,
    label: &str,
    limits: &Limits,
    budget: u64,
    sink: Sink<'_>,
) -> Result<Export, ImportError> {
    let budget = usize::try_from(budget.min(limits.max_expanded_bytes)).unwrap_or(usize::MAX);
    let twx_error = |source| twx_limit(label, limits, source);
    let framing = TwxLimits {
        max_decompressed_bytes: limits.twx.max_decompressed_bytes.min(budget),
        ..limits.twx
    };
    let payload = unframe(reader, &framing).map_err(twx_error)?;
    let tree_budget = limits
        .twx
        .max_tree_bytes
        .min(budget.saturating_sub(payload.len()));
    let depth = limits.twx.max_depth.min(limits.max_depth);
    let tree = twx_value::decode(&payload, tree_budget, depth).map_err(twx_error)?;
    drop(payload);
    let mut export = export_from_tree(&tree, label, limits)?;
    drop(tree);
    for entity in std::mem::take(&mut export.entities) {
        sink(entity)?;
    }
    Ok(export)
}

/// A `.twx` error as an import error: a limit reached as [`ImportError::Limit`], naming it.
fn twx_limit(label: &str, limits: &Limits, source: TwxError) -> ImportError {
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let (what, limit) = match &source {
        TwxError::TooLarge { limit, .. } => (
            "the decompressed size in bytes of the .twx payload",
            as_u64(*limit),
        ),
        TwxError::TreeTooLarge { .. } => (
            "the size in bytes of the decoded .twx document (its tree and payload, with what \
             the archive expanded to before it)",
            limits
                .max_expanded_bytes
                .min(as_u64(limits.twx.max_tree_bytes)),
        ),
        TwxError::TooDeep { limit } => ("the nesting depth of the .twx tree", as_u64(*limit)),
        _ => {
            return ImportError::Twx {
                file: label.to_owned(),
                source,
            };
        }
    };
    ImportError::Limit {
        file: label.to_owned(),
        what: what.into(),
        limit,
    }
}

/// A sink that counts what it passes on (the merge asks whether a file held entities).
fn counting<'a>(
    sink: Sink<'a>,
    count: &'a mut usize,
) -> impl FnMut(Entity) -> Result<(), ImportError> + 'a {
    move |entity| {
        *count += 1;
        sink(entity)
    }
}

/// What a [`Capped`] reader saw go wrong, shared with the code that reads through it.
#[derive(Default)]
struct CapState {
    exceeded: Cell<bool>,
    io_error: RefCell<Option<String>>,
}

/// A reader that stops with an error past `remaining` bytes, and records that (or an error of
/// the underlying reader) so the caller can report it as what it is.
struct Capped<R> {
    inner: R,
    remaining: u64,
    read: u64,
    state: Rc<CapState>,
}

impl<R: Read> Capped<R> {
    fn inner_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.state.io_error.replace(Some(e.to_string()));
        })
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // Probe for one more byte: reaching the limit exactly is fine.
            let mut probe = [0u8; 1];
            return match self.inner_read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.state.exceeded.set(true);
                    Err(io::Error::other("the size limit was exceeded"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner_read(&mut buf[..want])?;
        self.remaining -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads one `.xml` or `.twx` stream, refusing more than `cap` bytes (and a `.twx` document
/// decoding to more than `expanded` bytes), its entities going to `sink`. Returns the export
/// (without entities), the bytes read and whether the stream held entities. A failure of the
/// underlying reader becomes `on_io(message)`.
#[expect(clippy::too_many_arguments, reason = "each bound is its own argument")]
fn read_capped(
    kind: FileKind,
    reader: impl Read,
    label: &str,
    cap: u64,
    expanded: u64,
    limits: &Limits,
    on_io: impl FnOnce(String) -> ImportError,
    sink: Sink<'_>,
) -> Result<(Export, u64, bool), ImportError> {
    let state = Rc::new(CapState::default());
    let mut capped = Capped {
        inner: reader,
        remaining: cap,
        read: 0,
        state: Rc::clone(&state),
    };
    let mut count = 0usize;
    let mut sink = counting(sink, &mut count);
    let result = match kind {
        FileKind::Xml => read_xml_with(
            BufReader::with_capacity(64 * 1024, &mut capped),
            label,
            limits,
            &mut sink,
        ),
        FileKind::Twx => twx_export(&mut capped, label, limits, expanded, &mut sink),
        FileKind::Zip => Err(ImportError::Unsupported {
            path: label.to_owned(),
            message: "a zip archive inside a zip archive is not read".into(),
        }),
    };
    if state.exceeded.get() {
        return Err(ImportError::Limit {
            file: label.to_owned(),
            what: "the size in bytes".into(),
            limit: cap,
        });
    }
    if let Some(message) = state.io_error.take() {
        return Err(on_io(message));
    }
    drop(sink);
    result.map(|export| (export, capped.read, count > 0))
}

/// Reads one file; returns its export (without entities) and whether it held entities.
fn read_single(
    kind: FileKind,
    reader: impl Read,
    label: &str,
    limits: &Limits,
    sink: Sink<'_>,
) -> Result<(Export, bool), ImportError> {
    read_capped(
        kind,
        reader,
        label,
        limits.max_file_bytes,
        limits.max_expanded_bytes,
        limits,
        |message| ImportError::io(label, io::Error::other(message)),
        sink,
    )
    .map(|(export, _, has_entities)| (export, has_entities))
}

// ------------------------------------------------------------------------------------------
// Merging.
// ------------------------------------------------------------------------------------------

/// Merges the exports of a tree's files in walk order (their entities went to the sink as they
/// were read, in the same order).
#[derive(Default)]
struct Merger {
    export: Export,
    /// Whether the header came from a file holding entities.
    header_from_entities: bool,
}

impl Merger {
    fn add(&mut self, part: Export, has_entities: bool) {
        let Export {
            header,
            entities,
            collection_rules,
            listed_rules,
            notes,
        } = part;
        debug_assert!(entities.is_empty(), "entities go to the sink");
        if !header.is_empty()
            && (self.export.header.is_empty() || (has_entities && !self.header_from_entities))
        {
            self.export.header = header;
            self.header_from_entities = has_entities;
        }
        self.export.collection_rules.extend(collection_rules);
        self.export.listed_rules.extend(listed_rules);
        self.export.notes.extend(notes);
    }

    fn note(&mut self, file: &str, message: String) {
        self.export.notes.push(Note {
            origin: Origin {
                file: file.to_owned(),
                line: None,
            },
            entity: None,
            message,
        });
    }
}

// ------------------------------------------------------------------------------------------
// Folders.
// ------------------------------------------------------------------------------------------

struct Walk<'a> {
    root_shown: String,
    limits: &'a Limits,
    entries: u64,
    expanded: u64,
    files: Vec<(String, PathBuf, FileKind)>,
    merger: Merger,
}

fn read_folder(root: &Path, limits: &Limits, sink: Sink<'_>) -> Result<Export, ImportError> {
    let mut walk = Walk {
        root_shown: root.display().to_string(),
        limits,
        entries: 0,
        expanded: 0,
        files: Vec::new(),
        merger: Merger::default(),
    };
    walk.dir(root, "", 0)?;
    let files = std::mem::take(&mut walk.files);
    for (relative, path, kind) in files {
        let file = File::open(&path).map_err(|e| ImportError::io(path.display(), e))?;
        // Sizes were checked from metadata; the cap still guards a file that grows meanwhile.
        let (part, has_entities) = read_single(kind, file, &relative, limits, &mut *sink)?;
        walk.merger.add(part, has_entities);
    }
    Ok(walk.merger.export)
}

impl Walk<'_> {
    fn count_entry(&mut self) -> Result<(), ImportError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ImportError::Limit {
                file: self.root_shown.clone(),
                what: "the number of files and folders".into(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn dir(&mut self, dir: &Path, relative: &str, depth: usize) -> Result<(), ImportError> {
        if depth > self.limits.max_depth {
            return Err(ImportError::Limit {
                file: self.root_shown.clone(),
                what: format!("the folder depth at '{relative}'"),
                limit: self.limits.max_depth as u64,
            });
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| ImportError::io(dir.display(), e))? {
            let entry = entry.map_err(|e| ImportError::io(dir.display(), e))?;
            self.count_entry()?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = name.to_string_lossy().into_owned();
            let child = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            let meta =
                fs::symlink_metadata(&path).map_err(|e| ImportError::io(path.display(), e))?;
            if meta.file_type().is_symlink() {
                self.merger
                    .note(&child, "symbolic link not followed".into());
                continue;
            }
            if meta.is_dir() {
                if name.starts_with('.') {
                    self.merger.note(&child, "hidden folder skipped".into());
                    continue;
                }
                self.dir(&path, &child, depth + 1)?;
                continue;
            }
            let Some(kind) = FileKind::of(&name).filter(|k| *k != FileKind::Zip) else {
                self.merger
                    .note(&child, "not a .xml or .twx file; ignored".into());
                continue;
            };
            let size = meta.len();
            if size > self.limits.max_file_bytes {
                return Err(too_big(&child, self.limits.max_file_bytes));
            }
            self.expanded = self.expanded.saturating_add(size);
            if self.expanded > self.limits.max_expanded_bytes {
                return Err(ImportError::Limit {
                    file: self.root_shown.clone(),
                    what: "the total size in bytes of the tree's files".into(),
                    limit: self.limits.max_expanded_bytes,
                });
            }
            self.files.push((child, path, kind));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Zip archives.
// ------------------------------------------------------------------------------------------

fn zip_error(file: &str, err: impl std::fmt::Display) -> ImportError {
    ImportError::Zip {
        file: file.to_owned(),
        message: err.to_string(),
    }
}

/// Whether a relative entry path stays inside the archive (no `..`, not absolute).
fn path_is_enclosed(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Whether an entry name is absolute (`/x`, `\\x`, `C:x`): the zip crate would make it
/// relative, but an archive that names one is refused.
fn names_a_root(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.starts_with(['/', '\\'])
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

fn read_zip<R: Read + Seek>(
    reader: R,
    zip_name: &str,
    limits: &Limits,
    sink: Sink<'_>,
) -> Result<Export, ImportError> {
    let mut archive = ZipArchive::new(reader).map_err(|e| zip_error(zip_name, e))?;
    let count = archive.len() as u64;
    if count > limits.max_entries {
        return Err(ImportError::Limit {
            file: zip_name.to_owned(),
            what: "the number of archive entries".into(),
            limit: limits.max_entries,
        });
    }
    let mut merger = Merger::default();
    // First pass: names, paths and declared sizes, without decompressing anything.
    let mut entries: Vec<(String, usize, FileKind)> = Vec::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| zip_error(zip_name, e))?;
        let raw_name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("entry #{index}"));
        let Some(path) = entry
            .enclosed_name()
            .filter(|p| path_is_enclosed(p) && !names_a_root(&raw_name))
        else {
            return Err(ImportError::UnsafePath {
                file: zip_name.to_owned(),
                entry: raw_name,
            });
        };
        if entry.is_dir() {
            continue;
        }
        let relative = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        let label = format!("{zip_name}!{relative}");
        if entry.is_symlink() {
            merger.note(&label, "symbolic link entry ignored".into());
            continue;
        }
        let hidden = relative.split('/').any(|part| part.starts_with('.'));
        let kind = FileKind::of(&relative).filter(|k| *k != FileKind::Zip);
        let Some(kind) = kind.filter(|_| !hidden) else {
            merger.note(&label, "not a .xml or .twx file; ignored".into());
            continue;
        };
        check_declared(&label, entry.size(), entry.compressed_size(), limits)?;
        declared_total = declared_total.saturating_add(entry.size());
        if declared_total > limits.max_expanded_bytes {
            return Err(ImportError::Limit {
                file: zip_name.to_owned(),
                what: "the total expanded size in bytes of the archive".into(),
                limit: limits.max_expanded_bytes,
            });
        }
        entries.push((relative, index, kind));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    // Second pass: read each entry, counting what actually expands.
    let mut expanded_total: u64 = 0;
    for (relative, index, kind) in entries {
        let label = format!("{zip_name}!{relative}");
        let entry = archive
            .by_index(index)
            .map_err(|e| zip_error(zip_name, e))?;
        let left = limits.max_expanded_bytes.saturating_sub(expanded_total);
        let cap = limits.max_file_bytes.min(left);
        let compressed = entry.compressed_size();
        let (part, read, has_entities) = read_capped(
            kind,
            entry,
            &label,
            cap,
            left,
            limits,
            |message| zip_error(zip_name, format!("entry '{relative}': {message}")),
            &mut *sink,
        )?;
        check_ratio(&label, read, compressed, limits)?;
        expanded_total = expanded_total.saturating_add(read);
        merger.add(part, has_entities);
    }
    Ok(merger.export)
}

/// Refuses an entry by its declared sizes.
fn check_declared(
    label: &str,
    size: u64,
    compressed: u64,
    limits: &Limits,
) -> Result<(), ImportError> {
    if size > limits.max_file_bytes {
        return Err(ImportError::Limit {
            file: label.to_owned(),
            what: "the declared expanded size in bytes of the entry".into(),
            limit: limits.max_file_bytes,
        });
    }
    check_ratio(label, size, compressed, limits)
}

fn check_ratio(
    label: &str,
    size: u64,
    compressed: u64,
    limits: &Limits,
) -> Result<(), ImportError> {
    if size >= RATIO_CHECK_FLOOR && size / compressed.max(1) > limits.max_compression_ratio {
        return Err(ImportError::Limit {
            file: label.to_owned(),
            what: format!("the compression ratio of the entry ({size} bytes from {compressed})"),
            limit: limits.max_compression_ratio,
        });
    }
    Ok(())
}
