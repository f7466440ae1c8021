//! The `serve` and `migrate` commands: connect, migrate, bootstrap, listen (with the
//! connection timeouts and cap of `--header-timeout-seconds` and the like), shut down.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::{KeepAlive, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::bootstrap::{BootstrapOutcome, bootstrap};
use crate::config::{Config, TransportSettings, redact_url};
use crate::live_index::Security;
use crate::state::AppState;

/// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Name of the file bootstrap writes a generated Administrator password to.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Connects, migrates and bootstraps the database, then serves HTTP until SIGTERM or SIGINT.
///
/// Prints to stdout (not the log) the generated Administrator password, once, on the first
/// start, and the line `ironworx listening on http://<addr>` once the socket is bound.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = prepare(&config).await?;

    let security = Security::load(db.clone())
        .await
        .context("cannot build the authorization index")?;
    security.spawn_listener();
    let reads = crate::db::connect_credential_reads(&config.database_url, config.database_timeout)
        .await
        .context("cannot open the credential pool")?;
    let reads = crate::auth::reads::CredentialReads::new(reads, config.database_timeout);
    let auth = crate::auth::AuthState::load(&db, reads)
        .await
        .context("cannot load the session keys")?;
    let models = crate::model::Models::load(db.clone())
        .await
        .context("cannot read the Thing model")?;
    let state = AppState::new(
        db.clone(),
        Arc::new(config.clone()),
        security,
        models,
        Arc::new(auth),
    );
    crate::relay::spawn(&state.db, &state.events);
    if let Some(days) = config.limits.audit_retention_days {
        crate::domain::history::spawn_retention(state.db.clone(), days);
    }
    let limits = config.limits;
    crate::transfer::limit_concurrent_imports(limits.concurrent_imports);
    let spool = crate::transfer::uploads::open(&config.data_dir)
        .context("cannot prepare the upload folder")?;
    let transport = limits.transport;
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let per_worker = connections_per_worker(connection_cap(&transport), workers);
    let data = web::Data::new(state);
    crate::script::subscriptions::spawn(data.clone().into_inner());
    crate::domain::timers::spawn(data.clone().into_inner());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::http::origin::scope))
            .wrap(actix_web::middleware::from_fn(crate::http::csrf::protect))
            .wrap(actix_web::middleware::from_fn(crate::http::render::accept))
            .wrap(actix_web::middleware::from_fn(
                crate::http::body_timeout::limit,
            ))
            .wrap(actix_web::middleware::from_fn(crate::http::headers::secure))
            .wrap(actix_web::middleware::from_fn(crate::http::cors::cors))
            .wrap(actix_web::middleware::from_fn(crate::metrics::track))
            .wrap(
                actix_web::middleware::ErrorHandlers::new()
                    .handler(StatusCode::PAYLOAD_TOO_LARGE, too_large),
            )
            .app_data(data.clone())
            .service(crate::metrics::endpoint)
            .configure(|cfg| crate::http::routes(cfg, &limits))
    })
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .workers(workers)
    .max_connections(per_worker)
    .client_request_timeout(Duration::from_secs(transport.header_timeout_seconds))
    .client_disconnect_timeout(Duration::from_secs(transport.disconnect_timeout_seconds))
    .keep_alive(match transport.keep_alive_seconds {
        0 => KeepAlive::Disabled,
        seconds => KeepAlive::Timeout(Duration::from_secs(seconds)),
    })
    .disable_signals()
    .bind(config.bind)
    .with_context(|| format!("cannot listen on {}", config.bind))?;

    // SIGTERM and SIGINT are ours from before the listening line is printed, so a signal that
    // arrives at once still stops the server gracefully instead of killing the process.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot listen for SIGINT")?;
    for addr in server.addrs() {
        tracing::info!("ironworx listening on http://{addr}");
        print_line(&format!("ironworx listening on http://{addr}"))?;
    }

    let running = server.run();
    let handle = running.handle();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        handle.stop(true).await;
    });
    let result = running.await.context("HTTP server failed");
    tracing::info!("shutting down");
    if let Err(err) = spool.remove() {
        tracing::warn!(error = %err, "cannot remove the upload folder");
    }
    db.close().await.context("cannot close the database pool")?;
    result
}

