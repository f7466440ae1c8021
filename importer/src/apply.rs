//! The apply step: writes a [`Plan`] in one transaction with batched inserts. A failure rolls
//! everything back, so the database is exactly as it was. An entity that exists already is
//! replaced (its row keeps its id, so rules and memberships naming it stay); memberships and
//! localization tokens are only ever added, as ThingWorx does. A two-pass import hands the
//! Things over as a [`ThingStream`], written in their place in the same transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::bulk::{self, insert_all};
use ironworx_entity::queries::groups::all_memberships;
use ironworx_entity::queries::now_ms;
use ironworx_entity::schema::{
    collection_permissions, configuration_tables, data_shapes, entities, entity_permissions,
    entity_tags, event_definitions, field_definitions, group_members, groups, implemented_shapes,
    localization_tokens, organizational_unit_members, organizational_units, organizations,
    property_definitions, property_values, service_definitions, service_implementations,
    subscriptions, thing_shapes, thing_templates, things, user_extension_values, vocabulary_terms,
};
use ironworx_entity::vocab::{Collection, MemberType, PrincipalType, Tag};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ActiveValue::Unchanged, ColumnTrait,
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Map, Value as Json, json};

use crate::caller::Caller;
use crate::error::ImportError;

mod trusted;

use crate::model::{Definitions, Entity, EntityRule, Kind};
use crate::plan::{Dropped, Membership, Plan, PlannedThing};
use crate::stored;
use trusted::{WriteContext, write_app_key, write_user};

/// How application-key secrets are stored: the server hashes and seals them.
pub trait KeySecrets: Sync {
    /// The stored hash of a key id.
    fn hash(&self, key_id: &str) -> String;
    /// The key id sealed for `GetKeyID`, when sealing is available.
    fn seal(&self, key_id: &str) -> Option<String>;
    /// The key id from its sealed form (for exports that keep secrets).
    fn open(&self, sealed: &str) -> Option<String>;
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Entities created, per collection.
    pub created: BTreeMap<Collection, usize>,
    /// Entities replaced (they existed), per collection.
    pub replaced: BTreeMap<Collection, usize>,
    /// Entity rules written (own rules).
    pub entity_rules: usize,
    /// Instance rules written.
    pub instance_rules: usize,
    /// Collection rules written (storage mode).
    pub collection_rules: usize,
    /// Collection-level rules ignored (file mode).
    pub ignored_collection_rules: usize,
    /// Memberships added.
    pub memberships: usize,
    /// Principals named but defined nowhere; their rules and memberships were dropped.
    pub dropped: Vec<Dropped>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The change sequence value of the import's commit.
    pub change_sequence: i64,
}

impl Report {
    /// Entities written (created or replaced), all collections.
    pub fn entities(&self) -> usize {
        self.created.values().sum::<usize>() + self.replaced.values().sum::<usize>()
    }
}

/// Entities written per round of batched statements.
pub(crate) const ENTITY_CHUNK: usize = 1_000;
/// Rule rows collected before they are written.
const ROW_CHUNK: usize = 10_000;

fn db_err(err: impl std::fmt::Display) -> ImportError {
    ImportError::Db(err.to_string())
}

/// Applies `plan` in one transaction, writing what `caller` may set (its name is recorded in
/// the audit log).
pub async fn apply(
    db: &DatabaseConnection,
    plan: Plan,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let txn = db.begin().await.map_err(db_err)?;
    let report = apply_in(&txn, plan, secrets, caller).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(report)
}

/// The Things of a two-pass import, planned as its second pass reads them.
pub struct ThingStream {
    /// The name of every Thing to come (looked up once, before anything is written).
    pub names: Vec<String>,
    /// The planned Things, in chunks; an error ends the import.
    pub chunks: tokio::sync::mpsc::Receiver<Result<Vec<PlannedThing>, ImportError>>,
}

