//! Sealing of application key ids: a key id is stored as its SHA-256 (for authentication) and
//! sealed with ChaCha20-Poly1305 under a server key kept in the settings table (for `GetKeyID`,
//! which only those allowed may call). Neither form reveals the key without the server key.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ironworx_entity::queries::{QueryError, settings};
use sea_orm::DatabaseConnection;

/// The setting holding the sealing key (shared by every server process).
pub const SEAL_KEY_SETTING: &str = "appkey.seal_key";

const NONCE_LEN: usize = 12;

/// Seals and opens key ids.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

fn random<const N: usize>() -> Result<[u8; N], QueryError> {
    crate::auth::hashing::random_bytes().map_err(|e| QueryError::Refused(e.to_string()))
}

impl Sealer {
    /// Loads the sealing key, generating it on the very first start.
    pub async fn load(db: &DatabaseConnection) -> Result<Sealer, QueryError> {
        let engine = base64::engine::general_purpose::STANDARD;
        settings::set_once(db, SEAL_KEY_SETTING, &engine.encode(random::<32>()?)).await?;
        let key = settings::get(db, SEAL_KEY_SETTING)
            .await?
            .and_then(|k| engine.decode(k).ok())
            .ok_or_else(|| {
                QueryError::Refused("the application key sealing key is corrupt".into())
            })?;
        let cipher = ChaCha20Poly1305::new_from_slice(&key).map_err(|_| {
            QueryError::Refused("the application key sealing key has the wrong size".into())
        })?;
        Ok(Sealer { cipher })
    }

    /// Seals `secret`: base64 of nonce and ciphertext.
    pub fn seal(&self, secret: &str) -> Result<String, QueryError> {
        let nonce = random::<NONCE_LEN>()?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), secret.as_bytes())
            .map_err(|_| QueryError::Refused("cannot seal the key".into()))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens a sealed value; `None` when it was not sealed with this server's key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()?;
        String::from_utf8(plain).ok()
    }
}
