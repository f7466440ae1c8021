//! One tick of a Timer or Scheduler Thing, claimed by the server process that fires it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "timer_ticks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub thing_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tick: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
