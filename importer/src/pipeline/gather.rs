//! The first step of planning an import: the entities as the readers hand them over, validated,
//! a later definition of an entity replacing the earlier one. For a two-pass import the Things
//! are summarized (their name, where they were read, the principals their rules name) instead
//! of kept; the second pass reads them again and plans them one at a time
//! ([`crate::plan::Streamed`]).

use std::collections::{HashMap, HashSet};

use ironworx_entity::queries::entities::validate_name;
use ironworx_entity::queries::users::{ARGON2_MAX_COST, ARGON2ID, Argon2Cost, PBKDF2_SHA512};
use ironworx_entity::vocab::{
    Collection, PermissionCategory, PrincipalType, Tag, UnitName, split_unit_principal,
};

use crate::error::ImportError;
use crate::limits::Limits;
use crate::model::{Entity, Kind, Origin};

/// Where an entity key points.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// An entity kept whole (index into [`Gather::kept`]).
    Kept(usize),
    /// A Thing left for the second pass (index into [`Gather::deferred`]).
    Deferred(usize),
}

/// A Thing left for the second pass: what planning needs before it is read again.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    /// The file its latest definition was read from (index into [`Gather::files`]).
    file: u32,
    /// The line of its latest definition.
    line: Option<u64>,
    /// How many definitions of it were read (the last one is imported).
    pub(crate) occurrences: u32,
    /// The principals its rules name (indexes into [`Gather::principals`]), with the number of
    /// rules naming each.
    pub(crate) principals: Box<[(u32, u32)]>,
}

/// The entities of an import as they are read, in reading order.
#[derive(Debug, Default)]
pub struct Gather {
    /// Whether Things are summarized for a second pass instead of kept.
    two_pass: bool,
    /// Every entity read, by collection and name.
    pub(crate) by_key: HashMap<(Collection, String), Slot>,
    /// The entities kept whole, in the order of their first definition.
    pub(crate) kept: Vec<Entity>,
    /// The Things left for the second pass, in the order of their first definition.
    pub(crate) deferred: Vec<Summary>,
    /// The files the deferred Things were read from.
    files: Vec<String>,
    file_ids: HashMap<String, u32>,
    /// The principals the deferred Things' rules name.
    pub(crate) principals: Vec<(PrincipalType, String)>,
    principal_ids: HashMap<(PrincipalType, String), u32>,
    /// Later definitions that replaced earlier ones, in reading order.
    pub(crate) warnings: Vec<String>,
    /// The most iterations an imported PBKDF2 hash may claim (`None`: the default of
    /// [`Limits`]).
    max_pbkdf2_iterations: Option<u32>,
}

impl Gather {
    /// Keeps every entity whole (a one-pass import of an export in memory).
    pub fn new() -> Self {
        Gather::default()
    }

    /// Keeps every entity but the Things, which a second pass reads again.
    pub fn two_pass() -> Self {
        Gather {
            two_pass: true,
            ..Gather::default()
        }
    }

    /// Refuses users whose PBKDF2 hash claims more iterations than `limits` allow.
    pub fn limited(self, limits: &Limits) -> Self {
        Gather {
            max_pbkdf2_iterations: Some(limits.max_pbkdf2_iterations),
            ..self
        }
    }

    /// How many distinct entities were read.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no entity was read.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Takes the next entity read; an entity that cannot be imported is refused.
    pub fn push(&mut self, entity: Entity) -> Result<(), ImportError> {
        validate(&entity)?;
        let max_iterations = self
            .max_pbkdf2_iterations
            .unwrap_or_else(|| Limits::default().max_pbkdf2_iterations);
        validate_password(&entity, max_iterations)?;
        let key = (entity.collection, entity.name.clone());
        match self.by_key.get(&key).copied() {
            Some(slot) => {
                let earlier = match slot {
                    Slot::Kept(at) => self.kept[at].origin.clone(),
                    Slot::Deferred(at) => self.origin_of(&self.deferred[at]),
                };
                self.warnings.push(format!(
                    "{}: {} is defined again (first at {earlier}); the later definition is imported",
                    entity.origin,
                    entity.path(),
                ));
                match slot {
                    Slot::Kept(at) => self.kept[at] = entity,
                    Slot::Deferred(at) => {
                        let occurrences = self.deferred[at].occurrences + 1;
                        self.deferred[at] = self.summarize(&entity, occurrences);
                    }
                }
            }
            None if self.two_pass && entity.collection == Collection::Things => {
                let summary = self.summarize(&entity, 1);
                self.by_key.insert(key, Slot::Deferred(self.deferred.len()));
                self.deferred.push(summary);
            }
            None => {
                self.by_key.insert(key, Slot::Kept(self.kept.len()));
                self.kept.push(entity);
            }
        }
        Ok(())
    }