/// Applies `plan` and the Things of `stream` (at `plan.streamed_at`) in one transaction.
pub async fn apply_streamed(
    db: &DatabaseConnection,
    plan: Plan,
    stream: ThingStream,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let txn = db.begin().await.map_err(db_err)?;
    let report = apply_with(&txn, plan, Some(stream), secrets, caller).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(report)
}

/// Applies `plan` inside a transaction the caller owns (and commits).
pub async fn apply_in<C: ConnectionTrait>(
    db: &C,
    plan: Plan,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    apply_with(db, plan, None, secrets, caller).await
}

async fn apply_with<C: ConnectionTrait>(
    db: &C,
    plan: Plan,
    stream: Option<ThingStream>,
    secrets: &dyn KeySecrets,
    caller: &Caller<'_>,
) -> Result<Report, ImportError> {
    let mut report = Report {
        dropped: plan.dropped.clone(),
        warnings: plan.warnings.clone(),
        ignored_collection_rules: plan.ignored_collection_rules,
        ..Report::default()
    };
    let mut ids: HashMap<(Collection, String), i64> = HashMap::new();
    let mut vocabularies = Vocabularies::default();

    // Entities in plan order, in chunks of one collection each (templates are ordered inside
    // theirs), so that the rows being built stay bounded however large the import.
    let Plan {
        entities,
        rules,
        memberships,
        collection_rules,
        streamed_at,
        ..
    } = plan;
    // Which entities exist already, looked up once per collection before anything is written
    // (lookups against tables growing inside the transaction get slower with every chunk).
    let mut names: BTreeMap<Collection, Vec<String>> = BTreeMap::new();
    for e in &entities {
        names.entry(e.collection).or_default().push(e.name.clone());
    }
    let mut stream = stream;
    let mut expected_things = 0;
    if let Some(stream) = &mut stream {
        expected_things = stream.names.len();
        names
            .entry(Collection::Things)
            .or_default()
            .append(&mut stream.names);
    }
    let mut existing: HashMap<Collection, HashMap<String, i64>> = HashMap::new();
    for (collection, list) in names {
        existing.insert(collection, bulk::entity_ids(db, collection, &list).await?);
    }
    let mut writer = Writer {
        existing,
        none: HashMap::new(),
        ctx: WriteContext::new(secrets, caller),
        ids: &mut ids,
        vocabularies: &mut vocabularies,
        report: &mut report,
    };
    let mut entities = entities.into_iter();
    writer
        .entities(db, entities.by_ref().take(streamed_at))
        .await?;
    if let Some(stream) = stream {
        writer.stream(db, stream, expected_things).await?;
    }
    writer.entities(db, entities).await?;
    let Writer {
        ctx,
        report: written,
        ..
    } = writer;
    ctx.report(written);
    vocabularies.write(db).await?;
    write_memberships(db, &memberships, &mut report).await?;
    write_rules(db, &rules, &ids, &mut report).await?;
    write_collection_rules(db, &collection_rules, &mut report).await?;

    let detail = json!({
        "created": report.created.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<Map<_, _>>(),
        "replaced": report.replaced.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<Map<_, _>>(),
        "entityRules": report.entity_rules,
        "instanceRules": report.instance_rules,
        "collectionRules": report.collection_rules,
        "dropped": report.dropped.iter().map(|d| format!("{}:{}", d.principal_type, d.name)).collect::<Vec<_>>(),
    });
    report.change_sequence = audit::record(
        db,
        &Change {
            actor: caller.name.clone(),
            action: "Import".into(),
            detail: Some(detail),
            ..Change::default()
        },
    )
    .await?;
    Ok(report)
}

/// Writes entities in chunks of one collection each, with what the whole import shares.
struct Writer<'a> {
    /// The entities that exist already, per collection.
    existing: HashMap<Collection, HashMap<String, i64>>,
    none: HashMap<String, i64>,
    /// Secrets, the caller and the owners the import names.
    ctx: WriteContext<'a>,
    /// The ids of the entities written (whose rules and memberships come last).
    ids: &'a mut HashMap<(Collection, String), i64>,
    vocabularies: &'a mut Vocabularies,
    report: &'a mut Report,
}

