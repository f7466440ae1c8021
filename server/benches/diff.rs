//! The effective-permission diff (`ironworx diff`, `GetEffectivePermissionChanges`) across one
//! change on a model of 100,000 Things and 1,000 users, and the same change on a model of
//! 10,000 Things: a diff that costs what the change can affect takes about the same time on
//! both. Then a full diff of two unrelated exports of the corpus, read as `ironworx diff`
//! reads them.
//!
//! The model, built in memory: organization Acme (one unit holding every user; the Things
//! collection visible to Acme), 1,000 users in 50 groups of 20, 100 ThingTemplates each
//! defining 5 properties and 2 services, the Things spread over the templates; each
//! template's instance rules let one group read its properties and invoke its services, and
//! every hundredth Thing denies one user a property.
//!
//! Changes timed (each against the unchanged model; the two states' indexes are built before
//! timing, as reading them is not the diff's work):
//! - **membership**: a user moves from one group to another;
//! - **instance rule**: one group loses its PropertyRead instance rule on one template;
//! - **Thing rule**: one group gets a rule on one Thing;
//! - **collection rule**: one group is denied PropertyRead on the whole Things collection:
//!   its 20 members are asked about every Thing (what it can affect grows with the model:
//!   reported, not held to the goal); nothing flips, as the group's templates decide first and
//!   everything else was denied already.
//!
//! Goal: at most 1 s on the large model for a change to one group's rules or membership, and
//! about the same time on both models.
//!
//! Run: `cargo bench -p ironworx-server --bench diff`
//!
//! Settings (environment): `IRONWORX_DIFF_THINGS` (100000), `IRONWORX_DIFF_SMALL` (10000),
//! `IRONWORX_BENCH_ROUNDS` (5), `IRONWORX_DIFF_ONLY` (the changes whose name starts with it:
//! `membership`, `instance`, `Thing`, `collection`), `IRONWORX_DIFF_EXPORTS` (two paths separated by `,`; default
//! two exports of `../shared/corpus` beside the checkout, skipped with a message when absent).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironworx_entity::queries::defined::DefinitionKind;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};
use ironworx_server::authz::{EntityFact, Facts, UnitFact};
use ironworx_server::domain::diff::{Filter, compare};
use ironworx_server::domain::snapshot::{Snapshot, from_export};

const USERS: usize = 1_000;
const GROUPS: usize = 50;
const TEMPLATES: usize = 100;
const GOAL: Duration = Duration::from_secs(1);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn entity(id: i64, collection: Collection, name: String, template: String) -> EntityFact {
    EntityFact {
        id,
        collection,
        name,
        owner: None,
        template,
        shapes: Vec::new(),
    }
}

fn rule(
    kind: PermissionKind,
    resource: &str,
    principal: (PrincipalType, &str),
    allow: bool,
) -> Rule {
    Rule {
        kind,
        resource: resource.to_owned(),
        principal_type: principal.0,
        principal_name: principal.1.to_owned(),
        allow,
    }
}

/// A model and what its entities define, with the ids the changes need.
struct Model {
    facts: Facts,
    definitions: Vec<(i64, DefinitionKind, String)>,
    user_ids: Vec<i64>,
    group_ids: Vec<i64>,
    template_ids: Vec<i64>,
    first_thing: i64,
}

impl Model {
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(&self.facts, self.definitions.clone())
    }
}

