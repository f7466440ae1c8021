//! Validated names: entity names, principal names (users, groups, organizations and
//! organizational units), member names and tags.
//!
//! ThingWorx accepts e-mail addresses as user names and dots in every name (`PTC.Simulator.TT`),
//! but no `& : / +` in user names. Every name is refused when it is empty, longer than
//! [`MAX_NAME_LEN`] characters, padded with whitespace, holds a character that would break a
//! REST path, a `Org:Unit` principal or a tag list, or holds a character that is invisible or
//! not a character at all: a control (`Cc`), format (`Cf`: zero-width and bidirectional
//! controls), surrogate (`Cs`), private-use (`Co`) or unassigned (`Cn`) code point, or a line
//! or paragraph separator (`Zl`, `Zp`). Such characters would let a name display like another
//! one (`Administrators` followed by a zero-width space).
//!
//! Names are compared as stored, so every name must already be in its Unicode normal form:
//! NFKC for principal names (compatibility characters such as full-width letters or ligatures
//! are folded, so that two principals never look alike), NFC for every other name. A name in
//! another form is refused with the normalized spelling to use instead; a user name typed at
//! login is brought to NFKC ([`normalize_principal_name`]) before it is looked up.

use std::fmt;

use unicode_normalization::{UnicodeNormalization, is_nfc, is_nfkc};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::vocab::VocabError;

/// The longest name accepted, in characters.
pub const MAX_NAME_LEN: usize = 255;

/// Characters no entity name may hold: they break REST paths (`/ \ ? # %`), unit principals (`:`),
/// tag lists (`;`) or markup (`< > " |`), and wildcards (`*`).
const FORBIDDEN_IN_ENTITY: &[char] = &['/', '\\', ':', ';', '<', '>', '"', '?', '#', '%', '*', '|'];

/// Further characters a user name may not hold (ThingWorx: `& : / +`).
const FORBIDDEN_IN_USER: &[char] = &['&', '+'];

/// The Unicode normal form a name must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Canonical composition: every name but principal names.
    Nfc,
    /// Compatibility composition: principal names.
    Nfkc,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Nfc => "NFC",
            Form::Nfkc => "NFKC",
        }
    }

    fn holds(self, name: &str) -> bool {
        match self {
            Form::Nfc => is_nfc(name),
            Form::Nfkc => is_nfkc(name),
        }
    }

    fn normalize(self, name: &str) -> String {
        match self {
            Form::Nfc => name.nfc().collect(),
            Form::Nfkc => name.nfkc().collect(),
        }
    }
}

/// The user name a login looks up: `name` in NFKC, the form principal names are stored in.
pub fn normalize_principal_name(name: &str) -> String {
    if is_nfkc(name) {
        name.to_owned()
    } else {
        name.nfkc().collect()
    }
}

/// Why `c` may appear in no name, when it may not: its general category, described.
fn refused_category(c: char) -> Option<&'static str> {
    Some(match c.general_category() {
        GeneralCategory::Control => "a control character (Cc)",
        GeneralCategory::Format => "an invisible format character (Cf)",
        GeneralCategory::Surrogate => "a surrogate (Cs)",
        GeneralCategory::PrivateUse => "a private-use character (Co)",
        GeneralCategory::Unassigned => "an unassigned code point (Cn)",
        GeneralCategory::LineSeparator => "a line separator (Zl)",
        GeneralCategory::ParagraphSeparator => "a paragraph separator (Zp)",
        _ => return None,
    })
}

/// `name` as an error shows it: the characters [`refused_category`] refuses written `U+XXXX`,
/// so that the message itself does not hide them or turn text around.
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| match refused_category(c) {
            Some(_) => format!("<U+{:04X}>", u32::from(c)),
            None => c.to_string(),
        })
        .collect()
}

