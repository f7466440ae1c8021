//! `ironworx explain` on a real database: the verdict, every rule looked at, and the rule that
//! decided, in sentences.

use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser};
use ironworx_entity::queries::{entities, groups};
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType};
use ironworx_tests::{TestDb, TestServer, backends, connect, server_binary};

async fn explain(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let data = tempfile::tempdir().expect("data dir");
    let out = tokio::process::Command::new(server_binary().expect("binary"))
        .arg("explain")
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .arg("--database-url")
        .arg(db.url())
        .output()
        .await
        .expect("run explain");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn explain_prints_every_layer_and_the_deciding_rule() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        assert!(server.stop().await.success());
        let conn = connect(&db).await;
        users::create_user(
            &conn,
            &NewUser {
                name: "analyst".into(),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
        groups::create_group(&conn, "DataAnalyst", &EntityFields::default())
            .await
            .expect("group");
        groups::add_member(&conn, "DataAnalyst", "analyst", MemberType::User)
            .await
            .expect("member");
        let thing = models::create_thing(
            &conn,
            "SensorDataStream",
            &EntityFields::default(),
            &ThingFields {
                thing_template: "Stream".into(),
                ..ThingFields::default()
            },
        )
        .await
        .expect("thing");
        let args = [
            "--user",
            "analyst",
            "--entity-type",
            "Things",
            "--entity",
            "SensorDataStream",
            "--permission",
            "ServiceInvoke",
            "--resource",
            "QueryStreamEntriesWithData",
        ];
        let (ok, out, err) = explain(&db, &args).await;
        assert!(ok, "{backend}: {err}");
        assert!(out.starts_with("analyst asks ServiceInvoke on QueryStreamEntriesWithData of Things SensorDataStream: DENIED (403 Forbidden)"), "{out}");
        let decisive: Vec<_> = out.lines().filter(|l| l.ends_with("<= decides")).collect();
        assert_eq!(decisive.len(), 1, "{out}");
        assert!(decisive[0].contains("Default"), "{out}");
        assert!(decisive[0].contains("user analyst and its groups ComposerUsers, DataAnalyst, Users have no ServiceInvoke rule for QueryStreamEntriesWithData on entity SensorDataStream, the instance rules of ThingTemplate Stream or the Things collection; nothing else grants it; default is deny"), "{out}");

        // A group grant on the template decides once it exists.
        let stream = entities::get_entity(&conn, Collection::ThingTemplates, "Stream")
            .await
            .expect("template");
        permissions::set_entity_rule(
            &conn,
            stream.id,
            true,
            &Rule::any(
                PermissionKind::ServiceInvoke,
                PrincipalType::Group,
                "DataAnalyst",
                Effect::Allow,
            ),
        )
        .await
        .expect("rule");
        let (ok, out, _) = explain(&db, &args).await;
        assert!(ok);
        assert!(out.contains(": ALLOWED"), "{out}");
        let decisive: Vec<_> = out.lines().filter(|l| l.ends_with("<= decides")).collect();
        assert!(
            decisive[0].contains("ThingTemplateInstance")
                && decisive[0].contains("Group DataAnalyst"),
            "{out}"
        );
        let _ = thing;

        // Unknown names are clear errors.
        let (ok, _, err) = explain(
            &db,
            &[
                "--user",
                "ghost",
                "--entity-type",
                "Things",
                "--entity",
                "SensorDataStream",
                "--permission",
                "Read",
            ],
        )
        .await;
        assert!(!ok && err.contains("unknown user 'ghost'"), "{err}");
        let (ok, _, err) = explain(
            &db,
            &[
                "--user",
                "analyst",
                "--entity-type",
                "Things",
                "--entity",
                "SensorDataStream",
                "--permission",
                "Execute",
            ],
        )
        .await;
        assert!(!ok && err.contains("unknown permission 'Execute'"), "{err}");
        conn.close().await.expect("close");
        db.drop_database().await;
    }
}
