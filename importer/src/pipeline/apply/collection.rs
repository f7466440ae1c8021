//! Writes the entities of one collection: rows in batches, replaced entities, and each kind's parts
//! (definitions, values, tables, members, …).

use super::*;

/// Writes the entities of one collection: new ones in batches, existing ones replaced.
pub(super) async fn write_collection<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    group: &[Entity],
    known: &HashMap<String, i64>,
    ctx: &mut WriteContext<'_>,
    ids: &mut HashMap<(Collection, String), i64>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let existing: HashMap<String, i64> = group
        .iter()
        .filter_map(|e| known.get(&e.name).map(|id| (e.name.clone(), *id)))
        .collect();
    let existing_ids: Vec<i64> = existing.values().copied().collect();
    let existing_rows = bulk::entity_rows(db, &existing_ids).await?;
    let now = now_ms();

    // Templates must exist before the templates that derive from them, so templates whose base
    // is in the same batch go one level at a time; every other collection goes in one batch.
    let new: Vec<&Entity> = group
        .iter()
        .filter(|e| !existing.contains_key(&e.name))
        .collect();
    let mut rows: Vec<entities::Model> = Vec::with_capacity(new.len());
    for e in &new {
        let owner = ctx.owner_of_new(db, e).await?;
        rows.push(entity_row(e, 0, now, false, owner)?);
    }
    let created = bulk::insert_entities(db, collection, rows).await?;
    for (name, id) in &created {
        ids.insert((collection, name.clone()), *id);
    }
    *report.created.entry(collection).or_insert(0) += created.len();

    let mut replaced_ids = Vec::new();
    for e in group {
        if let Some(&id) = existing.get(&e.name) {
            let old = existing_rows.get(&id);
            let owner = ctx
                .owner_of_replaced(db, e, old.and_then(|o| o.owner_id))
                .await?;
            let row = entity_row(e, id, now, old.is_some_and(|o| o.is_system), owner)?;
            bulk::replace_entity_row(db, row).await?;
            ids.insert((collection, e.name.clone()), id);
            replaced_ids.push(id);
        }
    }
    *report.replaced.entry(collection).or_insert(0) += replaced_ids.len();
    bulk::delete_replaceable_parts(db, &replaced_ids).await?;

    let id_of = |e: &Entity| ids.get(&(collection, e.name.clone())).copied();
    let mut parts = Parts::default();
    for e in group {
        let Some(id) = id_of(e) else {
            continue;
        };
        let is_new = !existing.contains_key(&e.name);
        parts.add(e, id, is_new, ctx, db, report).await?;
    }
    parts.write(db).await?;
    Ok(())
}

pub(super) fn tags_text(e: &Entity) -> Result<(String, Vec<Tag>), ImportError> {
    let tags = Tag::parse_list(&e.common.tags).map_err(|err| ImportError::Invalid {
        origin: e.origin.clone(),
        entity: e.path(),
        message: err.to_string(),
    })?;
    Ok((Tag::join_list(&tags), tags))
}

/// The entity row of `e` (content holds its extras and what its kind keeps without a table),
/// owned by the principal of id `owner_id`.
pub(super) fn entity_row(
    e: &Entity,
    id: i64,
    now: i64,
    is_system: bool,
    owner_id: Option<i64>,
) -> Result<entities::Model, ImportError> {
    let (tags, _) = tags_text(e)?;
    let mut kind_fields = Map::new();
    if let Kind::Vocabulary(v) = &e.kind {
        kind_fields.insert("isDynamic".into(), Json::Bool(v.is_dynamic));
    }
    Ok(entities::Model {
        id,
        collection: e.collection.as_str().to_owned(),
        name: e.name.clone(),
        description: e.common.description.clone(),
        documentation_content: e.common.documentation_content.clone(),
        tags,
        project_name: e.common.project_name.clone(),
        owner_id,
        home_mashup: e.common.home_mashup.clone(),
        avatar: (!e.common.avatar.is_empty()).then(|| e.common.avatar.clone()),
        aspects: (!e.common.aspects.is_empty()).then(|| Json::Object(e.common.aspects.clone())),
        content: stored::content(&e.extra, kind_fields),
        is_system,
        created_at: now,
        last_modified_date: e.common.last_modified_date.unwrap_or(now),
    })
}

