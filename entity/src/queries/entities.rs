//! Entities of every collection: the attributes they all carry, their tags (with dynamic
//! vocabularies), lookup by collection and name, and deletion with everything that names them.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde_json::{Value as Json, json};

use crate::queries::{QueryError, QueryResult, now_ms, parts};
use crate::schema::{entities, entity_tags, vocabulary_terms};
use crate::vocab::{
    Collection, EntityName, GroupName, OrganizationName, PrincipalType, Tag, UserName,
};

pub use crate::schema::entities::Model as EntityRow;

/// The attributes every entity carries, besides its collection and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntityFields {
    /// Free text.
    pub description: String,
    /// Documentation, possibly HTML.
    pub documentation_content: String,
    /// Tags as `Vocabulary:Term` pairs joined by `;`.
    pub tags: String,
    /// The project the entity belongs to, or empty.
    pub project_name: String,
    /// The id of the owning user (every right on the entity) or group; ownership follows
    /// the principal's identity, never its name.
    pub owner_id: Option<i64>,
    /// The mashup shown as the entity's home.
    pub home_mashup: String,
    /// A base64 image, when the entity has one.
    pub avatar: Option<String>,
    /// The `aspect.*` attributes, as an object.
    pub aspects: Option<Json>,
    /// What the kind adds that has no table of its own (mashup content, media, …), as a document.
    pub content: Option<Json>,
    /// Built in: shipped with the server.
    pub is_system: bool,
    /// The last modification time (epoch ms); `None` means now.
    pub last_modified_date: Option<i64>,
}

impl EntityFields {
    /// Fields with only an owner set: the user (or group) of id `owner_id`.
    pub fn owned_by(owner_id: i64) -> Self {
        EntityFields {
            owner_id: Some(owner_id),
            ..EntityFields::default()
        }
    }
}

/// Checks `name` against the naming rules of `collection` (principals have stricter ones).
pub fn validate_name(collection: Collection, name: &str) -> QueryResult<()> {
    match collection {
        Collection::Users => UserName::parse(name).map(drop)?,
        Collection::Groups => GroupName::parse(name).map(drop)?,
        Collection::Organizations => OrganizationName::parse(name).map(drop)?,
        _ => EntityName::parse(name).map(drop)?,
    }
    Ok(())
}

