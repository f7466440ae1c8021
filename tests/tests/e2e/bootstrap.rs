//! First start, restart and the `migrate` command, through the real server process, on SQLite
//! and on PostgreSQL (when `IRONWORX_TEST_POSTGRES` is set).

use std::collections::BTreeSet;

use ironworx_entity::queries::{
    audit, entities, groups, organizations, permissions, settings, users,
};
use ironworx_entity::vocab::{Collection, MemberType, PermissionKind, PrincipalType, builtin};
use ironworx_server::auth::hashing::verify_password;
use ironworx_tests::{ServerOptions, TestDb, TestServer, backends, connect, server_binary};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Every table of the model, for row counts.
const TABLES: &[&str] = &[
    "entities",
    "users",
    "user_extension_values",
    "groups",
    "group_members",
    "organizations",
    "organizational_units",
    "organizational_unit_members",
    "things",
    "thing_templates",
    "thing_shapes",
    "data_shapes",
    "implemented_shapes",
    "property_definitions",
    "service_definitions",
    "event_definitions",
    "service_implementations",
    "subscriptions",
    "field_definitions",
    "property_values",
    "configuration_tables",
    "stream_entries",
    "data_table_rows",
    "localization_tokens",
    "vocabulary_terms",
    "entity_tags",
    "application_keys",
    "entity_permissions",
    "collection_permissions",
    "sessions",
    "audit_log",
    "change_sequence",
    "settings",
];

/// What a restart must leave unchanged: row counts of every table, the change sequence and the
/// Administrator's stored password.
async fn snapshot(conn: &DatabaseConnection) -> (Vec<(String, i64)>, i64, Option<String>) {
    let backend = conn.get_database_backend();
    let mut counts = Vec::new();
    for table in TABLES {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        counts.push((
            (*table).to_owned(),
            row.try_get_by_index::<i64>(0).expect("count"),
        ));
    }
    let seq = audit::current_sequence(conn).await.expect("sequence");
    let admin = users::get_user(conn, builtin::ADMINISTRATOR)
        .await
        .expect("admin");
    (counts, seq, admin.user.password_hash)
}

