//! The full audit record of row changes, filled by triggers: one row per changed row of a
//! recorded table, with the kept columns before and after as JSON text (`I`nsert, `U`pdate,
//! `D`elete) and the database clock's instant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "model_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    #[sea_orm(column_type = "Text")]
    pub table_name: String,
    pub row_key: i64,
    #[sea_orm(column_type = "Text")]
    pub op: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub row_before: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub row_after: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
