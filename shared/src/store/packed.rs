//! Bodies as the adapters store them: LZ4-compressed. A body of JSON
//! events shrinks several times over, and so do the writes that store it:
//! the delivery log's request bodies (every attempt writes its body once
//! more; a DynamoDB item's write units shrink with it, BENCHMARKS.md
//! "Delivery log") and the SQLite queue's message bodies (half of the WAL
//! a request wrote, BENCHMARKS.md "Packed queue bodies"). Bodies are
//! compressed and read back by the adapters only; the rest of the code
//! sees text.

/// A stored body that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("a stored body is not LZ4 data: {0}")]
    Lz4(#[from] lz4_flex::block::DecompressError),
    #[error("a stored body claims {size} bytes, more than the {limit} it may have")]
    TooLarge { size: usize, limit: usize },
    #[error("a stored body is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
}

/// The body compressed, its length first.
pub fn pack(body: &str) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(body.as_bytes())
}

/// A body [`pack`] made, at most `limit` bytes long. A corrupt or hostile
/// value fails; it never makes an allocation larger than `limit` (the
/// length it claims is checked first).
pub fn unpack(packed: &[u8], limit: usize) -> Result<String, UnpackError> {
    let (size, data) = lz4_flex::block::uncompressed_size(packed)?;
    if size > limit {
        return Err(UnpackError::TooLarge { size, limit });
    }
    Ok(String::from_utf8(lz4_flex::block::decompress(data, size)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 256 * 1024;

    #[test]
    fn bodies_read_back_as_they_were() {
        let body = format!(
            r#"{{"events":[{}]}}"#,
            r#"{"event_name":"é","n":1},"#.repeat(500)
        );
        let packed = pack(&body);
        assert!(packed.len() * 4 < body.len(), "{} bytes", packed.len());
        assert_eq!(unpack(&packed, LIMIT).unwrap(), body);
        assert_eq!(unpack(&pack(""), LIMIT).unwrap(), "");
    }

    #[test]
    fn corrupt_values_fail_without_a_large_allocation() {
        let claims_4_gib = [0xff, 0xff, 0xff, 0xff, 0x10, b'x'];
        assert!(matches!(
            unpack(&claims_4_gib, LIMIT),
            Err(UnpackError::TooLarge { .. })
        ));
        assert!(unpack(&[1, 2], LIMIT).is_err());
        let mut cut = pack(&"abc".repeat(1000));
        cut.truncate(cut.len() / 2);
        assert!(unpack(&cut, LIMIT).is_err());
    }

    #[test]
    fn a_body_over_the_limit_is_refused() {
        let body = "x".repeat(LIMIT + 1);
        assert!(matches!(
            unpack(&pack(&body), LIMIT),
            Err(UnpackError::TooLarge { size, limit: LIMIT }) if size == LIMIT + 1
        ));
        assert_eq!(unpack(&pack(&body[1..]), LIMIT).unwrap().len(), LIMIT);
    }
}
