//! On PostgreSQL, a statement that changes no row of a table the index is built from no longer
//! records a change: the statement triggers of those tables (which fired once per statement,
//! rows or not, and so made the next refresh read everything) become one trigger per event
//! that reads the statement's transition table and records a change only when it holds a row.
//! Cascaded deletes count as the rows they delete. SQLite's triggers fire per row already.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose statement trigger is replaced, with the events it fired on: every update
/// counts where the table has no column list (an update of the others is counted by their row
/// triggers, which stay).
const TABLES: &[(&str, bool)] = &[
    ("entities", false),
    ("things", false),
    ("thing_templates", false),
    ("implemented_shapes", true),
    ("group_members", true),
    ("organizational_units", false),
    ("organizational_unit_members", true),
    ("collection_permissions", true),
];

/// Records "read everything" when the statement's transition table holds a row.
const FUNCTION: &str = "CREATE FUNCTION fact_changes_of_rows() RETURNS trigger LANGUAGE plpgsql \
     AS $$ BEGIN \
     IF TG_OP = 'INSERT' THEN \
     INSERT INTO fact_changes (entity_id) SELECT 0 WHERE EXISTS (SELECT 1 FROM new_rows); \
     ELSE \
     INSERT INTO fact_changes (entity_id) SELECT 0 WHERE EXISTS (SELECT 1 FROM old_rows); \
     END IF; RETURN NULL; END $$";

/// The triggers that replace `fact_changes_<table>`: (name, event, transition tables, function).
fn triggers(table: &str, updates: bool) -> Vec<(String, &'static str, &'static str, &'static str)> {
    let mut triggers = vec![
        (
            format!("fact_changes_{table}_rows_insert"),
            "INSERT",
            "REFERENCING NEW TABLE AS new_rows ",
            "fact_changes_of_rows",
        ),
        (
            format!("fact_changes_{table}_rows_delete"),
            "DELETE",
            "REFERENCING OLD TABLE AS old_rows ",
            "fact_changes_of_rows",
        ),
        (
            format!("fact_changes_{table}_truncate"),
            "TRUNCATE",
            "",
            "fact_changes_of_anything",
        ),
    ];
    if updates {
        triggers.push((
            format!("fact_changes_{table}_rows_update"),
            "UPDATE",
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows ",
            "fact_changes_of_rows",
        ));
    }
    triggers
}

/// The statement trigger the earlier migration created on `table`.
fn statement_trigger(table: &str, updates: bool) -> String {
    let events = if updates {
        "INSERT OR UPDATE OR DELETE OR TRUNCATE"
    } else {
        "INSERT OR DELETE OR TRUNCATE"
    };
    format!(
        "CREATE TRIGGER fact_changes_{table} AFTER {events} ON {table} \
         FOR EACH STATEMENT EXECUTE FUNCTION fact_changes_of_anything()"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(FUNCTION).await?;
        for &(table, updates) in TABLES {
            db.execute_unprepared(&format!("DROP TRIGGER fact_changes_{table} ON {table}"))
                .await?;
            for (name, event, tables, function) in triggers(table, updates) {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} {tables}\
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for &(table, updates) in TABLES {
            for (name, ..) in triggers(table, updates) {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name} ON {table}"))
                    .await?;
            }
            db.execute_unprepared(&statement_trigger(table, updates))
                .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS fact_changes_of_rows()")
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
