//! Customer.io's reporting-webhook signature (docs/interface/auth.md
//! "Customer.io signatures"): `X-CIO-Signature` is the lower-case hex of
//! HMAC-SHA256(signing key, `v0:<X-CIO-Timestamp>:<raw body>`).

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The two signature headers as the request carried them.
#[derive(Clone, Debug)]
pub struct Signed {
    pub timestamp: String,
    pub signature: String,
}

/// Why a signed request is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Wrong key, altered body or timestamp, or not a signature at all.
    #[error("the X-CIO-Signature does not match the request")]
    Mismatch,
    /// A correctly signed request, but too old or too far ahead: a replay.
    #[error(
        "X-CIO-Timestamp is {skew} s from now, more than the {tolerance} s accepted (a replayed request?)"
    )]
    Stale { skew: u64, tolerance: u32 },
}

/// Checks `signed` against the raw body, then its timestamp against `now`
/// (epoch seconds). The signature is checked first, so only a holder of the
/// key learns that a timestamp was stale.
pub fn verify(
    key: &[u8],
    signed: &Signed,
    body: &[u8],
    now: i64,
    tolerance_seconds: u32,
) -> Result<(), SignatureError> {
    let presented = hex::decode(signed.signature.trim()).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(signed.timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant time (hmac's verify compares with `subtle`).
    mac.verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)?;
    let timestamp: i64 = signed
        .timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Mismatch)?;
    let skew = now.abs_diff(timestamp);
    if skew > u64::from(tolerance_seconds) {
        return Err(SignatureError::Stale {
            skew,
            tolerance: tolerance_seconds,
        });
    }
    Ok(())
}

/// The signature of `body` at `timestamp` (tests, and `bench`).
pub fn sign(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Customer.io's own golden value (customerio-node test/webhooks.ts;
    /// tests/fixtures/customerio/signature-test-vector-customerio-node.json).
    const KEY: &[u8] = b"signing-secret";
    const TIMESTAMP: &str = "1614265384";
    const BODY: &[u8] = br#"{"event_id":"abc","object_type":"email","metric":"delivered"}"#;
    const SIGNATURE: &str = "6f55cf23f9b73a2ff07733fe04421f64ce9ec5e409696edda6b2a80311944230";

    fn signed(signature: &str) -> Signed {
        Signed {
            timestamp: TIMESTAMP.into(),
            signature: signature.into(),
        }
    }

    #[test]
    fn customerio_golden_vector() {
        assert_eq!(sign(KEY, TIMESTAMP, BODY), SIGNATURE);
        let now = 1_614_265_384;
        assert_eq!(verify(KEY, &signed(SIGNATURE), BODY, now, 300), Ok(()));
        // Upper-case hex is the same bytes.
        let upper = SIGNATURE.to_ascii_uppercase();
        assert_eq!(verify(KEY, &signed(&upper), BODY, now, 300), Ok(()));
    }

    #[test]
    fn anything_altered_is_a_mismatch() {
        let now = 1_614_265_384;
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verify(KEY, &signed(SIGNATURE), &body, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other-key", &signed(SIGNATURE), BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
        let other_time = Signed {
            timestamp: "1614265385".into(),
            signature: SIGNATURE.into(),
        };
        assert_eq!(
            verify(KEY, &other_time, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "zz", &SIGNATURE[..62], "v0=6f55"] {
            assert_eq!(
                verify(KEY, &signed(bad), BODY, now, 300),
                Err(SignatureError::Mismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn stale_timestamps_are_replays_both_ways() {
        let at = 1_614_265_384;
        assert!(verify(KEY, &signed(SIGNATURE), BODY, at + 300, 300).is_ok());
        assert!(verify(KEY, &signed(SIGNATURE), BODY, at - 300, 300).is_ok());
        assert_eq!(
            verify(KEY, &signed(SIGNATURE), BODY, at + 301, 300),
            Err(SignatureError::Stale {
                skew: 301,
                tolerance: 300
            })
        );
        assert!(verify(KEY, &signed(SIGNATURE), BODY, at - 301, 300).is_err());
    }
}
