//! What public ThingWorx clients send, through the real server on SQLite and PostgreSQL: a
//! `null` body, single definitions by URL, templates and shapes modelled over REST, 404s that
//! name what a visible entity lacks, permissions on Resources, the `?appKey=` refusal, CORS,
//! `Accept`, a scripted logout, a Stream without a data shape, the metrics format, one
//! `cacheTime` form; and a recorded sequence of their requests (`tests/data/client_replay.json`)
//! replayed with the status each must get.

use ironworx_entity::queries::parts::property_definitions;
use ironworx_tests::forms;
use ironworx_tests::http::{
    Caller, Membership, Reply, admin_call, entity_services, outsider, request, seed_principals,
    send,
};
use ironworx_tests::things::write_property;
use ironworx_tests::{ADMIN_PASSWORD, ADMIN_USER, Backend, TestDb, TestServer, backends, connect};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const PASSWORD: &str = "client-compat-password-1";

/// A server on a fresh database of `backend`, with `env`.
async fn start(backend: Backend, env: &[(&str, &str)]) -> (TestDb, TestServer) {
    let db = TestDb::create(backend).await;
    let server = TestServer::start(&db, env).await;
    (db, server)
}

async fn finish(db: TestDb, server: TestServer) {
    assert!(server.stop().await.success());
    db.drop_database().await;
}

/// Creates the Thing `name` on `template`, as the administrator.
async fn create_thing(server: &TestServer, name: &str, template: &str) {
    entity_services(
        server,
        "CreateThing",
        &json!({"name": name, "thingTemplateName": template}),
    )
    .await;
}

/// A POST with the raw `body` (JSON content type) by `caller`.
async fn post_raw(server: &TestServer, caller: &Caller, path: &str, body: &str) -> Reply {
    let res = request(server, caller, Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("send");
    Reply::of(res).await
}

async fn get(server: &TestServer, caller: &Caller, path: &str) -> Reply {
    send(server, caller, Method::GET, path, None).await
}

/// The message of a JSON error body.
fn message(reply: &Reply) -> &str {
    reply.json["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn electricimp_enable_thing_with_null_body_succeeds() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        create_thing(&server, "Imp1", "GenericThing").await;
        let admin = Caller::admin();
        for service in ["EnableThing", "RestartThing"] {
            for body in ["null", " null\n"] {
                let path = format!("/Thingworx/Things/Imp1/Services/{service}");
                let reply = post_raw(&server, &admin, &path, body).await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "{backend} {service}: {}",
                    reply.text
                );
            }
        }
        let enabled = post_raw(
            &server,
            &admin,
            "/Thingworx/Things/Imp1/Services/IsEnabled",
            "null",
        )
        .await;
        assert_eq!(enabled.json["rows"][0]["result"], json!(true), "{backend}");
        // A resource service and a property write after it, as the library's example does.
        let user = post_raw(
            &server,
            &admin,
            "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
            "null",
        )
        .await;
        assert_eq!(
            user.json["rows"][0]["result"],
            json!(ADMIN_USER),
            "{backend}"
        );
        // `null` is no parameters, not an object: a service that needs one still says so.
        let missing = post_raw(
            &server,
            &admin,
            "/Thingworx/Things/Imp1/Services/AddPropertyDefinition",
            "null",
        )
        .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(
            message(&missing).contains("'name'"),
            "{backend}: {}",
            missing.text
        );
        finish(db, server).await;
    }
}

