//! Every Script service and subscription of the real exports in `../shared/corpus` compiles in
//! the server's script engine, wrapped as the server wraps it (its parameters as locals); the
//! VirtualProductionLine exports, imported, run their services through the real server on
//! SQLite and PostgreSQL (and those that cannot run fail with the reason).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ironworx_importer::model::{ConfigurationTable, Definitions, FieldDefinition, Kind};
use ironworx_importer::plan::Mode;
use ironworx_importer::{Limits, source};
use ironworx_server::script::catalog::{Param, wrap};
use ironworx_server::script::engine::{self, compiles};
use ironworx_tests::http::{Caller, Reply, send};
use ironworx_tests::import_export::import_path;
use ironworx_tests::{TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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

/// The VirtualProductionLine exports, imported together.
const PRODUCTION_LINE: &[&str] = &[
    "ThingworxVirtualProductionLine__CarProductionLineProject.xml",
    "ThingworxVirtualProductionLine__BeerLineProject.xml",
    "ThingworxVirtualProductionLine__LineV2Project.xml",
    "ThingworxVirtualProductionLine__Entities.xml",
];

async fn run(server: &TestServer, thing: &str, service: &str, body: Value) -> Reply {
    let path = format!("/Thingworx/Things/{thing}/Services/{service}");
    send(server, &Caller::admin(), Method::POST, &path, Some(&body)).await
}

/// The `result` of a primitive answer, after a 200.
fn result(reply: &Reply, what: &str) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text);
    reply.json["rows"][0]["result"].clone()
}

/// A script error of `thing`'s `service` whose message contains `why`.
fn refused(reply: &Reply, service: &str, why: &str) {
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{service}: {}",
        reply.text
    );
    assert_eq!(
        reply.json["code"],
        json!("script_error"),
        "{service}: {}",
        reply.text
    );
    assert_eq!(reply.json["service"], json!(service), "{}", reply.text);
    let message = reply.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{service}: {message}");
}

