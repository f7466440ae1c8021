//! Which service a Thing's definers define under a name, prepared to run: its parameters and
//! result type, its handler, and for a `Script` its code wrapped into a function; and the
//! stored form of a Script implementation (`script_implementation`). Prepared
//! services are cached per (Thing, service) with the change sequence they were read at; a
//! request that carries a newer change sequence (any definition, template or shape changed
//! since) reads the definition again, so a changed script is never run in its old form.
//!
//! QuickJS bytecode can only be loaded back through an `unsafe` rquickjs API, which this
//! workspace forbids, so what is kept is the prepared source; each invocation compiles it
//! once in its own runtime (and reuses it for every nested call of that invocation).

use std::sync::Arc;

use ironworx_entity::queries::parts::{service_definitions, service_implementations};
use ironworx_entity::vocab::BaseType;
use ironworx_importer::model::{ConfigurationTable, FieldDefinition};
use ironworx_importer::stored;
use moka::sync::Cache;
use serde_json::Value;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::state::AppState;

/// Prepared services kept at most.
const CACHED: u64 = 10_000;

/// The handler name of script services.
pub const SCRIPT: &str = "Script";

/// One parameter of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// Its `defaultValue` aspect, when it has one.
    pub default: Option<Value>,
}

/// A service as its first definer defines it, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The service name.
    pub service: String,
    /// `ThingTemplate 'Base'`: who defines it.
    pub definer: String,
    /// The implementation's handler (`Script`, `SQLQuery`, …); empty without one.
    pub handler: String,
    /// Its parameters in order.
    pub params: Vec<Param>,
    /// The base type of its result (`NOTHING` when it has none).
    pub result_type: String,
    /// For a `Script`: its code wrapped into `function (me, params)` (see [`wrap`]).
    pub source: Option<String>,
}

impl Prepared {
    /// Whether the server runs it (a `Script` with code).
    pub fn is_script(&self) -> bool {
        self.handler == SCRIPT && self.source.is_some()
    }
}

/// A Thing's id and a service name.
type Key = (i64, String);

/// What a Thing's definers define under a name, and the change sequence it was read at.
type Entry = (i64, Option<Arc<Prepared>>);