#[tokio::test]
async fn mcp_server_reads_one_definition_by_url() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let conn = connect(&db).await;
        let outsider = outsider(&conn, "outsider", PASSWORD).await;
        create_thing(&server, "Pump1", "GenericThing").await;
        let things = "/Thingworx/Things/Pump1/Services";
        admin_call(
            &server,
            &format!("{things}/AddPropertyDefinition"),
            &json!({"name": "speed", "type": "NUMBER"}),
        )
        .await;
        admin_call(
            &server,
            &format!("{things}/AddServiceDefinition"),
            &json!({
                "name": "Reset",
                "parameters": {"rows": [{"name": "reason", "baseType": "STRING"}]},
                "resultType": {"rows": [{"name": "result", "baseType": "BOOLEAN"}]}
            }),
        )
        .await;
        admin_call(
            &server,
            &format!("{things}/AddEventDefinition"),
            &json!({"name": "Overheated", "dataShape": "GenericStringList"}),
        )
        .await;
        let admin = Caller::admin();
        let service = get(
            &server,
            &admin,
            "/Thingworx/Things/Pump1/ServiceDefinitions/Reset",
        )
        .await;
        assert_eq!(
            service.status,
            StatusCode::OK,
            "{backend}: {}",
            service.text
        );
        assert_eq!(service.json["name"], "Reset");
        assert!(
            service.json["parameterDefinitions"]
                .to_string()
                .contains("reason"),
            "{backend}: {}",
            service.text
        );
        assert_eq!(service.json["sourceType"], "Thing");
        let property = get(
            &server,
            &admin,
            "/Thingworx/Things/Pump1/PropertyDefinitions/speed",
        )
        .await;
        assert_eq!(
            property.status,
            StatusCode::OK,
            "{backend}: {}",
            property.text
        );
        assert_eq!(property.json["baseType"], "NUMBER");
        let event = get(
            &server,
            &admin,
            "/Thingworx/Things/Pump1/EventDefinitions/Overheated",
        )
        .await;
        assert_eq!(event.status, StatusCode::OK, "{backend}: {}", event.text);
        // A definition the Thing lacks is named in the 404.
        let inherited = get(
            &server,
            &admin,
            "/Thingworx/Things/Pump1/ServiceDefinitions/NoSuchService",
        )
        .await;
        assert_eq!(inherited.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(
            message(&inherited),
            "Thing 'Pump1' has no service 'NoSuchService'",
            "{backend}"
        );
        // An invisible Thing answers exactly as a missing one.
        let hidden = get(
            &server,
            &outsider,
            "/Thingworx/Things/Pump1/ServiceDefinitions/Reset",
        )
        .await;
        let missing = get(
            &server,
            &outsider,
            "/Thingworx/Things/Nope/ServiceDefinitions/Reset",
        )
        .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(
            (hidden.status, hidden.text),
            (missing.status, missing.text),
            "{backend}"
        );
        conn.close().await.expect("close");
        finish(db, server).await;
    }
}

