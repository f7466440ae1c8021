//! The security log (`security_log`): one row per authentication event (a login that opens a
//! session, a refused login, Basic credential or application key, a lockout, a session's end),
//! with who was named, from which client address, through which door and why. It never holds a
//! secret (no password, key value or session token). Old rows are removed by the audit
//! retention.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("security_log")
                    .col(big_pk_auto("id"))
                    .col(big_integer("at"))
                    .col(text("user_name"))
                    .col(text("kind"))
                    .col(text("address"))
                    .col(text("door"))
                    .col(text("organization"))
                    .col(text("entity"))
                    .col(text("message"))
                    .col(text("process"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_log_at")
                    .table("security_log")
                    .col("at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("security_log").if_exists().take())
            .await
    }
}
