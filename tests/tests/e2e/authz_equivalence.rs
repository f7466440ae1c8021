//! The indexed evaluator against a naive one that reads every rule straight from the database
//! for each question, on random models written through the shared queries, on SQLite and on
//! PostgreSQL (when `IRONWORX_TEST_POSTGRES` is set): always the same decision, as loaded and
//! after each of a few changes made once the index is loaded (rules added and removed, which
//! the index reads alone, and memberships, which make it read everything), and after rule
//! changes on as many entities as a refresh reads alone, then on one more; and writers racing
//! each other, each seeing its own change on its next question.

use std::collections::BTreeSet;

use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser};
use ironworx_entity::queries::{groups, parts};
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, MemberType, PermissionCategory, PermissionKind, PrincipalType,
    builtin, unit_principal_name,
};
use ironworx_migration::{Migrator, MigratorTrait};
use ironworx_server::authz::{Outcome, Request, Target, decide};
use ironworx_server::live_index::Security;
use ironworx_tests::{Backend, TestDb, backends, connect};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::DatabaseConnection;

// ---------------------------------------------------------------------------------------------
// The naive evaluator: contract section 4, items 1–3, read straight from the database.
// ---------------------------------------------------------------------------------------------

async fn principals_of(db: &DatabaseConnection, user: &str) -> BTreeSet<(PrincipalType, String)> {
    let mut set: BTreeSet<_> = groups::groups_containing(db, user, MemberType::User)
        .await
        .expect("groups")
        .into_iter()
        .map(|g| (PrincipalType::Group, g))
        .collect();
    set.insert((PrincipalType::User, user.to_owned()));
    set
}

/// Organizations the user is in, and every unit at or below a unit it is in.
async fn visibility_of(db: &DatabaseConnection, user: &str) -> BTreeSet<(PrincipalType, String)> {
    let mine = principals_of(db, user).await;
    let mut out = BTreeSet::new();
    for org in entities::list_entities(db, Collection::Organizations)
        .await
        .expect("orgs")
    {
        let units = organizations::list_units(db, &org.name)
            .await
            .expect("units");
        let mut direct = Vec::new();
        for unit in &units {
            let members = organizations::list_unit_members(db, &org.name, &unit.name)
                .await
                .expect("members");
            let is_member = members.iter().any(|(name, t)| {
                let ptype = match t {
                    MemberType::User => PrincipalType::User,
                    MemberType::Group => PrincipalType::Group,
                };
                mine.contains(&(ptype, name.clone()))
            });
            if is_member {
                direct.push(unit.name.clone());
            }
        }
        if direct.is_empty() {
            continue;
        }
        out.insert((PrincipalType::Organization, org.name.clone()));
        // Every unit below a direct unit (walk parents upwards from each unit).
        for unit in &units {
            let mut current = Some(unit.name.clone());
            while let Some(name) = current {
                if direct.contains(&name) {
                    out.insert((
                        PrincipalType::OrganizationalUnit,
                        unit_principal_name(&org.name, &unit.name),
                    ));
                    break;
                }
                current = units
                    .iter()
                    .find(|u| u.name == name)
                    .and_then(|u| u.parent.clone());
            }
        }
    }
    out
}

/// One level: the named row, then `*`; inside a row a deny beats an allow.
fn level(
    rules: &[Rule],
    kind: PermissionKind,
    resource: &str,
    who: &BTreeSet<(PrincipalType, String)>,
) -> Option<bool> {
    let mut rows = vec![resource];
    if resource != ANY_RESOURCE {
        rows.push(ANY_RESOURCE);
    }
    for row in rows {
        let hits: Vec<bool> = rules
            .iter()
            .filter(|r| r.kind == kind && r.resource == row)
            .filter(|r| who.contains(&(r.principal_type, r.principal_name.clone())))
            .map(|r| r.allow)
            .collect();
        if hits.contains(&false) {
            return Some(false);
        }
        if hits.contains(&true) {
            return Some(true);
        }
    }
    None
}

/// What the naive evaluator reads about one user, straight from the database.
pub(crate) struct NaiveUser {
    name: String,
    who: BTreeSet<(PrincipalType, String)>,
    vis: BTreeSet<(PrincipalType, String)>,
}

pub(crate) async fn naive_user(db: &DatabaseConnection, user: &str) -> NaiveUser {
    NaiveUser {
        name: user.to_owned(),
        who: principals_of(db, user).await,
        vis: visibility_of(db, user).await,
    }
}

/// What the naive evaluator reads about one entity, straight from the database.
pub(crate) struct NaiveEntity {
    owner: Option<String>,
    own: Vec<Rule>,
    templates: Vec<Vec<Rule>>,
    shapes: Vec<Vec<Rule>>,
    collection: Vec<Rule>,
}

