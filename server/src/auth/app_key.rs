//! Application keys as credentials: the key id (a GUID) is looked up by its SHA-256, and the
//! request runs as the key's user once the key is known, not expired, used from an address its
//! whitelist allows, and its user may still log in. The key, its user and the change sequence
//! are read by one statement.

use std::net::IpAddr;

use futures_util::FutureExt;
use ipnet::IpNet;
use ironworx_entity::queries::credentials::Sequences;
use ironworx_entity::queries::{app_keys, now_ms};
use ironworx_entity::vocab::Collection;
use sha2::{Digest, Sha256};

use crate::auth::AuthHost;
use crate::auth::Caller;
use crate::error::ApiError;

/// How often the last-use time of a key is written (at most once per this interval).
pub const TOUCH_INTERVAL_MS: i64 = 60_000;

/// The stored form of a key id: its SHA-256 in hex.
pub fn key_hash(key_id: &str) -> String {
    hex::encode(Sha256::digest(key_id.trim().as_bytes()))
}

/// One entry of a whitelist.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Net(IpNet),
    /// An IPv4 pattern with `*` for any octet.
    Wildcard([Option<u8>; 4]),
}

fn parse_entry(entry: &str) -> Option<Entry> {
    if entry.contains('/') {
        return entry.parse::<IpNet>().ok().map(Entry::Net);
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(Entry::Net(IpNet::from(ip)));
    }
    let parts: Vec<&str> = entry.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [None; 4];
    for (slot, part) in octets.iter_mut().zip(parts) {
        *slot = match part {
            "*" => None,
            n => Some(n.parse::<u8>().ok()?),
        };
    }
    Some(Entry::Wildcard(octets))
}

/// Checks a whitelist (comma separated: addresses, `*` per octet, CIDR blocks); says which
/// entry is malformed.
pub fn validate_whitelist(list: &str) -> Result<(), String> {
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if parse_entry(entry).is_none() {
            return Err(format!(
                "invalid IP whitelist entry '{entry}': expected an address, a pattern like 10.0.*.* or a CIDR block"
            ));
        }
    }
    Ok(())
}

/// Whether `ip` may use a key with this whitelist; a blank list allows any address, a
/// malformed entry allows nothing.
pub fn whitelist_allows(list: &str, ip: Option<IpAddr>) -> bool {
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return true;
    }
    let Some(ip) = ip else {
        return false;
    };
    // An IPv4 client seen through an IPv6 socket is compared as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    entries.into_iter().any(|e| match parse_entry(e) {
        Some(Entry::Net(net)) => net.contains(&ip),
        Some(Entry::Wildcard(pattern)) => match ip {
            IpAddr::V4(v4) => pattern
                .iter()
                .zip(v4.octets())
                .all(|(p, o)| p.is_none_or(|p| p == o)),
            IpAddr::V6(_) => false,
        },
        None => false,
    })
}

/// Authenticates a request carrying application key `key_id` from `peer`: the caller, and the
/// sequences that the statement reading the key and its user read too (for
/// [`crate::live_index::Security::current_at`] and the Thing model). A refusal is recorded in
/// the security log, naming the key by its entity (never its value).
pub async fn authenticate(
    state: &impl AuthHost,
    key_id: &str,
    peer: Option<IpAddr>,
) -> Result<(Caller, Sequences), ApiError> {
    let mut named = Refused::default();
    let result = check(state, key_id, peer, &mut named).await;
    if let Err(ApiError::Unauthorized(reason)) = &result {
        refused(state, named, reason, peer).await;
    }
    result
}

/// What a refusal knows of the key: its entity id and its user's name.
#[derive(Default)]
struct Refused {
    key: Option<i64>,
    user: String,
}

