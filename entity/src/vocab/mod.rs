//! The domain vocabulary shared by the server and the importer: collections, permission kinds,
//! principal types, base types and validated names. Pure: no database, no I/O.

mod base_type;
pub mod builtin;
mod collection;
mod names;
mod permission;

pub use base_type::BaseType;
pub use collection::Collection;
pub use names::{
    EntityName, GroupName, MAX_NAME_LEN, MemberName, OrganizationName, Tag, UnitName, UserName,
    normalize_principal_name, split_unit_principal, unit_principal_name,
};
pub use permission::{
    ANY_RESOURCE, Effect, MemberType, PermissionCategory, PermissionKind, PrincipalType,
};

/// A word of the vocabulary that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    /// Not a known collection name.
    #[error("unknown collection '{0}'")]
    UnknownCollection(String),
    /// Not a known base type.
    #[error("unknown base type '{0}'")]
    UnknownBaseType(String),
    /// Not a known permission kind.
    #[error("unknown permission '{0}'")]
    UnknownPermission(String),
    /// Not a known principal type.
    #[error(
        "unknown principal type '{0}' (expected User, Group, Organization or OrganizationalUnit)"
    )]
    UnknownPrincipalType(String),
    /// Not a known member type.
    #[error("unknown member type '{0}' (expected User or Group)")]
    UnknownMemberType(String),
    /// A name that breaks the naming rules.
    #[error("invalid {kind} name '{name}': {reason}")]
    InvalidName {
        /// What was being named.
        kind: &'static str,
        /// The refused name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A tag that is not `Vocabulary:Term`.
    #[error("invalid tag '{0}': expected Vocabulary:Term")]
    InvalidTag(String),
}
