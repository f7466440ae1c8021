//! The names of what the server ships with (contract section 2), shared by bootstrap, the
//! authorization core and the importer.

/// The built-in administrator: cannot be deleted or disabled, has every right.
pub const ADMINISTRATOR: &str = "Administrator";
/// The built-in user of server-side calls: nobody can log in as it.
pub const SYSTEM: &str = "System";
/// Members (transitively) have every right, like the Administrator user.
pub const ADMINISTRATORS: &str = "Administrators";
/// Every user joins this group when created.
pub const USERS: &str = "Users";
/// The organization every user belongs to through the `Users` group.
pub const EVERYONE: &str = "Everyone";

/// The built-in groups, in creation order.
pub const GROUPS: &[&str] = &[
    ADMINISTRATORS,
    "SecurityAdministrators",
    USERS,
    "Guests",
    "Developers",
    "Designers",
    "ComposerUsers",
    "Auditors",
];

/// Built-in group memberships: (group, member group).
pub const GROUP_IN_GROUP: &[(&str, &str)] = &[("ComposerUsers", USERS)];

/// The built-in organizations and the group that is a member of each one's root unit.
pub const ORGANIZATIONS: &[(&str, &str)] = &[
    (EVERYONE, USERS),
    ("Composer", "ComposerUsers"),
    ("Development", "Developers"),
];

/// The built-in ThingTemplates (all root templates).
pub const THING_TEMPLATES: &[&str] = &[
    "GenericThing",
    "Stream",
    "DataTable",
    "RemoteThing",
    "Timer",
    "Scheduler",
];

/// The built-in ThingTemplates whose Things fire on their own (a database bootstrapped before
/// they were built in gets them at its next start).
pub const TIMER_TEMPLATES: &[&str] = &["Timer", "Scheduler"];

/// Built-in Resources: the server answers their services itself, and they are entities of
/// the collection `Resources` too, so that their permissions can be kept like any entity's.
pub const RESOURCES: &[&str] = &[
    "EntityServices",
    "CollectionFunctions",
    "CurrentSessionInfo",
    "SecurityServices",
    "RuntimeLocalizationFunctions",
    "SourceControlFunctions",
];