fn model(things: usize) -> Model {
    let mut facts = Facts::default();
    let mut definitions = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    let acme = next();
    facts.entities.push(entity(
        acme,
        Collection::Organizations,
        "Acme".into(),
        String::new(),
    ));
    facts.units.push(UnitFact {
        id: 1,
        organization: acme,
        name: "Acme".into(),
        parent: None,
    });
    let group_ids: Vec<i64> = (0..GROUPS)
        .map(|g| {
            let gid = next();
            facts.entities.push(entity(
                gid,
                Collection::Groups,
                format!("g{g}"),
                String::new(),
            ));
            gid
        })
        .collect();
    let user_ids: Vec<i64> = (0..USERS)
        .map(|u| {
            let uid = next();
            facts.entities.push(entity(
                uid,
                Collection::Users,
                format!("u{u:04}"),
                String::new(),
            ));
            facts.memberships.push((group_ids[u % GROUPS], uid));
            facts.unit_members.push((1, uid));
            uid
        })
        .collect();
    let template_ids: Vec<i64> = (0..TEMPLATES)
        .map(|t| {
            let tid = next();
            facts.entities.push(entity(
                tid,
                Collection::ThingTemplates,
                format!("t{t:03}"),
                String::new(),
            ));
            for p in 0..5 {
                definitions.push((tid, DefinitionKind::Property, format!("p{p}")));
            }
            for s in 0..2 {
                definitions.push((tid, DefinitionKind::Service, format!("s{s}")));
            }
            let group = format!("g{}", t % GROUPS);
            for kind in [PermissionKind::PropertyRead, PermissionKind::ServiceInvoke] {
                facts.entity_rules.push((
                    tid,
                    true,
                    rule(kind, "*", (PrincipalType::Group, &group), true),
                ));
            }
            tid
        })
        .collect();
    let mut first_thing = 0;
    for t in 0..things {
        let tid = next();
        if t == 0 {
            first_thing = tid;
        }
        facts.entities.push(entity(
            tid,
            Collection::Things,
            format!("Thing{t:06}"),
            format!("t{:03}", t % TEMPLATES),
        ));
        if t % 100 == 0 {
            let user = format!("u{:04}", t % USERS);
            facts.entity_rules.push((
                tid,
                false,
                rule(
                    PermissionKind::PropertyRead,
                    "p0",
                    (PrincipalType::User, &user),
                    false,
                ),
            ));
        }
    }
    facts.collection_rules.push((
        Collection::Things,
        rule(
            PermissionKind::Visibility,
            "*",
            (PrincipalType::Organization, "Acme"),
            true,
        ),
    ));
    Model {
        facts,
        definitions,
        user_ids,
        group_ids,
        template_ids,
        first_thing,
    }
}

/// The changes timed, each applied to a copy of the model's facts.
fn changes(model: &Model) -> Vec<(&'static str, bool, Facts)> {
    let mut out = Vec::new();
    // u0001 (in g1) moves to g2.
    let mut moved = model.facts.clone();
    let (user, from, to) = (model.user_ids[1], model.group_ids[1], model.group_ids[2]);
    moved.memberships.retain(|m| *m != (from, user));
    moved.memberships.push((to, user));
    out.push(("membership: a user moves to another group", true, moved));
    // g7 loses PropertyRead on t007's instances.
    let mut lost = model.facts.clone();
    let template = model.template_ids[7];
    lost.entity_rules.retain(|(e, instance, r)| {
        !(*e == template && *instance && r.kind == PermissionKind::PropertyRead)
    });
    out.push(("instance rule: a group loses one template's", true, lost));
    // g3 may write p1 of Thing000000.
    let mut thing = model.facts.clone();
    thing.entity_rules.push((
        model.first_thing,
        false,
        rule(
            PermissionKind::PropertyWrite,
            "p1",
            (PrincipalType::Group, "g3"),
            true,
        ),
    ));
    out.push(("Thing rule: a group gets one on one Thing", true, thing));
    // g3 is denied reading any property of any Thing: every member is asked about every
    // Thing, and nothing flips (its own templates' instance rules still decide first).
    let mut collection = model.facts.clone();
    collection.collection_rules.push((
        Collection::Things,
        rule(
            PermissionKind::PropertyRead,
            "*",
            (PrincipalType::Group, "g3"),
            false,
        ),
    ));
    out.push((
        "collection rule: a group is denied PropertyRead on every Thing",
        false,
        collection,
    ));
    out
}

