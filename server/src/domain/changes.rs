//! What changed, asked of the running server: the effective-permission diff
//! ([`crate::domain::diff::compare`]) between two states it can read, `live` or an instant
//! rebuilt from the full audit record, for a security administrator or a member of
//! `Auditors` (`GetEffectivePermissionChanges`, the console's What changed). An instant older
//! than the record is refused with 400 naming the earliest instant available.

use crate::domain::Ctx;
use crate::domain::diff::{Change, Filter, compare};
use crate::domain::need::AUDITOR;
use crate::domain::snapshot::{self, Snapshot, SnapshotError};
use crate::error::ApiError;
use crate::state::AppState;

/// A side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The database now.
    Live,
    /// The database at an instant (milliseconds since the epoch).
    At(i64),
}

fn snapshot_error(err: SnapshotError) -> ApiError {
    match err {
        SnapshotError::Db(e) => e.into(),
        SnapshotError::Query(e) => e.into(),
        e @ SnapshotError::TooEarly { .. } => ApiError::BadRequest(e.to_string()),
        other => ApiError::internal(other),
    }
}

async fn load(state: &AppState, side: Side) -> Result<Snapshot, ApiError> {
    match side {
        Side::Live => snapshot::read(&state.db).await.map_err(snapshot_error),
        Side::At(at) => snapshot::read_at(&state.db, at)
            .await
            .map_err(snapshot_error),
    }
}

/// The decisions that differ between `before` and `after`, narrowed by `filter`, each with the
/// rule that decided on either side.
pub async fn between(
    state: &AppState,
    ctx: &Ctx,
    (before, after): (Side, Side),
    filter: &Filter,
) -> Result<Vec<Change>, ApiError> {
    ctx.enforce(&AUDITOR, None, "GetEffectivePermissionChanges", &|_| None)?;
    let before_state = load(state, before).await?;
    let after_state = if after == before {
        before_state.clone()
    } else {
        load(state, after).await?
    };
    compare(&before_state, &after_state, filter).map_err(|e| ApiError::BadRequest(e.to_string()))
}
