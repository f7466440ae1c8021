//! Permission expectations: a TOML file of `[[expect]]` tables, each saying that a user (or
//! every member of a group) is allowed or denied one permission on one entity (or `Create` on
//! a collection), checked against one state of the model by the explain evaluator. A file
//! that cannot be read is refused with its line; an expectation naming a user, group or
//! entity that does not exist fails with that reason, so nothing passes unchecked.
//!
//! ```toml
//! [[expect]]
//! user = "alice"                      # or: group = "Operators"
//! entity = "Things/SensorDataStream"  # <Collection>/<Name>; a collection alone for Create
//! permission = "PropertyRead"
//! resource = "temperature"            # optional, default "*"
//! allowed = true
//! ```

use std::ops::Range;

use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionCategory, PermissionKind};
use serde::Deserialize;
use toml::Spanned;

use crate::authz::{Outcome, collection_of};
use crate::domain::explain::{Explanation, Question, explain};
use crate::domain::snapshot::Snapshot;
use crate::error::ApiError;

/// Why an expectations file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ExpectError {
    /// The line (from 1) the problem is on.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Whose decision an expectation is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One user.
    User(String),
    /// Every member of a group (directly or through groups).
    Group(String),
}

/// One expectation of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The line its table starts on.
    pub line: usize,
    /// Whose decision.
    pub subject: Subject,
    /// The entity as written (`Things/SensorDataStream`, or `Things` for Create).
    pub entity_path: String,
    /// Its collection.
    pub collection: Collection,
    /// Its name; empty for Create on the collection.
    pub entity: String,
    /// The permission.
    pub permission: PermissionKind,
    /// The resource (`*` unless named).
    pub resource: String,
    /// Whether it should be allowed.
    pub allowed: bool,
}

impl Expectation {
    /// `PropertyRead on temperature of Things/SensorDataStream should be allowed`.
    pub fn describe(&self) -> String {
        let on = if self.permission.category() == PermissionCategory::RunTime {
            format!(
                "{} on {} of {}",
                self.permission, self.resource, self.entity_path
            )
        } else {
            format!("{} on {}", self.permission, self.entity_path)
        };
        format!(
            "{on} should be {}",
            if self.allowed { "allowed" } else { "denied" }
        )
    }
}

/// How one user's check of one expectation ended.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// The decision is the expected one.
    Met(Explanation),
    /// The decision is the other one.
    Failed(Explanation),
    /// The question cannot be asked: a name that does not exist, or a group without members.
    Unknown(String),
}

/// One checked case: an expectation for one user (each member of a group is a case).
#[derive(Clone, Debug)]
pub struct Check<'a> {
    /// The expectation.
    pub expectation: &'a Expectation,
    /// The user checked (`None` when the subject could not be resolved to users).
    pub user: Option<String>,
    /// The result.
    pub verdict: Verdict,
}

impl Check<'_> {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Met(_))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    expect: Vec<Raw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    entity: Spanned<String>,
    permission: Spanned<String>,
    resource: Option<Spanned<String>>,
    allowed: Spanned<bool>,
}

/// The line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Reads an expectations file.
pub fn parse(text: &str) -> Result<Vec<Expectation>, ExpectError> {
    let file: File = toml::from_str(text).map_err(|e| ExpectError {
        line: line_of(text, e.span().map_or(0, |s| s.start)),
        message: e.message().trim().to_owned(),
    })?;
    if file.expect.is_empty() {
        return Err(ExpectError {
            line: 1,
            message: "no [[expect]] table: nothing would be checked".into(),
        });
    }
    file.expect
        .into_iter()
        .map(|raw| expectation(text, raw))
        .collect()
}

fn expectation(text: &str, raw: Raw) -> Result<Expectation, ExpectError> {
    let at = |span: Range<usize>| line_of(text, span.start);
    let line = [
        raw.user.as_ref().map(|s| s.span()),
        raw.group.as_ref().map(|s| s.span()),
        Some(raw.entity.span()),
        Some(raw.permission.span()),
        raw.resource.as_ref().map(|s| s.span()),
        Some(raw.allowed.span()),
    ]
    .into_iter()
    .flatten()
    .map(at)
    .min()
    .unwrap_or(1);
    let fail = |line: usize, message: String| ExpectError { line, message };
    let subject = match (raw.user, raw.group) {
        (Some(user), None) => Subject::User(user.into_inner()),
        (None, Some(group)) => Subject::Group(group.into_inner()),
        (Some(_), Some(group)) => {
            return Err(fail(
                at(group.span()),
                "give either user or group, not both".into(),
            ));
        }
        (None, None) => return Err(fail(line, "missing user or group".into())),
    };
    let permission: PermissionKind =
        raw.permission
            .get_ref()
            .parse()
            .map_err(|e: ironworx_entity::vocab::VocabError| {
                fail(at(raw.permission.span()), e.to_string())
            })?;
    let entity_line = at(raw.entity.span());
    let entity_path = raw.entity.into_inner();
    let (collection_text, name) = entity_path
        .split_once('/')
        .unwrap_or((entity_path.as_str(), ""));
    let collection = collection_of(collection_text).ok_or_else(|| {
        fail(
            entity_line,
            format!("unknown collection '{collection_text}' in entity '{entity_path}' (write <Collection>/<Name>)"),
        )
    })?;
    if name.is_empty() && permission != PermissionKind::Create {
        return Err(fail(
            entity_line,
            format!(
                "entity '{entity_path}' names no entity: only Create is asked of a whole collection (write <Collection>/<Name>)"
            ),
        ));
    }
    let resource = match raw.resource {
        None => ANY_RESOURCE.to_owned(),
        Some(r)
            if permission.category() != PermissionCategory::RunTime
                && r.get_ref() != ANY_RESOURCE =>
        {
            return Err(fail(
                at(r.span()),
                format!("a resource is named only for run-time permissions, not {permission}"),
            ));
        }
        Some(r) if r.get_ref().is_empty() => ANY_RESOURCE.to_owned(),
        Some(r) => r.into_inner(),
    };
    Ok(Expectation {
        line,
        subject,
        collection,
        entity: name.to_owned(),
        entity_path: entity_path.clone(),
        permission,
        resource,
        allowed: *raw.allowed.get_ref(),
    })
}

