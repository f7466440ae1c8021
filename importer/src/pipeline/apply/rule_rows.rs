//! Writes entity and collection rules.

use super::*;
use ironworx_entity::queries::permissions;

pub(super) async fn write_rules<C: ConnectionTrait>(
    db: &C,
    plan_rules: &BTreeMap<(Collection, String), Vec<EntityRule>>,
    ids: &HashMap<(Collection, String), i64>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut rows = Vec::new();
    for ((collection, name), rules) in plan_rules {
        let id = match ids.get(&(*collection, name.clone())) {
            Some(&id) => id,
            None => {
                // Listed in a collection-permissions file for an entity this import does not
                // carry: applied to the database's entity, or reported.
                match ironworx_entity::queries::entities::find_entity(db, *collection, name).await?
                {
                    Some(row) => {
                        permissions::clear_entity_rules(db, row.id).await?;
                        row.id
                    }
                    None => {
                        if !rules.is_empty() {
                            report.warnings.push(format!(
                                "{} rule(s) listed for {collection}/{name} dropped: the entity is defined nowhere",
                                rules.len()
                            ));
                        }
                        continue;
                    }
                }
            }
        };
        rule_rows(id, rules, report, &mut rows);
        if rows.len() >= ROW_CHUNK {
            insert_all(db, std::mem::take(&mut rows)).await?;
        }
    }
    insert_all(db, rows).await?;
    Ok(())
}

/// The rows of the rules of entity `id`, counted in the report.
pub(super) fn rule_rows(
    id: i64,
    rules: &[EntityRule],
    report: &mut Report,
    rows: &mut Vec<entity_permissions::ActiveModel>,
) {
    for r in rules {
        if r.instance {
            report.instance_rules += 1;
        } else {
            report.entity_rules += 1;
        }
        rows.push(entity_permissions::ActiveModel {
            id: NotSet,
            entity_id: Set(id),
            instance: Set(r.instance),
            kind: Set(r.rule.kind.as_str().to_owned()),
            resource: Set(r.rule.resource.clone()),
            principal_type: Set(r.rule.principal_type.as_str().to_owned()),
            principal_name: Set(r.rule.principal_name.clone()),
            allow: Set(r.rule.allow),
        });
    }
}

pub(super) async fn write_collection_rules<C: ConnectionTrait>(
    db: &C,
    collection_rules: &BTreeMap<Collection, Vec<crate::model::CollectionRule>>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut rows = Vec::new();
    for (collection, rules) in collection_rules {
        permissions::clear_collection_rules(db, *collection).await?;
        for r in rules {
            rows.push(collection_permissions::ActiveModel {
                id: NotSet,
                collection: Set(collection.as_str().to_owned()),
                kind: Set(r.rule.kind.as_str().to_owned()),
                resource: Set(r.rule.resource.clone()),
                principal_type: Set(r.rule.principal_type.as_str().to_owned()),
                principal_name: Set(r.rule.principal_name.clone()),
                allow: Set(r.rule.allow),
            });
        }
    }
    report.collection_rules = rows.len();
    insert_all(db, rows).await?;
    Ok(())
}
