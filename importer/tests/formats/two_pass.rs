//! The two-pass plan (a first pass that summarizes the Things, a second that plans each as it
//! reads it again) against the one-pass plan of the same source read whole: the same entities
//! in the same order, the same rules, memberships, dropped principals and warnings, and the
//! same refusals; a source that changes between the passes is refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ironworx_entity::vocab::{Collection, PrincipalType};
use ironworx_importer::gather::Gather;
use ironworx_importer::model::{Entity, EntityRule, Export};
use ironworx_importer::plan::{Known, Mode, Plan, PlanOptions, plan, plan_gathered};
use ironworx_importer::source::{read_path, read_path_with};
use ironworx_importer::{ImportError, Limits};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(dir.is_dir(), "the corpus is missing: {}", dir.display());
    dir
}

/// A Thing defined twice (the first definition names a principal defined nowhere, the second
/// one does not), a Thing whose values the template types, a Thing listed in a
/// collection-permissions file, and a Thing that names an unknown group twice.
const EXTRA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Entities majorVersion="9" minorVersion="3" schemaVersion="1000" universal="password">
  <ThingTemplates>
    <ThingTemplate name="TwoPassTemplate" baseThingTemplate="GenericThing">
      <ThingShape>
        <PropertyDefinitions>
          <PropertyDefinition name="speed" baseType="NUMBER" ordinal="1"/>
          <PropertyDefinition name="label" baseType="STRING" ordinal="2"/>
        </PropertyDefinitions>
      </ThingShape>
    </ThingTemplate>
  </ThingTemplates>
  <Things>
    <Thing name="TwoPassTwice" thingTemplate="TwoPassTemplate" enabled="true">
      <RunTimePermissions>
        <Permissions resourceName="*">
          <PropertyRead><Principal isPermitted="true" name="Nobody" type="Group"/></PropertyRead>
        </Permissions>
      </RunTimePermissions>
    </Thing>
    <Thing name="TwoPassTyped" thingTemplate="TwoPassTemplate" enabled="true">
      <ThingProperties>
        <speed><Value>12.5</Value><Timestamp>2024-01-02T03:04:05.000Z</Timestamp><Quality>GOOD</Quality></speed>
        <label><Value>north</Value><Timestamp>2024-01-02T03:04:05.000Z</Timestamp><Quality>GOOD</Quality></label>
      </ThingProperties>
      <RunTimePermissions>
        <Permissions resourceName="*">
          <PropertyRead>
            <Principal isPermitted="true" name="Ghosts" type="Group"/>
            <Principal isPermitted="false" name="Ghosts" type="Group"/>
            <Principal isPermitted="true" name="Users" type="Group"/>
          </PropertyRead>
        </Permissions>
      </RunTimePermissions>
    </Thing>
    <Thing name="TwoPassTwice" thingTemplate="TwoPassTemplate" enabled="false" description="again">
      <RunTimePermissions>
        <Permissions resourceName="*">
          <PropertyRead><Principal isPermitted="true" name="Users" type="Group"/></PropertyRead>
        </Permissions>
      </RunTimePermissions>
    </Thing>
  </Things>
</Entities>
"#;

const LISTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Collections>
  <Things name="Things">
    <Entities>
      <Entity name="TwoPassTyped">
        <DesignTimePermissions>
          <Read><Principal isPermitted="true" name="Users" type="Group"/></Read>
        </DesignTimePermissions>
      </Entity>
    </Entities>
  </Things>
</Collections>
"#;

/// A folder with every corpus file and the extra files above.
fn source_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["xml", "twx"] {
        for entry in fs::read_dir(corpus_dir().join(sub)).expect("corpus") {
            let path = entry.expect("entry").path();
            let keep = path.extension().is_some_and(|e| e == "xml" || e == "twx");
            if keep {
                let name = path.file_name().expect("name");
                fs::copy(&path, dir.path().join(name)).expect("copy");
            }
        }
    }
    fs::write(dir.path().join("zz_two_pass.xml"), EXTRA).expect("write");
    fs::write(dir.path().join("zz_two_pass_permissions.xml"), LISTED).expect("write");
    dir
}

fn known() -> Known {
    let mut known = Known::default();
    known
        .principals
        .insert((PrincipalType::Group, "Users".into()));
    known
}

/// The plan of two passes over `path`, with the Things of the second pass put back in their
/// place (their rules with the plan's rules) so that it compares with a one-pass plan.
fn two_pass(path: &Path, options: PlanOptions) -> Result<Plan, ImportError> {
    let mut gather = Gather::two_pass();
    let mut refused = None;
    let rest = read_path_with(path, &Limits::default(), &mut |entity| {
        if refused.is_none()
            && let Err(err) = gather.push(entity)
        {
            refused = Some(err);
        }
        Ok(())
    })?;
    if let Some(err) = refused {
        return Err(err);
    }
    let (mut plan, mut streamed) = plan_gathered(gather, rest, &known(), options)?;
    let mut things: Vec<Entity> = Vec::new();
    let mut rules: BTreeMap<(Collection, String), Vec<EntityRule>> = BTreeMap::new();
    read_path_with(path, &Limits::default(), &mut |entity| {
        if let Some((thing, thing_rules)) = streamed.take(entity)? {
            rules.insert((Collection::Things, thing.name.clone()), thing_rules);
            things.push(thing);
        }
        Ok(())
    })?;
    streamed.finish("source")?;
    assert!(streamed.is_empty());
    plan.rules.extend(rules);
    let after = plan.entities.split_off(plan.streamed_at);
    plan.entities.extend(things);
    plan.entities.extend(after);
    Ok(plan)
}

