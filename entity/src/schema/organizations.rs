//! The Organization part of an entity: its login page.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity_id: i64,
    #[sea_orm(column_type = "Text")]
    pub login_prompt: String,
    #[sea_orm(column_type = "Text")]
    pub login_image: String,
    #[sea_orm(column_type = "Text")]
    pub login_style: String,
    #[sea_orm(column_type = "Text")]
    pub login_button_style: String,
    pub login_reset_password: bool,
    #[sea_orm(column_type = "Text")]
    pub mobile_mashup: String,
    #[sea_orm(column_type = "Text")]
    pub reset_mail_content: String,
    #[sea_orm(column_type = "Text")]
    pub reset_mail_server: String,
    #[sea_orm(column_type = "Text")]
    pub reset_mail_subject: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