impl Writer<'_> {
    /// Writes `entities` (in plan order) in chunks of one collection each (templates are
    /// ordered inside theirs), so that the rows being built stay bounded however large the
    /// import.
    async fn entities<C: ConnectionTrait>(
        &mut self,
        db: &C,
        entities: impl Iterator<Item = Entity> + Send,
    ) -> Result<(), ImportError> {
        let mut entities = entities.peekable();
        while let Some(first) = entities.next() {
            let collection = first.collection;
            let mut chunk = vec![first];
            while chunk.len() < ENTITY_CHUNK
                && entities.peek().is_some_and(|e| e.collection == collection)
            {
                chunk.extend(entities.next());
            }
            let known = self.existing.get(&collection).unwrap_or(&self.none);
            write_collection(
                db,
                collection,
                &chunk,
                known,
                &mut self.ctx,
                self.ids,
                self.report,
            )
            .await?;
            for e in &chunk {
                self.vocabularies.note(e);
            }
        }
        Ok(())
    }

    /// Writes the Things of a two-pass import chunk by chunk as they come, each chunk with its
    /// rules (their ids are not kept); refuses a stream that ends before `expected` Things.
    async fn stream<C: ConnectionTrait>(
        &mut self,
        db: &C,
        mut stream: ThingStream,
        expected: usize,
    ) -> Result<(), ImportError> {
        let collection = Collection::Things;
        let mut received = 0usize;
        while let Some(chunk) = stream.chunks.recv().await {
            let (group, rules): (Vec<Entity>, Vec<Vec<EntityRule>>) = chunk?.into_iter().unzip();
            received += group.len();
            let known = self.existing.get(&collection).unwrap_or(&self.none);
            let mut chunk_ids = HashMap::new();
            write_collection(
                db,
                collection,
                &group,
                known,
                &mut self.ctx,
                &mut chunk_ids,
                self.report,
            )
            .await?;
            let mut rows = Vec::new();
            for (e, rules) in group.iter().zip(&rules) {
                self.vocabularies.note(e);
                if let Some(&id) = chunk_ids.get(&(collection, e.name.clone())) {
                    rule_rows(id, rules, self.report, &mut rows);
                }
            }
            insert_all(db, rows).await?;
        }
        if received != expected {
            return Err(ImportError::Db(format!(
                "the second reading pass ended after {received} of {expected} Things"
            )));
        }
        Ok(())
    }
}

