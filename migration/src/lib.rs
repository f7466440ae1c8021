//! Database migrations: one file per migration, applied in order on SQLite and PostgreSQL.
//! A landed migration is never edited; a change to the model is a new file.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_model;
mod m20261204_000001_fact_changes;
mod m20261205_000001_fact_changes_of_rows;
mod m20261207_000001_owner_ids;
mod m20261207_000002_login_failures;
mod m20261207_000003_model_changes;
mod m20261207_000004_model_history;
mod m20261207_000023_timer_ticks;
mod m20261208_000001_security_log;

/// Applies every migration of the model.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_model::Migration),
            Box::new(m20261204_000001_fact_changes::Migration),
            Box::new(m20261205_000001_fact_changes_of_rows::Migration),
            Box::new(m20261207_000001_owner_ids::Migration),
            Box::new(m20261207_000002_login_failures::Migration),
            Box::new(m20261207_000003_model_changes::Migration),
            Box::new(m20261207_000004_model_history::Migration),
            Box::new(m20261207_000023_timer_ticks::Migration),
            Box::new(m20261208_000001_security_log::Migration),
        ]
    }
}
