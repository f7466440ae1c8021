//! Random models: the hot path and the explanation always give the same outcome, and principal
//! sets answer as a search would.

use super::*;

/// Random models with template chains (cycles and dangling bases included), shapes on
/// templates and Things, and rules of every kind at every level: the hot path and the
/// explanation always give the same outcome.
#[test]
fn decide_and_explain_agree_on_random_models() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0004);
    let mut checked = 0usize;
    for _ in 0..300 {
        let mut r = RandomModel::new(&mut rng);
        let count = rng.random_range(0..40);
        r.place_rules(&mut rng, count);
        let ix = r.m.index();
        for (what, request) in r.requests(&ix) {
            let (outcome, _) = explain(&ix, &request);
            assert_eq!(decide(&ix, &request), outcome, "{what}: {:#?}", r.m.facts);
            checked += 1;
        }
    }
    assert!(checked > 100_000);
}

#[test]
fn principal_sets_answer_as_a_search_would() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0005);
    for round in 0..2_000 {
        // Small and large sets (a large one is binary-searched), dense and sparse principals.
        let len = if round % 10 == 0 {
            rng.random_range(33..200)
        } else {
            rng.random_range(0..12)
        };
        let span: Pid = if round % 2 == 0 { 300 } else { 4_000_000 };
        let mut pids: Vec<Pid> = (0..len).map(|_| rng.random_range(0..span)).collect();
        pids.sort_unstable();
        pids.dedup();
        let set = PidSet::new(&pids);
        for _ in 0..50 {
            let pid = if rng.random_bool(0.3) && !pids.is_empty() {
                pids[rng.random_range(0..pids.len())]
            } else {
                rng.random_range(0..span)
            };
            assert_eq!(
                set.holds(pid),
                pids.binary_search(&pid).is_ok(),
                "{pid} in {pids:?}"
            );
        }
        // The mask test may say yes wrongly, never no wrongly.
        let other: Vec<Pid> = (0..rng.random_range(0..20))
            .map(|_| rng.random_range(0..span))
            .collect();
        if other.iter().any(|p| pids.binary_search(p).is_ok()) {
            assert!(
                set.may_meet(PidMask::of(other.iter().copied())),
                "{other:?} meets {pids:?}"
            );
        }
        assert!(!set.may_meet(PidMask::of([])));
    }
}