#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn virtual_production_line_services_run_after_import() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        for file in PRODUCTION_LINE {
            import_path(&conn, &corpus().join("xml").join(file), Mode::File)
                .await
                .expect("the export imports");
        }
        // The car line's part stock, as its DataTable held it in ThingWorx (exports carry no
        // rows).
        let articles = [
            "Bodies",
            "FinishedProducts",
            "Frames",
            "Paint",
            "Rims",
            "Steer",
            "Tires",
            "Wheels",
        ];
        let rows: Vec<Value> = articles
            .iter()
            .map(|a| json!({"Article": a, "Stock": 3}))
            .collect();
        let seeded = run(
            &server,
            "CarPartStock",
            "AddOrUpdateDataTableEntries",
            json!({"values": {"rows": rows}}),
        )
        .await;
        assert_eq!(seeded.status, StatusCode::OK, "{backend}: {}", seeded.text);
        // Assemblies read the stock they need (a Thing's own implementation overrides its
        // shape's); producers answer from their own properties or at once.
        let amount = json!({"amount": 2});
        let assets = [
            "Asset_BodyAssembly",
            "Asset_WheelAssembly",
            "Asset_MainAssembly",
            "Asset_Accessorizer",
            "Asset_TireProducer",
            "Asset_RimProducer",
            "Asset_SteerProducer",
            "Asset_FrameProducer",
            "Asset_PaintProducer",
        ];
        for asset in assets {
            let reply = run(&server, asset, "checkIfCanProduce", amount.clone()).await;
            assert_eq!(result(&reply, asset), json!(true), "{backend}: {asset}");
        }
        // The stock's own services: reset every article (UpdateDataTableEntries from a loop of
        // CreateValues) and read them sorted.
        let reset = run(&server, "CarPartStock", "ResetToDefaultValues", json!({})).await;
        assert_eq!(reset.status, StatusCode::OK, "{backend}: {}", reset.text);
        let sorted = run(&server, "CarPartStock", "GetDataEntriesSorted", json!({})).await;
        assert_eq!(sorted.status, StatusCode::OK, "{backend}: {}", sorted.text);
        let listed: Vec<(Value, Value)> = sorted.json["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| (r["Article"].clone(), r["Stock"].clone()))
            .collect();
        let expected: Vec<(Value, Value)> = articles.iter().map(|a| (json!(a), json!(0))).collect();
        assert_eq!(listed, expected, "{backend}");
        for asset in [
            "Asset_BodyAssembly",
            "Asset_WheelAssembly",
            "Asset_MainAssembly",
        ] {
            let reply = run(&server, asset, "checkIfCanProduce", amount.clone()).await;
            assert_eq!(result(&reply, asset), json!(false), "{backend}: {asset}");
        }
        // The web shop basket (a DataTable): find, total (rows by index), empty.
        let basket = json!({"values": {"rows": [
            {"basketID": 1, "customerID": 7, "personID": 1, "Price": 2.5, "Quantity": 4},
            {"basketID": 2, "customerID": 7, "personID": 1, "Price": 10, "Quantity": 1},
            {"basketID": 3, "customerID": 8, "personID": 2, "Price": 10, "Quantity": 1},
        ]}});
        let filled = run(
            &server,
            "WebshopBasket",
            "AddOrUpdateDataTableEntries",
            basket,
        )
        .await;
        assert_eq!(filled.status, StatusCode::OK, "{backend}: {}", filled.text);
        let customer = json!({"customerID": 7, "personID": 1});
        let items = run(
            &server,
            "WebshopBasket",
            "getItemsInBasketFromCustomer",
            customer.clone(),
        )
        .await;
        assert_eq!(
            items.json["rows"].as_array().map(Vec::len),
            Some(2),
            "{backend}: {}",
            items.text
        );
        let total = run(
            &server,
            "WebshopBasket",
            "getTotalCostPriceForCustomer",
            customer.clone(),
        )
        .await;
        assert_eq!(result(&total, "total"), json!(20.0), "{backend}");
        let emptied = run(&server, "WebshopBasket", "emptyBasketForCustomer", customer).await;
        assert_eq!(
            emptied.status,
            StatusCode::OK,
            "{backend}: {}",
            emptied.text
        );
        let left = run(
            &server,
            "WebshopBasket",
            "GetDataTableEntryCount",
            json!({}),
        )
        .await;
        assert_eq!(result(&left, "count"), json!(1), "{backend}");
        // What does not run, and why (README, "Scripts"): a DataTable no export holds, a
        // service of a SQL handler, a network resource.
        let beer = run(
            &server,
            "Asset_BeerCaseFiller",
            "checkIfCanProduce",
            amount.clone(),
        )
        .await;
        refused(
            &beer,
            "checkIfCanProduce",
            "cannot read property 'CreateValues' of undefined",
        );
        let line = run(
            &server,
            "Asset_Assembly",
            "checkIfCanProduce",
            amount.clone(),
        )
        .await;
        refused(
            &line,
            "checkIfCanProduce",
            "cannot read property 'CreateValues' of undefined",
        );
        let erp = run(
            &server,
            "ERPSimulationDB.DataSource",
            "buyArticleStock",
            json!({}),
        )
        .await;
        refused(&erp, "buyArticleStock", "SQLQuery handler");
        let web = run(&server, "Asset_B_Producer", "TestJE", json!({})).await;
        refused(
            &web,
            "TestJE",
            "'ContentLoaderFunctions' is not available to scripts",
        );

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

/// The InternetOfThings export's `SmartOfficeCreator.CreateRoom` creates a room Thing with
/// `Resources["EntityServices"].CreateThing`, then enables and restarts it: after import it
/// runs, the room exists enabled on its template, and a second call leaves it as it is.
#[tokio::test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
async fn smart_office_creator_creates_rooms_after_import() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let conn = connect(&db).await;
        import_path(
            &conn,
            &corpus().join("xml").join("InternetOfThings__Entities.xml"),
            Mode::File,
        )
        .await
        .expect("the export imports");
        let room = json!({"RoomName": "MeetingRoom"});
        for _ in 0..2 {
            let created = run(&server, "SmartOfficeCreator", "CreateRoom", room.clone()).await;
            assert_eq!(
                created.status,
                StatusCode::OK,
                "{backend}: {}",
                created.text
            );
            let enabled = run(&server, "MeetingRoom", "IsEnabled", json!({})).await;
            assert_eq!(result(&enabled, "IsEnabled"), json!(true), "{backend}");
        }
        let document = send(
            &server,
            &Caller::admin(),
            Method::GET,
            "/Thingworx/Things/MeetingRoom",
            None,
        )
        .await;
        assert_eq!(
            document.status,
            StatusCode::OK,
            "{backend}: {}",
            document.text
        );
        assert!(
            document.text.contains("SmartOfficeTemplate"),
            "{backend}: {}",
            document.text
        );
        drop(conn);
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
