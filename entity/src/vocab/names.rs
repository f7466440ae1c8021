//! Validated names: entity names, user names, organizational-unit names and tags.
//!
//! ThingWorx accepts e-mail addresses as user names and dots in every name (`PTC.Simulator.TT`),
//! but no `& : / +` in user names. Every name is refused when it is empty, longer than
//! [`MAX_NAME_LEN`] characters, padded with whitespace, holds a control character, or holds a
//! character that would break a REST path, a `Org:Unit` principal or a tag list.

use std::fmt;

use crate::vocab::VocabError;

/// The longest name accepted, in characters.
pub const MAX_NAME_LEN: usize = 255;

/// Characters no entity name may hold: they break REST paths (`/ \ ? # %`), unit principals (`:`),
/// tag lists (`;`) or markup (`< > " |`), and wildcards (`*`).
const FORBIDDEN_IN_ENTITY: &[char] = &['/', '\\', ':', ';', '<', '>', '"', '?', '#', '%', '*', '|'];

/// Further characters a user name may not hold (ThingWorx: `& : / +`).
const FORBIDDEN_IN_USER: &[char] = &['&', '+'];

fn check(kind: &'static str, name: &str, forbidden: &[&[char]]) -> Result<(), VocabError> {
    let bad = |reason: String| VocabError::InvalidName {
        kind,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(bad(format!("it is longer than {MAX_NAME_LEN} characters")));
    }
    if name.trim() != name {
        return Err(bad("it starts or ends with whitespace".into()));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(bad(format!("it contains the control character {:?}", c)));
    }
    for set in forbidden {
        if let Some(c) = name.chars().find(|c| set.contains(c)) {
            return Err(bad(format!("it contains the character '{c}'")));
        }
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, [$($set:expr),*]) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`, or says what is wrong with it.
            pub fn parse(name: &str) -> Result<Self, VocabError> {
                check($kind, name, &[$($set),*])?;
                Ok(Self(name.to_owned()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of any entity (Thing, ThingTemplate, Group, Organization, …).
    EntityName, "entity", [FORBIDDEN_IN_ENTITY]
);
name_type!(
    /// The name of a user: an entity name without `&` or `+`; e-mail addresses are allowed.
    UserName, "user", [FORBIDDEN_IN_ENTITY, FORBIDDEN_IN_USER]
);
name_type!(
    /// The name of an organizational unit inside its organization (`&` is allowed, `:` is not).
    UnitName, "organizational unit", [FORBIDDEN_IN_ENTITY]
);
name_type!(
    /// The name of a property, service, event, field or configuration table.
    MemberName, "member", [&['/', '\\', '?', '#', '%', '*', '"', '<', '>']]
);

/// The name of a unit as a visibility principal: `<Organization>:<Unit>`.
pub fn unit_principal_name(organization: &str, unit: &str) -> String {
    format!("{organization}:{unit}")
}

/// Splits a unit principal name `<Organization>:<Unit>` into its parts.
pub fn split_unit_principal(name: &str) -> Option<(&str, &str)> {
    name.split_once(':')
}

/// One tag: a term of a vocabulary (`PTC:AlertManagement`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    /// The vocabulary (a ModelTags or DataTags entity).
    pub vocabulary: String,
    /// The term inside the vocabulary.
    pub term: String,
}

impl Tag {
    /// Parses a list of tags as ThingWorx writes them: `Vocabulary:Term` pairs joined by `;`.
    pub fn parse_list(list: &str) -> Result<Vec<Tag>, VocabError> {
        let mut tags = Vec::new();
        for part in list.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (vocabulary, term) = part
                .split_once(':')
                .ok_or_else(|| VocabError::InvalidTag(part.to_owned()))?;
            let (vocabulary, term) = (vocabulary.trim(), term.trim());
            EntityName::parse(vocabulary).map_err(|_| VocabError::InvalidTag(part.to_owned()))?;
            if term.is_empty() || term.contains(';') || term.chars().any(char::is_control) {
                return Err(VocabError::InvalidTag(part.to_owned()));
            }
            let tag = Tag {
                vocabulary: vocabulary.to_owned(),
                term: term.to_owned(),
            };
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(tags)
    }

    /// Joins tags back into the `Vocabulary:Term;…` form.
    pub fn join_list(tags: &[Tag]) -> String {
        tags.iter()
            .map(|t| format!("{}:{}", t.vocabulary, t.term))
            .collect::<Vec<_>>()
            .join(";")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names() {
        for ok in [
            "PTC.Simulator.TT",
            "Maint.General",
            "File Repository Settings",
            "a",
            "15.SPM_OIL&Gas",
        ] {
            assert!(EntityName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", " lead", "trail ", "a/b", "a:b", "x\ny", "a;b", "*"] {
            assert!(EntityName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EntityName::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn user_names() {
        assert!(UserName::parse("jane.doe@example.com").is_ok());
        for bad in ["a&b", "a:b", "a/b", "a+b", ""] {
            let err = UserName::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("user name"), "{err}");
        }
    }

    #[test]
    fn tags_round_trip() {
        let tags = Tag::parse_list("PTC:AlertManagement;TWUTL:Core").expect("tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(Tag::join_list(&tags), "PTC:AlertManagement;TWUTL:Core");
        assert!(Tag::parse_list("").expect("empty").is_empty());
        assert!(Tag::parse_list("NoTerm").is_err());
    }
}