pub(crate) async fn naive_entity(
    db: &DatabaseConnection,
    collection: Collection,
    name: &str,
) -> NaiveEntity {
    let entity = entities::get_entity(db, collection, name)
        .await
        .expect("entity");
    // Instance sources: the template chain (nearest first), then shapes of the Thing and of
    // each template, for Things only.
    let mut templates = Vec::new();
    let mut shapes: Vec<String> = Vec::new();
    if collection == Collection::Things {
        let (_, thing) = models::get_thing(db, name).await.expect("thing");
        if !thing.thing_template.is_empty() {
            templates = models::template_chain(db, &thing.thing_template)
                .await
                .expect("chain");
        }
        let mut owners = vec![entity.id];
        for t in &templates {
            owners.push(
                entities::get_entity(db, Collection::ThingTemplates, t)
                    .await
                    .expect("t")
                    .id,
            );
        }
        for owner in owners {
            for s in models::implemented_shape_names(db, owner)
                .await
                .expect("shapes")
            {
                if !shapes.contains(&s)
                    && entities::find_entity(db, Collection::ThingShapes, &s)
                        .await
                        .expect("s")
                        .is_some()
                {
                    shapes.push(s);
                }
            }
        }
    }
    let mut template_rules = Vec::new();
    for t in &templates {
        let id = entities::get_entity(db, Collection::ThingTemplates, t)
            .await
            .expect("t")
            .id;
        template_rules.push(
            permissions::entity_rules(db, id, true)
                .await
                .expect("instance"),
        );
    }
    let mut shape_rules = Vec::new();
    for s in &shapes {
        let id = entities::get_entity(db, Collection::ThingShapes, s)
            .await
            .expect("s")
            .id;
        shape_rules.push(
            permissions::entity_rules(db, id, true)
                .await
                .expect("instance"),
        );
    }
    NaiveEntity {
        owner: entities::owner_of(db, &entity)
            .await
            .expect("owner")
            .filter(|(kind, _)| *kind == PrincipalType::User)
            .map(|(_, name)| name),
        own: permissions::entity_rules(db, entity.id, false)
            .await
            .expect("own"),
        templates: template_rules,
        shapes: shape_rules,
        collection: permissions::collection_rules(db, collection)
            .await
            .expect("coll"),
    }
}

pub(crate) fn naive(
    user: &NaiveUser,
    e: &NaiveEntity,
    kind: PermissionKind,
    resource: &str,
) -> Outcome {
    if user.name == builtin::ADMINISTRATOR
        || user
            .who
            .contains(&(PrincipalType::Group, builtin::ADMINISTRATORS.to_owned()))
    {
        return Outcome::Allow;
    }
    if e.owner.as_deref() == Some(user.name.as_str()) {
        return Outcome::Allow;
    }
    // Visibility gate.
    let mut vis_levels: Vec<&[Rule]> = vec![&e.own];
    vis_levels.extend(e.templates.iter().map(Vec::as_slice));
    vis_levels.push(&e.collection);
    let visible = vis_levels
        .iter()
        .find_map(|rules| level(rules, PermissionKind::Visibility, ANY_RESOURCE, &user.vis))
        .unwrap_or(false);
    if !visible {
        return Outcome::NotVisible;
    }
    if kind == PermissionKind::Visibility {
        return Outcome::Allow;
    }
    let resource = if kind.category() == PermissionCategory::RunTime {
        resource
    } else {
        ANY_RESOURCE
    };
    let mut levels: Vec<&[Rule]> = vec![&e.own];
    levels.extend(e.templates.iter().map(Vec::as_slice));
    if kind.category() == PermissionCategory::RunTime {
        levels.extend(e.shapes.iter().map(Vec::as_slice));
    }
    levels.push(&e.collection);
    match levels
        .iter()
        .find_map(|rules| level(rules, kind, resource, &user.who))
    {
        Some(true) => Outcome::Allow,
        _ => Outcome::Deny,
    }
}

// ---------------------------------------------------------------------------------------------
// Random models.
// ---------------------------------------------------------------------------------------------

const USERS: usize = 5;
const GROUPS: usize = 4;
const TEMPLATES: usize = 3;
const SHAPES: usize = 2;
const THINGS: usize = 4;
const RESOURCES: &[&str] = &["*", "p1", "s1"];
const KINDS: &[PermissionKind] = &[
    PermissionKind::Read,
    PermissionKind::Update,
    PermissionKind::PropertyRead,
    PermissionKind::ServiceInvoke,
    PermissionKind::Visibility,
];

