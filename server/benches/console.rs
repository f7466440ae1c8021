//! Server-side work of the console's heaviest pages on a 100,000-Thing model, in process: the
//! entities list (first page, last page, a search that scans every Thing), **who can** on one
//! Thing (1,000 users and 50 groups, every permission on `*` and on one property) and
//! **explain**. What is timed is the index work each page does before rendering; the pages'
//! database reads (a rule table, a member list) are point queries by entity and are not
//! included.
//!
//! Run: `cargo bench -p ironworx-server --bench console`

use std::sync::Arc;
use std::time::{Duration, Instant};

use ironworx_entity::queries::credentials::Sequences;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::vocab::{Collection, PermissionKind, PrincipalType};
use ironworx_server::auth::Caller;
use ironworx_server::authz::{AuthzIndex, EntityFact, Facts, UnitFact};
use ironworx_server::domain::Ctx;
use ironworx_server::domain::explain::{Question, explain_as};
use ironworx_server::domain::who_can::who_can;
use ironworx_server::http::console::entity::visible_page;

const THINGS: usize = 100_000;
const USERS: usize = 1_000;
const GROUPS: usize = 50;
const ROUNDS: usize = 21;
/// The goal per page, server side.
const GOAL: Duration = Duration::from_millis(50);

fn entity(id: i64, collection: Collection, name: String) -> EntityFact {
    EntityFact {
        id,
        collection,
        name,
        owner: None,
        template: String::new(),
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

/// Organization Acme (every user in its top unit, which sees every Thing), `USERS` users in
/// `GROUPS` groups, the Administrator, `THINGS` Things; Thing000000 grants PropertyRead on
/// Temperature to group g0 and denies it to user u1.
fn model() -> Facts {
    let mut facts = Facts::default();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    let acme = next();
    facts
        .entities
        .push(entity(acme, Collection::Organizations, "Acme".into()));
    facts.units.push(UnitFact {
        id: 1,
        organization: acme,
        name: "Acme".into(),
        parent: None,
    });
    let admin = next();
    facts
        .entities
        .push(entity(admin, Collection::Users, "Administrator".into()));
    let groups: Vec<i64> = (0..GROUPS)
        .map(|g| {
            let gid = next();
            facts
                .entities
                .push(entity(gid, Collection::Groups, format!("g{g}")));
            gid
        })
        .collect();
    for u in 0..USERS {
        let uid = next();
        facts
            .entities
            .push(entity(uid, Collection::Users, format!("u{u}")));
        facts.memberships.push((groups[u % GROUPS], uid));
        facts.unit_members.push((1, uid));
    }
    let first = next();
    facts
        .entities
        .push(entity(first, Collection::Things, "Thing000000".into()));
    for t in 1..THINGS {
        let tid = next();
        facts
            .entities
            .push(entity(tid, Collection::Things, format!("Thing{t:06}")));
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
    for (principal, allow) in [
        ((PrincipalType::Group, "g0"), true),
        ((PrincipalType::User, "u1"), false),
    ] {
        facts.entity_rules.push((
            first,
            false,
            rule(
                PermissionKind::PropertyRead,
                "Temperature",
                principal,
                allow,
            ),
        ));
    }
    facts
}

fn ctx(index: &Arc<AuthzIndex>, name: &str) -> Ctx {
    let user = index.lookup(Collection::Users, name).expect("user");
    Ctx {
        caller: Caller {
            user_id: i64::from(user),
            name: name.to_owned(),
        },
        user,
        index: Arc::clone(index),
        sequences: Sequences::default(),
    }
}

/// The median and the largest of `ROUNDS` runs of `work`.
fn time(what: &str, mut work: impl FnMut()) -> Duration {
    let mut runs: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    runs.sort();
    let median = runs[ROUNDS / 2];
    let max = runs[ROUNDS - 1];
    println!(
        "{what:<44} median {:>8.2} ms   max {:>8.2} ms   {}",
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        if median <= GOAL { "met" } else { "MISSED" }
    );
    median
}

fn main() {
    let started = Instant::now();
    let index = Arc::new(AuthzIndex::build(&model()));
    println!(
        "model: {THINGS} Things, {USERS} users, {GROUPS} groups; index built in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let admin = ctx(&index, "Administrator");
    let member = ctx(&index, "u7");
    let thing = index
        .lookup(Collection::Things, "Thing000000")
        .expect("thing");

    time("entities, first page (member)", || {
        let (page, more) = visible_page(&member, Collection::Things, "", 0);
        assert!(page.len() == 50 && more);
    });
    time("entities, last page (member)", || {
        let (page, more) = visible_page(&member, Collection::Things, "", THINGS / 50 - 1);
        assert!(page.len() == 50 && !more);
    });
    time("entities, search scanning all (member)", || {
        let (page, _) = visible_page(&member, Collection::Things, "thing09999", 0);
        assert_eq!(page.len(), 10);
    });
    time("entities, search scanning all (admin)", || {
        let (page, _) = visible_page(&admin, Collection::Things, "thing09999", 0);
        assert_eq!(page.len(), 10);
    });
    time("who can, * (1,051 principals x 9 kinds)", || {
        let rows = who_can(&admin, thing, "*").expect("who can");
        assert_eq!(rows.len(), USERS + GROUPS + 1);
    });
    time("who can, Temperature (x 5 kinds)", || {
        let rows = who_can(&admin, thing, "Temperature").expect("who can");
        assert!(rows.iter().any(|r| r.name == "u0" && r.allowed[0]));
        assert!(rows.iter().any(|r| r.name == "u1" && !r.allowed[0]));
    });
    time("explain", || {
        let answer = explain_as(
            &admin,
            &Question {
                user: "u1",
                entity_type: "Things",
                entity: "Thing000000",
                kind: PermissionKind::PropertyRead,
                resource: "Temperature",
                wrapped: false,
            },
        )
        .expect("explain");
        assert!(answer.steps.iter().any(|s| s.decisive));
    });
}
