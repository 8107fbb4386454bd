//! A delivery's event uuids as the delivery log stores them: 16 bytes
//! each, when every one is written as engage-bridge writes uuids
//! (hyphenated, lowercase); otherwise they stay in the entry's JSON. A
//! delivery of 100 events held them as 3.9 KB of JSON text, which took its
//! entry over a page (BENCHMARKS.md "Issue 22, twenty-first session").

use uuid::Uuid;

/// Stored uuids whose length is not a whole number of uuids.
#[derive(Debug, thiserror::Error)]
#[error("stored event uuids are {0} bytes, not a whole number of 16-byte uuids")]
pub struct UuidsError(usize);

/// The uuids as bytes, or `None` when any of them would not read back
/// as the same text (another spelling, or not a uuid), or there are none.
pub fn pack(uuids: &[String]) -> Option<Vec<u8>> {
    if uuids.is_empty() {
        return None;
    }
    let mut packed = Vec::with_capacity(uuids.len() * 16);
    for written in uuids {
        // The one 36-character form `try_parse` reads is the hyphenated
        // one; in lowercase it is what `unpack` writes back (cheaper than
        // writing each back to compare: BENCHMARKS.md "Issue 22,
        // twenty-second session").
        if written.len() != uuid::fmt::Hyphenated::LENGTH
            || written.bytes().any(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        packed.extend_from_slice(Uuid::try_parse(written).ok()?.as_bytes());
    }
    Some(packed)
}

/// The uuids [`pack`] stored, as the text they were.
pub fn unpack(packed: &[u8]) -> Result<Vec<String>, UuidsError> {
    let chunks = packed.chunks_exact(16);
    if !chunks.remainder().is_empty() {
        return Err(UuidsError(packed.len()));
    }
    Ok(chunks
        .map(|bytes| {
            let bytes: [u8; 16] = bytes.try_into().expect("chunks of 16 bytes");
            Uuid::from_bytes(bytes).hyphenated().to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_read_back_as_they_were_written() {
        let uuids: Vec<String> = (0..100u32)
            .map(|i| Uuid::new_v5(&Uuid::NAMESPACE_OID, &i.to_le_bytes()).to_string())
            .collect();
        let packed = pack(&uuids).unwrap();
        assert_eq!(packed.len(), 1_600);
        assert_eq!(unpack(&packed).unwrap(), uuids);
    }

    #[test]
    fn any_other_spelling_is_left_as_text() {
        let uuid = "3afa08b1-ae68-5642-ba3a-38bcf25e1d07";
        for other in [
            "3AFA08B1-AE68-5642-BA3A-38BCF25E1D07",
            "3afa08b1ae685642ba3a38bcf25e1d07",
            "{3afa08b1-ae68-5642-ba3a-38bcf25e1d07}",
            "urn:uuid:3afa08b1-ae68-5642-ba3a-38bcf25e1d07",
            "e1",
            "",
        ] {
            assert_eq!(pack(&[uuid.into(), other.into()]), None, "{other}");
        }
        assert_eq!(pack(&[]), None);
        assert!(pack(&[uuid.into()]).is_some());
    }

    #[test]
    fn a_cut_value_is_an_error() {
        let packed = pack(&["3afa08b1-ae68-5642-ba3a-38bcf25e1d07".into()]).unwrap();
        assert!(unpack(&packed[..15]).is_err());
        assert_eq!(unpack(&[]).unwrap(), Vec::<String>::new());
    }
}
