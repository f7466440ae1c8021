//! The whole persistent model: entities and their typed parts, principals and memberships,
//! permissions at every level, run-time data, sessions, the audit log and the change sequence.
//!
//! All times are epoch milliseconds (`BIGINT`), as ThingWorx writes them in its binary exports.
//! Tables are named with plain strings here, never with `entity` types, so this landed migration
//! never changes when the entities do.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).take()
}

fn id() -> ColumnDef {
    big_pk_auto("id")
}

/// A reference to `entities.id` that disappears with its entity.
fn entity_ref(col: &'static str) -> ColumnDef {
    big_integer(col)
}

fn fk(
    from: &'static str,
    col: &'static str,
    to: &'static str,
    to_col: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(from, col)
        .to(to, to_col)
        .on_delete(on_delete)
        .take()
}

fn cascade(from: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    let to_col = match to {
        "users" | "groups" | "organizations" => "entity_id",
        _ => "id",
    };
    fk(from, col, to, to_col, ForeignKeyAction::Cascade)
}

fn text_empty(col: &'static str) -> ColumnDef {
    text(col).default("").take()
}

fn flag(col: &'static str, default: bool) -> ColumnDef {
    boolean(col).default(default).take()
}

fn json_null(col: &'static str) -> ColumnDef {
    json_binary_null(col)
}

fn index(
    name: &str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    idx.take()
}

