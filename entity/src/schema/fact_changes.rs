//! What security changes touched, filled by triggers: the entity whose rules changed, 0 for
//! anything else, -1 for the marker of a sequence value (with its random `mark`). `seq` is the
//! change sequence value of the first bump after the change (unset until then); a bump stamps
//! every unstamped row it sees in the statement that bumps.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "fact_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub seq: Option<i64>,
    pub entity_id: i64,
    pub mark: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
