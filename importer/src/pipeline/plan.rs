//! The pure plan step of an import: validation, ordering (principals first, then vocabularies,
//! shapes, data shapes, templates base before derived, Things, everything else; rules last),
//! the mode (file mode ignores collection-level rules), the base types of property values, and
//! the principals that an import names but that neither it nor the database defines.
//! No I/O: what the database already holds comes in as [`Known`]. A two-pass import plans
//! everything but the Things from its first pass ([`plan_gathered`]), then each Thing as the
//! second pass reads it ([`Streamed::take`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ironworx_entity::vocab::{Collection, MemberType, PrincipalType, unit_principal_name};

use crate::error::ImportError;
use crate::gather::{Gather, Slot, validate};
use crate::model::{
    CollectionRule, Entity, EntityRule, Export, Kind, ListedRules, Member, Note, Origin,
};
use crate::values;

/// How an import treats collection-level rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// "From File": entity-level rules only; collection-level rules are ignored and reported.
    File,
    /// "From ThingworxStorage": collection-level rules are read and written too.
    Storage,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "file" => Ok(Mode::File),
            "storage" => Ok(Mode::Storage),
            other => Err(format!("unknown mode '{other}' (expected file or storage)")),
        }
    }
}

/// Options of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// File or storage mode.
    pub mode: Mode,
    /// Refuse the import when it names principals defined nowhere, instead of dropping them.
    pub strict: bool,
}

/// What the database already holds that a plan needs to know.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Existing principals: users, groups, organizations and units (`Org:Unit`).
    pub principals: HashSet<(PrincipalType, String)>,
    /// Property base types of existing Things' templates and shapes:
    /// entity name (template or shape) → property → base type.
    pub property_types: HashMap<(Collection, String), HashMap<String, String>>,
    /// Existing templates' bases, to walk chains that leave the import.
    pub template_bases: HashMap<String, String>,
    /// Existing templates' implemented shapes.
    pub template_shapes: HashMap<String, Vec<String>>,
}

/// A principal named by the import but defined nowhere, with what named it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dropped {
    /// Its type.
    pub principal_type: PrincipalType,
    /// Its name.
    pub name: String,
    /// How many rules and memberships named it (all dropped).
    pub references: usize,
}

/// A member of a group or unit to write once every principal exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The group (`Groups`) or organization (`Organizations`).
    pub container: Collection,
    /// The group or organization name.
    pub container_name: String,
    /// For units: the unit.
    pub unit: Option<String>,
    /// The member.
    pub member: Member,
}

/// What an import will do, in order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The mode.
    pub mode: Option<Mode>,
    /// The entities to write, in dependency order; their rules and memberships are written
    /// after all of them (see `rules` and `memberships`).
    pub entities: Vec<Entity>,
    /// Entity rules to write, per entity (`Collection`, name): they replace the entity's rules.
    pub rules: BTreeMap<(Collection, String), Vec<EntityRule>>,
    /// Memberships to add (re-importing never removes a member, as ThingWorx does).
    pub memberships: Vec<Membership>,
    /// Collection rules (storage mode): they replace the rules of each collection listed.
    pub collection_rules: BTreeMap<Collection, Vec<CollectionRule>>,
    /// Principals named but defined nowhere (their rules and memberships are dropped).
    pub dropped: Vec<Dropped>,
    /// Collection-level rules ignored because of file mode.
    pub ignored_collection_rules: usize,
    /// Warnings (readers' notes included).
    pub warnings: Vec<String>,
    /// Where in `entities` the Things of a two-pass import's second pass go (after the
    /// templates, before everything else).
    pub streamed_at: usize,
}

/// Ordering rank: principals first, then vocabularies, shapes, data shapes, templates, Things,
/// everything else.
fn rank(collection: Collection) -> u8 {
    match collection {
        Collection::Users => 0,
        Collection::Groups => 1,
        Collection::Organizations => 2,
        Collection::ModelTags | Collection::DataTags => 3,
        Collection::Projects => 4,
        Collection::ThingShapes => 5,
        Collection::DataShapes => 6,
        Collection::ThingTemplates => 7,
        Collection::Things => 8,
        _ => 9,
    }
}

fn invalid(entity: &Entity, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        origin: entity.origin.clone(),
        entity: entity.path(),
        message: message.into(),
    }
}

