//! The parts an entity owns (definitions, values, configuration tables, tokens, …): batched
//! inserts, listing in insertion order, and replacement of all parts of one owner at once, which is
//! what an import of a newer version of an entity does.

/// Rows per multi-row `INSERT`: one row per statement is 35 times slower on SQLite, and
/// 200 rows of the widest part table stay far below every backend's bind-parameter limit.
pub const BATCH_ROWS: usize = 200;

macro_rules! part_table {
    ($(#[$doc:meta])* $module:ident, $owner:ident, $Owner:ident) => {
        $(#[$doc])*
        pub mod $module {
            use sea_orm::{
                ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
                QueryFilter, QueryOrder,
            };

            use crate::queries::QueryResult;
            pub use crate::schema::$module::Model;
            use crate::schema::$module::{ActiveModel, Column, Entity};

            /// Inserts `rows` in batches; their `id` is ignored and assigned by the database.
            pub async fn insert<C: ConnectionTrait>(db: &C, rows: Vec<Model>) -> QueryResult<()> {
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let batch: Vec<ActiveModel> = rows
                        .by_ref()
                        .take(super::BATCH_ROWS)
                        .map(|row| {
                            let mut active = row.into_active_model();
                            active.not_set(Column::Id);
                            active
                        })
                        .collect();
                    Entity::insert_many(batch).exec_without_returning(db).await?;
                }
                Ok(())
            }

            /// Every row of `owner`, in insertion order.
            pub async fn list<C: ConnectionTrait>(db: &C, owner: i64) -> QueryResult<Vec<Model>> {
                Ok(Entity::find()
                    .filter(Column::$Owner.eq(owner))
                    .order_by_asc(Column::Id)
                    .all(db)
                    .await?)
            }

            /// Deletes every row of `owner`; returns how many were deleted.
            pub async fn delete_all<C: ConnectionTrait>(db: &C, owner: i64) -> QueryResult<u64> {
                Ok(Entity::delete_many()
                    .filter(Column::$Owner.eq(owner))
                    .exec(db)
                    .await?
                    .rows_affected)
            }

            /// Replaces every row of `owner` with `rows` (each row's owner is set to `owner`).
            pub async fn replace<C: ConnectionTrait>(
                db: &C,
                owner: i64,
                rows: Vec<Model>,
            ) -> QueryResult<()> {
                delete_all(db, owner).await?;
                insert(
                    db,
                    rows.into_iter()
                        .map(|mut row| {
                            row.$owner = owner;
                            row
                        })
                        .collect(),
                )
                .await
            }
        }
    };
}

part_table!(
    /// Property definitions of Things, ThingTemplates and ThingShapes.
    property_definitions, entity_id, EntityId
);
part_table!(
    /// Service signatures.
    service_definitions, entity_id, EntityId
);
part_table!(
    /// Event definitions.
    event_definitions, entity_id, EntityId
);
part_table!(
    /// Service implementations kept as data.
    service_implementations, entity_id, EntityId
);
part_table!(
    /// Subscriptions with their implementation kept as data.
    subscriptions, entity_id, EntityId
);
part_table!(
    /// DataShape fields.
    field_definitions, entity_id, EntityId
);
part_table!(
    /// Current property values of Things.
    property_values, entity_id, EntityId
);
part_table!(
    /// Configuration tables (own and shared).
    configuration_tables, entity_id, EntityId
);
part_table!(
    /// ThingShapes implemented by a Thing or ThingTemplate.
    implemented_shapes, entity_id, EntityId
);
part_table!(
    /// Tokens of a LocalizationTable.
    localization_tokens, entity_id, EntityId
);
part_table!(
    /// Terms of a tag vocabulary.
    vocabulary_terms, entity_id, EntityId
);
part_table!(
    /// User-extension values of a user.
    user_extension_values, user_id, UserId
);
part_table!(
    /// Entries of a Stream Thing.
    stream_entries, entity_id, EntityId
);
part_table!(
    /// Rows of a DataTable Thing.
    data_table_rows, entity_id, EntityId
);
