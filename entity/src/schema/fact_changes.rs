//! What each security change touched: the entity whose rules changed, or 0 for anything else;
//! `seq` is the change sequence value of the change's transaction (unset until it bumps).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "fact_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub seq: Option<i64>,
    pub entity_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
