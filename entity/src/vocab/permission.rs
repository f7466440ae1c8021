//! Permission kinds, their categories, principal types and the allow/deny effect of a rule.

use std::fmt;
use std::str::FromStr;

use crate::vocab::VocabError;

/// The resource name of a run-time rule that covers every property, service and event.
pub const ANY_RESOURCE: &str = "*";

/// The three families of permission ThingWorx keeps on every securable entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermissionCategory {
    /// Create, Read, Update, Delete, Metadata: working on the entity's definition.
    DesignTime,
    /// PropertyRead, PropertyWrite, ServiceInvoke, EventInvoke, EventSubscribe: using the entity.
    RunTime,
    /// Whether the entity exists at all for members of an organization or unit.
    Visibility,
}

macro_rules! kinds {
    ($( $variant:ident => $category:ident; )*) => {
        /// One permission a rule grants or denies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PermissionKind { $( #[doc = stringify!($variant)] $variant, )* }

        impl PermissionKind {
            /// Every kind, design time first, then run time, then visibility.
            pub const ALL: &'static [PermissionKind] = &[ $( PermissionKind::$variant, )* ];

            /// The ThingWorx spelling (`ServiceInvoke`).
            pub fn as_str(self) -> &'static str {
                match self { $( PermissionKind::$variant => stringify!($variant), )* }
            }

            /// The family this kind belongs to.
            pub fn category(self) -> PermissionCategory {
                match self { $( PermissionKind::$variant => PermissionCategory::$category, )* }
            }
        }

        impl FromStr for PermissionKind {
            type Err = VocabError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( stringify!($variant) => Ok(PermissionKind::$variant), )*
                    other => Err(VocabError::UnknownPermission(other.to_owned())),
                }
            }
        }
    };
}

kinds! {
    Create => DesignTime;
    Read => DesignTime;
    Update => DesignTime;
    Delete => DesignTime;
    Metadata => DesignTime;
    PropertyRead => RunTime;
    PropertyWrite => RunTime;
    ServiceInvoke => RunTime;
    EventInvoke => RunTime;
    EventSubscribe => RunTime;
    Visibility => Visibility;
}

impl PermissionKind {
    /// The five design-time kinds, in export order.
    pub const DESIGN_TIME: [PermissionKind; 5] = [
        PermissionKind::Create,
        PermissionKind::Read,
        PermissionKind::Update,
        PermissionKind::Delete,
        PermissionKind::Metadata,
    ];

    /// The five run-time kinds, in export order.
    pub const RUN_TIME: [PermissionKind; 5] = [
        PermissionKind::PropertyRead,
        PermissionKind::PropertyWrite,
        PermissionKind::ServiceInvoke,
        PermissionKind::EventInvoke,
        PermissionKind::EventSubscribe,
    ];

    /// The kinds of `category`, in export order.
    pub fn of_category(category: PermissionCategory) -> &'static [PermissionKind] {
        match category {
            PermissionCategory::DesignTime => &PermissionKind::DESIGN_TIME,
            PermissionCategory::RunTime => &PermissionKind::RUN_TIME,
            PermissionCategory::Visibility => &[PermissionKind::Visibility],
        }
    }

    /// Whether a rule of this kind may name `principal_type`: users and groups for design and run
    /// time, organizations and units for visibility.
    pub fn accepts_principal(self, principal_type: PrincipalType) -> bool {
        match self.category() {
            PermissionCategory::Visibility => matches!(
                principal_type,
                PrincipalType::Organization | PrincipalType::OrganizationalUnit
            ),
            _ => matches!(principal_type, PrincipalType::User | PrincipalType::Group),
        }
    }
}

impl fmt::Display for PermissionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a permission rule names: a user, a group, an organization or an organizational unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalType {
    /// A user, by name.
    User,
    /// A group, by name; membership is transitive.
    Group,
    /// An organization, by name; covers every unit in it.
    Organization,
    /// A unit, named `<Organization>:<Unit>`.
    OrganizationalUnit,
}

impl PrincipalType {
    /// The ThingWorx spelling (`OrganizationalUnit`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
            PrincipalType::Organization => "Organization",
            PrincipalType::OrganizationalUnit => "OrganizationalUnit",
        }
    }
}

impl FromStr for PrincipalType {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "User" => Ok(PrincipalType::User),
            "Group" => Ok(PrincipalType::Group),
            "Organization" => Ok(PrincipalType::Organization),
            "OrganizationalUnit" => Ok(PrincipalType::OrganizationalUnit),
            other => Err(VocabError::UnknownPrincipalType(other.to_owned())),
        }
    }
}

impl fmt::Display for PrincipalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a member of a group or of an organizational unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberType {
    /// A user.
    User,
    /// A group (groups nest; cycles are refused).
    Group,
}

impl MemberType {
    /// The ThingWorx spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberType::User => "User",
            MemberType::Group => "Group",
        }
    }
}

impl FromStr for MemberType {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "User" => Ok(MemberType::User),
            "Group" => Ok(MemberType::Group),
            other => Err(VocabError::UnknownMemberType(other.to_owned())),
        }
    }
}

/// Whether a rule grants (`isPermitted="true"`) or explicitly denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The rule grants.
    Allow,
    /// The rule denies; inside one cell a deny beats an allow.
    Deny,
}

impl Effect {
    /// `true` for allow, as ThingWorx's `isPermitted`.
    pub fn is_permitted(self) -> bool {
        matches!(self, Effect::Allow)
    }

    /// The effect of `isPermitted`.
    pub fn from_permitted(allow: bool) -> Effect {
        if allow { Effect::Allow } else { Effect::Deny }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_categorise() {
        for k in PermissionKind::ALL {
            assert_eq!(k.as_str().parse::<PermissionKind>().ok(), Some(*k));
        }
        assert_eq!(
            PermissionKind::Metadata.category(),
            PermissionCategory::DesignTime
        );
        assert_eq!(
            PermissionKind::EventSubscribe.category(),
            PermissionCategory::RunTime
        );
        assert!("Execute".parse::<PermissionKind>().is_err());
        assert!(PermissionKind::Visibility.accepts_principal(PrincipalType::OrganizationalUnit));
        assert!(!PermissionKind::Visibility.accepts_principal(PrincipalType::User));
        assert!(!PermissionKind::Read.accepts_principal(PrincipalType::Organization));
    }
}
