//! The database's own record of what each security change touched, so that a server process can
//! bring its authorization index up to date by reading only that. Triggers on every table the
//! index is built from add a row to `fact_changes`: the entity id for a change to an entity's
//! rules, 0 for anything else (read everything). A trigger on the change sequence gives every
//! unstamped row the new sequence value in the same statement as the bump, so that a reader
//! that sees a value sees what it covers: one row with 0 instead of all of them when anything
//! but rules changed, then a marker row (entity -1) with a random `mark` that tells this
//! history from another one (a restored backup, a promoted standby), and drops rows older than
//! 1,000 values.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The other tables the index is built from: any change to them means "read everything". With
/// each, the columns an update must change to count (none listed: every update counts).
const WHOLE: &[(&str, &[&str])] = &[
    ("entities", &["collection", "name", "owner_name"]),
    ("things", &["thing_template"]),
    ("thing_templates", &["base_thing_template"]),
    ("implemented_shapes", &[]),
    ("group_members", &[]),
    (
        "organizational_units",
        &["organization_id", "name", "parent_id"],
    ),
    ("organizational_unit_members", &[]),
    ("collection_permissions", &[]),
];

/// How many change sequence values `fact_changes` keeps.
const KEPT: i64 = 1_000;

/// What the stamp does, in order, with `{value}` the new sequence value and `{mark}` a random
/// 64-bit number (SQL common to both databases).
const STAMP: &[&str] = &[
    "INSERT INTO fact_changes (seq, entity_id) SELECT {value}, 0 WHERE EXISTS \
     (SELECT 1 FROM fact_changes WHERE seq IS NULL AND entity_id = 0)",
    "DELETE FROM fact_changes WHERE seq IS NULL AND EXISTS \
     (SELECT 1 FROM fact_changes WHERE seq = {value} AND entity_id = 0)",
    "UPDATE fact_changes SET seq = {value} WHERE seq IS NULL",
    "INSERT INTO fact_changes (seq, entity_id, mark) VALUES ({value}, -1, {mark})",
    "DELETE FROM fact_changes WHERE seq <= {value} - {kept}",
];

fn stamp(value: &str, mark: &str) -> String {
    STAMP
        .iter()
        .map(|sql| {
            sql.replace("{value}", value)
                .replace("{mark}", mark)
                .replace("{kept}", &KEPT.to_string())
                + "; "
        })
        .collect()
}

/// An update's condition: one of `columns` changed (`differs` spells "is distinct from").
fn changed(columns: &[&str], differs: &str) -> String {
    columns
        .iter()
        .map(|c| format!("OLD.{c} {differs} NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// One trigger: its name, its table, the statement that creates it.
struct Trigger {
    name: String,
    table: &'static str,
    create: String,
}

fn sqlite_triggers() -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for (op, rows) in [
        ("INSERT", &["NEW"][..]),
        ("UPDATE", &["OLD", "NEW"][..]),
        ("DELETE", &["OLD"][..]),
    ] {
        let name = format!("fact_changes_entity_permissions_{}", op.to_lowercase());
        let inserts: String = rows
            .iter()
            .map(|r| format!("INSERT INTO fact_changes (entity_id) VALUES ({r}.entity_id); "))
            .collect();
        triggers.push(Trigger {
            create: format!(
                "CREATE TRIGGER {name} AFTER {op} ON entity_permissions BEGIN {inserts}END"
            ),
            name,
            table: "entity_permissions",
        });
    }
    for (table, columns) in WHOLE {
        let update = if columns.is_empty() {
            String::new()
        } else {
            format!("WHEN {} ", changed(columns, "IS NOT"))
        };
        for (tag, event, when) in [
            ("insert", "INSERT", ""),
            ("update", "UPDATE", update.as_str()),
            ("delete", "DELETE", ""),
        ] {
            let name = format!("fact_changes_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when}\
                     BEGIN INSERT INTO fact_changes (entity_id) VALUES (0); END"
                ),
                name,
                table,
            });
        }
    }
    triggers.push(Trigger {
        name: "fact_changes_stamp".into(),
        table: "change_sequence",
        create: format!(
            "CREATE TRIGGER fact_changes_stamp AFTER UPDATE OF value ON change_sequence \
             BEGIN {}END",
            stamp("NEW.value", "random()")
        ),
    });
    triggers
}

