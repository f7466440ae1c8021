//! Failed password logins counted per user and client address (`login_failures`), so that
//! repeated failures lock a user for that address only and every server process sharing the
//! database sees the same counters. A row disappears with its user.

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
                    .table("login_failures")
                    .col(big_integer("user_id"))
                    .col(text("client"))
                    .col(integer("failures").default(0))
                    .col(big_integer("window_start"))
                    .col(big_integer_null("locked_until"))
                    .primary_key(Index::create().col("user_id").col("client"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_login_failures_user_id")
                            .from("login_failures", "user_id")
                            .to("users", "entity_id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("login_failures").if_exists().take())
            .await
    }
}
