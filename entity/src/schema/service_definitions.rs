//! A service signature defined on an entity.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "service_definitions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub entity_id: i64,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub category: String,
    pub is_allow_override: bool,
    pub is_local_only: bool,
    pub is_open: bool,
    pub is_private: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub aspects: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub result_type: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub parameters: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
