//! The full audit record: the database keeps, in `model_history` (written by triggers only,
//! trimmed only by retention), the before
//! and after of every row change to what authorization and the forensic diff read (entities,
//! Things and templates, implemented shapes, group and unit memberships, organizational units,
//! entity and collection rules, property/service/event definitions), so the model can be
//! rebuilt as it was at any instant since `model_history_start.since` by undoing, from the
//! current state, every change made after it. Only the columns the model is rebuilt from are
//! kept (never a password hash or key value). A row is only ever inserted (no stamp updates
//! it later), so a write pays one insert per changed row (per statement on PostgreSQL). The
//! `audit_log` row of a change now also says through which door (`door`), from which client
//! address (`address`) and by which server process (`process`) it was made.

use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The recorded tables: name, key column, the other columns kept. The reader in
/// `ironworx_entity::queries::model_history` lists the same.
pub const RECORDED: &[(&str, &str, &[&str])] = &[
    ("entities", "id", &["collection", "name", "owner_id"]),
    ("things", "entity_id", &["thing_template"]),
    ("thing_templates", "entity_id", &["base_thing_template"]),
    (
        "implemented_shapes",
        "id",
        &["entity_id", "shape_name", "ordinal"],
    ),
    (
        "group_members",
        "id",
        &["group_id", "member_id", "member_type"],
    ),
    (
        "organizational_units",
        "id",
        &["organization_id", "name", "parent_id"],
    ),
    (
        "organizational_unit_members",
        "id",
        &["unit_id", "member_id", "member_type"],
    ),
    (
        "entity_permissions",
        "id",
        &[
            "entity_id",
            "instance",
            "kind",
            "resource",
            "principal_type",
            "principal_name",
            "allow",
        ],
    ),
    (
        "collection_permissions",
        "id",
        &[
            "collection",
            "kind",
            "resource",
            "principal_type",
            "principal_name",
            "allow",
        ],
    ),
    (
        "property_definitions",
        "id",
        &["entity_id", "name", "ordinal"],
    ),
    ("service_definitions", "id", &["entity_id", "name"]),
    ("event_definitions", "id", &["entity_id", "name"]),
];

/// Milliseconds since the epoch, as each database spells it.
fn now_ms(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        _ => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// The JSON object of row `row` (`NEW`, `OLD`, or a transition table alias) of a table.
fn row_json(backend: DbBackend, key: &str, columns: &[&str], row: &str) -> String {
    let pairs: Vec<String> = std::iter::once(key)
        .chain(columns.iter().copied())
        .map(|c| format!("'{c}', {row}.{c}"))
        .collect();
    match backend {
        DbBackend::Postgres => format!("json_build_object({})::text", pairs.join(", ")),
        _ => format!("json_object({})", pairs.join(", ")),
    }
}

/// An update's condition: one of `columns` changed (`differs` spells "is distinct from").
fn changed(columns: &[&str], old: &str, new: &str, differs: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{old}.{c} {differs} {new}.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// One trigger: its name, its table, the statement that creates it.
struct Trigger {
    name: String,
    table: &'static str,
    create: String,
}

const INSERT: &str =
    "INSERT INTO model_history (at, table_name, row_key, op, row_before, row_after)";

fn sqlite_triggers() -> Vec<Trigger> {
    let b = DbBackend::Sqlite;
    let now = now_ms(b);
    let mut triggers = Vec::new();
    for (table, key, columns) in RECORDED {
        let new = row_json(b, key, columns, "NEW");
        let old = row_json(b, key, columns, "OLD");
        for (tag, when, values) in [
            (
                "insert",
                String::new(),
                format!("NEW.{key}, 'I', NULL, {new}"),
            ),
            (
                "update",
                format!("WHEN {} ", changed(columns, "OLD", "NEW", "IS NOT")),
                format!("NEW.{key}, 'U', {old}, {new}"),
            ),
            (
                "delete",
                String::new(),
                format!("OLD.{key}, 'D', {old}, NULL"),
            ),
        ] {
            let name = format!("model_history_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {} ON {table} FOR EACH ROW {when}\
                     BEGIN {INSERT} VALUES ({now}, '{table}', {values}); END",
                    tag.to_uppercase()
                ),
                name,
                table,
            });
        }
    }
    triggers
}

/// On PostgreSQL, one function per recorded table and event over the statement's transition
/// tables (one insert per statement, however many rows).
fn postgres_functions() -> Vec<String> {
    let b = DbBackend::Postgres;
    let now = now_ms(b);
    let mut functions = Vec::new();
    for (table, key, columns) in RECORDED {
        let new = row_json(b, key, columns, "n");
        let old = row_json(b, key, columns, "o");
        for (tag, select) in [
            (
                "insert",
                format!("SELECT {now}, '{table}', n.{key}, 'I', NULL, {new} FROM new_rows n"),
            ),
            (
                "update",
                format!(
                    "SELECT {now}, '{table}', n.{key}, 'U', {old}, {new} FROM old_rows o \
                     JOIN new_rows n ON o.{key} = n.{key} WHERE {}",
                    changed(columns, "o", "n", "IS DISTINCT FROM")
                ),
            ),
            (
                "delete",
                format!("SELECT {now}, '{table}', o.{key}, 'D', {old}, NULL FROM old_rows o"),
            ),
        ] {
            functions.push(format!(
                "CREATE FUNCTION model_history_{table}_{tag}() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN {INSERT} {select}; RETURN NULL; END $$"
            ));
        }
    }
    functions
}

fn postgres_function_names() -> Vec<String> {
    RECORDED
        .iter()
        .flat_map(|(table, _, _)| {
            ["insert", "update", "delete"].map(|tag| format!("model_history_{table}_{tag}"))
        })
        .collect()
}

fn postgres_triggers() -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for (table, _, _) in RECORDED {
        for (tag, tables) in [
            ("insert", "NEW TABLE AS new_rows"),
            ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("delete", "OLD TABLE AS old_rows"),
        ] {
            let name = format!("model_history_{table}_{tag}");
            triggers.push(Trigger {
                create: format!(
                    "CREATE TRIGGER {name} AFTER {} ON {table} REFERENCING {tables} \
                     FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
                    tag.to_uppercase()
                ),
                name,
                table,
            });
        }
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

/// The columns added to `audit_log`.
const AUDIT_COLUMNS: &[&str] = &["door", "address", "process"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("model_history")
                    .col(big_pk_auto("id"))
                    .col(big_integer("at"))
                    .col(text("table_name"))
                    .col(big_integer("row_key"))
                    .col(text("op"))
                    .col(text_null("row_before"))
                    .col(text_null("row_after"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_model_history_at")
                    .table("model_history")
                    .col("at")
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("model_history_start")
                    .col(integer("id").primary_key())
                    .col(big_integer("since"))
                    .take(),
            )
            .await?;
        for column in AUDIT_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("audit_log")
                        .add_column(text(*column).default(""))
                        .take(),
                )
                .await?;
        }
        let db = manager.get_connection();
        // The record starts now: no earlier instant can be rebuilt.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        db.execute_unprepared(&format!(
            "INSERT INTO model_history_start (id, since) VALUES (1, {now})"
        ))
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
            for function in postgres_function_names() {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {function}()"))
                    .await?;
            }
        }
        for column in AUDIT_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("audit_log")
                        .drop_column(*column)
                        .take(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table("model_history_start")
                    .if_exists()
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("model_history").if_exists().take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
