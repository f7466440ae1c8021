//! Runtime localization (`RuntimeLocalizationFunctions`), for REST and scripts alike: a token
//! resolved in the languages asked for, best first, each matching a table only by its exact
//! name; then `Default`; then `System`. A token found nowhere reads `???<token>???`.

use ironworx_entity::queries::{localization, users};
use sea_orm::ConnectionTrait;

use crate::error::ApiError;

/// The runtime localization services.
pub const SERVICES: &[&str] = &["GetEffectiveToken", "GetEffectiveTokenForLanguage"];

/// `token` in `language` when given, otherwise in the language preferences of the user
/// `user`; then `Default`, then `System`.
pub async fn effective_token<C: ConnectionTrait>(
    db: &C,
    user: &str,
    language: Option<&str>,
    token: &str,
) -> Result<String, ApiError> {
    let languages: Vec<String> = match language {
        Some(language) => vec![language.to_owned()],
        None => users::get_user(db, user)
            .await?
            .user
            .language_preferences
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    for table in languages
        .iter()
        .map(String::as_str)
        .chain(["Default", "System"])
    {
        if let Some(value) = localization::token(db, table, token).await? {
            return Ok(value);
        }
    }
    Ok(format!("???{token}???"))
}