/// Creates an entity; refuses a bad name (400-style) or a taken one (409-style).
pub async fn insert_entity<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    name: &str,
    fields: &EntityFields,
) -> QueryResult<EntityRow> {
    validate_name(collection, name)?;
    let tags = Tag::parse_list(&fields.tags)?;
    if find_entity(db, collection, name).await?.is_some() {
        return Err(QueryError::Conflict {
            what: collection.as_str().to_owned(),
            name: name.to_owned(),
        });
    }
    let now = now_ms();
    let row = entities::ActiveModel {
        collection: Set(collection.as_str().to_owned()),
        name: Set(name.to_owned()),
        description: Set(fields.description.clone()),
        documentation_content: Set(fields.documentation_content.clone()),
        tags: Set(Tag::join_list(&tags)),
        project_name: Set(fields.project_name.clone()),
        owner_id: Set(fields.owner_id),
        home_mashup: Set(fields.home_mashup.clone()),
        avatar: Set(fields.avatar.clone()),
        aspects: Set(fields.aspects.clone()),
        content: Set(fields.content.clone()),
        is_system: Set(fields.is_system),
        created_at: Set(now),
        last_modified_date: Set(fields.last_modified_date.unwrap_or(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| QueryError::conflict_or(e, collection.as_str(), name))?;
    write_tags(db, row.id, &tags).await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(row)
}

/// Replaces the common attributes of an existing entity (its name and collection stay).
pub async fn update_entity<C: ConnectionTrait>(
    db: &C,
    id: i64,
    fields: &EntityFields,
) -> QueryResult<EntityRow> {
    let tags = Tag::parse_list(&fields.tags)?;
    let row = entities::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        description: Set(fields.description.clone()),
        documentation_content: Set(fields.documentation_content.clone()),
        tags: Set(Tag::join_list(&tags)),
        project_name: Set(fields.project_name.clone()),
        owner_id: Set(fields.owner_id),
        home_mashup: Set(fields.home_mashup.clone()),
        avatar: Set(fields.avatar.clone()),
        aspects: Set(fields.aspects.clone()),
        content: Set(fields.content.clone()),
        is_system: Set(fields.is_system),
        last_modified_date: Set(fields.last_modified_date.unwrap_or_else(now_ms)),
        ..Default::default()
    }
    .update(db)
    .await?;
    entity_tags::Entity::delete_many()
        .filter(entity_tags::Column::EntityId.eq(id))
        .exec(db)
        .await?;
    write_tags(db, id, &tags).await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(row)
}

/// The fields of an entity row, for a read-modify-write.
pub fn fields_of(row: &EntityRow) -> EntityFields {
    EntityFields {
        description: row.description.clone(),
        documentation_content: row.documentation_content.clone(),
        tags: row.tags.clone(),
        project_name: row.project_name.clone(),
        owner_id: row.owner_id,
        home_mashup: row.home_mashup.clone(),
        avatar: row.avatar.clone(),
        aspects: row.aspects.clone(),
        content: row.content.clone(),
        is_system: row.is_system,
        last_modified_date: Some(row.last_modified_date),
    }
}

/// Records the tags of an entity and creates every vocabulary or term not defined yet
/// (a dynamic vocabulary, as ThingWorx does for a term of an unknown vocabulary).
async fn write_tags<C: ConnectionTrait>(db: &C, entity_id: i64, tags: &[Tag]) -> QueryResult<()> {
    for tag in tags {
        let vocabulary = match find_entity(db, Collection::ModelTags, &tag.vocabulary).await? {
            Some(v) => v,
            None => {
                Box::pin(insert_entity(
                    db,
                    Collection::ModelTags,
                    &tag.vocabulary,
                    &EntityFields {
                        content: Some(json!({ "isDynamic": true })),
                        ..EntityFields::default()
                    },
                ))
                .await?
            }
        };
        let known = vocabulary_terms::Entity::find()
            .filter(vocabulary_terms::Column::EntityId.eq(vocabulary.id))
            .filter(vocabulary_terms::Column::Name.eq(tag.term.as_str()))
            .one(db)
            .await?;
        if known.is_none() {
            parts::vocabulary_terms::insert(
                db,
                vec![vocabulary_terms::Model {
                    id: 0,
                    entity_id: vocabulary.id,
                    name: tag.term.clone(),
                    description: String::new(),
                }],
            )
            .await?;
        }
    }
    let rows: Vec<entity_tags::ActiveModel> = tags
        .iter()
        .map(|t| entity_tags::ActiveModel {
            entity_id: Set(entity_id),
            vocabulary: Set(t.vocabulary.clone()),
            term: Set(t.term.clone()),
            ..Default::default()
        })
        .collect();
    if !rows.is_empty() {
        entity_tags::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The tags of an entity, in the order they were given.
pub async fn tags_of<C: ConnectionTrait>(db: &C, entity_id: i64) -> QueryResult<Vec<Tag>> {
    Ok(entity_tags::Entity::find()
        .filter(entity_tags::Column::EntityId.eq(entity_id))
        .order_by_asc(entity_tags::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|t| Tag {
            vocabulary: t.vocabulary,
            term: t.term,
        })
        .collect())
}

/// The ids of every entity carrying `tag`.
pub async fn entity_ids_with_tag<C: ConnectionTrait>(db: &C, tag: &Tag) -> QueryResult<Vec<i64>> {
    Ok(entity_tags::Entity::find()
        .filter(entity_tags::Column::Vocabulary.eq(tag.vocabulary.as_str()))
        .filter(entity_tags::Column::Term.eq(tag.term.as_str()))
        .order_by_asc(entity_tags::Column::EntityId)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.entity_id)
        .collect())
}

/// The entity `name` of `collection`, if it exists.
pub async fn find_entity<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    name: &str,
) -> QueryResult<Option<EntityRow>> {
    Ok(entities::Entity::find()
        .filter(entities::Column::Collection.eq(collection.as_str()))
        .filter(entities::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// The entity `name` of `collection`, or a not-found error.
pub async fn get_entity<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    name: &str,
) -> QueryResult<EntityRow> {
    find_entity(db, collection, name)
        .await?
        .ok_or_else(|| QueryError::not_found(collection, name))
}

/// The entity with this id, if it exists.
pub async fn find_entity_by_id<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> QueryResult<Option<EntityRow>> {
    Ok(entities::Entity::find_by_id(id).one(db).await?)
}

/// Every entity of `collection`, by name.
pub async fn list_entities<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
) -> QueryResult<Vec<EntityRow>> {
    Ok(entities::Entity::find()
        .filter(entities::Column::Collection.eq(collection.as_str()))
        .order_by_asc(entities::Column::Name)
        .all(db)
        .await?)
}

/// Every entity of a project, by collection and name.
pub async fn list_project_entities<C: ConnectionTrait>(
    db: &C,
    project: &str,
) -> QueryResult<Vec<EntityRow>> {
    Ok(entities::Entity::find()
        .filter(entities::Column::ProjectName.eq(project))
        .order_by_asc(entities::Column::Collection)
        .order_by_asc(entities::Column::Name)
        .all(db)
        .await?)
}

/// Deletes an entity with all its parts. When it is a principal (user, group, organization),
/// the permission rules that name it go too, so a later entity of the same name does not inherit
/// them. Returns whether something was deleted.
pub async fn delete_entity<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    name: &str,
) -> QueryResult<bool> {
    let Some(row) = find_entity(db, collection, name).await? else {
        return Ok(false);
    };
    match collection {
        Collection::Users => {
            crate::queries::permissions::delete_rules_naming(db, PrincipalType::User, name).await?;
        }
        Collection::Groups => {
            crate::queries::permissions::delete_rules_naming(db, PrincipalType::Group, name)
                .await?;
        }
        Collection::Organizations => {
            crate::queries::permissions::delete_rules_naming(db, PrincipalType::Organization, name)
                .await?;
            crate::queries::permissions::delete_unit_rules_of(db, name).await?;
        }
        _ => {}
    }
    entities::Entity::delete_by_id(row.id).exec(db).await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(true)
}

/// Sets the owner of an entity: the user or group of id `owner_id`.
pub async fn set_owner<C: ConnectionTrait>(db: &C, id: i64, owner_id: i64) -> QueryResult<()> {
    entities::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        owner_id: Set(Some(owner_id)),
        last_modified_date: Set(now_ms()),
        ..Default::default()
    }
    .update(db)
    .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// Makes `owner_id` the owner of every built-in entity that has none (at bootstrap, once the
/// `System` user exists).
pub async fn own_built_ins<C: ConnectionTrait>(db: &C, owner_id: i64) -> QueryResult<()> {
    entities::Entity::update_many()
        .col_expr(
            entities::Column::OwnerId,
            sea_orm::sea_query::Expr::value(owner_id),
        )
        .filter(entities::Column::IsSystem.eq(true))
        .filter(entities::Column::OwnerId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The owner of an entity row as a principal: its type (`User` or `Group`) and name; `None`
/// without an owner.
pub async fn owner_of<C: ConnectionTrait>(
    db: &C,
    row: &EntityRow,
) -> QueryResult<Option<(PrincipalType, String)>> {
    let Some(owner_id) = row.owner_id else {
        return Ok(None);
    };
    Ok(entities::Entity::find_by_id(owner_id)
        .one(db)
        .await?
        .and_then(|o| principal_of(&o.collection, o.name)))
}

/// The principal an owner row stands for: a user or a group (other collections own nothing).
pub fn principal_of(collection: &str, name: String) -> Option<(PrincipalType, String)> {
    match collection.parse::<Collection>().ok()? {
        Collection::Users => Some((PrincipalType::User, name)),
        Collection::Groups => Some((PrincipalType::Group, name)),
        _ => None,
    }
}

/// The id of the user (`User`) or group (`Group`) called `name`, for an owner.
pub async fn owner_id_of<C: ConnectionTrait>(
    db: &C,
    owner_type: PrincipalType,
    name: &str,
) -> QueryResult<Option<i64>> {
    let collection = match owner_type {
        PrincipalType::User => Collection::Users,
        PrincipalType::Group => Collection::Groups,
        _ => return Ok(None),
    };
    Ok(find_entity(db, collection, name).await?.map(|e| e.id))
}

/// The names of the entities with these ids (missing ids are left out).
pub async fn names_by_id<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = i64>,
) -> QueryResult<std::collections::HashMap<i64, String>> {
    let ids: Vec<i64> = ids.into_iter().collect();
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = entities::Entity::find()
            .filter(entities::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|e| (e.id, e.name)));
    }
    Ok(out)
}