#[tokio::test]
async fn templates_and_shapes_are_modelled_over_rest_and_reach_their_things_at_once() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let conn = connect(&db).await;
        let plain = seed_principals(&conn, &[("plain".into(), Membership::PLAIN)], PASSWORD)
            .await
            .remove(0);
        entity_services(
            &server,
            "CreateThingTemplate",
            &json!({"name": "PumpTemplate", "baseThingTemplateName": "GenericThing"}),
        )
        .await;
        entity_services(&server, "CreateThingShape", &json!({"name": "LabelShape"})).await;
        create_thing(&server, "Pump7", "PumpTemplate").await;
        create_thing(&server, "Other7", "GenericThing").await;
        let admin = Caller::admin();
        // Read first, so the Thing's model is in memory before the template changes.
        let before = get(&server, &admin, "/Thingworx/Things/Pump7/Properties/speed").await;
        assert_eq!(before.status, StatusCode::NOT_FOUND, "{backend}");

        let template = "/Thingworx/ThingTemplates/PumpTemplate/Services";
        admin_call(
            &server,
            &format!("{template}/AddPropertyDefinition"),
            &json!({"name": "speed", "type": "NUMBER", "defaultValue": 3}),
        )
        .await;
        let speed = get(&server, &admin, "/Thingworx/Things/Pump7/Properties/speed").await;
        assert_eq!(speed.status, StatusCode::OK, "{backend}: {}", speed.text);
        assert_eq!(speed.json["rows"][0]["speed"], json!(3.0), "{backend}");
        write_property(&server, &admin, "Pump7", "speed", json!(42)).await;
        let defs = admin_call(
            &server,
            &format!("{template}/GetPropertyDefinitions"),
            &json!({}),
        )
        .await;
        assert_eq!(defs.json["rows"][0]["name"], "speed", "{backend}");
        assert_eq!(
            defs.json["rows"][0]["sourceType"], "ThingTemplate",
            "{backend}"
        );

        admin_call(
            &server,
            &format!("{template}/AddServiceDefinition"),
            &json!({"name": "Calibrate"}),
        )
        .await;
        admin_call(
            &server,
            &format!("{template}/AddEventDefinition"),
            &json!({"name": "Stalled", "dataShape": "GenericStringList"}),
        )
        .await;
        let services = admin_call(
            &server,
            "/Thingworx/Things/Pump7/Services/GetServiceDefinitions",
            &json!({}),
        )
        .await;
        assert!(
            services.text.contains("Calibrate"),
            "{backend}: {}",
            services.text
        );
        let metadata = admin_call(&server, &format!("{template}/GetMetadata"), &json!({})).await;
        assert!(
            metadata.json["eventDefinitions"]["Stalled"].is_object(),
            "{backend}: {}",
            metadata.text
        );
        let thing_metadata = admin_call(
            &server,
            "/Thingworx/Things/Pump7/Services/GetMetadataAsJSON",
            &json!({}),
        )
        .await;
        assert_eq!(
            thing_metadata.json["propertyDefinitions"]["speed"]["sourceName"],
            "PumpTemplate"
        );

        let implementing = admin_call(
            &server,
            &format!("{template}/GetImplementingThings"),
            &json!({}),
        )
        .await;
        let names: Vec<&str> = implementing.json["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names, ["Pump7"], "{backend}");
        let with_data = admin_call(
            &server,
            &format!("{template}/GetImplementingThingsWithData"),
            &json!({}),
        )
        .await;
        assert_eq!(
            with_data.json["rows"][0]["speed"],
            json!(42.0),
            "{backend}: {}",
            with_data.text
        );

        // A shape is modelled the same way.
        let shape = "/Thingworx/ThingShapes/LabelShape/Services";
        admin_call(
            &server,
            &format!("{shape}/AddPropertyDefinition"),
            &json!({"name": "label", "type": "STRING"}),
        )
        .await;
        let labels = admin_call(
            &server,
            &format!("{shape}/GetPropertyDefinition"),
            &json!({"name": "label"}),
        )
        .await;
        assert_eq!(
            labels.json["rows"][0]["sourceType"], "ThingShape",
            "{backend}: {}",
            labels.text
        );

        // Removing the template's property removes it, and its value, from the Thing.
        admin_call(
            &server,
            &format!("{template}/RemovePropertyDefinition"),
            &json!({"name": "speed"}),
        )
        .await;
        let gone = get(&server, &admin, "/Thingworx/Things/Pump7/Properties/speed").await;
        assert_eq!(
            gone.status,
            StatusCode::NOT_FOUND,
            "{backend}: {}",
            gone.text
        );
        assert_eq!(message(&gone), "Thing 'Pump7' has no property 'speed'");

        // Modelling needs design-time Update, reading definitions Metadata.
        let denied = send(
            &server,
            &plain,
            Method::POST,
            &format!("{template}/AddPropertyDefinition"),
            Some(&json!({"name": "x", "type": "STRING"})),
        )
        .await;
        assert_eq!(
            denied.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            denied.text
        );
        assert!(
            message(&denied).contains("Update"),
            "{backend}: {}",
            denied.text
        );
        let denied = send(
            &server,
            &plain,
            Method::POST,
            &format!("{shape}/GetPropertyDefinitions"),
            Some(&json!({})),
        )
        .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{backend}");
        conn.close().await.expect("close");
        finish(db, server).await;
    }
}

