//! An entity of any collection, with the attributes every ThingWorx entity carries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "entities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub collection: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub documentation_content: String,
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    #[sea_orm(column_type = "Text")]
    pub project_name: String,
    /// The owning user or group (cleared when it is deleted).
    pub owner_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub home_mashup: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub avatar: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub aspects: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub content: Option<Json>,
    pub is_system: bool,
    pub created_at: i64,
    pub last_modified_date: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        super::users::Relation::Entity.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
