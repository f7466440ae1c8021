//! The ApplicationKey part of an entity: the key is stored hashed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "application_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity_id: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub key_hash: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub key_sealed: Option<String>,
    pub user_id: Option<i64>,
    pub expiration_date: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub client_name: String,
    #[sea_orm(column_type = "Text")]
    pub ip_whitelist: String,
    pub last_used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
