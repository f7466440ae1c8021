//! First-start bootstrap of an empty database (contract section 2): the built-in users, groups,
//! organizations, ThingTemplates and collection permissions, in one transaction, exactly once.
//!
//! The marker setting is written first: when two processes start together on one PostgreSQL
//! database, the second one blocks on the marker's key until the first commits, then finds it
//! and changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::models::{self, TemplateFields};
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::queries::{QueryError, groups, settings};
use ironworx_entity::vocab::{
    Collection, Effect, MemberType, PermissionKind, PrincipalType, builtin,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::json;

/// The setting that says the database was bootstrapped, and by which version of the bootstrap.
pub const MARKER: &str = "bootstrap.version";
const VERSION: &str = "1";
/// The file, inside the data dir, that receives a generated Administrator password.
pub const PASSWORD_FILE: &str = "initial-admin-password";

/// What a start found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// The database was empty and now holds the built-in users, groups, organizations,
    /// templates and collection permissions. `generated_password` is set when the
    /// Administrator password was generated (it was also written to `initial-admin-password`).
    Created {
        /// The generated Administrator password, to show once.
        generated_password: Option<String>,
    },
    /// The database was bootstrapped before; nothing was changed.
    AlreadyDone,
}

/// Why bootstrap failed; the database is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The database refused a statement.
    #[error("bootstrap failed: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A shared query refused a built-in row.
    #[error("bootstrap failed: {0}")]
    Query(#[from] QueryError),
    /// The administrator password could not be hashed.
    #[error("bootstrap failed: cannot hash the Administrator password: {0}")]
    Hash(String),
    /// `IRONWORX_ADMIN_PASSWORD` is set but empty.
    #[error("IRONWORX_ADMIN_PASSWORD is set but empty")]
    EmptyPassword,
    /// The generated password could not be written to the data dir.
    #[error("cannot write {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Bootstraps the database when it is empty; does nothing when it was bootstrapped before.
pub async fn bootstrap(
    db: &DatabaseConnection,
    admin_password: Option<&str>,
    data_dir: &Path,
) -> Result<BootstrapOutcome, BootstrapError> {
    if settings::get(db, MARKER).await?.is_some() {
        ensure_resources(db).await?;
        ensure_timer_templates(db).await?;
        return Ok(BootstrapOutcome::AlreadyDone);
    }
    let (password, generated) = match admin_password {
        Some("") => return Err(BootstrapError::EmptyPassword),
        Some(p) => (p.to_owned(), false),
        None => (crate::auth::hashing::generate_password(), true),
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || crate::auth::hashing::hash_password(&password))
            .await
            .map_err(|e| BootstrapError::Hash(e.to_string()))?
            .map_err(|e| BootstrapError::Hash(e.to_string()))?
    };

    let txn = crate::db::begin_write(db).await?;
    if !settings::set_once(&txn, MARKER, VERSION).await? {
        txn.rollback().await?;
        ensure_resources(db).await?;
        ensure_timer_templates(db).await?;
        return Ok(BootstrapOutcome::AlreadyDone);
    }
    settings::set_once(&txn, RESOURCES_MARKER, "1").await?;
    settings::set_once(&txn, TIMERS_MARKER, "1").await?;
    create_builtins(&txn, PasswordRecord::argon2id(hash)).await?;
    if generated {
        write_password_file(data_dir, &password)?;
    }
    txn.commit().await?;
    tracing::info!("bootstrapped an empty database");
    Ok(BootstrapOutcome::Created {
        generated_password: generated.then_some(password),
    })
}

/// The setting that says the built-in Resources exist as entities (databases bootstrapped
/// before they did get them at their next start).
pub const RESOURCES_MARKER: &str = "bootstrap.resources";