/// Builds the plan of an import of `export` into a database that holds `known`.
pub fn plan(export: Export, known: &Known, options: PlanOptions) -> Result<Plan, ImportError> {
    let mut export = export;
    let mut gather = Gather::new();
    for entity in std::mem::take(&mut export.entities) {
        gather.push(entity)?;
    }
    plan_gathered(gather, export, known, options).map(|(plan, _)| plan)
}

/// Builds the plan of the entities `gather` took in, with `rest` what the readers returned
/// besides the entities (header, notes, collection and listed rules). The Things a two-pass
/// gather left out are planned by the returned [`Streamed`] as the second pass reads them.
pub fn plan_gathered(
    gather: Gather,
    rest: Export,
    known: &Known,
    options: PlanOptions,
) -> Result<(Plan, Streamed), ImportError> {
    let Export {
        collection_rules,
        listed_rules,
        notes,
        ..
    } = rest;
    let mut plan = Plan {
        mode: Some(options.mode),
        ..Plan::default()
    };
    plan.warnings
        .extend(notes.iter().map(|n: &Note| match &n.entity {
            Some(e) => format!("{}: {e}: {}", n.origin, n.message),
            None => format!("{}: {}", n.origin, n.message),
        }));

    // What was gathered: a later definition of an entity has replaced the earlier one (a tree
    // may repeat one in sysobj/Entities.xml), with a warning.
    let Gather {
        by_key,
        kept: mut unique,
        deferred,
        principals: deferred_principals,
        warnings,
        ..
    } = gather;
    plan.warnings.extend(warnings);

    // Principals the import defines.
    let mut defined: HashSet<(PrincipalType, String)> = known.principals.clone();
    for e in &unique {
        match (&e.collection, &e.kind) {
            (Collection::Users, _) => {
                defined.insert((PrincipalType::User, e.name.clone()));
            }
            (Collection::Groups, _) => {
                defined.insert((PrincipalType::Group, e.name.clone()));
            }
            (Collection::Organizations, kind) => {
                defined.insert((PrincipalType::Organization, e.name.clone()));
                defined.insert((
                    PrincipalType::OrganizationalUnit,
                    unit_principal_name(&e.name, &e.name),
                ));
                if let Kind::Organization(org) = kind {
                    for unit in &org.units {
                        defined.insert((
                            PrincipalType::OrganizationalUnit,
                            unit_principal_name(&e.name, &unit.name),
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    let mut dangling: BTreeMap<(PrincipalType, String), usize> = BTreeMap::new();
    // Whether a principal named `references` times exists (if not, the references are counted).
    let mut keep_all = |principal_type: PrincipalType, name: &str, references: usize| -> bool {
        if defined.contains(&(principal_type, name.to_owned())) {
            return true;
        }
        *dangling
            .entry((principal_type, name.to_owned()))
            .or_insert(0) += references;
        false
    };
    // The rules of the Things left for the second pass (of their last definitions).
    for summary in &deferred {
        for &(principal, references) in summary.principals.iter() {
            let (principal_type, name) = &deferred_principals[principal as usize];
            keep_all(*principal_type, name, references as usize);
        }
    }
    drop(deferred_principals);
    let mut keep = |principal_type: PrincipalType, name: &str| keep_all(principal_type, name, 1);

    // Rules and memberships, with dangling principals dropped.
    for e in &mut unique {
        let rules: Vec<EntityRule> = std::mem::take(&mut e.rules)
            .into_iter()
            .filter(|r| keep(r.rule.principal_type, &r.rule.principal_name))
            .collect();
        plan.rules
            .insert((e.collection, e.name.clone()), dedupe_rules(rules));
        match &mut e.kind {
            Kind::Group(group) => {
                for member in std::mem::take(&mut group.members) {
                    if keep(member_principal(member.member_type), &member.name) {
                        plan.memberships.push(Membership {
                            container: Collection::Groups,
                            container_name: e.name.clone(),
                            unit: None,
                            member,
                        });
                    }
                }
            }
            Kind::Organization(org) => {
                for unit in &mut org.units {
                    for member in std::mem::take(&mut unit.members) {
                        if keep(member_principal(member.member_type), &member.name) {
                            plan.memberships.push(Membership {
                                container: Collection::Organizations,
                                container_name: e.name.clone(),
                                unit: Some(unit.name.clone()),
                                member,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // The rules of the Things left for the second pass (their last definitions).

    // Entity-level rules listed in a collection-permissions file.
    let mut streamed_listed: HashMap<String, Vec<EntityRule>> = HashMap::new();
    if options.mode == Mode::Storage {
        for ListedRules {
            collection,
            name,
            rules,
            origin,
        } in listed_rules
        {
            let rules: Vec<EntityRule> = rules
                .into_iter()
                .filter(|r| keep(r.rule.principal_type, &r.rule.principal_name))
                .collect();
            if let Some(Slot::Deferred(_)) = by_key.get(&(collection, name.clone())) {
                streamed_listed.entry(name).or_default().extend(rules);
                continue;
            }
            match plan.rules.get_mut(&(collection, name.clone())) {
                Some(existing) => {
                    existing.extend(rules);
                    let merged = dedupe_rules(std::mem::take(existing));
                    *existing = merged;
                }
                None => {
                    // The rules of an entity the import does not carry: applied when the
                    // database has it, reported otherwise (by the apply step).
                    if !rules.is_empty() {
                        plan.warnings.push(format!(
                            "{origin}: rules listed for {collection}/{name}, which this import does not define; \
                             they apply only if the database has it"
                        ));
                    }
                    plan.rules.insert((collection, name), dedupe_rules(rules));
                }
            }
        }
        for cr in collection_rules {
            if keep(cr.rule.principal_type, &cr.rule.principal_name) {
                plan.collection_rules
                    .entry(cr.collection)
                    .or_default()
                    .push(cr);
            } else {
                // The collection is still listed, so its other rules replace the old ones.
                plan.collection_rules.entry(cr.collection).or_default();
            }
        }
        for rules in plan.collection_rules.values_mut() {
            rules.sort();
            rules.dedup();
        }
    } else {
        plan.ignored_collection_rules = collection_rules.len()
            + listed_rules
                .iter()
                .filter(|l| !by_key.contains_key(&(l.collection, l.name.clone())))
                .map(|l| l.rules.len())
                .sum::<usize>();
        if plan.ignored_collection_rules > 0 {
            plan.warnings.push(format!(
                "file mode: {} collection-level rule(s) ignored (only a storage-mode import writes them)",
                plan.ignored_collection_rules
            ));
        }
    }

    plan.dropped = dangling
        .into_iter()
        .map(|((principal_type, name), references)| Dropped {
            principal_type,
            name,
            references,
        })
        .collect();
    if options.strict && !plan.dropped.is_empty() {
        return Err(ImportError::DanglingPrincipals {
            count: plan.dropped.iter().map(|d| d.references).sum(),
            list: plan
                .dropped
                .iter()
                .map(|d| format!("{}:{}", d.principal_type, d.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }

    let types = ValueTypes::new(&unique, known);
    for e in &mut unique {
        types.resolve(e)?;
    }
    plan.entities = order(unique)?;
    plan.streamed_at = plan
        .entities
        .iter()
        .position(|e| rank(e.collection) > rank(Collection::Things))
        .unwrap_or(plan.entities.len());

    let mut left: HashMap<String, u32> = HashMap::with_capacity(deferred.len());
    for ((_, name), slot) in by_key {
        if let Slot::Deferred(at) = slot {
            left.insert(name, deferred[at].occurrences);
        }
    }
    let streamed = Streamed {
        pending: left.len(),
        left,
        defined,
        listed: streamed_listed,
        types,
    };
    Ok((plan, streamed))
}

/// The Things of a two-pass import, planned one at a time as the second pass reads them, with
/// what the first pass planned: the principals that exist, the rules listed for them in a
/// collection-permissions file, the base types of their property values.
#[derive(Debug, Default)]
pub struct Streamed {
    /// Definitions still to come per Thing; the last one is imported.
    left: HashMap<String, u32>,
    /// Things whose imported definition is still to come.
    pending: usize,
    /// The principals the import or the database defines.
    defined: HashSet<(PrincipalType, String)>,
    /// Rules listed for them in a collection-permissions file (storage mode).
    listed: HashMap<String, Vec<EntityRule>>,
    /// What types their property values.
    types: ValueTypes,
}

/// A Thing planned by [`Streamed::take`]: the entity (its rules taken out) and the rules to
/// write for it.
pub type PlannedThing = (Entity, Vec<EntityRule>);

impl Streamed {
    /// The names of the Things still to come.
    pub fn names(&self) -> Vec<String> {
        self.left.keys().cloned().collect()
    }

    /// How many Things are still to come.
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Whether no Thing is still to come.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Plans one entity of the second pass: `None` for an entity the first pass kept (every
    /// one but the Things) and for a definition that a later one replaces.
    pub fn take(&mut self, entity: Entity) -> Result<Option<PlannedThing>, ImportError> {
        if entity.collection != Collection::Things {
            return Ok(None);
        }
        validate(&entity)?;
        let left = match self.left.get_mut(&entity.name) {
            Some(left) if *left > 0 => left,
            _ => {
                return Err(changed(
                    &entity.origin,
                    &format!("{} was not read by the first pass", entity.path()),
                ));
            }
        };
        *left -= 1;
        if *left > 0 {
            return Ok(None);
        }
        self.pending -= 1;
        let mut entity = entity;
        let rules: Vec<EntityRule> = std::mem::take(&mut entity.rules)
            .into_iter()
            .filter(|r| {
                self.defined
                    .contains(&(r.rule.principal_type, r.rule.principal_name.clone()))
            })
            .collect();
        let mut rules = dedupe_rules(rules);
        if let Some(listed) = self.listed.remove(&entity.name) {
            rules.extend(listed);
            rules = dedupe_rules(rules);
        }
        self.types.resolve(&mut entity)?;
        Ok(Some((entity, rules)))
    }

    /// Refuses a second pass that did not read every Thing of the first (`source` names what
    /// was read).
    pub fn finish(&self, source: &str) -> Result<(), ImportError> {
        match self.left.iter().find(|(_, left)| **left > 0) {
            None => Ok(()),
            Some((name, _)) => Err(changed(
                &Origin {
                    file: source.to_owned(),
                    line: None,
                },
                &format!(
                    "{}/{name} was read by the first pass only",
                    Collection::Things
                ),
            )),
        }
    }
}

/// The error of a second pass that does not read what the first read.
fn changed(origin: &Origin, what: &str) -> ImportError {
    ImportError::io(
        origin,
        std::io::Error::other(format!("the source changed while it was imported: {what}")),
    )
}

fn member_principal(member_type: MemberType) -> PrincipalType {
    match member_type {
        MemberType::User => PrincipalType::User,
        MemberType::Group => PrincipalType::Group,
    }
}

/// One rule per cell and principal: a later rule for the same cell wins (deny and allow for
/// the same principal cannot both be stored).
fn dedupe_rules(rules: Vec<EntityRule>) -> Vec<EntityRule> {
    let mut seen: HashMap<(bool, String, String, String, String), usize> = HashMap::new();
    let mut out: Vec<EntityRule> = Vec::with_capacity(rules.len());
    for r in rules {
        let key = (
            r.instance,
            r.rule.kind.as_str().to_owned(),
            r.rule.resource.clone(),
            r.rule.principal_type.as_str().to_owned(),
            r.rule.principal_name.clone(),
        );
        match seen.get(&key) {
            Some(&at) => out[at] = r,
            None => {
                seen.insert(key, out.len());
                out.push(r);
            }
        }
    }
    out
}

/// What types the property values whose reader could not know their base type: the Thing's
/// own definitions, then its template chain, then the shapes (the Thing's, then the
/// templates'); the import's templates and shapes first, then the database's.
#[derive(Clone, Debug, Default)]
struct ValueTypes {
    /// Property base types of the import's templates and shapes.
    own: HashMap<(Collection, String), HashMap<String, String>>,
    /// Property base types of the database's templates and shapes.
    stored: HashMap<(Collection, String), HashMap<String, String>>,
    /// Template bases (the import's over the database's).
    bases: HashMap<String, String>,
    /// Templates' implemented shapes (the import's over the database's).
    template_shapes: HashMap<String, Vec<String>>,
}

impl ValueTypes {
    fn new(entities: &[Entity], known: &Known) -> Self {
        let mut types = ValueTypes {
            own: HashMap::new(),
            stored: known.property_types.clone(),
            bases: known.template_bases.clone(),
            template_shapes: known.template_shapes.clone(),
        };
        for e in entities {
            let defs = match &e.kind {
                Kind::ThingTemplate(t) => {
                    types
                        .bases
                        .insert(e.name.clone(), t.base_thing_template.clone());
                    types
                        .template_shapes
                        .insert(e.name.clone(), t.implemented_shapes.clone());
                    &t.definitions
                }
                Kind::ThingShape(s) => &s.definitions,
                _ => continue,
            };
            types.own.insert(
                (e.collection, e.name.clone()),
                defs.properties
                    .iter()
                    .map(|p| (p.name.clone(), p.base_type.clone()))
                    .collect(),
            );
        }
        types
    }

    fn lookup(&self, collection: Collection, name: &str, property: &str) -> Option<String> {
        let key = (collection, name.to_owned());
        self.own
            .get(&key)
            .or_else(|| self.stored.get(&key))
            .and_then(|m| m.get(property).cloned())
    }

    /// Types the property values of `e` (a Thing; other entities have none).
    fn resolve(&self, e: &mut Entity) -> Result<(), ImportError> {
        let Kind::Thing(thing) = &mut e.kind else {
            return Ok(());
        };
        let mut chain = Vec::new();
        let mut current = thing.thing_template.clone();
        let mut seen = HashSet::new();
        while !current.is_empty() && seen.insert(current.clone()) {
            chain.push(current.clone());
            current = self.bases.get(&current).cloned().unwrap_or_default();
        }
        let mut shapes: Vec<String> = thing.implemented_shapes.clone();
        for t in &chain {
            shapes.extend(self.template_shapes.get(t).cloned().unwrap_or_default());
        }
        let own_types: HashMap<&str, &str> = thing
            .definitions
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.base_type.as_str()))
            .collect();
        for value in &mut thing.values {
            if value.base_type.is_empty() {
                let found = own_types
                    .get(value.name.as_str())
                    .map(|s| (*s).to_owned())
                    .or_else(|| {
                        chain
                            .iter()
                            .find_map(|t| self.lookup(Collection::ThingTemplates, t, &value.name))
                    })
                    .or_else(|| {
                        shapes
                            .iter()
                            .find_map(|s| self.lookup(Collection::ThingShapes, s, &value.name))
                    });
                match found {
                    Some(base_type) => value.base_type = base_type,
                    None => continue,
                }
            }
            let raw = std::mem::take(&mut value.value);
            value.value =
                values::canonical(&value.base_type, raw).map_err(|err| ImportError::Invalid {
                    origin: e.origin.clone(),
                    entity: format!("{}/{}", e.collection, e.name),
                    message: format!("property '{}': {err}", value.name),
                })?;
        }
        Ok(())
    }
}

/// Orders entities by rank; templates base before derived (a cycle is an error).
fn order(mut entities: Vec<Entity>) -> Result<Vec<Entity>, ImportError> {
    entities.sort_by_key(|e| rank(e.collection));
    let (templates, rest): (Vec<Entity>, Vec<Entity>) = entities
        .into_iter()
        .partition(|e| e.collection == Collection::ThingTemplates);
    let mut out: Vec<Entity> = Vec::with_capacity(templates.len() + rest.len());
    let (before, after): (Vec<Entity>, Vec<Entity>) = rest
        .into_iter()
        .partition(|e| rank(e.collection) < rank(Collection::ThingTemplates));
    out.extend(before);

    // Topological order of the imported templates.
    let names: BTreeSet<String> = templates.iter().map(|t| t.name.clone()).collect();
    let base_of = |e: &Entity| -> String {
        match &e.kind {
            Kind::ThingTemplate(t) => t.base_thing_template.clone(),
            _ => String::new(),
        }
    };
    let mut placed: HashSet<String> = HashSet::new();
    let mut pending: Vec<Entity> = templates;
    while !pending.is_empty() {
        let before_len = pending.len();
        let mut next = Vec::new();
        for t in pending {
            let base = base_of(&t);
            if base.is_empty() || !names.contains(&base) || placed.contains(&base) {
                placed.insert(t.name.clone());
                out.push(t);
            } else {
                next.push(t);
            }
        }
        if next.len() == before_len {
            let first = &next[0];
            return Err(invalid(
                first,
                format!(
                    "the template chain loops ({} derives from {})",
                    first.name,
                    base_of(first)
                ),
            ));
        }
        pending = next;
    }
    out.extend(after);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ironworx_entity::queries::permissions::Rule;
    use ironworx_entity::vocab::{Effect, PermissionKind};

    use super::*;
    use crate::model::{Common, Group, ThingTemplate};

    fn entity(collection: Collection, name: &str, kind: Kind) -> Entity {
        Entity {
            collection,
            name: name.into(),
            common: Common::default(),
            rules: vec![],
            configuration_tables: vec![],
            kind,
            extra: Default::default(),
            origin: Origin {
                file: "t.xml".into(),
                line: Some(1),
            },
        }
    }

    fn template(name: &str, base: &str) -> Entity {
        entity(
            Collection::ThingTemplates,
            name,
            Kind::ThingTemplate(Box::new(ThingTemplate {
                base_thing_template: base.into(),
                ..ThingTemplate::default()
            })),
        )
    }

    fn options(mode: Mode, strict: bool) -> PlanOptions {
        PlanOptions { mode, strict }
    }

    #[test]
    fn principals_first_and_templates_base_before_derived() {
        let export = Export {
            entities: vec![
                entity(Collection::Things, "T1", Kind::Plain),
                template("Derived", "Base"),
                entity(Collection::Mashups, "M", Kind::Plain),
                template("Base", "GenericThing"),
                entity(Collection::Groups, "G", Kind::Group(Group::default())),
            ],
            ..Export::default()
        };
        let plan = plan(export, &Known::default(), options(Mode::File, false)).expect("plan");
        let names: Vec<&str> = plan.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["G", "Base", "Derived", "T1", "M"]);
    }

    #[test]
    fn template_loop_is_an_error() {
        let export = Export {
            entities: vec![template("A", "B"), template("B", "A")],
            ..Export::default()
        };
        let err = plan(export, &Known::default(), options(Mode::File, false))
            .expect_err("a loop must be refused");
        assert!(err.to_string().contains("loops"), "{err}");
    }

    #[test]
    fn dangling_principals_are_dropped_or_refused() {
        let mut thing = entity(Collection::Things, "T1", Kind::Plain);
        thing.rules = vec![
            EntityRule {
                instance: false,
                rule: Rule::any(
                    PermissionKind::Read,
                    PrincipalType::Group,
                    "Ghosts",
                    Effect::Allow,
                ),
            },
            EntityRule {
                instance: false,
                rule: Rule::any(
                    PermissionKind::Read,
                    PrincipalType::Group,
                    "Users",
                    Effect::Allow,
                ),
            },
        ];
        let mut known = Known::default();
        known
            .principals
            .insert((PrincipalType::Group, "Users".into()));
        let export = Export {
            entities: vec![thing],
            ..Export::default()
        };
        let p = plan(export.clone(), &known, options(Mode::File, false)).expect("plan");
        assert_eq!(p.dropped.len(), 1);
        assert_eq!(p.dropped[0].name, "Ghosts");
        assert_eq!(p.rules[&(Collection::Things, "T1".to_owned())].len(), 1);
        let err = plan(export, &known, options(Mode::File, true)).expect_err("strict");
        assert!(err.to_string().contains("Group:Ghosts"), "{err}");
    }

    #[test]
    fn file_mode_ignores_collection_rules() {
        let rule = CollectionRule {
            collection: Collection::Things,
            rule: Rule::any(
                PermissionKind::Create,
                PrincipalType::Group,
                "Administrators",
                Effect::Allow,
            ),
        };
        let mut known = Known::default();
        known
            .principals
            .insert((PrincipalType::Group, "Administrators".into()));
        let export = Export {
            collection_rules: vec![rule],
            ..Export::default()
        };
        let file = plan(export.clone(), &known, options(Mode::File, false)).expect("plan");
        assert_eq!(file.ignored_collection_rules, 1);
        assert!(file.collection_rules.is_empty());
        let storage = plan(export, &known, options(Mode::Storage, false)).expect("plan");
        assert_eq!(storage.collection_rules[&Collection::Things].len(), 1);
    }

    #[test]
    fn instance_rules_only_on_templates_and_shapes() {
        let mut thing = entity(Collection::Things, "T1", Kind::Plain);
        thing.rules = vec![EntityRule {
            instance: true,
            rule: Rule::any(
                PermissionKind::PropertyRead,
                PrincipalType::Group,
                "Users",
                Effect::Allow,
            ),
        }];
        let export = Export {
            entities: vec![thing],
            ..Export::default()
        };
        assert!(plan(export, &Known::default(), options(Mode::File, false)).is_err());
    }
}