async fn check_bootstrap_rows(conn: &DatabaseConnection, admin_password: &str) {
    // Users.
    let admin = users::get_user(conn, builtin::ADMINISTRATOR)
        .await
        .expect("Administrator");
    assert!(admin.entity.is_system && admin.user.enabled && admin.user.login_allowed);
    assert_eq!(admin.user.password_algorithm, users::ARGON2ID);
    let hash = admin.user.password_hash.clone().expect("a password");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password(admin_password, &hash));
    assert!(!verify_password("wrong", &hash));
    let system = users::get_user(conn, builtin::SYSTEM)
        .await
        .expect("System");
    assert!(!system.user.login_allowed, "nobody logs in as System");
    assert!(system.user.password_hash.is_none());
    let names: Vec<_> = users::list_users(conn)
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.entity.name)
        .collect();
    assert_eq!(names, ["Administrator", "System"]);

    // Groups and their members.
    let group_names: BTreeSet<_> = entities::list_entities(conn, Collection::Groups)
        .await
        .expect("groups")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(
        group_names,
        builtin::GROUPS.iter().map(|g| (*g).to_owned()).collect()
    );
    let members =
        |g: &'static str| async move { groups::list_members(conn, g).await.expect("members") };
    assert_eq!(
        members(builtin::USERS).await,
        vec![
            ("Administrator".to_owned(), MemberType::User),
            ("System".to_owned(), MemberType::User)
        ],
        "every new user joins Users"
    );
    assert_eq!(
        members("ComposerUsers").await,
        vec![("Users".to_owned(), MemberType::Group)]
    );
    assert_eq!(
        members(builtin::ADMINISTRATORS).await,
        vec![("Administrator".to_owned(), MemberType::User)]
    );
    for g in [
        "SecurityAdministrators",
        "Guests",
        "Developers",
        "Designers",
        "Auditors",
    ] {
        assert!(members(g).await.is_empty(), "{g} starts empty");
    }

    // Organizations: a root unit named like the organization, holding its group.
    let orgs: Vec<_> = entities::list_entities(conn, Collection::Organizations)
        .await
        .expect("orgs")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(orgs, ["Composer", "Development", "Everyone"]);
    for (org, group) in builtin::ORGANIZATIONS {
        let units = organizations::list_units(conn, org).await.expect("units");
        assert_eq!(units.len(), 1, "{org}");
        assert_eq!(
            (units[0].name.as_str(), units[0].parent.as_deref()),
            (*org, None)
        );
        assert_eq!(
            organizations::list_unit_members(conn, org, org)
                .await
                .expect("members"),
            vec![((*group).to_owned(), MemberType::Group)]
        );
    }

    // Built-in templates.
    let templates: BTreeSet<_> = entities::list_entities(conn, Collection::ThingTemplates)
        .await
        .expect("templates")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        templates,
        [
            "DataTable",
            "GenericThing",
            "RemoteThing",
            "Scheduler",
            "Stream",
            "Timer"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );

    // Collection rules: C/R/U/D for Administrators and visibility for Everyone, nothing else;
    // no entity rule and no run-time rule anywhere.
    for collection in Collection::ALL {
        let rules = permissions::collection_rules(conn, *collection)
            .await
            .expect("rules");
        let got: BTreeSet<_> = rules
            .iter()
            .map(|r| {
                (
                    r.kind,
                    r.resource.clone(),
                    r.principal_type,
                    r.principal_name.clone(),
                    r.allow,
                )
            })
            .collect();
        let mut expected: BTreeSet<_> = [
            PermissionKind::Create,
            PermissionKind::Read,
            PermissionKind::Update,
            PermissionKind::Delete,
        ]
        .into_iter()
        .map(|k| {
            (
                k,
                "*".to_owned(),
                PrincipalType::Group,
                "Administrators".to_owned(),
                true,
            )
        })
        .collect();
        expected.insert((
            PermissionKind::Visibility,
            "*".into(),
            PrincipalType::Organization,
            "Everyone".into(),
            true,
        ));
        assert_eq!(got, expected, "{collection}");
    }
    assert!(
        permissions::all_entity_rules(conn)
            .await
            .expect("rules")
            .is_empty()
    );

    // The audit log and the marker.
    let audit = audit::changes_since(conn, 0).await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("Bootstrap", "System")
    );
    assert_eq!(
        settings::get(conn, "bootstrap.version")
            .await
            .expect("marker"),
        Some("1".into())
    );
}

#[tokio::test]
async fn first_start_bootstraps_and_restarts_change_nothing() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let first = TestServer::start_with(
            &db,
            ServerOptions::default()
                .without_admin_password()
                .data_dir(data.path()),
        )
        .await;
        for path in ["/health", "/ready"] {
            let res = first
                .client()
                .get(first.url(path))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 200, "{backend} {path}");
        }
        let status = first.stop().await;
        assert!(status.success(), "{backend}: {status}");

        // The generated password is in a file only the owner can read.
        let file = data.path().join("initial-admin-password");
        let password = std::fs::read_to_string(&file).expect("password file");
        let password = password.trim_end().to_owned();
        assert!(password.len() >= 20, "{password}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{backend}");
        }

        let conn = connect(&db).await;
        check_bootstrap_rows(&conn, &password).await;
        let before = snapshot(&conn).await;
        let modified = std::fs::metadata(&file)
            .expect("meta")
            .modified()
            .expect("mtime");

        // A restart, with or without a (different) password in the environment, changes nothing.
        for options in [
            ServerOptions::default().without_admin_password(),
            ServerOptions::default(),
        ] {
            let again = TestServer::start_with(&db, options.data_dir(data.path())).await;
            assert!(
                again
                    .stdout()
                    .iter()
                    .all(|l| !l.contains("Administrator password")),
                "{backend}: the password is printed on the first start only"
            );
            let res = again
                .client()
                .get(again.url("/ready"))
                .send()
                .await
                .expect("ready");
            assert_eq!(res.status(), 200);
            assert!(again.stop().await.success());
            assert_eq!(
                snapshot(&conn).await,
                before,
                "{backend}: restart changed the database"
            );
            check_bootstrap_rows(&conn, &password).await;
        }
        assert_eq!(
            std::fs::metadata(&file)
                .expect("meta")
                .modified()
                .expect("mtime"),
            modified,
            "the password file is written once"
        );
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn generated_password_is_printed_once_on_stdout_and_never_logged() {
    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    let server = TestServer::start_without_admin_password(&db, &[]).await;
    let password = std::fs::read_to_string(server.data_dir().join("initial-admin-password"))
        .expect("password file")
        .trim_end()
        .to_owned();
    let stdout = server.stdout();
    let stderr = server.stderr();
    assert_eq!(
        stdout.iter().filter(|l| l.contains(&password)).count(),
        1,
        "printed exactly once: {stdout:?}"
    );
    assert!(!stderr.contains(&password), "the log holds no secret");
    assert!(server.stop().await.success());
    db.drop_database().await;
}

