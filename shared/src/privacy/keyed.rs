//! The keyed hash that stands for a uid wherever engage-bridge keeps one
//! after an erasure: HMAC-SHA256 with the workspace's own key, hex
//! (docs/interface/privacy.md "Suppression"). Without the key, a stored hash
//! cannot be matched against a list of candidate uids.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// A workspace's HMAC key.
#[derive(Clone)]
pub struct HashKey(Vec<u8>);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(***)")
    }
}

impl HashKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The hex HMAC-SHA256 of `value`.
    pub fn hash(&self, value: &str) -> String {
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        let key = HashKey::new(b"Jefe".to_vec());
        assert_eq!(
            key.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_make_different_hashes() {
        let a = HashKey::new(vec![1; 32]);
        let b = HashKey::new(vec![2; 32]);
        assert_ne!(a.hash("u1"), b.hash("u1"));
        assert_eq!(a.hash("u1"), a.hash("u1"));
        assert!(!format!("{a:?}").contains('1'));
    }
}
