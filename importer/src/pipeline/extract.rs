//! Reads the model back out of the database as an [`Export`], whole or filtered by collection,
//! project or tag, in a deterministic order (collection order, then name), for every writer.

use std::collections::{HashMap, HashSet};

use ironworx_entity::queries::bulk;
use ironworx_entity::queries::permissions::Rule;
use ironworx_entity::schema::{
    application_keys, configuration_tables, data_shapes, entities, entity_permissions, entity_tags,
    event_definitions, field_definitions, group_members, groups, implemented_shapes,
    localization_tokens, organizational_unit_members, organizational_units, organizations,
    property_definitions, property_values, service_definitions, service_implementations,
    subscriptions, thing_shapes, thing_templates, things, user_extension_values, users,
    vocabulary_terms,
};
use ironworx_entity::vocab::{Collection, MemberType, PrincipalType, Tag};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value as Json};

use crate::apply::KeySecrets;
use crate::error::ImportError;
use crate::model::{
    ApplicationKey, CollectionRule, Common, DataShape, Definitions, Entity, EntityRule,
    EventDefinition, Export, ExtensionValue, Group, Kind, LocalizationTable, Member, Organization,
    Origin, PasswordHash, PropertyDefinition, PropertyValue, ServiceDefinition,
    ServiceImplementation, Subscription, Term, Thing, ThingShape, ThingTemplate, Token, Unit, User,
    Vocabulary,
};
use crate::stored;

/// Which entities an export holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these collections (all when empty).
    pub collections: Vec<Collection>,
    /// Only entities of this project.
    pub project: Option<String>,
    /// Only entities carrying every one of these tags.
    pub tags: Vec<Tag>,
    /// Only these entity names (all when empty).
    pub names: Vec<String>,
}

impl Filter {
    fn is_everything(&self) -> bool {
        self.collections.is_empty()
            && self.project.is_none()
            && self.tags.is_empty()
            && self.names.is_empty()
    }
}

/// What an export carries besides entities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Collection-level rules (storage mode only).
    pub collection_rules: bool,
    /// Keep secrets out (ApplicationKey ids, password hashes), as `universal="password"`
    /// exports do.
    pub blank_secrets: bool,
    /// The server's built-in entities too (its own users, groups, organizations, templates
    /// and resources), which exports leave out as ThingWorx's do, unless the filter names
    /// them.
    pub include_system: bool,
}

