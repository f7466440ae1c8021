//! HTTP helpers for the end-to-end tests: who calls ([`Caller`]: nobody, Basic credentials or an
//! application key), one request answered as a [`Reply`] (status and body, as JSON when it
//! is), test principals seeded in one transaction with an application key each, and the
//! administrator's service calls.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::groups;
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::vocab::MemberType;
use reqwest::{Method, RequestBuilder, StatusCode};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::Value;

use crate::{ADMIN_PASSWORD, ADMIN_USER, TestServer};

/// Who sends a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// `Authorization: Basic` with a user name and password.
    Basic(String, String),
    /// The `appKey` header with a key id, acting as `user`.
    Key {
        /// The user the key acts as.
        user: String,
        /// The key id.
        key: String,
    },
}

impl Caller {
    /// The built-in administrator, by Basic credentials.
    pub fn admin() -> Caller {
        Caller::Basic(ADMIN_USER.to_owned(), ADMIN_PASSWORD.to_owned())
    }

    /// The user name, empty for [`Caller::Anonymous`].
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "",
            Caller::Basic(user, _) | Caller::Key { user, .. } => user,
        }
    }

    /// `builder` with this caller's credentials.
    pub fn authorize(&self, builder: RequestBuilder) -> RequestBuilder {
        match self {
            Caller::Anonymous => builder,
            Caller::Basic(user, password) => builder.basic_auth(user, Some(password)),
            Caller::Key { key, .. } => builder.header("appKey", key),
        }
    }
}

/// A response: its status and its body.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Reply {
    /// Reads `response` to its end.
    ///
    /// # Panics
    /// When the body cannot be read.
    pub async fn of(response: reqwest::Response) -> Reply {
        let status = response.status();
        let text = response.text().await.expect("read the body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, text, json }
    }
}

/// A request of `method` to `path` by `caller`, not sent yet.
pub fn request(server: &TestServer, caller: &Caller, method: Method, path: &str) -> RequestBuilder {
    caller.authorize(server.client().request(method, server.url(path)))
}

/// Sends `method path` by `caller` with `body` as JSON (none when `None`).
///
/// # Panics
/// When the request cannot be sent.
pub async fn send(
    server: &TestServer,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let mut builder = request(server, caller, method, path);
    if let Some(body) = body {
        builder = builder.json(body);
    }
    Reply::of(builder.send().await.expect("send the request")).await
}

/// A service call (`POST` with a JSON body) by the administrator; panics unless it answers
/// 200.
///
/// # Panics
/// When the service does not answer 200.
pub async fn admin_call(server: &TestServer, path: &str, body: &Value) -> Reply {
    let reply = send(server, &Caller::admin(), Method::POST, path, Some(body)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "POST {path} {body} as the administrator: {}",
        reply.text
    );
    reply
}

/// The administrator's `Resources/EntityServices/Services/<service>` call; panics unless it
/// answers 200.
pub async fn entity_services(server: &TestServer, service: &str, body: &Value) -> Reply {
    admin_call(
        server,
        &format!("/Thingworx/Resources/EntityServices/Services/{service}"),
        body,
    )
    .await
}

/// What a seeded principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Membership {
    /// Stays in `Users` (and so in the organization `Everyone`); `false` removes it, so that
    /// it sees nothing through the default visibility.
    pub users: bool,
    /// Joins `SecurityAdministrators`.
    pub security_administrator: bool,
}

impl Membership {
    /// A plain user, as every new user is.
    pub const PLAIN: Membership = Membership {
        users: true,
        security_administrator: false,
    };
}

/// Creates the users `names` (each with `password` and the membership given), each with an
/// application key of its own, in one transaction with an audit row, so the server's next
/// request sees them; the callers, by key, in the order given.
///
/// # Panics
/// When the database refuses.
pub async fn seed_principals(
    db: &DatabaseConnection,
    users_wanted: &[(String, Membership)],
    password: &str,
) -> Vec<Caller> {
    let hash = hash_of(password);
    let txn = db.begin().await.expect("begin");
    let mut callers = Vec::with_capacity(users_wanted.len());
    for (name, membership) in users_wanted {
        let record = users::create_user(
            &txn,
            &NewUser {
                name: name.clone(),
                password: Some(PasswordRecord::argon2id(hash.clone())),
                ..NewUser::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create user {name}: {e}"));
        if !membership.users {
            groups::remove_member(&txn, "Users", name, MemberType::User)
                .await
                .expect("leave Users");
        }
        if membership.security_administrator {
            groups::add_member(&txn, "SecurityAdministrators", name, MemberType::User)
                .await
                .expect("join SecurityAdministrators");
        }
        let key = format!("key-{}", uuid::Uuid::new_v4());
        app_keys::create_app_key(
            &txn,
            &NewAppKey {
                name: format!("{name}Key"),
                fields: EntityFields::default(),
                key_hash: Some(ironworx_server::auth::app_key::key_hash(&key)),
                key_sealed: None,
                user_id: Some(record.entity.id),
                expiration_date: None,
                client_name: String::new(),
                ip_whitelist: String::new(),
            },
        )
        .await
        .expect("create the key");
        callers.push(Caller::Key {
            user: name.clone(),
            key,
        });
    }
    bump(&txn, "SeedPrincipals").await;
    txn.commit().await.expect("commit");
    callers
}

/// The user `name` in no group, not even `Users`, with `password` and an application key of
/// its own (see [`seed_principals`]); the caller, by key.
///
/// # Panics
/// When the database refuses.
pub async fn outsider(db: &DatabaseConnection, name: &str, password: &str) -> Caller {
    let membership = Membership {
        users: false,
        ..Membership::PLAIN
    };
    seed_principals(db, &[(name.to_owned(), membership)], password)
        .await
        .remove(0)
}

/// The argon2id hash of `password`, computed once per password and process (hashing is
/// deliberately slow).
fn hash_of(password: &str) -> String {
    static HASHES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let mut hashes = HASHES.lock().unwrap_or_else(PoisonError::into_inner);
    hashes
        .entry(password.to_owned())
        .or_insert_with(|| {
            ironworx_server::auth::hashing::hash_password(password).expect("hash the password")
        })
        .clone()
}

/// Records an audit row, so that every server reloads what was written beside it.
///
/// # Panics
/// When the database refuses.
pub async fn bump<C: sea_orm::ConnectionTrait>(db: &C, action: &str) {
    audit::record(
        db,
        &Change {
            actor: "System".into(),
            action: action.into(),
            target_collection: String::new(),
            target_name: String::new(),
            detail: None,
            ..Change::default()
        },
    )
    .await
    .expect("record the change");
}

/// The multipart boundary of [`upload`].
const BOUNDARY: &str = "ironworx-test-boundary-7f3a";

/// `POST /Thingworx/Importer?purpose=import` by `caller`: `bytes` as the multipart field
/// `file` called `file_name`, with the importer's XSRF header.
///
/// # Panics
/// When the request cannot be sent.
pub async fn upload(server: &TestServer, caller: &Caller, file_name: &str, bytes: &[u8]) -> Reply {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let builder = request(
        server,
        caller,
        Method::POST,
        "/Thingworx/Importer?purpose=import",
    )
    .header(
        "Content-Type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    )
    .header("X-XSRF-TOKEN", "TWX-XSRF-TOKEN-VALUE")
    .body(body);
    Reply::of(builder.send().await.expect("send the upload")).await
}