#[tokio::test]
async fn mcp_server_is_told_what_a_visible_thing_lacks() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let conn = connect(&db).await;
        let outsider = outsider(&conn, "outsider", PASSWORD).await;
        create_thing(&server, "T1", "GenericThing").await;
        let admin = Caller::admin();
        let service = post_raw(&server, &admin, "/Thingworx/Things/T1/Services/Foo", "{}").await;
        assert_eq!(service.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(
            service.json,
            json!({"code": "not_found", "message": "Thing 'T1' has no service 'Foo'"})
        );
        let property = get(&server, &admin, "/Thingworx/Things/T1/Properties/nope").await;
        assert_eq!(
            message(&property),
            "Thing 'T1' has no property 'nope'",
            "{backend}"
        );
        let route = get(&server, &admin, "/Thingworx/Things/T1/Bogus/Deeper/Still").await;
        assert_eq!(route.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(
            route.json["code"], "not_found",
            "{backend}: a JSON body: {}",
            route.text
        );
        assert!(
            message(&route).contains("Thing 'T1' has no GET route"),
            "{backend}: {}",
            route.text
        );
        let characteristic = get(&server, &admin, "/Thingworx/Things/T1/Bogus").await;
        assert!(
            message(&characteristic).contains("Bogus"),
            "{backend}: {}",
            characteristic.text
        );
        let group_service = post_raw(
            &server,
            &admin,
            "/Thingworx/Groups/Users/Services/Foo",
            "{}",
        )
        .await;
        assert_eq!(
            message(&group_service),
            "Group 'Users' has no service 'Foo'",
            "{backend}"
        );

        // Invisible and missing Things answer alike, naming nothing.
        for path in [
            "/Thingworx/Things/T1/Services/Foo",
            "/Thingworx/Things/NoSuchThing/Services/Foo",
        ] {
            let reply = post_raw(&server, &outsider, path, "{}").await;
            assert_eq!(
                reply.json,
                json!({"code": "not_found", "message": "Entity Not Found"}),
                "{backend} {path}"
            );
        }
        for path in [
            "/Thingworx/Things/T1/Properties/nope",
            "/Thingworx/Things/T1/Bogus/Deeper",
            "/Thingworx/Things/NoSuchThing/Bogus/Deeper",
        ] {
            let reply = get(&server, &outsider, path).await;
            assert_eq!(
                reply.json,
                json!({"code": "not_found", "message": "Entity Not Found"}),
                "{backend} {path}"
            );
        }
        // A path outside every entity is a JSON 404 too.
        let nowhere = get(&server, &admin, "/nowhere").await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
        assert_eq!(nowhere.json["code"], "not_found", "{backend}");
        conn.close().await.expect("close");
        finish(db, server).await;
    }
}

#[tokio::test]
async fn administrator_grants_service_invoke_on_a_resource() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let resource = "/Thingworx/Resources/CurrentSessionInfo/Services";
        admin_call(
            &server,
            &format!("{resource}/AddRunTimePermission"),
            &json!({"principal": "Users", "principalType": "Group", "resource": "*", "type": "ServiceInvoke", "allow": true}),
        )
        .await;
        let rules = admin_call(
            &server,
            &format!("{resource}/GetRunTimePermissionsAsJSON"),
            &json!({}),
        )
        .await;
        assert!(
            rules.text.contains("\"Users\""),
            "{backend}: {}",
            rules.text
        );
        admin_call(
            &server,
            &format!("{resource}/DeleteRunTimePermission"),
            &json!({"principal": "Users", "principalType": "Group", "resource": "*", "type": "ServiceInvoke"}),
        )
        .await;
        // The resource's own services keep working, and so do EntityServices'.
        let user = admin_call(&server, &format!("{resource}/GetCurrentUser"), &json!({})).await;
        assert_eq!(user.json["rows"][0]["result"], json!(ADMIN_USER));
        let visibility = admin_call(
            &server,
            "/Thingworx/Resources/EntityServices/Services/AddVisibilityPermission",
            &json!({"principal": "Everyone", "principalType": "Organization"}),
        )
        .await;
        assert_eq!(visibility.status, StatusCode::OK);
        let listed = get(&server, &Caller::admin(), "/Thingworx/Resources").await;
        assert!(
            listed.text.contains("CurrentSessionInfo"),
            "{backend}: {}",
            listed.text
        );
        let unknown = post_raw(&server, &Caller::admin(), &format!("{resource}/Foo"), "{}").await;
        assert_eq!(
            message(&unknown),
            "Resource 'CurrentSessionInfo' has no service 'Foo'"
        );
        finish(db, server).await;
    }
}

