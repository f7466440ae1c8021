//! Every migration goes down and up again on SQLite and PostgreSQL (when
//! `IRONWORX_TEST_POSTGRES` is set), leaving the change triggers working: a rule change after
//! the second `up` is recorded for its entity alone.

use ironworx_migration::{Migrator, MigratorTrait};
use ironworx_tests::{TestDb, backends, connect};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    for backend in backends() {
        let test_db = TestDb::create(backend).await;
        let db = connect(&test_db).await;
        Migrator::up(&db, None).await.expect("up");
        Migrator::down(&db, None).await.expect("down");
        let backend_kind = db.get_database_backend();
        let tables = match backend_kind {
            DbBackend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' \
                 AND table_name <> 'seaql_migrations'"
            }
            _ => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT IN ('seaql_migrations', 'sqlite_sequence')"
            }
        };
        let count = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.query_one_raw(Statement::from_string(backend_kind, sql))
                    .await
                    .expect("count")
                    .expect("row")
                    .try_get_by_index::<i64>(0)
                    .expect("number")
            }
        };
        assert_eq!(count(tables).await, 0, "{backend}: down left tables behind");
        Migrator::up(&db, None).await.expect("up again");
        assert!(count(tables).await > 0, "{backend}: up again made no table");
        assert_eq!(
            count("SELECT COUNT(*) FROM login_failures").await,
            0,
            "{backend}: the failed-login table is back, empty"
        );
        // The change triggers are back: a statement that changes no row records nothing.
        db.execute_unprepared("DELETE FROM group_members WHERE 1 = 0")
            .await
            .expect("no row");
        assert_eq!(
            count("SELECT COUNT(*) FROM fact_changes").await,
            0,
            "{backend}: a statement that changed no row was recorded"
        );
        db.close().await.expect("close");
        test_db.drop_database().await;
    }
}
