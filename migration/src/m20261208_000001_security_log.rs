//! The security log (`security_log`): one row per authentication event (a login that opens a
//! session, a refused login, Basic credential or application key, a lockout, a session's end),
//! with who was named, from which client address, through which door and why. It never holds a
//! secret (no password, key value or session token). Old rows are removed by the audit
//! retention.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table's name.
const TABLE: &str = "security_log";

/// Its text columns, after `id` and `at`.
const TEXT_COLUMNS: &[&str] = &[
    "user_name",
    "kind",
    "address",
    "door",
    "organization",
    "entity",
    "message",
    "process",
];

/// The table: an id, the instant in milliseconds, the text columns.
fn table() -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(TABLE)
        .col(big_pk_auto("id"))
        .col(big_integer("at"));
    for column in TEXT_COLUMNS {
        table.col(text(*column));
    }
    table.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(table()).await?;
        let by_time = Index::create()
            .name("idx_security_log_at")
            .table(TABLE)
            .col("at")
            .take();
        manager.create_index(by_time).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = Table::drop().table(TABLE).if_exists().take();
        manager.drop_table(drop).await
    }
}
