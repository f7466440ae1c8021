//! Who runs an import, and so what it may set. A security administrator or the command line
//! restores everything an export holds: password hashes, key ids, key users, owners, enabled
//! and locked users. Anyone else gets no more than the REST services would let the same caller
//! set one entity at a time: secrets are not imported (and reported), the caller owns what it
//! creates and owners of replaced entities stay, a key acts as its caller, and a user's
//! `enabled` flag changes only with the right to the service that changes it.

/// Whether the caller may run `service` (`EnableUser`, `DisableUser`) on the existing user
/// called by the first argument.
pub type UserServiceCheck<'a> = dyn Fn(&str, &str) -> bool + Sync + 'a;

/// The caller of an import.
pub struct Caller<'a> {
    /// The name the audit log records.
    pub name: String,
    trust: Trust<'a>,
}

enum Trust<'a> {
    /// Everything the export holds is written.
    Full,
    /// What a caller without security-administrator rights may set.
    Limited {
        user_id: i64,
        user_services: &'a UserServiceCheck<'a>,
    },
}

impl<'a> Caller<'a> {
    /// A security administrator or the command line: the import restores everything.
    pub fn full(name: impl Into<String>) -> Caller<'static> {
        Caller {
            name: name.into(),
            trust: Trust::Full,
        }
    }

    /// Any other user (entity id `user_id`), whose rights to the user services decide whether
    /// an existing user's `enabled` flag may change.
    pub fn limited(
        name: impl Into<String>,
        user_id: i64,
        user_services: &'a UserServiceCheck<'a>,
    ) -> Caller<'a> {
        Caller {
            name: name.into(),
            trust: Trust::Limited {
                user_id,
                user_services,
            },
        }
    }

    /// Whether the import writes everything the export holds.
    pub fn is_full(&self) -> bool {
        matches!(self.trust, Trust::Full)
    }

    /// The caller's user id when its rights are limited.
    pub fn limited_user(&self) -> Option<i64> {
        match self.trust {
            Trust::Full => None,
            Trust::Limited { user_id, .. } => Some(user_id),
        }
    }

    /// Whether the caller may run `service` on the existing user `user`.
    pub fn may_invoke(&self, user: &str, service: &str) -> bool {
        match &self.trust {
            Trust::Full => true,
            Trust::Limited { user_services, .. } => user_services(user, service),
        }
    }
}
