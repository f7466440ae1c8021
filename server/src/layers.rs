//! The layers of `server/src` and the test that keeps them: a module may use a module of its own
//! layer or of a lower one, never of a higher one, so nothing below HTTP depends on HTTP.
//!
//! ```text
//! cli → http → domain → {access, auth} → {authz, infra} → {config, error}
//! ```
//!
//! | layer | modules | what they own |
//! |---|---|---|
//! | cli | `app`, `cli` (one file per command under `cli/`) | the binary's edge: flags, commands, starting the server |
//! | http | `http` | routes and handlers: parse, call the domain, render |
//! | domain | `domain`, `state`, `transfer`, `relay`, `bootstrap`, `script` | ThingWorx behaviour: the caller's context, events, import and export, the event relay between processes, the first administrator, script services; the services they share |
//! | access | `live_index`, `model`, `auth` | the live index and model, callers and their credentials |
//! | infra | `authz`, `db`, `metrics`, `telemetry` | the pure decision engine, the database, metrics and logs |
//! | base | `config`, `error`, `markup` | settings, the error type, escaping for XML and HTML |
//!
//! `relay` carries the domain's event bus between processes, and `bootstrap` seeds the model,
//! so both sit with the domain; `transfer` runs imports (it seals application keys through
//! `auth`). Only `app`, which starts the server, may use `http`.
//!
//! The test reads every `.rs` file under `server/src` and collects the `crate::<module>` paths
//! outside comments, strings and character literals (grouped `use crate::{a, b}` included); the
//! code names other modules by `crate::` paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A layer; a later variant is a higher layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Base,
    Infra,
    Access,
    Domain,
    Http,
    Cli,
}

/// Every top-level module of the library and its layer. A file of a module missing here fails
/// the test; a name here without a file does not, so a module can be placed before it lands.
const LAYERS: &[(&str, Layer)] = &[
    ("app", Layer::Cli),
    ("cli", Layer::Cli),
    ("http", Layer::Http),
    ("domain", Layer::Domain),
    ("state", Layer::Domain),
    ("transfer", Layer::Domain),
    ("relay", Layer::Domain),
    ("bootstrap", Layer::Domain),
    ("script", Layer::Domain),
    ("live_index", Layer::Access),
    ("model", Layer::Access),
    ("auth", Layer::Access),
    ("authz", Layer::Infra),
    ("db", Layer::Infra),
    ("metrics", Layer::Infra),
    ("telemetry", Layer::Infra),
    ("config", Layer::Base),
    ("error", Layer::Base),
    ("layers", Layer::Base),
    ("markup", Layer::Base),
];

/// The one module that may use `http`: it starts the server.
const HTTP_ENTRY: &str = "app";

/// Edges that point up today, each with why it is still there. A listed edge that is gone
/// fails the test too, so the list only shrinks.
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<Layer> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("server/src is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `path` (a file under `src`) relative to `src`, and the top-level module it belongs to.
fn module_of<'a>(src: &Path, path: &'a Path) -> (&'a Path, String) {
    let relative = path.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a file name")
        .as_os_str()
        .to_string_lossy();
    let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (relative, module)
}

/// `source` with comments, string literals and character literals blanked out (newlines
/// kept), so that only code is left to search.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let starts_word = i == 0 || !is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && starts_word && matches!(next, Some('"' | '#')) {
            // A raw string: r"…" or r#…#"…"#…#.
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    out.push(blank(ch));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{…}'.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `code` without its unit-test module (`#[cfg(test)] mod tests { … }`, the last item of a
/// file): a unit test may assemble the whole application around the module it tests.
fn without_unit_tests(code: &str) -> &str {
    let mut at = 0;
    while let Some(found) = code[at..].find("#[cfg(test)]") {
        let start = at + found;
        let rest = code[start + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod tests {") {
            return &code[..start];
        }
        at = start + 1;
    }
    code
}

/// The top-level modules `code` names by `crate::` paths.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let leading_ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|&c| is_ident(c))
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == '$')
        {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: the first name of each item at the top of the group.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    _ if item_start && !c.is_whitespace() => {
                        item_start = false;
                        found.insert(leading_ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(leading_ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut upward_seen = BTreeSet::new();
    for path in rust_files(&src) {
        let (relative, module) = module_of(&src, &path);
        if module == "lib" || module == "main" {
            continue; // the crate roots declare the modules and run the binary
        }
        let file = format!("server/src/{}", relative.display());
        let Some(from) = layer_of(&module) else {
            problems.push(format!("{file}: module `{module}` has no layer in LAYERS"));
            continue;
        };
        let source = std::fs::read_to_string(&path).expect("a readable source file");
        for target in referenced_modules(without_unit_tests(&code_only(&source))) {
            if target == module {
                continue;
            }
            let Some(to) = layer_of(&target) else {
                problems.push(format!(
                    "{file}: `crate::{target}` is not a module in LAYERS"
                ));
                continue;
            };
            if target == "http" && module != HTTP_ENTRY {
                problems.push(format!(
                    "{file}: {module} → http (only `{HTTP_ENTRY}` may use http)"
                ));
            } else if to > from {
                if ALLOWED_UPWARD
                    .iter()
                    .any(|(f, t, _)| *f == module && *t == target)
                {
                    upward_seen.insert((module.clone(), target.clone()));
                } else {
                    problems.push(format!(
                        "{file}: {module} ({from:?}) → {target} ({to:?}) points up"
                    ));
                }
            }
        }
    }
    for (from, to, _) in ALLOWED_UPWARD {
        if !upward_seen.contains(&((*from).to_owned(), (*to).to_owned())) {
            problems.push(format!(
                "{from} → {to} is allowed in ALLOWED_UPWARD but no longer used: remove it"
            ));
        }
    }
    assert!(problems.is_empty(), "layering:\n{}", problems.join("\n"));
}

/// Modules that hold no HTTP types, so every door can call them: the domain, the state they
/// share, the live index and model, the decision engine, settings and errors.
const WITHOUT_ACTIX: &[&str] = &[
    "domain",
    "state",
    "live_index",
    "model",
    "authz",
    "config",
    "error",
];

#[test]
fn the_domain_and_below_hold_no_http_types() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for path in rust_files(&src) {
        let (relative, module) = module_of(&src, &path);
        if !WITHOUT_ACTIX.contains(&module.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("a readable source file");
        if without_unit_tests(&code_only(&source)).contains("actix_web") {
            problems.push(format!("server/src/{} uses actix_web", relative.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "HTTP types below HTTP:\n{}",
        problems.join("\n")
    );
}

#[test]
fn references_are_read_from_code_only() {
    let source = r##"
        use crate::config::Config; // crate::app in a comment
        use crate::{db, error::ApiError};
        /// [`crate::relay`] in a doc comment
        /* crate::state in a block comment */
        let s = "crate::cli in a string"; let r = r#"crate::app"#; let q = '"';
        let t: &'static str = crate::metrics::NAME;
        ironworx_crate::x; $crate::y;
    "##;
    let found = referenced_modules(&code_only(source));
    let expected: BTreeSet<String> = ["config", "db", "error", "metrics"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}

/// The console calls the domain layer as REST's handlers do, never REST itself: no page may
/// run a service through the dispatcher, so the console cannot check differently from REST.
#[test]
fn the_console_calls_the_domain_not_the_dispatcher() {
    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/console");
    let mut problems = Vec::new();
    for path in rust_files(&console) {
        let source = std::fs::read_to_string(&path).expect("a readable source file");
        let code = code_only(&source);
        if code.contains("dispatch::") {
            problems.push(format!("{} uses the REST dispatcher", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
