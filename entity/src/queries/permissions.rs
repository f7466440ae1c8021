//! Permission rules as rows: on one entity (its own rules, or instance rules of a ThingTemplate
//! or ThingShape that flow to implementing Things) and on a whole collection. Adding a rule for a
//! cell that already has one replaces its effect, so a cell holds one rule per principal.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::queries::bulk::delete_where;
use crate::queries::entities::find_entity_by_id;
use crate::queries::{QueryError, QueryResult};
use crate::schema::{collection_permissions, entities, entity_permissions};
use crate::vocab::{
    ANY_RESOURCE, Collection, Effect, PermissionCategory, PermissionKind, PrincipalType,
};

/// One rule: a principal allowed or denied one permission on one resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    /// The permission.
    pub kind: PermissionKind,
    /// A property, service or event name, or `*`; always `*` for design time and visibility.
    pub resource: String,
    /// What the principal is.
    pub principal_type: PrincipalType,
    /// The principal's name (`Org:Unit` for a unit).
    pub principal_name: String,
    /// Allow or deny.
    pub allow: bool,
}

impl Rule {
    /// A rule on `*`.
    pub fn any(
        kind: PermissionKind,
        principal_type: PrincipalType,
        name: &str,
        effect: Effect,
    ) -> Rule {
        Rule {
            kind,
            resource: ANY_RESOURCE.to_owned(),
            principal_type,
            principal_name: name.to_owned(),
            allow: effect.is_permitted(),
        }
    }

    /// Refuses a rule whose principal type does not fit its kind, or a named resource on a
    /// design-time or visibility rule.
    pub fn validate(&self) -> QueryResult<()> {
        if !self.kind.accepts_principal(self.principal_type) {
            return Err(QueryError::Refused(format!(
                "a {} rule cannot name a principal of type {}",
                self.kind, self.principal_type
            )));
        }
        if self.kind.category() != PermissionCategory::RunTime && self.resource != ANY_RESOURCE {
            return Err(QueryError::Refused(format!(
                "a {} rule applies to the whole entity; its resource must be '*', not '{}'",
                self.kind, self.resource
            )));
        }
        if self.resource.is_empty() || self.principal_name.is_empty() {
            return Err(QueryError::Refused(
                "a rule needs a resource and a principal name".into(),
            ));
        }
        Ok(())
    }

    fn from_entity_row(row: entity_permissions::Model) -> QueryResult<Rule> {
        Ok(Rule {
            kind: row.kind.parse()?,
            resource: row.resource,
            principal_type: row.principal_type.parse()?,
            principal_name: row.principal_name,
            allow: row.allow,
        })
    }

    fn from_collection_row(row: collection_permissions::Model) -> QueryResult<Rule> {
        Ok(Rule {
            kind: row.kind.parse()?,
            resource: row.resource,
            principal_type: row.principal_type.parse()?,
            principal_name: row.principal_name,
            allow: row.allow,
        })
    }
}

/// A rule on an entity, with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRule {
    /// The entity carrying the rule.
    pub entity_id: i64,
    /// Whether it is an instance rule (of a template or shape, for implementing Things).
    pub instance: bool,
    /// The rule.
    pub rule: Rule,
}

impl EntityRule {
    fn from_row(row: entity_permissions::Model) -> QueryResult<EntityRule> {
        let (entity_id, instance) = (row.entity_id, row.instance);
        Ok(EntityRule {
            entity_id,
            instance,
            rule: Rule::from_entity_row(row)?,
        })
    }
}

fn cell_filter(entity_id: i64, instance: bool, rule: &Rule) -> Condition {
    Condition::all()
        .add(entity_permissions::Column::EntityId.eq(entity_id))
        .add(entity_permissions::Column::Instance.eq(instance))
        .add(entity_permissions::Column::Kind.eq(rule.kind.as_str()))
        .add(entity_permissions::Column::Resource.eq(rule.resource.as_str()))
        .add(entity_permissions::Column::PrincipalType.eq(rule.principal_type.as_str()))
        .add(entity_permissions::Column::PrincipalName.eq(rule.principal_name.as_str()))
}