/// The rows of every part table for one collection's batch, written at the end in batches.
#[derive(Default)]
pub(super) struct Parts {
    pub(super) tags: Vec<entity_tags::ActiveModel>,
    pub(super) properties: Vec<property_definitions::ActiveModel>,
    pub(super) services: Vec<service_definitions::ActiveModel>,
    pub(super) events: Vec<event_definitions::ActiveModel>,
    pub(super) implementations: Vec<service_implementations::ActiveModel>,
    pub(super) subscriptions: Vec<subscriptions::ActiveModel>,
    pub(super) fields: Vec<field_definitions::ActiveModel>,
    pub(super) values: Vec<property_values::ActiveModel>,
    pub(super) tables: Vec<configuration_tables::ActiveModel>,
    pub(super) shapes: Vec<implemented_shapes::ActiveModel>,
    pub(super) things: Vec<things::ActiveModel>,
    pub(super) templates: Vec<thing_templates::ActiveModel>,
    pub(super) thing_shapes: Vec<thing_shapes::ActiveModel>,
    pub(super) data_shapes: Vec<data_shapes::ActiveModel>,
    pub(super) groups: Vec<groups::ActiveModel>,
    pub(super) extensions: Vec<user_extension_values::ActiveModel>,
    pub(super) tokens: Vec<localization_tokens::ActiveModel>,
    pub(super) terms: Vec<vocabulary_terms::ActiveModel>,
}

pub(super) fn opt_json(value: Json) -> Option<Json> {
    match &value {
        Json::Object(o) if o.is_empty() => None,
        Json::Array(a) if a.is_empty() => None,
        Json::Null => None,
        _ => Some(value),
    }
}

