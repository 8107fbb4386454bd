//! Request bodies as the delivery log stores them: LZ4-compressed. A
//! webhook body of JSON events shrinks several times over, and every
//! attempt writes its body once more, so the log's writes (and a DynamoDB
//! item's write units) shrink with it (BENCHMARKS.md "Delivery log").
//! Bodies are compressed and read back by the adapters only; the rest of
//! the code sees text.

use super::model::REQUEST_BODY_LIMIT;

/// A stored body that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("a stored request body is not LZ4 data: {0}")]
    Lz4(#[from] lz4_flex::block::DecompressError),
    #[error("a stored request body claims {0} bytes, more than a body is kept")]
    TooLarge(usize),
    #[error("a stored request body is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
}

/// The body compressed, its length first.
pub fn pack(body: &str) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(body.as_bytes())
}

/// A body [`pack`] made. A corrupt or hostile value fails; it never makes
/// a large allocation (the length it claims is checked first).
pub fn unpack(packed: &[u8]) -> Result<String, UnpackError> {
    let (size, data) = lz4_flex::block::uncompressed_size(packed)?;
    if size > REQUEST_BODY_LIMIT {
        return Err(UnpackError::TooLarge(size));
    }
    Ok(String::from_utf8(lz4_flex::block::decompress(data, size)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_back_as_they_were() {
        let body = format!(
            r#"{{"events":[{}]}}"#,
            r#"{"event_name":"é","n":1},"#.repeat(500)
        );
        let packed = pack(&body);
        assert!(packed.len() * 4 < body.len(), "{} bytes", packed.len());
        assert_eq!(unpack(&packed).unwrap(), body);
        assert_eq!(unpack(&pack("")).unwrap(), "");
    }

    #[test]
    fn corrupt_values_fail_without_a_large_allocation() {
        let claims_4_gib = [0xff, 0xff, 0xff, 0xff, 0x10, b'x'];
        assert!(matches!(
            unpack(&claims_4_gib),
            Err(UnpackError::TooLarge(_))
        ));
        assert!(unpack(&[1, 2]).is_err());
        let mut cut = pack(&"abc".repeat(1000));
        cut.truncate(cut.len() / 2);
        assert!(unpack(&cut).is_err());
    }
}
