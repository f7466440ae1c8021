//! Recording authentication events in the security log ([`ironworx_entity::queries::security_log`]):
//! logins that open a session, refused logins, Basic credentials and application keys, lockouts,
//! refused client addresses and session ends. A record never holds a secret (a key is named by
//! its entity, never by its value), and writing it never fails or holds up the request: an
//! error or a slow database is a warning in the server log. Each client address may write at
//! most [`PER_ADDRESS_PER_MINUTE`] events a minute per server process, so a flood of refused
//! attempts cannot grow the table faster than that; the audit retention removes old events.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;
use std::time::Duration;

use ironworx_entity::queries::audit::process_name;
use ironworx_entity::queries::now_ms;
use ironworx_entity::queries::security_log::{self, NewEvent};

use crate::auth::AuthHost;
use crate::auth::password::client_label;
use crate::auth::throttle::Throttle;
use crate::error::ApiError;

/// The most events one client address records per minute (per server process).
pub const PER_ADDRESS_PER_MINUTE: u32 = 120;

/// How long a write may take before it is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A login through the form login page opened a session.
pub const LOGIN_SUCCEEDED: &str = "LoginSucceeded";
/// A password login (form or Basic) was refused.
pub const LOGIN_FAILED: &str = "LoginFailed";
/// Repeated failures locked a user for one client address.
pub const USER_LOCKED: &str = "UserLocked";
/// A client address was refused for too many failed logins.
pub const ADDRESS_REFUSED: &str = "AddressRefused";
/// An application key was refused (unknown, expired, outside its whitelist, its user refused).
pub const APP_KEY_FAILED: &str = "ApplicationKeyFailed";
/// A session was ended by its user.
pub const LOGOUT: &str = "Logout";
/// A session outlived its idle time or its longest life.
pub const SESSION_EXPIRED: &str = "SessionExpired";
/// An administrator (or the user) ended a user's sessions.
pub const SESSIONS_TERMINATED: &str = "SessionsTerminated";

/// The doors an event comes through.
pub const FORM: &str = "form";
/// HTTP Basic credentials.
pub const BASIC: &str = "basic";
/// A password login through either the form or Basic (lockouts).
pub const PASSWORD: &str = "password";
/// The `appKey` header or parameter.
pub const APP_KEY: &str = "appKey";
/// The session cookie.
pub const SESSION: &str = "session";
/// A REST service.
pub const REST: &str = "REST";

/// Events counted per address, for [`PER_ADDRESS_PER_MINUTE`].
static WRITES: LazyLock<Throttle> = LazyLock::new(Throttle::default);

/// One event to record.
#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    /// What happened (one of the kinds above).
    pub kind: &'static str,
    /// The user named (as given).
    pub user: &'a str,
    /// The door (one of the doors above).
    pub door: &'static str,
    /// The client address.
    pub peer: Option<IpAddr>,
    /// The organization, when known.
    pub organization: &'a str,
    /// `<Collection>/<Name>` of the entity concerned, or empty.
    pub entity: String,
    /// One readable line, never a secret.
    pub message: String,
}

/// Records `event`; a failure is logged, never answered.
pub async fn record(state: &impl AuthHost, event: Event<'_>) {
    let counted = event.peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if WRITES.check(counted, PER_ADDRESS_PER_MINUTE).is_err() {
        tracing::debug!(
            kind = event.kind,
            "security log: address over its rate, not recorded"
        );
        return;
    }
    WRITES.fail(counted);
    let row = NewEvent {
        at: now_ms(),
        user: event.user.to_owned(),
        kind: event.kind.to_owned(),
        address: event.peer.map(|p| p.to_string()).unwrap_or_default(),
        door: event.door.to_owned(),
        organization: event.organization.to_owned(),
        entity: event.entity,
        message: event.message,
        process: process_name(),
    };
    match tokio::time::timeout(WRITE_TIMEOUT, security_log::record(state.db(), &row)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, kind = %row.kind, "security log write failed"),
        Err(_) => tracing::warn!(kind = %row.kind, "security log write timed out"),
    }
}

/// Records a refused password login of `user` through `door` when `error` is a refusal (401:
/// a failed login; 429: the client address refused).
pub async fn login_refused(
    state: &impl AuthHost,
    user: &str,
    door: &'static str,
    peer: Option<IpAddr>,
    error: &ApiError,
) {
    let (kind, message) = match error {
        ApiError::Unauthorized(reason) => {
            (LOGIN_FAILED, format!("login failed for {user} ({reason})"))
        }
        ApiError::TooManyRequests(_) => (
            ADDRESS_REFUSED,
            format!(
                "login refused for {user}: too many failed logins from {}",
                client_label(peer)
            ),
        ),
        _ => return,
    };
    record(
        state,
        Event {
            kind,
            user,
            door,
            peer,
            message,
            ..Event::default()
        },
    )
    .await;
}
