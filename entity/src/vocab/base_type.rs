//! The ThingWorx base types: their spellings, and where each may be used (a property, a
//! DataShape field, a service's result).

use std::fmt;
use std::str::FromStr;

use crate::vocab::VocabError;

macro_rules! base_types {
    ($( $variant:ident => $name:literal; )*) => {
        /// A ThingWorx base type (`STRING`, `INFOTABLE`, `THINGNAME`, …): the type of a property,
        /// a field, a service parameter or a service result.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum BaseType {
            $( #[doc = $name] $variant, )*
        }

        impl BaseType {
            /// Every base type, in a stable order.
            pub const ALL: &'static [BaseType] = &[ $( BaseType::$variant, )* ];

            /// The ThingWorx spelling (`INFOTABLE`), as exports and the REST API carry it.
            pub fn as_str(self) -> &'static str {
                match self { $( BaseType::$variant => $name, )* }
            }
        }

        impl FromStr for BaseType {
            type Err = VocabError;
            /// Parses the exact ThingWorx spelling (upper case).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $name => Ok(BaseType::$variant), )*
                    other => Err(VocabError::UnknownBaseType(other.to_owned())),
                }
            }
        }
    };
}

base_types! {
    Nothing => "NOTHING";
    String => "STRING";
    Number => "NUMBER";
    Integer => "INTEGER";
    Long => "LONG";
    Boolean => "BOOLEAN";
    Datetime => "DATETIME";
    Timespan => "TIMESPAN";
    Infotable => "INFOTABLE";
    Location => "LOCATION";
    Xml => "XML";
    Json => "JSON";
    TwJson => "TWJSON";
    Query => "QUERY";
    Image => "IMAGE";
    Hyperlink => "HYPERLINK";
    Imagelink => "IMAGELINK";
    Password => "PASSWORD";
    Html => "HTML";
    Text => "TEXT";
    Tags => "TAGS";
    Schedule => "SCHEDULE";
    Variant => "VARIANT";
    Guid => "GUID";
    Blob => "BLOB";
    Vec2 => "VEC2";
    Vec3 => "VEC3";
    Vec4 => "VEC4";
    ThingCode => "THINGCODE";
    ThingName => "THINGNAME";
    ThingShapeName => "THINGSHAPENAME";
    ThingTemplateName => "THINGTEMPLATENAME";
    DataShapeName => "DATASHAPENAME";
    MashupName => "MASHUPNAME";
    MenuName => "MENUNAME";
    BaseTypeName => "BASETYPENAME";
    UserName => "USERNAME";
    GroupName => "GROUPNAME";
    CategoryName => "CATEGORYNAME";
    ServiceName => "SERVICENAME";
    StateDefinitionName => "STATEDEFINITIONNAME";
    StyleDefinitionName => "STYLEDEFINITIONNAME";
    ModelTagVocabularyName => "MODELTAGVOCABULARYNAME";
    DataTagVocabularyName => "DATATAGVOCABULARYNAME";
    NetworkName => "NETWORKNAME";
    MediaEntityName => "MEDIAENTITYNAME";
    ApplicationKeyName => "APPLICATIONKEYNAME";
    LocalizationTableName => "LOCALIZATIONTABLENAME";
    OrganizationName => "ORGANIZATIONNAME";
    DashboardName => "DASHBOARDNAME";
    PersistenceProviderPackageName => "PERSISTENCEPROVIDERPACKAGENAME";
    PersistenceProviderName => "PERSISTENCEPROVIDERNAME";
    ProjectName => "PROJECTNAME";
    NotificationContentName => "NOTIFICATIONCONTENTNAME";
    NotificationDefinitionName => "NOTIFICATIONDEFINITIONNAME";
    StyleThemeName => "STYLETHEMENAME";
    ThingGroupName => "THINGGROUPNAME";
}

impl BaseType {
    /// Whether a property (or a service parameter) may be defined with this type.
    pub fn is_property_type(self) -> bool {
        !matches!(
            self,
            BaseType::Nothing
                | BaseType::TwJson
                | BaseType::ThingCode
                | BaseType::ServiceName
                | BaseType::Vec2
                | BaseType::Vec3
                | BaseType::Vec4
        )
    }

    /// Whether a DataShape field may be defined with this type.
    pub fn is_field_type(self) -> bool {
        !matches!(
            self,
            BaseType::Nothing | BaseType::TwJson | BaseType::CategoryName | BaseType::ServiceName
        )
    }

    /// Whether a service may return this type: a property's type, or `NOTHING`.
    pub fn is_result_type(self) -> bool {
        self == BaseType::Nothing || self.is_property_type()
    }

    /// The property type spelled `name`, when there is one.
    pub fn property(name: &str) -> Option<BaseType> {
        name.parse()
            .ok()
            .filter(|t: &BaseType| t.is_property_type())
    }
}

impl AsRef<str> for BaseType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for BaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in BaseType::ALL {
            assert_eq!(t.as_str().parse::<BaseType>().ok(), Some(*t));
        }
        assert!("string".parse::<BaseType>().is_err());
        assert_eq!(
            "FOO".parse::<BaseType>().map_err(|e| e.to_string()),
            Err("unknown base type 'FOO'".to_owned())
        );
    }

    #[test]
    fn uses_differ_where_thingworx_differs() {
        let count =
            |allowed: fn(BaseType) -> bool| BaseType::ALL.iter().filter(|t| allowed(**t)).count();
        assert_eq!(count(BaseType::is_property_type), 50);
        assert_eq!(count(BaseType::is_field_type), 53);
        assert!(
            BaseType::CategoryName.is_property_type() && !BaseType::CategoryName.is_field_type()
        );
        assert!(BaseType::ThingCode.is_field_type() && !BaseType::ThingCode.is_property_type());
        assert!(BaseType::Nothing.is_result_type() && !BaseType::Nothing.is_property_type());
        assert!(!BaseType::Nothing.is_field_type());
        assert!(BaseType::Vec2.is_field_type() && !BaseType::Vec2.is_property_type());
    }
}