/// The median and largest of `rounds` runs of `run`, and its last result.
fn time<T>(rounds: usize, mut run: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        last = Some(run());
        times.push(start.elapsed());
    }
    times.sort();
    let result = last.expect("at least one round");
    (times[times.len() / 2], times[times.len() - 1], result)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// One change's line of the report.
struct Row {
    name: &'static str,
    /// Whether the goal holds this change.
    held: bool,
    /// The median per model, small first.
    medians: Vec<Duration>,
    /// "median (largest)" per model.
    figures: Vec<String>,
    /// Decisions flipped on the large model.
    flipped: usize,
}

fn changes_between(rounds: usize) {
    let large = setting("IRONWORX_DIFF_THINGS", 100_000);
    let small = setting("IRONWORX_DIFF_SMALL", 10_000);
    println!(
        "| change | {small} Things: median (largest) | {large} Things: median (largest) | \
         decisions flipped (large) | goal 1 s |"
    );
    println!("|---|---:|---:|---:|---|");
    let mut rows: Vec<Row> = Vec::new();
    for things in [small, large] {
        let model = model(things);
        let start = Instant::now();
        let before = model.snapshot();
        eprintln!("{things} Things: a state built in {}", ms(start.elapsed()));
        let only = std::env::var("IRONWORX_DIFF_ONLY").unwrap_or_default();
        let picked = changes(&model)
            .into_iter()
            .filter(|(name, _, _)| name.starts_with(only.as_str()));
        for (j, (name, held, facts)) in picked.enumerate() {
            let after = Snapshot::new(&facts, model.definitions.clone());
            let (median, largest, found) = time(rounds, || {
                compare(&before, &after, &Filter::default())
                    .expect("diff")
                    .len()
            });
            if rows.len() <= j {
                rows.push(Row {
                    name,
                    held,
                    medians: Vec::new(),
                    figures: Vec::new(),
                    flipped: 0,
                });
            }
            let row = &mut rows[j];
            row.medians.push(median);
            row.figures
                .push(format!("{} ({})", ms(median), ms(largest)));
            row.flipped = found;
        }
    }
    for row in rows {
        let verdict = match (row.held, row.medians.last()) {
            (false, _) => "reported",
            (true, Some(median)) if *median <= GOAL => "met",
            (true, _) => "MISSED",
        };
        println!(
            "| {} | {} | {} | {verdict} |",
            row.name,
            row.figures.join(" | "),
            row.flipped
        );
    }
}

/// Two exports of the corpus beside the checkout, or those `IRONWORX_DIFF_EXPORTS` names.
fn exports() -> Option<(PathBuf, PathBuf)> {
    if let Ok(paths) = std::env::var("IRONWORX_DIFF_EXPORTS") {
        let (a, b) = paths.split_once(',')?;
        return Some((a.into(), b.into()));
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let a = corpus.join("xml/ThingworxVirtualProductionLine__Entities.xml");
    let b = corpus.join("xml/CostinWorkshop__permissions_permissions.xml");
    (a.exists() && b.exists()).then_some((a, b))
}

fn two_exports(rounds: usize) {
    let Some((a, b)) = exports() else {
        println!("(no corpus beside the checkout: the diff of two exports is skipped)");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let limits = ironworx_importer::Limits::default();
    let read = |path: &PathBuf| {
        let start = Instant::now();
        let state = runtime
            .block_on(from_export(path, &limits))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (state, start.elapsed())
    };
    let (before, read_a) = read(&a);
    let (after, read_b) = read(&b);
    let (median, largest, found) = time(rounds, || {
        compare(&before, &after, &Filter::default())
            .expect("diff")
            .len()
    });
    println!();
    println!("| exports | read A | read B | diff median (largest) | decisions flipped |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| {} → {} | {} | {} | {} ({}) | {found} |",
        a.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        b.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        ms(read_a),
        ms(read_b),
        ms(median),
        ms(largest),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let rounds = setting("IRONWORX_BENCH_ROUNDS", 5);
    changes_between(rounds);
    two_exports(rounds);
}
