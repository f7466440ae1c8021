//! Passwords imported from ThingWorx: `PBKDF2WithHmacSHA512`, stored as
//! `<iterations>:<salt hex>:<hash hex>` with the iteration count and sizes kept beside it.
//! They are verified here, in constant time, and replaced by argon2id at the next login.

use sha2::Sha512;
use subtle::ConstantTimeEq;

/// The most iterations accepted from a stored hash (ThingWorx uses 100 000); a bound keeps a
/// crafted import from turning a login into a denial of service.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// The largest derived key accepted, in bytes.
pub const MAX_HASH_BYTES: usize = 512;

/// Whether `password` matches `stored` (`iterations:salt:hash`, both in hex). A malformed
/// record never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let mut parts = stored.split(':');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (hex::decode(salt), hex::decode(hash)) else {
        return false;
    };
    if iterations == 0
        || iterations > MAX_ITERATIONS
        || expected.is_empty()
        || expected.len() > MAX_HASH_BYTES
    {
        return false;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations, &mut derived);
    derived.ct_eq(&expected).into()
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
        assert!(verify("s3cret", &stored));
        assert!(!verify("s3cret!", &stored));
        assert!(!verify("s3cret", "garbage"));
        assert!(!verify("s3cret", "0:00:00"));
        assert!(!verify("s3cret", &stored.replace("1000:", "99999999:")));
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
