//! One security change, append-only (the database refuses updates and deletes).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub change_seq: i64,
    #[sea_orm(column_type = "Text")]
    pub actor: String,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text")]
    pub target_collection: String,
    #[sea_orm(column_type = "Text")]
    pub target_name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Option<Json>,
    /// Through which door the change was made (`REST <service>`, `import`, `cli`, `console`).
    #[sea_orm(column_type = "Text")]
    pub door: String,
    /// The client address of the request that made it, when there was one.
    #[sea_orm(column_type = "Text")]
    pub address: String,
    /// The server process that made it (`<pid>@<host>`).
    #[sea_orm(column_type = "Text")]
    pub process: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
