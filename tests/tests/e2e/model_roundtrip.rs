//! Every table of the model, written and read back through the shared queries, on SQLite and on
//! PostgreSQL (when `IRONWORX_TEST_POSTGRES` is set).

use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
use ironworx_entity::queries::organizations::{self, LoginPage, Unit};
use ironworx_entity::queries::permissions::{self, EntityRule, Rule};
use ironworx_entity::queries::sessions::{self, NewSession};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::queries::{QueryError, data, groups, localization, now_ms, parts, settings};
use ironworx_entity::schema;
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType, Tag};
use ironworx_migration::{Migrator, MigratorTrait};
use ironworx_tests::{TestDb, backends};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

async fn fresh(db: &TestDb) -> DatabaseConnection {
    let conn = ironworx_tests::connect(db).await;
    Migrator::up(&conn, None).await.expect("migrations apply");
    conn
}

fn full_fields() -> EntityFields {
    EntityFields {
        description: "a description with <markup> & \"quotes\"".into(),
        documentation_content: "<p>docs</p>".into(),
        tags: "PTC:Simulator;Plant:Line 3".into(),
        project_name: "Simulator".into(),
        owner_id: None,
        home_mashup: "HomeMashup".into(),
        avatar: Some("iVBORw0KGgo=".into()),
        aspects: Some(json!({"isSystemObject": false, "isEditableSystemObject": true})),
        content: Some(json!({"mashupContent": {"UI": {"Type": "mashup"}}, "columns": 0.0})),
        is_system: false,
        last_modified_date: Some(1_574_761_407_449),
    }
}

#[tokio::test]
async fn every_table_round_trips_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let conn = fresh(&db).await;
        entities_and_tags(&conn).await;
        principals(&conn).await;
        organizations_and_units(&conn).await;
        things_and_parts(&conn).await;
        keys_sessions_rules(&conn).await;
        audit_and_settings(&conn).await;
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

async fn entities_and_tags(conn: &DatabaseConnection) {
    let owner = entities::insert_entity(
        conn,
        Collection::Mashups,
        "Owner.Mashup",
        &EntityFields::default(),
    )
    .await
    .expect("insert owner");
    let fields = EntityFields {
        owner_id: Some(owner.id),
        ..full_fields()
    };
    let row = entities::insert_entity(conn, Collection::Mashups, "PTC.Home", &fields)
        .await
        .expect("insert entity");
    let back = entities::get_entity(conn, Collection::Mashups, "PTC.Home")
        .await
        .expect("read entity");
    assert_eq!(back, row);
    assert_eq!(entities::fields_of(&back), fields);

    // Tags are kept in order, indexed, and their vocabularies created on the fly.
    let tags = entities::tags_of(conn, row.id).await.expect("tags");
    assert_eq!(tags, Tag::parse_list(&fields.tags).expect("parse"));
    let plant = entities::get_entity(conn, Collection::ModelTags, "Plant")
        .await
        .expect("dynamic vocabulary created");
    let terms = parts::vocabulary_terms::list(conn, plant.id)
        .await
        .expect("terms");
    assert_eq!(
        terms.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Line 3"]
    );
    let tagged = entities::entity_ids_with_tag(
        conn,
        &Tag {
            vocabulary: "PTC".into(),
            term: "Simulator".into(),
        },
    )
    .await
    .expect("by tag");
    assert_eq!(tagged, vec![row.id]);

    // Same name in the same collection: conflict; in another collection: fine.
    let err = entities::insert_entity(conn, Collection::Mashups, "PTC.Home", &fields)
        .await
        .expect_err("duplicate refused");
    assert!(matches!(err, QueryError::Conflict { .. }), "{err}");
    entities::insert_entity(
        conn,
        Collection::MediaEntities,
        "PTC.Home",
        &EntityFields::default(),
    )
    .await
    .expect("same name, other collection");

    // Update replaces the common attributes and the tags.
    let mut changed = fields.clone();
    changed.description = "changed".into();
    changed.tags = "PTC:Other".into();
    let updated = entities::update_entity(conn, row.id, &changed)
        .await
        .expect("update");
    assert_eq!(updated.description, "changed");
    assert_eq!(
        entities::tags_of(conn, row.id).await.expect("tags"),
        vec![Tag {
            vocabulary: "PTC".into(),
            term: "Other".into()
        }]
    );

    // Bad names are refused with a message that says why, and nothing is written.
    for (collection, bad) in [
        (Collection::Things, ""),
        (Collection::Things, "a/b"),
        (Collection::Things, " padded"),
        (Collection::Users, "jane+doe"),
        (Collection::Users, "a&b"),
        (Collection::Groups, "Org:Unit"),
    ] {
        let err = entities::insert_entity(conn, collection, bad, &EntityFields::default())
            .await
            .expect_err("bad name refused");
        let text = err.to_string();
        assert!(text.starts_with("invalid "), "{text}");
        assert!(text.contains(&format!("'{bad}'")), "{text}");
        assert!(
            entities::find_entity(conn, collection, bad)
                .await
                .expect("lookup")
                .is_none()
        );
    }
    let err = entities::insert_entity(
        conn,
        Collection::Things,
        "Tagged",
        &EntityFields {
            tags: "NoTerm".into(),
            ..EntityFields::default()
        },
    )
    .await
    .expect_err("bad tag refused");
    assert!(err.to_string().contains("Vocabulary:Term"), "{err}");
}

