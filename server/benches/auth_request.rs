//! Cost of authentication per request, side by side in one run: the same property read
//! (`GET /Thingworx/Things/Pump/Properties/Pressure`) through the real application with HTTP
//! Basic, an `appKey` header and a session cookie, against the same handler work (current
//! index, visibility and PropertyRead decision, value read) done for a fixed caller with no
//! authentication at all. Requests go through actix's in-process service, so the figures are
//! the server's own cost, without sockets.
//!
//! Run: `cargo bench -p ironworx-server --bench auth_request`

use std::sync::Arc;
use std::time::Instant;

use actix_web::{App, HttpResponse, test, web};
use ironworx_entity::queries::app_keys::{self, NewAppKey};
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::queries::{data, parts};
use ironworx_entity::schema::property_values;
use ironworx_entity::vocab::{Collection, Effect, PermissionKind, PrincipalType};
use ironworx_server::auth::{AuthState, Caller, SESSION_COOKIE};
use ironworx_server::authz::{Outcome, Request, Target, decide};
use ironworx_server::config::{AuthSettings, Config, LogFormat};
use ironworx_server::live_index::Security;
use ironworx_server::state::AppState;

const PATH: &str = "/Thingworx/Things/Pump/Properties/Pressure";
const KEY: &str = "0b6a4d6e-2f8e-4c53-9a51-8f0b1f6f2d11";
const ROUNDS: usize = 3_000;

/// The handler's work without authentication: the caller is fixed.
async fn unauthenticated(state: web::Data<AppState>, caller: web::Data<String>) -> HttpResponse {
    let Ok(index) = state.security.current().await else {
        return HttpResponse::InternalServerError().finish();
    };
    let (Some(user), Some(thing)) = (
        index.lookup(Collection::Users, caller.as_str()),
        index.lookup(Collection::Things, "Pump"),
    ) else {
        return HttpResponse::NotFound().finish();
    };
    let request = Request {
        user,
        target: Target::Entity(thing),
        kind: PermissionKind::PropertyRead,
        resource: "Pressure",
    };
    if decide(&index, &request) != Outcome::Allow {
        return HttpResponse::Forbidden().finish();
    }
    let id = index.entity(thing).map(|e| e.id).unwrap_or_default();
    let Ok(values) = parts::property_values::list(&state.db, id).await else {
        return HttpResponse::InternalServerError().finish();
    };
    let value = values
        .into_iter()
        .find(|v| v.name == "Pressure")
        .and_then(|v| v.value);
    HttpResponse::Ok().json(serde_json::json!({"rows": [{"Pressure": value}]}))
}

