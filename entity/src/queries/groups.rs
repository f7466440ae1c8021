//! Groups and their members (users and groups). Groups nest; a membership that would make a
//! group contain itself, directly or through other groups, is refused.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::queries::entities::{EntityFields, EntityRow, get_entity, insert_entity, names_by_id};
use crate::queries::{QueryError, QueryResult};
use crate::schema::{group_members, groups};
use crate::vocab::{Collection, MemberType};

/// Creates a group.
pub async fn create_group<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
) -> QueryResult<EntityRow> {
    let entity = insert_entity(db, Collection::Groups, name, fields).await?;
    groups::ActiveModel {
        entity_id: Set(entity.id),
        scim_display_name: Set(String::new()),
        scim_id: Set(String::new()),
        scim_external_id: Set(String::new()),
    }
    .insert(db)
    .await?;
    Ok(entity)
}

/// The group part of a group entity.
pub async fn group_row<C: ConnectionTrait>(db: &C, entity_id: i64) -> QueryResult<groups::Model> {
    groups::Entity::find_by_id(entity_id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::NotFound {
            what: "group".into(),
            name: entity_id.to_string(),
        })
}

fn member_collection(member_type: MemberType) -> Collection {
    match member_type {
        MemberType::User => Collection::Users,
        MemberType::Group => Collection::Groups,
    }
}

/// Adds `member` to `group`; adding an existing member changes nothing. Refuses a cycle.
pub async fn add_member<C: ConnectionTrait>(
    db: &C,
    group: &str,
    member: &str,
    member_type: MemberType,
) -> QueryResult<()> {
    let group_row = get_entity(db, Collection::Groups, group).await?;
    let member_row = get_entity(db, member_collection(member_type), member).await?;
    if member_type == MemberType::Group
        && (member_row.id == group_row.id
            || group_descendants(db, member_row.id)
                .await?
                .contains(&group_row.id))
    {
        return Err(QueryError::Cycle {
            group: group.to_owned(),
            member: member.to_owned(),
        });
    }
    let exists = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_row.id))
        .filter(group_members::Column::MemberId.eq(member_row.id))
        .one(db)
        .await?;
    if exists.is_none() {
        group_members::ActiveModel {
            group_id: Set(group_row.id),
            member_id: Set(member_row.id),
            member_type: Set(member_type.as_str().to_owned()),
            ..Default::default()
        }
        .insert(db)
        .await?;
        crate::queries::audit::bump_sequence(db).await?;
    }
    Ok(())
}

/// Removes `member` from `group`; returns whether it was a member.
pub async fn remove_member<C: ConnectionTrait>(
    db: &C,
    group: &str,
    member: &str,
    member_type: MemberType,
) -> QueryResult<bool> {
    let group_row = get_entity(db, Collection::Groups, group).await?;
    let member_row = get_entity(db, member_collection(member_type), member).await?;
    let res = group_members::Entity::delete_many()
        .filter(group_members::Column::GroupId.eq(group_row.id))
        .filter(group_members::Column::MemberId.eq(member_row.id))
        .exec(db)
        .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(res.rows_affected > 0)
}

/// The direct members of a group, users and groups, by name.
pub async fn list_members<C: ConnectionTrait>(
    db: &C,
    group: &str,
) -> QueryResult<Vec<(String, MemberType)>> {
    let group_row = get_entity(db, Collection::Groups, group).await?;
    members_of(db, group_row.id).await
}

pub(crate) async fn members_of<C: ConnectionTrait>(
    db: &C,
    group_id: i64,
) -> QueryResult<Vec<(String, MemberType)>> {
    let rows = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .order_by_asc(group_members::Column::Id)
        .all(db)
        .await?;
    let names = names_by_id(db, rows.iter().map(|r| r.member_id)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(name) = names.get(&row.member_id) {
            out.push((name.clone(), row.member_type.parse()?));
        }
    }
    Ok(out)
}

/// Ids of every group inside `group_id`, at any depth (not including itself).
async fn group_descendants<C: ConnectionTrait>(
    db: &C,
    group_id: i64,
) -> QueryResult<BTreeSet<i64>> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([group_id]);
    while let Some(g) = queue.pop_front() {
        let children = group_members::Entity::find()
            .filter(group_members::Column::GroupId.eq(g))
            .filter(group_members::Column::MemberType.eq(MemberType::Group.as_str()))
            .all(db)
            .await?;
        for child in children {
            if seen.insert(child.member_id) {
                queue.push_back(child.member_id);
            }
        }
    }
    Ok(seen)
}

/// Every group a user or group belongs to, directly or through other groups, by name.
pub async fn groups_containing<C: ConnectionTrait>(
    db: &C,
    member: &str,
    member_type: MemberType,
) -> QueryResult<BTreeSet<String>> {
    let start = get_entity(db, member_collection(member_type), member).await?;
    let edges = group_members::Entity::find().all(db).await?;
    let mut parents: HashMap<i64, Vec<i64>> = HashMap::new();
    for e in &edges {
        parents.entry(e.member_id).or_default().push(e.group_id);
    }
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start.id]);
    while let Some(id) = queue.pop_front() {
        for p in parents.get(&id).into_iter().flatten() {
            if seen.insert(*p) {
                queue.push_back(*p);
            }
        }
    }
    Ok(names_by_id(db, seen).await?.into_values().collect())
}

/// Every membership edge `(group id, member id, member type)`, for building indexes.
pub async fn all_memberships<C: ConnectionTrait>(db: &C) -> QueryResult<Vec<group_members::Model>> {
    Ok(group_members::Entity::find()
        .order_by_asc(group_members::Column::Id)
        .all(db)
        .await?)
}
