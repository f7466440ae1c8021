//! Localization tokens: one value per token and table; tables are entities named after a
//! language (`de`, `pt-BR`) or `Default`.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use crate::queries::QueryResult;
use crate::queries::entities::{find_entity, get_entity};
use crate::schema::localization_tokens;
use crate::vocab::{Collection, MemberName};

/// Adds or replaces a token of a localization table.
pub async fn set_token<C: ConnectionTrait>(
    db: &C,
    table: &str,
    name: &str,
    value: &str,
) -> QueryResult<()> {
    MemberName::parse(name)?;
    let entity = get_entity(db, Collection::LocalizationTables, table).await?;
    let existing = localization_tokens::Entity::find()
        .filter(localization_tokens::Column::EntityId.eq(entity.id))
        .filter(localization_tokens::Column::Name.eq(name))
        .one(db)
        .await?;
    match existing {
        Some(row) => {
            let mut active: localization_tokens::ActiveModel = row.into();
            active.value = Set(value.to_owned());
            active.update(db).await?;
        }
        None => {
            localization_tokens::ActiveModel {
                entity_id: Set(entity.id),
                name: Set(name.to_owned()),
                value: Set(value.to_owned()),
                description: Set(String::new()),
                context: Set(String::new()),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// The value of a token in one table, if the table exists and holds it.
pub async fn token<C: ConnectionTrait>(
    db: &C,
    table: &str,
    name: &str,
) -> QueryResult<Option<String>> {
    let Some(entity) = find_entity(db, Collection::LocalizationTables, table).await? else {
        return Ok(None);
    };
    Ok(localization_tokens::Entity::find()
        .filter(localization_tokens::Column::EntityId.eq(entity.id))
        .filter(localization_tokens::Column::Name.eq(name))
        .one(db)
        .await?
        .map(|t| t.value))
}

/// The ids of the tokens of localization table `entity_id`, by token name.
pub async fn token_ids<C: ConnectionTrait>(
    db: &C,
    entity_id: i64,
) -> QueryResult<std::collections::HashMap<String, i64>> {
    Ok(localization_tokens::Entity::find()
        .filter(localization_tokens::Column::EntityId.eq(entity_id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect())
}