/// One way of calling: its name, its path, and the credential header it sends.
type Kind = (&'static str, &'static str, Option<(&'static str, String)>);

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[actix_web::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ironworx_server::config::sqlite_url(&dir.path().join("bench.db")).expect("url");
    let db = ironworx_server::db::connect(&url).await.expect("database");
    ironworx_server::db::migrate(&db).await.expect("migrations");
    ironworx_server::bootstrap::bootstrap(&db, Some("bench-admin-password"), dir.path())
        .await
        .expect("bootstrap");
    let hash = ironworx_server::auth::hashing::hash_password("bench-password-1").expect("hash");
    let user = users::create_user(
        &db,
        &NewUser {
            name: "bench".into(),
            password: Some(PasswordRecord::argon2id(hash)),
            ..NewUser::default()
        },
    )
    .await
    .expect("user");
    let pump = models::create_thing(
        &db,
        "Pump",
        &EntityFields::default(),
        &ThingFields::default(),
    )
    .await
    .expect("thing");
    data::set_property_value(
        &db,
        &property_values::Model {
            id: 0,
            entity_id: pump.id,
            name: "Pressure".into(),
            base_type: "NUMBER".into(),
            value: Some(serde_json::json!(3.5)),
            value_time: 0,
            quality: "GOOD".into(),
        },
    )
    .await
    .expect("value");
    permissions::set_entity_rule(
        &db,
        pump.id,
        false,
        &Rule::any(
            PermissionKind::PropertyRead,
            PrincipalType::User,
            "bench",
            Effect::Allow,
        ),
    )
    .await
    .expect("rule");
    app_keys::create_app_key(
        &db,
        &NewAppKey {
            name: "BenchKey".into(),
            key_hash: Some(ironworx_server::auth::app_key::key_hash(KEY)),
            user_id: Some(user.entity.id),
            ip_whitelist: String::new(),
            ..NewAppKey::default()
        },
    )
    .await
    .expect("key");

    let config = Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().to_path_buf(),
        database_url: url,
        database_timeout: std::time::Duration::from_millis(
            ironworx_server::config::DEFAULT_DATABASE_TIMEOUT_MS,
        ),
        storage_dir: dir.path().to_path_buf(),
        admin_password: None,
        log_format: LogFormat::Text,
        auth: AuthSettings::default(),
        limits: ironworx_server::config::LimitSettings::default(),
    };
    let security = Security::load(db.clone()).await.expect("index");
    let reads =
        ironworx_server::auth::reads::CredentialReads::new(db.clone(), config.database_timeout);
    let auth = Arc::new(AuthState::load(&db, reads).await.expect("auth"));
    let models = ironworx_server::model::Models::load(db.clone())
        .await
        .expect("model");
    let state = AppState::new(db.clone(), Arc::new(config), security, models, auth);
    let cookie = state
        .auth
        .sessions
        .open(
            &state,
            &Caller {
                user_id: user.entity.id,
                name: "bench".into(),
            },
            "Everyone",
            None,
        )
        .await
        .expect("session");
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .app_data(web::Data::new("bench".to_owned()))
            .configure(ironworx_server::http::configure)
            .route("/bench/unauthenticated", web::get().to(unauthenticated)),
    )
    .await;

    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "bench:bench-password-1"
        )
    );
    let kinds: [Kind; 4] = [
        (
            "no authentication (same work, fixed caller)",
            "/bench/unauthenticated",
            None,
        ),
        (
            "HTTP Basic (verified credentials cached)",
            PATH,
            Some(("Authorization", basic)),
        ),
        ("appKey header", PATH, Some(("appKey", KEY.to_owned()))),
        (
            "session cookie",
            PATH,
            Some(("Cookie", format!("{SESSION_COOKIE}={}", cookie.value()))),
        ),
    ];
    // Warm up every path once (the first Basic request pays the argon2id verification).
    let mut samples: Vec<Vec<u128>> = vec![Vec::with_capacity(ROUNDS); kinds.len()];
    for round in 0..=ROUNDS {
        // Interleave the kinds so noise on the machine hits all of them alike.
        for (k, (_, path, header)) in kinds.iter().enumerate() {
            let mut req = test::TestRequest::get().uri(path);
            if let Some((name, value)) = header {
                req = req.insert_header((*name, value.as_str()));
            }
            let start = Instant::now();
            let res = test::call_service(&app, req.to_request()).await;
            let elapsed = start.elapsed().as_nanos();
            assert!(
                res.status().is_success(),
                "{}: {}",
                kinds[k].0,
                res.status()
            );
            if round > 0 {
                samples[k].push(elapsed);
            }
        }
    }
    let mut medians = Vec::new();
    println!("| credential | p50 µs | p99 µs | p50 / no authentication |");
    println!("|---|---|---|---|");
    for (k, (name, _, _)) in kinds.iter().enumerate() {
        let mut s = samples[k].clone();
        s.sort_unstable();
        let (p50, p99) = (percentile(&s, 0.50), percentile(&s, 0.99));
        medians.push(p50);
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} |",
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            p50 as f64 / medians[0] as f64
        );
    }
    println!("\n{ROUNDS} requests per credential, interleaved, SQLite, in-process actix service.");
}
