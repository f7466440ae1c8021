//! The end of every write made through the API: its audit row, in the same transaction as the
//! change (which also bumps the change sequence), then the commit, and this process's index
//! brought up to it where the caller reads its write at once.

use ironworx_entity::queries::audit::{self, Change};
use sea_orm::DatabaseTransaction;

use crate::error::ApiError;
use crate::state::AppState;

/// Appends `change` to the audit log inside `txn` and commits; the new change sequence value.
pub async fn commit_audited(txn: DatabaseTransaction, change: &Change) -> Result<i64, ApiError> {
    let sequence = audit::record(&txn, change).await?;
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(sequence)
}

/// Brings this process's index up to change `sequence` (a write just committed), so the
/// caller's next request decides on it even before other processes catch up.
pub async fn refresh(state: &AppState, sequence: i64) -> Result<(), ApiError> {
    state
        .security
        .refresh(sequence)
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// [`commit_audited`], then [`refresh`]: the caller's next request reads the write.
pub async fn commit_refreshed(
    state: &AppState,
    txn: DatabaseTransaction,
    change: &Change,
) -> Result<(), ApiError> {
    let sequence = commit_audited(txn, change).await?;
    refresh(state, sequence).await
}
