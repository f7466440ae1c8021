//! The security log: recording an authentication event, reading events by time, user and a
//! text search over the message, and removing old ones (retention). Nothing here holds a
//! secret: callers name a user as it was given and a key by its entity name only.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait};
use sea_orm::{QueryFilter, QueryOrder, QuerySelect};

use crate::queries::QueryResult;
use crate::schema::security_log::{self, Column, Entity};

pub use crate::schema::security_log::Model as SecurityLogRow;

/// The longest text kept in one column of an event (longer text is cut at a character
/// boundary), so that a name sent by a client cannot make a row large.
pub const MAX_TEXT: usize = 256;

/// One event to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewEvent {
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// The user name as it was given (or the user a key or session stands for).
    pub user: String,
    /// What happened (`LoginSucceeded`, `LoginFailed`, `UserLocked`, …).
    pub kind: String,
    /// The client address.
    pub address: String,
    /// Through which door (`form`, `basic`, `appKey`, `session`, `REST`).
    pub door: String,
    /// The organization of a form login, when known.
    pub organization: String,
    /// `<Collection>/<Name>` of the entity concerned (an application key), or empty.
    pub entity: String,
    /// One readable line (never a secret).
    pub message: String,
    /// The server process, `<pid>@<host>`.
    pub process: String,
}

/// `text` cut to at most [`MAX_TEXT`] bytes, at a character boundary.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Records `event`; answers its row id.
pub async fn record<C: ConnectionTrait>(db: &C, event: &NewEvent) -> QueryResult<i64> {
    let row = security_log::ActiveModel {
        at: Set(event.at),
        user_name: Set(bounded(&event.user)),
        kind: Set(bounded(&event.kind)),
        address: Set(bounded(&event.address)),
        door: Set(bounded(&event.door)),
        organization: Set(bounded(&event.organization)),
        entity: Set(bounded(&event.entity)),
        message: Set(bounded(&event.message)),
        process: Set(bounded(&event.process)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// Which events [`query`] reads: every field left empty keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only events at or after this instant (milliseconds since the epoch).
    pub since: Option<i64>,
    /// Only events at or before this instant.
    pub until: Option<i64>,
    /// Only events naming this user (exactly).
    pub user: Option<String>,
    /// Only events whose message contains this text, without regard to case.
    pub search: Option<String>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// At most this many events.
    pub limit: u64,
}

/// The `LIKE` pattern matching any text that contains `text`: `%`, `_` and `\` are escaped
/// with `\`, and the text is lower-cased (compared with the lower-cased message).
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The events `query` selects, newest first (or oldest first).
pub async fn query<C: ConnectionTrait>(db: &C, query: &Query) -> QueryResult<Vec<SecurityLogRow>> {
    let mut select = Entity::find();
    if let Some(since) = query.since {
        select = select.filter(Column::At.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(Column::At.lte(until));
    }
    if let Some(user) = &query.user {
        select = select.filter(Column::UserName.eq(user.as_str()));
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        select = select.filter(
            Expr::expr(Func::lower(Expr::col(Column::Message)))
                .like(LikeExpr::new(contains_pattern(search)).escape('\\')),
        );
    }
    select = if query.oldest_first {
        select.order_by_asc(Column::Id)
    } else {
        select.order_by_desc(Column::Id)
    };
    Ok(select.limit(query.limit).all(db).await?)
}

/// Removes the events from before `cutoff` (milliseconds since the epoch); answers how many.
pub async fn prune<C: ConnectionTrait>(db: &C, cutoff: i64) -> QueryResult<u64> {
    let done = Entity::delete_many()
        .filter(Column::At.lt(cutoff))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_wildcards_and_ignore_case() {
        assert_eq!(contains_pattern("Alice"), "%alice%");
        assert_eq!(contains_pattern("50%_x\\"), "%50\\%\\_x\\\\%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short"), "short");
    }
}