#[derive(Clone, Debug)]
struct RandomRule {
    /// 0: a Thing, 1: a template (instance), 2: a shape (instance), 3: the collection, 4: a template (own).
    level: usize,
    target: usize,
    kind: usize,
    resource: usize,
    principal: usize,
    allow: bool,
}

#[derive(Clone, Debug)]
struct RandomModel {
    /// For each group, its members: users 0..USERS, groups USERS.. (only lower-numbered groups).
    group_members: Vec<Vec<usize>>,
    admins: Vec<usize>,
    /// Units of the one organization: parent index (units before it), members (users/groups).
    units: Vec<(usize, Vec<usize>)>,
    template_base: Vec<Option<usize>>,
    template_shapes: Vec<Vec<usize>>,
    things: Vec<(usize, Vec<usize>, Option<usize>)>,
    rules: Vec<RandomRule>,
    /// Made one after the other once the index is loaded, each followed by a comparison.
    changes: Vec<Change>,
}

/// A change to the model after the index is loaded.
#[derive(Clone, Debug)]
enum Change {
    /// A rule added (or replaced).
    Add(RandomRule),
    /// The model's rule at this position (modulo their count) removed.
    Remove(usize),
    /// A user joins a group (a change that is not only rules).
    Join(usize, usize),
    /// A change that touches nothing decisions depend on (the sequence moves, nothing else).
    Other,
}

fn model_strategy() -> impl Strategy<Value = RandomModel> {
    let group_members = (0..GROUPS)
        .map(|g| proptest::collection::vec(0..(USERS + g), 1..4))
        .collect::<Vec<_>>();
    let units = (0..4usize)
        .map(|u| {
            (
                0..u.max(1),
                proptest::collection::vec(0..(USERS + GROUPS), 0..2),
            )
        })
        .collect::<Vec<_>>();
    let template_base = (0..TEMPLATES)
        .map(|t| proptest::option::of(0..t.max(1)).prop_map(move |b| b.filter(|b| *b < t)))
        .collect::<Vec<_>>();
    (
        group_members,
        proptest::collection::vec(0..(USERS + GROUPS), 0..2),
        units,
        template_base,
        proptest::collection::vec(proptest::collection::vec(0..SHAPES, 0..2), TEMPLATES),
        proptest::collection::vec(
            (
                0..TEMPLATES,
                proptest::collection::vec(0..SHAPES, 0..2),
                proptest::option::weighted(0.15, 0..USERS),
            ),
            THINGS,
        ),
        proptest::collection::vec(rule_strategy(), 10..80),
        proptest::collection::vec(change_strategy(), 1..4),
    )
        .prop_map(|m| RandomModel {
            group_members: m.0,
            admins: m.1,
            units: m.2,
            template_base: m.3,
            template_shapes: m.4,
            things: m.5,
            rules: m.6,
            changes: m.7,
        })
}

fn rule_strategy() -> impl Strategy<Value = RandomRule> {
    (
        0..5usize,
        0..THINGS,
        0..KINDS.len(),
        0..RESOURCES.len(),
        0..(USERS + GROUPS + 5),
        any::<bool>(),
    )
        .prop_map(
            |(level, target, kind, resource, principal, allow)| RandomRule {
                level,
                target,
                kind,
                resource,
                principal,
                allow,
            },
        )
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => rule_strategy().prop_map(Change::Add),
        2 => (0..80usize).prop_map(Change::Remove),
        1 => (0..GROUPS, 0..USERS).prop_map(|(g, u)| Change::Join(g, u)),
        1 => Just(Change::Other),
    ]
}

fn user(i: usize) -> String {
    format!("user{i}")
}
fn group(i: usize) -> String {
    format!("group{i}")
}
fn unit(i: usize) -> String {
    if i == 0 {
        "Plant".into()
    } else {
        format!("unit{i}")
    }
}

fn member(i: usize) -> (String, MemberType) {
    if i < USERS {
        (user(i), MemberType::User)
    } else {
        (group(i - USERS), MemberType::Group)
    }
}

