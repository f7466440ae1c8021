//! Imports never do what the same caller could not do through the REST services one by one:
//! a key's user and id, a user's password hash and `enabled` flag, owners, memberships in
//! groups and rules on entities the caller may not edit. A security administrator still
//! restores everything an export holds. Ownership follows the principal's identity: a new
//! user that takes a deleted one's name owns nothing. Every test runs on SQLite and
//! PostgreSQL through the real server.

use ironworx_tests::http::{Caller, Reply, admin_call, entity_services, send, upload};
use ironworx_tests::{TestDb, TestServer, backends, connect, create_user};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = "Import-Test-Password-1";

fn user(name: &str) -> Caller {
    Caller::Basic(name.to_owned(), PASSWORD.to_owned())
}

fn entities(body: &str) -> Vec<u8> {
    format!("<Entities majorVersion=\"9\" minorVersion=\"3\" universal=\"\">{body}</Entities>")
        .into_bytes()
}

/// Grants `principal` design-time `kind` on `collection`.
async fn grant_collection(server: &TestServer, principal: &str, collection: &str, kind: &str) {
    admin_call(
        server,
        "/Thingworx/Resources/CollectionFunctions/Services/AddCollectionDesignTimePermission",
        &json!({"principal": principal, "principalType": "User", "type": kind,
                "allow": true, "collectionName": collection}),
    )
    .await;
}

/// Grants user `principal` design-time `kind` on entity `collection/name`.
async fn grant_entity(server: &TestServer, principal: &str, entity: &str, kind: &str) {
    admin_call(
        server,
        &format!("/Thingworx/{entity}/Services/AddDesignTimePermission"),
        &json!({"principal": principal, "principalType": "User", "type": kind, "allow": true}),
    )
    .await;
}

/// `GET /Thingworx/Users` with the `appKey` header `key`: whether the key authenticates.
async fn key_works(server: &TestServer, key: &str) -> bool {
    let caller = Caller::Key {
        user: String::new(),
        key: key.to_owned(),
    };
    let reply = send(server, &caller, Method::GET, "/Thingworx/Users", None).await;
    reply.status == StatusCode::OK
}

/// Whether `name` logs in with `password` (Basic credentials on its own user services).
async fn logs_in(server: &TestServer, name: &str, password: &str) -> bool {
    let caller = Caller::Basic(name.to_owned(), password.to_owned());
    let reply = send(
        server,
        &caller,
        Method::POST,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
        Some(&json!({})),
    )
    .await;
    reply.status == StatusCode::OK
}

/// `DELETE /Thingworx/Things/<name>` by `caller`, as a script sends it.
async fn delete_thing(server: &TestServer, caller: &Caller, name: &str) -> Reply {
    let builder = ironworx_tests::http::request(
        server,
        caller,
        Method::DELETE,
        &format!("/Thingworx/Things/{name}"),
    )
    .header("X-Requested-With", "XMLHttpRequest");
    Reply::of(builder.send().await.expect("send the delete")).await
}

fn forbidden(reply: &Reply, message: &str) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.text.contains(message), "{message}: {}", reply.text);
}

fn warned(reply: &Reply, words: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.json["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains(words)))),
        "a warning with '{words}': {}",
        reply.text
    );
}

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestServer, TestDb) -> Fut,
    Fut: std::future::Future<Output = (TestServer, TestDb)>,
{
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        let (server, db) = test(server, db).await;
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}

fn key_document(name: &str, key_id: &str, user: &str) -> Vec<u8> {
    entities(&format!(
        "<ApplicationKeys><ApplicationKey name=\"{name}\" keyId=\"{key_id}\" \
         userNameReference=\"{user}\" clientName=\"\" ipWhitelist=\"\" \
         expirationDate=\"4102444800000\"></ApplicationKey></ApplicationKeys>"
    ))
}

