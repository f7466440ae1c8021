//! The end of every write made through the API: its audit row, in the same transaction as the
//! change (which also bumps the change sequence), then the commit.

use ironworx_entity::queries::audit::{self, Change};
use sea_orm::DatabaseTransaction;

use crate::error::ApiError;

/// Appends `change` to the audit log inside `txn` and commits; the new change sequence value.
pub async fn commit_audited(txn: DatabaseTransaction, change: &Change) -> Result<i64, ApiError> {
    let sequence = audit::record(&txn, change).await?;
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(sequence)
}
