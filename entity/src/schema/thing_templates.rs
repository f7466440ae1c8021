//! The ThingTemplate part of an entity: its base in the template chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "thing_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity_id: i64,
    #[sea_orm(column_type = "Text")]
    pub base_thing_template: String,
    #[sea_orm(column_type = "Text")]
    pub thing_package: String,
    #[sea_orm(column_type = "Text")]
    pub effective_thing_package: String,
    #[sea_orm(column_type = "Text")]
    pub value_stream: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