/// The cache of prepared services of one process.
pub struct Catalog {
    cache: Cache<Key, Entry>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            cache: Cache::new(CACHED),
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl Catalog {
    /// The service `service` of the Thing `thing` as of the caller's sequences; `None` when
    /// no definer of the Thing defines it; 404 when the Thing is gone.
    pub async fn resolve(
        &self,
        state: &AppState,
        ctx: &Ctx,
        thing: &str,
        service: &str,
    ) -> Result<Option<Arc<Prepared>>, ApiError> {
        let defs = state
            .models
            .thing(thing, ctx.sequences)
            .await?
            .ok_or(ApiError::NotFound)?;
        let key = (defs.id(), service.to_owned());
        if let Some((sequence, prepared)) = self.cache.get(&key)
            && sequence >= ctx.sequences.changes
        {
            return Ok(prepared);
        }
        let mut prepared = None;
        // The implementation of the most specific definer that has one: a Thing or template
        // overrides the implementation of a service its template or shape defines.
        let mut implementation = None;
        for definer in &defs.definers {
            if implementation.is_none() {
                implementation = service_implementations::list(&state.db, definer.id)
                    .await?
                    .into_iter()
                    .find(|i| i.name == service);
            }
            let definitions = service_definitions::list(&state.db, definer.id).await?;
            let Some(definition) = definitions.into_iter().find(|d| d.name == service) else {
                continue;
            };
            let kind = definer.collection.element_name();
            prepared = Some(Arc::new(prepare(
                format!("{kind} '{}'", definer.name),
                &definition,
                implementation.as_ref(),
            )));
            break;
        }
        self.cache
            .insert(key, (ctx.sequences.changes, prepared.clone()));
        Ok(prepared)
    }
}

/// The prepared form of `definition` implemented by `implementation`.
pub fn prepare(
    definer: String,
    definition: &service_definitions::Model,
    implementation: Option<&service_implementations::Model>,
) -> Prepared {
    let params: Vec<Param> = stored::fields_from_json(definition.parameters.as_ref())
        .into_iter()
        .map(|f| Param {
            default: f.aspects.get("defaultValue").cloned(),
            name: f.name,
            base_type: f.base_type,
        })
        .collect();
    let result_type = definition
        .result_type
        .as_ref()
        .and_then(|r| r.get("baseType"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or(BaseType::Nothing.as_str())
        .to_owned();
    let handler = implementation
        .map(|i| i.handler_name.clone())
        .unwrap_or_default();
    let source = implementation
        .filter(|i| i.handler_name == SCRIPT)
        .and_then(|i| script_code(i.configuration.as_ref()))
        .map(|code| wrap(&params, &code));
    Prepared {
        service: definition.name.clone(),
        definer,
        handler,
        params,
        result_type,
        source,
    }
}

/// The implementation of service `service` of entity `entity_id` by the Script `code`,
/// stored as an import stores one (a `Script` configuration table with one `code` row).
pub fn script_implementation(
    entity_id: i64,
    service: &str,
    code: &str,
) -> service_implementations::Model {
    let mut row = serde_json::Map::new();
    row.insert("code".to_owned(), Value::String(code.to_owned()));
    let table = ConfigurationTable {
        name: SCRIPT.to_owned(),
        fields: vec![FieldDefinition {
            name: "code".to_owned(),
            base_type: BaseType::String.as_str().to_owned(),
            ..FieldDefinition::default()
        }],
        rows: vec![row],
        ..ConfigurationTable::default()
    };
    service_implementations::Model {
        id: 0,
        entity_id,
        name: service.to_owned(),
        description: String::new(),
        handler_name: SCRIPT.to_owned(),
        configuration: Some(stored::tables_to_json(&[table])),
    }
}

/// The `code` of the `Script` configuration table of an implementation.
pub(crate) fn script_code(configuration: Option<&Value>) -> Option<String> {
    stored::tables_from_json(configuration)
        .into_iter()
        .find(|t| t.name == SCRIPT)?
        .rows
        .first()?
        .get("code")?
        .as_str()
        .map(str::to_owned)
}

/// `code` as a function of `me` and the parameters, every parameter a local variable named
/// after it and `result` a local whose value is returned. The code runs in a function of its
/// own inside, so that it may declare `let result` (as newer exports do) as well as assign
/// the outer `result`. Everything added stands on the code's first line, so a line of the
/// code is the same line of the function.
pub fn wrap(params: &[Param], code: &str) -> String {
    let mut source = String::from("(function (me, __params) {var result;");
    for param in params {
        if is_identifier(&param.name) {
            source.push_str(&format!("var {0} = __params[\"{0}\"];", param.name));
        }
    }
    source.push_str("return (function () {");
    source.push_str(code);
    source.push_str("\n;return result;})();})");
    source
}

/// Words a parameter cannot be called in JavaScript.
const RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "await",
    "me",
    "result",
    "arguments",
    "eval",
];

/// Whether `name` can be a JavaScript variable (ASCII identifiers; others are left out).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !name.starts_with("__")
        && !RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wrapper_keeps_lines_and_skips_bad_names() {
        let params = [
            Param {
                name: "a".into(),
                base_type: "NUMBER".into(),
                default: None,
            },
            Param {
                name: "class".into(),
                base_type: "STRING".into(),
                default: None,
            },
            Param {
                name: "with space".into(),
                base_type: "STRING".into(),
                default: None,
            },
        ];
        let source = wrap(&params, "result = a;\nthrow 1;");
        assert!(source.contains("var a = __params[\"a\"];"));
        assert!(!source.contains("var class"));
        assert!(!source.contains("with space"));
        assert_eq!(source.lines().count(), 3);
        assert!(source.lines().nth(1).is_some_and(|l| l == "throw 1;"));
    }

    #[test]
    fn a_definition_is_prepared() {
        let definition = service_definitions::Model {
            id: 1,
            entity_id: 1,
            name: "Add".into(),
            description: String::new(),
            category: String::new(),
            is_allow_override: false,
            is_local_only: false,
            is_open: false,
            is_private: false,
            aspects: None,
            result_type: Some(json!({"name": "result", "baseType": "NUMBER"})),
            parameters: Some(json!([
                {"name": "x", "baseType": "NUMBER", "aspects": {"defaultValue": 2}}
            ])),
        };
        let implementation = service_implementations::Model {
            id: 1,
            entity_id: 1,
            name: "Add".into(),
            description: String::new(),
            handler_name: "Script".into(),
            configuration: Some(json!([
                {"name": "Script", "rows": [{"code": "result = x + 1;"}]}
            ])),
        };
        let prepared = prepare("Thing 'T'".into(), &definition, Some(&implementation));
        assert!(prepared.is_script());
        assert_eq!(prepared.result_type, "NUMBER");
        assert_eq!(prepared.params[0].default, Some(json!(2)));
        assert!(
            prepared
                .source
                .as_deref()
                .is_some_and(|s| s.contains("result = x + 1;"))
        );
        let none = prepare("Thing 'T'".into(), &definition, None);
        assert!(!none.is_script());
        let added = script_implementation(1, "Add", "result = x + 1;");
        assert_eq!(
            prepare("Thing 'T'".into(), &definition, Some(&added)).source,
            prepared.source
        );
    }
}
