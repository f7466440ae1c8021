//! A configuration table of an entity (shared tables belong to templates).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "configuration_tables")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub entity_id: i64,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    pub is_shared: bool,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub is_multi_row: bool,
    pub ordinal: i32,
    #[sea_orm(column_type = "Text")]
    pub data_shape_name: String,
    pub is_hidden: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub field_definitions: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub rows: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
