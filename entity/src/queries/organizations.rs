//! Organizations: their login page, their tree of units (the root unit carries the
//! organization's name) and the members (users and groups) of each unit.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::queries::entities::{EntityFields, EntityRow, get_entity, insert_entity, names_by_id};
use crate::queries::{QueryError, QueryResult};
use crate::schema::{organizational_unit_members, organizational_units, organizations};
use crate::vocab::{Collection, MemberType, UnitName};

pub use crate::schema::organizations::Model as OrganizationRow;

/// The login page of an organization, as ThingWorx exports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginPage {
    /// The prompt shown above the form.
    pub login_prompt: String,
    /// A base64 image.
    pub login_image: String,
    /// The style definition of the page.
    pub login_style: String,
    /// The style of the button.
    pub login_button_style: String,
    /// Whether the page offers a password reset.
    pub login_reset_password: bool,
    /// The mashup shown on mobile devices.
    pub mobile_mashup: String,
    /// The password-reset mail body (HTML).
    pub reset_mail_content: String,
    /// The mail server used for password resets.
    pub reset_mail_server: String,
    /// The password-reset mail subject.
    pub reset_mail_subject: String,
}

/// One unit of an organization's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// The unit name (unique in its organization).
    pub name: String,
    /// The parent unit, `None` for the root unit.
    pub parent: Option<String>,
    /// Free text.
    pub description: String,
}

/// Creates an organization with its root unit (named like the organization).
pub async fn create_organization<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fields: &EntityFields,
    login: &LoginPage,
) -> QueryResult<EntityRow> {
    UnitName::parse(name)?;
    let entity = insert_entity(db, Collection::Organizations, name, fields).await?;
    login_active(entity.id, login).insert(db).await?;
    organizational_units::ActiveModel {
        organization_id: Set(entity.id),
        name: Set(name.to_owned()),
        description: Set(String::new()),
        parent_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(entity)
}

fn login_active(entity_id: i64, login: &LoginPage) -> organizations::ActiveModel {
    organizations::ActiveModel {
        entity_id: Set(entity_id),
        login_prompt: Set(login.login_prompt.clone()),
        login_image: Set(login.login_image.clone()),
        login_style: Set(login.login_style.clone()),
        login_button_style: Set(login.login_button_style.clone()),
        login_reset_password: Set(login.login_reset_password),
        mobile_mashup: Set(login.mobile_mashup.clone()),
        reset_mail_content: Set(login.reset_mail_content.clone()),
        reset_mail_server: Set(login.reset_mail_server.clone()),
        reset_mail_subject: Set(login.reset_mail_subject.clone()),
    }
}

/// The login page of an organization.
pub async fn login_page<C: ConnectionTrait>(db: &C, organization: &str) -> QueryResult<LoginPage> {
    let entity = get_entity(db, Collection::Organizations, organization).await?;
    let row = organizations::Entity::find_by_id(entity.id)
        .one(db)
        .await?
        .ok_or_else(|| QueryError::not_found(Collection::Organizations, organization))?;
    Ok(LoginPage {
        login_prompt: row.login_prompt,
        login_image: row.login_image,
        login_style: row.login_style,
        login_button_style: row.login_button_style,
        login_reset_password: row.login_reset_password,
        mobile_mashup: row.mobile_mashup,
        reset_mail_content: row.reset_mail_content,
        reset_mail_server: row.reset_mail_server,
        reset_mail_subject: row.reset_mail_subject,
    })
}

/// Replaces the login page of an organization.
pub async fn set_login_page<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    login: &LoginPage,
) -> QueryResult<()> {
    let entity = get_entity(db, Collection::Organizations, organization).await?;
    let mut active = login_active(entity.id, login);
    active.entity_id = sea_orm::ActiveValue::Unchanged(entity.id);
    active.update(db).await?;
    Ok(())
}

async fn unit_row<C: ConnectionTrait>(
    db: &C,
    organization_id: i64,
    organization: &str,
    unit: &str,
) -> QueryResult<organizational_units::Model> {
    organizational_units::Entity::find()
        .filter(organizational_units::Column::OrganizationId.eq(organization_id))
        .filter(organizational_units::Column::Name.eq(unit))
        .one(db)
        .await?
        .ok_or_else(|| QueryError::NotFound {
            what: format!("organizational unit of {organization}"),
            name: unit.to_owned(),
        })
}