async fn write_model(db: &DatabaseConnection, m: &RandomModel) {
    let none = EntityFields::default();
    groups::create_group(db, builtin::USERS, &none)
        .await
        .expect("Users");
    groups::create_group(db, builtin::ADMINISTRATORS, &none)
        .await
        .expect("Administrators");
    for i in 0..USERS {
        users::create_user(
            db,
            &NewUser {
                name: user(i),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
    }
    for (g, members) in m.group_members.iter().enumerate() {
        groups::create_group(db, &group(g), &none)
            .await
            .expect("group");
        for mm in members {
            let (name, t) = member(*mm);
            groups::add_member(db, &group(g), &name, t)
                .await
                .expect("member");
        }
    }
    for a in &m.admins {
        let (name, t) = member(*a);
        groups::add_member(db, builtin::ADMINISTRATORS, &name, t)
            .await
            .expect("admin");
    }
    organizations::create_organization(db, "Plant", &none, &LoginPage::default())
        .await
        .expect("org");
    organizations::create_organization(db, "Other", &none, &LoginPage::default())
        .await
        .expect("org");
    for (u, (parent, members)) in m.units.iter().enumerate() {
        if u > 0 {
            organizations::add_unit(db, "Plant", &unit(*parent), &unit(u), "")
                .await
                .expect("unit");
        }
        for mm in members {
            let (name, t) = member(*mm);
            organizations::add_unit_member(db, "Plant", &unit(u), &name, t)
                .await
                .expect("unit member");
        }
    }
    for s in 0..SHAPES {
        models::create_thing_shape(db, &format!("shape{s}"), &none, "")
            .await
            .expect("shape");
    }
    for t in 0..TEMPLATES {
        let base = m.template_base[t]
            .map(|b| format!("template{b}"))
            .unwrap_or_default();
        let row = models::create_thing_template(
            db,
            &format!("template{t}"),
            &none,
            &TemplateFields {
                base_thing_template: base,
                ..TemplateFields::default()
            },
        )
        .await
        .expect("template");
        let shapes: Vec<String> = m.template_shapes[t]
            .iter()
            .map(|s| format!("shape{s}"))
            .collect();
        models::set_implemented_shapes(db, row.id, &dedup(shapes))
            .await
            .expect("shapes");
    }
    for (i, (template, shapes, owner)) in m.things.iter().enumerate() {
        let fields = match owner {
            Some(o) => EntityFields::owned_by(
                entities::find_entity(db, Collection::Users, &user(*o))
                    .await
                    .expect("owner")
                    .expect("the owner exists")
                    .id,
            ),
            None => EntityFields::default(),
        };
        let row = models::create_thing(
            db,
            &format!("thing{i}"),
            &fields,
            &ThingFields {
                thing_template: format!("template{template}"),
                ..ThingFields::default()
            },
        )
        .await
        .expect("thing");
        let shapes: Vec<String> = shapes.iter().map(|s| format!("shape{s}")).collect();
        models::set_implemented_shapes(db, row.id, &dedup(shapes))
            .await
            .expect("shapes");
    }
    for r in &m.rules {
        write_rule(db, m, r, false).await;
    }
    // Keep one parts table honest too: implemented shapes are read back in order.
    let t0 = entities::get_entity(db, Collection::Things, "thing0")
        .await
        .expect("thing0");
    let listed = parts::implemented_shapes::list(db, t0.id)
        .await
        .expect("shapes");
    assert!(listed.windows(2).all(|w| w[0].ordinal < w[1].ordinal));
}

/// Writes rule `r` of the model (or, with `remove`, removes it) through the shared queries.
async fn write_rule(db: &DatabaseConnection, m: &RandomModel, r: &RandomRule, remove: bool) {
    let kind = KINDS[r.kind];
    let visibility = kind == PermissionKind::Visibility;
    let (principal_type, principal_name) = if visibility {
        match r.principal % 3 {
            0 => (
                PrincipalType::Organization,
                if r.principal.is_multiple_of(2) {
                    "Plant".to_owned()
                } else {
                    "Other".to_owned()
                },
            ),
            _ => (
                PrincipalType::OrganizationalUnit,
                unit_principal_name("Plant", &unit(r.principal % m.units.len().max(1))),
            ),
        }
    } else if r.principal < USERS + GROUPS {
        let (name, t) = member(r.principal);
        (
            if t == MemberType::User {
                PrincipalType::User
            } else {
                PrincipalType::Group
            },
            name,
        )
    } else {
        // Principals that exist nowhere, and the built-in groups.
        match r.principal - USERS - GROUPS {
            0 => (PrincipalType::Group, builtin::USERS.to_owned()),
            1 => (PrincipalType::Group, "Ghost".to_owned()),
            _ => (PrincipalType::User, "ghost".to_owned()),
        }
    };
    let resource = if kind.category() == PermissionCategory::RunTime {
        RESOURCES[r.resource]
    } else {
        ANY_RESOURCE
    };
    let rule = Rule {
        kind,
        resource: resource.into(),
        principal_type,
        principal_name,
        allow: r.allow,
    };
    // The entity and whether the rule is an instance rule; none for the collection.
    let on = match r.level {
        0 => Some((Collection::Things, format!("thing{}", r.target), false)),
        1 | 4 => Some((
            Collection::ThingTemplates,
            format!("template{}", r.target % TEMPLATES),
            r.level == 1,
        )),
        // Shapes only take run-time instance rules; the query refuses the others.
        2 => Some((
            Collection::ThingShapes,
            format!("shape{}", r.target % SHAPES),
            true,
        )),
        _ => None,
    };
    let result = match on {
        Some((collection, name, instance)) => {
            let id = entities::get_entity(db, collection, &name)
                .await
                .expect("entity")
                .id;
            entity_rule(db, id, instance, &rule, remove).await
        }
        None if remove => permissions::remove_collection_rule(db, Collection::Things, &rule)
            .await
            .map(|_| ()),
        None => permissions::set_collection_rule(db, Collection::Things, &rule).await,
    };
    if let Err(e) = result {
        assert!(
            r.level == 2 && kind.category() != PermissionCategory::RunTime,
            "unexpected refusal: {e}"
        );
    }
}

async fn entity_rule(
    db: &DatabaseConnection,
    id: i64,
    instance: bool,
    rule: &Rule,
    remove: bool,
) -> Result<(), ironworx_entity::queries::QueryError> {
    if remove {
        permissions::remove_entity_rule(db, id, instance, rule)
            .await
            .map(|_| ())
    } else {
        permissions::set_entity_rule(db, id, instance, rule).await
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

/// A new database on `backend` with every migration applied.
async fn fresh_database(backend: Backend) -> (TestDb, DatabaseConnection) {
    let test_db = TestDb::create(backend).await;
    let db = connect(&test_db).await;
    Migrator::up(&db, None).await.expect("migrations");
    (test_db, db)
}

/// Closes and drops a database of [`fresh_database`].
async fn drop_database(test_db: TestDb, db: DatabaseConnection) {
    db.close().await.expect("close");
    test_db.drop_database().await;
}

/// Runs `test` on every backend against a fresh database holding the fixed model, then drops
/// the database.
fn on_fixed_model(test: impl AsyncFn(Backend, &DatabaseConnection, &RandomModel)) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let m = fixed_model();
    for backend in runtime.block_on(async { backends() }) {
        runtime.block_on(async {
            let (test_db, db) = fresh_database(backend).await;
            write_model(&db, &m).await;
            test(backend, &db, &m).await;
            drop_database(test_db, db).await;
        });
    }
}

/// [`on_fixed_model`] with an index loaded from the model.
fn on_loaded_fixed_model(
    test: impl AsyncFn(Backend, &DatabaseConnection, &Security, &RandomModel),
) {
    on_fixed_model(async |backend, db, m| {
        let security = Security::load(db.clone()).await.expect("index");
        test(backend, db, &security, m).await;
    });
}

/// The first model the strategy draws, the same at every run.
fn fixed_model() -> RandomModel {
    let mut runner = TestRunner::deterministic();
    model_strategy()
        .new_tree(&mut runner)
        .expect("model")
        .current()
}

/// The current index, which must be at the database's change sequence.
async fn caught_up(
    backend: Backend,
    db: &DatabaseConnection,
    security: &Security,
    when: &str,
) -> Result<std::sync::Arc<ironworx_server::authz::AuthzIndex>, String> {
    let index = security.current().await.expect("current");
    let sequence = ironworx_entity::queries::audit::current_sequence(db)
        .await
        .expect("sequence");
    if index.sequence() != sequence {
        return Err(format!(
            "{backend}, {when}: the index is at change {} where the database is at {sequence}",
            index.sequence()
        ));
    }
    Ok(index)
}

/// What the index says of group `group`, asked about as a subject, reading `resource` of Thing
/// `thing`.
fn group_reads(
    index: &ironworx_server::authz::AuthzIndex,
    group: &str,
    thing: &str,
    resource: &str,
) -> Outcome {
    let subject = index.lookup(Collection::Groups, group).expect("group");
    let thing = index.lookup(Collection::Things, thing).expect("thing");
    decide(
        index,
        &Request {
            user: subject,
            target: Target::Entity(thing),
            kind: PermissionKind::PropertyRead,
            resource,
        },
    )
}

/// Every decision of the current index against the naive evaluator: how many were compared,
/// or the first that differs.
async fn compare(
    backend: Backend,
    db: &DatabaseConnection,
    security: &Security,
    when: &str,
) -> Result<usize, String> {
    let index = caught_up(backend, db, security, when).await?;
    let mut checked = 0;
    let targets: Vec<_> = (0..THINGS)
        .map(|t| (Collection::Things, format!("thing{t}")))
        .chain((0..TEMPLATES).map(|t| (Collection::ThingTemplates, format!("template{t}"))))
        .collect();
    let mut read = Vec::new();
    for (collection, target) in &targets {
        read.push(naive_entity(db, *collection, target).await);
    }
    for u in 0..USERS {
        let name = user(u);
        let naive_u = naive_user(db, &name).await;
        let user_idx = index
            .lookup(Collection::Users, &name)
            .expect("user indexed");
        for ((collection, target), entity) in targets.iter().zip(&read) {
            let idx = index.lookup(*collection, target).expect("entity indexed");
            for kind in KINDS {
                for resource in RESOURCES {
                    let request = Request {
                        user: user_idx,
                        target: Target::Entity(idx),
                        kind: *kind,
                        resource,
                    };
                    let fast = decide(&index, &request);
                    let slow = naive(&naive_u, entity, *kind, resource);
                    checked += 1;
                    if fast != slow {
                        return Err(format!(
                            "{backend}, {when}: {name} {kind} {resource} on {collection} {target}: index says {fast:?}, database says {slow:?}"
                        ));
                    }
                }
            }
        }
    }
    Ok(checked)
}

/// What one case compared: decisions, and refreshes that read only the changed rules.
#[derive(Default)]
struct Compared {
    decisions: usize,
    partial_refreshes: u64,
    patched_refreshes: u64,
}

async fn check_case(backend: Backend, m: &RandomModel) -> Result<Compared, TestCaseError> {
    let (test_db, db) = fresh_database(backend).await;
    write_model(&db, m).await;
    let security = Security::load(db.clone()).await.expect("index");
    let mut result = compare(backend, &db, &security, "as loaded").await;
    for (i, change) in m.changes.iter().enumerate() {
        let Ok(before) = result else { break };
        match change {
            Change::Add(r) => write_rule(&db, m, r, false).await,
            Change::Remove(at) => write_rule(&db, m, &m.rules[at % m.rules.len()], true).await,
            Change::Join(g, u) => {
                // Already a member: nothing changes, which is a case too.
                let _ = groups::add_member(&db, &group(*g), &user(*u), MemberType::User).await;
            }
            Change::Other => {
                ironworx_entity::queries::audit::bump_sequence(&db)
                    .await
                    .expect("bump");
            }
        }
        let when = format!("after change {i} ({change:?})");
        result = compare(backend, &db, &security, &when)
            .await
            .map(|n| n + before);
    }
    let partial_refreshes = security.partial_refresh_count();
    let patched_refreshes = security.patched_refresh_count();
    drop_database(test_db, db).await;
    match result {
        Ok(decisions) => Ok(Compared {
            decisions,
            partial_refreshes,
            patched_refreshes,
        }),
        Err(m) => Err(TestCaseError::fail(m)),
    }
}

#[test]
fn indexed_and_naive_evaluators_always_agree() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for backend in runtime.block_on(async { backends() }) {
        let cases = if backend == Backend::Postgres { 10 } else { 20 };
        let mut runner = TestRunner::new(Config {
            cases,
            max_shrink_iters: 64,
            failure_persistence: None,
            ..Config::default()
        });
        let total = std::sync::atomic::AtomicUsize::new(0);
        let partial = std::sync::atomic::AtomicU64::new(0);
        let patched = std::sync::atomic::AtomicU64::new(0);
        let result = runner.run(&model_strategy(), |m| {
            let compared = runtime.block_on(check_case(backend, &m))?;
            total.fetch_add(compared.decisions, std::sync::atomic::Ordering::Relaxed);
            partial.fetch_add(
                compared.partial_refreshes,
                std::sync::atomic::Ordering::Relaxed,
            );
            patched.fetch_add(
                compared.patched_refreshes,
                std::sync::atomic::Ordering::Relaxed,
            );
            Ok(())
        });
        let (total, partial, patched) = (
            total.into_inner(),
            partial.into_inner(),
            patched.into_inner(),
        );
        if let Err(e) = result {
            panic!("{e}");
        }
        assert!(total > 0);
        // Rule changes on entities are read alone: the path that reads only them was taken.
        assert!(
            partial > 0,
            "{backend}: no refresh read only the changed rules"
        );
        // ... and patched into the index from before the change, not built again.
        assert!(patched > 0, "{backend}: no refresh patched the index");
        eprintln!(
            "{backend}: {total} decisions compared; {partial} refreshes read only changed rules, {patched} of them patched"
        );
    }
}

/// A statement that changes no row of a table the index is built from is no change: the next
/// refresh reads nothing again (on PostgreSQL, whose triggers there fire once per statement,
/// as on SQLite, whose triggers fire per row). A statement that changes a row of such a table
/// makes the next refresh read everything, with the same decisions as the naive evaluator.
#[test]
fn statements_that_change_no_row_are_no_change() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    const NO_ROW: &[&str] = &[
        "INSERT INTO group_members SELECT * FROM group_members WHERE 1 = 0",
        "UPDATE group_members SET group_id = group_id WHERE 1 = 0",
        "DELETE FROM group_members WHERE 1 = 0",
        "UPDATE collection_permissions SET allow = allow WHERE 1 = 0",
        "DELETE FROM collection_permissions WHERE 1 = 0",
        "UPDATE implemented_shapes SET ordinal = ordinal WHERE 1 = 0",
        "DELETE FROM organizational_unit_members WHERE 1 = 0",
        "DELETE FROM organizational_units WHERE 1 = 0",
        "INSERT INTO things SELECT * FROM things WHERE 1 = 0",
        "DELETE FROM thing_templates WHERE 1 = 0",
        "DELETE FROM entities WHERE 1 = 0",
    ];
    const SOME_ROW: &[&str] = &[
        "UPDATE collection_permissions SET allow = allow",
        "DELETE FROM group_members WHERE id = (SELECT MIN(id) FROM group_members)",
    ];
    on_loaded_fixed_model(async |backend, db, security, _| {
        let write = |statement: &'static str| {
            let db = db.clone();
            async move {
                let txn = db.begin().await.expect("begin");
                txn.execute_unprepared(statement).await.expect(statement);
                ironworx_entity::queries::audit::bump_sequence(&txn)
                    .await
                    .expect("bump");
                txn.commit().await.expect("commit");
            }
        };
        for (i, statement) in NO_ROW.iter().enumerate() {
            write(statement).await;
            caught_up(backend, db, security, statement)
                .await
                .expect("caught up");
            assert_eq!(
                security.partial_refresh_count(),
                i as u64 + 1,
                "{backend}: `{statement}` made the refresh read everything"
            );
        }
        for statement in SOME_ROW {
            write(statement).await;
            compare(backend, db, security, statement)
                .await
                .expect("same decisions");
            assert_eq!(
                security.partial_refresh_count(),
                NO_ROW.len() as u64,
                "{backend}: `{statement}` changed a row and was read alone"
            );
        }
    });
}

