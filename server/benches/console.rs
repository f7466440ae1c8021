//! Console pages on 100,000 Things, whole: the real `ironworx serve` on a database holding
//! 100,000 Things (each visible to organization `Acme`, whose unit holds every group, and
//! readable by one of the groups), 1,000 users in 50 groups, imported from a generated export;
//! the Administrator and a member (`u7`, of group `g7`) sign in through a form login (the
//! `Everyone` page and Acme's), and each console page is fetched over loopback,
//! `IRONWORX_CONSOLE_ROUNDS` times per caller, the pages taking turns within a round: the
//! entities list (first page, last page, a name search over every Thing), one Thing's page
//! with its rule editor, who can (`*` and one property), explain, the users list, a user, the
//! groups, a group, the audit view, the organizations and one organization.
//! Each time is a whole request on a connection of its own (connect, authentication, database
//! reads, rendering, the answer read to its end), so it bounds the server's time from above.
//! A page the member may not open (403 or 404) is reported as such and not timed.
//!
//! Goal: at most 50 ms per page (the median).
//!
//! Run: `cargo bench -p ironworx-server --bench console`
//!
//! Settings (environment): `IRONWORX_CONSOLE_THINGS` (100000), `IRONWORX_CONSOLE_ROUNDS` (21);
//! `IRONWORX_TEST_POSTGRES`: on PostgreSQL as well.

#[path = "harness/mod.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::model::{entity, export, load};
use harness::{ADMIN, ADMIN_PASSWORD, BenchDb, Login, SERVER, Server, admin_post, env_or};
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType};
use ironworx_importer::model::{
    Entity, EntityRule, Export, Group, Kind, Member, Organization, PropertyDefinition, Thing,
    ThingTemplate, Unit, User,
};
use serde_json::json;

const USERS: u64 = 1_000;
/// The organization whose unit holds every group, so every user, and sees every Thing.
const ORGANIZATION: &str = "Acme";
const GROUPS: u64 = 50;
/// The member who signs in, and its password (set through REST after the import).
const MEMBER: &str = "u7";
const MEMBER_PASSWORD: &str = "Console-Member-Password-7";
/// The template of every Thing and the properties it defines.
const TEMPLATE: &str = "ConsolePump";
const PROPERTIES: [&str; 2] = ["Temperature", "Pressure"];
/// Entities per page of the console's lists.
const PAGE_SIZE: u64 = 50;
const GOAL: Duration = Duration::from_millis(50);

fn thing_name(i: u64) -> String {
    format!("Thing{i:06}")
}

fn rule(
    kind: PermissionKind,
    resource: &str,
    principal: (PrincipalType, &str),
    allow: bool,
) -> EntityRule {
    let mut rule = Rule::any(
        kind,
        principal.0,
        principal.1,
        Effect::from_permitted(allow),
    );
    rule.resource = resource.to_owned();
    EntityRule {
        instance: false,
        rule,
    }
}

