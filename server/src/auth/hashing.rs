//! Password hashing (argon2id, PHC strings) and generation of random passwords.
//!
//! Hashing and verifying cost tens of milliseconds of CPU each: call them from
//! `tokio::task::spawn_blocking` on request paths.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::TryRngCore;
use rand::distr::{Alphanumeric, Distribution};
use rand::rngs::OsRng;

/// Length of a generated password.
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash password: {0}")]
pub struct PasswordError(argon2::password_hash::Error);

/// Hashes `password` with argon2id (the crate's default parameters) and a fresh random salt,
/// returning a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(PasswordError)
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    // A hash stating a cost above the bound (an import can carry any) never matches; the
    // dummy hash is verified instead, so the answer costs the same.
    if !ironworx_entity::queries::users::Argon2Cost::of(hash).is_some_and(|c| c.is_bounded()) {
        tracing::warn!("an argon2id hash states a cost above the bound; it never matches");
        let _ = Argon2::default().verify_password(password.as_bytes(), crate::auth::dummy_hash());
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// A random password of [`GENERATED_PASSWORD_LEN`] characters from `[A-Za-z0-9]`, drawn from
/// the operating system's random source.
pub fn generate_password() -> String {
    let mut rng = OsRng.unwrap_err();
    Alphanumeric
        .sample_iter(&mut rng)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }

    /// A hash stating more memory or passes than the bound is never verified: with its cost
    /// raised, the right password no longer matches (and verifying it costs what the dummy
    /// hash costs, not the 4 GiB it states).
    #[test]
    fn costs_above_the_bound_never_match() {
        let hash = hash_password("correct horse").expect("hashes");
        for (from, to) in [("m=19456", "m=4194304"), ("t=2", "t=1000"), ("p=1", "p=64")] {
            let costly = hash.replacen(from, to, 1);
            assert_ne!(costly, hash);
            assert!(!verify_password("correct horse", &costly), "{costly}");
        }
        assert!(!verify_password("correct horse", "$argon2id$v=19$nothing"));
    }

    #[test]
    fn salts_differ() {
        let a = hash_password("same").expect("hashes");
        let b = hash_password("same").expect("hashes");
        assert_ne!(a, b);
        assert!(verify_password("same", &a));
        assert!(verify_password("same", &b));
    }

    #[test]
    fn malformed_hash_never_matches() {
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password("x", "$argon2id$v=19$m=19456,t=2,p=1$bad"));
    }

    #[test]
    fn generated_passwords_are_url_safe_and_distinct() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), GENERATED_PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }
}