/// A refresh reads only changed rules when the database still holds the history the index saw,
/// and everything when it does not (a restored backup, a promoted standby: the marks of the
/// sequence values differ), with the same decisions either way.
#[test]
fn a_different_history_of_the_database_is_read_whole() {
    on_loaded_fixed_model(async |backend, db, security, m| {
        // A PropertyRead rule on thing0 for user0, then the same rule denying.
        let mut rule = RandomRule {
            level: 0,
            target: 0,
            kind: 2,
            resource: 0,
            principal: 0,
            allow: true,
        };
        assert_eq!(KINDS[rule.kind], PermissionKind::PropertyRead);
        write_rule(db, m, &rule, false).await;
        compare(backend, db, security, "after a rule change")
            .await
            .expect("same decisions");
        assert_eq!(security.partial_refresh_count(), 1, "{backend}: read alone");
        // The history the index saw is gone: its sequence value's mark is not the one it read.
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("UPDATE fact_changes SET mark = mark + 1 WHERE entity_id = -1")
            .await
            .expect("other history");
        rule.allow = false;
        write_rule(db, m, &rule, false).await;
        compare(
            backend,
            db,
            security,
            "after a rule change in another history",
        )
        .await
        .expect("same decisions");
        assert_eq!(security.partial_refresh_count(), 1, "{backend}: read whole");
    });
}

