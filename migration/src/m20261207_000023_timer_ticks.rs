//! The ticks of Timer and Scheduler Things (`timer_ticks`): the server process whose insert of
//! (Thing, tick) succeeds fires that tick, so processes sharing one database fire each tick
//! once. A row disappears with its Thing; old rows are removed by the firing processes.

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
                    .table("timer_ticks")
                    .col(big_integer("thing_id"))
                    .col(big_integer("tick"))
                    .primary_key(Index::create().col("thing_id").col("tick"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_timer_ticks_thing_id")
                            .from("timer_ticks", "thing_id")
                            .to("entities", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("timer_ticks").if_exists().take())
            .await
    }
}
