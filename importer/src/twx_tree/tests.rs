use super::*;

#[test]
fn java_hash_matches_java() {
    assert_eq!(java_hash(""), 0);
    assert_eq!(java_hash("a"), 97);
    // "hello".hashCode() == 99162322
    assert_eq!(java_hash("hello"), 99_162_322);
    assert_eq!(table_size(12), 16);
    assert_eq!(table_size(13), 32);
}

#[test]
fn pointers_round_trip() {
    let mut object = Map::new();
    set_pointer(&mut object, "/a~1b/c", Json::from(1));
    assert_eq!(object["a/b"]["c"], Json::from(1));
    remove_pointer(&mut object, "/a~1b/c");
    assert_eq!(object["a/b"], Json::Object(Map::new()));
}

fn unit(name: &str, parent: Option<&str>) -> Unit {
    Unit {
        name: name.to_owned(),
        description: format!("{name} unit"),
        parent: parent.map(str::to_owned),
        members: vec![Member {
            name: format!("{name}.member"),
            member_type: MemberType::User,
        }],
    }
}

/// Reads back the organization `tree_from_export` writes for `units`, through the bytes.
fn organization_back(units: Vec<Unit>) -> Entity {
    let export = Export {
        entities: vec![Entity {
            collection: Collection::Organizations,
            name: "Plant".into(),
            common: Common::default(),
            rules: vec![],
            configuration_tables: vec![],
            kind: Kind::Organization(Box::new(Organization {
                units,
                ..Organization::default()
            })),
            extra: Extra::new(),
            origin: Origin::default(),
        }],
        ..Export::default()
    };
    let tree = tree_from_export(&export, &TreeOptions::default());
    let mut bytes = Vec::new();
    crate::twx::write_twx(&tree, &mut bytes).expect("write_twx");
    let limits = Limits::default();
    let tree = crate::twx::read_twx(bytes.as_slice(), &limits.twx).expect("read_twx");
    let mut back = export_from_tree(&tree, "org.twx", &limits).expect("read");
    assert_eq!(back.entities.len(), 1);
    back.entities.remove(0)
}

#[test]
fn organizations_read_back_without_extra() {
    let mut many = vec![unit("Plant", None)];
    for i in 0..20 {
        let parent = if i == 0 {
            "Plant".to_owned()
        } else {
            format!("u☃{}", i / 2)
        };
        many.push(unit(&format!("u☃{i}"), Some(&parent)));
    }
    let cases = vec![
        vec![unit("Plant", None)],
        vec![
            unit("Plant", None),
            unit("Area", Some("Plant")),
            unit("Line", Some("Area")),
        ],
        // Root last, children before their parents, a second root.
        vec![
            unit("Line", Some("Area")),
            unit("Area", Some("Plant")),
            unit("Other", None),
            unit("Plant", None),
            unit("c&<\"ü", Some("Other")),
        ],
        many,
    ];
    for units in cases {
        let back = organization_back(units.clone());
        assert_eq!(back.extra, Extra::new(), "{units:?}");
        let Kind::Organization(org) = back.kind else {
            panic!("an organization")
        };
        assert_eq!(org.units, units);
    }
}