#[tokio::test]
async fn admin_password_from_the_environment() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let password = server.admin_password().expect("set").to_owned();
        assert!(!server.data_dir().join("initial-admin-password").exists());
        assert!(
            !server.stderr().contains(&password),
            "the log holds no secret"
        );
        assert!(server.stop().await.success());
        let conn = connect(&db).await;
        check_bootstrap_rows(&conn, &password).await;
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

/// An empty `IRONWORX_ADMIN_PASSWORD` counts as unset: the Administrator never gets an empty
/// password; a random one is generated instead.
#[tokio::test]
async fn empty_admin_password_means_a_generated_one() {
    let db = TestDb::create(ironworx_tests::Backend::Sqlite).await;
    let server = TestServer::start_with(
        &db,
        ServerOptions::default()
            .without_admin_password()
            .env("IRONWORX_ADMIN_PASSWORD", ""),
    )
    .await;
    let password = std::fs::read_to_string(server.data_dir().join("initial-admin-password"))
        .expect("a generated password");
    assert!(server.stop().await.success());
    let conn = connect(&db).await;
    check_bootstrap_rows(&conn, password.trim_end()).await;
    assert!(!verify_password(
        "",
        &users::get_user(&conn, builtin::ADMINISTRATOR)
            .await
            .expect("admin")
            .user
            .password_hash
            .expect("hash")
    ));
    conn.close().await.expect("close");
    db.drop_database().await;
}

#[tokio::test]
async fn two_servers_starting_together_bootstrap_once() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (a, b) = tokio::join!(TestServer::start(&db, &[]), TestServer::start(&db, &[]));
        for s in [&a, &b] {
            let res = s.client().get(s.url("/ready")).send().await.expect("ready");
            assert_eq!(res.status(), 200, "{backend}");
        }
        assert!(a.stop().await.success());
        assert!(b.stop().await.success());
        let conn = connect(&db).await;
        check_bootstrap_rows(&conn, ironworx_tests::ADMIN_PASSWORD).await;
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}

#[tokio::test]
async fn migrate_command_applies_migrations_without_bootstrapping() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let out = tokio::process::Command::new(server_binary().expect("binary"))
            .arg("migrate")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--database-url")
            .arg(db.url())
            .output()
            .await
            .expect("run migrate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conn = connect(&db).await;
        assert_eq!(
            audit::current_sequence(&conn)
                .await
                .expect("sequence table"),
            0
        );
        assert!(
            settings::get(&conn, "bootstrap.version")
                .await
                .expect("query")
                .is_none()
        );
        assert!(
            entities::list_entities(&conn, Collection::Users)
                .await
                .expect("users")
                .is_empty()
        );
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