#[tokio::test]
async fn thingworx_7_script_with_app_key_in_url_is_told_the_setting() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let conn = connect(&db).await;
        let key = match seed_principals(&conn, &[("legacy".into(), Membership::PLAIN)], PASSWORD)
            .await
            .remove(0)
        {
            Caller::Key { key, .. } => key,
            other => panic!("a key caller, not {other:?}"),
        };
        let reply = get(
            &server,
            &Caller::Anonymous,
            &format!("/Thingworx/Things?appKey={key}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{backend}");
        assert!(
            message(&reply).contains("--allow-app-key-in-url"),
            "{backend}: {}",
            reply.text
        );
        assert!(
            message(&reply).contains("IRONWORX_ALLOW_APP_KEY_IN_URL"),
            "{backend}"
        );
        conn.close().await.expect("close");
        finish(db, server).await;
    }
}

#[tokio::test]
async fn thingworx_connect_in_a_browser_on_a_listed_origin_passes_cors() {
    const LISTED: &str = "https://app.example";
    for backend in backends() {
        let (db, server) = start(
            backend,
            &[(
                "IRONWORX_CORS_ALLOWED_ORIGINS",
                "https://app.example,http://localhost:3000",
            )],
        )
        .await;
        let client = server.client();
        let preflight = |origin: &'static str| {
            client
                .request(
                    Method::OPTIONS,
                    server.url("/Thingworx/Things/T/Properties/p"),
                )
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "appkey, content-type",
                )
                .send()
        };
        let ok = preflight(LISTED).await.expect("preflight");
        assert!(ok.status().is_success(), "{backend}: {}", ok.status());
        let h = ok.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], LISTED);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let methods = h[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .expect("text");
        assert!(
            methods.contains("PUT") && methods.contains("POST"),
            "{methods}"
        );
        let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .expect("text")
            .to_ascii_lowercase();
        for name in ["appkey", "content-type", "x-xsrf-token", "authorization"] {
            assert!(allowed.contains(name), "{name} in {allowed}");
        }
        let refused = preflight("https://evil.example").await.expect("preflight");
        assert!(!refused.status().is_success(), "{backend}");
        assert!(
            !refused
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        assert!(
            !refused
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );

        // The request itself: CORS headers for the listed origin only.
        for (origin, expected) in [(LISTED, true), ("https://evil.example", false)] {
            let res = client
                .get(server.url("/Thingworx/Things"))
                .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                .header(header::ORIGIN, origin)
                .send()
                .await
                .expect("get");
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(
                res.headers()
                    .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                expected,
                "{origin}"
            );
            assert_eq!(
                res.headers()
                    .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
                expected,
                "{origin}"
            );
        }
        // CORS does not weaken the cross-site protection: a form-like post is still refused,
        // whatever the origin.
        for origin in [LISTED, "https://evil.example"] {
            let res = client
                .post(server.url("/Thingworx/Resources/EntityServices/Services/CreateThing"))
                .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                .header(header::ORIGIN, origin)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(r#"{"name":"Forged","thingTemplateName":"GenericThing"}"#)
                .send()
                .await
                .expect("post");
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{backend} {origin}");
        }
        finish(db, server).await;
    }
    // Without the setting no origin gets anything.
    let (db, server) = start(Backend::Sqlite, &[]).await;
    let res = server
        .client()
        .request(Method::OPTIONS, server.url("/Thingworx/Things"))
        .header(header::ORIGIN, LISTED)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .send()
        .await
        .expect("preflight");
    assert!(
        !res.headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    finish(db, server).await;
}

#[tokio::test]
async fn older_scripts_read_infotables_as_xml_csv_and_html() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        create_thing(&server, "Boiler", "GenericThing").await;
        admin_call(
            &server,
            "/Thingworx/Things/Boiler/Services/AddPropertyDefinition",
            &json!({"name": "label", "type": "STRING", "defaultValue": "a<b,\"c\""}),
        )
        .await;
        let admin = Caller::admin();
        let fetch = |accept: &'static str, method: Method, path: &'static str| {
            let mut builder =
                request(&server, &admin, method.clone(), path).header(header::ACCEPT, accept);
            if method == Method::POST {
                builder = builder
                    .header(header::CONTENT_TYPE, "application/json")
                    .body("{}");
            }
            builder.send()
        };
        let property = "/Thingworx/Things/Boiler/Properties/label";
        let service = "/Thingworx/Things/Boiler/Services/GetPropertyValues";
        for (method, path) in [(Method::GET, property), (Method::POST, service)] {
            for (accept, kind) in [
                ("text/xml", "text/xml"),
                ("application/xml", "text/xml"),
                ("text/csv", "text/csv"),
                ("text/html", "text/html"),
                ("application/json", "application/json"),
            ] {
                let res = fetch(accept, method.clone(), path).await.expect("send");
                assert_eq!(res.status(), StatusCode::OK, "{backend} {accept} {path}");
                let content_type = res.headers()[header::CONTENT_TYPE]
                    .to_str()
                    .expect("text")
                    .to_owned();
                assert!(content_type.starts_with(kind), "{accept}: {content_type}");
                let body = res.text().await.expect("body");
                match kind {
                    "text/xml" => {
                        assert!(body.contains("<InfoTable><DataShape><FieldDefinitions><FieldDefinition name=\"label\" baseType=\"STRING\""), "{body}");
                        assert!(
                            body.contains("<Row><label>a&lt;b,&quot;c&quot;</label></Row>"),
                            "{body}"
                        );
                    }
                    "text/csv" => assert_eq!(body, "label\r\n\"a<b,\"\"c\"\"\"\r\n"),
                    "text/html" => assert!(
                        body.contains("<th>label</th>")
                            && body.contains("<td>a&lt;b,&quot;c&quot;</td>"),
                        "{body}"
                    ),
                    _ => {
                        let json: Value = serde_json::from_str(&body).expect("JSON");
                        assert_eq!(json["rows"][0]["label"], "a<b,\"c\"");
                    }
                }
            }
        }
        // A list is an InfoTable too; errors and documents stay JSON.
        let list = fetch("text/csv", Method::GET, "/Thingworx/Things")
            .await
            .expect("list");
        assert!(
            list.text()
                .await
                .expect("body")
                .starts_with("name,description,")
        );
        let missing = fetch(
            "text/xml",
            Method::GET,
            "/Thingworx/Things/Boiler/Properties/nope",
        )
        .await
        .expect("404");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(
            missing.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("text")
                .starts_with("application/json")
        );
        let document = fetch("text/xml", Method::GET, "/Thingworx/Things/Boiler")
            .await
            .expect("doc");
        assert!(
            document.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("text")
                .starts_with("application/json")
        );
        finish(db, server).await;
    }
}

