//! Bodies as the adapters store them: LZ4-compressed. A body of JSON
//! events shrinks several times over, and so do the writes that store it:
//! the delivery log's request bodies (every attempt writes its body once
//! more; a DynamoDB item's write units shrink with it, BENCHMARKS.md
//! "Delivery log") and the SQLite queue's message bodies (half of the WAL
//! a request wrote, BENCHMARKS.md "Packed queue bodies"). Bodies are
//! compressed and read back by the adapters only; the rest of the code
//! sees text.

use std::cell::RefCell;

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

/// Bodies up to this size are compressed and read back in a buffer each
/// thread keeps (at most this much a thread); larger ones, rare, in a buffer
/// of their own.
const KEPT_BUFFER_BYTES: usize = 256 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `f` over a buffer of `len` bytes whose contents are unspecified. Why
/// not a zeroed vector each time: a large zeroed allocation is one that
/// jemalloc zeroes by giving the pages back to the kernel, so every body
/// packed or read paid a `madvise` and a page fault per 4 KiB; they were
/// 21 000 faults a second at 50 000 events/s (BENCHMARKS.md "Issue 22,
/// twelfth session").
fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    if len > KEPT_BUFFER_BYTES {
        return f(&mut vec![0; len]);
    }
    BUFFER.with_borrow_mut(|buffer| {
        if buffer.len() < len {
            buffer.resize(len, 0);
        }
        f(&mut buffer[..len])
    })
}

/// The body compressed, its length first (as
/// `lz4_flex::block::compress_prepend_size` writes it).
pub fn pack(body: &str) -> Vec<u8> {
    let input = body.as_bytes();
    let size = u32::try_from(input.len()).expect("a body is smaller than 4 GiB");
    let bound = PREFIX + lz4_flex::block::get_maximum_output_size(input.len());
    with_buffer(bound, |buffer| {
        buffer[..PREFIX].copy_from_slice(&size.to_le_bytes());
        let written = lz4_flex::block::compress_into(input, &mut buffer[PREFIX..])
            .expect("the buffer has LZ4's bound on the output");
        buffer[..PREFIX + written].to_vec()
    })
}

/// The length prefix [`pack`] writes: a little-endian `u32`.
const PREFIX: usize = 4;

/// A body [`pack`] made, at most `limit` bytes long. A corrupt or hostile
/// value fails; it never makes an allocation larger than `limit` (the
/// length it claims is checked first).
pub fn unpack(packed: &[u8], limit: usize) -> Result<String, UnpackError> {
    let (size, data) = lz4_flex::block::uncompressed_size(packed)?;
    if size > limit {
        return Err(UnpackError::TooLarge { size, limit });
    }
    let body = with_buffer(size, |buffer| {
        let written = lz4_flex::block::decompress_into(data, buffer)?;
        Ok::<_, UnpackError>(buffer[..written].to_vec())
    })?;
    Ok(String::from_utf8(body)?)
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
    fn bodies_are_written_as_lz4_flex_writes_them_whatever_came_before() {
        // Stored bodies stay readable across this change and back: the
        // bytes are `compress_prepend_size`'s. A thread's buffer holds what
        // a larger body left; what is read back is only what was written.
        let large = r#"{"event_name":"Viewed","n":12345},"#.repeat(5_000);
        let over_the_kept_buffer = "y".repeat(KEPT_BUFFER_BYTES + 10);
        for body in [&large, "{}", "", &over_the_kept_buffer, "é", &large] {
            let packed = pack(body);
            assert_eq!(
                packed,
                lz4_flex::block::compress_prepend_size(body.as_bytes())
            );
            assert_eq!(unpack(&packed, 2 * KEPT_BUFFER_BYTES).unwrap(), body);
        }
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