    fn origin_of(&self, summary: &Summary) -> Origin {
        Origin {
            file: self.files[summary.file as usize].clone(),
            line: summary.line,
        }
    }

    fn summarize(&mut self, entity: &Entity, occurrences: u32) -> Summary {
        let file = match self.file_ids.get(entity.origin.file.as_str()) {
            Some(&id) => id,
            None => {
                let id = intern_id(self.files.len());
                self.files.push(entity.origin.file.clone());
                self.file_ids.insert(entity.origin.file.clone(), id);
                id
            }
        };
        let mut principals: Vec<(u32, u32)> = Vec::new();
        for r in &entity.rules {
            let key = (r.rule.principal_type, r.rule.principal_name.clone());
            let id = match self.principal_ids.get(&key) {
                Some(&id) => id,
                None => {
                    let id = intern_id(self.principals.len());
                    self.principals.push(key.clone());
                    self.principal_ids.insert(key, id);
                    id
                }
            };
            match principals.iter_mut().find(|(p, _)| *p == id) {
                Some((_, count)) => *count += 1,
                None => principals.push((id, 1)),
            }
        }
        Summary {
            file,
            line: entity.origin.line,
            occurrences,
            principals: principals.into_boxed_slice(),
        }
    }
}

/// An index into one of the interning tables (fewer than 2^32 files or principals: each
/// takes at least a byte of input).
fn intern_id(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn invalid(entity: &Entity, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        origin: entity.origin.clone(),
        entity: entity.path(),
        message: message.into(),
    }
}

/// Refuses a user whose imported PBKDF2 hash claims more than `max_iterations` iterations,
/// in the hash itself (`iterations:salt:hash`) or in its stored iteration count, or whose
/// argon2id hash states a cost above [`ARGON2_MAX_COST`].
pub(crate) fn validate_password(e: &Entity, max_iterations: u32) -> Result<(), ImportError> {
    let Kind::User(user) = &e.kind else {
        return Ok(());
    };
    let Some(password) = &user.password else {
        return Ok(());
    };
    if password.algorithm == ARGON2ID {
        if Argon2Cost::of(&password.hash).is_some_and(|c| c.is_bounded()) {
            return Ok(());
        }
        let max = ARGON2_MAX_COST;
        return Err(invalid(
            e,
            format!(
                "user '{}': its argon2id password hash states no cost or more than the limit of                  m={},t={},p={}",
                e.name, max.memory_kib, max.passes, max.lanes
            ),
        ));
    }
    if password.algorithm != PBKDF2_SHA512 {
        return Ok(());
    }
    let in_hash = password
        .hash
        .split(':')
        .next()
        .and_then(|n| n.trim().parse::<u64>().ok());
    let claimed = in_hash
        .unwrap_or(0)
        .max(u64::try_from(password.iterations).unwrap_or(0));
    if claimed > u64::from(max_iterations) {
        return Err(invalid(
            e,
            format!(
                "user '{}': its PBKDF2 password hash claims {claimed} iterations, more than the \
                 limit of {max_iterations} (--max-pbkdf2-iterations)",
                e.name
            ),
        ));
    }
    Ok(())
}

