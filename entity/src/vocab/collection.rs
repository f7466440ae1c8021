//! The ThingWorx collections: their REST names, their entity element names, and what kind of entity they hold.

use std::fmt;
use std::str::FromStr;

use crate::vocab::VocabError;

macro_rules! collections {
    ($( $variant:ident => $collection:literal, $element:literal; )*) => {
        /// A ThingWorx collection (`Things`, `Users`, …): the unit of collection-level permissions and of REST paths.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Collection {
            $( #[doc = $collection] $variant, )*
        }

        impl Collection {
            /// Every collection, in a stable order.
            pub const ALL: &'static [Collection] = &[ $( Collection::$variant, )* ];

            /// The collection name as it appears in REST paths and exports (`ThingTemplates`).
            pub fn as_str(self) -> &'static str {
                match self { $( Collection::$variant => $collection, )* }
            }

            /// The element name of one entity of this collection in XML exports (`ThingTemplate`).
            pub fn element_name(self) -> &'static str {
                match self { $( Collection::$variant => $element, )* }
            }

            /// The collection whose entity element is `element` (`Thing` gives `Things`).
            pub fn from_element_name(element: &str) -> Option<Collection> {
                match element { $( $element => Some(Collection::$variant), )* _ => None }
            }
        }

        impl FromStr for Collection {
            type Err = VocabError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $collection => Ok(Collection::$variant), )*
                    other => Err(VocabError::UnknownCollection(other.to_owned())),
                }
            }
        }
    };
}

collections! {
    Things => "Things", "Thing";
    ThingTemplates => "ThingTemplates", "ThingTemplate";
    ThingShapes => "ThingShapes", "ThingShape";
    DataShapes => "DataShapes", "DataShape";
    Users => "Users", "User";
    Groups => "Groups", "Group";
    Organizations => "Organizations", "Organization";
    ApplicationKeys => "ApplicationKeys", "ApplicationKey";
    Projects => "Projects", "Project";
    Mashups => "Mashups", "Mashup";
    MediaEntities => "MediaEntities", "MediaEntity";
    LocalizationTables => "LocalizationTables", "LocalizationTable";
    Resources => "Resources", "Resource";
    Subsystems => "Subsystems", "Subsystem";
    ModelTags => "ModelTags", "ModelTagVocabulary";
    DataTags => "DataTags", "DataTagVocabulary";
    StyleDefinitions => "StyleDefinitions", "StyleDefinition";
    StyleThemes => "StyleThemes", "StyleTheme";
    StateDefinitions => "StateDefinitions", "StateDefinition";
    Menus => "Menus", "Menu";
    Dashboards => "Dashboards", "Dashboard";
    Logs => "Logs", "Log";
    Authenticators => "Authenticators", "Authenticator";
    Networks => "Networks", "Network";
    ExtensionPackages => "ExtensionPackages", "ExtensionPackage";
    ThingPackages => "ThingPackages", "ThingPackage";
    Widgets => "Widgets", "Widget";
    ScriptFunctionLibraries => "ScriptFunctionLibraries", "ScriptFunctionLibrary";
    DirectoryServices => "DirectoryServices", "DirectoryService";
    PersistenceProviders => "PersistenceProviders", "PersistenceProvider";
    PersistenceProviderPackages => "PersistenceProviderPackages", "PersistenceProviderPackage";
    NotificationContents => "NotificationContents", "NotificationContent";
    NotificationDefinitions => "NotificationDefinitions", "NotificationDefinition";
    DataAnalysisDefinitions => "DataAnalysisDefinitions", "DataAnalysisDefinition";
    ThingGroups => "ThingGroups", "ThingGroup";
}

impl Collection {
    /// Whether entities of this collection are principals (they can be named in a permission rule).
    pub fn is_principal(self) -> bool {
        matches!(
            self,
            Collection::Users | Collection::Groups | Collection::Organizations
        )
    }

    /// Whether entities of this collection carry instance permissions that flow to implementing Things.
    pub fn has_instance_permissions(self) -> bool {
        matches!(self, Collection::ThingTemplates | Collection::ThingShapes)
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Collection::ALL {
            assert_eq!(c.as_str().parse::<Collection>().ok(), Some(*c));
            assert_eq!(Collection::from_element_name(c.element_name()), Some(*c));
        }
        assert!("Thing".parse::<Collection>().is_err());
    }
}
