//! Permission blocks: entity rules, instance rules and the collection-permission files.

use super::*;

// ------------------------------------------------------------------------------------------
// Permissions.
// ------------------------------------------------------------------------------------------

pub(super) fn principal_rule(
    ctx: &Ctx<'_>,
    principal: Node<'_>,
    kind: PermissionKind,
    resource: &str,
) -> Result<Rule, ImportError> {
    let allow = match principal.attr("isPermitted").map(str::trim) {
        Some("true") => true,
        Some("false") => false,
        other => {
            return Err(ctx.invalid(
                principal,
                format!(
                    "<Principal> under <{kind}> has isPermitted={:?}; expected true or false",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    let type_text = principal.attr_str("type");
    let principal_type = type_text
        .parse::<PrincipalType>()
        .map_err(|e| ctx.invalid(principal, format!("<Principal> under <{kind}>: {e}")))?;
    let name = principal.attr_str("name");
    if name.is_empty() {
        return Err(ctx.invalid(principal, format!("<Principal> under <{kind}> has no name")));
    }
    Ok(Rule {
        kind,
        resource: resource.to_owned(),
        principal_type,
        principal_name: name.to_owned(),
        allow,
    })
}

/// Appends the principals of one permission list element (`<Create>`, `<PropertyRead>`, …).
pub(super) fn read_principals(
    ctx: &mut Ctx<'_>,
    list: Node<'_>,
    kind: PermissionKind,
    resource: &str,
    out: &mut Vec<Rule>,
) -> Result<(), ImportError> {
    for principal in list.children() {
        if principal.name() == "Principal" {
            out.push(principal_rule(ctx, principal, kind, resource)?);
        } else {
            ctx.unplaced_child(list.name(), principal.name());
        }
    }
    Ok(())
}

pub(super) fn permission_kind(
    ctx: &Ctx<'_>,
    node: Node<'_>,
    block: &str,
    category: PermissionCategory,
) -> Result<PermissionKind, ImportError> {
    match node.name().parse::<PermissionKind>() {
        Ok(kind) if kind.category() == category => Ok(kind),
        _ => Err(ctx.invalid(
            node,
            format!("unknown permission <{}> in <{block}>", node.name()),
        )),
    }
}

/// Reads a permission block of `category` into `out`.
pub(super) fn read_block(
    ctx: &mut Ctx<'_>,
    block: Node<'_>,
    category: PermissionCategory,
    out: &mut Vec<Rule>,
) -> Result<(), ImportError> {
    let block_name = block.name();
    match category {
        PermissionCategory::DesignTime => {
            for list in block.children() {
                let kind = permission_kind(ctx, list, block_name, category)?;
                read_principals(ctx, list, kind, ANY_RESOURCE, out)?;
            }
        }
        PermissionCategory::RunTime => {
            for permissions in block.children() {
                if permissions.name() != "Permissions" {
                    return Err(ctx.invalid(
                        permissions,
                        format!(
                            "unexpected <{}> in <{block_name}>; expected <Permissions resourceName=\"…\">",
                            permissions.name()
                        ),
                    ));
                }
                let resource = match permissions.attr("resourceName") {
                    Some(r) if !r.is_empty() => r,
                    _ => ANY_RESOURCE,
                };
                for list in permissions.children() {
                    let kind = permission_kind(ctx, list, block_name, category)?;
                    read_principals(ctx, list, kind, resource, out)?;
                }
            }
        }
        PermissionCategory::Visibility => {
            for list in block.children() {
                let kind = permission_kind(ctx, list, block_name, category)?;
                read_principals(ctx, list, kind, ANY_RESOURCE, out)?;
            }
        }
    }
    Ok(())
}

/// The permission block an element name stands for: (category, instance).
pub(super) fn block_of(name: &str) -> Option<(PermissionCategory, bool)> {
    Some(match name {
        "DesignTimePermissions" => (PermissionCategory::DesignTime, false),
        "RunTimePermissions" => (PermissionCategory::RunTime, false),
        "VisibilityPermissions" => (PermissionCategory::Visibility, false),
        "InstanceDesignTimePermissions" | "DesignTimeInstancePermissions" => {
            (PermissionCategory::DesignTime, true)
        }
        "InstanceRunTimePermissions" | "RunTimeInstancePermissions" => {
            (PermissionCategory::RunTime, true)
        }
        "InstanceVisibilityPermissions" | "VisibilityInstancePermissions" => {
            (PermissionCategory::Visibility, true)
        }
        _ => return None,
    })
}

pub(super) fn push_entity_rules(out: &mut Vec<EntityRule>, rules: Vec<Rule>, instance: bool) {
    out.extend(rules.into_iter().map(|rule| EntityRule { instance, rule }));
}

/// One collection of a `<Collections>` document.
pub(super) fn convert_collection_permissions(
    node: Node<'_>,
    file: &str,
    export: &mut Export,
) -> Result<(), ImportError> {
    let Ok(collection) = node.name().parse::<Collection>() else {
        export.notes.push(Note {
            origin: Origin {
                file: file.to_owned(),
                line: Some(node.line()),
            },
            entity: None,
            message: format!(
                "unknown collection <{}> in the permission file skipped",
                node.name()
            ),
        });
        return Ok(());
    };
    let mut ctx = Ctx::new(
        file,
        Label::Text(collection.to_string()),
        node.line(),
        &mut export.notes,
    );
    let mut rules = Vec::new();
    let mut listed = Vec::new();
    for child in node.children() {
        match block_of(child.name()) {
            Some((category, false)) => read_block(&mut ctx, child, category, &mut rules)?,
            _ if child.name() == "Entities" => {
                for record in child.children() {
                    if record.name() != "Entity" {
                        ctx.unplaced_child("Entities", record.name());
                        continue;
                    }
                    if let Some(l) = listed_record(&mut ctx, record, collection)? {
                        listed.push(l);
                    }
                }
            }
            _ => ctx.unplaced_child(node.name(), child.name()),
        }
    }
    drop(ctx);
    export.collection_rules.extend(
        rules
            .into_iter()
            .map(|rule| CollectionRule { collection, rule }),
    );
    export.listed_rules.extend(listed);
    Ok(())
}

/// One `<Entity name type>` record of a permission file.
pub(super) fn listed_record(
    ctx: &mut Ctx<'_>,
    record: Node<'_>,
    enclosing: Collection,
) -> Result<Option<ListedRules>, ImportError> {
    let name = record.attr_str("name");
    let type_name = record.attr_str("type");
    let collection = if type_name.is_empty() {
        enclosing
    } else {
        match Collection::from_element_name(type_name) {
            Some(c) => c,
            None => {
                ctx.note(format!(
                    "permission record for '{name}' has unknown type '{type_name}'; read as part of {enclosing}"
                ));
                enclosing
            }
        }
    };
    if name.is_empty() {
        return Err(ctx.invalid(record, "an <Entity> record without a name".into()));
    }
    let saved = std::mem::replace(&mut ctx.entity, Label::Text(format!("{collection}/{name}")));
    let mut rules = Vec::new();
    for block in record.children() {
        match block_of(block.name()) {
            Some((category, instance)) => {
                let mut plain = Vec::new();
                read_block(ctx, block, category, &mut plain)?;
                push_entity_rules(&mut rules, plain, instance);
            }
            None => ctx.unplaced_child("Entity", block.name()),
        }
    }
    ctx.entity = saved;
    Ok(Some(ListedRules {
        collection,
        name: name.to_owned(),
        rules,
        origin: ctx.origin(record.line()),
    }))
}