/// Open files a process needs besides its connections: database pool, listeners, uploads,
/// logs.
pub const FILES_BESIDES_CONNECTIONS: u64 = 1024;

/// The connections this process may hold open: `--max-connections`, once the open-file limit
/// is raised to fit it with [`FILES_BESIDES_CONNECTIONS`] to spare. When the hard limit does
/// not allow that, fewer (and a warning): a process out of file descriptors can accept no
/// connection at all, not even `/health`.
fn connection_cap(transport: &TransportSettings) -> u64 {
    let wanted = transport.max_connections;
    let needed = wanted.saturating_add(FILES_BESIDES_CONNECTIONS);
    let open_files = match rlimit::increase_nofile_limit(needed) {
        Ok(open_files) => open_files,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read or raise the open-file limit");
            return wanted;
        }
    };
    if open_files >= needed {
        tracing::debug!(open_files, max_connections = wanted, "open-file limit");
        return wanted;
    }
    let cap = open_files
        .saturating_sub(FILES_BESIDES_CONNECTIONS)
        .max(open_files / 2)
        .max(1);
    tracing::warn!(
        open_files,
        max_connections = wanted,
        cap,
        "the open-file limit cannot hold --max-connections; connections are capped lower \
         (raise the hard limit, e.g. LimitNOFILE, to lift it)"
    );
    cap.min(wanted)
}

/// `cap` connections spread over `workers` workers (each holds at least one).
fn connections_per_worker(cap: u64, workers: usize) -> usize {
    let workers = u64::try_from(workers.max(1)).unwrap_or(1);
    usize::try_from(cap.div_ceil(workers).max(1)).unwrap_or(usize::MAX)
}

/// Gives a body refused by actix's size limit (before any handler ran) the API's error body.
fn too_large<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_ours = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, _) = res.into_parts();
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(crate::config::DEFAULT_MAX_BODY_BYTES, |state| {
            state.config.limits.max_body_bytes
        });
    let answer = actix_web::ResponseError::error_response(&crate::error::ApiError::TooLarge(limit));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, answer).map_into_right_body(),
    ))
}

/// Connects, migrates and bootstraps the database (printing a generated Administrator
/// password once, as `serve` does); every command that works on the model starts here.
pub async fn prepare(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = connect_and_migrate(config).await?;

    let outcome = bootstrap(&db, config.admin_password.as_deref(), &config.data_dir)
        .await
        .context("bootstrap failed")?;
    match &outcome {
        BootstrapOutcome::Created {
            generated_password: Some(password),
        } => {
            tracing::info!(
                "database bootstrapped; the generated Administrator password is printed on \
                 stdout and written to {}",
                config.data_dir.join(INITIAL_PASSWORD_FILE).display()
            );
            print_line(&format!(
                "Administrator password (also in {}): {password}",
                config.data_dir.join(INITIAL_PASSWORD_FILE).display()
            ))?;
        }
        BootstrapOutcome::Created {
            generated_password: None,
        } => tracing::info!("database bootstrapped"),
        BootstrapOutcome::AlreadyDone => tracing::debug!("database already bootstrapped"),
    }
    Ok(db)
}

/// Connects and applies the migrations, then exits.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = connect_and_migrate(&config).await?;
    db.close().await.context("cannot close the database pool")?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn connect_and_migrate(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let shown_url = redact_url(&config.database_url);
    tracing::info!(database = %shown_url, "connecting");
    let db = crate::db::connect_with_timeout(&config.database_url, config.database_timeout)
        .await
        .with_context(|| format!("cannot connect to {shown_url}"))?;
    crate::db::migrate(&db)
        .await
        .context("database migration failed")?;
    Ok(db)
}

/// Writes one line to stdout and flushes it (scripts read these lines).
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("cannot write to stdout")?;
    out.flush().context("cannot flush stdout")
}
