//! The Cedar encoding of the same model and rules, and the policy that decides as ours does.

use super::*;

/// The Cedar side: entities, policies and the pre-parsed names a request needs.
pub(super) struct CedarSide {
    pub(super) authorizer: Authorizer,
    pub(super) policies: PolicySet,
    pub(super) entities: Entities,
    pub(super) user_type: EntityTypeName,
    pub(super) thing_type: EntityTypeName,
    pub(super) actions: Vec<(PermissionKind, EntityUid)>,
    pub(super) policy_text: String,
}

pub(super) struct Types {
    pub(super) user: EntityTypeName,
    pub(super) group: EntityTypeName,
    pub(super) organization: EntityTypeName,
    pub(super) unit: EntityTypeName,
    pub(super) thing: EntityTypeName,
    pub(super) template: EntityTypeName,
    pub(super) shape: EntityTypeName,
    pub(super) collection: EntityTypeName,
    pub(super) action: EntityTypeName,
}

impl Types {
    pub(super) fn new() -> Types {
        let t = |name: &str| EntityTypeName::from_str(name).expect("a valid Cedar type name");
        Types {
            user: t("User"),
            group: t("Group"),
            organization: t("Organization"),
            unit: t("Unit"),
            thing: t("Thing"),
            template: t("ThingTemplate"),
            shape: t("ThingShape"),
            collection: t("Collection"),
            action: t("Action"),
        }
    }

    pub(super) fn principal(&self, principal_type: PrincipalType, name: &str) -> EntityUid {
        let ty = match principal_type {
            PrincipalType::User => &self.user,
            PrincipalType::Group => &self.group,
            PrincipalType::Organization => &self.organization,
            PrincipalType::OrganizationalUnit => &self.unit,
        };
        uid(ty, name)
    }
}

pub(super) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// The rules of one source, by tag key `Kind:resource`: (principal, allow) with the last rule
/// for a principal winning, as in the index.
pub(super) type Cells = HashMap<String, Vec<(EntityUid, bool)>>;

pub(super) fn add_cell(cells: &mut Cells, types: &Types, rule: &Rule) {
    let key = format!("{}:{}", rule.kind, rule.resource);
    let principal = types.principal(rule.principal_type, &rule.principal_name);
    let cell = cells.entry(key).or_default();
    match cell.iter_mut().find(|(p, _)| *p == principal) {
        Some(existing) => existing.1 = rule.allow,
        None => cell.push((principal, rule.allow)),
    }
}

/// Tags `Kind:resource` -> `{ names: [every principal of the row], denies: [those denying] }`.
pub(super) fn tags(cells: Cells) -> Vec<(String, RestrictedExpression)> {
    cells
        .into_iter()
        .map(|(key, cell)| {
            let names = RestrictedExpression::new_set(
                cell.iter()
                    .map(|(p, _)| RestrictedExpression::new_entity_uid(p.clone())),
            );
            let denies = RestrictedExpression::new_set(
                cell.iter()
                    .filter(|(_, allow)| !allow)
                    .map(|(p, _)| RestrictedExpression::new_entity_uid(p.clone())),
            );
            let value = RestrictedExpression::new_record([
                ("names".to_owned(), names),
                ("denies".to_owned(), denies),
            ])
            .expect("distinct record keys");
            (key, value)
        })
        .collect()
}

/// One level row of the policy: `(guard && SRC.hasTag(KEY) && principal in SRC.getTag(KEY).names,
/// !(principal in SRC.getTag(KEY).denies))`.
pub(super) fn row(source: &str, guard: Option<&str>, key: &str) -> (String, String) {
    let guard = guard.map(|g| format!("{g} && ")).unwrap_or_default();
    (
        format!("{guard}{source}.hasTag({key}) && principal in {source}.getTag({key}).names"),
        format!("!(principal in {source}.getTag({key}).denies)"),
    )
}

/// `if c1 then d1 else if c2 then d2 ... else false`: the first row that names one of the
/// principal's ancestors decides, and a deny in it beats an allow.
pub(super) fn first_row_decides(rows: &[(String, String)]) -> String {
    let mut text = String::from("false");
    for (cond, then) in rows.iter().rev() {
        text = format!("(if {cond} then {then} else {text})");
    }
    text
}