/// Adds (or replaces the effect of) a rule on an entity. Instance rules exist only on
/// ThingTemplates and ThingShapes, and ThingShapes carry run-time instance rules only.
pub async fn set_entity_rule<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
    instance: bool,
    rule: &Rule,
) -> QueryResult<()> {
    rule.validate()?;
    if instance {
        let entity =
            find_entity_by_id(db, entity_id)
                .await?
                .ok_or_else(|| QueryError::NotFound {
                    what: "entity".into(),
                    name: entity_id.to_string(),
                })?;
        let collection: Collection = entity.collection.parse()?;
        let allowed = match collection {
            Collection::ThingTemplates => true,
            Collection::ThingShapes => rule.kind.category() == PermissionCategory::RunTime,
            _ => false,
        };
        if !allowed {
            return Err(QueryError::Refused(format!(
                "{} '{}' cannot carry instance {} rules",
                collection, entity.name, rule.kind
            )));
        }
    }
    let existing = entity_permissions::Entity::find()
        .filter(cell_filter(entity_id, instance, rule))
        .one(db)
        .await?;
    match existing {
        Some(row) if row.allow == rule.allow => {}
        Some(row) => {
            let mut active: entity_permissions::ActiveModel = row.into();
            active.allow = Set(rule.allow);
            active.update(db).await?;
        }
        None => {
            entity_rule_active(entity_id, instance, rule)
                .insert(db)
                .await?;
        }
    }
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

fn entity_rule_active(
    entity_id: i64,
    instance: bool,
    rule: &Rule,
) -> entity_permissions::ActiveModel {
    entity_permissions::ActiveModel {
        entity_id: Set(entity_id),
        instance: Set(instance),
        kind: Set(rule.kind.as_str().to_owned()),
        resource: Set(rule.resource.clone()),
        principal_type: Set(rule.principal_type.as_str().to_owned()),
        principal_name: Set(rule.principal_name.clone()),
        allow: Set(rule.allow),
        ..Default::default()
    }
}

/// Inserts many entity rules in batches (an import's path); rules must be new and valid.
pub async fn insert_entity_rules<C: ConnectionTrait>(
    db: &C,
    rules: &[EntityRule],
) -> QueryResult<()> {
    for chunk in rules.chunks(crate::queries::parts::BATCH_ROWS) {
        for r in chunk {
            r.rule.validate()?;
        }
        let rows: Vec<_> = chunk
            .iter()
            .map(|r| entity_rule_active(r.entity_id, r.instance, &r.rule))
            .collect();
        entity_permissions::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// Removes the rule of this cell and principal, whatever its effect; returns whether one existed.
pub async fn remove_entity_rule<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
    instance: bool,
    rule: &Rule,
) -> QueryResult<bool> {
    let res = entity_permissions::Entity::delete_many()
        .filter(cell_filter(entity_id, instance, rule))
        .exec(db)
        .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(res.rows_affected > 0)
}

/// The rules on an entity (own or instance), in a stable order.
pub async fn entity_rules<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
    instance: bool,
) -> QueryResult<Vec<Rule>> {
    entity_permissions::Entity::find()
        .filter(entity_permissions::Column::EntityId.eq(entity_id))
        .filter(entity_permissions::Column::Instance.eq(instance))
        .order_by_asc(entity_permissions::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Rule::from_entity_row)
        .collect()
}

/// Every entity rule of the model, for building the in-memory index.
pub async fn all_entity_rules<C: ConnectionTrait>(db: &C) -> QueryResult<Vec<EntityRule>> {
    entity_permissions::Entity::find()
        .order_by_asc(entity_permissions::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(EntityRule::from_row)
        .collect()
}

/// Every rule of the entities `ids` (own and instance), in the order [`all_entity_rules`]
/// gives them.
pub async fn entity_rules_of<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> QueryResult<Vec<EntityRule>> {
    let mut rules = Vec::new();
    for chunk in ids.chunks(crate::queries::bulk::IN_LIST) {
        let rows = entity_permissions::Entity::find()
            .filter(entity_permissions::Column::EntityId.is_in(chunk.iter().copied()))
            .order_by_asc(entity_permissions::Column::Id)
            .all(db)
            .await?;
        for row in rows {
            rules.push(EntityRule::from_row(row)?);
        }
    }
    Ok(rules)
}

/// Replaces every rule of `category` on an entity (own or instance) with `rules`, as the
/// `Set…PermissionsAsJSON` services do; the rules must be valid, of that category, and name
/// each cell and principal once.
pub async fn replace_entity_rules<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
    instance: bool,
    category: PermissionCategory,
    rules: &[Rule],
) -> QueryResult<()> {
    let kinds: Vec<&str> = PermissionKind::of_category(category)
        .iter()
        .map(|k| k.as_str())
        .collect();
    entity_permissions::Entity::delete_many()
        .filter(entity_permissions::Column::EntityId.eq(entity_id))
        .filter(entity_permissions::Column::Instance.eq(instance))
        .filter(entity_permissions::Column::Kind.is_in(kinds))
        .exec(db)
        .await?;
    for rule in rules {
        if rule.kind.category() != category {
            return Err(QueryError::Refused(format!(
                "a {} rule does not belong in this permission set",
                rule.kind
            )));
        }
        set_entity_rule(db, entity_id, instance, rule).await?;
    }
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

fn collection_filter(collection: Collection, rule: &Rule) -> Condition {
    Condition::all()
        .add(collection_permissions::Column::Collection.eq(collection.as_str()))
        .add(collection_permissions::Column::Kind.eq(rule.kind.as_str()))
        .add(collection_permissions::Column::Resource.eq(rule.resource.as_str()))
        .add(collection_permissions::Column::PrincipalType.eq(rule.principal_type.as_str()))
        .add(collection_permissions::Column::PrincipalName.eq(rule.principal_name.as_str()))
}

/// Adds (or replaces the effect of) a rule on a whole collection.
pub async fn set_collection_rule<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    rule: &Rule,
) -> QueryResult<()> {
    rule.validate()?;
    let existing = collection_permissions::Entity::find()
        .filter(collection_filter(collection, rule))
        .one(db)
        .await?;
    match existing {
        Some(row) if row.allow == rule.allow => {}
        Some(row) => {
            let mut active: collection_permissions::ActiveModel = row.into();
            active.allow = Set(rule.allow);
            active.update(db).await?;
        }
        None => {
            collection_permissions::ActiveModel {
                collection: Set(collection.as_str().to_owned()),
                kind: Set(rule.kind.as_str().to_owned()),
                resource: Set(rule.resource.clone()),
                principal_type: Set(rule.principal_type.as_str().to_owned()),
                principal_name: Set(rule.principal_name.clone()),
                allow: Set(rule.allow),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// Removes the collection rule of this cell and principal; returns whether one existed.
pub async fn remove_collection_rule<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    rule: &Rule,
) -> QueryResult<bool> {
    let res = collection_permissions::Entity::delete_many()
        .filter(collection_filter(collection, rule))
        .exec(db)
        .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(res.rows_affected > 0)
}

/// The rules on a collection, in a stable order.
pub async fn collection_rules<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
) -> QueryResult<Vec<Rule>> {
    collection_permissions::Entity::find()
        .filter(collection_permissions::Column::Collection.eq(collection.as_str()))
        .order_by_asc(collection_permissions::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Rule::from_collection_row)
        .collect()
}

/// Deletes every rule, on entities and collections, that names this principal.
pub async fn delete_rules_naming<C: ConnectionTrait>(
    db: &C,
    principal_type: PrincipalType,
    name: &str,
) -> QueryResult<u64> {
    let a = entity_permissions::Entity::delete_many()
        .filter(entity_permissions::Column::PrincipalType.eq(principal_type.as_str()))
        .filter(entity_permissions::Column::PrincipalName.eq(name))
        .exec(db)
        .await?;
    let b = collection_permissions::Entity::delete_many()
        .filter(collection_permissions::Column::PrincipalType.eq(principal_type.as_str()))
        .filter(collection_permissions::Column::PrincipalName.eq(name))
        .exec(db)
        .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(a.rows_affected + b.rows_affected)
}

/// Deletes every rule naming a unit of `organization` (`Org:…`). The prefix is compared in
/// Rust, not with `LIKE`, so `_` in a name is never a wildcard.
pub async fn delete_unit_rules_of<C: ConnectionTrait>(
    db: &C,
    organization: &str,
) -> QueryResult<u64> {
    let prefix = format!("{organization}:");
    let unit = PrincipalType::OrganizationalUnit.as_str();
    let entity_ids: Vec<i64> = entity_permissions::Entity::find()
        .filter(entity_permissions::Column::PrincipalType.eq(unit))
        .all(db)
        .await?
        .into_iter()
        .filter(|r| r.principal_name.starts_with(&prefix))
        .map(|r| r.id)
        .collect();
    let collection_ids: Vec<i64> = collection_permissions::Entity::find()
        .filter(collection_permissions::Column::PrincipalType.eq(unit))
        .all(db)
        .await?
        .into_iter()
        .filter(|r| r.principal_name.starts_with(&prefix))
        .map(|r| r.id)
        .collect();
    let mut deleted = 0;
    for chunk in entity_ids.chunks(500) {
        deleted += entity_permissions::Entity::delete_many()
            .filter(entity_permissions::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    for chunk in collection_ids.chunks(500) {
        deleted += collection_permissions::Entity::delete_many()
            .filter(collection_permissions::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    crate::queries::audit::bump_sequence(db).await?;
    Ok(deleted)
}

/// Whether the principal a rule names exists: a user, a group, an organization, or a unit
/// named `<Organization>:<Unit>`.
pub async fn principal_exists<C: ConnectionTrait>(
    db: &C,
    principal_type: PrincipalType,
    name: &str,
) -> QueryResult<bool> {
    use crate::queries::entities::find_entity;
    Ok(match principal_type {
        PrincipalType::User => find_entity(db, Collection::Users, name).await?.is_some(),
        PrincipalType::Group => find_entity(db, Collection::Groups, name).await?.is_some(),
        PrincipalType::Organization => find_entity(db, Collection::Organizations, name)
            .await?
            .is_some(),
        PrincipalType::OrganizationalUnit => match crate::vocab::split_unit_principal(name) {
            Some((org, unit)) => {
                find_entity(db, Collection::Organizations, org)
                    .await?
                    .is_some()
                    && crate::queries::organizations::list_units(db, org)
                        .await?
                        .iter()
                        .any(|u| u.name == unit)
            }
            None => false,
        },
    })
}

/// Deletes every rule (own and instance) on entity `entity_id`, without bumping the change
/// sequence: for a caller that writes the entity's new rules and bumps it once.
pub async fn clear_entity_rules<C: ConnectionTrait>(db: &C, entity_id: i64) -> QueryResult<()> {
    let column = entity_permissions::Column::EntityId;
    delete_where::<_, entity_permissions::Entity>(db, column, entity_id).await?;
    Ok(())
}

/// Deletes every rule on `collection`, without bumping the change sequence: for a caller that
/// writes the collection's new rules and bumps it once.
pub async fn clear_collection_rules<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
) -> QueryResult<()> {
    let column = collection_permissions::Column::Collection;
    delete_where::<_, collection_permissions::Entity>(db, column, collection.as_str()).await?;
    Ok(())
}

/// The rows of the rules on `collections` (on every collection when empty), in a stable order.
pub async fn collection_rule_rows<C: ConnectionTrait>(
    db: &C,
    collections: &[Collection],
) -> QueryResult<Vec<collection_permissions::Model>> {
    let mut query = collection_permissions::Entity::find();
    if !collections.is_empty() {
        query = query.filter(
            collection_permissions::Column::Collection
                .is_in(collections.iter().map(|c| c.as_str())),
        );
    }
    Ok(query
        .order_by_asc(collection_permissions::Column::Id)
        .all(db)
        .await?)
}

/// A rule naming a principal, with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleUse {
    /// The collection of the entity, or the collection whose rule it is.
    pub collection: Collection,
    /// The entity; `None` for a rule of the collection itself.
    pub entity: Option<String>,
    /// An instance rule (of a ThingTemplate or ThingShape).
    pub instance: bool,
    /// The rule.
    pub rule: Rule,
}

/// The rules naming this principal: at most `limit` on entities (by entity id), then at most
/// `limit` on collections.
pub async fn rules_naming<C: ConnectionTrait>(
    db: &C,
    principal_type: PrincipalType,
    name: &str,
    limit: u64,
) -> QueryResult<Vec<RuleUse>> {
    let rows = entity_permissions::Entity::find()
        .filter(entity_permissions::Column::PrincipalType.eq(principal_type.as_str()))
        .filter(entity_permissions::Column::PrincipalName.eq(name))
        .order_by_asc(entity_permissions::Column::EntityId)
        .order_by_asc(entity_permissions::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut places = std::collections::HashMap::new();
    for chunk in rows
        .iter()
        .map(|r| r.entity_id)
        .collect::<Vec<_>>()
        .chunks(crate::queries::bulk::IN_LIST)
    {
        for e in entities::Entity::find()
            .filter(entities::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            places.insert(e.id, (e.collection.parse::<Collection>()?, e.name));
        }
    }
    let mut uses = Vec::with_capacity(rows.len());
    for row in rows {
        let Some((collection, entity)) = places.get(&row.entity_id).cloned() else {
            continue;
        };
        let instance = row.instance;
        uses.push(RuleUse {
            collection,
            entity: Some(entity),
            instance,
            rule: Rule::from_entity_row(row)?,
        });
    }
    for row in collection_permissions::Entity::find()
        .filter(collection_permissions::Column::PrincipalType.eq(principal_type.as_str()))
        .filter(collection_permissions::Column::PrincipalName.eq(name))
        .order_by_asc(collection_permissions::Column::Id)
        .limit(limit)
        .all(db)
        .await?
    {
        uses.push(RuleUse {
            collection: row.collection.parse()?,
            entity: None,
            instance: false,
            rule: Rule::from_collection_row(row)?,
        });
    }
    Ok(uses)
}
