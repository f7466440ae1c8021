//! Every Script service and subscription of the real exports in `../shared/corpus` compiles in
//! the server's script engine, wrapped as the server wraps it (its parameters as locals).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ironworx_importer::model::{ConfigurationTable, Definitions, FieldDefinition, Kind};
use ironworx_importer::{Limits, source};
use ironworx_server::script::catalog::{Param, wrap};
use ironworx_server::script::engine::{self, compiles};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// The code of a `Script` implementation's configuration.
fn code_of(configuration: &[ConfigurationTable]) -> Option<&str> {
    configuration
        .iter()
        .find(|t| t.name == "Script")?
        .rows
        .first()?
        .get("code")?
        .as_str()
}

fn params(fields: &[FieldDefinition]) -> Vec<Param> {
    fields
        .iter()
        .map(|f| Param {
            name: f.name.clone(),
            base_type: f.base_type.clone(),
            default: None,
        })
        .collect()
}

/// Every script of `definitions` as (what it is, wrapped source).
fn scripts(owner: &str, definitions: &Definitions) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for implementation in &definitions.implementations {
        if implementation.handler_name != "Script" {
            continue;
        }
        let Some(code) = code_of(&implementation.configuration) else {
            continue;
        };
        let parameters = definitions
            .services
            .iter()
            .find(|s| s.name == implementation.name)
            .map(|s| params(&s.parameters))
            .unwrap_or_default();
        found.push((
            format!("{owner} service {}", implementation.name),
            wrap(&parameters, code),
        ));
    }
    for subscription in &definitions.subscriptions {
        if subscription.handler_name != "Script" {
            continue;
        }
        let Some(code) = code_of(&subscription.configuration) else {
            continue;
        };
        found.push((
            format!("{owner} subscription {}", subscription.name),
            wrap(&[], code),
        ));
    }
    found
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn every_corpus_script_compiles() {
    let limits = engine::Limits {
        timeout: Duration::from_secs(10),
        memory_bytes: 64 * 1024 * 1024,
    };
    let mut files = Vec::new();
    for folder in ["xml", "twx"] {
        for entry in std::fs::read_dir(corpus().join(folder)).expect("corpus folder") {
            let path = entry.expect("corpus entry").path();
            let extension = path.extension().and_then(|e| e.to_str());
            if matches!(extension, Some("xml" | "twx")) {
                files.push(path);
            }
        }
    }
    files.sort();
    let (mut compiled, mut failures) = (0, Vec::new());
    for path in &files {
        let export = source::read_path(path, &Limits::default()).expect("corpus file reads");
        for entity in &export.entities {
            let definitions = match &entity.kind {
                Kind::Thing(t) => &t.definitions,
                Kind::ThingTemplate(t) => &t.definitions,
                Kind::ThingShape(t) => &t.definitions,
                _ => continue,
            };
            let owner = format!("{} {}", path.display(), entity.path());
            for (what, source) in scripts(&owner, definitions) {
                match compiles(&source, "Things/T/Services/S", limits) {
                    Ok(()) => compiled += 1,
                    Err(why) => failures.push(format!("{what}: {why}")),
                }
            }
        }
    }
    println!("{compiled} corpus scripts compiled");
    assert!(
        failures.is_empty(),
        "scripts that do not compile:\n{}",
        failures.join("\n")
    );
    // The corpus holds 105 scripts (services and subscriptions, XML and `.twx`); fewer means
    // the reader lost some.
    assert!(
        compiled >= 105,
        "only {compiled} scripts found in the corpus"
    );
}
