//! The catalog's account services: users, sessions, application keys and localization. Listed with
//! the rest by [`super::operations`]; what the user and key services need is declared by the
//! domain ([`crate::domain::accounts`], [`crate::domain::app_keys`]).

use super::*;
use crate::domain::accounts::UserService;
use crate::domain::app_keys::{self, KeyService};

/// The operations of this family, in the catalog's order.
pub(super) static OPERATIONS: &[Operation] = &[
    // --- users -------------------------------------------------------------------------------
    declared(
        user(UserService::ChangePassword),
        "/Thingworx/Users/{name}/Services/ChangePassword",
        "Changes the password, given the old one; ends the user's sessions",
        &[
            req("oldPassword", BaseType::String),
            req("newPassword", BaseType::String),
            req("newPasswordConfirm", BaseType::String),
        ],
        Output::Nothing,
    ),
    declared(
        user(UserService::AssignNewPassword),
        "/Thingworx/Users/{name}/Services/AssignNewPassword",
        "Sets a new password; ends the user's sessions",
        &[
            req("newPassword", BaseType::String),
            req("newPasswordConfirm", BaseType::String),
        ],
        Output::Nothing,
    ),
    declared(
        user(UserService::EnableUser),
        "/Thingworx/Users/{name}/Services/EnableUser",
        "Enables the user",
        NONE,
        Output::Nothing,
    ),
    declared(
        user(UserService::DisableUser),
        "/Thingworx/Users/{name}/Services/DisableUser",
        "Disables the user (not Administrator) and ends its sessions",
        NONE,
        Output::Nothing,
    ),
    declared(
        user(UserService::LockUser),
        "/Thingworx/Users/{name}/Services/LockUser",
        "Locks the user (not Administrator)",
        NONE,
        Output::Nothing,
    ),
    declared(
        user(UserService::UnlockUser),
        "/Thingworx/Users/{name}/Services/UnlockUser",
        "Unlocks the user",
        NONE,
        Output::Nothing,
    ),
    declared(
        user(UserService::IsEnabled),
        "/Thingworx/Users/{name}/Services/IsEnabled",
        "Whether the user is enabled",
        NONE,
        Output::Primitive(BaseType::Boolean),
    ),
    declared(
        user(UserService::IsLocked),
        "/Thingworx/Users/{name}/Services/IsLocked",
        "Whether the user is locked",
        NONE,
        Output::Primitive(BaseType::Boolean),
    ),
    declared(
        user(UserService::GetGroups),
        "/Thingworx/Users/{name}/Services/GetGroups",
        "The user's groups, transitively",
        NONE,
        Output::InfoTable("EntityList"),
    ),
    declared(
        user(UserService::SetLanguagePreferences),
        "/Thingworx/Users/{name}/Services/SetLanguagePreferences",
        "Sets the preferred languages, best first, comma separated",
        &[opt("preferences", BaseType::String)],
        Output::Nothing,
    ),
    // --- session -----------------------------------------------------------------------------
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUser",
        &[],
        TAG_SESSION,
        "The caller's name",
        NONE,
        Output::Primitive(BaseType::UserName),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserGroups",
        &[],
        TAG_SESSION,
        "The caller's groups",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizations",
        &[],
        TAG_SESSION,
        "The caller's organizations",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserOrganizationalUnits",
        &[],
        TAG_SESSION,
        "The caller's organizational units",
        NONE,
        Output::InfoTable("EntityList"),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetCurrentUserLanguage",
        &[],
        TAG_SESSION,
        "The caller's first preferred language",
        NONE,
        Output::Primitive(BaseType::String),
        AUTHENTICATED,
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/GetUserSessions",
        &[],
        TAG_SESSION,
        "The open sessions of a user (the caller when none is named), newest first, each under \
         an id that ends it and is never a credential",
        &[opt("userName", BaseType::UserName)],
        Output::InfoTable("UserSession"),
        Need {
            subject: Some("userName"),
            ..AUTHENTICATED
        },
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSession",
        &[],
        TAG_SESSION,
        "Ends one session of a user (the caller when none is named) by the id GetUserSessions \
         lists; 1 when it was open, 0 otherwise",
        &[
            opt("userName", BaseType::UserName),
            req("sessionId", BaseType::Long),
        ],
        Output::Primitive(BaseType::Integer),
        Need {
            subject: Some("userName"),
            ..AUTHENTICATED
        },
    ),
    post(
        Run::CurrentSession,
        "/Thingworx/Resources/CurrentSessionInfo/Services/TerminateUserSessions",
        &[],
        TAG_SESSION,
        "Ends every session of a user (the caller when none is named); the count ended",
        &[opt("userName", BaseType::UserName)],
        Output::Primitive(BaseType::Integer),
        Need {
            subject: Some("userName"),
            ..AUTHENTICATED
        },
    ),
    // --- application keys --------------------------------------------------------------------
    post(
        Run::AppKeyServices,
        entity_service!("CreateApplicationKey"),
        &[],
        TAG_APP_KEYS,
        "Creates a key acting as user (the caller when none is named); answers the key id, \
         shown only here and by GetKeyID",
        &[
            req("name", BaseType::String),
            opt("description", BaseType::String),
            opt("user", BaseType::UserName),
            opt("expirationDate", BaseType::Datetime),
            opt("whitelist", BaseType::String),
            opt("clientName", BaseType::String),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
        ],
        Output::Primitive(BaseType::String),
        app_keys::CREATE,
    ),
    Operation {
        need: app_keys::DELETE,
        ..delete!(
            "DeleteApplicationKey",
            Collection::ApplicationKeys,
            "Deletes a key",
        )
    }
    .tagged(TAG_APP_KEYS)
    .runs(Run::AppKeyServices),
    declared(
        key(KeyService::GetKeyId),
        "/Thingworx/ApplicationKeys/{name}/Services/GetKeyID",
        "The key id (not available for a key imported without its secret)",
        NONE,
        Output::Primitive(BaseType::String),
    ),
    declared(
        key(KeyService::GetUserName),
        "/Thingworx/ApplicationKeys/{name}/Services/GetUserName",
        "The user the key acts as",
        NONE,
        Output::Primitive(BaseType::UserName),
    ),
    declared(
        key(KeyService::SetUserName),
        "/Thingworx/ApplicationKeys/{name}/Services/SetUserName",
        "Makes the key act as another user",
        &[req("name", BaseType::UserName)],
        Output::Nothing,
    ),
    declared(
        key(KeyService::IsExpired),
        "/Thingworx/ApplicationKeys/{name}/Services/IsExpired",
        "Whether the key has expired",
        NONE,
        Output::Primitive(BaseType::Boolean),
    ),
    declared(
        key(KeyService::GetExpirationDate),
        "/Thingworx/ApplicationKeys/{name}/Services/GetExpirationDate",
        "When the key expires",
        NONE,
        Output::Primitive(BaseType::Datetime),
    ),
    declared(
        key(KeyService::SetExpirationDate),
        "/Thingworx/ApplicationKeys/{name}/Services/SetExpirationDate",
        "Sets when the key expires",
        &[req("expirationDate", BaseType::Datetime)],
        Output::Nothing,
    ),
    declared(
        key(KeyService::ResetExpirationDateToDefault),
        "/Thingworx/ApplicationKeys/{name}/Services/ResetExpirationDateToDefault",
        "Sets the expiration to now plus the configured lifetime",
        NONE,
        Output::Nothing,
    ),
    declared(
        key(KeyService::SetClientName),
        "/Thingworx/ApplicationKeys/{name}/Services/SetClientName",
        "Sets the client using the key",
        &[opt("name", BaseType::String)],
        Output::Nothing,
    ),
    declared(
        key(KeyService::SetIpWhitelist),
        "/Thingworx/ApplicationKeys/{name}/Services/SetIPWhitelist",
        "Sets the addresses the key may be used from (blank: any)",
        &[opt("list", BaseType::String)],
        Output::Nothing,
    ),
    // --- localization ------------------------------------------------------------------------
    post(
        Run::LocalizationTable,
        "/Thingworx/LocalizationTables/{name}/Services/AddOrUpdateToken",
        &[],
        TAG_LOCALIZATION,
        "Sets a token of the table",
        &[
            req("name", BaseType::String),
            opt("value", BaseType::String),
        ],
        Output::Nothing,
        SECURITY_CHANGE,
    ),
    post(
        Run::RuntimeLocalization,
        "/Thingworx/Resources/RuntimeLocalizationFunctions/Services/GetEffectiveToken",
        &[],
        TAG_LOCALIZATION,
        "A token in the caller's languages, then Default, then System (`???token???` when \
         none has it)",
        &[req("token", BaseType::String)],
        Output::Primitive(BaseType::String),
        AUTHENTICATED,
    ),
    post(
        Run::RuntimeLocalization,
        "/Thingworx/Resources/RuntimeLocalizationFunctions/Services/GetEffectiveTokenForLanguage",
        &[],
        TAG_LOCALIZATION,
        "A token in one language, then Default, then System",
        &[
            req("language", BaseType::String),
            req("token", BaseType::String),
        ],
        Output::Primitive(BaseType::String),
        AUTHENTICATED,
    ),
];

