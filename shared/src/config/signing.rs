//! Standard Webhooks signing secrets (docs/interface/streams.md "Signing
//! (Standard Webhooks)"): `whsec_` followed by the base64 of the key, which
//! the specification wants 24 to 64 bytes long. Checked when a stream is
//! read, so a stream in use never holds a secret it cannot sign with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::secret::Secret;

pub const PREFIX: &str = "whsec_";
/// Key lengths the specification allows, in bytes.
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Why a signing secret is unusable; the message never quotes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadSigningSecret {
    #[error("must start with \"whsec_\" (whsec_ followed by the base64 of the key)")]
    NoPrefix,
    #[error("is not \"whsec_\" followed by standard base64")]
    NotBase64,
    #[error(
        "decodes to a {0}-byte key; Standard Webhooks keys are {min} to {max} bytes",
        min = KEY_BYTES.start(),
        max = KEY_BYTES.end()
    )]
    KeyLength(usize),
}

/// The key bytes of a `whsec_…` secret.
pub fn signing_key(secret: &Secret) -> Result<Vec<u8>, BadSigningSecret> {
    let encoded = secret
        .expose()
        .strip_prefix(PREFIX)
        .ok_or(BadSigningSecret::NoPrefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| BadSigningSecret::NotBase64)?;
    if !KEY_BYTES.contains(&key.len()) {
        return Err(BadSigningSecret::KeyLength(key.len()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_test_secrets_are_valid() {
        // tests/fixtures/standard-webhooks/signing-test-vectors.json
        for secret in [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ] {
            assert_eq!(signing_key(&Secret::new(secret)).unwrap().len(), 24);
        }
    }

    #[test]
    fn bad_secrets_are_refused_without_being_quoted() {
        let cases = [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"),
            ("whsec_not*base64!", "standard base64"),
            ("whsec_c2hvcnQ=", "5-byte key"),
            (
                &format!("whsec_{}", STANDARD.encode([7u8; 65])),
                "65-byte key",
            ),
        ];
        for (secret, expected) in cases {
            let e = signing_key(&Secret::new(secret)).unwrap_err().to_string();
            assert!(e.contains(expected), "{secret}: {e}");
            assert!(!e.contains(&secret[secret.len().min(8)..]), "{e}");
        }
    }
}
