//! The database's own record of what each security change touched, so that a server process can
//! bring its authorization index up to date by reading only that: triggers on every table the
//! index is built from add a row to `fact_changes` for each changed entity's rules (its id), or
//! for anything else (id 0: read everything). The change sequence bump of the same transaction
//! stamps the rows with its value (`ironworx_entity::queries::audit::bump_sequence`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The other tables the index is built from: any change to them means "read everything". With
/// each, the columns whose update counts (none listed: every update).
const WHOLE: &[(&str, &[&str])] = &[
    ("entities", &["collection", "name", "owner_name"]),
    ("things", &["thing_template"]),
    ("thing_templates", &["base_thing_template"]),
    ("implemented_shapes", &[]),
    ("group_members", &[]),
    ("organizational_units", &[]),
    ("organizational_unit_members", &[]),
    ("collection_permissions", &[]),
];

fn update_of(columns: &[&str]) -> String {
    if columns.is_empty() {
        "UPDATE".into()
    } else {
        format!("UPDATE OF {}", columns.join(", "))
    }
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
        for (tag, op) in [
            ("insert", "INSERT".to_owned()),
            ("update", update_of(columns)),
            ("delete", "DELETE".to_owned()),
        ] {
            let name = format!("fact_changes_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {op} ON {table} \
                     BEGIN INSERT INTO fact_changes (entity_id) VALUES (0); END"
                ),
                name,
                table,
            });
        }
    }
    triggers
}

/// The trigger functions of PostgreSQL: the entities of the changed rules, or 0.
const POSTGRES_FUNCTIONS: &[&str] = &[
    "CREATE FUNCTION fact_changes_of_rules() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     IF TG_OP IN ('UPDATE', 'DELETE') THEN \
     INSERT INTO fact_changes (entity_id) SELECT DISTINCT entity_id FROM old_rows; END IF; \
     IF TG_OP IN ('INSERT', 'UPDATE') THEN \
     INSERT INTO fact_changes (entity_id) SELECT DISTINCT entity_id FROM new_rows; END IF; \
     RETURN NULL; END $$",
    "CREATE FUNCTION fact_changes_of_anything() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     INSERT INTO fact_changes (entity_id) VALUES (0); RETURN NULL; END $$",
];

/// Statement triggers on PostgreSQL: one row per changed entity and statement, not per rule.
fn postgres_triggers() -> Vec<Trigger> {
    // A trigger with transition tables serves one event.
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
    .map(|(tag, op, tables)| {
        let name = format!("fact_changes_entity_permissions_{tag}");
        Trigger {
            create: format!(
                "CREATE TRIGGER {name} AFTER {op} ON entity_permissions REFERENCING {tables} \
                 FOR EACH STATEMENT EXECUTE FUNCTION fact_changes_of_rules()"
            ),
            name,
            table: "entity_permissions",
        }
    })
    .collect();
    for (table, columns) in WHOLE {
        let name = format!("fact_changes_{table}");
        triggers.push(Trigger {
            create: format!(
                "CREATE TRIGGER {name} AFTER INSERT OR {} OR DELETE OR TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION fact_changes_of_anything()",
                update_of(columns)
            ),
            name,
            table,
        });
    }
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
            for sql in POSTGRES_FUNCTIONS {
                db.execute_unprepared(sql).await?;
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
            for function in ["fact_changes_of_rules", "fact_changes_of_anything"] {
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