/// Creates the built-in Resources as entities, owned by `System`, in a database bootstrapped
/// before they were; once (the marker is written first, so of two processes starting together
/// the second finds it and changes nothing).
async fn ensure_resources(db: &DatabaseConnection) -> Result<(), BootstrapError> {
    if settings::get(db, RESOURCES_MARKER).await?.is_some() {
        return Ok(());
    }
    let txn = crate::db::begin_write(db).await?;
    if !settings::set_once(&txn, RESOURCES_MARKER, "1").await? {
        txn.rollback().await?;
        return Ok(());
    }
    let system = users::get_user(&txn, builtin::SYSTEM).await?;
    for resource in builtin::RESOURCES {
        if entities::find_entity(&txn, Collection::Resources, resource)
            .await?
            .is_none()
        {
            entities::insert_entity(
                &txn,
                Collection::Resources,
                resource,
                &EntityFields {
                    owner_id: Some(system.entity.id),
                    ..system_fields()
                },
            )
            .await?;
        }
    }
    audit::record(
        &txn,
        &Change::by(builtin::SYSTEM, "BootstrapResources", None),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The setting that says the built-in `Timer` and `Scheduler` templates exist (databases
/// bootstrapped before they did get them at their next start).
pub const TIMERS_MARKER: &str = "bootstrap.timers";

/// Creates the built-in `Timer` and `Scheduler` templates, owned by `System`, in a database
/// bootstrapped before they were (a template of that name made since is left as it is); once,
/// as [`ensure_resources`].
async fn ensure_timer_templates(db: &DatabaseConnection) -> Result<(), BootstrapError> {
    if settings::get(db, TIMERS_MARKER).await?.is_some() {
        return Ok(());
    }
    let txn = crate::db::begin_write(db).await?;
    if !settings::set_once(&txn, TIMERS_MARKER, "1").await? {
        txn.rollback().await?;
        return Ok(());
    }
    let system = users::get_user(&txn, builtin::SYSTEM).await?;
    for template in builtin::TIMER_TEMPLATES {
        if entities::find_entity(&txn, Collection::ThingTemplates, template)
            .await?
            .is_none()
        {
            models::create_thing_template(
                &txn,
                template,
                &EntityFields {
                    owner_id: Some(system.entity.id),
                    ..system_fields()
                },
                &TemplateFields::default(),
            )
            .await?;
        }
    }
    audit::record(&txn, &Change::by(builtin::SYSTEM, "BootstrapTimers", None)).await?;
    txn.commit().await?;
    Ok(())
}

/// The fields of a built-in entity; `System` becomes its owner once that user exists.
fn system_fields() -> EntityFields {
    EntityFields {
        is_system: true,
        ..EntityFields::default()
    }
}

async fn create_builtins(
    txn: &DatabaseTransaction,
    admin_password: PasswordRecord,
) -> Result<(), BootstrapError> {
    for group in builtin::GROUPS {
        groups::create_group(txn, group, &system_fields()).await?;
    }
    for (group, member) in builtin::GROUP_IN_GROUP {
        groups::add_member(txn, group, member, MemberType::Group).await?;
    }
    users::create_user(
        txn,
        &NewUser {
            name: builtin::ADMINISTRATOR.into(),
            fields: system_fields(),
            password: Some(admin_password),
            ..NewUser::default()
        },
    )
    .await?;
    groups::add_member(
        txn,
        builtin::ADMINISTRATORS,
        builtin::ADMINISTRATOR,
        MemberType::User,
    )
    .await?;
    users::create_user(
        txn,
        &NewUser {
            name: builtin::SYSTEM.into(),
            fields: system_fields(),
            password: None,
            login_forbidden: true,
            ..NewUser::default()
        },
    )
    .await?;
    for (organization, member_group) in builtin::ORGANIZATIONS {
        organizations::create_organization(
            txn,
            organization,
            &system_fields(),
            &LoginPage::default(),
        )
        .await?;
        organizations::add_unit_member(
            txn,
            organization,
            organization,
            member_group,
            MemberType::Group,
        )
        .await?;
    }
    for template in builtin::THING_TEMPLATES {
        models::create_thing_template(txn, template, &system_fields(), &TemplateFields::default())
            .await?;
    }
    for resource in builtin::RESOURCES {
        entities::insert_entity(txn, Collection::Resources, resource, &system_fields()).await?;
    }
    let system = users::get_user(txn, builtin::SYSTEM).await?;
    entities::own_built_ins(txn, system.entity.id).await?;
    for collection in Collection::ALL {
        for kind in [
            PermissionKind::Create,
            PermissionKind::Read,
            PermissionKind::Update,
            PermissionKind::Delete,
        ] {
            let rule = Rule::any(
                kind,
                PrincipalType::Group,
                builtin::ADMINISTRATORS,
                Effect::Allow,
            );
            permissions::set_collection_rule(txn, *collection, &rule).await?;
        }
        let visibility = Rule::any(
            PermissionKind::Visibility,
            PrincipalType::Organization,
            builtin::EVERYONE,
            Effect::Allow,
        );
        permissions::set_collection_rule(txn, *collection, &visibility).await?;
    }
    audit::record(
        txn,
        &Change::by(builtin::SYSTEM, "Bootstrap", json!({ "version": VERSION })),
    )
    .await?;
    Ok(())
}

/// Writes the generated password to `<data-dir>/initial-admin-password`, readable by the
/// owner only. An older file is replaced, never appended to.
fn write_password_file(data_dir: &Path, password: &str) -> Result<(), BootstrapError> {
    let path = data_dir.join(PASSWORD_FILE);
    let fail = |source| BootstrapError::PasswordFile {
        path: path.clone(),
        source,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(fail)?;
    writeln!(file, "{password}").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    Ok(())
}
