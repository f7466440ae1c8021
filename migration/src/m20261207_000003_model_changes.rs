//! The database's own record of what changed in the Thing model, so that a server process can
//! keep its in-memory model exact by reading only that:
//! - `model_changes`: triggers add the id of every entity whose definitions changed (its
//!   entity row, its Thing or ThingTemplate row, its property definitions, the shapes it
//!   implements, a deleted value). The change sequence's stamp gives unstamped rows the new
//!   sequence value in the statement that bumps it, so a reader that sees a sequence value sees
//!   every change it covers; rows older than 1,000 values are dropped (a reader further behind
//!   reads everything again).
//! - `value_sequence`: a single-row counter bumped by every property value written (insert or
//!   update of a value, its time or its quality), whose new value is stamped on the row
//!   (`property_values.seq`), so a reader that saw value sequence `n` reads the values written
//!   since as `seq > n`. The bump holds the counter's row until commit, so sequence values are
//!   committed in order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many change sequence values `model_changes` keeps.
pub const KEPT: i64 = 1_000;

/// The tables whose changes change a Thing's effective definitions: the table, the column
/// naming the entity, and the columns an update must change to count (none: every update).
const WATCHED: &[(&str, &str, &[&str])] = &[
    ("entities", "id", &["collection", "name"]),
    ("things", "entity_id", &["thing_template"]),
    ("thing_templates", "entity_id", &["base_thing_template"]),
    ("implemented_shapes", "entity_id", &[]),
    ("property_definitions", "entity_id", &[]),
];

/// The columns of `property_values` whose update is a new value.
const VALUE_COLUMNS: &[&str] = &["base_type", "value", "value_time", "quality"];

/// One trigger: its name, its table, the statement that creates it.
struct Trigger {
    name: String,
    table: &'static str,
    create: String,
}

/// An update's condition: one of `columns` changed (`differs` spells "is distinct from").
fn changed(columns: &[&str], differs: &str) -> String {
    columns
        .iter()
        .map(|c| format!("OLD.{c} {differs} NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The stamp, with `{value}` the new change sequence value.
fn stamp(value: &str) -> String {
    format!(
        "UPDATE model_changes SET seq = {value} WHERE seq IS NULL; \
         DELETE FROM model_changes WHERE seq <= {value} - {KEPT}; "
    )
}

fn sqlite_triggers() -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for (table, id, columns) in WATCHED {
        let update = if columns.is_empty() {
            String::new()
        } else {
            format!("WHEN {} ", changed(columns, "IS NOT"))
        };
        for (tag, event, when, row) in [
            ("insert", "INSERT", "", "NEW"),
            ("update", "UPDATE", update.as_str(), "NEW"),
            ("delete", "DELETE", "", "OLD"),
        ] {
            let name = format!("model_changes_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when}\
                     BEGIN INSERT INTO model_changes (entity_id) VALUES ({row}.{id}); END"
                ),
                name,
                table,
            });
        }
    }
    triggers.push(Trigger {
        name: "model_changes_property_values_delete".into(),
        table: "property_values",
        create: "CREATE TRIGGER model_changes_property_values_delete AFTER DELETE ON \
                 property_values FOR EACH ROW BEGIN \
                 INSERT INTO model_changes (entity_id) VALUES (OLD.entity_id); END"
            .into(),
    });
    triggers.push(Trigger {
        name: "model_changes_stamp".into(),
        table: "change_sequence",
        create: format!(
            "CREATE TRIGGER model_changes_stamp AFTER UPDATE OF value ON change_sequence \
             BEGIN {}END",
            stamp("NEW.value")
        ),
    });
    let bump = "UPDATE value_sequence SET value = value + 1 WHERE id = 1; \
                UPDATE property_values SET seq = (SELECT value FROM value_sequence WHERE id = 1) \
                WHERE id = NEW.id; ";
    triggers.push(Trigger {
        name: "value_sequence_insert".into(),
        table: "property_values",
        create: format!(
            "CREATE TRIGGER value_sequence_insert AFTER INSERT ON property_values \
             FOR EACH ROW BEGIN {bump}END"
        ),
    });
    triggers.push(Trigger {
        name: "value_sequence_update".into(),
        table: "property_values",
        create: format!(
            "CREATE TRIGGER value_sequence_update AFTER UPDATE OF {} ON property_values \
             FOR EACH ROW BEGIN {bump}END",
            VALUE_COLUMNS.join(", ")
        ),
    });
    triggers
}

/// The trigger functions of PostgreSQL: the entity of a changed row, the stamp, the value bump.
fn postgres_functions() -> Vec<String> {
    let mut functions: Vec<String> = WATCHED
        .iter()
        .map(|(table, id, _)| {
            format!(
                "CREATE FUNCTION model_changes_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN \
                 IF TG_OP IN ('UPDATE', 'DELETE') THEN \
                 INSERT INTO model_changes (entity_id) SELECT DISTINCT {id} FROM old_rows; END IF; \
                 IF TG_OP IN ('INSERT', 'UPDATE') THEN \
                 INSERT INTO model_changes (entity_id) SELECT DISTINCT {id} FROM new_rows; END IF; \
                 RETURN NULL; END $$"
            )
        })
        .collect();
    functions.extend(
        WATCHED
            .iter()
            .filter(|(_, _, columns)| !columns.is_empty())
            .map(|(table, id, _)| {
                format!(
                    "CREATE FUNCTION model_changes_row_{table}() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     INSERT INTO model_changes (entity_id) VALUES (NEW.{id}); \
                     RETURN NULL; END $$"
                )
            }),
    );
    functions.push(
        "CREATE FUNCTION model_changes_property_values() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO model_changes (entity_id) SELECT DISTINCT entity_id FROM old_rows; \
         RETURN NULL; END $$"
            .into(),
    );
    functions.push(format!(
        "CREATE FUNCTION model_changes_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         {}RETURN NULL; END $$",
        stamp("NEW.value")
    ));
    functions.push(
        "CREATE FUNCTION value_sequence_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         UPDATE value_sequence SET value = value + 1 WHERE id = 1 RETURNING value INTO NEW.seq; \
         RETURN NEW; END $$"
            .into(),
    );
    functions
}

