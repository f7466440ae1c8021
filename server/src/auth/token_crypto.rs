//! The cryptography behind session tokens: HMAC-SHA256 (`HS256`, the only algorithm sessions
//! are signed and verified with) from `ring`, installed as `jsonwebtoken`'s process-wide
//! crypto provider. Any other algorithm is refused.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::hmac;

/// The provider: HS256 only; JWK key utilities are not offered (sessions never read JWKs).
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256 available to `jsonwebtoken::encode` and `jsonwebtoken::decode` in this process.
/// Idempotent; call it before the first token is signed or verified ([`super::session`] does).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only when a provider is already installed, which then stays in force.
        let _ = PROVIDER.install_default();
    });
}

/// Signs with HMAC-SHA256.
struct Hs256Signer(hmac::Key);

/// Verifies an HMAC-SHA256 tag (in constant time, `ring::hmac::verify`).
struct Hs256Verifier(hmac::Key);

fn hs256_key(algorithm: Algorithm, family: AlgorithmFamily, secret: &[u8]) -> Result<hmac::Key> {
    if algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if family != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, secret))
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let key = hs256_key(*algorithm, key.family(), key.as_bytes())?;
    Ok(Box::new(Hs256Signer(key)))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let key = hs256_key(*algorithm, key.family(), key.try_get_as_bytes()?)?;
    Ok(Box::new(Hs256Verifier(key)))
}

impl Signer<Vec<u8>> for Hs256Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl JwtSigner for Hs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256Verifier {
    fn verify(&self, msg: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        hmac::verify(&self.0, msg, tag).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn sign(algorithm: Algorithm, key: &[u8]) -> Result<String> {
        encode(
            &Header::new(algorithm),
            &claims(),
            &EncodingKey::from_secret(key),
        )
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            exp: jsonwebtoken::get_current_timestamp() + 60,
        }
    }

    #[test]
    fn hs256_tokens_verify_with_their_key_only() {
        install();
        let token = sign(Algorithm::HS256, b"key one").expect("sign");
        let validation = Validation::new(Algorithm::HS256);
        let read = decode::<Claims>(&token, &DecodingKey::from_secret(b"key one"), &validation)
            .expect("verify");
        assert_eq!(read.claims, claims());
        let wrong = decode::<Claims>(&token, &DecodingKey::from_secret(b"key two"), &validation)
            .expect_err("another key");
        assert_eq!(wrong.kind(), &ErrorKind::InvalidSignature);
        // The first character of the tag carries six of its bits.
        let tag_at = token.rfind('.').expect("three parts") + 1;
        let flipped = if token[tag_at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        let mut tampered = token.clone();
        tampered.replace_range(tag_at..=tag_at, flipped);
        decode::<Claims>(
            &tampered,
            &DecodingKey::from_secret(b"key one"),
            &validation,
        )
        .expect_err("a changed tag");
    }

    #[test]
    fn other_algorithms_are_refused() {
        install();
        let signed = sign(Algorithm::HS512, b"key").expect_err("HS512 is not offered");
        assert_eq!(signed.kind(), &ErrorKind::InvalidAlgorithm);
        let token = sign(Algorithm::HS256, b"key").expect("sign");
        let validation = Validation::new(Algorithm::HS384);
        decode::<Claims>(&token, &DecodingKey::from_secret(b"key"), &validation)
            .expect_err("a token under another algorithm's validation");
    }
}
