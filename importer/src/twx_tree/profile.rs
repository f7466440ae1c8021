//! What the `.twx` writer's output depends on besides the model: the ThingWorx version its header names (collection lists and their order, version-specific keys).

/// The `.twx` collections of 7.2 files (schema 920), in file order.
pub(super) const COLLECTIONS_7: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "DataAnalysisDefinitions",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// The `.twx` collections of 8.x files (schema 1000), in file order.
pub(super) const COLLECTIONS_8: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "NotificationContents",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "DataAnalysisDefinitions",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "NotificationDefinitions",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// The `.twx` collections of 9.x files (schema 1134), in file order.
pub(super) const COLLECTIONS_9: &[&str] = &[
    "StyleDefinitions",
    "Networks",
    "PersistenceProviderPackages",
    "Mashups",
    "ScriptFunctionLibraries",
    "Projects",
    "Users",
    "DirectoryServices",
    "Widgets",
    "MediaEntities",
    "Groups",
    "PersistenceProviders",
    "NotificationContents",
    "ModelTags",
    "LocalizationTables",
    "Dashboards",
    "StyleThemes",
    "DataShapes",
    "Things",
    "Logs",
    "Authenticators",
    "ThingPackages",
    "NotificationDefinitions",
    "ApplicationKeys",
    "StateDefinitions",
    "ThingTemplates",
    "ExtensionPackages",
    "Organizations",
    "Menus",
    "ThingGroups",
    "Resources",
    "DataTags",
    "ThingShapes",
    "Subsystems",
];

/// What the writer's output depends on besides the model: the ThingWorx version.
#[derive(Clone, Copy, Debug)]
pub(super) struct Profile {
    /// The schema version (`None`: not given, written as the newest known).
    pub(super) schema: Option<u32>,
    /// 9.x or later (schema 1100 and above).
    pub(super) modern: bool,
}

impl Profile {
    pub(super) fn of(header: &[(String, String)]) -> Profile {
        let schema = header
            .iter()
            .find(|(k, _)| k == "schemaVersion")
            .and_then(|(_, v)| v.trim().parse::<u32>().ok());
        Profile {
            schema,
            modern: schema.is_none_or(|s| s >= 1100),
        }
    }

    pub(super) fn collections(self) -> &'static [&'static str] {
        match self.schema {
            Some(s) if s < 1000 => COLLECTIONS_7,
            Some(s) if s < 1100 => COLLECTIONS_8,
            _ => COLLECTIONS_9,
        }
    }
}

pub(super) fn blank_secrets_of(header: &[(String, String)]) -> bool {
    header
        .iter()
        .any(|(k, v)| k == "universal" && v == "password")
}