/// Adds unit `name` below `parent` (the organization's name for the root unit).
pub async fn add_unit<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    parent: &str,
    name: &str,
    description: &str,
) -> QueryResult<()> {
    UnitName::parse(name)?;
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let parent_row = unit_row(db, org.id, organization, parent).await?;
    organizational_units::ActiveModel {
        organization_id: Set(org.id),
        name: Set(name.to_owned()),
        description: Set(description.to_owned()),
        parent_id: Set(Some(parent_row.id)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| QueryError::conflict_or(e, "organizational unit", name))?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// Removes a unit and every unit below it. The root unit cannot be removed.
pub async fn remove_unit<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    name: &str,
) -> QueryResult<()> {
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let row = unit_row(db, org.id, organization, name).await?;
    if row.parent_id.is_none() {
        return Err(QueryError::Refused(format!(
            "the root unit of organization '{organization}' cannot be removed"
        )));
    }
    organizational_units::Entity::delete_by_id(row.id)
        .exec(db)
        .await?;
    crate::queries::permissions::delete_rules_naming(
        db,
        crate::vocab::PrincipalType::OrganizationalUnit,
        &crate::vocab::unit_principal_name(organization, name),
    )
    .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(())
}

/// The units of an organization, by name, each with its parent.
pub async fn list_units<C: ConnectionTrait>(db: &C, organization: &str) -> QueryResult<Vec<Unit>> {
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let rows = organizational_units::Entity::find()
        .filter(organizational_units::Column::OrganizationId.eq(org.id))
        .order_by_asc(organizational_units::Column::Name)
        .all(db)
        .await?;
    let names: HashMap<i64, String> = rows.iter().map(|r| (r.id, r.name.clone())).collect();
    Ok(rows
        .into_iter()
        .map(|r| Unit {
            parent: r.parent_id.and_then(|p| names.get(&p).cloned()),
            name: r.name,
            description: r.description,
        })
        .collect())
}

/// Adds `member` to a unit; adding an existing member changes nothing.
pub async fn add_unit_member<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    unit: &str,
    member: &str,
    member_type: MemberType,
) -> QueryResult<()> {
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let unit_row = unit_row(db, org.id, organization, unit).await?;
    let collection = match member_type {
        MemberType::User => Collection::Users,
        MemberType::Group => Collection::Groups,
    };
    let member_row = get_entity(db, collection, member).await?;
    let exists = organizational_unit_members::Entity::find()
        .filter(organizational_unit_members::Column::UnitId.eq(unit_row.id))
        .filter(organizational_unit_members::Column::MemberId.eq(member_row.id))
        .one(db)
        .await?;
    if exists.is_none() {
        organizational_unit_members::ActiveModel {
            unit_id: Set(unit_row.id),
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

/// Removes `member` from a unit; returns whether it was a member.
pub async fn remove_unit_member<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    unit: &str,
    member: &str,
) -> QueryResult<bool> {
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let unit_row = unit_row(db, org.id, organization, unit).await?;
    let members = list_unit_members(db, organization, unit).await?;
    let Some((_, member_type)) = members.iter().find(|(n, _)| n == member) else {
        return Ok(false);
    };
    let collection = match member_type {
        MemberType::User => Collection::Users,
        MemberType::Group => Collection::Groups,
    };
    let member_row = get_entity(db, collection, member).await?;
    let res = organizational_unit_members::Entity::delete_many()
        .filter(organizational_unit_members::Column::UnitId.eq(unit_row.id))
        .filter(organizational_unit_members::Column::MemberId.eq(member_row.id))
        .exec(db)
        .await?;
    crate::queries::audit::bump_sequence(db).await?;
    Ok(res.rows_affected > 0)
}

/// The direct members of a unit, by insertion order.
pub async fn list_unit_members<C: ConnectionTrait>(
    db: &C,
    organization: &str,
    unit: &str,
) -> QueryResult<Vec<(String, MemberType)>> {
    let org = get_entity(db, Collection::Organizations, organization).await?;
    let unit_row = unit_row(db, org.id, organization, unit).await?;
    let rows = organizational_unit_members::Entity::find()
        .filter(organizational_unit_members::Column::UnitId.eq(unit_row.id))
        .order_by_asc(organizational_unit_members::Column::Id)
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

/// The unit rows of the organization of entity id `organization_id`, or of every organization
/// when `None`.
pub async fn unit_rows<C: ConnectionTrait>(
    db: &C,
    organization_id: Option<i64>,
) -> QueryResult<Vec<organizational_units::Model>> {
    let mut query = organizational_units::Entity::find();
    if let Some(id) = organization_id {
        query = query.filter(organizational_units::Column::OrganizationId.eq(id));
    }
    Ok(query.all(db).await?)
}
