//! The caller's context of one operation: who calls, the authorization index and the Thing
//! model sequences current as of the call. Every door (HTTP, the command line, scripts) builds
//! one and asks it what the caller may do; the core decides. An entity that is missing or not
//! visible answers 404 the same way, and every denial is logged with user, entity, permission
//! and resource.

use std::sync::Arc;

use ironworx_entity::queries::credentials::{Sequences, read_sequences};
use ironworx_entity::vocab::{Collection, PermissionKind, builtin};
use ironworx_importer::Caller as ImportCaller;
use ironworx_importer::caller::UserServiceCheck;

use crate::auth::Caller;
use crate::authz::{AuthzIndex, EntityIdx, Outcome, Request, Target, decide};
use crate::error::ApiError;
use crate::state::AppState;

/// The group whose members manage permissions everywhere, like administrators.
pub const SECURITY_ADMINISTRATORS: &str = "SecurityAdministrators";
/// The built-in group whose members may read the forensic record (diffs, audit queries).
pub const AUDITORS: &str = "Auditors";

/// An authenticated caller and the index its decisions use.
pub struct Ctx {
    /// The caller.
    pub caller: Caller,
    /// The caller's position in the index.
    pub user: EntityIdx,
    /// The index, current as of this request.
    pub index: Arc<AuthzIndex>,
    /// The sequences read for this request: the Thing model is brought up to them.
    pub sequences: Sequences,
}

impl Ctx {
    /// The same caller over the index as it is now, for a request that waited (an upload):
    /// its rights are decided on changes made while it waited.
    pub async fn current(self, state: &AppState) -> Result<Ctx, ApiError> {
        let sequences = read_sequences(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let index = state
            .security
            .current_at(sequences.changes)
            .await
            .map_err(ApiError::internal)?;
        let user = index
            .lookup(Collection::Users, &self.caller.name)
            .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
        Ok(Ctx {
            user,
            index,
            sequences,
            ..self
        })
    }

    /// The entity `name` of the collection named `collection`, when it exists and the caller
    /// may see it; otherwise 404, whichever the reason.
    pub fn visible_entity(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<(Collection, EntityIdx), ApiError> {
        let collection: Collection = collection.parse().map_err(|_| ApiError::NotFound)?;
        let idx = self
            .index
            .lookup(collection, name)
            .ok_or(ApiError::NotFound)?;
        match self.decide(Target::Entity(idx), PermissionKind::Visibility, "*") {
            Outcome::Allow => Ok((collection, idx)),
            _ => Err(ApiError::NotFound),
        }
    }

    /// Whether the entity `name` of `collection` exists and the caller may see it.
    pub fn sees(&self, collection: Collection, name: &str) -> bool {
        self.index.lookup(collection, name).is_some_and(|idx| {
            self.decide(Target::Entity(idx), PermissionKind::Visibility, "*") == Outcome::Allow
        })
    }

    /// The decision for the caller.
    pub fn decide(&self, target: Target, kind: PermissionKind, resource: &str) -> Outcome {
        let outcome = decide(
            &self.index,
            &Request {
                user: self.user,
                target,
                kind,
                resource,
            },
        );
        crate::metrics::METRICS.decision(outcome);
        outcome
    }

    /// Requires `kind` on `resource` of `target`: 404 when not visible, 403 when denied.
    pub fn require(
        &self,
        target: Target,
        kind: PermissionKind,
        resource: &str,
    ) -> Result<(), ApiError> {
        let entity = match target {
            Target::Entity(idx) => self
                .index
                .entity(idx)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            Target::Collection(c) => c.as_str().to_owned(),
        };
        match self.decide(target, kind, resource) {
            Outcome::Allow => Ok(()),
            Outcome::NotVisible => Err(ApiError::NotFound),
            Outcome::Deny => {
                tracing::info!(
                    user = %self.caller.name,
                    entity = %entity,
                    permission = %kind,
                    resource = %resource,
                    "request denied"
                );
                Err(ApiError::forbidden(kind, resource, entity))
            }
        }
    }

    /// Administrators and members of `SecurityAdministrators` manage every permission.
    pub fn is_security_admin(&self) -> bool {
        self.index.user(self.user).is_some_and(|u| {
            u.admin.is_some()
                || u.groups
                    .iter()
                    .any(|g| g == SECURITY_ADMINISTRATORS || g == builtin::ADMINISTRATORS)
        })
    }

    /// Whether the caller may run `service` on the user `name` (run-time ServiceInvoke).
    pub fn may_invoke_user(&self, name: &str, service: &str) -> bool {
        self.index
            .lookup(Collection::Users, name)
            .is_some_and(|idx| {
                self.decide(Target::Entity(idx), PermissionKind::ServiceInvoke, service)
                    == Outcome::Allow
            })
    }

    /// The caller as the importer sees it: a security administrator restores everything an
    /// export holds; anyone else sets no more than the REST services would let it, with
    /// `user_services` (over [`Guard::may_invoke_user`]) deciding the user services.
    pub fn import_caller<'a>(&self, user_services: &'a UserServiceCheck<'a>) -> ImportCaller<'a> {
        if self.is_security_admin() {
            ImportCaller::full(self.caller.name.clone())
        } else {
            ImportCaller::limited(self.caller.name.clone(), self.caller.user_id, user_services)
        }
    }

    /// Requires the caller to be a security administrator.
    pub fn require_security_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.is_security_admin() {
            Ok(())
        } else {
            tracing::info!(user = %self.caller.name, action = %what, "request denied");
            Err(ApiError::forbidden("Update", "*", what))
        }
    }

    /// Requires the caller to be the user `subject` or a security administrator: what
    /// `service` may do for one's own user, only a security administrator does for another
    /// (the catalog's `subject` parameter).
    pub fn require_subject(&self, subject: &str, service: &str) -> Result<(), ApiError> {
        if subject == self.caller.name {
            return Ok(());
        }
        self.require_security_admin(&format!("{service} for another user"))
    }

    /// Whether the caller may read the forensic record: a security administrator or a member
    /// of `Auditors`.
    pub fn is_auditor(&self) -> bool {
        self.is_security_admin()
            || self
                .index
                .user(self.user)
                .is_some_and(|u| u.groups.iter().any(|g| g == AUDITORS))
    }

    /// Refuses `what` unless the caller is a security administrator or a member of `Auditors`
    /// (the same 403 as [`Ctx::require_security_admin`]).
    pub fn require_auditor(&self, what: &str) -> Result<(), ApiError> {
        if self.is_auditor() {
            Ok(())
        } else {
            tracing::info!(user = %self.caller.name, action = %what, "request denied");
            Err(ApiError::forbidden("Update", "*", what))
        }
    }
}