/// A refresh reads the changed rules alone up to `CHANGED_ENTITIES_MAX` entities, and
/// everything beyond: rules changed on one entity more than that are seen all the same, on the
/// next question, with the same decisions as the naive evaluator.
#[test]
fn rules_of_more_entities_than_a_partial_read_takes_are_read_whole() {
    use ironworx_entity::queries::facts::CHANGED_ENTITIES_MAX;
    use sea_orm::TransactionTrait;

    on_fixed_model(async |backend, db, _| {
        // A group in nothing, asked about as a subject: only the rules below can decide
        // for it on these Things, before any collection rule.
        let none = EntityFields::default();
        groups::create_group(db, "Bulk", &none)
            .await
            .expect("group");
        let txn = db.begin().await.expect("begin");
        let mut things = Vec::new();
        for i in 0..=CHANGED_ENTITIES_MAX {
            let name = format!("bulk{i}");
            let row = models::create_thing(&txn, &name, &none, &ThingFields::default())
                .await
                .expect("thing");
            things.push((row.id, name));
        }
        txn.commit().await.expect("commit");
        let security = Security::load(db.clone()).await.expect("index");

        // Rules on the first `n` Things, replacing the Bulk rules before, in one
        // transaction that moves the change sequence once (as an import does).
        let set = |n: usize, allow: bool| {
            let (db, things) = (db, &things);
            async move {
                use ironworx_entity::schema::entity_permissions;
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
                let rule = Rule {
                    kind: PermissionKind::PropertyRead,
                    resource: RESOURCES[0].into(),
                    principal_type: PrincipalType::Group,
                    principal_name: "Bulk".into(),
                    allow,
                };
                let txn = db.begin().await.expect("begin");
                entity_permissions::Entity::delete_many()
                    .filter(entity_permissions::Column::PrincipalName.eq("Bulk"))
                    .exec(&txn)
                    .await
                    .expect("delete");
                let rules: Vec<permissions::EntityRule> = things[..n]
                    .iter()
                    .map(|(id, _)| permissions::EntityRule {
                        entity_id: *id,
                        instance: false,
                        rule: rule.clone(),
                    })
                    .collect();
                permissions::insert_entity_rules(&txn, &rules)
                    .await
                    .expect("rules");
                txn.commit().await.expect("commit");
            }
        };
        let decisions = |n: usize| {
            let (security, things) = (&security, &things);
            async move {
                let index = security.current().await.expect("current");
                things[..n]
                    .iter()
                    .map(|(_, name)| group_reads(&index, "Bulk", name, RESOURCES[0]))
                    .collect::<Vec<_>>()
            }
        };

        set(CHANGED_ENTITIES_MAX, true).await;
        assert_eq!(
            decisions(CHANGED_ENTITIES_MAX).await,
            vec![Outcome::Allow; CHANGED_ENTITIES_MAX],
            "{backend}: allowed on every Thing"
        );
        compare(
            backend,
            db,
            &security,
            "after rules on the most entities read alone",
        )
        .await
        .expect("same decisions");
        assert_eq!(security.partial_refresh_count(), 1, "{backend}: read alone");

        set(CHANGED_ENTITIES_MAX + 1, false).await;
        assert_eq!(
            decisions(CHANGED_ENTITIES_MAX + 1).await,
            vec![Outcome::Deny; CHANGED_ENTITIES_MAX + 1],
            "{backend}: denied on every Thing"
        );
        compare(backend, db, &security, "after rules on one entity more")
            .await
            .expect("same decisions");
        assert_eq!(security.partial_refresh_count(), 1, "{backend}: read whole");
    });
}