/// The policy set for Things with template chains of up to `max_templates` and up to
/// `max_shapes` shapes.
pub(super) fn policy_text(max_templates: usize, max_shapes: usize) -> String {
    let collection = "Collection::\"Things\"";
    let mut sources: Vec<(String, Option<String>)> = vec![("resource".into(), None)];
    let mut visibility_sources = sources.clone();
    for t in 0..max_templates {
        let s = (format!("resource.t{t}"), Some(format!("resource has t{t}")));
        sources.push(s.clone());
        visibility_sources.push(s);
    }
    for s in 0..max_shapes {
        sources.push((format!("resource.s{s}"), Some(format!("resource has s{s}"))));
    }
    sources.push((collection.into(), None));
    visibility_sources.push((collection.into(), None));
    let mut permission_rows = Vec::new();
    for (source, guard) in &sources {
        for key in ["context.row", "context.star"] {
            permission_rows.push(row(source, guard.as_deref(), key));
        }
    }
    let visibility_rows: Vec<(String, String)> = visibility_sources
        .iter()
        .map(|(source, guard)| row(source, guard.as_deref(), "\"Visibility:*\""))
        .collect();
    format!(
        r#"@id("administrators")
permit (principal in Group::"{admins}", action, resource);

@id("owner")
permit (principal, action, resource is Thing)
when {{ resource has owner && resource.owner == principal }};

@id("acl")
permit (principal, action, resource is Thing)
when {{
  {visible}
  &&
  {permitted}
}};
"#,
        admins = builtin::ADMINISTRATORS,
        visible = first_row_decides(&visibility_rows),
        permitted = first_row_decides(&permission_rows),
    )
}

/// Encodes the facts for Cedar. Principals: users and groups with their groups and units as
/// parents; units have their organization and their child units as parents (a grant to a unit
/// below one's own unit reaches the user). Things carry their template chain (`t0..`), their
/// shapes (`s0..`) and owner as attributes and their own rules as tags; templates and shapes
/// carry their instance rules as tags; the Things collection is one entity with its rules.
pub(super) fn build_cedar(facts: &Facts) -> CedarSide {
    let types = Types::new();
    let by_id: HashMap<i64, &EntityFact> = facts.entities.iter().map(|e| (e.id, e)).collect();
    let named = |collection: Collection| -> HashMap<&str, &EntityFact> {
        facts
            .entities
            .iter()
            .filter(|e| e.collection == collection)
            .map(|e| (e.name.as_str(), e))
            .collect()
    };
    let templates = named(Collection::ThingTemplates);
    let shapes = named(Collection::ThingShapes);
    let users = named(Collection::Users);

    let mut parents: HashMap<i64, Vec<EntityUid>> = HashMap::new();
    for (group, member) in &facts.memberships {
        if let Some(g) = by_id
            .get(group)
            .filter(|g| g.collection == Collection::Groups)
        {
            parents
                .entry(*member)
                .or_default()
                .push(uid(&types.group, &g.name));
        }
    }
    let unit_uid = |u: &UnitFact| -> Option<EntityUid> {
        let org = by_id.get(&u.organization)?;
        Some(uid(&types.unit, &unit_principal_name(&org.name, &u.name)))
    };
    let units_by_id: HashMap<i64, &UnitFact> = facts.units.iter().map(|u| (u.id, u)).collect();
    let mut unit_parents: HashMap<i64, Vec<EntityUid>> = HashMap::new();
    for u in &facts.units {
        let Some(org) = by_id.get(&u.organization) else {
            continue;
        };
        unit_parents
            .entry(u.id)
            .or_default()
            .push(uid(&types.organization, &org.name));
        if let (Some(p), Some(me)) = (u.parent, unit_uid(u)) {
            unit_parents.entry(p).or_default().push(me);
        }
    }
    for (unit, member) in &facts.unit_members {
        if let Some(u) = units_by_id.get(unit).and_then(|u| unit_uid(u)) {
            parents.entry(*member).or_default().push(u);
        }
    }

    let mut own: HashMap<i64, Cells> = HashMap::new();
    let mut instance: HashMap<i64, Cells> = HashMap::new();
    for (entity, is_instance, rule) in &facts.entity_rules {
        let target = if *is_instance {
            &mut instance
        } else {
            &mut own
        };
        add_cell(target.entry(*entity).or_default(), &types, rule);
    }
    let mut collection_cells = Cells::new();
    for (c, rule) in &facts.collection_rules {
        if *c == Collection::Things {
            add_cell(&mut collection_cells, &types, rule);
        }
    }

    let mut entities: Vec<Entity> = Vec::with_capacity(facts.entities.len() + facts.units.len());
    let mut max_templates = 0;
    let mut max_shapes = 0;
    for e in &facts.entities {
        let parents = parents.remove(&e.id).unwrap_or_default();
        let entity = match e.collection {
            Collection::Users => {
                Entity::new_no_attrs(uid(&types.user, &e.name), parents.into_iter().collect())
            }
            Collection::Groups => {
                Entity::new_no_attrs(uid(&types.group, &e.name), parents.into_iter().collect())
            }
            Collection::Organizations => {
                Entity::new_no_attrs(uid(&types.organization, &e.name), HashSet::new())
            }
            Collection::ThingTemplates => Entity::new_with_tags(
                uid(&types.template, &e.name),
                [],
                [],
                tags(instance.remove(&e.id).unwrap_or_default()),
            )
            .expect("a template entity"),
            Collection::ThingShapes => Entity::new_with_tags(
                uid(&types.shape, &e.name),
                [],
                [],
                tags(instance.remove(&e.id).unwrap_or_default()),
            )
            .expect("a shape entity"),
            Collection::Things => {
                // The template chain, nearest first, and the shapes: the Thing's own, then its
                // templates', without repeats.
                let mut chain: Vec<&EntityFact> = Vec::new();
                let mut current = templates.get(e.template.as_str()).copied();
                while let Some(t) = current {
                    if chain.iter().any(|c| c.id == t.id) {
                        break;
                    }
                    chain.push(t);
                    current = if t.template.is_empty() {
                        None
                    } else {
                        templates.get(t.template.as_str()).copied()
                    };
                }
                let mut thing_shapes: Vec<&str> = Vec::new();
                for s in e.shapes.iter().chain(chain.iter().flat_map(|t| &t.shapes)) {
                    if shapes.contains_key(s.as_str()) && !thing_shapes.contains(&s.as_str()) {
                        thing_shapes.push(s);
                    }
                }
                max_templates = max_templates.max(chain.len());
                max_shapes = max_shapes.max(thing_shapes.len());
                let mut attrs: Vec<(String, RestrictedExpression)> = Vec::new();
                if let Some(owner) = e
                    .owner
                    .and_then(|o| by_id.get(&o))
                    .filter(|o| {
                        o.collection == Collection::Users && users.contains_key(o.name.as_str())
                    })
                    .map(|o| o.name.as_str())
                {
                    attrs.push((
                        "owner".into(),
                        RestrictedExpression::new_entity_uid(uid(&types.user, owner)),
                    ));
                }
                for (i, t) in chain.iter().enumerate() {
                    attrs.push((
                        format!("t{i}"),
                        RestrictedExpression::new_entity_uid(uid(&types.template, &t.name)),
                    ));
                }
                for (i, s) in thing_shapes.iter().enumerate() {
                    attrs.push((
                        format!("s{i}"),
                        RestrictedExpression::new_entity_uid(uid(&types.shape, s)),
                    ));
                }
                Entity::new_with_tags(
                    uid(&types.thing, &e.name),
                    attrs,
                    [],
                    tags(own.remove(&e.id).unwrap_or_default()),
                )
                .expect("a Thing entity")
            }
            _ => continue,
        };
        entities.push(entity);
    }
    for u in &facts.units {
        if let Some(me) = unit_uid(u) {
            let parents = unit_parents.remove(&u.id).unwrap_or_default();
            entities.push(Entity::new_no_attrs(me, parents.into_iter().collect()));
        }
    }
    entities.push(
        Entity::new_with_tags(
            uid(&types.collection, Collection::Things.as_str()),
            [],
            [],
            tags(collection_cells),
        )
        .expect("the Things collection entity"),
    );
    let entities = Entities::from_entities(entities, None).expect("a consistent entity set");
    let text = policy_text(max_templates, max_shapes);
    let policies = PolicySet::from_str(&text).expect("the policy set parses");
    CedarSide {
        authorizer: Authorizer::new(),
        policies,
        entities,
        user_type: types.user.clone(),
        thing_type: types.thing.clone(),
        actions: PermissionKind::RUN_TIME
            .iter()
            .map(|k| (*k, uid(&types.action, k.as_str())))
            .collect(),
        policy_text: text,
    }
}

