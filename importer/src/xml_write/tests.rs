use super::*;

#[test]
fn orders_name_every_collection_once() {
    for order in [ENTITIES_ORDER, COLLECTIONS_ORDER] {
        assert_eq!(order.len(), Collection::ALL.len());
        for c in Collection::ALL {
            assert_eq!(order.iter().filter(|o| *o == c).count(), 1, "{c}");
        }
    }
}

#[test]
fn escapes_and_splits_cdata() {
    let mut buf = Vec::new();
    escape_attr(&mut buf, "a&b<\"c\"\n\t\r>");
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "a&amp;b&lt;&quot;c&quot;&#10;&#9;&#13;&gt;"
    );
    let mut buf = Vec::new();
    cdata_body(&mut buf, "x]]>y");
    assert_eq!(String::from_utf8_lossy(&buf), "x]]]]><![CDATA[>y");
}
