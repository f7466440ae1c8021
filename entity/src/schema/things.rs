//! The Thing part of an entity.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "things")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity_id: i64,
    #[sea_orm(column_type = "Text")]
    pub thing_template: String,
    pub enabled: bool,
    pub published: bool,
    #[sea_orm(column_type = "Text")]
    pub identifier: String,
    #[sea_orm(column_type = "Text")]
    pub value_stream: String,
    #[sea_orm(column_type = "Text")]
    pub inherited_value_stream: String,
    #[sea_orm(column_type = "Text")]
    pub thing_package: String,
    #[sea_orm(column_type = "Text")]
    pub effective_thing_package: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