impl Parts {
    pub(super) async fn add<C: ConnectionTrait>(
        &mut self,
        e: &Entity,
        id: i64,
        is_new: bool,
        ctx: &WriteContext<'_>,
        db: &C,
        report: &mut Report,
    ) -> Result<(), ImportError> {
        let (_, tags) = tags_text(e)?;
        for tag in tags {
            self.tags.push(entity_tags::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                vocabulary: Set(tag.vocabulary),
                term: Set(tag.term),
            });
        }
        for table in &e.configuration_tables {
            self.table(id, table, false);
        }
        match &e.kind {
            Kind::Plain => {}
            Kind::Thing(t) => {
                self.definitions(id, &t.definitions);
                self.implemented(id, &t.implemented_shapes);
                for v in &t.values {
                    self.values.push(property_values::ActiveModel {
                        id: NotSet,
                        entity_id: Set(id),
                        name: Set(v.name.clone()),
                        base_type: Set(v.base_type.clone()),
                        value: Set(Some(v.value.clone())),
                        value_time: Set(v.time),
                        quality: Set(v.quality.clone()),
                    });
                }
                let row = things::ActiveModel {
                    entity_id: Set(id),
                    thing_template: Set(t.thing_template.clone()),
                    enabled: Set(t.enabled),
                    published: Set(t.published),
                    identifier: Set(t.identifier.clone()),
                    value_stream: Set(t.value_stream.clone()),
                    inherited_value_stream: Set(t.inherited_value_stream.clone()),
                    thing_package: Set(t.thing_package.clone()),
                    effective_thing_package: Set(t.effective_thing_package.clone()),
                };
                if is_new {
                    self.things.push(row);
                } else {
                    bulk::upsert_row(db, row, id).await?;
                }
            }
            Kind::ThingTemplate(t) => {
                self.definitions(id, &t.definitions);
                self.implemented(id, &t.implemented_shapes);
                for table in &t.shared_configuration_tables {
                    self.table(id, table, true);
                }
                let row = thing_templates::ActiveModel {
                    entity_id: Set(id),
                    base_thing_template: Set(t.base_thing_template.clone()),
                    thing_package: Set(t.thing_package.clone()),
                    effective_thing_package: Set(t.effective_thing_package.clone()),
                    value_stream: Set(t.value_stream.clone()),
                };
                // Templates are written at once: a derived template's base row must exist only
                // as an entity, which it does (the entity rows of the batch are inserted first).
                if is_new {
                    self.templates.push(row);
                } else {
                    bulk::upsert_row(db, row, id).await?;
                }
            }
            Kind::ThingShape(s) => {
                self.definitions(id, &s.definitions);
                let row = thing_shapes::ActiveModel {
                    entity_id: Set(id),
                    class_name: Set(s.class_name.clone()),
                };
                if is_new {
                    self.thing_shapes.push(row);
                } else {
                    bulk::upsert_row(db, row, id).await?;
                }
            }
            Kind::DataShape(d) => {
                for f in &d.fields {
                    self.fields.push(field_definitions::ActiveModel {
                        id: NotSet,
                        entity_id: Set(id),
                        name: Set(f.name.clone()),
                        base_type: Set(f.base_type.clone()),
                        description: Set(f.description.clone()),
                        ordinal: Set(f.ordinal),
                        aspects: Set(opt_json(Json::Object(f.aspects.clone()))),
                    });
                }
                let row = data_shapes::ActiveModel {
                    entity_id: Set(id),
                    base_data_shape: Set(d.base_data_shape.clone()),
                };
                if is_new {
                    self.data_shapes.push(row);
                } else {
                    bulk::upsert_row(db, row, id).await?;
                }
            }
            Kind::User(u) => {
                ironworx_entity::queries::users::delete_extension_values(db, id).await?;
                for x in &u.extensions {
                    self.extensions.push(user_extension_values::ActiveModel {
                        id: NotSet,
                        user_id: Set(id),
                        name: Set(x.name.clone()),
                        value: Set(x.value.clone()),
                        last_update_time: Set(x.last_update_time),
                    });
                }
                write_user(db, e, u, id, is_new, ctx.caller, report).await?;
            }
            Kind::Group(g) => {
                let row = groups::ActiveModel {
                    entity_id: Set(id),
                    scim_display_name: Set(g.scim_display_name.clone()),
                    scim_id: Set(g.scim_id.clone()),
                    scim_external_id: Set(g.scim_external_id.clone()),
                };
                if is_new {
                    self.groups.push(row);
                } else {
                    bulk::upsert_row(db, row, id).await?;
                }
            }
            Kind::Organization(o) => write_organization(db, e, o, id).await?,
            Kind::ApplicationKey(k) => {
                write_app_key(db, e, k, id, ctx, report).await?;
            }
            Kind::LocalizationTable(t) => {
                // Tokens are merged, never deleted: a token of the import replaces its namesake.
                let known = ironworx_entity::queries::localization::token_ids(db, id).await?;
                for token in &t.tokens {
                    let row = localization_tokens::ActiveModel {
                        id: NotSet,
                        entity_id: Set(id),
                        name: Set(token.name.clone()),
                        value: Set(token.value.clone()),
                        description: Set(token.description.clone()),
                        context: Set(token.context.clone()),
                    };
                    match known.get(&token.name) {
                        Some(&token_id) => {
                            let mut row = row;
                            row.id = Unchanged(token_id);
                            bulk::save_row(db, row, true).await?;
                        }
                        None => self.tokens.push(row),
                    }
                }
            }
            Kind::Vocabulary(v) => {
                bulk::delete_vocabulary_terms(db, id).await?;
                for term in &v.terms {
                    self.terms.push(vocabulary_terms::ActiveModel {
                        id: NotSet,
                        entity_id: Set(id),
                        name: Set(term.name.clone()),
                        description: Set(term.description.clone()),
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) fn table(&mut self, id: i64, t: &crate::model::ConfigurationTable, shared: bool) {
        self.tables.push(configuration_tables::ActiveModel {
            id: NotSet,
            entity_id: Set(id),
            name: Set(t.name.clone()),
            is_shared: Set(shared),
            description: Set(t.description.clone()),
            is_multi_row: Set(t.is_multi_row),
            ordinal: Set(t.ordinal),
            data_shape_name: Set(t.data_shape_name.clone()),
            is_hidden: Set(t.is_hidden),
            field_definitions: Set(Some(stored::fields_to_json(&t.fields))),
            rows: Set(Some(Json::Array(
                t.rows.iter().cloned().map(Json::Object).collect(),
            ))),
        });
    }

    pub(super) fn implemented(&mut self, id: i64, shapes: &[String]) {
        for (ordinal, shape) in (0..).zip(shapes) {
            self.shapes.push(implemented_shapes::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                shape_name: Set(shape.clone()),
                ordinal: Set(ordinal),
            });
        }
    }

    pub(super) fn definitions(&mut self, id: i64, d: &Definitions) {
        for p in &d.properties {
            self.properties.push(property_definitions::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                name: Set(p.name.clone()),
                base_type: Set(p.base_type.clone()),
                description: Set(p.description.clone()),
                category: Set(p.category.clone()),
                ordinal: Set(p.ordinal),
                is_local_only: Set(p.is_local_only),
                aspects: Set(opt_json(Json::Object(p.aspects.clone()))),
            });
        }
        for s in &d.services {
            self.services.push(service_definitions::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                name: Set(s.name.clone()),
                description: Set(s.description.clone()),
                category: Set(s.category.clone()),
                is_allow_override: Set(s.is_allow_override),
                is_local_only: Set(s.is_local_only),
                is_open: Set(s.is_open),
                is_private: Set(s.is_private),
                aspects: Set(opt_json(Json::Object(s.aspects.clone()))),
                result_type: Set(s.result_type.as_ref().map(stored::field_to_json)),
                parameters: Set(Some(stored::fields_to_json(&s.parameters))),
            });
        }
        for ev in &d.events {
            self.events.push(event_definitions::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                name: Set(ev.name.clone()),
                description: Set(ev.description.clone()),
                category: Set(ev.category.clone()),
                data_shape: Set(ev.data_shape.clone()),
                is_local_only: Set(ev.is_local_only),
                aspects: Set(opt_json(Json::Object(ev.aspects.clone()))),
            });
        }
        for i in &d.implementations {
            self.implementations
                .push(service_implementations::ActiveModel {
                    id: NotSet,
                    entity_id: Set(id),
                    name: Set(i.name.clone()),
                    description: Set(i.description.clone()),
                    handler_name: Set(i.handler_name.clone()),
                    configuration: Set(Some(stored::tables_to_json(&i.configuration))),
                });
        }
        for s in &d.subscriptions {
            self.subscriptions.push(subscriptions::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                name: Set(s.name.clone()),
                description: Set(s.description.clone()),
                enabled: Set(s.enabled),
                event_name: Set(s.event_name.clone()),
                source: Set(s.source.clone()),
                source_property: Set(s.source_property.clone()),
                source_type: Set(s.source_type.clone()),
                handler_name: Set(s.handler_name.clone()),
                configuration: Set(Some(stored::tables_to_json(&s.configuration))),
            });
        }
    }

    pub(super) async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), ImportError> {
        insert_all(db, self.things).await?;
        insert_all(db, self.templates).await?;
        insert_all(db, self.thing_shapes).await?;
        insert_all(db, self.data_shapes).await?;
        insert_all(db, self.groups).await?;
        insert_all(db, self.tags).await?;
        insert_all(db, self.properties).await?;
        insert_all(db, self.services).await?;
        insert_all(db, self.events).await?;
        insert_all(db, self.implementations).await?;
        insert_all(db, self.subscriptions).await?;
        insert_all(db, self.fields).await?;
        insert_all(db, self.values).await?;
        insert_all(db, self.tables).await?;
        insert_all(db, self.shapes).await?;
        insert_all(db, self.extensions).await?;
        insert_all(db, self.tokens).await?;
        insert_all(db, self.terms).await?;
        Ok(())
    }
}

