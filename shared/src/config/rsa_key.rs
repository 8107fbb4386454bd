//! The OpenDSR signing key (`[privacy] signing_key`, docs/interface/privacy.md
//! "Signatures"): an RSA private key in PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`)
//! or PKCS#8 (`BEGIN PRIVATE KEY`), signing with RSASSA-PKCS1-v1_5 over
//! SHA-256. Read when the configuration is loaded, so a processor in use
//! never holds a key it cannot sign with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

use super::secret::Secret;

/// Why a key was refused; never quotes it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "is not a PEM RSA private key (expected -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)"
    )]
    NotPem,
    #[error("is a PEM block that does not hold a usable RSA private key")]
    Unusable,
}

/// A loaded signing key. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct RsaSigningKey(pkcs1v15::SigningKey<Sha256>);

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigningKey(***)")
    }
}

impl RsaSigningKey {
    pub fn from_pem(pem: &Secret) -> Result<Self, KeyError> {
        let text = pem.expose().trim();
        let key = if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::PrivateKey::from_pkcs1_pem(text).map_err(|_| KeyError::Unusable)?
        } else if text.starts_with("-----BEGIN PRIVATE KEY-----") {
            rsa::PrivateKey::from_pkcs8_pem(text).map_err(|_| KeyError::Unusable)?
        } else {
            return Err(KeyError::NotPem);
        };
        Ok(Self(pkcs1v15::SigningKey::new(key)))
    }

    /// Base64 (standard, padded) of the RSA-SHA256 PKCS#1 v1.5 signature of
    /// `body`: the value of `X-OpenDSR-Signature`.
    pub fn sign_base64(&self, body: &[u8]) -> String {
        STANDARD.encode(self.0.sign(body).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_never_quote_the_key() {
        let garbage = Secret::new("hunter2-not-a-key");
        let e = RsaSigningKey::from_pem(&garbage).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let broken = Secret::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
        assert!(matches!(
            RsaSigningKey::from_pem(&broken),
            Err(KeyError::Unusable)
        ));
    }
}