/// The model: the template, `USERS` users `u<n>` each in group `g<n % GROUPS>`, organization
/// [`ORGANIZATION`] with every group in its unit, and `things` Things, each visible to the
/// organization and readable by one group; Thing000000 also lets `g1`
/// read Temperature and denies it to `u1`.
fn model(things: u64) -> Export {
    let mut template = ThingTemplate {
        base_thing_template: "GenericThing".into(),
        ..ThingTemplate::default()
    };
    template.definitions.properties = PROPERTIES
        .iter()
        .zip(0..)
        .map(|(name, ordinal)| PropertyDefinition {
            name: (*name).to_owned(),
            base_type: "NUMBER".into(),
            ordinal,
            ..PropertyDefinition::default()
        })
        .collect();
    let mut entities: Vec<Entity> = vec![entity(
        Collection::ThingTemplates,
        TEMPLATE,
        Kind::ThingTemplate(Box::new(template)),
    )];
    for u in 0..USERS {
        let user = User {
            enabled: true,
            ..User::default()
        };
        entities.push(entity(
            Collection::Users,
            &format!("u{u}"),
            Kind::User(Box::new(user)),
        ));
    }
    for g in 0..GROUPS {
        let members = (g..USERS)
            .step_by(usize::try_from(GROUPS).unwrap_or(1))
            .map(|u| Member {
                name: format!("u{u}"),
                member_type: MemberType::User,
            })
            .collect();
        entities.push(entity(
            Collection::Groups,
            &format!("g{g}"),
            Kind::Group(Group {
                members,
                ..Group::default()
            }),
        ));
    }
    let unit = Unit {
        name: ORGANIZATION.to_owned(),
        members: (0..GROUPS)
            .map(|g| Member {
                name: format!("g{g}"),
                member_type: MemberType::Group,
            })
            .collect(),
        ..Unit::default()
    };
    entities.push(entity(
        Collection::Organizations,
        ORGANIZATION,
        Kind::Organization(Box::new(Organization {
            units: vec![unit],
            ..Organization::default()
        })),
    ));
    for i in 0..things {
        let thing = Thing {
            thing_template: TEMPLATE.to_owned(),
            enabled: true,
            ..Thing::default()
        };
        let mut e = entity(
            Collection::Things,
            &thing_name(i),
            Kind::Thing(Box::new(thing)),
        );
        let group = format!("g{}", i % GROUPS);
        e.rules = vec![
            rule(
                PermissionKind::Visibility,
                "*",
                (PrincipalType::Organization, ORGANIZATION),
                true,
            ),
            rule(
                PermissionKind::PropertyRead,
                "*",
                (PrincipalType::Group, &group),
                true,
            ),
        ];
        if i == 0 {
            e.rules.push(rule(
                PermissionKind::PropertyRead,
                "Temperature",
                (PrincipalType::Group, "g1"),
                true,
            ));
            e.rules.push(rule(
                PermissionKind::PropertyRead,
                "Temperature",
                (PrincipalType::User, "u1"),
                false,
            ));
        }
        entities.push(e);
    }
    export(entities)
}

/// A console page and who it is timed for.
struct Page {
    label: &'static str,
    /// The path for the Administrator.
    admin: String,
    /// The path for the member (its own user and decisions where the page names a user).
    member: String,
}

fn pages(things: u64) -> Vec<Page> {
    let entities = "/Thingworx/Console/Entities?collection=Things";
    let thing = format!("/Thingworx/Console/Entities/Things/{}", thing_name(0));
    let explain = |user: &str| {
        format!("{thing}/Explain?user={user}&permission=PropertyRead&resource=Temperature")
    };
    let same = |label, path: String| Page {
        label,
        member: path.clone(),
        admin: path,
    };
    vec![
        same("entities, first page", entities.to_owned()),
        same(
            "entities, last page",
            format!("{entities}&page={}", things.div_ceil(PAGE_SIZE) - 1),
        ),
        same(
            "entities, search over every name",
            format!("{entities}&q=thing09999"),
        ),
        same("a Thing with its rule editor", thing.clone()),
        same("who can, *", format!("{thing}/WhoCan")),
        same(
            "who can, Temperature",
            format!("{thing}/WhoCan?resource=Temperature"),
        ),
        Page {
            label: "explain",
            admin: explain("u1"),
            member: explain(MEMBER),
        },
        same("users, first page", "/Thingworx/Console/Users".to_owned()),
        same("a user", format!("/Thingworx/Console/Users/{MEMBER}")),
        same("groups", "/Thingworx/Console/Groups".to_owned()),
        same(
            "a group (20 members)",
            "/Thingworx/Console/Groups/g0".to_owned(),
        ),
        same("audit", "/Thingworx/Console/Audit".to_owned()),
        same(
            "organizations",
            "/Thingworx/Console/Organizations".to_owned(),
        ),
        same(
            "an organization (50 groups in its unit)",
            format!("/Thingworx/Console/Organizations/{ORGANIZATION}"),
        ),
    ]
}

/// GETs `path` in the session `login`: the status and the time to the last byte.
fn fetch(addr: &str, login: &Login, path: &str) -> (u16, Duration) {
    let headers = [login.cookie(), ("Accept", "text/html".to_owned())];
    let started = Instant::now();
    let res = harness::request(addr, "GET", path, &headers, None);
    (res.status, started.elapsed())
}

