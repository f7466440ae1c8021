//! Passwords imported from ThingWorx: `PBKDF2WithHmacSHA512`, stored as
//! `<iterations>:<salt hex>:<hash hex>` with the iteration count and sizes kept beside it.
//! They are verified here, in constant time, and replaced by argon2id at the next login.

use sha2::Sha512;
use subtle::ConstantTimeEq;

/// The most iterations a record may claim and still be verified, whatever
/// `--max-pbkdf2-iterations` says (the ceiling of that setting).
pub const MAX_ITERATIONS: u32 = crate::config::PBKDF2_ITERATIONS_CEILING;

/// The largest derived key accepted, in bytes.
pub const MAX_HASH_BYTES: usize = 512;

/// The iteration count a stored record claims, when it is readable.
pub fn iterations(stored: &str) -> Option<u32> {
    stored.split(':').next()?.parse().ok()
}

/// Whether `password` matches `stored` (`iterations:salt:hash`, both in hex); `None` when the
/// record cannot be verified: malformed, or claiming more than `max_iterations` (or
/// [`MAX_ITERATIONS`]). Such a record never matches and costs nothing here, so the caller
/// verifies a dummy hash instead, as for an unknown user.
pub fn verify(password: &str, stored: &str, max_iterations: u32) -> Option<bool> {
    let mut parts = stored.split(':');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let iterations = iterations.parse::<u32>().ok()?;
    let (Ok(salt), Ok(expected)) = (hex::decode(salt), hex::decode(hash)) else {
        return None;
    };
    if iterations == 0
        || iterations > max_iterations.min(MAX_ITERATIONS)
        || expected.is_empty()
        || expected.len() > MAX_HASH_BYTES
    {
        return None;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations, &mut derived);
    Some(derived.ct_eq(&expected).into())
}

/// Hashes `password` the way ThingWorx does, for tests and tools: `iterations:salt:hash`.
pub fn hash(password: &str, salt: &[u8], iterations: u32, hash_bytes: usize) -> String {
    let mut derived = vec![0u8; hash_bytes];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut derived);
    format!(
        "{iterations}:{}:{}",
        hex::encode(salt),
        hex::encode(derived)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_its_own_hashes_only() {
        let stored = hash("s3cret", &[7u8; 64], 1000, 64);
        assert_eq!(verify("s3cret", &stored, 210_000), Some(true));
        assert_eq!(verify("s3cret!", &stored, 210_000), Some(false));
        assert_eq!(verify("s3cret", "garbage", 210_000), None);
        assert_eq!(verify("s3cret", "0:00:00", 210_000), None);
        let huge = stored.replace("1000:", "99999999:");
        assert_eq!(verify("s3cret", &huge, u32::MAX), None);
        assert_eq!(iterations(&stored), Some(1000));
        assert_eq!(verify("s3cret", &stored, 999), None, "above the bound");
    }

    /// RFC 6070-style vector for PBKDF2-HMAC-SHA512 (password, salt, 1 iteration).
    #[test]
    fn known_vector() {
        let stored = hash("password", b"salt", 1, 64);
        assert!(stored.ends_with(
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        ));
    }
}