/// Refuses what cannot be imported: bad names, bad tags, rules that do not fit, a kind that
/// does not match its collection.
pub(crate) fn validate(e: &Entity) -> Result<(), ImportError> {
    validate_name(e.collection, &e.name).map_err(|err| invalid(e, err.to_string()))?;
    Tag::parse_list(&e.common.tags).map_err(|err| invalid(e, err.to_string()))?;
    for r in &e.rules {
        r.rule
            .validate()
            .map_err(|err| invalid(e, err.to_string()))?;
        if r.instance {
            let fits = match e.collection {
                Collection::ThingTemplates => true,
                Collection::ThingShapes => r.rule.kind.category() == PermissionCategory::RunTime,
                _ => false,
            };
            if !fits {
                return Err(invalid(
                    e,
                    format!(
                        "an instance {} rule cannot sit on a {} entity",
                        r.rule.kind,
                        e.collection.element_name()
                    ),
                ));
            }
        }
        if r.rule.principal_type == PrincipalType::OrganizationalUnit
            && split_unit_principal(&r.rule.principal_name).is_none()
        {
            return Err(invalid(
                e,
                format!(
                    "organizational unit principal '{}' is not <Organization>:<Unit>",
                    r.rule.principal_name
                ),
            ));
        }
    }
    let kind_fits = match &e.kind {
        Kind::Plain => true,
        Kind::Thing(_) => e.collection == Collection::Things,
        Kind::ThingTemplate(_) => e.collection == Collection::ThingTemplates,
        Kind::ThingShape(_) => e.collection == Collection::ThingShapes,
        Kind::DataShape(_) => e.collection == Collection::DataShapes,
        Kind::User(_) => e.collection == Collection::Users,
        Kind::Group(_) => e.collection == Collection::Groups,
        Kind::Organization(_) => e.collection == Collection::Organizations,
        Kind::ApplicationKey(_) => e.collection == Collection::ApplicationKeys,
        Kind::LocalizationTable(_) => e.collection == Collection::LocalizationTables,
        Kind::Vocabulary(_) => {
            matches!(e.collection, Collection::ModelTags | Collection::DataTags)
        }
    };
    if !kind_fits {
        return Err(invalid(e, "its content does not match its collection"));
    }
    if let Kind::Organization(org) = &e.kind {
        let names: HashSet<&str> = org.units.iter().map(|u| u.name.as_str()).collect();
        for unit in &org.units {
            UnitName::parse(&unit.name).map_err(|err| invalid(e, err.to_string()))?;
            if let Some(parent) = &unit.parent
                && !names.contains(parent.as_str())
                && parent != &e.name
            {
                return Err(invalid(
                    e,
                    format!("unit '{}' hangs below unknown unit '{parent}'", unit.name),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, PasswordHash, User};

    fn user(name: &str, iterations: i32) -> Entity {
        Entity {
            collection: Collection::Users,
            name: name.into(),
            common: Common::default(),
            rules: vec![],
            configuration_tables: vec![],
            kind: Kind::User(Box::new(User {
                password: Some(PasswordHash {
                    hash: format!("{iterations}:0a0b:0c0d"),
                    algorithm: PBKDF2_SHA512.into(),
                    iterations,
                    salt_bytes: 2,
                    hash_bytes: 2,
                }),
                ..User::default()
            })),
            extra: Default::default(),
            origin: Origin {
                file: "Users.xml".into(),
                line: Some(3),
            },
        }
    }

    #[test]
    fn pbkdf2_iterations_above_the_limit_are_refused() {
        let limits = Limits::default();
        let mut gather = Gather::two_pass().limited(&limits);
        gather
            .push(user("thingworx", 100_000))
            .expect("ThingWorx's count");
        gather
            .push(user("owasp", 210_000))
            .expect("the default limit itself");
        let err = gather
            .push(user("slowpoke", 10_000_000))
            .expect_err("above the limit")
            .to_string();
        assert!(err.contains("slowpoke") && err.contains("210000"), "{err}");
        let tight = Limits {
            max_pbkdf2_iterations: 50_000,
            ..Limits::default()
        };
        let err = Gather::new()
            .limited(&tight)
            .push(user("thingworx", 100_000))
            .expect_err("above a lower limit")
            .to_string();
        assert!(err.contains("50000"), "{err}");
        assert!(Gather::new().push(user("slowpoke", 10_000_000)).is_err());
    }

    #[test]
    fn argon2_costs_above_the_bound_are_refused() {
        let argon2 = |name: &str, params: &str| {
            let mut e = user(name, 0);
            if let Kind::User(u) = &mut e.kind {
                u.password = Some(PasswordHash {
                    hash: format!("$argon2id$v=19${params}$c2FsdHNhbHQ$aGFzaGhhc2g"),
                    algorithm: ARGON2ID.into(),
                    ..PasswordHash::default()
                });
            }
            e
        };
        let mut gather = Gather::new();
        gather
            .push(argon2("server", "m=19456,t=2,p=1"))
            .expect("the server's own cost");
        for (name, params) in [
            ("greedy", "m=4194304,t=2,p=1"),
            ("slow", "m=19456,t=99,p=1"),
        ] {
            let err = gather
                .push(argon2(name, params))
                .expect_err("above the bound")
                .to_string();
            assert!(err.contains(name) && err.contains("m=77824"), "{err}");
        }
        assert!(gather.push(argon2("garbled", "x=1")).is_err());
    }
}