async fn principals(conn: &DatabaseConnection) {
    groups::create_group(conn, "Users", &EntityFields::default())
        .await
        .expect("Users group");
    let pbkdf2 = PasswordRecord {
        hash: format!("100000:{}:{}", "ab".repeat(64), "cd".repeat(64)),
        algorithm: users::PBKDF2_SHA512.into(),
        iterations: 100_000,
        salt_bytes: 64,
        hash_bytes: 64,
    };
    let created = users::create_user(
        conn,
        &NewUser {
            name: "jane.doe@example.com".into(),
            fields: EntityFields {
                description: "Jane".into(),
                ..EntityFields::default()
            },
            password: Some(pbkdf2.clone()),
            language_preferences: "de,en".into(),
            mobile_mashup: "Mobile".into(),
            ..NewUser::default()
        },
    )
    .await
    .expect("create user");
    let back = users::get_user(conn, "jane.doe@example.com")
        .await
        .expect("read user");
    assert_eq!(back, created);
    assert_eq!(users::password_of(&back.user), Some(pbkdf2));
    assert!(back.user.enabled && !back.user.locked && back.user.login_allowed);
    assert_eq!(back.user.language_preferences, "de,en");
    // Every new user joins Users.
    assert_eq!(
        groups::list_members(conn, "Users").await.expect("members"),
        vec![("jane.doe@example.com".to_owned(), MemberType::User)]
    );

    let id = back.entity.id;
    let argon = PasswordRecord::argon2id("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    users::set_password(conn, id, &argon, 42)
        .await
        .expect("set password");
    users::set_enabled(conn, id, false).await.expect("disable");
    users::set_locked(conn, id, true, Some(99))
        .await
        .expect("lock");
    users::set_language_preferences(conn, id, "fr")
        .await
        .expect("prefs");
    let mut user = users::get_user(conn, "jane.doe@example.com")
        .await
        .expect("read")
        .user;
    assert_eq!(users::password_of(&user), Some(argon));
    assert_eq!(user.password_changed_at, Some(42));
    assert!(!user.enabled && user.locked);
    assert_eq!(user.locked_until, Some(99));
    assert_eq!(user.language_preferences, "fr");
    user.failed_login_count = 3;
    user.failed_login_window_start = Some(7);
    user.scim_id = "scim-1".into();
    let saved = users::save_user(conn, &user).await.expect("save");
    assert_eq!(saved, user);
    users::set_locked(conn, id, false, None)
        .await
        .expect("unlock");
    let user = users::get_user(conn, "jane.doe@example.com")
        .await
        .expect("read")
        .user;
    assert!(!user.locked && user.failed_login_count == 0 && user.locked_until.is_none());

    let ext = vec![
        schema::user_extension_values::Model {
            id: 0,
            user_id: id,
            name: "firstName".into(),
            value: "Jane".into(),
            last_update_time: 1,
        },
        schema::user_extension_values::Model {
            id: 0,
            user_id: id,
            name: "emailAddress".into(),
            value: "jane@example.com".into(),
            last_update_time: 2,
        },
    ];
    parts::user_extension_values::insert(conn, ext.clone())
        .await
        .expect("extensions");
    assert_eq!(
        strip(
            parts::user_extension_values::list(conn, id)
                .await
                .expect("list"),
            |r| r.id = 0
        ),
        ext
    );

    // Nested groups, transitive membership, cycles refused.
    for g in ["Operators", "LineLeads", "Plant"] {
        groups::create_group(conn, g, &EntityFields::default())
            .await
            .expect("group");
    }
    groups::add_member(conn, "Operators", "jane.doe@example.com", MemberType::User)
        .await
        .expect("member");
    groups::add_member(conn, "LineLeads", "Operators", MemberType::Group)
        .await
        .expect("nested");
    groups::add_member(conn, "Plant", "LineLeads", MemberType::Group)
        .await
        .expect("nested");
    groups::add_member(conn, "Plant", "LineLeads", MemberType::Group)
        .await
        .expect("idempotent");
    let all = groups::groups_containing(conn, "jane.doe@example.com", MemberType::User)
        .await
        .expect("closure");
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        ["LineLeads", "Operators", "Plant", "Users"]
    );
    for (group, member) in [("Operators", "Plant"), ("Plant", "Plant")] {
        let err = groups::add_member(conn, group, member, MemberType::Group)
            .await
            .expect_err("cycle refused");
        assert!(matches!(err, QueryError::Cycle { .. }), "{err}");
    }
    assert!(
        groups::remove_member(conn, "Plant", "LineLeads", MemberType::Group)
            .await
            .expect("remove")
    );
    assert_eq!(
        groups::list_members(conn, "Plant").await.expect("members"),
        vec![]
    );
    let err = groups::add_member(conn, "Plant", "nobody", MemberType::User)
        .await
        .expect_err("missing member");
    assert!(matches!(err, QueryError::NotFound { .. }), "{err}");
}

