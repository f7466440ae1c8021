//! What an operation needs of its caller, declared once per operation (`http::catalog` lists
//! them) and enforced from that declaration by [`Ctx::enforce`]: who may call at all, the
//! permissions checked on the entities the call names (by its path or a parameter), and the
//! services a user may call on its own User entity (which the evaluator grants).

use ironworx_entity::vocab::{Collection, PermissionKind};

use crate::authz::{EntityIdx, Target};
use crate::domain::ctx::Ctx;
use crate::error::ApiError;

/// Where a permission is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// The entity the path names (`{collection}`/`{name}`, `Things/{name}`, …).
    Path,
    /// The entity a body parameter names.
    Named {
        /// The parameter holding the entity's name.
        param: &'static str,
        /// Its collection.
        collection: NamedIn,
    },
    /// A whole collection.
    Collection(Collection),
    /// Each collection an imported file writes into.
    ImportedCollections,
    /// Each entity an imported file replaces.
    ImportedEntities,
}

/// The collection of a named entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedIn {
    /// Always this collection.
    Fixed(Collection),
    /// The collection a parameter names (`Things` or `Thing`).
    Param(&'static str),
}

/// The resource a run-time permission is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Res {
    /// `*` (design time and visibility always use it).
    Any,
    /// The name of the service called.
    Service,
    /// The value of a path parameter (`property`, `event`, `service`).
    PathParam(&'static str),
    /// Each property read or written, by name (`*` when reading and none is readable).
    EachProperty,
}

/// One permission a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// The permission.
    pub kind: PermissionKind,
    /// What it is checked on.
    pub on: On,
    /// The resource it is checked on.
    pub resource: Res,
    /// Whether a security administrator passes without it.
    pub security_admin_bypass: bool,
}

/// Who may call at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Any authenticated user (the checks still apply).
    Authenticated,
    /// Administrators and members of `SecurityAdministrators` only (the checks still apply).
    SecurityAdministrator,
    /// Security administrators and members of `Auditors` only (the checks still apply).
    Auditor,
}

/// What a call needs: an access level, then every check, in the order the handler makes them.
/// A missing or invisible entity is 404 before any other check; a denied check is 403.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// Who may call at all.
    pub access: Access,
    /// The permissions checked, all required.
    pub checks: &'static [Check],
    /// A parameter naming a user: naming another user than the caller needs a security
    /// administrator (omitting it means the caller).
    pub subject: Option<&'static str>,
    /// Whether a user calling it on its own User entity needs no grant.
    pub self_service: bool,
    /// The permission the results are filtered by (rows the caller lacks it on are left out).
    pub filtered_by: Option<PermissionKind>,
}

// --- building blocks of the catalog's declarations ------------------------------------------

/// Permission `kind` on `resource` of `on`, with no bypass for security administrators.
pub const fn check(kind: PermissionKind, on: On, resource: Res) -> Check {
    Check {
        kind,
        on,
        resource,
        security_admin_bypass: false,
    }
}

/// Visibility of the path's entity (404 without it).
pub const VISIBLE: Check = check(PermissionKind::Visibility, On::Path, Res::Any);

/// Design-time `kind` on the path's entity.
pub const fn design(kind: PermissionKind) -> Check {
    check(kind, On::Path, Res::Any)
}

/// Design-time `kind` on the path's entity, or a security administrator.
pub const fn design_or_admin(kind: PermissionKind) -> Check {
    Check {
        security_admin_bypass: true,
        ..design(kind)
    }
}

/// ServiceInvoke on the service called, on the path's entity.
pub const INVOKE: Check = check(PermissionKind::ServiceInvoke, On::Path, Res::Service);

/// The entity of `collection` named by the `name` parameter.
pub const fn named(collection: Collection) -> On {
    On::Named {
        param: "name",
        collection: NamedIn::Fixed(collection),
    }
}

