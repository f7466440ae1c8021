//! What the `.twx` writer's output depends on besides the model: the ThingWorx version its header
//! names (collection lists and their order, version-specific keys).

/// The ThingWorx versions whose `.twx` files differ in their collection lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Era {
    /// 7.x (schema below 1000).
    V7,
    /// 8.x (schema 1000 to 1099).
    V8,
    /// 9.x and later (schema 1100 and above).
    V9,
}

/// Every `.twx` collection in file order, with the first and last era whose files list it (the
/// 7.2, 8.x and 9.x lists seen in real files).
const COLLECTIONS: &[(&str, Era, Era)] = &[
    ("StyleDefinitions", Era::V7, Era::V9),
    ("Networks", Era::V7, Era::V9),
    ("PersistenceProviderPackages", Era::V7, Era::V9),
    ("Mashups", Era::V7, Era::V9),
    ("ScriptFunctionLibraries", Era::V7, Era::V9),
    ("Projects", Era::V7, Era::V9),
    ("Users", Era::V7, Era::V9),
    ("DirectoryServices", Era::V7, Era::V9),
    ("Widgets", Era::V7, Era::V9),
    ("MediaEntities", Era::V7, Era::V9),
    ("Groups", Era::V7, Era::V9),
    ("PersistenceProviders", Era::V7, Era::V9),
    ("NotificationContents", Era::V8, Era::V9),
    ("ModelTags", Era::V7, Era::V9),
    ("LocalizationTables", Era::V7, Era::V9),
    ("Dashboards", Era::V7, Era::V9),
    ("DataAnalysisDefinitions", Era::V7, Era::V8),
    ("StyleThemes", Era::V9, Era::V9),
    ("DataShapes", Era::V7, Era::V9),
    ("Things", Era::V7, Era::V9),
    ("Logs", Era::V7, Era::V9),
    ("Authenticators", Era::V7, Era::V9),
    ("ThingPackages", Era::V7, Era::V9),
    ("NotificationDefinitions", Era::V8, Era::V9),
    ("ApplicationKeys", Era::V7, Era::V9),
    ("StateDefinitions", Era::V7, Era::V9),
    ("ThingTemplates", Era::V7, Era::V9),
    ("ExtensionPackages", Era::V7, Era::V9),
    ("Organizations", Era::V7, Era::V9),
    ("Menus", Era::V7, Era::V9),
    ("ThingGroups", Era::V9, Era::V9),
    ("Resources", Era::V7, Era::V9),
    ("DataTags", Era::V7, Era::V9),
    ("ThingShapes", Era::V7, Era::V9),
    ("Subsystems", Era::V7, Era::V9),
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

    pub(super) fn collections(self) -> Vec<&'static str> {
        let era = match self.schema {
            Some(s) if s < 1000 => Era::V7,
            Some(s) if s < 1100 => Era::V8,
            _ => Era::V9,
        };
        COLLECTIONS
            .iter()
            .filter(|(_, first, last)| (*first..=*last).contains(&era))
            .map(|(name, _, _)| *name)
            .collect()
    }
}

pub(super) fn blank_secrets_of(header: &[(String, String)]) -> bool {
    header
        .iter()
        .any(|(k, v)| k == "universal" && v == "password")
}