/// The times of one page for one caller, or the status that refused the caller the page.
type Times = Result<Vec<Duration>, u16>;

/// Times every page for every caller, `rounds` rounds, the pages taking turns in each round.
fn time_pages(
    addr: &str,
    pages: &[Page],
    callers: &[(&Login, bool)],
    rounds: u64,
) -> Vec<Vec<Times>> {
    let path = |page: &Page, member: bool| {
        if member {
            page.member.clone()
        } else {
            page.admin.clone()
        }
    };
    // The first fetch warms the caches and says whether the caller may open the page.
    let mut times: Vec<Vec<Times>> = callers
        .iter()
        .map(|(login, member)| {
            pages
                .iter()
                .map(|page| match fetch(addr, login, &path(page, *member)).0 {
                    200 => Ok(Vec::new()),
                    status => Err(status),
                })
                .collect()
        })
        .collect();
    for _ in 0..rounds {
        for ((login, member), times) in callers.iter().zip(&mut times) {
            for (page, runs) in pages.iter().zip(times.iter_mut()) {
                if let Ok(runs) = runs {
                    let (status, took) = fetch(addr, login, &path(page, *member));
                    assert_eq!(status, 200, "{}", page.label);
                    runs.push(took);
                }
            }
        }
    }
    times
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `median (largest)` of `times`, and whether the median meets the goal.
fn figure(times: &Times) -> (String, Option<bool>) {
    match times {
        Ok(runs) => {
            let mut runs = runs.clone();
            runs.sort();
            let median = runs[runs.len() / 2];
            let largest = runs[runs.len() - 1];
            (
                format!("{:.1} ({:.1})", ms(median), ms(largest)),
                Some(median <= GOAL),
            )
        }
        Err(status) => (format!("not offered ({status})"), None),
    }
}

fn bench(db: &BenchDb, things: u64, rounds: u64, dir: &Path) {
    let data = tempfile::tempdir_in(dir).expect("data dir");
    load(db, data.path(), &model(things), &format!("{things} Things"));
    let server = Server::start(Path::new(SERVER), db, data.path());
    println!(
        "{}: listening after {:.1} s",
        db.label,
        server.start.as_secs_f64()
    );
    admin_post(
        &server.addr,
        &format!("/Thingworx/Users/{MEMBER}/Services/AssignNewPassword"),
        json!({"newPassword": MEMBER_PASSWORD, "newPasswordConfirm": MEMBER_PASSWORD}),
    );
    let admin = harness::form_login(&server.addr, "Everyone", ADMIN, ADMIN_PASSWORD);
    let member = harness::form_login(&server.addr, ORGANIZATION, MEMBER, MEMBER_PASSWORD);
    let pages = pages(things);
    let times = time_pages(
        &server.addr,
        &pages,
        &[(&admin, false), (&member, true)],
        rounds,
    );
    println!(
        "\n{}, {things} Things, {USERS} users, {GROUPS} groups ({rounds} rounds; median \
         (largest) ms per whole request over loopback):",
        db.label
    );
    println!("| page | Administrator | member {MEMBER} | goal 50 ms |");
    println!("|---|---:|---:|---|");
    for (i, page) in pages.iter().enumerate() {
        let (admin, admin_met) = figure(&times[0][i]);
        let (member, member_met) = figure(&times[1][i]);
        let verdict = match (admin_met, member_met) {
            (Some(false), _) | (_, Some(false)) => "MISSED",
            _ => "met",
        };
        println!("| {} | {admin} | {member} | {verdict} |", page.label);
    }
    println!(
        "{}: server resident {:.0} MB at the end\n",
        db.label,
        server.status_mb("VmRSS:")
    );
}

fn main() {
    let things = env_or("IRONWORX_CONSOLE_THINGS", 100_000);
    let rounds = env_or("IRONWORX_CONSOLE_ROUNDS", 21);
    let dir = tempfile::tempdir().expect("temp dir");
    bench(
        &BenchDb::sqlite(&dir.path().join("console.db")),
        things,
        rounds,
        dir.path(),
    );
    if let Some(admin_url) = harness::postgres_url() {
        bench(&BenchDb::postgres(&admin_url), things, rounds, dir.path());
    }
}