/// The root attributes Ironworx writes, in the order ThingWorx's `.twx` has them: the export
/// says ThingWorx 9.3 (schema 1134), the version whose model Ironworx emulates and whose
/// format the readers of 8.x–10.x accept.
pub fn header(blank_secrets: bool) -> Vec<(String, String)> {
    [
        ("schemaVersion", "1134"),
        ("majorVersion", "9"),
        ("minorVersion", "3"),
        ("revision", "0"),
        ("build", "b1"),
        (
            "modelPersistenceProviderPackage",
            "PostgresPersistenceProviderPackage",
        ),
        ("universal", if blank_secrets { "password" } else { "" }),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn take<T>(map: &mut HashMap<i64, Vec<T>>, id: i64) -> Vec<T> {
    map.remove(&id).unwrap_or_default()
}

fn one<T>(map: &mut HashMap<i64, Vec<T>>, id: i64) -> Option<T> {
    map.remove(&id).and_then(|v| v.into_iter().next())
}

fn aspects(value: Option<Json>) -> Map<String, Json> {
    match value {
        Some(Json::Object(o)) => o,
        _ => Map::new(),
    }
}

/// Reads the entities chosen by `filter` (and the collection rules when asked).
pub async fn extract<C: ConnectionTrait>(
    db: &C,
    filter: &Filter,
    options: ExtractOptions,
    secrets: Option<&dyn KeySecrets>,
) -> Result<Export, ImportError> {
    let mut rows = bulk::entity_rows_where(
        db,
        &filter.collections,
        options.include_system || !filter.names.is_empty(),
        filter.project.as_deref(),
    )
    .await?;
    if !filter.names.is_empty() {
        let names: HashSet<&str> = filter.names.iter().map(String::as_str).collect();
        rows.retain(|r| names.contains(r.name.as_str()));
    }
    if !filter.tags.is_empty() {
        let mut keep: Option<HashSet<i64>> = None;
        for tag in &filter.tags {
            let ids: HashSet<i64> =
                ironworx_entity::queries::entities::entity_ids_with_tag(db, tag)
                    .await?
                    .into_iter()
                    .collect();
            keep = Some(match keep {
                None => ids,
                Some(k) => k.intersection(&ids).copied().collect(),
            });
        }
        let keep = keep.unwrap_or_default();
        rows.retain(|r| keep.contains(&r.id));
    }
    let position: HashMap<Collection, usize> = Collection::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i))
        .collect();
    let mut rows: Vec<(Collection, entities::Model)> = rows
        .into_iter()
        .filter_map(|r| r.collection.parse::<Collection>().ok().map(|c| (c, r)))
        .collect();
    rows.sort_by(|(ca, a), (cb, b)| {
        position
            .get(ca)
            .cmp(&position.get(cb))
            .then_with(|| a.name.cmp(&b.name))
    });

    let all_ids: Vec<i64> = rows.iter().map(|(_, r)| r.id).collect();
    let ids: Option<&[i64]> = if filter.is_everything() {
        None
    } else {
        Some(&all_ids)
    };

    macro_rules! owned {
        ($table:ident, $owner:ident) => {
            ironworx_entity::queries::bulk::rows_of::<_, $table::Entity>(
                db,
                $table::Column::$owner,
                $table::Column::Id,
                ids,
                |r| r.entity_id,
            )
            .await?
        };
    }
    macro_rules! kind {
        ($table:ident) => {
            ironworx_entity::queries::bulk::rows_of::<_, $table::Entity>(
                db,
                $table::Column::EntityId,
                $table::Column::EntityId,
                ids,
                |r| r.entity_id,
            )
            .await?
        };
    }
    let mut rules = owned!(entity_permissions, EntityId);
    let mut tags = owned!(entity_tags, EntityId);
    let mut properties = owned!(property_definitions, EntityId);
    let mut services = owned!(service_definitions, EntityId);
    let mut events = owned!(event_definitions, EntityId);
    let mut implementations = owned!(service_implementations, EntityId);
    let mut subs = owned!(subscriptions, EntityId);
    let mut fields = owned!(field_definitions, EntityId);
    let mut values = owned!(property_values, EntityId);
    let mut tables = owned!(configuration_tables, EntityId);
    let mut shapes = owned!(implemented_shapes, EntityId);
    let mut tokens = owned!(localization_tokens, EntityId);
    let mut terms = owned!(vocabulary_terms, EntityId);
    let mut thing_rows = kind!(things);
    let mut template_rows = kind!(thing_templates);
    let mut shape_rows = kind!(thing_shapes);
    let mut data_shape_rows = kind!(data_shapes);
    let mut user_rows = kind!(users);
    let mut group_rows = kind!(groups);
    let mut org_rows = kind!(organizations);
    let mut key_rows = kind!(application_keys);
    let mut extensions =
        ironworx_entity::queries::bulk::rows_of::<_, user_extension_values::Entity>(
            db,
            user_extension_values::Column::UserId,
            user_extension_values::Column::Id,
            ids,
            |r| r.user_id,
        )
        .await?;

    // Principals, for memberships, key users and owners (always the whole collections).
    let principals: HashMap<i64, (PrincipalType, String)> =
        bulk::entity_rows_where(db, &[Collection::Users, Collection::Groups], true, None)
            .await?
            .into_iter()
            .filter_map(|r| {
                ironworx_entity::queries::entities::principal_of(&r.collection, r.name)
                    .map(|p| (r.id, p))
            })
            .collect();
    let principal_names: HashMap<i64, String> = principals
        .iter()
        .map(|(id, (_, name))| (*id, name.clone()))
        .collect();
    let group_ids: Vec<i64> = rows
        .iter()
        .filter(|(c, _)| *c == Collection::Groups)
        .map(|(_, r)| r.id)
        .collect();
    let mut members = ironworx_entity::queries::bulk::rows_of::<_, group_members::Entity>(
        db,
        group_members::Column::GroupId,
        group_members::Column::Id,
        Some(&group_ids),
        |r| r.group_id,
    )
    .await?;
    let org_ids: Vec<i64> = rows
        .iter()
        .filter(|(c, _)| *c == Collection::Organizations)
        .map(|(_, r)| r.id)
        .collect();
    let mut units = ironworx_entity::queries::bulk::rows_of::<_, organizational_units::Entity>(
        db,
        organizational_units::Column::OrganizationId,
        organizational_units::Column::Id,
        Some(&org_ids),
        |r| r.organization_id,
    )
    .await?;
    let unit_ids: Vec<i64> = units.values().flatten().map(|u| u.id).collect();
    let mut unit_members =
        ironworx_entity::queries::bulk::rows_of::<_, organizational_unit_members::Entity>(
            db,
            organizational_unit_members::Column::UnitId,
            organizational_unit_members::Column::Id,
            Some(&unit_ids),
            |r| r.unit_id,
        )
        .await?;
    let member_of = |member_id: i64, member_type: &str| -> Option<Member> {
        Some(Member {
            name: principal_names.get(&member_id)?.clone(),
            member_type: member_type.parse::<MemberType>().ok()?,
        })
    };

    let mut entities_out = Vec::with_capacity(rows.len());
    for (collection, row) in rows {
        let id = row.id;
        let entity_rules: Vec<EntityRule> = take(&mut rules, id)
            .into_iter()
            .filter_map(|r| {
                Some(EntityRule {
                    instance: r.instance,
                    rule: Rule {
                        kind: r.kind.parse().ok()?,
                        resource: r.resource,
                        principal_type: r.principal_type.parse().ok()?,
                        principal_name: r.principal_name,
                        allow: r.allow,
                    },
                })
            })
            .collect();
        let tag_list: Vec<Tag> = take(&mut tags, id)
            .into_iter()
            .map(|t| Tag {
                vocabulary: t.vocabulary,
                term: t.term,
            })
            .collect();
        let mut own_tables = Vec::new();
        let mut shared_tables = Vec::new();
        for t in take(&mut tables, id) {
            let table = crate::model::ConfigurationTable {
                name: t.name,
                description: t.description,
                is_multi_row: t.is_multi_row,
                ordinal: t.ordinal,
                data_shape_name: t.data_shape_name,
                is_hidden: t.is_hidden,
                fields: stored::fields_from_json(t.field_definitions.as_ref()),
                rows: stored::rows_from_json(t.rows.as_ref()),
            };
            if t.is_shared {
                shared_tables.push(table);
            } else {
                own_tables.push(table);
            }
        }
        let mut definitions = || Definitions {
            properties: take(&mut properties, id)
                .into_iter()
                .map(|p| PropertyDefinition {
                    name: p.name,
                    base_type: p.base_type,
                    description: p.description,
                    category: p.category,
                    ordinal: p.ordinal,
                    is_local_only: p.is_local_only,
                    aspects: aspects(p.aspects),
                })
                .collect(),
            services: take(&mut services, id)
                .into_iter()
                .map(|s| ServiceDefinition {
                    name: s.name,
                    description: s.description,
                    category: s.category,
                    is_allow_override: s.is_allow_override,
                    is_local_only: s.is_local_only,
                    is_open: s.is_open,
                    is_private: s.is_private,
                    aspects: aspects(s.aspects),
                    result_type: s.result_type.as_ref().map(stored::field_from_json),
                    parameters: stored::fields_from_json(s.parameters.as_ref()),
                })
                .collect(),
            events: take(&mut events, id)
                .into_iter()
                .map(|e| EventDefinition {
                    name: e.name,
                    description: e.description,
                    category: e.category,
                    data_shape: e.data_shape,
                    is_local_only: e.is_local_only,
                    aspects: aspects(e.aspects),
                })
                .collect(),
            implementations: take(&mut implementations, id)
                .into_iter()
                .map(|i| ServiceImplementation {
                    name: i.name,
                    description: i.description,
                    handler_name: i.handler_name,
                    configuration: stored::tables_from_json(i.configuration.as_ref()),
                })
                .collect(),
            subscriptions: take(&mut subs, id)
                .into_iter()
                .map(|s| Subscription {
                    name: s.name,
                    description: s.description,
                    enabled: s.enabled,
                    event_name: s.event_name,
                    source: s.source,
                    source_property: s.source_property,
                    source_type: s.source_type,
                    handler_name: s.handler_name,
                    configuration: stored::tables_from_json(s.configuration.as_ref()),
                })
                .collect(),
        };
        let implemented = |shapes: &mut HashMap<i64, Vec<implemented_shapes::Model>>| {
            let mut list = take(shapes, id);
            list.sort_by_key(|s| s.ordinal);
            list.into_iter().map(|s| s.shape_name).collect::<Vec<_>>()
        };
        let kind = match collection {
            Collection::Things => match one(&mut thing_rows, id) {
                Some(t) => Kind::Thing(Box::new(Thing {
                    thing_template: t.thing_template,
                    enabled: t.enabled,
                    published: t.published,
                    identifier: t.identifier,
                    value_stream: t.value_stream,
                    inherited_value_stream: t.inherited_value_stream,
                    thing_package: t.thing_package,
                    effective_thing_package: t.effective_thing_package,
                    definitions: definitions(),
                    implemented_shapes: implemented(&mut shapes),
                    values: take(&mut values, id)
                        .into_iter()
                        .map(|v| PropertyValue {
                            name: v.name,
                            base_type: v.base_type,
                            value: v.value.unwrap_or(Json::Null),
                            time: v.value_time,
                            quality: v.quality,
                        })
                        .collect(),
                })),
                None => Kind::Plain,
            },
            Collection::ThingTemplates => match one(&mut template_rows, id) {
                Some(t) => Kind::ThingTemplate(Box::new(ThingTemplate {
                    base_thing_template: t.base_thing_template,
                    thing_package: t.thing_package,
                    effective_thing_package: t.effective_thing_package,
                    value_stream: t.value_stream,
                    definitions: definitions(),
                    implemented_shapes: implemented(&mut shapes),
                    shared_configuration_tables: std::mem::take(&mut shared_tables),
                })),
                None => Kind::Plain,
            },
            Collection::ThingShapes => match one(&mut shape_rows, id) {
                Some(s) => Kind::ThingShape(Box::new(ThingShape {
                    class_name: s.class_name,
                    definitions: definitions(),
                })),
                None => Kind::Plain,
            },
            Collection::DataShapes => match one(&mut data_shape_rows, id) {
                Some(d) => Kind::DataShape(DataShape {
                    base_data_shape: d.base_data_shape,
                    fields: take(&mut fields, id)
                        .into_iter()
                        .map(|f| crate::model::FieldDefinition {
                            name: f.name,
                            base_type: f.base_type,
                            description: f.description,
                            ordinal: f.ordinal,
                            aspects: aspects(f.aspects),
                        })
                        .collect(),
                }),
                None => Kind::Plain,
            },
            Collection::Users => match one(&mut user_rows, id) {
                Some(u) => Kind::User(Box::new(User {
                    enabled: u.enabled,
                    locked: u.locked,
                    password: match (&u.password_hash, options.blank_secrets) {
                        (Some(hash), false) if !hash.is_empty() => Some(PasswordHash {
                            hash: hash.clone(),
                            algorithm: u.password_algorithm.clone(),
                            iterations: u.password_iterations,
                            salt_bytes: u.password_salt_bytes,
                            hash_bytes: u.password_hash_bytes,
                        }),
                        _ => None,
                    },
                    language_preferences: u.language_preferences,
                    mobile_mashup: u.mobile_mashup,
                    scim_id: u.scim_id,
                    scim_external_id: u.scim_external_id,
                    extensions: take(&mut extensions, id)
                        .into_iter()
                        .map(|x| ExtensionValue {
                            name: x.name,
                            value: x.value,
                            last_update_time: x.last_update_time,
                        })
                        .collect(),
                })),
                None => Kind::Plain,
            },
            Collection::Groups => match one(&mut group_rows, id) {
                Some(g) => Kind::Group(Group {
                    scim_display_name: g.scim_display_name,
                    scim_id: g.scim_id,
                    scim_external_id: g.scim_external_id,
                    members: take(&mut members, id)
                        .into_iter()
                        .filter_map(|m| member_of(m.member_id, &m.member_type))
                        .collect(),
                }),
                None => Kind::Plain,
            },
            Collection::Organizations => match one(&mut org_rows, id) {
                Some(o) => {
                    let list = take(&mut units, id);
                    let unit_names: HashMap<i64, String> =
                        list.iter().map(|u| (u.id, u.name.clone())).collect();
                    let mut out: Vec<Unit> = list
                        .into_iter()
                        .map(|u| Unit {
                            parent: u.parent_id.and_then(|p| unit_names.get(&p).cloned()),
                            members: take(&mut unit_members, u.id)
                                .into_iter()
                                .filter_map(|m| member_of(m.member_id, &m.member_type))
                                .collect(),
                            name: u.name,
                            description: u.description,
                        })
                        .collect();
                    // Root first, then by name: the same order whatever the insertion history.
                    out.sort_by(|a, b| {
                        b.parent
                            .is_none()
                            .cmp(&a.parent.is_none())
                            .then_with(|| a.name.cmp(&b.name))
                    });
                    Kind::Organization(Box::new(Organization {
                        login_prompt: o.login_prompt,
                        login_image: o.login_image,
                        login_style: o.login_style,
                        login_button_style: o.login_button_style,
                        login_reset_password: o.login_reset_password,
                        mobile_mashup: o.mobile_mashup,
                        reset_mail_content: o.reset_mail_content,
                        reset_mail_server: o.reset_mail_server,
                        reset_mail_subject: o.reset_mail_subject,
                        units: out,
                    }))
                }
                None => Kind::Plain,
            },
            Collection::ApplicationKeys => match one(&mut key_rows, id) {
                Some(k) => Kind::ApplicationKey(ApplicationKey {
                    key_id: match (options.blank_secrets, secrets, &k.key_sealed) {
                        (false, Some(s), Some(sealed)) => s.open(sealed).unwrap_or_default(),
                        _ => String::new(),
                    },
                    user_name: k
                        .user_id
                        .and_then(|u| principal_names.get(&u).cloned())
                        .unwrap_or_default(),
                    expiration_date: k.expiration_date,
                    client_name: k.client_name,
                    ip_whitelist: k.ip_whitelist,
                }),
                None => Kind::Plain,
            },
            Collection::LocalizationTables => Kind::LocalizationTable(LocalizationTable {
                tokens: take(&mut tokens, id)
                    .into_iter()
                    .map(|t| Token {
                        name: t.name,
                        value: t.value,
                        description: t.description,
                        context: t.context,
                    })
                    .collect(),
            }),
            Collection::ModelTags | Collection::DataTags => Kind::Vocabulary(Vocabulary {
                is_dynamic: row
                    .content
                    .as_ref()
                    .and_then(|c| c.get("isDynamic"))
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
                terms: take(&mut terms, id)
                    .into_iter()
                    .map(|t| Term {
                        name: t.name,
                        description: t.description,
                    })
                    .collect(),
            }),
            _ => Kind::Plain,
        };
        entities_out.push(Entity {
            collection,
            common: Common {
                description: row.description,
                documentation_content: row.documentation_content,
                tags: Tag::join_list(&tag_list),
                project_name: row.project_name,
                home_mashup: row.home_mashup,
                owner: row
                    .owner_id
                    .and_then(|o| principals.get(&o))
                    .map(|(t, n)| (t.as_str().to_owned(), n.clone())),
                avatar: row.avatar.unwrap_or_default(),
                aspects: aspects(row.aspects),
                last_modified_date: Some(row.last_modified_date),
            },
            name: row.name,
            rules: entity_rules,
            configuration_tables: own_tables,
            kind,
            extra: stored::extra_of(row.content.as_ref()),
            origin: Origin::default(),
        });
    }

    let collection_rules = if options.collection_rules {
        ironworx_entity::queries::permissions::collection_rule_rows(db, &filter.collections)
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(CollectionRule {
                    collection: r.collection.parse().ok()?,
                    rule: Rule {
                        kind: r.kind.parse().ok()?,
                        resource: r.resource,
                        principal_type: r.principal_type.parse().ok()?,
                        principal_name: r.principal_name,
                        allow: r.allow,
                    },
                })
            })
            .collect()
    } else {
        Vec::new()
    };

    Ok(Export {
        header: header(options.blank_secrets),
        entities: entities_out,
        collection_rules,
        listed_rules: Vec::new(),
        notes: Vec::new(),
    })
}
