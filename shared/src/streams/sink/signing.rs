//! Standard Webhooks signatures of webhook stream requests
//! (docs/interface/streams.md "Signing (Standard Webhooks)"): `webhook-id`,
//! `webhook-timestamp` and one `v1,<base64 HMAC-SHA256>` entry per secret in
//! `webhook-signature`, so receivers can rotate keys with zero downtime.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

use crate::config::Secret;
use crate::config::signing::signing_key;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub const ID: &str = "webhook-id";
pub const TIMESTAMP: &str = "webhook-timestamp";
pub const SIGNATURE: &str = "webhook-signature";

/// `v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The three headers for `body` sent as request `id` at `timestamp`, or
/// none without secrets. Secrets are checked when the stream is read
/// (`crate::config::signing`), so each yields one entry.
pub fn headers(
    secrets: &[Secret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let entries: Vec<String> = secrets
        .iter()
        .filter_map(|secret| signing_key(secret).ok())
        .map(|key| signature(&key, id, timestamp, body))
        .collect();
    if entries.is_empty() {
        return Vec::new();
    }
    vec![
        (ID, id.to_owned()),
        (TIMESTAMP, timestamp.to_string()),
        (SIGNATURE, entries.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vectors (tests/fixtures/standard-webhooks/signing-test-vectors.json).
    #[test]
    fn standard_webhooks_test_vectors() {
        let vectors = [
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ];
        for (secret, id, timestamp, payload, expected) in vectors {
            let key = signing_key(&Secret::new(secret)).unwrap();
            assert_eq!(signature(&key, id, timestamp, payload.as_bytes()), expected);
        }
    }

    #[test]
    fn one_entry_per_secret_space_separated() {
        let secrets = [
            Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        ];
        let h = headers(&secrets, "id-1", 1_700_000_000, b"{}");
        assert_eq!(h[0], (ID, "id-1".to_owned()));
        assert_eq!(h[1], (TIMESTAMP, "1700000000".to_owned()));
        let entries: Vec<&str> = h[2].1.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.starts_with("v1,")));
        assert_ne!(entries[0], entries[1]);
        assert!(headers(&[], "id-1", 1, b"{}").is_empty());
    }
}
