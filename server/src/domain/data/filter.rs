//! The query-filter compiler: ThingWorx's `query` JSON (filters, `And`/`Or`, comparisons, `LIKE`)
//! into a checked filter tree, with its limits.

use super::*;

/// A comparison of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

/// A compiled ThingWorx filter query.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `fieldName <op> value`.
    Compare {
        /// The column.
        field: String,
        /// The comparison.
        op: Op,
        /// The canonical value compared with.
        value: Value,
    },
    /// `fieldName LIKE pattern` (`*` or `%` for any text, case-insensitive).
    Like {
        /// The column.
        field: String,
        /// The lower-cased pattern.
        pattern: String,
    },
    /// Every filter holds.
    And(Vec<Filter>),
    /// Some filter holds.
    Or(Vec<Filter>),
}

impl Filter {
    /// Whether `row` passes.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        match self {
            Filter::Compare { field, op, value } => {
                let have = row.get(field).unwrap_or(&Value::Null);
                let ordering = compare(have, value);
                match op {
                    Op::Eq => ordering == Some(Ordering::Equal),
                    Op::Ne => ordering != Some(Ordering::Equal),
                    Op::Gt => ordering == Some(Ordering::Greater),
                    Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                    Op::Lt => ordering == Some(Ordering::Less),
                    Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                }
            }
            Filter::Like { field, pattern } => match row.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => like(&s.to_lowercase(), pattern),
                Some(other) => like(&other.to_string().to_lowercase(), pattern),
            },
            Filter::And(filters) => filters.iter().all(|f| f.matches(row)),
            Filter::Or(filters) => filters.iter().any(|f| f.matches(row)),
        }
    }
}

/// Orders two canonical values of one column; `None` when they cannot be compared.
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (x, y) if x == y => Some(Ordering::Equal),
        _ => None,
    }
}

/// Matches `text` against `pattern`, where `*` and `%` stand for any text.
pub(super) fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split(['*', '%']).collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return text == pattern;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Compiles a query parameter (`{"filters":{…}}`, or that as JSON text) over the columns
/// `column_type` knows; `None` when there is no filter.
pub fn compile<'c>(
    query: Option<&Value>,
    column_type: &dyn Fn(&str) -> Option<&'c str>,
) -> Result<Option<Filter>, ApiError> {
    let parsed;
    let query = match query {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| ApiError::BadRequest(format!("parameter 'query': {e}")))?;
            &parsed
        }
        Some(other) => other,
    };
    let Value::Object(object) = query else {
        return Err(ApiError::BadRequest(
            "parameter 'query' must be an object like {\"filters\":{…}}".into(),
        ));
    };
    if let Some(key) = object.keys().find(|k| *k != "filters") {
        return Err(ApiError::BadRequest(format!(
            "parameter 'query': '{key}' is not supported (only 'filters')"
        )));
    }
    let mut nodes = 0;
    match object.get("filters") {
        None | Some(Value::Null) => Ok(None),
        Some(node) => compile_node(node, column_type, 1, &mut nodes).map(Some),
    }
}

pub(super) fn compile_node<'c>(
    node: &Value,
    column_type: &dyn Fn(&str) -> Option<&'c str>,
    depth: usize,
    nodes: &mut usize,
) -> Result<Filter, ApiError> {
    let bad = |what: String| ApiError::BadRequest(format!("parameter 'query': {what}"));
    if depth > MAX_QUERY_DEPTH {
        return Err(bad(format!(
            "filters nest deeper than {MAX_QUERY_DEPTH} levels"
        )));
    }
    *nodes += 1;
    if *nodes > MAX_QUERY_NODES {
        return Err(bad(format!("more than {MAX_QUERY_NODES} filters")));
    }
    let Value::Object(node) = node else {
        return Err(bad("a filter must be an object".into()));
    };
    let kind = node
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a filter needs a 'type'".into()))?;
    let kind = kind.to_ascii_uppercase();
    if kind == "AND" || kind == "OR" {
        let children = node
            .get("filters")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("filter {kind} needs a 'filters' list")))?;
        let children = children
            .iter()
            .map(|c| compile_node(c, column_type, depth + 1, nodes))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if kind == "AND" {
            Filter::And(children)
        } else {
            Filter::Or(children)
        });
    }
    let op = match kind.as_str() {
        "EQ" => Some(Op::Eq),
        "NE" => Some(Op::Ne),
        "GT" => Some(Op::Gt),
        "GE" => Some(Op::Ge),
        "LT" => Some(Op::Lt),
        "LE" => Some(Op::Le),
        "LIKE" => None,
        _ => {
            return Err(bad(format!(
                "filter type '{kind}' is not supported (EQ, NE, GT, GE, LT, LE, LIKE, And, Or)"
            )));
        }
    };
    let field = node
        .get("fieldName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("filter {kind} needs a 'fieldName'")))?;
    let base_type = column_type(field).ok_or_else(|| bad(format!("unknown field '{field}'")))?;
    let value = node
        .get("value")
        .ok_or_else(|| bad(format!("filter {kind} needs a 'value'")))?;
    match op {
        Some(op) => {
            let value = canonical(base_type, value.clone())
                .map_err(|e| bad(format!("field '{field}': {e}")))?;
            Ok(Filter::Compare {
                field: field.to_owned(),
                op,
                value: normalize(base_type, value),
            })
        }
        None => {
            let pattern = value
                .as_str()
                .ok_or_else(|| bad("a LIKE value must be text".into()))?;
            Ok(Filter::Like {
                field: field.to_owned(),
                pattern: pattern.to_lowercase(),
            })
        }
    }
}