/// The tables in creation order (a table only references tables before it).
fn tables() -> Vec<(TableCreateStatement, Vec<IndexCreateStatement>)> {
    vec![
        (
            table("entities")
                .col(id())
                .col(text("collection"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(text_empty("documentation_content"))
                .col(text_empty("tags"))
                .col(text_empty("project_name"))
                .col(text_null("owner_name"))
                .col(text_null("owner_type"))
                .col(text_empty("home_mashup"))
                .col(text_null("avatar"))
                .col(json_null("aspects"))
                .col(json_null("content"))
                .col(flag("is_system", false))
                .col(big_integer("created_at"))
                .col(big_integer("last_modified_date"))
                .take(),
            vec![
                index(
                    "ux_entities_collection_name",
                    "entities",
                    &["collection", "name"],
                    true,
                ),
                index("ix_entities_project", "entities", &["project_name"], false),
            ],
        ),
        (
            table("users")
                .col(big_integer("entity_id").primary_key())
                .col(flag("enabled", true))
                .col(flag("locked", false))
                .col(big_integer_null("locked_until"))
                .col(flag("login_allowed", true))
                .col(text_null("password_hash"))
                .col(text_empty("password_algorithm"))
                .col(integer("password_iterations").default(0))
                .col(integer("password_salt_bytes").default(0))
                .col(integer("password_hash_bytes").default(0))
                .col(big_integer_null("password_changed_at"))
                .col(text_empty("language_preferences"))
                .col(integer("failed_login_count").default(0))
                .col(big_integer_null("failed_login_window_start"))
                .col(big_integer_null("last_login_at"))
                .col(text_empty("mobile_mashup"))
                .col(text_empty("scim_id"))
                .col(text_empty("scim_external_id"))
                .foreign_key(&mut fk(
                    "users",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("user_extension_values")
                .col(id())
                .col(big_integer("user_id"))
                .col(text("name"))
                .col(text_empty("value"))
                .col(big_integer("last_update_time").default(0))
                .foreign_key(&mut cascade("user_extension_values", "user_id", "users"))
                .take(),
            vec![index(
                "ux_user_ext_user_name",
                "user_extension_values",
                &["user_id", "name"],
                true,
            )],
        ),
        (
            table("groups")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("scim_display_name"))
                .col(text_empty("scim_id"))
                .col(text_empty("scim_external_id"))
                .foreign_key(&mut fk(
                    "groups",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("group_members")
                .col(id())
                .col(big_integer("group_id"))
                .col(entity_ref("member_id"))
                .col(text("member_type"))
                .foreign_key(&mut cascade("group_members", "group_id", "groups"))
                .foreign_key(&mut cascade("group_members", "member_id", "entities"))
                .take(),
            vec![
                index(
                    "ux_group_members",
                    "group_members",
                    &["group_id", "member_id"],
                    true,
                ),
                index(
                    "ix_group_members_member",
                    "group_members",
                    &["member_id"],
                    false,
                ),
            ],
        ),
        (
            table("organizations")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("login_prompt"))
                .col(text_empty("login_image"))
                .col(text_empty("login_style"))
                .col(text_empty("login_button_style"))
                .col(flag("login_reset_password", false))
                .col(text_empty("mobile_mashup"))
                .col(text_empty("reset_mail_content"))
                .col(text_empty("reset_mail_server"))
                .col(text_empty("reset_mail_subject"))
                .foreign_key(&mut fk(
                    "organizations",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("organizational_units")
                .col(id())
                .col(big_integer("organization_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(big_integer_null("parent_id"))
                .foreign_key(&mut cascade(
                    "organizational_units",
                    "organization_id",
                    "organizations",
                ))
                .foreign_key(&mut cascade(
                    "organizational_units",
                    "parent_id",
                    "organizational_units",
                ))
                .take(),
            vec![index(
                "ux_org_units",
                "organizational_units",
                &["organization_id", "name"],
                true,
            )],
        ),
        (
            table("organizational_unit_members")
                .col(id())
                .col(big_integer("unit_id"))
                .col(entity_ref("member_id"))
                .col(text("member_type"))
                .foreign_key(&mut cascade(
                    "organizational_unit_members",
                    "unit_id",
                    "organizational_units",
                ))
                .foreign_key(&mut cascade(
                    "organizational_unit_members",
                    "member_id",
                    "entities",
                ))
                .take(),
            vec![
                index(
                    "ux_org_unit_members",
                    "organizational_unit_members",
                    &["unit_id", "member_id"],
                    true,
                ),
                index(
                    "ix_org_unit_members_member",
                    "organizational_unit_members",
                    &["member_id"],
                    false,
                ),
            ],
        ),
        (
            table("things")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("thing_template"))
                .col(flag("enabled", true))
                .col(flag("published", false))
                .col(text_empty("identifier"))
                .col(text_empty("value_stream"))
                .col(text_empty("inherited_value_stream"))
                .col(text_empty("thing_package"))
                .col(text_empty("effective_thing_package"))
                .foreign_key(&mut fk(
                    "things",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![index(
                "ix_things_template",
                "things",
                &["thing_template"],
                false,
            )],
        ),
        (
            table("thing_templates")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("base_thing_template"))
                .col(text_empty("thing_package"))
                .col(text_empty("effective_thing_package"))
                .col(text_empty("value_stream"))
                .foreign_key(&mut fk(
                    "thing_templates",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("thing_shapes")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("class_name"))
                .foreign_key(&mut fk(
                    "thing_shapes",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("data_shapes")
                .col(big_integer("entity_id").primary_key())
                .col(text_empty("base_data_shape"))
                .foreign_key(&mut fk(
                    "data_shapes",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
            vec![],
        ),
        (
            table("implemented_shapes")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("shape_name"))
                .col(integer("ordinal").default(0))
                .foreign_key(&mut cascade("implemented_shapes", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_implemented_shapes",
                "implemented_shapes",
                &["entity_id", "shape_name"],
                true,
            )],
        ),
        (
            table("property_definitions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text("base_type"))
                .col(text_empty("description"))
                .col(text_empty("category"))
                .col(integer("ordinal").default(0))
                .col(flag("is_local_only", false))
                .col(json_null("aspects"))
                .foreign_key(&mut cascade(
                    "property_definitions",
                    "entity_id",
                    "entities",
                ))
                .take(),
            vec![index(
                "ux_property_definitions",
                "property_definitions",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("service_definitions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(text_empty("category"))
                .col(flag("is_allow_override", false))
                .col(flag("is_local_only", false))
                .col(flag("is_open", false))
                .col(flag("is_private", false))
                .col(json_null("aspects"))
                .col(json_null("result_type"))
                .col(json_null("parameters"))
                .foreign_key(&mut cascade("service_definitions", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_service_definitions",
                "service_definitions",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("event_definitions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(text_empty("category"))
                .col(text_empty("data_shape"))
                .col(flag("is_local_only", false))
                .col(json_null("aspects"))
                .foreign_key(&mut cascade("event_definitions", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_event_definitions",
                "event_definitions",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("service_implementations")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(text("handler_name"))
                .col(json_null("configuration"))
                .foreign_key(&mut cascade(
                    "service_implementations",
                    "entity_id",
                    "entities",
                ))
                .take(),
            vec![index(
                "ux_service_implementations",
                "service_implementations",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("subscriptions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .col(flag("enabled", true))
                .col(text_empty("event_name"))
                .col(text_empty("source"))
                .col(text_empty("source_property"))
                .col(text_empty("source_type"))
                .col(text_empty("handler_name"))
                .col(json_null("configuration"))
                .foreign_key(&mut cascade("subscriptions", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_subscriptions",
                "subscriptions",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("field_definitions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text("base_type"))
                .col(text_empty("description"))
                .col(integer("ordinal").default(0))
                .col(json_null("aspects"))
                .foreign_key(&mut cascade("field_definitions", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_field_definitions",
                "field_definitions",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("property_values")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text("base_type"))
                .col(json_null("value"))
                .col(big_integer("value_time").default(0))
                .col(text("quality").default("UNKNOWN"))
                .foreign_key(&mut cascade("property_values", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_property_values",
                "property_values",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("configuration_tables")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(flag("is_shared", false))
                .col(text_empty("description"))
                .col(flag("is_multi_row", false))
                .col(integer("ordinal").default(0))
                .col(text_empty("data_shape_name"))
                .col(flag("is_hidden", false))
                .col(json_null("field_definitions"))
                .col(json_null("rows"))
                .foreign_key(&mut cascade(
                    "configuration_tables",
                    "entity_id",
                    "entities",
                ))
                .take(),
            vec![index(
                "ux_configuration_tables",
                "configuration_tables",
                &["entity_id", "is_shared", "name"],
                true,
            )],
        ),
        (
            table("stream_entries")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(big_integer("entry_time"))
                .col(text_empty("source"))
                .col(text_empty("source_type"))
                .col(text_empty("tags"))
                .col(text_null("location"))
                .col(json_null("entry_values"))
                .foreign_key(&mut cascade("stream_entries", "entity_id", "entities"))
                .take(),
            vec![index(
                "ix_stream_entries_time",
                "stream_entries",
                &["entity_id", "entry_time"],
                false,
            )],
        ),
        (
            table("data_table_rows")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("row_key"))
                .col(big_integer("entry_time"))
                .col(text_empty("source"))
                .col(text_empty("source_type"))
                .col(text_empty("tags"))
                .col(text_null("location"))
                .col(json_null("entry_values"))
                .foreign_key(&mut cascade("data_table_rows", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_data_table_rows",
                "data_table_rows",
                &["entity_id", "row_key"],
                true,
            )],
        ),
        (
            table("localization_tokens")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("value"))
                .col(text_empty("description"))
                .col(text_empty("context"))
                .foreign_key(&mut cascade("localization_tokens", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_localization_tokens",
                "localization_tokens",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("vocabulary_terms")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("name"))
                .col(text_empty("description"))
                .foreign_key(&mut cascade("vocabulary_terms", "entity_id", "entities"))
                .take(),
            vec![index(
                "ux_vocabulary_terms",
                "vocabulary_terms",
                &["entity_id", "name"],
                true,
            )],
        ),
        (
            table("entity_tags")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(text("vocabulary"))
                .col(text("term"))
                .foreign_key(&mut cascade("entity_tags", "entity_id", "entities"))
                .take(),
            vec![
                index(
                    "ux_entity_tags",
                    "entity_tags",
                    &["entity_id", "vocabulary", "term"],
                    true,
                ),
                index(
                    "ix_entity_tags_term",
                    "entity_tags",
                    &["vocabulary", "term"],
                    false,
                ),
            ],
        ),
        (
            table("application_keys")
                .col(big_integer("entity_id").primary_key())
                .col(text_null("key_hash"))
                .col(text_null("key_sealed"))
                .col(big_integer_null("user_id"))
                .col(big_integer_null("expiration_date"))
                .col(text_empty("client_name"))
                .col(text_empty("ip_whitelist"))
                .col(big_integer_null("last_used_at"))
                .foreign_key(&mut fk(
                    "application_keys",
                    "entity_id",
                    "entities",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "application_keys",
                    "user_id",
                    "users",
                    "entity_id",
                    ForeignKeyAction::SetNull,
                ))
                .take(),
            vec![index(
                "ux_application_keys_hash",
                "application_keys",
                &["key_hash"],
                true,
            )],
        ),
        (
            table("entity_permissions")
                .col(id())
                .col(entity_ref("entity_id"))
                .col(flag("instance", false))
                .col(text("kind"))
                .col(text("resource"))
                .col(text("principal_type"))
                .col(text("principal_name"))
                .col(boolean("allow"))
                .foreign_key(&mut cascade("entity_permissions", "entity_id", "entities"))
                .take(),
            vec![
                index(
                    "ux_entity_permissions",
                    "entity_permissions",
                    &[
                        "entity_id",
                        "instance",
                        "kind",
                        "resource",
                        "principal_type",
                        "principal_name",
                    ],
                    true,
                ),
                index(
                    "ix_entity_permissions_principal",
                    "entity_permissions",
                    &["principal_type", "principal_name"],
                    false,
                ),
            ],
        ),
        (
            table("collection_permissions")
                .col(id())
                .col(text("collection"))
                .col(text("kind"))
                .col(text("resource"))
                .col(text("principal_type"))
                .col(text("principal_name"))
                .col(boolean("allow"))
                .take(),
            vec![
                index(
                    "ux_collection_permissions",
                    "collection_permissions",
                    &[
                        "collection",
                        "kind",
                        "resource",
                        "principal_type",
                        "principal_name",
                    ],
                    true,
                ),
                index(
                    "ix_collection_permissions_principal",
                    "collection_permissions",
                    &["principal_type", "principal_name"],
                    false,
                ),
            ],
        ),
        (
            table("sessions")
                .col(id())
                .col(text("token_id"))
                .col(big_integer("user_id"))
                .col(text_empty("organization"))
                .col(text_empty("peer_addr"))
                .col(big_integer("created_at"))
                .col(big_integer("last_seen_at"))
                .col(big_integer("expires_at"))
                .col(big_integer_null("revoked_at"))
                .foreign_key(&mut cascade("sessions", "user_id", "users"))
                .take(),
            vec![
                index("ux_sessions_token", "sessions", &["token_id"], true),
                index("ix_sessions_user", "sessions", &["user_id"], false),
            ],
        ),
        (
            table("audit_log")
                .col(id())
                .col(big_integer("at"))
                .col(big_integer("change_seq"))
                .col(text("actor"))
                .col(text("action"))
                .col(text_empty("target_collection"))
                .col(text_empty("target_name"))
                .col(json_null("detail"))
                .take(),
            vec![index(
                "ix_audit_log_seq",
                "audit_log",
                &["change_seq"],
                false,
            )],
        ),
        (
            table("change_sequence")
                .col(integer("id").primary_key())
                .col(big_integer("value"))
                .take(),
            vec![],
        ),
        (
            table("settings")
                .col(text("key").primary_key())
                .col(text("value"))
                .col(big_integer("updated_at"))
                .take(),
            vec![],
        ),
    ]
}

/// Statements that make `audit_log` append-only: any UPDATE or DELETE fails inside the database.
fn audit_guard(backend: DbBackend) -> Vec<&'static str> {
    match backend {
        DbBackend::Sqlite => vec![
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        ],
        DbBackend::Postgres => vec![
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        ],
        _ => vec![],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, indexes) in tables() {
            manager.create_table(table).await?;
            for index in indexes {
                manager.create_index(index).await?;
            }
        }
        let db = manager.get_connection();
        for sql in audit_guard(db.get_database_backend()) {
            db.execute_unprepared(sql).await?;
        }
        db.execute_unprepared("INSERT INTO change_sequence (id, value) VALUES (1, 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP TABLE IF EXISTS audit_log")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS audit_log_append_only()")
                .await?;
        }
        for (table, _) in tables().into_iter().rev() {
            if let Some(name) = table.get_table_name() {
                manager
                    .drop_table(Table::drop().table(name.clone()).if_exists().take())
                    .await?;
            }
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
