//! The User part of an entity: credentials, state, preferences and login counters.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity_id: i64,
    pub enabled: bool,
    pub locked: bool,
    pub locked_until: Option<i64>,
    pub login_allowed: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub password_algorithm: String,
    pub password_iterations: i32,
    pub password_salt_bytes: i32,
    pub password_hash_bytes: i32,
    pub password_changed_at: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub language_preferences: String,
    pub failed_login_count: i32,
    pub failed_login_window_start: Option<i64>,
    pub last_login_at: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub mobile_mashup: String,
    #[sea_orm(column_type = "Text")]
    pub scim_id: String,
    #[sea_orm(column_type = "Text")]
    pub scim_external_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The entity row of the user.
    #[sea_orm(
        belongs_to = "super::entities::Entity",
        from = "Column::EntityId",
        to = "super::entities::Column::Id"
    )]
    Entity,
}

impl Related<super::entities::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Entity.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
