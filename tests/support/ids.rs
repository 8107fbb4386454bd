//! engage-bridge's derived ids, computed here from docs/rules/ids.md alone
//! (not with the implementation's function), so tests compare the
//! implementation against the documented rule. The literals below were
//! computed by hand with Python's `uuid` and `hashlib`.

/// The namespace of docs/rules/ids.md.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
    0x6d, 0x1c, 0x4a, 0x0e, 0x9b, 0x7f, 0x4f, 0x3e, 0xa2, 0xf1, 0x5e, 0x0c, 0x9d, 0x8b, 0x7a, 0x61,
]);

/// A v5 uuid over `parts`, each written as its UTF-8 length (8 bytes, big
/// endian) and its bytes.
pub fn derived(parts: &[&str]) -> String {
    let mut name = Vec::new();
    for part in parts {
        name.extend_from_slice(&u64::try_from(part.len()).unwrap().to_be_bytes());
        name.extend_from_slice(part.as_bytes());
    }
    uuid::Uuid::new_v5(&NAMESPACE, &name).to_string()
}

/// The `moengage_user_id` of the profile with `uid`.
pub fn user_id(workspace: &str, uid: &str) -> String {
    derived(&[workspace, "uid", uid])
}

/// The `event_uuid` of a `Partner Sync` event.
pub fn partner_sync(
    workspace: &str,
    segment: &str,
    member: &str,
    time: &str,
    action: &str,
) -> String {
    derived(&[workspace, segment, member, time, action])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python: `uuid.UUID(bytes=sha1(NS.bytes + name).digest()[:16], version=5)`.
    #[test]
    fn matches_values_computed_by_hand() {
        assert_eq!(
            user_id("demo", "cust-1001"),
            "e4e6d756-848a-50e0-bcff-468acea6e57b"
        );
        assert_eq!(
            derived(&["customerio", "demo", "01GJBCEYDJMH4VCDKXC98JNQ2D"]),
            "d2ec1498-363f-5878-bd42-a7a2dfb030e8"
        );
        assert_eq!(
            partner_sync(
                "acme",
                "mparticle-456",
                "72ca1b28-ef9c-530d-be14-d3cd14da93de",
                "1795341600.123",
                "Added"
            ),
            "eaff47f5-645a-54a8-aa0d-e29d79e474c5"
        );
        assert_eq!(
            derived(&["ws", "warehouse", "uuid-1"]),
            "d123eb82-09ba-5fcd-9da1-7f080425dcf0"
        );
    }
}
