//! The parts of an import that depend on who runs it (see [`crate::caller`]): owners, users'
//! password hashes and `enabled` flags, application keys' ids and users. A caller with full
//! trust writes them as the export says; anyone else gets what the REST services would give
//! the same caller, and what is left out is reported.

use std::collections::HashMap;

use ironworx_entity::queries::bulk;
use ironworx_entity::queries::now_ms;
use ironworx_entity::queries::users::{ARGON2ID, PBKDF2_SHA512};
use ironworx_entity::schema::{application_keys, users};
use ironworx_entity::vocab::{Collection, MemberType, PrincipalType, builtin};
use sea_orm::{ActiveValue::Set, ConnectionTrait};

use super::{KeySecrets, Report};
use crate::caller::Caller;
use crate::error::{ImportError, Refusal};
use crate::model::{ApplicationKey, Entity, User};

/// What every entity write of one import reads: the key secrets, the caller, and the owners
/// the export names (looked up once each).
pub(super) struct WriteContext<'a> {
    pub(super) secrets: &'a dyn KeySecrets,
    pub(super) caller: &'a Caller<'a>,
    /// Owner (type, name) to its id, `None` when no such principal exists.
    owners: HashMap<(String, String), Option<i64>>,
    /// Entities whose owner in the export was not applied (a caller without full trust).
    owners_kept: usize,
    /// Owners the export names that exist nowhere.
    owners_unknown: Vec<String>,
}

impl<'a> WriteContext<'a> {
    pub(super) fn new(secrets: &'a dyn KeySecrets, caller: &'a Caller<'a>) -> Self {
        WriteContext {
            secrets,
            caller,
            owners: HashMap::new(),
            owners_kept: 0,
            owners_unknown: Vec::new(),
        }
    }

    /// The id of the owner `e` names in the export, if it names one that exists.
    async fn named_owner<C: ConnectionTrait>(
        &mut self,
        db: &C,
        e: &Entity,
    ) -> Result<Option<i64>, ImportError> {
        let Some((kind, name)) = &e.common.owner else {
            return Ok(None);
        };
        let key = (kind.clone(), name.clone());
        if let Some(known) = self.owners.get(&key) {
            return Ok(*known);
        }
        let principal = if kind == PrincipalType::Group.as_str() {
            PrincipalType::Group
        } else {
            PrincipalType::User
        };
        let id = ironworx_entity::queries::entities::owner_id_of(db, principal, name).await?;
        if id.is_none() {
            self.owners_unknown.push(format!("{kind} '{name}'"));
        }
        self.owners.insert(key, id);
        Ok(id)
    }

    /// The owner of a new entity: the one the export names with full trust, else the caller
    /// (as when it creates the entity through the API).
    pub(super) async fn owner_of_new<C: ConnectionTrait>(
        &mut self,
        db: &C,
        e: &Entity,
    ) -> Result<Option<i64>, ImportError> {
        let named = self.named_owner(db, e).await?;
        match self.caller.limited_user() {
            None => Ok(named),
            Some(caller) => {
                if e.common.owner.is_some() && named != Some(caller) {
                    self.owners_kept += 1;
                }
                Ok(Some(caller))
            }
        }
    }

    /// The owner of a replaced entity that has `current`: the one the export names with full
    /// trust, else `current` (only a security administrator changes owners).
    pub(super) async fn owner_of_replaced<C: ConnectionTrait>(
        &mut self,
        db: &C,
        e: &Entity,
        current: Option<i64>,
    ) -> Result<Option<i64>, ImportError> {
        let named = self.named_owner(db, e).await?;
        if self.caller.is_full() {
            return Ok(named);
        }
        if e.common.owner.is_some() && named != current {
            self.owners_kept += 1;
        }
        Ok(current)
    }

    /// Adds what was left out or not found to the report's warnings.
    pub(super) fn report(self, report: &mut Report) {
        if self.owners_kept > 0 {
            report.warnings.push(format!(
                "the owner named by {} entit{} was not applied: only a security administrator \
                 sets owners (new entities are owned by {}, replaced ones keep theirs)",
                self.owners_kept,
                if self.owners_kept == 1 { "y" } else { "ies" },
                self.caller.name
            ));
        }
        if !self.owners_unknown.is_empty() {
            report.warnings.push(format!(
                "owners defined nowhere (their entities have no owner): {}",
                self.owners_unknown.join(", ")
            ));
        }
    }
}

fn forbidden(e: &Entity, permission: &str, resource: &str) -> ImportError {
    ImportError::Forbidden(Box::new(Refusal {
        origin: e.origin.clone(),
        entity: e.path(),
        permission: permission.to_owned(),
        resource: resource.to_owned(),
        name: e.name.clone(),
    }))
}

