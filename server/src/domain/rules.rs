//! The permission rules of an entity (its own, or the instance rules of a template or shape)
//! and of a collection, read and changed for a caller with the checks REST makes, once for
//! every door: an entity's rules need it visible, then design-time `Read` (to read) or `Update`
//! (to change) on it or a security administrator; a collection's rules are a security
//! administrator's. A change is one transaction with its audit row, and this process's index is
//! brought up to it before returning, so the caller reads its write.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::entities;
use ironworx_entity::queries::permissions::{self, Rule};
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, PermissionCategory, PermissionKind, PrincipalType, Tag,
};
use serde_json::json;

use crate::authz::EntityIdx;
use crate::domain::Ctx;
use crate::domain::need::{Need, SECURITY_ADMIN, SECURITY_CHANGE, SECURITY_READ};
use crate::error::ApiError;
use crate::state::AppState;

/// Which rules of an entity or collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleScope {
    /// The entity's own rules.
    Own,
    /// The instance rules of a ThingTemplate or ThingShape.
    Instance,
    /// The rules of a whole collection.
    Collection,
}

impl RuleScope {
    /// How service names spell it after their verb: ``, `Instance`, `Collection`.
    pub fn word(self) -> &'static str {
        match self {
            RuleScope::Own => "",
            RuleScope::Instance => "Instance",
            RuleScope::Collection => "Collection",
        }
    }
}

/// Where a set of rules is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The entity's own rules.
    Own(EntityIdx),
    /// The instance rules of a ThingTemplate or ThingShape.
    Instance(EntityIdx),
    /// The rules of a whole collection.
    Collection(Collection),
}

impl Holder {
    /// The holder of `scope`'s rules of entity `idx` of `collection`.
    pub fn of(scope: RuleScope, collection: Collection, idx: EntityIdx) -> Holder {
        match scope {
            RuleScope::Own => Holder::Own(idx),
            RuleScope::Instance => Holder::Instance(idx),
            RuleScope::Collection => Holder::Collection(collection),
        }
    }

    /// Its scope.
    pub fn scope(self) -> RuleScope {
        match self {
            Holder::Own(_) => RuleScope::Own,
            Holder::Instance(_) => RuleScope::Instance,
            Holder::Collection(_) => RuleScope::Collection,
        }
    }

    /// What reading (`change` false) or changing its rules needs.
    fn need(self, change: bool) -> &'static Need {
        match (self, change) {
            (Holder::Collection(_), _) => &SECURITY_ADMIN,
            (_, true) => &SECURITY_CHANGE,
            (_, false) => &SECURITY_READ,
        }
    }
}

/// `run-time`, `design-time` or `visibility`.
pub fn category_words(category: PermissionCategory) -> &'static str {
    match category {
        PermissionCategory::RunTime => "run-time",
        PermissionCategory::DesignTime => "design-time",
        PermissionCategory::Visibility => "visibility",
    }
}

/// How service names spell `category`: `RunTime`, `DesignTime`, `Visibility`.
pub fn category_name(category: PermissionCategory) -> &'static str {
    match category {
        PermissionCategory::RunTime => "RunTime",
        PermissionCategory::DesignTime => "DesignTime",
        PermissionCategory::Visibility => "Visibility",
    }
}

/// Whether entities of `collection` carry instance rules of `category`.
pub fn carries_instance(collection: Collection, category: PermissionCategory) -> bool {
    match collection {
        Collection::ThingTemplates => true,
        Collection::ThingShapes => category == PermissionCategory::RunTime,
        _ => false,
    }
}

/// The rules' place once checked: the collection, and the entity's row id and name.
struct Place {
    collection: Collection,
    entity: Option<(i64, String)>,
    instance: bool,
}

impl Place {
    /// The audit row of `ctx`'s caller changing these rules through `service`.
    fn change(&self, ctx: &Ctx, service: &str, detail: serde_json::Value) -> Change {
        let name = self.entity.as_ref().map_or("", |(_, n)| n.as_str());
        Change::on(&ctx.caller.name, service, self.collection, name, detail)
    }
}