#[tokio::test]
async fn script_logs_out_with_a_json_body_and_the_session_cookie() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let login = forms::login(&server, "Everyone", ADMIN_USER, ADMIN_PASSWORD).await;
        let session = login.cookie("JSESSIONID").expect("a session").value.clone();
        let cookie = format!("JSESSIONID={session}");
        let with_session = |method: Method, path: &str| {
            forms::browser()
                .request(method, server.url(path))
                .header(header::COOKIE, &cookie)
        };
        let before = with_session(Method::GET, "/Thingworx/Things")
            .send()
            .await
            .expect("get");
        assert_eq!(before.status(), StatusCode::OK, "{backend}");
        let out = with_session(Method::POST, "/Thingworx/Logout")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .expect("logout");
        assert!(out.status().is_redirection(), "{backend}: {}", out.status());
        let after = with_session(Method::GET, "/Thingworx/Things")
            .send()
            .await
            .expect("get");
        assert_eq!(
            after.status(),
            StatusCode::UNAUTHORIZED,
            "{backend}: the session ended"
        );
        finish(db, server).await;
    }
}

#[tokio::test]
async fn stream_without_a_data_shape_answers_its_base_fields() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        create_thing(&server, "Journal", "Stream").await;
        let services = "/Thingworx/Things/Journal/Services";
        admin_call(&server, &format!("{services}/EnableThing"), &json!({})).await;
        admin_call(
            &server,
            &format!("{services}/AddStreamEntry"),
            &json!({"source": "boiler", "tags": "Plant:North"}),
        )
        .await;
        let entries = admin_call(
            &server,
            &format!("{services}/GetStreamEntriesWithData"),
            &json!({}),
        )
        .await;
        let fields = entries.json["dataShape"]["fieldDefinitions"]
            .as_object()
            .expect("fields");
        for field in ["timestamp", "source", "sourceType", "location", "tags"] {
            assert!(
                fields.contains_key(field),
                "{backend}: {field} in {}",
                entries.text
            );
        }
        assert_eq!(entries.json["rows"][0]["source"], "boiler", "{backend}");
        let queried = admin_call(
            &server,
            &format!("{services}/QueryStreamEntriesWithData"),
            &json!({}),
        )
        .await;
        assert_eq!(queried.json["rows"].as_array().map(Vec::len), Some(1));
        finish(db, server).await;
    }
}