pub(super) async fn write_user<C: ConnectionTrait>(
    db: &C,
    e: &Entity,
    u: &User,
    id: i64,
    is_new: bool,
    caller: &Caller<'_>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let old = if is_new {
        None
    } else {
        ironworx_entity::queries::users::user_row(db, id).await?
    };
    let mut password = u.password.as_ref().filter(|p| !p.hash.is_empty());
    if let Some(p) = password
        && p.algorithm != PBKDF2_SHA512
        && p.algorithm != ARGON2ID
    {
        return Err(ImportError::Invalid {
            origin: e.origin.clone(),
            entity: e.path(),
            message: format!("unsupported password hash algorithm '{}'", p.algorithm),
        });
    }
    if password.is_some() && !caller.is_full() {
        report.warnings.push(format!(
            "{}: {}: the password hash was not imported: only a security administrator imports \
             passwords (assign one with AssignNewPassword)",
            e.origin,
            e.path()
        ));
        password = None;
    }
    let protected = e.name == builtin::ADMINISTRATOR;
    let mut enabled = u.enabled;
    if protected && !enabled {
        report.warnings.push(format!(
            "{}: {} cannot be disabled; it stays enabled",
            e.origin,
            e.path()
        ));
        enabled = true;
    }
    if let Some(old) = &old
        && old.enabled != enabled
    {
        let service = if enabled { "EnableUser" } else { "DisableUser" };
        if !caller.may_invoke(&e.name, service) {
            return Err(forbidden(e, "ServiceInvoke", service));
        }
    }
    let now = now_ms();
    let mut row = users::ActiveModel {
        entity_id: Set(id),
        enabled: Set(enabled),
        mobile_mashup: Set(u.mobile_mashup.clone()),
        scim_id: Set(u.scim_id.clone()),
        scim_external_id: Set(u.scim_external_id.clone()),
        language_preferences: Set(u.language_preferences.clone()),
        ..Default::default()
    };
    if let Some(p) = password {
        row.password_hash = Set(Some(p.hash.clone()));
        row.password_algorithm = Set(p.algorithm.clone());
        row.password_iterations = Set(p.iterations);
        row.password_salt_bytes = Set(p.salt_bytes);
        row.password_hash_bytes = Set(p.hash_bytes);
        row.password_changed_at = Set(Some(now));
    }
    match old {
        Some(_) => {
            // A re-import keeps the password when the export carries none, and keeps the
            // lockout state and counters the server maintains.
            bulk::save_row(db, row, true).await?;
        }
        None => {
            row.locked = Set(u.locked && !protected);
            row.locked_until = Set(None);
            row.login_allowed = Set(e.name != builtin::SYSTEM);
            if password.is_none() {
                row.password_hash = Set(None);
                row.password_algorithm = Set(String::new());
                row.password_iterations = Set(0);
                row.password_salt_bytes = Set(0);
                row.password_hash_bytes = Set(0);
                row.password_changed_at = Set(None);
            }
            row.failed_login_count = Set(0);
            row.failed_login_window_start = Set(None);
            row.last_login_at = Set(None);
            bulk::save_row(db, row, false).await?;
            // Every new user joins `Users`, as when created through the API.
            let all_users = ironworx_entity::queries::users::ALL_USERS_GROUP;
            if ironworx_entity::queries::entities::find_entity(db, Collection::Groups, all_users)
                .await?
                .is_some()
            {
                ironworx_entity::queries::groups::add_member(
                    db,
                    all_users,
                    &e.name,
                    MemberType::User,
                )
                .await?;
            }
        }
    }
    Ok(())
}

pub(super) async fn write_app_key<C: ConnectionTrait>(
    db: &C,
    e: &Entity,
    k: &ApplicationKey,
    id: i64,
    ctx: &WriteContext<'_>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let user_id = if k.user_name.is_empty() {
        None
    } else {
        match ironworx_entity::queries::entities::find_entity(db, Collection::Users, &k.user_name)
            .await?
        {
            Some(u) => Some(u.id),
            None => {
                report.warnings.push(format!(
                    "{}: {}: user '{}' is defined nowhere; the key acts as nobody until SetUserName",
                    e.origin,
                    e.path(),
                    k.user_name
                ));
                None
            }
        }
    };
    let old = ironworx_entity::queries::app_keys::key_row(db, id).await?;
    let mut key_id = k.key_id.as_str();
    if let Some(caller) = ctx.caller.limited_user() {
        // A key acts as its creator unless a security administrator says otherwise; a key
        // that exists may keep the user it has.
        let unchanged = old.as_ref().is_some_and(|o| o.user_id == user_id);
        if user_id.is_some() && user_id != Some(caller) && !unchanged {
            return Err(forbidden(e, "SetUserName", "*"));
        }
        if !key_id.is_empty() {
            report.warnings.push(format!(
                "{}: {}: the key id was not imported: only a security administrator imports key \
                 ids ({})",
                e.origin,
                e.path(),
                if old.is_some() {
                    "the key keeps its id"
                } else {
                    "the key authenticates nobody until it is deleted and created again"
                }
            ));
            key_id = "";
        }
    }
    let mut row = application_keys::ActiveModel {
        entity_id: Set(id),
        user_id: Set(user_id),
        expiration_date: Set(k.expiration_date),
        client_name: Set(k.client_name.clone()),
        ip_whitelist: Set(k.ip_whitelist.clone()),
        ..Default::default()
    };
    if !key_id.is_empty() {
        row.key_hash = Set(Some(ctx.secrets.hash(key_id)));
        row.key_sealed = Set(ctx.secrets.seal(key_id));
    }
    if old.is_some() {
        bulk::save_row(db, row, true).await?;
    } else {
        if key_id.is_empty() {
            // A blanked secret: the key exists but authenticates nobody until it is reset.
            row.key_hash = Set(None);
            row.key_sealed = Set(None);
        }
        row.last_used_at = Set(None);
        bulk::save_row(db, row, false).await?;
    }
    Ok(())
}