fn one_pass(path: &Path, options: PlanOptions) -> Result<Plan, ImportError> {
    let export: Export = read_path(path, &Limits::default())?;
    plan(export, &known(), options)
}

/// The one-pass plan orders the Things by first definition, the second pass by last: the
/// same set, compared in name order, and otherwise the same order.
fn assert_same(one: &Plan, two: &Plan, what: &str) {
    let key = |e: &Entity| {
        (
            e.collection != Collection::Things,
            e.collection,
            e.name.clone(),
        )
    };
    let split = |p: &Plan| -> (Vec<Entity>, Vec<Entity>) {
        p.entities
            .iter()
            .cloned()
            .partition(|e| e.collection == Collection::Things)
    };
    let (mut one_things, one_rest) = split(one);
    let (mut two_things, two_rest) = split(two);
    one_things.sort_by_key(key);
    two_things.sort_by_key(key);
    assert_eq!(one_rest, two_rest, "{what}: the entities other than Things");
    assert_eq!(one_things.len(), two_things.len(), "{what}: Things");
    for (a, b) in one_things.iter().zip(&two_things) {
        assert_eq!(a, b, "{what}: Thing {}", a.name);
    }
    assert_eq!(one.rules, two.rules, "{what}: rules");
    assert_eq!(one.memberships, two.memberships, "{what}: memberships");
    assert_eq!(one.collection_rules, two.collection_rules, "{what}");
    assert_eq!(one.dropped, two.dropped, "{what}: dropped principals");
    assert_eq!(
        one.ignored_collection_rules, two.ignored_collection_rules,
        "{what}"
    );
    assert_eq!(one.warnings, two.warnings, "{what}: warnings");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn two_passes_plan_what_one_pass_plans() {
    let folder = source_folder();
    for mode in [Mode::File, Mode::Storage] {
        let options = PlanOptions {
            mode,
            strict: false,
        };
        let one = one_pass(folder.path(), options).expect("one pass");
        let two = two_pass(folder.path(), options).expect("two passes");
        assert_same(&one, &two, &format!("{mode:?}"));

        // What the extra file exercises is there.
        let twice = one
            .entities
            .iter()
            .find(|e| e.name == "TwoPassTwice")
            .expect("the Thing defined twice");
        assert_eq!(twice.common.description, "again");
        assert!(
            one.warnings
                .iter()
                .any(|w| w.contains("Things/TwoPassTwice is defined again")),
            "{:?}",
            one.warnings
        );
        let ghosts = one
            .dropped
            .iter()
            .find(|d| d.name == "Ghosts")
            .expect("Ghosts dropped");
        assert_eq!(ghosts.references, 2);
        assert!(
            !one.dropped.iter().any(|d| d.name == "Nobody"),
            "a replaced definition's principals are not counted"
        );
        let typed_rules = &one.rules[&(Collection::Things, "TwoPassTyped".to_owned())];
        assert_eq!(
            typed_rules.len(),
            if mode == Mode::Storage { 2 } else { 1 },
            "{typed_rules:?}"
        );
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn two_passes_refuse_what_one_pass_refuses() {
    let folder = source_folder();
    let options = PlanOptions {
        mode: Mode::File,
        strict: true,
    };
    let one = one_pass(folder.path(), options).expect_err("strict: dangling principals");
    let two = two_pass(folder.path(), options).expect_err("strict: dangling principals");
    assert_eq!(one.to_string(), two.to_string());
    assert!(one.to_string().contains("Group:Ghosts"), "{one}");

    fs::write(
        folder.path().join("zz_bad.xml"),
        r#"<Entities><Things><Thing name="Bad/Name" thingTemplate="GenericThing"/></Things></Entities>"#,
    )
    .expect("write");
    let options = PlanOptions {
        mode: Mode::File,
        strict: false,
    };
    let one = one_pass(folder.path(), options).expect_err("a bad name");
    let two = two_pass(folder.path(), options).expect_err("a bad name");
    assert_eq!(one.to_string(), two.to_string());
    assert!(one.to_string().contains("zz_bad.xml:1"), "{one}");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn a_source_that_changes_between_the_passes_is_refused() {
    let folder = source_folder();
    let options = PlanOptions {
        mode: Mode::File,
        strict: false,
    };
    let read_first = |path: &Path| {
        let mut gather = Gather::two_pass();
        let rest =
            read_path_with(path, &Limits::default(), &mut |e| gather.push(e)).expect("first pass");
        plan_gathered(gather, rest, &known(), options).expect("plan")
    };
    let second = |path: &Path, streamed: &mut ironworx_importer::plan::Streamed| {
        read_path_with(path, &Limits::default(), &mut |e| {
            streamed.take(e).map(|_| ())
        })
        .and_then(|_| streamed.finish("source"))
    };

    // A Thing the first pass did not read.
    let (_, mut streamed) = read_first(folder.path());
    fs::write(
        folder.path().join("zz_more.xml"),
        r#"<Entities><Things><Thing name="Newcomer" thingTemplate="GenericThing"/></Things></Entities>"#,
    )
    .expect("write");
    let err = second(folder.path(), &mut streamed).expect_err("a new Thing");
    assert!(err.to_string().contains("Things/Newcomer"), "{err}");

    // A Thing the second pass does not read.
    let (_, mut streamed) = read_first(folder.path());
    fs::remove_file(folder.path().join("zz_two_pass.xml")).expect("remove");
    let err = second(folder.path(), &mut streamed).expect_err("a Thing gone");
    assert!(err.to_string().contains("first pass only"), "{err}");
}