/// The trigger functions of PostgreSQL: the entities of the changed rules, 0, the stamp.
fn postgres_functions() -> Vec<String> {
    vec![
        "CREATE FUNCTION fact_changes_of_rules() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF TG_OP IN ('UPDATE', 'DELETE') THEN \
         INSERT INTO fact_changes (entity_id) SELECT DISTINCT entity_id FROM old_rows; END IF; \
         IF TG_OP IN ('INSERT', 'UPDATE') THEN \
         INSERT INTO fact_changes (entity_id) SELECT DISTINCT entity_id FROM new_rows; END IF; \
         RETURN NULL; END $$"
            .to_owned(),
        "CREATE FUNCTION fact_changes_of_anything() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         INSERT INTO fact_changes (entity_id) VALUES (0); RETURN NULL; END $$"
            .to_owned(),
        format!(
            "CREATE FUNCTION fact_changes_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             {}RETURN NULL; END $$",
            stamp("NEW.value", "(random() * 9.2e18)::bigint")
        ),
    ]
}

/// On PostgreSQL, statement triggers where a statement may write many rows (one row per
/// changed entity and statement, not per rule), row triggers where an update must change a
/// column to count.
fn postgres_triggers() -> Vec<Trigger> {
    // `tables`: the transition tables the function reads, if any (one event per trigger then).
    let statement =
        |name: String, table: &'static str, event: &str, tables: &str, function: &str| {
            let tables = if tables.is_empty() {
                String::new()
            } else {
                format!("REFERENCING {tables} ")
            };
            Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} {tables}\
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
                name,
                table,
            }
        };
    let mut triggers: Vec<Trigger> = [
        ("insert", "INSERT", "NEW TABLE AS new_rows"),
        (
            "update",
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
        ("delete", "DELETE", "OLD TABLE AS old_rows"),
    ]
    .into_iter()
    .map(|(tag, event, tables)| {
        statement(
            format!("fact_changes_entity_permissions_{tag}"),
            "entity_permissions",
            event,
            tables,
            "fact_changes_of_rules",
        )
    })
    .collect();
    triggers.push(statement(
        "fact_changes_entity_permissions_truncate".into(),
        "entity_permissions",
        "TRUNCATE",
        "",
        "fact_changes_of_anything",
    ));
    for (table, columns) in WHOLE {
        if columns.is_empty() {
            triggers.push(statement(
                format!("fact_changes_{table}"),
                table,
                "INSERT OR UPDATE OR DELETE OR TRUNCATE",
                "",
                "fact_changes_of_anything",
            ));
            continue;
        }
        triggers.push(statement(
            format!("fact_changes_{table}"),
            table,
            "INSERT OR DELETE OR TRUNCATE",
            "",
            "fact_changes_of_anything",
        ));
        let name = format!("fact_changes_{table}_update");
        triggers.push(Trigger {
            create: format!(
                "CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW WHEN ({}) \
                 EXECUTE FUNCTION fact_changes_of_anything()",
                changed(columns, "IS DISTINCT FROM")
            ),
            name,
            table,
        });
    }
    triggers.push(Trigger {
        name: "fact_changes_stamp".into(),
        table: "change_sequence",
        create: "CREATE TRIGGER fact_changes_stamp AFTER UPDATE OF value ON change_sequence \
                 FOR EACH ROW EXECUTE FUNCTION fact_changes_stamp()"
            .into(),
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
                    .table("fact_changes")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("seq"))
                    .col(big_integer("entity_id"))
                    .col(big_integer_null("mark"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_fact_changes_seq")
                    .table("fact_changes")
                    .col("seq")
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
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
            for function in [
                "fact_changes_of_rules",
                "fact_changes_of_anything",
                "fact_changes_stamp",
            ] {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {function}()"))
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table("fact_changes").if_exists().take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