/// Enforces what `holder` needs for `service` on `category`'s rules and says where they are;
/// instance rules of a collection that carries none of the category are bad input, for
/// anyone.
fn checked(
    ctx: &Ctx,
    holder: Holder,
    change: bool,
    category: PermissionCategory,
    service: &str,
) -> Result<Place, ApiError> {
    let need = holder.need(change);
    let idx = match holder {
        Holder::Collection(collection) => {
            ctx.enforce(need, None, service, &|_| None)?;
            return Ok(Place {
                collection,
                entity: None,
                instance: false,
            });
        }
        Holder::Own(idx) | Holder::Instance(idx) => idx,
    };
    let entity = ctx.index.entity(idx).ok_or(ApiError::NotFound)?;
    let instance = holder.scope() == RuleScope::Instance;
    // Refused whoever asks (the collection alone decides it), before any check.
    if instance && !carries_instance(entity.collection, category) {
        return Err(ApiError::BadRequest(format!(
            "{} carry no instance {} permissions",
            entity.collection,
            category_words(category)
        )));
    }
    ctx.enforce(need, Some(idx), service, &|_| None)?;
    Ok(Place {
        collection: entity.collection,
        entity: Some((entity.id, entity.name.clone())),
        instance,
    })
}

/// The rules of `category` that `holder` keeps, sorted (`Get…Permissions`).
pub async fn rules(
    state: &AppState,
    ctx: &Ctx,
    holder: Holder,
    category: PermissionCategory,
) -> Result<Vec<Rule>, ApiError> {
    let service = format!(
        "Get{}{}Permissions",
        holder.scope().word(),
        category_name(category)
    );
    let place = checked(ctx, holder, false, category, &service)?;
    let all = match &place.entity {
        Some((id, _)) => permissions::entity_rules(&state.db, *id, place.instance).await?,
        None => permissions::collection_rules(&state.db, place.collection).await?,
    };
    let mut rules: Vec<Rule> = all
        .into_iter()
        .filter(|r| r.kind.category() == category)
        .collect();
    rules.sort();
    Ok(rules)
}

/// The rule an `Add…`/`Delete…Permission` names, as stored: design-time and visibility rules
/// are on `*`, a run-time rule on `resource` (`*` when empty); a visibility rule always
/// allows, and a deleted rule is named without its effect (stored as allowing).
pub fn named_rule(
    kind: PermissionKind,
    resource: &str,
    principal: (PrincipalType, &str),
    allow: bool,
    add: bool,
) -> Rule {
    let resource = match (kind.category(), resource.trim()) {
        (PermissionCategory::RunTime, r) if !r.is_empty() => r.to_owned(),
        _ => ANY_RESOURCE.to_owned(),
    };
    let allow = allow || !add || kind.category() == PermissionCategory::Visibility;
    Rule {
        kind,
        resource,
        principal_type: principal.0,
        principal_name: principal.1.to_owned(),
        allow,
    }
}

/// Refuses a rule naming a principal the model does not define (400).
pub async fn require_principal(state: &AppState, rule: &Rule) -> Result<(), ApiError> {
    if permissions::principal_exists(&state.db, rule.principal_type, &rule.principal_name).await? {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "unknown principal: {} '{}'{}",
        rule.principal_type,
        rule.principal_name,
        if rule.principal_type == PrincipalType::OrganizationalUnit {
            " (name a unit as <Organization>:<Unit>)"
        } else {
            ""
        }
    )))
}

