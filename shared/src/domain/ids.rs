//! Deterministic identifiers. Replays of the same input must yield the same ids
//! so receivers can de-duplicate (docs/interface/events.md).

use uuid::Uuid;

use super::event::Event;

/// Namespace for every v5 uuid engage-bridge derives (a fixed random uuid).
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_4a0e_9b7f_4f3e_a2f1_5e0c_9d8b_7a61);

/// A v5 uuid over the given parts, joined unambiguously (length-prefixed).
/// The SHA-1 is RustCrypto's, which uses the CPU's SHA instructions where
/// there are any: one per event on ingest (BENCHMARKS.md "mParticle
/// ingest"); `Uuid::new_v5` hashes in portable code, ~5× slower.
pub fn derived_uuid(parts: &[&str]) -> String {
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new_with_prefix(NAMESPACE.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let uuid = uuid::Builder::from_sha1_bytes(bytes).into_uuid();
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// `moe_request_id` of a stream's batch: derived from the workspace, the
/// stream and the batch's events, so a redelivered queue message yields the
/// same id, and it never changes across retries (it travels in the retry
/// message).
pub fn request_id<'a>(
    workspace: &str,
    stream: &str,
    events: impl IntoIterator<Item = &'a Event>,
) -> String {
    derived_uuid(&[workspace, stream, &joined_uuids(events)])
}

/// The `moe_request_id` of a part of request `base` (a split request, the
/// throttled part of one, its `User Deleted` events): derived from its
/// events, so the same part gets the same id whenever it is derived again.
pub fn part_id<'a>(base: &str, events: impl IntoIterator<Item = &'a Event>) -> String {
    derived_uuid(&[base, "part", &joined_uuids(events)])
}

fn joined_uuids<'a>(events: impl IntoIterator<Item = &'a Event>) -> String {
    let uuids: Vec<&str> = events.into_iter().map(|e| e.event_uuid.as_str()).collect();
    uuids.join(",")
}

/// A fresh random id (request ids, receipt handles).
pub fn random_id() -> String {
    Uuid::new_v4().to_string()
}

/// The internal user id of a profile created from a uid or an anonymous id.
/// Deterministic, so concurrent creators of the same profile agree on it.
pub fn moengage_user_id(workspace_id: &str, key: &ProfileKey) -> String {
    match key {
        ProfileKey::Uid(uid) => derived_uuid(&[workspace_id, "uid", uid]),
        ProfileKey::AnonymousId(anon) => derived_uuid(&[workspace_id, "anonymous_id", anon]),
    }
}

/// What a profile was created from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProfileKey {
    Uid(String),
    AnonymousId(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of stored data and queued events must not change with the
    /// SHA-1 implementation: the same v5 uuids `Uuid::new_v5` gives.
    #[test]
    fn derived_uuids_are_the_v5_uuids_of_the_length_prefixed_parts() {
        for parts in [&["a", "b"][..], &[""], &["ws", "uid", "ü😀"], &["x"; 40]] {
            let mut name = Vec::new();
            for part in parts {
                name.extend_from_slice(&(part.len() as u64).to_be_bytes());
                name.extend_from_slice(part.as_bytes());
            }
            let v5 = Uuid::new_v5(&NAMESPACE, &name).to_string();
            assert_eq!(derived_uuid(parts), v5, "{parts:?}");
        }
    }

    #[test]
    fn derived_uuids_are_stable_and_unambiguous() {
        assert_eq!(derived_uuid(&["a", "b"]), derived_uuid(&["a", "b"]));
        assert_ne!(derived_uuid(&["ab", ""]), derived_uuid(&["a", "b"]));
        let id = Uuid::parse_str(&derived_uuid(&["ws", "x"])).unwrap();
        assert_eq!(id.get_version_num(), 5);
    }

    #[test]
    fn uid_and_anonymous_profiles_differ() {
        let a = moengage_user_id("ws", &ProfileKey::Uid("u1".into()));
        let b = moengage_user_id("ws", &ProfileKey::AnonymousId("u1".into()));
        let c = moengage_user_id("other", &ProfileKey::Uid("u1".into()));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