async fn refused(state: &impl AuthHost, named: Refused, reason: &str, peer: Option<IpAddr>) {
    use crate::auth::security_log::{APP_KEY, APP_KEY_FAILED, Event, record};
    let name = match named.key {
        Some(id) => ironworx_entity::queries::entities::find_entity_by_id(state.db(), id)
            .await
            .ok()
            .flatten()
            .map(|e| e.name),
        None => None,
    };
    let entity = name
        .as_ref()
        .map(|n| format!("{}/{n}", Collection::ApplicationKeys.as_str()))
        .unwrap_or_default();
    let which = name.map(|n| format!(" '{n}'")).unwrap_or_default();
    let event = Event {
        kind: APP_KEY_FAILED,
        user: &named.user,
        door: APP_KEY,
        peer,
        entity,
        message: format!("application key{which} refused: {reason}"),
        ..Event::default()
    };
    record(state, event).await;
}

async fn check(
    state: &impl AuthHost,
    key_id: &str,
    peer: Option<IpAddr>,
    named: &mut Refused,
) -> Result<(Caller, Sequences), ApiError> {
    let invalid = || ApiError::Unauthorized("invalid application key".into());
    let hash = key_hash(key_id);
    let reads = state.auth().reads.clone();
    let read = hash.clone();
    let found = state
        .auth()
        .key_reads
        .read(&hash, move || {
            async move {
                reads
                    .run(|db| {
                        let read = &read;
                        async move { app_keys::find_credential(&db, read).await }
                    })
                    .await
            }
            .boxed()
        })
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(invalid)?;
    let key = &found.key;
    named.key = Some(key.entity_id);
    if let Some(user) = &found.user {
        named.user.clone_from(&user.name);
    }
    let now = now_ms();
    if key.expiration_date.is_some_and(|at| at <= now) {
        return Err(ApiError::Unauthorized(
            "the application key has expired".into(),
        ));
    }
    if !whitelist_allows(&key.ip_whitelist, peer) {
        tracing::info!(peer = ?peer, "application key used from an address outside its whitelist");
        return Err(ApiError::Unauthorized(
            "the application key is not allowed from this address".into(),
        ));
    }
    if key.user_id.is_none() {
        return Err(invalid());
    }
    let user = found
        .user
        .filter(|u| u.collection == Collection::Users.as_str())
        .ok_or_else(invalid)?;
    crate::auth::check_user_state(&user.user, now)?;
    if key
        .last_used_at
        .is_none_or(|t| now.saturating_sub(t) > TOUCH_INTERVAL_MS)
    {
        app_keys::touch_app_key(state.db(), key.entity_id, now)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok((
        Caller {
            user_id: user.id,
            name: user.name,
        },
        found.sequence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn whitelists() {
        assert!(whitelist_allows("", ip("1.2.3.4")));
        assert!(whitelist_allows(" , ", ip("1.2.3.4")));
        assert!(whitelist_allows("10.0.*.*", ip("10.0.7.9")));
        assert!(!whitelist_allows("10.0.*.*", ip("10.1.7.9")));
        assert!(whitelist_allows(
            "192.168.0.0/16, 127.0.0.1",
            ip("127.0.0.1")
        ));
        assert!(whitelist_allows("192.168.0.0/16", ip("192.168.44.1")));
        assert!(whitelist_allows("2001:db8::/32", ip("2001:db8::1")));
        assert!(!whitelist_allows("2001:db8::/32", ip("2001:db9::1")));
        assert!(whitelist_allows("127.0.0.1", ip("::ffff:127.0.0.1")));
        assert!(!whitelist_allows("127.0.0.1", None));
        assert!(!whitelist_allows("not-an-ip", ip("1.2.3.4")));
        assert!(validate_whitelist("10.0.*.*, 1.2.3.4, ::1, 10.0.0.0/8").is_ok());
        assert!(validate_whitelist("10.0.*").is_err());
        assert!(validate_whitelist("300.1.1.1").is_err());
    }

    #[test]
    fn key_hash_is_sha256_hex() {
        assert_eq!(key_hash("abc").len(), 64);
        assert_eq!(key_hash("abc"), key_hash(" abc "));
        assert_ne!(key_hash("abc"), key_hash("abd"));
    }
}
