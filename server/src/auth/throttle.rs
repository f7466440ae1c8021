//! Throttling of failed logins per client address, separate from the lockout of a user for an
//! address: more than the configured number of failures within a minute from one address
//! answer 429 with `Retry-After` until the minute has passed. Kept in memory, per server
//! process. Owns what "one address" means for both ([`client_key`]).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::error::ApiError;

/// The window failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The address failed logins are counted under: an IPv4 address as it is (also when it
/// arrives IPv4-mapped), an IPv6 address by its /64 network, which one client usually holds
/// whole and could otherwise spread its guesses over.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// Failed-login counters per address ([`client_key`]).
pub struct Throttle {
    failures: Cache<IpAddr, std::sync::Arc<Mutex<(Instant, u32)>>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(WINDOW * 2)
                .build(),
        }
    }
}

impl Throttle {
    fn entry(&self, ip: IpAddr) -> std::sync::Arc<Mutex<(Instant, u32)>> {
        self.failures.get_with(client_key(ip), || {
            std::sync::Arc::new(Mutex::new((Instant::now(), 0)))
        })
    }

    /// Refuses the attempt when `ip` already failed more than `limit` times this minute
    /// (`limit` 0 turns throttling off).
    pub fn check(&self, ip: IpAddr, limit: u32) -> Result<(), ApiError> {
        if limit == 0 {
            return Ok(());
        }
        let Some(entry) = self.failures.get(&client_key(ip)) else {
            return Ok(());
        };
        let (start, count) = *entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = start.elapsed();
        if elapsed < WINDOW && count >= limit {
            let retry = (WINDOW - elapsed).as_secs().max(1);
            return Err(ApiError::TooManyRequests(retry));
        }
        Ok(())
    }

    /// Counts one failed attempt from `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let entry = self.entry(ip);
        let mut guard = entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.0.elapsed() >= WINDOW {
            *guard = (Instant::now(), 0);
        }
        guard.1 = guard.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(t.check(a, 3).is_ok());
            t.fail(a);
        }
        assert!(
            matches!(t.check(a, 3), Err(ApiError::TooManyRequests(s)) if (1..=60).contains(&s))
        );
        assert!(t.check(b, 3).is_ok());
        assert!(t.check(a, 0).is_ok(), "0 turns it off");
    }

    #[test]
    fn one_ipv6_network_is_one_address() {
        let key = |s: &str| client_key(s.parse().expect("ip")).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::");
        assert_eq!(key("::ffff:10.1.2.3"), "10.1.2.3");
        assert_eq!(key("10.1.2.3"), "10.1.2.3");
        let t = Throttle::default();
        t.fail("2001:db8::1".parse().expect("ip"));
        assert!(t.check("2001:db8::2".parse().expect("ip"), 1).is_err());
        assert!(t.check("2001:db8:0:1::2".parse().expect("ip"), 1).is_ok());
    }
}