impl CedarSide {
    /// The Cedar request from names: principal, action, resource, and the two row keys
    /// (`Kind:resource` and `Kind:*`) in the context.
    pub(super) fn request(
        &self,
        user: &str,
        thing: &str,
        kind: PermissionKind,
        resource: &str,
    ) -> CedarRequest {
        let action = self
            .actions
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| a.clone())
            .expect("a run-time action");
        let context = Context::from_pairs([
            (
                "row".to_owned(),
                RestrictedExpression::new_string(format!("{kind}:{resource}")),
            ),
            (
                "star".to_owned(),
                RestrictedExpression::new_string(format!("{kind}:{ANY_RESOURCE}")),
            ),
        ])
        .expect("a valid context");
        CedarRequest::new(
            uid(&self.user_type, user),
            action,
            uid(&self.thing_type, thing),
            context,
            None,
        )
        .expect("a valid request")
    }

    /// Asks the authorizer: (allowed, evaluation errors).
    pub(super) fn authorize(&self, request: &CedarRequest) -> (bool, usize) {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, &self.entities);
        (
            response.decision() == Decision::Allow,
            response.diagnostics().errors().count(),
        )
    }

    /// The Cedar check from names: the request, then the authorizer.
    pub(super) fn check(
        &self,
        user: &str,
        thing: &str,
        kind: PermissionKind,
        resource: &str,
    ) -> (bool, usize) {
        self.authorize(&self.request(user, thing, kind, resource))
    }
}
