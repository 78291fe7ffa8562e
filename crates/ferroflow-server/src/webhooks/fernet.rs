//! Fernet tokens (the `cryptography` package's spec), which MLflow uses to keep webhook
//! secrets encrypted in the `secret` column under `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`.
//! Same key, same tokens: a database can move between MLflow and Ferroflow.
//!
//! token = base64url(0x80 ‖ timestamp (u64 BE) ‖ IV (16) ‖ AES-128-CBC/PKCS7 ‖ HMAC-SHA256)
//! key   = base64url(signing key (16) ‖ encryption key (16))

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

const VERSION: u8 = 0x80;

#[derive(Clone)]
pub struct Fernet {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl std::fmt::Debug for Fernet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fernet(..)")
    }
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    URL_SAFE
        .decode(s)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
}

impl Fernet {
    /// A key as `Fernet.generate_key()` prints it (32 url-safe base64-encoded bytes).
    pub fn from_key(key: &str) -> Result<Fernet, String> {
        let bytes = b64_decode(key).filter(|b| b.len() == 32);
        let bytes = bytes
            .ok_or_else(|| "Fernet key must be 32 url-safe base64-encoded bytes.".to_string())?;
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&bytes[..16]);
        encryption.copy_from_slice(&bytes[16..]);
        Ok(Fernet {
            signing,
            encryption,
        })
    }

    /// A fresh random key (what MLflow does when no key is configured).
    pub fn generate() -> Result<Fernet, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a Fernet key: {e}"))?;
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&bytes[..16]);
        encryption.copy_from_slice(&bytes[16..]);
        Ok(Fernet {
            signing,
            encryption,
        })
    }

    fn mac(&self) -> Result<Hmac<Sha256>, String> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.signing).map_err(|e| e.to_string())
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, String> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(|e| format!("no randomness for a Fernet IV: {e}"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.encrypt_at(plaintext, now, iv)
    }

    fn encrypt_at(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> Result<String, String> {
        let ciphertext = Aes128CbcEnc::new(&self.encryption.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut token = Vec::with_capacity(1 + 8 + 16 + ciphertext.len() + 32);
        token.push(VERSION);
        token.extend_from_slice(&timestamp.to_be_bytes());
        token.extend_from_slice(&iv);
        token.extend_from_slice(&ciphertext);
        let mut mac = self.mac()?;
        mac.update(&token);
        token.extend_from_slice(&mac.finalize().into_bytes());
        Ok(base64::engine::general_purpose::URL_SAFE.encode(token))
    }

    /// The plaintext of a token made with this key (no TTL, as MLflow decrypts).
    pub fn decrypt(&self, token: &str) -> Result<Vec<u8>, String> {
        let invalid =
            || "invalid Fernet token (wrong MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY?)".to_string();
        let data = b64_decode(token).ok_or_else(invalid)?;
        if data.len() < 1 + 8 + 16 + 16 + 32 || data[0] != VERSION || (data.len() - 57) % 16 != 0 {
            return Err(invalid());
        }
        let (signed, tag) = data.split_at(data.len() - 32);
        let mut mac = self.mac()?;
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| invalid())?;
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&signed[9..25]);
        Aes128CbcDec::new(&self.encryption.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&signed[25..])
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spec's test vector (github.com/fernet/spec, generate.json).
    const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";

    #[test]
    fn matches_the_spec_vector() {
        let f = Fernet::from_key(KEY).expect("key");
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            f.encrypt_at(b"hello", 499_162_800, iv).as_deref(),
            Ok(TOKEN)
        );
        assert_eq!(f.decrypt(TOKEN).as_deref(), Ok(&b"hello"[..]));
    }

    #[test]
    fn round_trips_and_refuses_other_keys() {
        let f = Fernet::generate().expect("key");
        let token = f.encrypt("s3cr3t ü".as_bytes()).expect("encrypt");
        assert_eq!(f.decrypt(&token).as_deref(), Ok("s3cr3t ü".as_bytes()));
        let other = Fernet::generate().expect("key");
        assert!(other.decrypt(&token).is_err());
        assert!(f.decrypt("not a token").is_err());
        assert!(Fernet::from_key("short").is_err());
    }
}