fn check(
    kind: &'static str,
    name: &str,
    forbidden: &[&[char]],
    form: Form,
) -> Result<(), VocabError> {
    let bad = |reason: String| VocabError::InvalidName {
        kind,
        name: shown(name),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(bad(format!("it is longer than {MAX_NAME_LEN} characters")));
    }
    if let Some((c, what)) = name
        .chars()
        .find_map(|c| refused_category(c).map(|what| (c, what)))
    {
        return Err(bad(format!("it contains U+{:04X}, {what}", u32::from(c))));
    }
    if name.trim() != name {
        return Err(bad("it starts or ends with whitespace".into()));
    }
    for set in forbidden {
        if let Some(c) = name.chars().find(|c| set.contains(c)) {
            return Err(bad(format!("it contains the character '{c}'")));
        }
    }
    if !form.holds(name) {
        return Err(bad(format!(
            "it is not in Unicode {} form; write it '{}'",
            form.name(),
            form.normalize(name)
        )));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, [$($set:expr),*], $form:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`, or says what is wrong with it.
            pub fn parse(name: &str) -> Result<Self, VocabError> {
                check($kind, name, &[$($set),*], $form)?;
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
    /// The name of any entity (Thing, ThingTemplate, Mashup, …), in NFC.
    EntityName, "entity", [FORBIDDEN_IN_ENTITY], Form::Nfc
);
name_type!(
    /// The name of a group: an entity name in NFKC.
    GroupName, "group", [FORBIDDEN_IN_ENTITY], Form::Nfkc
);
name_type!(
    /// The name of an organization: an entity name in NFKC.
    OrganizationName, "organization", [FORBIDDEN_IN_ENTITY], Form::Nfkc
);
name_type!(
    /// The name of a user: an entity name without `&` or `+`, in NFKC; e-mail addresses are
    /// allowed.
    UserName, "user", [FORBIDDEN_IN_ENTITY, FORBIDDEN_IN_USER], Form::Nfkc
);
name_type!(
    /// The name of an organizational unit inside its organization (`&` is allowed, `:` is not),
    /// in NFKC.
    UnitName, "organizational unit", [FORBIDDEN_IN_ENTITY], Form::Nfkc
);
name_type!(
    /// The name of a property, service, event, field or configuration table, in NFC.
    MemberName, "member", [&['/', '\\', '?', '#', '%', '*', '"', '<', '>']], Form::Nfc
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
    fn invisible_and_unassigned_characters_are_refused_everywhere() {
        for (bad, code) in [
            ("Administrators\u{200B}", "U+200B"),
            ("Admin\u{202E}srotartsinim", "U+202E"),
            ("a\u{2066}b", "U+2066"),
            ("a\u{FEFF}b", "U+FEFF"),
            ("a\u{E000}b", "U+E000"),
            ("a\u{0378}b", "U+0378"),
            ("a\u{2028}b", "U+2028"),
            ("a\u{2029}b", "U+2029"),
            ("x\ny", "U+000A"),
        ] {
            for err in [
                EntityName::parse(bad).expect_err(bad),
                GroupName::parse(bad).expect_err(bad),
                UserName::parse(bad).expect_err(bad),
                UnitName::parse(bad).expect_err(bad),
                MemberName::parse(bad).expect_err(bad),
            ] {
                let text = err.to_string();
                assert!(text.contains(code), "{text}");
                assert!(
                    !text.contains(bad),
                    "the message shows the character: {text}"
                );
            }
        }
    }

    #[test]
    fn principals_are_nfkc_and_other_names_nfc() {
        // Full-width letters and a ligature: fine in NFC, folded by NFKC.
        for name in ["Ａdministrators", "ﬁnance"] {
            assert!(EntityName::parse(name).is_ok(), "{name}");
            let err = GroupName::parse(name).expect_err(name).to_string();
            assert!(err.contains("NFKC"), "{err}");
            let folded = normalize_principal_name(name);
            assert!(err.contains(&format!("'{folded}'")), "{err}");
            assert!(GroupName::parse(&folded).is_ok());
            assert!(UserName::parse(name).is_err() && OrganizationName::parse(name).is_err());
        }
        // A decomposed accent: refused everywhere, with the composed spelling suggested.
        let decomposed = "Cafe\u{301}";
        let err = EntityName::parse(decomposed).expect_err("nfd").to_string();
        assert!(err.contains("NFC") && err.contains("'Café'"), "{err}");
        assert!(UserName::parse("Café").is_ok() && EntityName::parse("Café").is_ok());
        assert_eq!(normalize_principal_name("ｊａｎｅ"), "jane");
        assert_eq!(normalize_principal_name("jane"), "jane");
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
