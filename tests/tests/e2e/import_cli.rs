//! `ironworx import` and `ironworx export` on a real database: the summary (counts, principals
//! dropped, warnings), `--strict`, and exports in every format and mode that the reference
//! decoder and our own reader read back.

use std::path::{Path, PathBuf};

use ironworx_tests::{TestDb, backends, server_binary};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// Runs the binary on `db`; (whether it succeeded, stdout, stderr).
async fn run(db: &TestDb, data: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = ironworx_tests::cli::run(db, data, args).await;
    (code == 0, out, err)
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn import_and_export_from_the_command_line() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let data = tempfile::tempdir().expect("data dir");
        let template = corpus().join("xml/TestProject__ThingTemplates_PTC.Simulator.TT.xml");
        let template = template.to_str().expect("utf-8");

        // --strict refuses the dangling principals and writes nothing.
        let (ok, _, err) = run(
            &db,
            data.path(),
            &["import", "--mode", "file", "--strict", template],
        )
        .await;
        assert!(!ok, "a strict import with dangling principals fails");
        assert!(
            err.contains("Group:DeviceUsers") && err.contains("Organization:DeviceOrg"),
            "{err}"
        );

        let (ok, out, err) = run(&db, data.path(), &["import", "--mode", "file", template]).await;
        assert!(ok, "{err}");
        assert!(out.contains("imported 1 entities"), "{out}");
        assert!(
            out.contains("ThingTemplates: 1 created, 0 replaced"),
            "{out}"
        );
        assert!(
            out.contains("rules: 3 entity, 3 instance, 0 collection"),
            "{out}"
        );
        assert!(out.contains("dropped principal Group:DeviceUsers"), "{out}");

        let permissions = corpus().join("xml/TestProject__permissions_permissions.xml");
        let permissions = permissions.to_str().expect("utf-8");
        let (ok, out, err) =
            run(&db, data.path(), &["import", "--mode", "file", permissions]).await;
        assert!(ok, "{err}");
        assert!(
            out.contains("file mode: 144 collection-level rule(s) ignored"),
            "{out}"
        );
        let (ok, out, err) = run(
            &db,
            data.path(),
            &["import", "--mode", "storage", permissions],
        )
        .await;
        assert!(ok, "{err}");
        assert!(out.contains("144 collection"), "{out}");

        let out_dir = tempfile::tempdir().expect("out dir");
        for (mode, format, name) in [
            ("file", "xml", "Entities.xml"),
            ("file", "twx", "Entities.twx"),
            ("file", "zip", "Entities.zip"),
            ("storage", "zip", "Storage.zip"),
            ("storage", "xml", "tree"),
        ] {
            let target = out_dir.path().join(name);
            let target = target.to_str().expect("utf-8");
            let (ok, out, err) = run(
                &db,
                data.path(),
                &["export", "--mode", mode, "--format", format, target],
            )
            .await;
            assert!(ok, "{mode}/{format}: {err}");
            assert!(out.contains("exported"), "{out}");
            let read = ironworx_importer::source::read_path(Path::new(target), &Default::default())
                .unwrap_or_else(|e| panic!("{mode}/{format}: {e}"));
            assert!(
                read.entities.iter().any(|e| e.name == "PTC.Simulator.TT"),
                "{mode}/{format}: the template is exported"
            );
            assert_eq!(
                read.collection_rules.is_empty(),
                mode == "file",
                "{mode}/{format}: collection rules only in storage mode"
            );
        }
        let (ok, _, err) = run(
            &db,
            data.path(),
            &["export", "--mode", "storage", "--format", "twx", "x.twx"],
        )
        .await;
        assert!(!ok && err.contains("collection permissions"), "{err}");

        // The reference decoder reads what we write.
        let twx = out_dir.path().join("Entities.twx");
        let json = out_dir.path().join("Entities.json");
        let status = std::process::Command::new("python3")
            .arg(corpus().join("../tools/twxdecode.py"))
            .arg(&twx)
            .arg(&json)
            .status()
            .expect("python3");
        assert!(status.success(), "twxdecode.py reads our .twx");
        let decoded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
        let templates = decoded["ThingTemplates"]["ThingTemplate"]
            .as_array()
            .expect("templates");
        assert!(templates.iter().any(|t| t["name"] == "PTC.Simulator.TT"));
        // The header in ThingWorx's order; the server's built-in entities left out.
        let keys: Vec<&str> = decoded
            .as_object()
            .expect("root")
            .keys()
            .take(7)
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "schemaVersion",
                "majorVersion",
                "minorVersion",
                "revision",
                "build",
                "modelPersistenceProviderPackage",
                "universal"
            ]
        );
        let names = |path: &Path| -> Vec<String> {
            ironworx_importer::source::read_path(path, &Default::default())
                .expect("read back")
                .entities
                .iter()
                .map(|e| e.path())
                .collect()
        };
        let plain = names(&out_dir.path().join("Entities.xml"));
        assert!(
            !plain
                .iter()
                .any(|p| p == "Users/Administrator" || p == "ThingTemplates/GenericThing"),
            "{plain:?}"
        );
        let with_system = out_dir.path().join("System.xml");
        let with_system = with_system.to_str().expect("utf-8");
        let (ok, _, err) = run(
            &db,
            data.path(),
            &[
                "export",
                "--mode",
                "file",
                "--format",
                "xml",
                "--include-system",
                with_system,
            ],
        )
        .await;
        assert!(ok, "{err}");
        let all = names(Path::new(with_system));
        assert!(
            all.iter().any(|p| p == "Users/Administrator")
                && all.iter().any(|p| p == "ThingTemplates/GenericThing"),
            "{all:?}"
        );

        // `convert` moves an export between formats without the database.
        let converted = out_dir.path().join("Converted.xml");
        let back = out_dir.path().join("Back.twx");
        for (from, to) in [
            (twx.as_path(), converted.as_path()),
            (converted.as_path(), back.as_path()),
        ] {
            let out = tokio::process::Command::new(server_binary().expect("binary"))
                .arg("convert")
                .arg(from)
                .arg(to)
                .output()
                .await
                .expect("run convert");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("converted"));
        }
        assert_eq!(names(&back), plain);
        db.drop_database().await;
    }
}