async fn organizations_and_units(conn: &DatabaseConnection) {
    let login = LoginPage {
        login_prompt: "Welcome to the <b>plant</b>".into(),
        login_image: "iVBORw0KGgo=".into(),
        login_style: "PlantStyle".into(),
        login_button_style: "Button".into(),
        login_reset_password: true,
        mobile_mashup: "M".into(),
        reset_mail_content: "<p>reset</p>".into(),
        reset_mail_server: "Mail".into(),
        reset_mail_subject: "Reset".into(),
    };
    organizations::create_organization(conn, "Plant&Co", &EntityFields::default(), &login)
        .await
        .expect("org");
    assert_eq!(
        organizations::login_page(conn, "Plant&Co")
            .await
            .expect("login"),
        login
    );
    let mut changed = login.clone();
    changed.login_prompt = "Changed".into();
    organizations::set_login_page(conn, "Plant&Co", &changed)
        .await
        .expect("set login");
    assert_eq!(
        organizations::login_page(conn, "Plant&Co")
            .await
            .expect("login"),
        changed
    );
    organizations::add_unit(conn, "Plant&Co", "Plant&Co", "Area", "the area")
        .await
        .expect("unit");
    organizations::add_unit(conn, "Plant&Co", "Area", "Line", "")
        .await
        .expect("unit");
    let err = organizations::add_unit(conn, "Plant&Co", "Area", "Line", "")
        .await
        .expect_err("duplicate unit");
    assert!(matches!(err, QueryError::Conflict { .. }), "{err}");
    assert_eq!(
        organizations::list_units(conn, "Plant&Co")
            .await
            .expect("units"),
        vec![
            Unit {
                name: "Area".into(),
                parent: Some("Plant&Co".into()),
                description: "the area".into()
            },
            Unit {
                name: "Line".into(),
                parent: Some("Area".into()),
                description: String::new()
            },
            Unit {
                name: "Plant&Co".into(),
                parent: None,
                description: String::new()
            },
        ]
    );
    organizations::add_unit_member(conn, "Plant&Co", "Line", "Operators", MemberType::Group)
        .await
        .expect("unit member");
    organizations::add_unit_member(
        conn,
        "Plant&Co",
        "Area",
        "jane.doe@example.com",
        MemberType::User,
    )
    .await
    .expect("unit member");
    assert_eq!(
        organizations::list_unit_members(conn, "Plant&Co", "Line")
            .await
            .expect("members"),
        vec![("Operators".to_owned(), MemberType::Group)]
    );
    assert!(
        organizations::remove_unit_member(conn, "Plant&Co", "Area", "jane.doe@example.com")
            .await
            .expect("remove")
    );
    let err = organizations::remove_unit(conn, "Plant&Co", "Plant&Co")
        .await
        .expect_err("root unit stays");
    assert!(err.to_string().contains("root unit"), "{err}");
    organizations::remove_unit(conn, "Plant&Co", "Area")
        .await
        .expect("remove subtree");
    assert_eq!(
        organizations::list_units(conn, "Plant&Co")
            .await
            .expect("units")
            .len(),
        1
    );
}

