use super::*;
use crate::config::DEFAULT_MAX_PAGE_ROWS;

fn columns(name: &str) -> Option<&'static str> {
    match name {
        "n" => Some("NUMBER"),
        "s" => Some("STRING"),
        _ => None,
    }
}

fn row(n: f64, s: &str) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("n".into(), json!(n));
    row.insert("s".into(), json!(s));
    row
}

#[test]
fn filters_compare_and_nest() {
    let q = json!({"filters": {"type": "And", "filters": [
        {"type": "GE", "fieldName": "n", "value": "2"},
        {"type": "Or", "filters": [
            {"type": "LIKE", "fieldName": "s", "value": "ab*"},
            {"type": "EQ", "fieldName": "s", "value": "zz"}
        ]}
    ]}});
    let f = compile(Some(&q), &columns)
        .expect("compiles")
        .expect("a filter");
    assert!(f.matches(&row(2.0, "ABC")));
    assert!(f.matches(&row(3.0, "zz")));
    assert!(!f.matches(&row(1.0, "abc")));
    assert!(!f.matches(&row(5.0, "xab")));
}

#[test]
fn bad_queries_are_refused() {
    let cases = [
        json!({"filters": {"type": "EQ", "fieldName": "nope", "value": 1}}),
        json!({"filters": {"type": "EQ", "fieldName": "n", "value": "many"}}),
        json!({"filters": {"type": "BETWEEN", "fieldName": "n", "value": 1}}),
        json!({"sorts": []}),
        json!([1]),
    ];
    for q in cases {
        assert!(compile(Some(&q), &columns).is_err(), "{q}");
    }
    let mut deep = json!({"type": "EQ", "fieldName": "n", "value": 1});
    for _ in 0..MAX_QUERY_DEPTH {
        deep = json!({"type": "Or", "filters": [deep]});
    }
    assert!(compile(Some(&json!({"filters": deep})), &columns).is_err());
}

#[test]
fn like_patterns() {
    assert!(like("pump-12", "pump*"));
    assert!(like("pump-12", "*12"));
    assert!(like("pump-12", "p%p*2"));
    assert!(!like("pump-12", "pump"));
    assert!(like("pump", "pump"));
    assert!(!like("ab", "a*b*b"));
}

#[test]
fn max_items_is_bounded() {
    assert_eq!(
        max_items(&None, DEFAULT_MAX_PAGE_ROWS).expect("default"),
        DEFAULT_MAX_ITEMS
    );
    assert_eq!(
        max_items(&Some(json!(10_000)), DEFAULT_MAX_PAGE_ROWS).expect("max"),
        10_000
    );
    assert!(max_items(&Some(json!(10_001)), DEFAULT_MAX_PAGE_ROWS).is_err());
    assert!(max_items(&Some(json!(0)), DEFAULT_MAX_PAGE_ROWS).is_err());
    assert!(max_items(&Some(json!(1.5)), DEFAULT_MAX_PAGE_ROWS).is_err());
}