pub(super) async fn write_organization<C: ConnectionTrait>(
    db: &C,
    e: &Entity,
    o: &crate::model::Organization,
    id: i64,
) -> Result<(), ImportError> {
    let row = organizations::ActiveModel {
        entity_id: Set(id),
        login_prompt: Set(o.login_prompt.clone()),
        login_image: Set(o.login_image.clone()),
        login_style: Set(o.login_style.clone()),
        login_button_style: Set(o.login_button_style.clone()),
        login_reset_password: Set(o.login_reset_password),
        mobile_mashup: Set(o.mobile_mashup.clone()),
        reset_mail_content: Set(o.reset_mail_content.clone()),
        reset_mail_server: Set(o.reset_mail_server.clone()),
        reset_mail_subject: Set(o.reset_mail_subject.clone()),
    };
    bulk::upsert_row(db, row, id).await?;

    // Units: added or updated, never removed (their members and rules would go with them).
    let mut units: HashMap<String, organizational_units::Model> =
        ironworx_entity::queries::organizations::unit_rows(db, Some(id))
            .await?
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
    let mut wanted = o.units.clone();
    if !wanted.iter().any(|u| u.name == e.name) {
        wanted.insert(
            0,
            crate::model::Unit {
                name: e.name.clone(),
                ..crate::model::Unit::default()
            },
        );
    }
    // Parents before children.
    let mut pending = wanted;
    while !pending.is_empty() {
        let before = pending.len();
        let mut next = Vec::new();
        for unit in pending {
            let parent_id = match &unit.parent {
                None => None,
                Some(p) => match units.get(p) {
                    Some(parent) => Some(parent.id),
                    None => {
                        next.push(unit);
                        continue;
                    }
                },
            };
            let parent_id = if unit.name == e.name { None } else { parent_id };
            let model = match units.get(&unit.name) {
                Some(existing) => {
                    let row = organizational_units::ActiveModel {
                        id: Unchanged(existing.id),
                        description: Set(unit.description.clone()),
                        parent_id: Set(parent_id),
                        ..Default::default()
                    };
                    bulk::save_row(db, row, true).await?
                }
                None => {
                    let row = organizational_units::ActiveModel {
                        id: NotSet,
                        organization_id: Set(id),
                        name: Set(unit.name.clone()),
                        description: Set(unit.description.clone()),
                        parent_id: Set(parent_id),
                    };
                    bulk::save_row(db, row, false).await?
                }
            };
            units.insert(model.name.clone(), model);
        }
        if next.len() == before {
            return Err(ImportError::Invalid {
                origin: e.origin.clone(),
                entity: e.path(),
                message: format!(
                    "the unit tree of '{}' loops or hangs below a missing unit ('{}')",
                    e.name, next[0].name
                ),
            });
        }
        pending = next;
    }
    Ok(())
}