/// A user who may create application keys cannot import one acting as someone else, nor
/// choose a key id; a security administrator restores both.
#[tokio::test]
async fn imported_keys_act_as_their_importer_and_get_no_chosen_id() {
    on_every_backend(|server, db| async move {
        let conn = connect(&db).await;
        create_user(&conn, "keymaker", PASSWORD).await;
        grant_collection(&server, "keymaker", "ApplicationKeys", "Create").await;
        let keymaker = user("keymaker");

        // The REST service refuses a key for someone else.
        let reply = send(
            &server,
            &keymaker,
            Method::POST,
            "/Thingworx/Resources/EntityServices/Services/CreateApplicationKey",
            Some(&json!({"name": "ViaRest", "user": "Administrator"})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

        // So does the importer, and the chosen key id authenticates nobody.
        let chosen = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
        let reply = upload(
            &server,
            &keymaker,
            "keys.xml",
            &key_document("Escalate", chosen, "Administrator"),
        )
        .await;
        forbidden(&reply, "Not authorized for SetUserName on * in Escalate");
        assert!(!key_works(&server, chosen).await);

        // A key of its own is imported, without the chosen id.
        let own = "1c2d3e4f-5061-4b7c-9d8e-0f1a2b3c4d5e";
        let reply = upload(
            &server,
            &keymaker,
            "keys.xml",
            &key_document("Mine", own, "keymaker"),
        )
        .await;
        warned(&reply, "the key id was not imported");
        assert!(!key_works(&server, own).await);

        // A security administrator restores the key as the export says.
        let reply = upload(
            &server,
            &Caller::admin(),
            "keys.xml",
            &key_document("Restored", chosen, "Administrator"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(key_works(&server, chosen).await);
        conn.close().await.expect("close");
        (server, db)
    })
    .await;
}

fn user_document(name: &str, enabled: bool, hash: &str) -> Vec<u8> {
    let password = if hash.is_empty() {
        String::new()
    } else {
        format!(
            " passwordHash=\"{hash}\" passwordHashAlgorithm=\"PBKDF2WithHmacSHA512\" \
             passwordHashIterationCount=\"1000\" passwordHashSaltSizeInBytes=\"16\" \
             passwordHashSizeInBytes=\"64\""
        )
    };
    entities(&format!(
        "<Users><User name=\"{name}\" enabled=\"{enabled}\" locked=\"false\"{password}>\
         </User></Users>"
    ))
}

/// A user who may update another user cannot set its password hash or disable it through an
/// import; a security administrator can.
#[tokio::test]
async fn imported_users_keep_their_password_and_state_for_a_delegate() {
    on_every_backend(|server, db| async move {
        let conn = connect(&db).await;
        create_user(&conn, "victim", PASSWORD).await;
        create_user(&conn, "delegate", PASSWORD).await;
        // Collection rules, since an import replaces the rules of the users it holds.
        for kind in ["Create", "Update"] {
            grant_collection(&server, "delegate", "Users", kind).await;
        }
        let delegate = user("delegate");
        let chosen = "Attacker-Chosen-Password-9";
        let hash = ironworx_server::auth::pbkdf2::hash(chosen, &[9u8; 16], 1000, 64);

        let reply = upload(
            &server,
            &delegate,
            "users.xml",
            &user_document("victim", true, &hash),
        )
        .await;
        warned(&reply, "the password hash was not imported");
        assert!(!logs_in(&server, "victim", chosen).await);
        assert!(logs_in(&server, "victim", PASSWORD).await);

        // Disabling takes the right to DisableUser, as the service does.
        let reply = upload(
            &server,
            &delegate,
            "users.xml",
            &user_document("victim", false, ""),
        )
        .await;
        forbidden(
            &reply,
            "Not authorized for ServiceInvoke on DisableUser in victim",
        );
        assert!(logs_in(&server, "victim", PASSWORD).await);

        // A security administrator restores the password.
        let reply = upload(
            &server,
            &Caller::admin(),
            "users.xml",
            &user_document("victim", true, &hash),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(logs_in(&server, "victim", chosen).await);
        conn.close().await.expect("close");
        (server, db)
    })
    .await;
}

fn thing_document(name: &str, owner: &str, rules: &str) -> Vec<u8> {
    entities(&format!(
        "<Things><Thing name=\"{name}\" thingTemplate=\"GenericThing\" enabled=\"true\">\
         <Owner name=\"{owner}\" type=\"User\"></Owner>{rules}</Thing></Things>"
    ))
}

/// The owner in an export is not applied for a caller without security-administrator rights:
/// a replaced entity keeps its owner, a new one is the caller's.
#[tokio::test]
async fn imports_do_not_hand_out_ownership() {
    on_every_backend(|server, db| async move {
        let conn = connect(&db).await;
        create_user(&conn, "updater", PASSWORD).await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Pump", "thingTemplateName": "GenericThing"}),
        )
        .await;
        grant_collection(&server, "updater", "Things", "Create").await;
        grant_entity(&server, "updater", "Things/Pump", "Update").await;
        let updater = user("updater");

        let reply = upload(
            &server,
            &updater,
            "pump.xml",
            &thing_document("Pump", "updater", ""),
        )
        .await;
        warned(&reply, "was not applied");
        let reply = delete_thing(&server, &updater, "Pump").await;
        forbidden(&reply, "Not authorized for Delete");
        let doc = send(
            &server,
            &Caller::admin(),
            Method::GET,
            "/Thingworx/Things/Pump",
            None,
        )
        .await;
        assert_eq!(owner_of(&doc), Some("Administrator"), "{}", doc.text);

        // A new entity is owned by its importer, whatever the file says.
        let reply = upload(
            &server,
            &updater,
            "fresh.xml",
            &thing_document("Fresh", "Administrator", ""),
        )
        .await;
        warned(&reply, "was not applied");
        let doc = send(
            &server,
            &updater,
            Method::GET,
            "/Thingworx/Things/Fresh",
            None,
        )
        .await;
        assert_eq!(owner_of(&doc), Some("updater"), "{}", doc.text);
        conn.close().await.expect("close");
        (server, db)
    })
    .await;
}

/// The owner's name in an entity document.
fn owner_of(doc: &Reply) -> Option<&str> {
    let owner = &doc.json["owner"];
    owner["name"].as_str().or_else(|| owner.as_str())
}

/// A new user with a deleted owner's name owns nothing, whether the entity was created
/// through the API or imported by a security administrator naming a missing owner.
#[tokio::test]
async fn ownership_follows_identity_not_name() {
    on_every_backend(|server, db| async move {
        let conn = connect(&db).await;
        create_user(&conn, "olduser", PASSWORD).await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Legacy", "thingTemplateName": "GenericThing",
                    "ownerUserName": "olduser"}),
        )
        .await;
        let olduser = user("olduser");
        let reply = send(
            &server,
            &olduser,
            Method::GET,
            "/Thingworx/Things/Legacy",
            None,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "the owner reads it: {}",
            reply.text
        );

        entity_services(&server, "DeleteUser", &json!({"name": "olduser"})).await;
        create_user(&conn, "olduser", PASSWORD).await;
        let reply = delete_thing(&server, &olduser, "Legacy").await;
        forbidden(&reply, "Not authorized for Delete");
        let doc = send(
            &server,
            &Caller::admin(),
            Method::GET,
            "/Thingworx/Things/Legacy",
            None,
        )
        .await;
        assert_eq!(owner_of(&doc), None, "{}", doc.text);

        // An owner that exists nowhere is not kept as a name for a later namesake.
        let reply = upload(
            &server,
            &Caller::admin(),
            "ghost.xml",
            &thing_document("Haunted", "ghost", ""),
        )
        .await;
        warned(&reply, "owners defined nowhere");
        create_user(&conn, "ghost", PASSWORD).await;
        let reply = delete_thing(&server, &user("ghost"), "Haunted").await;
        forbidden(&reply, "Not authorized for Delete");
        conn.close().await.expect("close");
        (server, db)
    })
    .await;
}

/// Memberships in a group and rules on an entity take the right to update it, as the
/// services that add them do; nothing of a refused import is written.
#[tokio::test]
async fn imported_memberships_and_rules_need_update_on_their_entity() {
    on_every_backend(|server, db| async move {
        let conn = connect(&db).await;
        create_user(&conn, "joiner", PASSWORD).await;
        entity_services(&server, "CreateGroup", &json!({"name": "Operators"})).await;
        entity_services(
            &server,
            "CreateThing",
            &json!({"name": "Valve", "thingTemplateName": "GenericThing"}),
        )
        .await;
        for collection in ["Groups", "Things"] {
            grant_collection(&server, "joiner", collection, "Create").await;
        }
        let joiner = user("joiner");

        let group = entities(
            "<Groups><Group name=\"Operators\"><Members><Members>\
             <Member name=\"joiner\" type=\"User\"></Member></Members></Members></Group>\
             </Groups>",
        );
        let reply = upload(&server, &joiner, "group.xml", &group).await;
        forbidden(&reply, "Not authorized for Update on * in Operators");
        let members = admin_call(
            &server,
            "/Thingworx/Groups/Operators/Services/GetGroupMembers",
            &json!({}),
        )
        .await;
        assert!(!members.text.contains("joiner"), "{}", members.text);

        let rules = "<RunTimePermissions><Permissions resourceName=\"*\"><PropertyRead>\
                     <Principal isPermitted=\"true\" name=\"joiner\" type=\"User\"></Principal>\
                     </PropertyRead></Permissions></RunTimePermissions>";
        let reply = upload(
            &server,
            &joiner,
            "valve.xml",
            &thing_document("Valve", "Administrator", rules),
        )
        .await;
        forbidden(&reply, "Not authorized for Update on * in Valve");
        let check = send(
            &server,
            &joiner,
            Method::GET,
            "/Thingworx/Things/Valve/Properties/*",
            None,
        )
        .await;
        assert_ne!(check.status, StatusCode::OK, "{}", check.text);
        conn.close().await.expect("close");
        (server, db)
    })
    .await;
}