/// Writes the entities of one collection: new ones in batches, existing ones replaced.
async fn write_collection<C: ConnectionTrait>(
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
    let existing_rows: HashMap<i64, entities::Model> = if existing.is_empty() {
        HashMap::new()
    } else {
        entities::Entity::find()
            .filter(entities::Column::Id.is_in(existing.values().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect()
    };
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
            let mut active = sea_orm::IntoActiveModel::into_active_model(row).reset_all();
            active.id = Unchanged(id);
            active.created_at = NotSet;
            active.collection = NotSet;
            active.name = NotSet;
            active.update(db).await?;
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

fn tags_text(e: &Entity) -> Result<(String, Vec<Tag>), ImportError> {
    let tags = Tag::parse_list(&e.common.tags).map_err(|err| ImportError::Invalid {
        origin: e.origin.clone(),
        entity: e.path(),
        message: err.to_string(),
    })?;
    Ok((Tag::join_list(&tags), tags))
}

/// The entity row of `e` (content holds its extras and what its kind keeps without a table),
/// owned by the principal of id `owner_id`.
fn entity_row(
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
struct Parts {
    tags: Vec<entity_tags::ActiveModel>,
    properties: Vec<property_definitions::ActiveModel>,
    services: Vec<service_definitions::ActiveModel>,
    events: Vec<event_definitions::ActiveModel>,
    implementations: Vec<service_implementations::ActiveModel>,
    subscriptions: Vec<subscriptions::ActiveModel>,
    fields: Vec<field_definitions::ActiveModel>,
    values: Vec<property_values::ActiveModel>,
    tables: Vec<configuration_tables::ActiveModel>,
    shapes: Vec<implemented_shapes::ActiveModel>,
    things: Vec<things::ActiveModel>,
    templates: Vec<thing_templates::ActiveModel>,
    thing_shapes: Vec<thing_shapes::ActiveModel>,
    data_shapes: Vec<data_shapes::ActiveModel>,
    groups: Vec<groups::ActiveModel>,
    extensions: Vec<user_extension_values::ActiveModel>,
    tokens: Vec<localization_tokens::ActiveModel>,
    terms: Vec<vocabulary_terms::ActiveModel>,
}

fn opt_json(value: Json) -> Option<Json> {
    match &value {
        Json::Object(o) if o.is_empty() => None,
        Json::Array(a) if a.is_empty() => None,
        Json::Null => None,
        _ => Some(value),
    }
}

impl Parts {
    async fn add<C: ConnectionTrait>(
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
                    upsert(db, row, things::Entity::find_by_id(id)).await?;
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
                    upsert(db, row, thing_templates::Entity::find_by_id(id)).await?;
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
                    upsert(db, row, thing_shapes::Entity::find_by_id(id)).await?;
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
                    upsert(db, row, data_shapes::Entity::find_by_id(id)).await?;
                }
            }
            Kind::User(u) => {
                user_extension_values::Entity::delete_many()
                    .filter(user_extension_values::Column::UserId.eq(id))
                    .exec(db)
                    .await?;
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
                    upsert(db, row, groups::Entity::find_by_id(id)).await?;
                }
            }
            Kind::Organization(o) => write_organization(db, e, o, id).await?,
            Kind::ApplicationKey(k) => {
                write_app_key(db, e, k, id, ctx, report).await?;
            }
            Kind::LocalizationTable(t) => {
                // Tokens are merged, never deleted: a token of the import replaces its namesake.
                let known: HashMap<String, i64> = localization_tokens::Entity::find()
                    .filter(localization_tokens::Column::EntityId.eq(id))
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|t| (t.name, t.id))
                    .collect();
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
                            row.update(db).await?;
                        }
                        None => self.tokens.push(row),
                    }
                }
            }
            Kind::Vocabulary(v) => {
                vocabulary_terms::Entity::delete_many()
                    .filter(vocabulary_terms::Column::EntityId.eq(id))
                    .exec(db)
                    .await?;
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

    fn table(&mut self, id: i64, t: &crate::model::ConfigurationTable, shared: bool) {
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

    fn implemented(&mut self, id: i64, shapes: &[String]) {
        for (ordinal, shape) in (0..).zip(shapes) {
            self.shapes.push(implemented_shapes::ActiveModel {
                id: NotSet,
                entity_id: Set(id),
                shape_name: Set(shape.clone()),
                ordinal: Set(ordinal),
            });
        }
    }

    fn definitions(&mut self, id: i64, d: &Definitions) {
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

    async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), ImportError> {
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

/// Updates a kind row that exists, or inserts it (an entity row without its kind row).
async fn upsert<C, A>(db: &C, row: A, find: sea_orm::Select<A::Entity>) -> Result<(), ImportError>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    if find.one(db).await?.is_some() {
        row.update(db).await?;
    } else {
        row.insert(db).await?;
    }
    Ok(())
}

async fn write_organization<C: ConnectionTrait>(
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
    upsert(db, row, organizations::Entity::find_by_id(id)).await?;

    // Units: added or updated, never removed (their members and rules would go with them).
    let mut units: HashMap<String, organizational_units::Model> =
        organizational_units::Entity::find()
            .filter(organizational_units::Column::OrganizationId.eq(id))
            .all(db)
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
                    organizational_units::ActiveModel {
                        id: Unchanged(existing.id),
                        description: Set(unit.description.clone()),
                        parent_id: Set(parent_id),
                        ..Default::default()
                    }
                    .update(db)
                    .await?
                }
                None => {
                    organizational_units::ActiveModel {
                        id: NotSet,
                        organization_id: Set(id),
                        name: Set(unit.name.clone()),
                        description: Set(unit.description.clone()),
                        parent_id: Set(parent_id),
                    }
                    .insert(db)
                    .await?
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

/// Tag vocabularies and terms that entities use but no vocabulary defines yet (dynamic
/// vocabularies, as ThingWorx creates them).
#[derive(Default)]
struct Vocabularies {
    used: Vec<Tag>,
    seen: HashSet<(String, String)>,
}

impl Vocabularies {
    fn note(&mut self, e: &Entity) {
        if e.common.tags.is_empty() {
            return;
        }
        if let Ok(tags) = Tag::parse_list(&e.common.tags) {
            for tag in tags {
                if self.seen.insert((tag.vocabulary.clone(), tag.term.clone())) {
                    self.used.push(tag);
                }
            }
        }
    }

    async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), ImportError> {
        if self.used.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = self.used.iter().map(|t| t.vocabulary.clone()).collect();
        names.sort();
        names.dedup();
        let mut known = bulk::entity_ids(db, Collection::ModelTags, &names).await?;
        let missing: Vec<entities::Model> = names
            .iter()
            .filter(|n| !known.contains_key(*n))
            .map(|n| entities::Model {
                id: 0,
                collection: Collection::ModelTags.as_str().to_owned(),
                name: n.clone(),
                description: String::new(),
                documentation_content: String::new(),
                tags: String::new(),
                project_name: String::new(),
                owner_id: None,
                home_mashup: String::new(),
                avatar: None,
                aspects: None,
                content: Some(json!({ "isDynamic": true })),
                is_system: false,
                created_at: now_ms(),
                last_modified_date: now_ms(),
            })
            .collect();
        known.extend(bulk::insert_entities(db, Collection::ModelTags, missing).await?);
        let vocab_ids: Vec<i64> = known.values().copied().collect();
        let existing = bulk::rows_of::<_, vocabulary_terms::Entity>(
            db,
            vocabulary_terms::Column::EntityId,
            vocabulary_terms::Column::Id,
            Some(&vocab_ids),
            |t| t.entity_id,
        )
        .await?;
        let mut have: HashSet<(i64, String)> = existing
            .into_values()
            .flatten()
            .map(|t| (t.entity_id, t.name))
            .collect();
        let mut rows = Vec::new();
        for tag in self.used {
            let Some(&vocab) = known.get(&tag.vocabulary) else {
                continue;
            };
            if have.insert((vocab, tag.term.clone())) {
                rows.push(vocabulary_terms::ActiveModel {
                    id: NotSet,
                    entity_id: Set(vocab),
                    name: Set(tag.term),
                    description: Set(String::new()),
                });
            }
        }
        insert_all(db, rows).await?;
        Ok(())
    }
}

async fn write_memberships<C: ConnectionTrait>(
    db: &C,
    memberships: &[Membership],
    report: &mut Report,
) -> Result<(), ImportError> {
    if memberships.is_empty() {
        return Ok(());
    }
    let users = bulk::all_entity_ids(db, Collection::Users).await?;
    let groups_by_name = bulk::all_entity_ids(db, Collection::Groups).await?;
    let orgs = bulk::all_entity_ids(db, Collection::Organizations).await?;
    let member_id = |m: &crate::model::Member| match m.member_type {
        MemberType::User => users.get(&m.name).copied(),
        MemberType::Group => groups_by_name.get(&m.name).copied(),
    };

    // Group memberships, with a cycle check over the whole graph.
    let existing = all_memberships(db).await?;
    let mut edges: HashSet<(i64, i64)> =
        existing.iter().map(|m| (m.group_id, m.member_id)).collect();
    let mut group_edges: HashMap<i64, Vec<i64>> = HashMap::new();
    for m in &existing {
        if m.member_type == MemberType::Group.as_str() {
            group_edges.entry(m.group_id).or_default().push(m.member_id);
        }
    }
    let mut rows = Vec::new();
    for m in memberships
        .iter()
        .filter(|m| m.container == Collection::Groups)
    {
        let (Some(&group), Some(member)) =
            (groups_by_name.get(&m.container_name), member_id(&m.member))
        else {
            continue;
        };
        if edges.insert((group, member)) {
            if m.member.member_type == MemberType::Group {
                group_edges.entry(group).or_default().push(member);
            }
            rows.push(group_members::ActiveModel {
                id: NotSet,
                group_id: Set(group),
                member_id: Set(member),
                member_type: Set(m.member.member_type.as_str().to_owned()),
            });
        }
    }
    if let Some(group) = find_cycle(&group_edges) {
        let name = groups_by_name
            .iter()
            .find(|(_, id)| **id == group)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        return Err(ImportError::Invalid {
            origin: crate::model::Origin::default(),
            entity: format!("Groups/{name}"),
            message: "group membership would make a cycle".into(),
        });
    }
    report.memberships += rows.len();
    insert_all(db, rows).await?;

    // Unit memberships.
    let org_ids: Vec<i64> = memberships
        .iter()
        .filter(|m| m.container == Collection::Organizations)
        .filter_map(|m| orgs.get(&m.container_name).copied())
        .collect();
    if org_ids.is_empty() {
        return Ok(());
    }
    let units = bulk::rows_of::<_, organizational_units::Entity>(
        db,
        organizational_units::Column::OrganizationId,
        organizational_units::Column::Id,
        Some(&org_ids),
        |u| u.organization_id,
    )
    .await?;
    let mut unit_ids: HashMap<(i64, String), i64> = HashMap::new();
    for u in units.into_values().flatten() {
        unit_ids.insert((u.organization_id, u.name), u.id);
    }
    let all_units: Vec<i64> = unit_ids.values().copied().collect();
    let existing = bulk::rows_of::<_, organizational_unit_members::Entity>(
        db,
        organizational_unit_members::Column::UnitId,
        organizational_unit_members::Column::Id,
        Some(&all_units),
        |m| m.unit_id,
    )
    .await?;
    let mut have: HashSet<(i64, i64)> = existing
        .into_values()
        .flatten()
        .map(|m| (m.unit_id, m.member_id))
        .collect();
    let mut rows = Vec::new();
    for m in memberships
        .iter()
        .filter(|m| m.container == Collection::Organizations)
    {
        let Some(&org) = orgs.get(&m.container_name) else {
            continue;
        };
        let Some(unit) = m
            .unit
            .as_ref()
            .and_then(|u| unit_ids.get(&(org, u.clone())))
        else {
            continue;
        };
        let Some(member) = member_id(&m.member) else {
            continue;
        };
        if have.insert((*unit, member)) {
            rows.push(organizational_unit_members::ActiveModel {
                id: NotSet,
                unit_id: Set(*unit),
                member_id: Set(member),
                member_type: Set(m.member.member_type.as_str().to_owned()),
            });
        }
    }
    report.memberships += rows.len();
    insert_all(db, rows).await?;
    Ok(())
}

/// A group that reaches itself through group memberships, if any.
fn find_cycle(edges: &HashMap<i64, Vec<i64>>) -> Option<i64> {
    // Iterative three-colour depth-first search.
    let mut state: HashMap<i64, u8> = HashMap::new();
    let mut starts: Vec<i64> = edges.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        if state.contains_key(&start) {
            continue;
        }
        let mut stack: Vec<(i64, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some((node, next)) = stack.pop() {
            let children = edges.get(&node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&child) = children.get(next) {
                stack.push((node, next + 1));
                match state.get(&child) {
                    Some(1) => return Some(child),
                    Some(_) => {}
                    None => {
                        state.insert(child, 1);
                        stack.push((child, 0));
                    }
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
    None
}

async fn write_rules<C: ConnectionTrait>(
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
                        entity_permissions::Entity::delete_many()
                            .filter(entity_permissions::Column::EntityId.eq(row.id))
                            .exec(db)
                            .await?;
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
fn rule_rows(
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

async fn write_collection_rules<C: ConnectionTrait>(
    db: &C,
    collection_rules: &BTreeMap<Collection, Vec<crate::model::CollectionRule>>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut rows = Vec::new();
    for (collection, rules) in collection_rules {
        collection_permissions::Entity::delete_many()
            .filter(collection_permissions::Column::Collection.eq(collection.as_str()))
            .exec(db)
            .await?;
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

/// Reads what the plan step needs to know about the database.
pub async fn known<C: ConnectionTrait>(db: &C) -> Result<crate::plan::Known, ImportError> {
    let mut known = crate::plan::Known::default();
    for (collection, principal_type) in [
        (Collection::Users, PrincipalType::User),
        (Collection::Groups, PrincipalType::Group),
        (Collection::Organizations, PrincipalType::Organization),
    ] {
        for name in bulk::all_entity_ids(db, collection).await?.into_keys() {
            known.principals.insert((principal_type, name));
        }
    }
    let orgs = bulk::all_entity_ids(db, Collection::Organizations).await?;
    let org_names: HashMap<i64, String> = orgs.into_iter().map(|(n, id)| (id, n)).collect();
    for unit in organizational_units::Entity::find().all(db).await? {
        if let Some(org) = org_names.get(&unit.organization_id) {
            known.principals.insert((
                PrincipalType::OrganizationalUnit,
                ironworx_entity::vocab::unit_principal_name(org, &unit.name),
            ));
        }
    }
    // Templates and shapes: their bases, shapes and property types (for values of Things).
    let templates = bulk::all_entity_ids(db, Collection::ThingTemplates).await?;
    let shapes = bulk::all_entity_ids(db, Collection::ThingShapes).await?;
    let template_names: HashMap<i64, String> =
        templates.iter().map(|(n, id)| (*id, n.clone())).collect();
    let shape_names: HashMap<i64, String> = shapes.iter().map(|(n, id)| (*id, n.clone())).collect();
    let template_ids: Vec<i64> = template_names.keys().copied().collect();
    let template_rows = bulk::rows_of::<_, thing_templates::Entity>(
        db,
        thing_templates::Column::EntityId,
        thing_templates::Column::EntityId,
        Some(&template_ids),
        |r| r.entity_id,
    )
    .await?;
    for row in template_rows.into_values().flatten() {
        if let Some(name) = template_names.get(&row.entity_id) {
            known
                .template_bases
                .insert(name.clone(), row.base_thing_template);
        }
    }
    let owner_ids: Vec<i64> = template_ids
        .iter()
        .chain(shape_names.keys())
        .copied()
        .collect();
    let implemented = bulk::rows_of::<_, implemented_shapes::Entity>(
        db,
        implemented_shapes::Column::EntityId,
        implemented_shapes::Column::Id,
        Some(&template_ids),
        |r| r.entity_id,
    )
    .await?;
    for (id, mut rows) in implemented {
        rows.sort_by_key(|r| r.ordinal);
        if let Some(name) = template_names.get(&id) {
            known.template_shapes.insert(
                name.clone(),
                rows.into_iter().map(|r| r.shape_name).collect(),
            );
        }
    }
    let properties = bulk::rows_of::<_, property_definitions::Entity>(
        db,
        property_definitions::Column::EntityId,
        property_definitions::Column::Id,
        Some(&owner_ids),
        |r| r.entity_id,
    )
    .await?;
    for (id, rows) in properties {
        let key = match (template_names.get(&id), shape_names.get(&id)) {
            (Some(t), _) => (Collection::ThingTemplates, t.clone()),
            (_, Some(s)) => (Collection::ThingShapes, s.clone()),
            _ => continue,
        };
        known.property_types.insert(
            key,
            rows.into_iter().map(|r| (r.name, r.base_type)).collect(),
        );
    }
    Ok(known)
}
