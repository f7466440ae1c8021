//! Keeps `entity::queries` the only place that writes SQL: scans every `.rs` file of the
//! workspace outside `entity/` and `migration/` for sea-orm query building (query traits and
//! builders named through `sea_orm::`, raw statements, `Entity::find()`-style calls) and fails
//! naming each file and line. Connection, transaction, error and row-value types stay allowed.

use std::path::{Path, PathBuf};

/// What may be named through `sea_orm::` outside `entity/`: connections, transactions, their
/// options and errors, the backend, and the values of an active model's columns (rows are built
/// anywhere; only `entity::queries` writes them).
const ALLOWED: &[&str] = &[
    "AccessMode",
    "ActiveValue",
    "ConnAcquireErr",
    "ConnectOptions",
    "ConnectionTrait",
    "Database",
    "DatabaseConnection",
    "DatabaseTransaction",
    "DbBackend",
    "DbErr",
    "IsolationLevel",
    "RuntimeErr",
    "SqlErr",
    "SqliteTransactionMode",
    "TransactionOptions",
    "TransactionTrait",
    "sqlx",
];

/// Calls that build or run a query whatever their import.
const QUERY_CALLS: &[&str] = &[
    "execute_unprepared(",
    "execute_raw(",
    "query_one_raw(",
    "query_all_raw(",
    "Statement::",
    "::find()",
    "::find_by_id(",
    "::delete_many()",
    "::update_many()",
    "::insert_many(",
    "sqlx::query",
];

/// Files and folders left out, each with its reason.
const EXEMPT: &[(&str, &str)] = &[
    ("entity/", "the queries themselves"),
    ("migration/", "the schema"),
    ("target/", "build output"),
    (
        "tests/",
        "the end-to-end harness and tests create databases and inspect or damage them from \
         outside the server",
    ),
    (
        "importer/tests/",
        "tests that inspect the database from outside the importer",
    ),
    (
        "server/benches/",
        "benchmarks seed and measure databases from outside the server",
    ),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("entity/ lies in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).expect("workspace folder readable");
    for entry in entries {
        let path = entry.expect("folder entry").path();
        let rel = path
            .strip_prefix(root)
            .expect("below the root")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let folder = format!("{rel}/");
            if !EXEMPT.iter().any(|(p, _)| *p == folder) {
                rust_files(&path, root, out);
            }
        } else if rel.ends_with(".rs") && !EXEMPT.iter().any(|(p, _)| rel.starts_with(p)) {
            out.push((rel, path));
        }
    }
}

/// The code of a file without its trailing unit-test module (`#[cfg(test)]` then `mod … {`),
/// whose tests may look at the database directly.
fn without_test_module(text: &str) -> &str {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim();
                next.starts_with("mod ") && next.ends_with('{')
            })
        {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// The first path segments of every item a `sea_orm::` path names, starting just after
/// `sea_orm::` (a brace group names several, possibly over several lines).
fn named_items(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        items.push(current);
        items
            .iter()
            .map(|i| first_segment(i.trim()))
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        vec![first_segment(rest)]
    }
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*')
        .collect()
}

/// Every place of `code` that builds a query, as `line: what`.
fn query_building(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    for (at, _) in code.match_indices("sea_orm::") {
        for item in named_items(&code[at + "sea_orm::".len()..]) {
            if !ALLOWED.contains(&item.as_str()) {
                found.push(format!("{}: sea_orm::{item}", line_of(at)));
            }
        }
    }
    for call in QUERY_CALLS {
        for (at, _) in code.match_indices(call) {
            found.push(format!("{}: {call}", line_of(at)));
        }
    }
    found
}

#[test]
fn only_entity_builds_queries() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    assert!(
        files.iter().any(|(rel, _)| rel.starts_with("server/src/")),
        "the scan sees the server's sources"
    );
    let mut offenders = Vec::new();
    for (rel, path) in &files {
        let text = std::fs::read_to_string(path).expect("source readable");
        for place in query_building(without_test_module(&text)) {
            offenders.push(format!("{rel}:{place}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL belongs in entity/src/queries (README, code map); query building found in:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scan_finds_query_building() {
    let code = "use sea_orm::{ConnectionTrait, EntityTrait,\n    QueryFilter};\n\
                fn f() { things::Entity::find(); db.execute_unprepared(\"x\"); }\n";
    assert_eq!(
        query_building(code),
        [
            "1: sea_orm::EntityTrait",
            "1: sea_orm::QueryFilter",
            "3: execute_unprepared(",
            "3: ::find()",
        ]
    );
    let allowed = "use sea_orm::{ActiveValue::Set, DatabaseConnection, sqlx::Error};\n\
                   fn g(e: sea_orm::DbErr) {}\n";
    assert!(query_building(allowed).is_empty());
    let tested = "fn h() {}\n#[cfg(test)]\nmod tests {\n    use sea_orm::Statement;\n}\n";
    assert_eq!(without_test_module(tested), "fn h() {}\n");
}
