//! Where the writes of a data service go: into a transaction of their own at once (a REST
//! call), or kept with the script invocation that made them ([`Writes::Later`]), committed with
//! its other writes when the outermost service returns and dropped when it throws; reads of the
//! same invocation see them ([`table_overlay`], [`stream_overlay`]).

use ironworx_entity::queries::data::{self, DataTableRow, StreamEntryRow};
use ironworx_entity::queries::parts;
use sea_orm::ConnectionTrait;

use crate::error::ApiError;
use crate::state::AppState;

/// One data write not committed yet.
#[derive(Clone, Debug, PartialEq)]
pub enum DataOp {
    /// A DataTable row added or replaced by its key.
    Upsert(DataTableRow),
    /// The DataTable row of a key removed.
    Delete {
        /// The DataTable Thing.
        entity_id: i64,
        /// The row's key (see `DataThing::key`).
        row_key: String,
    },
    /// A Stream entry added.
    Append(StreamEntryRow),
    /// The Stream entries of a time range removed.
    Purge {
        /// The Stream Thing.
        entity_id: i64,
        /// The range's start (epoch ms, included).
        from: i64,
        /// The range's end (epoch ms, included).
        to: i64,
    },
}

impl DataOp {
    fn entity_id(&self) -> i64 {
        match self {
            DataOp::Upsert(row) => row.entity_id,
            DataOp::Append(entry) => entry.entity_id,
            DataOp::Delete { entity_id, .. } | DataOp::Purge { entity_id, .. } => *entity_id,
        }
    }
}

/// Where a data service's writes go.
pub enum Writes<'a> {
    /// Committed by the service itself, in one transaction.
    Now,
    /// Kept for the invocation that owns the list.
    Later(&'a mut Vec<DataOp>),
}

impl Writes<'_> {
    /// Commits `ops` now, or keeps them for later.
    pub(super) async fn make(
        &mut self,
        state: &AppState,
        ops: Vec<DataOp>,
    ) -> Result<(), ApiError> {
        match self {
            Writes::Now => {
                let txn = crate::db::begin_write(&state.db).await?;
                apply(&txn, &ops).await?;
                txn.commit().await?;
                Ok(())
            }
            Writes::Later(kept) => {
                kept.extend(ops);
                Ok(())
            }
        }
    }

    /// The writes kept for Thing `entity_id` so far, in order.
    pub(super) fn pending(&self, entity_id: i64) -> Vec<&DataOp> {
        match self {
            Writes::Now => Vec::new(),
            Writes::Later(kept) => kept
                .iter()
                .filter(|op| op.entity_id() == entity_id)
                .collect(),
        }
    }
}

/// Carries out `ops` in order inside the caller's transaction.
pub async fn apply<C: ConnectionTrait>(txn: &C, ops: &[DataOp]) -> Result<(), ApiError> {
    for op in ops {
        match op {
            DataOp::Upsert(row) => data::upsert_data_table_row(txn, row).await?,
            DataOp::Delete { entity_id, row_key } => {
                data::delete_data_table_row(txn, *entity_id, row_key).await?;
            }
            DataOp::Append(entry) => {
                parts::stream_entries::insert(txn, vec![entry.clone()]).await?;
            }
            DataOp::Purge {
                entity_id,
                from,
                to,
            } => {
                data::purge_stream_entries(txn, *entity_id, *from, *to).await?;
            }
        }
    }
    Ok(())
}

/// The rows of a DataTable as the kept writes leave them: a replaced row keeps its place, an
/// added one comes last, a deleted one goes.
pub(super) fn table_overlay(mut rows: Vec<DataTableRow>, pending: &[&DataOp]) -> Vec<DataTableRow> {
    for op in pending {
        match op {
            DataOp::Upsert(row) => match rows.iter_mut().find(|r| r.row_key == row.row_key) {
                Some(slot) => *slot = row.clone(),
                None => rows.push(row.clone()),
            },
            DataOp::Delete { row_key, .. } => rows.retain(|r| &r.row_key != row_key),
            DataOp::Append(_) | DataOp::Purge { .. } => {}
        }
    }
    rows
}

/// The entries of a Stream as the kept writes leave them, oldest first.
pub(super) fn stream_overlay(
    mut entries: Vec<StreamEntryRow>,
    pending: &[&DataOp],
) -> Vec<StreamEntryRow> {
    for op in pending {
        match op {
            DataOp::Append(entry) => entries.push(entry.clone()),
            DataOp::Purge { from, to, .. } => {
                entries.retain(|e| e.entry_time < *from || e.entry_time > *to);
            }
            DataOp::Upsert(_) | DataOp::Delete { .. } => {}
        }
    }
    entries.sort_by_key(|e| e.entry_time);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, n: i64) -> DataTableRow {
        DataTableRow {
            id: 0,
            entity_id: 1,
            row_key: key.into(),
            entry_time: n,
            source: String::new(),
            source_type: String::new(),
            tags: String::new(),
            location: None,
            entry_values: None,
        }
    }

    #[test]
    fn kept_table_writes_are_seen_in_order() {
        let stored = vec![row("a", 1), row("b", 2)];
        let ops = [
            DataOp::Upsert(row("b", 20)),
            DataOp::Upsert(row("c", 3)),
            DataOp::Delete {
                entity_id: 1,
                row_key: "a".into(),
            },
            DataOp::Upsert(row("a", 10)),
        ];
        let pending: Vec<&DataOp> = ops.iter().collect();
        let seen: Vec<(String, i64)> = table_overlay(stored, &pending)
            .into_iter()
            .map(|r| (r.row_key, r.entry_time))
            .collect();
        assert_eq!(seen, [("b".into(), 20), ("c".into(), 3), ("a".into(), 10)]);
    }

    #[test]
    fn kept_stream_writes_are_seen_in_time_order() {
        let entry = |t: i64| StreamEntryRow {
            id: 0,
            entity_id: 1,
            entry_time: t,
            source: String::new(),
            source_type: String::new(),
            tags: String::new(),
            location: None,
            entry_values: None,
        };
        let ops = [
            DataOp::Append(entry(5)),
            DataOp::Purge {
                entity_id: 1,
                from: 2,
                to: 4,
            },
            DataOp::Append(entry(3)),
        ];
        let pending: Vec<&DataOp> = ops.iter().collect();
        let times: Vec<i64> = stream_overlay(vec![entry(1), entry(2), entry(6)], &pending)
            .into_iter()
            .map(|e| e.entry_time)
            .collect();
        assert_eq!(times, [1, 3, 5, 6]);
    }
}
