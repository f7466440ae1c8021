//! Rules too many or too wide for 32-bit entries decide as packed ones.

use super::*;

/// Rules that 32-bit entries cannot hold are kept as words, and decided as any others: a
/// template with more instance rules than a block by kind counts, a model whose instance rules
/// name so many principals and resources that an entry cannot pack both, and one whose
/// Things' own rules do.
#[test]
fn rules_beyond_packed_entries_decide_as_packed_ones() {
    type Ghost = fn(usize) -> (Collection, String, String, String);
    let one_big: Ghost = |i| {
        let (resource, principal) = (format!("p{}", i % 50), format!("ghost{i}"));
        (ThingTemplates, "Big".into(), resource, principal)
    };
    let many_names: Ghost = |i| {
        (
            ThingTemplates,
            format!("Ghosts{}", i % 1000),
            format!("p{i}"),
            format!("ghost{i}"),
        )
    };
    let crowded_things: Ghost = |i| {
        (
            Things,
            format!("Crowd{}", i % 1000),
            format!("p{i}"),
            format!("ghost{i}"),
        )
    };
    for ghost in [one_big, many_names, crowded_things] {
        let mut m = Model::visible_to_everyone(Model::new());
        m.user("u").group("G", &["u"]);
        m.template("Big", "").template("Small", "Big");
        for t in 0..1000 {
            m.template(&format!("Ghosts{t}"), "");
            m.thing(&format!("Crowd{t}"), "", &[], None);
        }
        m.thing("T", "Small", &[], None);
        for i in 0..70_000 {
            let (collection, entity, resource, principal) = ghost(i);
            let instance = collection == ThingTemplates;
            m.rule(
                collection,
                &entity,
                instance,
                PropertyRead,
                &resource,
                User,
                &principal,
                true,
            );
        }
        m.rule(
            ThingTemplates,
            "Big",
            true,
            PropertyRead,
            "p7",
            User,
            "u",
            true,
        )
        .rule(
            ThingTemplates,
            "Big",
            true,
            ServiceInvoke,
            "*",
            Group,
            "G",
            false,
        )
        .rule(
            ThingTemplates,
            "Big",
            true,
            ServiceInvoke,
            "s",
            User,
            "u",
            true,
        )
        .rule(Things, "T", false, PropertyWrite, "*", Group, "G", true)
        .rule(Things, "T", false, PropertyWrite, "w", User, "u", false);
        let ix = m.index();
        let template = Some("ThingTemplateInstance");
        let own = Some("Entity");
        let cases = [
            (PropertyRead, "p7", Allow, template),
            (PropertyRead, "p8", Deny, None),
            (ServiceInvoke, "s", Allow, template),
            (ServiceInvoke, "t", Deny, template),
            (PropertyWrite, "v", Allow, own),
            (PropertyWrite, "w", Deny, own),
        ];
        for (kind, resource, outcome, layer) in cases {
            let (got, got_layer) = ask(&ix, "u", (Things, "T"), kind, resource);
            assert_eq!(got, outcome, "{kind} {resource}");
            if let Some(layer) = layer {
                assert_eq!(got_layer, layer, "{kind} {resource}");
            }
        }
        // The rules of T and Big patched (every rule for u or G turned around), in whatever
        // layout the case forced: the patched index decides as a build of the changed facts.
        let changed = std::collections::BTreeSet::from([
            m.id_of(Things, "T"),
            m.id_of(ThingTemplates, "Big"),
        ]);
        let mut rules: Vec<_> = m
            .facts
            .entity_rules
            .iter()
            .filter(|(id, _, _)| changed.contains(id))
            .cloned()
            .collect();
        for (_, _, rule) in &mut rules {
            if rule.principal_name == "u" || rule.principal_name == "G" {
                rule.allow = !rule.allow;
            }
        }
        let sequence = ix.sequence() + 1;
        let patched = ix.patch_rules(sequence, &changed, &rules).expect("patched");
        m.facts.replace_rules(sequence, &changed, rules);
        let built = m.index();
        for (kind, resource, outcome, _) in cases {
            let got = ask(&patched, "u", (Things, "T"), kind, resource);
            assert_eq!(got, ask(&built, "u", (Things, "T"), kind, resource));
            if outcome == Allow {
                assert_eq!(got.0, Deny, "{kind} {resource} turned around");
            }
        }
    }
}