/// On PostgreSQL, statement triggers over transition tables for inserts and deletes (one
/// insert per statement and entity, not per row), a row trigger where an update must change a
/// column to count (a statement trigger otherwise), and a row trigger that stamps each written
/// value.
fn postgres_triggers() -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for (table, _, columns) in WATCHED {
        let mut events = vec![
            ("insert", "INSERT", "NEW TABLE AS new_rows"),
            ("delete", "DELETE", "OLD TABLE AS old_rows"),
        ];
        if columns.is_empty() {
            events.push((
                "update",
                "UPDATE",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            ));
        } else {
            let name = format!("model_changes_{table}_update");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW WHEN ({}) \
                     EXECUTE FUNCTION model_changes_row_{table}()",
                    changed(columns, "IS DISTINCT FROM")
                ),
                name,
                table,
            });
        }
        for (tag, event, tables) in events {
            let name = format!("model_changes_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} \
                     FOR EACH STATEMENT EXECUTE FUNCTION model_changes_{table}()"
                ),
                name,
                table,
            });
        }
    }
    triggers.push(Trigger {
        name: "model_changes_property_values_delete".into(),
        table: "property_values",
        create: "CREATE TRIGGER model_changes_property_values_delete AFTER DELETE ON \
                 property_values REFERENCING OLD TABLE AS old_rows \
                 FOR EACH STATEMENT EXECUTE FUNCTION model_changes_property_values()"
            .into(),
    });
    triggers.push(Trigger {
        name: "model_changes_stamp".into(),
        table: "change_sequence",
        create: "CREATE TRIGGER model_changes_stamp AFTER UPDATE OF value ON change_sequence \
                 FOR EACH ROW EXECUTE FUNCTION model_changes_stamp()"
            .into(),
    });
    triggers.push(Trigger {
        name: "value_sequence_insert".into(),
        table: "property_values",
        create: "CREATE TRIGGER value_sequence_insert BEFORE INSERT ON property_values \
                 FOR EACH ROW EXECUTE FUNCTION value_sequence_bump()"
            .into(),
    });
    triggers.push(Trigger {
        name: "value_sequence_update".into(),
        table: "property_values",
        create: format!(
            "CREATE TRIGGER value_sequence_update BEFORE UPDATE ON property_values \
             FOR EACH ROW WHEN ({}) EXECUTE FUNCTION value_sequence_bump()",
            changed(VALUE_COLUMNS, "IS DISTINCT FROM")
        ),
    });
    triggers
}

fn triggers(backend: DbBackend) -> Vec<Trigger> {
    match backend {
        DbBackend::Sqlite => sqlite_triggers(),
        DbBackend::Postgres => postgres_triggers(),
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("model_changes")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("seq"))
                    .col(big_integer("entity_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_model_changes_seq")
                    .table("model_changes")
                    .col("seq")
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("value_sequence")
                    .col(integer("id").primary_key())
                    .col(big_integer("value"))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        // Values written before this migration are not newer than anything a reader holds.
        db.execute_unprepared("INSERT INTO value_sequence (id, value) VALUES (1, 0)")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("property_values")
                    .add_column(big_integer("seq").default(0))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_property_values_seq")
                    .table("property_values")
                    .col("seq")
                    .take(),
            )
            .await?;
        let backend = db.get_database_backend();
        if backend == DbBackend::Postgres {
            for sql in postgres_functions() {
                db.execute_unprepared(&sql).await?;
            }
        }
        for trigger in triggers(backend) {
            db.execute_unprepared(&trigger.create).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        for Trigger { name, table, .. } in triggers(backend) {
            let drop = if backend == DbBackend::Postgres {
                format!("DROP TRIGGER IF EXISTS {name} ON {table}")
            } else {
                format!("DROP TRIGGER IF EXISTS {name}")
            };
            db.execute_unprepared(&drop).await?;
        }
        if backend == DbBackend::Postgres {
            let mut functions: Vec<String> = WATCHED
                .iter()
                .flat_map(|(table, _, columns)| {
                    let row = (!columns.is_empty()).then(|| format!("model_changes_row_{table}"));
                    std::iter::once(format!("model_changes_{table}")).chain(row)
                })
                .collect();
            functions.extend(
                [
                    "model_changes_property_values",
                    "model_changes_stamp",
                    "value_sequence_bump",
                ]
                .map(String::from),
            );
            for function in functions {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {function}()"))
                    .await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_property_values_seq")
                    .table("property_values")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("property_values")
                    .drop_column("seq")
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("value_sequence").if_exists().take())
            .await?;
        manager
            .drop_table(Table::drop().table("model_changes").if_exists().take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