/// Any authenticated caller, then `checks`.
pub const fn needs(checks: &'static [Check]) -> Need {
    Need {
        access: Access::Authenticated,
        checks,
        subject: None,
        self_service: false,
        filtered_by: None,
    }
}

/// As [`needs`], with the user the parameter `subject` names being the caller or the caller a
/// security administrator.
pub const fn needs_for(checks: &'static [Check], subject: &'static str) -> Need {
    Need {
        subject: Some(subject),
        ..needs(checks)
    }
}

/// Anyone, without credentials.
pub const PUBLIC: Need = Need {
    access: Access::Public,
    ..needs(&[])
};

/// Any authenticated caller.
pub const AUTHENTICATED: Need = needs(&[]);

/// Security administrators only.
pub const SECURITY_ADMIN: Need = Need {
    access: Access::SecurityAdministrator,
    ..needs(&[])
};

/// Security administrators and members of `Auditors` only.
pub const AUDITOR: Need = Need {
    access: Access::Auditor,
    ..needs(&[])
};

/// The path's entity visible.
pub const ON_VISIBLE: Need = needs(&[VISIBLE]);

/// Changing an entity's security (its rules, members, units): the entity visible, then
/// design-time `Update` on it or a security administrator.
pub const SECURITY_CHANGE: Need = needs(&[VISIBLE, design_or_admin(PermissionKind::Update)]);

/// Reading an entity's security (its rules, members): the entity visible, then design-time
/// `Read` on it or a security administrator.
pub const SECURITY_READ: Need = needs(&[VISIBLE, design_or_admin(PermissionKind::Read)]);

impl Ctx {
    /// Enforces `need` for a call of `service` on `entity` (the entity the path names; `None`
    /// for a resource), in the declared order: the access level, the subject (another user
    /// than the caller needs a security administrator), then each check. `param` answers the
    /// text of a parameter of the call, for the subject and for entities a parameter names (a
    /// missing one is left to the service to refuse). Self-service (a user calling
    /// [`Need::self_service`] services on its own User entity) is the evaluator's to grant,
    /// like every other decision. Checks per property or per path
    /// parameter are made by the code that knows them (`domain::things`, the property and
    /// event routes).
    pub fn enforce(
        &self,
        need: &Need,
        entity: Option<EntityIdx>,
        service: &str,
        param: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ApiError> {
        if need.access == Access::SecurityAdministrator {
            self.require_security_admin(service)?;
        }
        if need.access == Access::Auditor {
            self.require_auditor(service)?;
        }
        if let Some(subject) = need.subject.and_then(param).filter(|s| !s.is_empty()) {
            self.require_subject(&subject, service)?;
        }
        for check in need.checks {
            let target = match check.on {
                On::Path => match entity {
                    Some(idx) => Target::Entity(idx),
                    None => continue,
                },
                On::Collection(collection) => Target::Collection(collection),
                On::Named {
                    param: name,
                    collection,
                } => {
                    let collection = match collection {
                        NamedIn::Fixed(collection) => Some(collection),
                        NamedIn::Param(collection) => param(collection).and_then(|c| {
                            c.parse().ok().or_else(|| Collection::from_element_name(&c))
                        }),
                    };
                    let name = param(name).filter(|n| !n.is_empty());
                    // A missing or unknown one is the service's to refuse.
                    let (Some(collection), Some(name)) = (collection, name) else {
                        continue;
                    };
                    let (_, idx) = self.visible_entity(collection.as_str(), &name)?;
                    Target::Entity(idx)
                }
                On::ImportedCollections | On::ImportedEntities => continue,
            };
            let resource = match check.resource {
                Res::Any => "*",
                Res::Service => service,
                Res::PathParam(_) | Res::EachProperty => continue,
            };
            if check.security_admin_bypass && self.is_security_admin() {
                continue;
            }
            self.require(target, check.kind, resource)?;
        }
        Ok(())
    }
}