#[tokio::test]
async fn prometheus_scraper_gets_the_text_format_unless_it_asks_for_openmetrics() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let scrape = |accept: Option<&'static str>| {
            let mut builder = server.client().get(server.url("/metrics"));
            if let Some(accept) = accept {
                builder = builder.header(header::ACCEPT, accept);
            }
            builder.send()
        };
        for accept in [None, Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")] {
            let res = scrape(accept).await.expect("scrape");
            let kind = res.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("text")
                .to_owned();
            assert!(
                kind.starts_with("text/plain; version=0.0.4"),
                "{backend}: {kind}"
            );
            let body = res.text().await.expect("body");
            assert!(!body.contains("# EOF"), "{body}");
            assert!(
                body.contains("# TYPE ironworx_authorization_decisions_total counter"),
                "{body}"
            );
        }
        let res = scrape(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        ))
        .await
        .expect("scrape");
        let kind = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("text")
            .to_owned();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        assert!(res.text().await.expect("body").ends_with("# EOF\n"));
        finish(db, server).await;
    }
}

#[tokio::test]
async fn ldalvik_reads_one_cache_time_form_and_writes_to_a_disabled_thing() {
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let conn = connect(&db).await;
        create_thing(&server, "Mixed", "GenericThing").await;
        admin_call(
            &server,
            "/Thingworx/Things/Mixed/Services/AddPropertyDefinition",
            &json!({"name": "viaRest", "type": "NUMBER"}),
        )
        .await;
        // A definition as an import writes it: cacheTime read from `0.0`.
        let thing = ironworx_entity::queries::entities::find_entity(
            &conn,
            ironworx_entity::vocab::Collection::Things,
            "Mixed",
        )
        .await
        .expect("find")
        .expect("the Thing");
        property_definitions::insert(
            &conn,
            vec![property_definitions::Model {
                id: 0,
                entity_id: thing.id,
                name: "viaImport".into(),
                base_type: "NUMBER".into(),
                description: String::new(),
                category: String::new(),
                ordinal: 5,
                is_local_only: false,
                aspects: Some(json!({"cacheTime": 0.0, "isPersistent": true})),
            }],
        )
        .await
        .expect("definition");
        ironworx_tests::http::bump(&conn, "ImportedDefinition").await;
        let admin = Caller::admin();
        let defs = admin_call(
            &server,
            "/Thingworx/Things/Mixed/Services/GetPropertyDefinitions",
            &json!({}),
        )
        .await;
        let cache_times: Vec<String> = defs.json["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["aspects"]["cacheTime"].to_string())
            .collect();
        assert_eq!(cache_times, ["0", "0"], "{backend}: {}", defs.text);
        let all = get(&server, &admin, "/Thingworx/Things/Mixed/Properties/*").await;
        for name in ["viaRest", "viaImport"] {
            assert_eq!(
                all.json["dataShape"]["fieldDefinitions"][name]["aspects"]["cacheTime"].to_string(),
                "0",
                "{backend}: {}",
                all.text
            );
        }
        // The Thing was never enabled: a write is accepted (see the README, HTTP API).
        let enabled = post_raw(
            &server,
            &admin,
            "/Thingworx/Things/Mixed/Services/IsEnabled",
            "",
        )
        .await;
        assert_eq!(enabled.json["rows"][0]["result"], json!(false));
        write_property(&server, &admin, "Mixed", "viaRest", json!(7)).await;
        conn.close().await.expect("close");
        finish(db, server).await;
    }
}