/// Checks every expectation against `state`: one case per user (each member of a group).
pub fn check<'a>(state: &Snapshot, expectations: &'a [Expectation]) -> Vec<Check<'a>> {
    let mut checks = Vec::new();
    for expectation in expectations {
        let users = match subjects(state, &expectation.subject) {
            Ok(users) => users,
            Err(reason) => {
                checks.push(Check {
                    expectation,
                    user: None,
                    verdict: Verdict::Unknown(reason),
                });
                continue;
            }
        };
        for user in users {
            let verdict = check_one(state, expectation, &user);
            checks.push(Check {
                expectation,
                user: Some(user),
                verdict,
            });
        }
    }
    checks
}

/// The users a subject stands for, or why there are none.
fn subjects(state: &Snapshot, subject: &Subject) -> Result<Vec<String>, String> {
    match subject {
        Subject::User(user) => {
            if state.index.lookup(Collection::Users, user).is_none() {
                return Err(format!("unknown user '{user}'"));
            }
            Ok(vec![user.clone()])
        }
        Subject::Group(group) => {
            if state.index.lookup(Collection::Groups, group).is_none() {
                return Err(format!("unknown group '{group}'"));
            }
            let members: Vec<String> = state
                .entities()
                .filter(|(_, c, name)| {
                    *c == Collection::Users && crate::domain::diff::is_member(state, name, group)
                })
                .map(|(_, _, name)| name.to_owned())
                .collect();
            if members.is_empty() {
                return Err(format!("group '{group}' has no members"));
            }
            Ok(members)
        }
    }
}

fn check_one(state: &Snapshot, expectation: &Expectation, user: &str) -> Verdict {
    let question = Question {
        user,
        entity_type: expectation.collection.as_str(),
        entity: &expectation.entity,
        kind: expectation.permission,
        resource: &expectation.resource,
        wrapped: false,
    };
    match explain(&state.index, &question) {
        Ok(explanation) if (explanation.outcome == Outcome::Allow) == expectation.allowed => {
            Verdict::Met(explanation)
        }
        Ok(explanation) => Verdict::Failed(explanation),
        Err(ApiError::NotFound) => Verdict::Unknown(format!(
            "{} '{}' does not exist",
            expectation.collection, expectation.entity
        )),
        Err(other) => Verdict::Unknown(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_with_defaults_and_lines() {
        let text = "# checks\n\n[[expect]]\nuser = \"alice\"\nentity = \"Things/S\"\npermission = \"PropertyRead\"\nallowed = true\n\n[[expect]]\ngroup = \"Ops\"\nentity = \"Things\"\npermission = \"Create\"\nallowed = false\n";
        let all = parse(text).expect("parses");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].line, 4);
        assert_eq!(all[0].subject, Subject::User("alice".into()));
        assert_eq!(all[0].resource, "*");
        assert_eq!(all[0].entity, "S");
        assert_eq!(all[1].line, 10);
        assert_eq!(all[1].subject, Subject::Group("Ops".into()));
        assert_eq!(all[1].entity, "");
        assert_eq!(all[1].collection, Collection::Things);
    }

    #[test]
    fn a_bad_file_names_the_line() {
        let bad = |text: &str| parse(text).expect_err("refused");
        let syntax = bad("[[expect]]\nuser = \"a\"\nallowed = maybe\n");
        assert_eq!(syntax.line, 3, "{syntax}");
        let permission = bad(
            "[[expect]]\nuser = \"a\"\nentity = \"Things/T\"\npermission = \"Execute\"\nallowed = true\n",
        );
        assert_eq!(permission.line, 4);
        assert!(permission.message.contains("Execute"), "{permission}");
        let typo = bad(
            "[[expect]]\nuser = \"a\"\nentity = \"Things/T\"\npermission = \"Read\"\nalowed = true\n",
        );
        assert!(typo.message.contains("alowed"), "{typo}");
        let collection = bad(
            "[[expect]]\nuser = \"a\"\nentity = \"Things\"\npermission = \"Read\"\nallowed = true\n",
        );
        assert_eq!(collection.line, 3);
        assert!(bad("").message.contains("no [[expect]]"));
        let both = bad(
            "[[expect]]\nuser = \"a\"\ngroup = \"g\"\nentity = \"Things/T\"\npermission = \"Read\"\nallowed = true\n",
        );
        assert_eq!(both.line, 3);
    }
}
