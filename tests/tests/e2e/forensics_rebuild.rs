//! Property: for random change sequences (memberships, entity and collection rules, Things and
//! their property definitions created and deleted), the model rebuilt from the full audit record
//! at each instant between two changes equals the model read from the database at that
//! instant, and the diff between two instants is exactly the decisions the naive evaluator
//! (`authz_equivalence`) answers differently before and after, on SQLite and PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironworx_entity::queries::defined::all_defined;
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::facts::{FactRows, read_fact_rows};
use ironworx_entity::queries::groups;
use ironworx_entity::queries::model_history::{PastModel, Rebuilt, read_at};
use ironworx_entity::queries::models::{self, ThingFields};
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::queries::users::{self, NewUser};
use ironworx_entity::vocab::{Collection, Effect, MemberType, PermissionKind, PrincipalType};
use ironworx_tests::{TestDb, backends};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::DatabaseConnection;

const USERS: usize = 3;
const GROUPS: usize = 2;
const THINGS: usize = 3;
const KINDS: [PermissionKind; 3] = [
    PermissionKind::PropertyRead,
    PermissionKind::ServiceInvoke,
    PermissionKind::Read,
];

/// One change.
#[derive(Clone, Debug)]
enum Op {
    AddMember(usize, usize),
    RemoveMember(usize, usize),
    SetRule(usize, usize, usize, bool),
    RemoveRule(usize, usize, usize),
    SetCreate(usize, bool),
    CreateThing(usize),
    DeleteThing(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..USERS, 0..GROUPS).prop_map(|(u, g)| Op::AddMember(u, g)),
        (0..USERS, 0..GROUPS).prop_map(|(u, g)| Op::RemoveMember(u, g)),
        (0..THINGS, 0..GROUPS, 0..KINDS.len(), any::<bool>())
            .prop_map(|(t, g, k, a)| Op::SetRule(t, g, k, a)),
        (0..THINGS, 0..GROUPS, 0..KINDS.len()).prop_map(|(t, g, k)| Op::RemoveRule(t, g, k)),
        (0..GROUPS, any::<bool>()).prop_map(|(g, a)| Op::SetCreate(g, a)),
        (0..THINGS).prop_map(Op::CreateThing),
        (0..THINGS).prop_map(Op::DeleteThing),
    ]
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The model as sorted lines, so that row order does not matter.
fn lines(facts: &FactRows, definitions: &[(i64, impl std::fmt::Debug, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(facts.entities.iter().map(|r| format!("entity {r:?}")));
    out.extend(facts.thing_templates.iter().map(|r| format!("thing {r:?}")));
    out.extend(
        facts
            .template_bases
            .iter()
            .map(|r| format!("template {r:?}")),
    );
    out.extend(
        facts
            .implemented_shapes
            .iter()
            .map(|r| format!("shape {r:?}")),
    );
    out.extend(facts.memberships.iter().map(|r| format!("member {r:?}")));
    out.extend(facts.units.iter().map(|r| format!("unit {r:?}")));
    out.extend(
        facts
            .unit_members
            .iter()
            .map(|r| format!("unit member {r:?}")),
    );
    out.extend(facts.entity_rules.iter().map(|r| format!("rule {r:?}")));
    out.extend(
        facts
            .collection_rules
            .iter()
            .map(|r| format!("collection rule {r:?}")),
    );
    out.extend(definitions.iter().map(|r| format!("defined {r:?}")));
    out.sort();
    out
}

async fn live(conn: &DatabaseConnection) -> Vec<String> {
    let facts = read_fact_rows(conn).await.expect("facts");
    let definitions = all_defined(conn).await.expect("definitions");
    lines(&facts, &definitions)
}

async fn create_thing(conn: &DatabaseConnection, name: &str) {
    let Ok(thing) = models::create_thing(
        conn,
        name,
        &EntityFields::default(),
        &ThingFields {
            thing_template: "GenericThing".into(),
            ..ThingFields::default()
        },
    )
    .await
    else {
        return;
    };
    ironworx_tests::model::property_definition(conn, thing.id, "p", "NUMBER").await;
}

/// Applies one change; a change that does not apply (a member already there, a Thing missing)
/// changes nothing, as in the server.
async fn apply(conn: &DatabaseConnection, case: usize, op: &Op) {
    let user = |u: usize| format!("c{case}u{u}");
    let group = |g: usize| format!("c{case}g{g}");
    let thing = |t: usize| format!("c{case}t{t}");
    let rule = |g: usize, k: usize, allow: bool| {
        Rule::any(
            KINDS[k],
            PrincipalType::Group,
            &group(g),
            if allow { Effect::Allow } else { Effect::Deny },
        )
    };
    let thing_id = async |t: usize| {
        entities::find_entity(conn, Collection::Things, &thing(t))
            .await
            .expect("find")
            .map(|e| e.id)
    };
    match *op {
        Op::AddMember(u, g) => {
            let _ = groups::add_member(conn, &group(g), &user(u), MemberType::User).await;
        }
        Op::RemoveMember(u, g) => {
            let _ = groups::remove_member(conn, &group(g), &user(u), MemberType::User).await;
        }
        Op::SetRule(t, g, k, allow) => {
            if let Some(id) = thing_id(t).await {
                permissions::set_entity_rule(conn, id, false, &rule(g, k, allow))
                    .await
                    .expect("rule");
            }
        }
        Op::RemoveRule(t, g, k) => {
            if let Some(id) = thing_id(t).await {
                permissions::remove_entity_rule(conn, id, false, &rule(g, k, true))
                    .await
                    .expect("remove rule");
            }
        }
        Op::SetCreate(g, allow) => {
            let mut rule = rule(g, 0, allow);
            rule.kind = PermissionKind::Create;
            permissions::set_collection_rule(conn, Collection::Things, &rule)
                .await
                .expect("collection rule");
        }
        Op::CreateThing(t) => create_thing(conn, &thing(t)).await,
        Op::DeleteThing(t) => {
            entities::delete_entity(conn, Collection::Things, &thing(t))
                .await
                .expect("delete");
        }
    }
}

async fn check(conn: &DatabaseConnection, case: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    for u in 0..USERS {
        users::create_user(
            conn,
            &NewUser {
                name: format!("c{case}u{u}"),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
    }
    for g in 0..GROUPS {
        groups::create_group(conn, &format!("c{case}g{g}"), &EntityFields::default())
            .await
            .expect("group");
    }
    create_thing(conn, &format!("c{case}t0")).await;
    let mut seen: Vec<(i64, Vec<String>)> = Vec::new();
    for op in ops {
        tokio::time::sleep(Duration::from_millis(3)).await;
        seen.push((now_ms(), live(conn).await));
        tokio::time::sleep(Duration::from_millis(3)).await;
        apply(conn, case, op).await;
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    seen.push((now_ms(), live(conn).await));
    for (i, (at, expected)) in seen.iter().enumerate() {
        let Rebuilt::At(past) = read_at(conn, *at).await.expect("rebuild") else {
            return Err(TestCaseError::fail(format!("instant {at} refused")));
        };
        let PastModel { facts, definitions } = *past;
        let got = lines(&facts, &definitions);
        if &got != expected {
            let missing: Vec<_> = expected.iter().filter(|l| !got.contains(l)).collect();
            let extra: Vec<_> = got.iter().filter(|l| !expected.contains(l)).collect();
            return Err(TestCaseError::fail(format!(
                "after {i} of {ops:?}: missing {missing:?}, extra {extra:?}"
            )));
        }
    }
    Ok(())
}

#[test]
fn the_model_rebuilt_at_an_instant_is_the_model_then() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for backend in runtime.block_on(async { backends() }) {
        let db = runtime.block_on(TestDb::create(backend));
        let conn = runtime.block_on(ironworx_tests::import_export::bootstrapped(&db));
        let mut runner = TestRunner::new(Config {
            cases: 12,
            max_shrink_iters: 0,
            failure_persistence: None,
            ..Config::default()
        });
        let case = std::sync::atomic::AtomicUsize::new(0);
        let result = runner.run(&proptest::collection::vec(op(), 1..12), |ops| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(check(&conn, n, &ops))
        });
        if let Err(e) = result {
            panic!("{backend}: {e}");
        }
        runtime.block_on(async {
            conn.close().await.expect("close");
            db.drop_database().await;
        });
    }
}

/// (user, Thing, permission, resource) → allowed, by the naive evaluator, for the case's users
/// and Things.
async fn naive_decisions(
    conn: &DatabaseConnection,
    case: usize,
) -> std::collections::BTreeMap<(String, String, PermissionKind, String), bool> {
    use crate::authz_equivalence::{naive, naive_entity, naive_user};
    let mut out = std::collections::BTreeMap::new();
    for u in 0..USERS {
        let user = naive_user(conn, &format!("c{case}u{u}")).await;
        for t in 0..THINGS {
            let thing = format!("c{case}t{t}");
            let entity = naive_entity(conn, Collection::Things, &thing).await;
            for kind in KINDS {
                for resource in ["*", "p"] {
                    // `p` is a property: only PropertyRead asks about it by name.
                    if kind != PermissionKind::PropertyRead && resource != "*" {
                        continue;
                    }
                    let allowed = naive(&user, &entity, kind, resource)
                        == ironworx_server::authz::Outcome::Allow;
                    out.insert(
                        (
                            format!("c{case}u{u}"),
                            thing.clone(),
                            kind,
                            resource.to_owned(),
                        ),
                        allowed,
                    );
                }
            }
        }
    }
    out
}

async fn check_diff(
    conn: &DatabaseConnection,
    case: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    for u in 0..USERS {
        users::create_user(
            conn,
            &NewUser {
                name: format!("c{case}u{u}"),
                ..NewUser::default()
            },
        )
        .await
        .expect("user");
    }
    for g in 0..GROUPS {
        groups::create_group(conn, &format!("c{case}g{g}"), &EntityFields::default())
            .await
            .expect("group");
    }
    for t in 0..THINGS {
        create_thing(conn, &format!("c{case}t{t}")).await;
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    let before_at = now_ms();
    let before = naive_decisions(conn, case).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    for op in ops {
        // The Things stay: the naive evaluator asks about existing entities only.
        if !matches!(op, Op::CreateThing(_) | Op::DeleteThing(_)) {
            apply(conn, case, op).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    let after_at = now_ms();
    let after = naive_decisions(conn, case).await;
    let expected: Vec<_> = before
        .iter()
        .filter(|(key, allowed)| after.get(*key) != Some(*allowed))
        .map(|(key, allowed)| (key.clone(), *allowed))
        .collect();
    let snapshot = |at| ironworx_server::domain::snapshot::read_at(conn, at);
    let (was, is) = (
        snapshot(before_at).await.expect("before"),
        snapshot(after_at).await.expect("after"),
    );
    let changes = ironworx_server::domain::diff::compare(
        &was,
        &is,
        &ironworx_server::domain::diff::Filter::default(),
    )
    .expect("diff");
    let got: Vec<_> = changes
        .iter()
        .filter(|c| {
            before.contains_key(&(
                c.user.clone(),
                c.entity.clone(),
                c.permission,
                c.resource.clone(),
            ))
        })
        .map(|c| {
            (
                (
                    c.user.clone(),
                    c.entity.clone(),
                    c.permission,
                    c.resource.clone(),
                ),
                c.before.allowed(),
            )
        })
        .collect();
    if got != expected {
        return Err(TestCaseError::fail(format!(
            "{ops:?}: the diff says {got:?}, the naive evaluator {expected:?}"
        )));
    }
    Ok(())
}

#[test]
fn the_diff_between_instants_is_what_the_naive_evaluator_decides_differently() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for backend in runtime.block_on(async { backends() }) {
        let db = runtime.block_on(TestDb::create(backend));
        let conn = runtime.block_on(ironworx_tests::import_export::bootstrapped(&db));
        let mut runner = TestRunner::new(Config {
            cases: 12,
            max_shrink_iters: 0,
            failure_persistence: None,
            ..Config::default()
        });
        let case = std::sync::atomic::AtomicUsize::new(0);
        let result = runner.run(&proptest::collection::vec(op(), 1..12), |ops| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(check_diff(&conn, n, &ops))
        });
        if let Err(e) = result {
            panic!("{backend}: {e}");
        }
        runtime.block_on(async {
            conn.close().await.expect("close");
            db.drop_database().await;
        });
    }
}