/// One recorded request and the status it must get.
#[derive(serde::Deserialize)]
struct Step {
    client: String,
    method: String,
    path: String,
    headers: serde_json::Map<String, Value>,
    body: Option<String>,
    expect: u16,
}

#[derive(serde::Deserialize)]
struct Recording {
    steps: Vec<Step>,
}

#[tokio::test]
async fn recorded_client_requests_replay_with_their_statuses() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/client_replay.json"
    ))
    .expect("the recording");
    let recording: Recording = serde_json::from_str(&text).expect("a recording");
    assert!(recording.steps.len() >= 20);
    for backend in backends() {
        let (db, server) = start(backend, &[]).await;
        let created = entity_services(
            &server,
            "CreateApplicationKey",
            &json!({"name": "ReplayKey", "user": ADMIN_USER}),
        )
        .await;
        let key = created.json["rows"][0]["result"]
            .as_str()
            .expect("the key id")
            .to_owned();
        use base64::Engine as _;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{ADMIN_USER}:{ADMIN_PASSWORD}"))
        );
        let fill = |s: &str| s.replace("${APPKEY}", &key).replace("${BASIC}", &basic);
        for (n, step) in recording.steps.iter().enumerate() {
            let method = Method::from_bytes(step.method.as_bytes()).expect("a method");
            let mut builder = server
                .client()
                .request(method, server.url(&fill(&step.path)));
            for (name, value) in &step.headers {
                builder = builder.header(name.as_str(), fill(value.as_str().unwrap_or_default()));
            }
            if let Some(body) = &step.body {
                builder = builder.body(body.clone());
            }
            let reply = Reply::of(builder.send().await.expect("send")).await;
            assert_eq!(
                reply.status.as_u16(),
                step.expect,
                "{backend}: step {n} ({}, {} {}): {}",
                step.client,
                step.method,
                step.path,
                reply.text
            );
        }
        finish(db, server).await;
    }
}