/// Writers racing each other and the readers: each writer flips the rule on a Thing of its own
/// and at once asks the index, while the others write, refresh and ask too. Every answer given
/// after a commit holds that commit, whichever task's refresh read it.
#[test]
fn racing_writers_each_see_their_own_change_at_once() {
    const WRITERS: usize = 3;
    const FLIPS: usize = 30;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    for backend in runtime.block_on(async { backends() }) {
        runtime.block_on(async {
            let (test_db, db) = fresh_database(backend).await;
            let none = EntityFields::default();
            groups::create_group(&db, "Racers", &none)
                .await
                .expect("group");
            let mut things = Vec::new();
            for w in 0..WRITERS {
                let name = format!("race{w}");
                let row = models::create_thing(&db, &name, &none, &ThingFields::default())
                    .await
                    .expect("thing");
                things.push((row.id, name));
            }
            let security = Security::load(db.clone()).await.expect("index");
            let tasks: Vec<_> = things
                .into_iter()
                .map(|(id, name)| {
                    let (db, security) = (db.clone(), security.clone());
                    tokio::spawn(async move {
                        for flip in 0..FLIPS {
                            let allow = flip % 2 == 0;
                            let rule = Rule {
                                kind: PermissionKind::PropertyRead,
                                resource: ANY_RESOURCE.into(),
                                principal_type: PrincipalType::Group,
                                principal_name: "Racers".into(),
                                allow,
                            };
                            permissions::set_entity_rule(&db, id, false, &rule)
                                .await
                                .expect("rule");
                            let index = security.current().await.expect("current");
                            let outcome = group_reads(&index, "Racers", &name, ANY_RESOURCE);
                            let expected = if allow { Outcome::Allow } else { Outcome::Deny };
                            assert_eq!(
                                outcome, expected,
                                "{backend}: {name}, flip {flip}: the answer after the commit"
                            );
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("writer");
            }
            caught_up(backend, &db, &security, "after the race")
                .await
                .expect("caught up");
            // Refreshes read the changed rules alone: the path whose snapshot and stamps the
            // race puts to the test.
            assert!(
                security.partial_refresh_count() > 0,
                "{backend}: no refresh read the changed rules alone"
            );
            drop_database(test_db, db).await;
        });
    }
}