/// Adds (`add`) or deletes `rule` where `holder` keeps it (`Add…Permission`,
/// `Delete…Permission`), with its audit row; the rule is validated and, when added, its
/// principal must exist.
pub async fn change(
    state: &AppState,
    ctx: &Ctx,
    holder: Holder,
    add: bool,
    rule: &Rule,
) -> Result<(), ApiError> {
    let category = rule.kind.category();
    let service = format!(
        "{}{}{}Permission",
        if add { "Add" } else { "Delete" },
        holder.scope().word(),
        category_name(category)
    );
    let place = checked(ctx, holder, true, category, &service)?;
    rule.validate()?;
    if add {
        require_principal(state, rule).await?;
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let changed = match (&place.entity, add) {
        (Some((id, _)), true) => permissions::set_entity_rule(&txn, *id, place.instance, rule)
            .await
            .map(|()| true),
        (Some((id, _)), false) => {
            permissions::remove_entity_rule(&txn, *id, place.instance, rule).await
        }
        (None, true) => permissions::set_collection_rule(&txn, place.collection, rule)
            .await
            .map(|()| true),
        (None, false) => permissions::remove_collection_rule(&txn, place.collection, rule).await,
    }?;
    let detail = json!({
        "principal": rule.principal_name,
        "principalType": rule.principal_type.as_str(),
        "type": rule.kind.as_str(),
        "resource": rule.resource,
        "allow": rule.allow,
        "changed": changed,
    });
    let change = place.change(ctx, &service, detail);
    crate::domain::write::commit_refreshed(state, txn, &change).await
}

/// Replaces the `category` rules that entity `holder` keeps with `rules` in one transaction
/// with its audit row (`Set…PermissionsAsJSON`), after checking every rule and principal; a
/// collection's rules are changed one at a time.
pub async fn replace(
    state: &AppState,
    ctx: &Ctx,
    holder: Holder,
    category: PermissionCategory,
    rules: &[Rule],
) -> Result<(), ApiError> {
    let service = format!(
        "Set{}{}PermissionsAsJSON",
        holder.scope().word(),
        category_name(category)
    );
    let place = checked(ctx, holder, true, category, &service)?;
    let Some((id, _)) = &place.entity else {
        return Err(ApiError::BadRequest(
            "a collection's rules are changed one at a time".into(),
        ));
    };
    for rule in rules {
        rule.validate()?;
        require_principal(state, rule).await?;
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    permissions::replace_entity_rules(&txn, *id, place.instance, category, rules).await?;
    let change = place.change(ctx, &service, json!({ "rules": rules.len() }));
    crate::domain::write::commit_refreshed(state, txn, &change).await
}

/// The entities `SetEntityPermission` writes on: those of a project, and those carrying one of
/// the tags.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    /// The project whose entities are selected.
    pub project: Option<&'a str>,
    /// The tags whose entities are selected.
    pub tags: &'a [Tag],
}

/// `SetEntityPermission`: allows (or denies) `principal` every run-time permission on `*` of
/// every entity `selection` names, in one transaction with its audit row; security
/// administrators only. The number of entities written on.
pub async fn set_entity_permission(
    state: &AppState,
    ctx: &Ctx,
    (principal_type, principal): (PrincipalType, &str),
    allow: bool,
    selection: Selection<'_>,
) -> Result<usize, ApiError> {
    ctx.enforce(&SECURITY_ADMIN, None, "SetEntityPermission", &|_| None)?;
    let Selection { project, tags } = selection;
    if project.is_none() && tags.is_empty() {
        return Err(ApiError::BadRequest(
            "give 'projectName' or 'tags' to select the entities".into(),
        ));
    }
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    if !permissions::principal_exists(&txn, principal_type, principal).await? {
        return Err(ApiError::BadRequest(format!(
            "unknown principal: {principal_type} '{principal}'"
        )));
    }
    let mut ids = std::collections::BTreeSet::new();
    if let Some(project) = project {
        if entities::find_entity(&txn, Collection::Projects, project)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!("unknown project '{project}'")));
        }
        for row in entities::list_project_entities(&txn, project).await? {
            ids.insert(row.id);
        }
    }
    for tag in tags {
        ids.extend(entities::entity_ids_with_tag(&txn, tag).await?);
    }
    let kinds = PermissionKind::ALL
        .iter()
        .filter(|k| k.category() == PermissionCategory::RunTime);
    for kind in kinds {
        let rule = Rule {
            kind: *kind,
            resource: ANY_RESOURCE.into(),
            principal_type,
            principal_name: principal.to_owned(),
            allow,
        };
        for id in &ids {
            permissions::set_entity_rule(&txn, *id, false, &rule).await?;
        }
    }
    let detail = json!({
        "name": principal,
        "type": principal_type.as_str(),
        "allow": allow,
        "tags": tags.iter().map(|t| format!("{}:{}", t.vocabulary, t.term)).collect::<Vec<_>>(),
        "entities": ids.len(),
    });
    let actor = &ctx.caller.name;
    // Selected by tags alone, the change is of no one entity.
    let change = match project {
        Some(project) => Change::on(
            actor,
            "SetEntityPermission",
            Collection::Projects,
            project,
            detail,
        ),
        None => Change::by(actor, "SetEntityPermission", detail),
    };
    crate::domain::write::commit_refreshed(state, txn, &change).await?;
    Ok(ids.len())
}
