//! Built-in services from scripts, through the real server on SQLite and PostgreSQL:
//! `Resources["EntityServices"].CreateThing` with `EnableThing`/`IsEnabled` on the new Thing,
//! written with the invocation (and not at all when it throws); Create checked for the caller;
//! `SetPropertyValues`/`GetPropertyValues` seeing the invocation's own writes; and
//! `RuntimeLocalizationFunctions`.

use ironworx_tests::http::{Caller, Reply, admin_call, entity_services, send};
use ironworx_tests::things::{
    call_service as call, generic_thing as thing, grant_user as grant, read_property as read,
    write_property as write,
};
use ironworx_tests::{TestDb, TestServer, backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MAKER: &str = "Maker";
const PASSWORD: &str = "maker-password-1";

/// Adds the Script service `name` to `thing` over REST, as clients send it.
async fn script(
    server: &TestServer,
    thing: &str,
    name: &str,
    params: &[&str],
    result: &str,
    code: &str,
) {
    let rows: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p, "baseType": "STRING"}))
        .collect();
    let reply = admin_call(
        server,
        &format!("/Thingworx/Things/{thing}/Services/AddServiceDefinition"),
        &json!({
            "name": name,
            "parameters": {"rows": rows},
            "resultType": {"rows": [{"name": "result", "baseType": result}]},
            "code": code,
        }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.text);
}

fn result(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    &reply.json["rows"][0]["result"]
}

/// `Factory`'s `service` for the Thing `name`, as the administrator.
async fn run(server: &TestServer, service: &str, name: &str) -> Reply {
    call(
        server,
        &Caller::admin(),
        "Factory",
        service,
        json!({ "name": name }),
    )
    .await
}

fn expect(reply: &Reply, status: StatusCode, backend: impl std::fmt::Display) {
    assert_eq!(reply.status, status, "{backend}: {}", reply.text);
}

async fn exists(server: &TestServer, thing: &str) -> bool {
    let path = format!("/Thingworx/Things/{thing}");
    let reply = send(server, &Caller::admin(), Method::GET, &path, None).await;
    match reply.status {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("GET {path}: {other} {}", reply.text),
    }
}

#[tokio::test]
async fn entity_services_and_thing_services_run_from_scripts() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        thing(&server, "Factory", &[("count", "NUMBER")]).await;
        write(&server, &Caller::admin(), "Factory", "count", json!(1)).await;
        let create = "Resources['EntityServices'].CreateThing({name: name, \
                      thingTemplateName: 'GenericThing'});\n";
        script(
            &server,
            "Factory",
            "Build",
            &["name"],
            "BOOLEAN",
            &format!("{create}Things[name].EnableThing();\nresult = Things[name].IsEnabled();"),
        )
        .await;
        script(
            &server,
            "Factory",
            "BuildAndFail",
            &["name"],
            "NOTHING",
            &format!("{create}Things[name].EnableThing();\nme.count = 5;\nthrow new Error('no');"),
        )
        .await;
        script(
            &server,
            "Factory",
            "Touch",
            &["name"],
            "STRING",
            &format!(
                "{create}try {{ result = String(Things[name].count); }}\n\
                 catch (e) {{ result = e.message; }}"
            ),
        )
        .await;
        script(
            &server,
            "Factory",
            "Values",
            &[],
            "NUMBER",
            "me.SetPropertyValues({values: {rows: [{count: 41}]}});\n\
             result = me.GetPropertyValues().count + 1;",
        )
        .await;

        // Created, enabled and read back in one invocation; written when it returns.
        let built = run(&server, "Build", "Press1").await;
        assert_eq!(result(&built), &json!(true), "{backend}");
        assert!(exists(&server, "Press1").await, "{backend}");
        let enabled = call(&server, &Caller::admin(), "Press1", "IsEnabled", json!({})).await;
        assert_eq!(result(&enabled), &json!(true), "{backend}");
        // A name that exists is refused as REST refuses it.
        let again = run(&server, "Build", "Press1").await;
        expect(&again, StatusCode::BAD_REQUEST, backend);

        // A throw drops the new Thing with every other write.
        let failed = run(&server, "BuildAndFail", "Press2").await;
        expect(&failed, StatusCode::INTERNAL_SERVER_ERROR, backend);
        assert_eq!(failed.json["code"], json!("script_error"), "{backend}");
        assert!(!exists(&server, "Press2").await, "{backend}");
        assert_eq!(
            read(&server, "Factory", "count").await,
            json!(1.0),
            "{backend}"
        );

        // A new Thing's properties wait for the invocation to return.
        let touched = run(&server, "Touch", "Press3").await;
        let message = result(&touched).as_str().unwrap_or_default().to_owned();
        assert!(message.contains("can be used once"), "{backend}: {message}");
        assert!(exists(&server, "Press3").await, "{backend}");

        // SetPropertyValues is kept; GetPropertyValues in the same invocation sees it.
        let values = call(&server, &Caller::admin(), "Factory", "Values", json!({})).await;
        assert_eq!(result(&values), &json!(42.0), "{backend}");
        assert_eq!(
            read(&server, "Factory", "count").await,
            json!(41.0),
            "{backend}"
        );

        // A caller without Create on Things: the same 403 as REST, nothing written.
        entity_services(
            &server,
            "CreateUser",
            &json!({"name": MAKER, "password": PASSWORD}),
        )
        .await;
        grant(&server, "Factory", MAKER, "Build", "ServiceInvoke").await;
        let maker = Caller::Basic(MAKER.to_owned(), PASSWORD.to_owned());
        let direct = send(
            &server,
            &maker,
            Method::POST,
            "/Thingworx/Resources/EntityServices/Services/CreateThing",
            Some(&json!({"name": "Press4", "thingTemplateName": "GenericThing"})),
        )
        .await;
        let scripted = call(
            &server,
            &maker,
            "Factory",
            "Build",
            json!({"name": "Press4"}),
        )
        .await;
        assert_eq!(
            direct.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            direct.text
        );
        assert_eq!(
            scripted.status,
            StatusCode::FORBIDDEN,
            "{backend}: {}",
            scripted.text
        );
        assert_eq!(
            scripted.json["message"], direct.json["message"],
            "{backend}"
        );
        assert!(!exists(&server, "Press4").await, "{backend}");

        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

#[tokio::test]
async fn runtime_localization_from_scripts() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        thing(&server, "Greeter", &[]).await;
        entity_services(&server, "CreateLocalizationTable", &json!({"name": "de"})).await;
        let added = admin_call(
            &server,
            "/Thingworx/LocalizationTables/de/Services/AddOrUpdateToken",
            &json!({"name": "greeting", "value": "Hallo"}),
        )
        .await;
        assert_eq!(added.status, StatusCode::OK, "{backend}: {}", added.text);
        script(
            &server,
            "Greeter",
            "Greet",
            &[],
            "STRING",
            "var l = Resources['RuntimeLocalizationFunctions'];\n\
             result = l.GetEffectiveTokenForLanguage({language: 'de', token: 'greeting'})\n\
               + '|' + l.GetEffectiveToken({token: 'nothing.here'});",
        )
        .await;
        let greeted = call(&server, &Caller::admin(), "Greeter", "Greet", json!({})).await;
        assert_eq!(
            result(&greeted),
            &json!("Hallo|???nothing.here???"),
            "{backend}"
        );
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