/// Whether `path` ends in `/Services/<service>`.
const fn ends_in_service(path: &str, service: &str) -> bool {
    const SERVICES: &[u8] = b"/Services/";
    let (path, service) = (path.as_bytes(), service.as_bytes());
    let tail = SERVICES.len() + service.len();
    if path.len() < tail {
        return false;
    }
    let start = path.len() - tail;
    let mut i = 0;
    while i < tail {
        let expected = if i < SERVICES.len() {
            SERVICES[i]
        } else {
            service[i - SERVICES.len()]
        };
        if path[start + i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

/// The handler family, name and need of a user service, as the domain declares them.
const fn user(service: UserService) -> (Run, &'static str, Need) {
    (Run::User, service.as_str(), service.need())
}

/// The handler family, name and need of an application key service, as the domain declares
/// them.
const fn key(service: KeyService) -> (Run, &'static str, Need) {
    (Run::AppKey, service.as_str(), service.need())
}

/// A service of `Users/<u>` or `ApplicationKeys/<k>` as the domain declares it ([`user`],
/// [`key`]); a path naming another service than the declared one does not compile.
const fn declared(
    (run, name, need): (Run, &'static str, Need),
    path: &'static str,
    summary: &'static str,
    params: &'static [Param],
    output: Output,
) -> Operation {
    assert!(
        ends_in_service(path, name),
        "the path names another service than the one declared"
    );
    let tag = if matches!(run, Run::User) {
        TAG_USERS
    } else {
        TAG_APP_KEYS
    };
    post(run, path, &[], tag, summary, params, output, need)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every user and key service the catalog lists is the domain's and needs what the domain
    /// declares for it, and the domain has none the catalog does not list.
    #[test]
    fn user_and_key_services_are_the_domains() {
        for op in OPERATIONS {
            let name = op.service().unwrap_or_default();
            let declared = match op.run {
                Run::User => UserService::parse(name).map(UserService::need),
                Run::AppKey => KeyService::parse(name).map(KeyService::need),
                _ => continue,
            };
            assert_eq!(declared, Some(op.need), "{}", op.path);
        }
        let listed = |run: Run| OPERATIONS.iter().filter(|op| op.run == run).count();
        assert_eq!(listed(Run::User), UserService::ALL.len());
        assert_eq!(listed(Run::AppKey), KeyService::ALL.len());
    }
}