fn strip<T>(mut rows: Vec<T>, f: impl Fn(&mut T)) -> Vec<T> {
    rows.iter_mut().for_each(f);
    rows
}

async fn things_and_parts(conn: &DatabaseConnection) {
    models::create_thing_template(
        conn,
        "Base.TT",
        &EntityFields::default(),
        &TemplateFields::default(),
    )
    .await
    .expect("base");
    let tt = TemplateFields {
        base_thing_template: "Base.TT".into(),
        thing_package: "Pkg".into(),
        effective_thing_package: "EffPkg".into(),
        value_stream: "VS".into(),
    };
    models::create_thing_template(conn, "Sensor.TT", &EntityFields::default(), &tt)
        .await
        .expect("template");
    let (_, back) = models::get_thing_template(conn, "Sensor.TT")
        .await
        .expect("read");
    assert_eq!(back.base_thing_template, "Base.TT");
    assert_eq!(back.value_stream, "VS");
    assert_eq!(
        models::template_chain(conn, "Sensor.TT")
            .await
            .expect("chain"),
        ["Sensor.TT", "Base.TT"]
    );
    let err = models::create_thing_template(
        conn,
        "Orphan.TT",
        &EntityFields::default(),
        &TemplateFields {
            base_thing_template: "Missing.TT".into(),
            ..TemplateFields::default()
        },
    )
    .await
    .expect_err("missing base");
    assert!(matches!(err, QueryError::NotFound { .. }), "{err}");

    let shape = models::create_thing_shape(
        conn,
        "Power.TS",
        &EntityFields::default(),
        "com.example.Power",
    )
    .await
    .expect("shape");
    assert_eq!(
        models::get_thing_shape(conn, "Power.TS")
            .await
            .expect("shape")
            .1
            .class_name,
        "com.example.Power"
    );
    let ds = models::create_data_shape(conn, "Reading.DS", &EntityFields::default(), "Base.DS")
        .await
        .expect("data shape");
    assert_eq!(
        models::get_data_shape(conn, "Reading.DS")
            .await
            .expect("ds")
            .1
            .base_data_shape,
        "Base.DS"
    );

    let thing_fields = ThingFields {
        thing_template: "Sensor.TT".into(),
        disabled: true,
        published: true,
        identifier: "sensor-1".into(),
        value_stream: "VS".into(),
        inherited_value_stream: "VS0".into(),
        thing_package: "P".into(),
        effective_thing_package: "EP".into(),
    };
    let thing = models::create_thing(conn, "Sensor1", &full_fields(), &thing_fields)
        .await
        .expect("thing");
    let (_, t) = models::get_thing(conn, "Sensor1")
        .await
        .expect("read thing");
    assert_eq!(
        (
            t.thing_template.as_str(),
            t.enabled,
            t.published,
            t.identifier.as_str()
        ),
        ("Sensor.TT", false, true, "sensor-1")
    );
    models::set_thing_enabled(conn, thing.id, true)
        .await
        .expect("enable");
    assert!(
        models::get_thing(conn, "Sensor1")
            .await
            .expect("thing")
            .1
            .enabled
    );
    models::set_implemented_shapes(conn, thing.id, &["Power.TS".into(), "Other.TS".into()])
        .await
        .expect("shapes");
    assert_eq!(
        models::implemented_shape_names(conn, thing.id)
            .await
            .expect("shapes"),
        ["Power.TS", "Other.TS"]
    );

    let id = thing.id;
    macro_rules! round_trip {
        ($part:ident, $rows:expr) => {{
            let rows = $rows;
            parts::$part::insert(conn, rows.clone())
                .await
                .expect(concat!("insert ", stringify!($part)));
            let back = parts::$part::list(conn, rows[0].entity_id)
                .await
                .expect(concat!("list ", stringify!($part)));
            assert_eq!(strip(back, |r| r.id = 0), rows, stringify!($part));
        }};
    }
    round_trip!(
        property_definitions,
        vec![schema::property_definitions::Model {
            id: 0,
            entity_id: id,
            name: "Temperature".into(),
            base_type: "NUMBER".into(),
            description: "°C".into(),
            category: "Sensors".into(),
            ordinal: 3,
            is_local_only: true,
            aspects: Some(
                json!({"isPersistent": true, "cacheTime": 0.0, "dataChangeType": "VALUE"})
            ),
        }]
    );
    round_trip!(
        service_definitions,
        vec![schema::service_definitions::Model {
            id: 0,
            entity_id: id,
            name: "Reset".into(),
            description: "resets".into(),
            category: "Ops".into(),
            is_allow_override: true,
            is_local_only: false,
            is_open: true,
            is_private: false,
            aspects: Some(json!({"isAsync": false})),
            result_type: Some(json!({"name": "result", "baseType": "NOTHING"})),
            parameters: Some(json!([{"name": "force", "baseType": "BOOLEAN", "ordinal": 0}])),
        }]
    );
    round_trip!(
        event_definitions,
        vec![schema::event_definitions::Model {
            id: 0,
            entity_id: id,
            name: "Overheat".into(),
            description: String::new(),
            category: String::new(),
            data_shape: "AlertEvent".into(),
            is_local_only: false,
            aspects: None,
        }]
    );
    round_trip!(
        service_implementations,
        vec![schema::service_implementations::Model {
            id: 0,
            entity_id: id,
            name: "Reset".into(),
            description: String::new(),
            handler_name: "Script".into(),
            configuration: Some(json!({"Script": {"rows": [{"code": "me.Temperature = 0;"}]}})),
        }]
    );
    round_trip!(
        subscriptions,
        vec![schema::subscriptions::Model {
            id: 0,
            entity_id: id,
            name: "Event.DataChange:Property.Temperature".into(),
            description: String::new(),
            enabled: true,
            event_name: "DataChange".into(),
            source: String::new(),
            source_property: "Temperature".into(),
            source_type: "Thing".into(),
            handler_name: "Script".into(),
            configuration: Some(json!({"Script": {"rows": [{"code": "logger.info('x');"}]}})),
        }]
    );
    round_trip!(
        field_definitions,
        vec![
            schema::field_definitions::Model {
                id: 0,
                entity_id: ds.id,
                name: "value".into(),
                base_type: "NUMBER".into(),
                description: String::new(),
                ordinal: 1,
                aspects: Some(json!({"isPrimaryKey": false})),
            },
            schema::field_definitions::Model {
                id: 0,
                entity_id: ds.id,
                name: "key".into(),
                base_type: "STRING".into(),
                description: String::new(),
                ordinal: 0,
                aspects: Some(json!({"isPrimaryKey": true})),
            },
        ]
    );
    round_trip!(
        property_values,
        vec![schema::property_values::Model {
            id: 0,
            entity_id: id,
            name: "Temperature".into(),
            base_type: "NUMBER".into(),
            value: Some(json!(21.5)),
            value_time: 1_700_000_000_000,
            quality: "GOOD".into(),
        }]
    );
    data::set_property_value(
        conn,
        &schema::property_values::Model {
            id: 0,
            entity_id: id,
            name: "Temperature".into(),
            base_type: "NUMBER".into(),
            value: Some(json!(22.0)),
            value_time: 1_700_000_000_001,
            quality: "GOOD".into(),
        },
    )
    .await
    .expect("write value");
    let values = parts::property_values::list(conn, id)
        .await
        .expect("values");
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].value, Some(json!(22.0)));
    round_trip!(
        configuration_tables,
        vec![schema::configuration_tables::Model {
            id: 0,
            entity_id: id,
            name: "Settings".into(),
            is_shared: false,
            description: "settings".into(),
            is_multi_row: true,
            ordinal: 0,
            data_shape_name: String::new(),
            is_hidden: false,
            field_definitions: Some(json!([{"name": "interval", "baseType": "NUMBER"}])),
            rows: Some(json!([{"interval": 60.0}, {"interval": 30.0}])),
        }]
    );
    round_trip!(
        implemented_shapes,
        vec![schema::implemented_shapes::Model {
            id: 0,
            entity_id: shape.id,
            shape_name: "Nested.TS".into(),
            ordinal: 0,
        }]
    );
    let stream = models::create_thing(
        conn,
        "Readings",
        &EntityFields::default(),
        &ThingFields {
            thing_template: "Stream".into(),
            ..ThingFields::default()
        },
    )
    .await
    .expect("stream thing");
    round_trip!(
        stream_entries,
        (0..450)
            .map(|i| schema::stream_entries::Model {
                id: 0,
                entity_id: stream.id,
                entry_time: 1_000 + i,
                source: "Sensor1".into(),
                source_type: "Thing".into(),
                tags: "PTC:Simulator".into(),
                location: Some("49.0,8.4,0".into()),
                entry_values: Some(json!({"value": i})),
            })
            .collect::<Vec<_>>()
    );
    let newest = data::stream_entries_between(conn, stream.id, 1_100, 1_200, 10)
        .await
        .expect("range");
    assert_eq!(newest.len(), 10);
    assert_eq!(newest[0].entry_time, 1_200);
    assert_eq!(
        data::count_stream_entries(conn, stream.id)
            .await
            .expect("count"),
        450
    );
    assert_eq!(
        data::purge_stream_entries(conn, stream.id, 1_000, 1_049)
            .await
            .expect("purge"),
        50
    );
    let table = models::create_thing(
        conn,
        "Orders",
        &EntityFields::default(),
        &ThingFields::default(),
    )
    .await
    .expect("data table");
    round_trip!(
        data_table_rows,
        vec![schema::data_table_rows::Model {
            id: 0,
            entity_id: table.id,
            row_key: "A-1".into(),
            entry_time: 5,
            source: "Administrator".into(),
            source_type: "User".into(),
            tags: String::new(),
            location: None,
            entry_values: Some(json!({"key": "A-1", "qty": 3})),
        }]
    );
    let mut replaced = parts::data_table_rows::list(conn, table.id)
        .await
        .expect("rows")[0]
        .clone();
    replaced.entry_values = Some(json!({"key": "A-1", "qty": 4}));
    data::upsert_data_table_row(conn, &replaced)
        .await
        .expect("upsert");
    let rows = parts::data_table_rows::list(conn, table.id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry_values, Some(json!({"key": "A-1", "qty": 4})));
    assert!(
        data::delete_data_table_row(conn, table.id, "A-1")
            .await
            .expect("delete")
    );

    let loc = entities::insert_entity(
        conn,
        Collection::LocalizationTables,
        "de",
        &EntityFields::default(),
    )
    .await
    .expect("table");
    round_trip!(
        localization_tokens,
        vec![schema::localization_tokens::Model {
            id: 0,
            entity_id: loc.id,
            name: "greeting".into(),
            value: "Hallo".into(),
            description: "hello".into(),
            context: "login".into(),
        }]
    );
    localization::set_token(conn, "de", "greeting", "Guten Tag")
        .await
        .expect("set token");
    assert_eq!(
        localization::token(conn, "de", "greeting")
            .await
            .expect("token"),
        Some("Guten Tag".into())
    );
    assert_eq!(
        localization::token(conn, "fr", "greeting")
            .await
            .expect("none"),
        None
    );
    let vocab = entities::insert_entity(
        conn,
        Collection::DataTags,
        "Quality",
        &EntityFields::default(),
    )
    .await
    .expect("vocabulary");
    round_trip!(
        vocabulary_terms,
        vec![schema::vocabulary_terms::Model {
            id: 0,
            entity_id: vocab.id,
            name: "Good".into(),
            description: "all fine".into(),
        }]
    );

    // Replacing parts is what importing a newer version does.
    parts::property_definitions::replace(conn, id, vec![])
        .await
        .expect("replace");
    assert!(
        parts::property_definitions::list(conn, id)
            .await
            .expect("list")
            .is_empty()
    );

    // Deleting an entity deletes its parts with it.
    assert!(
        entities::delete_entity(conn, Collection::Things, "Sensor1")
            .await
            .expect("delete")
    );
    assert!(
        parts::property_values::list(conn, id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        parts::service_definitions::list(conn, id)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn keys_sessions_rules(conn: &DatabaseConnection) {
    let owner = users::get_user(conn, "jane.doe@example.com")
        .await
        .expect("user");
    let key = app_keys::create_app_key(
        conn,
        &NewAppKey {
            name: "DevOpsAppKey".into(),
            fields: EntityFields::default(),
            key_hash: Some("f".repeat(64)),
            key_sealed: Some("sealed".into()),
            user_id: Some(owner.entity.id),
            expiration_date: Some(1_900_000_000_000),
            client_name: "CI".into(),
            ip_whitelist: "10.0.*.*,192.168.0.0/16".into(),
        },
    )
    .await
    .expect("key");
    let back = app_keys::get_app_key(conn, "DevOpsAppKey")
        .await
        .expect("read key");
    assert_eq!(back, key);
    assert_eq!(
        app_keys::find_by_hash(conn, &"f".repeat(64))
            .await
            .expect("by hash"),
        Some(key.key.clone())
    );
    let mut row = key.key.clone();
    row.last_used_at = Some(5);
    row.ip_whitelist = String::new();
    assert_eq!(app_keys::save_app_key(conn, &row).await.expect("save"), row);

    let session = sessions::open_session(
        conn,
        &NewSession {
            token_id: "tok-1".into(),
            user_id: owner.entity.id,
            organization: "Plant&Co".into(),
            peer_addr: "127.0.0.1".into(),
            created_at: 10,
            expires_at: 20,
        },
    )
    .await
    .expect("session");
    assert_eq!(
        sessions::find_session(conn, "tok-1").await.expect("find"),
        Some(session.clone())
    );
    sessions::touch_session(conn, session.id, 15)
        .await
        .expect("touch");
    assert!(
        sessions::revoke_session(conn, "tok-1", 16)
            .await
            .expect("revoke")
    );
    assert!(
        !sessions::revoke_session(conn, "tok-1", 17)
            .await
            .expect("twice")
    );
    let s = sessions::find_session(conn, "tok-1")
        .await
        .expect("find")
        .expect("row");
    assert_eq!((s.last_seen_at, s.revoked_at), (15, Some(16)));
    sessions::open_session(
        conn,
        &NewSession {
            token_id: "tok-2".into(),
            user_id: owner.entity.id,
            organization: String::new(),
            peer_addr: String::new(),
            created_at: 1,
            expires_at: 2,
        },
    )
    .await
    .expect("session");
    assert_eq!(
        sessions::revoke_user_sessions(conn, owner.entity.id, 3)
            .await
            .expect("revoke all"),
        1
    );
    assert_eq!(
        sessions::user_sessions(conn, owner.entity.id)
            .await
            .expect("list")
            .len(),
        2
    );

    // Entity rules: set, replace the effect, list, refuse misplaced ones, remove.
    let (tt, _) = models::get_thing_template(conn, "Sensor.TT")
        .await
        .expect("template");
    let read = Rule {
        kind: PermissionKind::PropertyRead,
        resource: "Temperature".into(),
        principal_type: PrincipalType::Group,
        principal_name: "Operators".into(),
        allow: true,
    };
    permissions::set_entity_rule(conn, tt.id, false, &read)
        .await
        .expect("rule");
    permissions::set_entity_rule(conn, tt.id, true, &read)
        .await
        .expect("instance rule");
    let deny = Rule {
        allow: false,
        ..read.clone()
    };
    permissions::set_entity_rule(conn, tt.id, true, &deny)
        .await
        .expect("replace");
    assert_eq!(
        permissions::entity_rules(conn, tt.id, false)
            .await
            .expect("own"),
        vec![read.clone()]
    );
    assert_eq!(
        permissions::entity_rules(conn, tt.id, true)
            .await
            .expect("instance"),
        vec![deny.clone()]
    );
    let vis = Rule::any(
        PermissionKind::Visibility,
        PrincipalType::OrganizationalUnit,
        "Plant&Co:Line",
        Effect::Allow,
    );
    permissions::insert_entity_rules(
        conn,
        &[EntityRule {
            entity_id: tt.id,
            instance: true,
            rule: vis.clone(),
        }],
    )
    .await
    .expect("batch");
    let all = permissions::all_entity_rules(conn).await.expect("all");
    assert_eq!(all.len(), 3);
    let (shape, _) = models::get_thing_shape(conn, "Power.TS")
        .await
        .expect("shape");
    let (thing, _) = models::get_thing(conn, "Readings").await.expect("thing");
    for (entity, rule, why) in [
        (thing.id, read.clone(), "instance"),
        (
            shape.id,
            Rule::any(
                PermissionKind::Read,
                PrincipalType::Group,
                "Operators",
                Effect::Allow,
            ),
            "instance",
        ),
    ] {
        let err = permissions::set_entity_rule(conn, entity, true, &rule)
            .await
            .expect_err("misplaced instance rule");
        assert!(err.to_string().contains(why), "{err}");
    }
    for bad in [
        Rule::any(
            PermissionKind::Visibility,
            PrincipalType::User,
            "jane.doe@example.com",
            Effect::Allow,
        ),
        Rule::any(
            PermissionKind::Read,
            PrincipalType::Organization,
            "Plant&Co",
            Effect::Allow,
        ),
        Rule {
            kind: PermissionKind::Update,
            ..read.clone()
        },
    ] {
        assert!(
            permissions::set_entity_rule(conn, tt.id, false, &bad)
                .await
                .is_err(),
            "{bad:?}"
        );
    }
    assert!(
        permissions::remove_entity_rule(conn, tt.id, false, &read)
            .await
            .expect("remove")
    );
    assert!(
        !permissions::remove_entity_rule(conn, tt.id, false, &read)
            .await
            .expect("gone")
    );

    let coll = Rule::any(
        PermissionKind::ServiceInvoke,
        PrincipalType::User,
        "jane.doe@example.com",
        Effect::Deny,
    );
    permissions::set_collection_rule(conn, Collection::Things, &coll)
        .await
        .expect("collection rule");
    assert_eq!(
        permissions::collection_rules(conn, Collection::Things)
            .await
            .expect("rules"),
        vec![coll.clone()]
    );
    let unit_rule = Rule::any(
        PermissionKind::Visibility,
        PrincipalType::OrganizationalUnit,
        "Plant&Co:Line",
        Effect::Allow,
    );
    permissions::set_collection_rule(conn, Collection::Things, &unit_rule)
        .await
        .expect("unit rule");

    // Deleting a principal deletes the rules that name it; deleting an organization deletes
    // the rules naming its units.
    permissions::set_entity_rule(
        conn,
        tt.id,
        false,
        &Rule::any(
            PermissionKind::Read,
            PrincipalType::User,
            "jane.doe@example.com",
            Effect::Allow,
        ),
    )
    .await
    .expect("user rule");
    assert!(
        entities::delete_entity(conn, Collection::Users, "jane.doe@example.com")
            .await
            .expect("delete user")
    );
    assert!(
        permissions::collection_rules(conn, Collection::Things)
            .await
            .expect("rules")
            .iter()
            .all(|r| r.principal_type != PrincipalType::User)
    );
    assert_eq!(
        permissions::entity_rules(conn, tt.id, false)
            .await
            .expect("rules"),
        vec![]
    );
    assert!(
        app_keys::get_app_key(conn, "DevOpsAppKey")
            .await
            .expect("key stays")
            .key
            .user_id
            .is_none()
    );
    assert!(
        sessions::find_session(conn, "tok-1")
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        entities::delete_entity(conn, Collection::Organizations, "Plant&Co")
            .await
            .expect("delete org")
    );
    assert_eq!(
        permissions::collection_rules(conn, Collection::Things)
            .await
            .expect("rules"),
        vec![]
    );
    assert_eq!(
        permissions::entity_rules(conn, tt.id, true)
            .await
            .expect("rules"),
        vec![deny]
    );
}

async fn audit_and_settings(conn: &DatabaseConnection) {
    let before = audit::current_sequence(conn).await.expect("seq");
    let change = Change {
        actor: "Administrator".into(),
        action: "AddRunTimePermission".into(),
        target_collection: "Things".into(),
        target_name: "Sensor1".into(),
        detail: Some(json!({"principal": "Operators", "type": "PropertyRead"})),
        ..Change::default()
    };
    let a = audit::record(conn, &change).await.expect("record");
    let b = audit::bump_sequence(conn).await.expect("bump");
    let c = audit::record(conn, &change).await.expect("record");
    assert_eq!((a, b, c), (before + 1, before + 2, before + 3));
    assert_eq!(audit::current_sequence(conn).await.expect("seq"), c);
    let rows = audit::changes_since(conn, before).await.expect("since");
    assert_eq!(
        rows.iter().map(|r| r.change_seq).collect::<Vec<_>>(),
        vec![a, c]
    );
    assert_eq!(rows[0].detail, change.detail);
    assert_eq!(rows[0].actor, "Administrator");

    // The audit log is append-only inside the database itself.
    let backend = conn.get_database_backend();
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let err = conn
            .execute_raw(Statement::from_string(backend, sql))
            .await
            .expect_err("audit log refuses changes");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(
        audit::changes_since(conn, before)
            .await
            .expect("since")
            .len(),
        2
    );

    assert_eq!(settings::get(conn, "k").await.expect("get"), None);
    settings::set(conn, "k", "v1").await.expect("set");
    settings::set(conn, "k", "v2").await.expect("replace");
    assert_eq!(
        settings::get(conn, "k").await.expect("get"),
        Some("v2".into())
    );
    assert!(!settings::set_once(conn, "k", "v3").await.expect("once"));
    assert!(settings::set_once(conn, "k2", "v").await.expect("once"));
    assert!(now_ms() > 1_700_000_000_000);
}
