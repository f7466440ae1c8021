//! Ownership by identity: an entity's owner is the id of the owning user or group
//! (`entities.owner_id`, set to NULL when the owner is deleted), no longer its name, so a new
//! principal that takes a deleted one's name inherits nothing. Existing owners are carried
//! over by name and type; owners that name no principal are dropped. The index's trigger on
//! entity updates watches the owner id instead of the name.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The owner's id from its name and type (`User` unless `Group`).
const FROM_NAMES: &str = "UPDATE entities SET owner_id = (SELECT o.id FROM entities o \
     WHERE o.name = entities.owner_name AND o.collection = \
     CASE WHEN entities.owner_type = 'Group' THEN 'Groups' ELSE 'Users' END) \
     WHERE owner_name IS NOT NULL";

/// The owner's name and type from its id (going down).
const TO_NAMES: &str = "UPDATE entities SET \
     owner_name = (SELECT o.name FROM entities o WHERE o.id = entities.owner_id), \
     owner_type = (SELECT CASE WHEN o.collection = 'Groups' THEN 'Group' ELSE 'User' END \
     FROM entities o WHERE o.id = entities.owner_id) \
     WHERE owner_id IS NOT NULL";

/// On SQLite, the owner of an entity is cleared when the owner is deleted.
const SQLITE_ORPHANS: &str = "CREATE TRIGGER entities_owner_deleted AFTER DELETE ON entities \
     FOR EACH ROW BEGIN UPDATE entities SET owner_id = NULL WHERE owner_id = OLD.id; END";

/// The trigger that records an entity update the index must see, on `columns`.
fn update_trigger(backend: DbBackend, columns: &[&str]) -> Vec<String> {
    match backend {
        DbBackend::Sqlite => {
            let when = columns
                .iter()
                .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            vec![
                "DROP TRIGGER IF EXISTS fact_changes_entities_update".to_owned(),
                format!(
                    "CREATE TRIGGER fact_changes_entities_update AFTER UPDATE ON entities \
                     FOR EACH ROW WHEN {when} \
                     BEGIN INSERT INTO fact_changes (entity_id) VALUES (0); END"
                ),
            ]
        }
        DbBackend::Postgres => {
            let when = columns
                .iter()
                .map(|c| format!("OLD.{c} IS DISTINCT FROM NEW.{c}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            vec![
                "DROP TRIGGER IF EXISTS fact_changes_entities_update ON entities".to_owned(),
                format!(
                    "CREATE TRIGGER fact_changes_entities_update AFTER UPDATE ON entities \
                     FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION fact_changes_of_anything()"
                ),
            ]
        }
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        if backend == DbBackend::Postgres {
            db.execute_unprepared(
                "ALTER TABLE entities ADD COLUMN owner_id BIGINT NULL \
                 REFERENCES entities (id) ON DELETE SET NULL",
            )
            .await?;
        } else {
            // SQLite cannot drop a column that takes part in a foreign key (going down), so a
            // trigger clears the owner instead.
            db.execute_unprepared("ALTER TABLE entities ADD COLUMN owner_id BIGINT NULL")
                .await?;
            db.execute_unprepared(SQLITE_ORPHANS).await?;
        }
        db.execute_unprepared(FROM_NAMES).await?;
        db.execute_unprepared("CREATE INDEX idx_entities_owner_id ON entities (owner_id)")
            .await?;
        let mut statements = update_trigger(backend, &["collection", "name", "owner_id"]);
        // The old trigger reads the name columns: it goes before they do.
        let create = statements.pop();
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        db.execute_unprepared("ALTER TABLE entities DROP COLUMN owner_name")
            .await?;
        db.execute_unprepared("ALTER TABLE entities DROP COLUMN owner_type")
            .await?;
        if let Some(create) = create {
            db.execute_unprepared(&create).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        db.execute_unprepared("ALTER TABLE entities ADD COLUMN owner_name TEXT NULL")
            .await?;
        db.execute_unprepared("ALTER TABLE entities ADD COLUMN owner_type TEXT NULL")
            .await?;
        db.execute_unprepared(TO_NAMES).await?;
        let mut statements = update_trigger(backend, &["collection", "name", "owner_name"]);
        let create = statements.pop();
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        db.execute_unprepared("DROP INDEX idx_entities_owner_id")
            .await?;
        if backend == DbBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS entities_owner_deleted")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE entities DROP COLUMN owner_id")
            .await?;
        if let Some(create) = create {
            db.execute_unprepared(&create).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
