//! The delivery log's request bodies on SQLite: appended to a file per
//! hour beside the log's database instead of kept in it. A body in the
//! database was written twice (to the WAL, then by the checkpoint into the
//! file) as two pages and three b-tree inserts; appended here it is written
//! once, with the other bodies of its batch, in one `write`
//! (docs/interface/console.md "The delivery log", BENCHMARKS.md "Issue 22,
//! twenty-second session"). The entry keeps a [`BodyRef`].
//!
//! A record is a header (magic, flags, attempt time, length, CRC-32 of the
//! rest) and the body as `store::packed` packs it. What a record's header
//! does not vouch for reads as no body: a tail cut by a crash, or a range
//! an erasure overwrote with zeros ([`BodyFiles::erase`]). Retention
//! removes whole files ([`BodyFiles::sweep`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::delivery_log::batch::PackedBody;

/// A file holds the bodies written in one hour (by the writer's clock).
const HOUR_MS: i64 = 3_600_000;
/// "EBLB": engage-bridge log body.
const MAGIC: [u8; 4] = *b"EBLB";
/// magic 4, flags 1, at_ms 8, packed length 4, CRC-32 4.
const HEADER: usize = 21;
const TRUNCATED: u8 = 1;
/// No record is longer: bodies are cut at 256 KiB before they are packed
/// (`REQUEST_BODY_LIMIT`), and LZ4 adds at most 1/255 to them. A reference
/// claiming more (a damaged row) is refused before anything is allocated
/// or overwritten for it.
const MAX_RECORD: u64 = 1 << 20;

/// Where one body lies: its file (by hour) and its record's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyRef {
    pub hour_ms: i64,
    pub offset: u64,
    pub len: u64,
}

/// A record read back.
#[derive(Debug, PartialEq, Eq)]
pub struct BodyRecord {
    pub at_ms: i64,
    pub truncated: bool,
    pub packed: Vec<u8>,
}

/// The body files of one delivery log; only its writer appends.
///
/// How far each file is committed is kept in the log's database, in the
/// transaction of the entries that refer to its records
/// (`log_body_files`). Bytes past it belong to a batch whose transaction
/// failed or never committed (a crash): nobody refers to them, and they
/// are cut off, before the next append and when the log opens, so that no
/// body outlives its entry unseen by erasure.
pub struct BodyFiles {
    dir: PathBuf,
    /// The file of the hour last written.
    current: Option<(i64, File)>,
}

/// The hour whose file a body written at `now_ms` goes to.
pub fn hour_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// `<dir>/<store name>-delivery-log-bodies/` for the log at `log_db`.
pub fn dir_beside(log_db: &Path) -> PathBuf {
    let mut name = log_db
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    name.push("-bodies");
    log_db.with_file_name(name)
}

fn file_name(hour_ms: i64) -> String {
    format!("{hour_ms}.bodies")
}

/// The hour of a file `name` names, if it is one of ours.
fn hour_of(name: &str) -> Option<i64> {
    name.strip_suffix(".bodies")?.parse().ok()
}

impl BodyFiles {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, current: None })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bodies` in one write at `committed`, the end of what the
    /// database says `hour_ms`'s file holds (anything past it is cut off
    /// first): where each lies, in order.
    pub fn append(
        &mut self,
        hour_ms: i64,
        committed: u64,
        bodies: &[&PackedBody],
    ) -> io::Result<Vec<BodyRef>> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        if self
            .current
            .as_ref()
            .is_none_or(|(hour, _)| *hour != hour_ms)
        {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(self.dir.join(file_name(hour_ms)))?;
            self.current = Some((hour_ms, file));
        }
        let Some((_, file)) = self.current.as_mut() else {
            unreachable!("opened above");
        };
        if file.metadata()?.len() != committed {
            file.set_len(committed)?;
        }
        file.seek(SeekFrom::Start(committed))?;
        // Headers apart and the packed bodies where they are: one
        // `writev` of both, no copy of a batch's megabytes first.
        let headers: Vec<[u8; HEADER]> = bodies.iter().map(|b| header(b)).collect();
        let mut refs = Vec::with_capacity(bodies.len());
        let mut at = committed;
        for body in bodies {
            let record = (HEADER + body.packed.len()) as u64;
            refs.push(BodyRef {
                hour_ms,
                offset: at,
                len: record,
            });
            at += record;
        }
        let mut slices: Vec<IoSlice<'_>> = headers
            .iter()
            .zip(bodies)
            .flat_map(|(h, b)| [IoSlice::new(h), IoSlice::new(&b.packed)])
            .collect();
        if let Err(e) = write_all_vectored(file, &mut slices) {
            self.current = None;
            return Err(e);
        }
        Ok(refs)
    }

    /// Cuts each file to the length `committed` gives its hour (none: 0),
    /// at open: what a crash left past the last commit goes.
    pub fn cut_to_committed(&mut self, committed: &HashMap<i64, u64>) -> io::Result<()> {
        self.current = None;
        for file in std::fs::read_dir(&self.dir)? {
            let file = file?;
            let Some(hour_ms) = file.file_name().to_str().and_then(hour_of) else {
                continue;
            };
            let keep = committed.get(&hour_ms).copied().unwrap_or(0);
            if file.metadata()?.len() > keep {
                OpenOptions::new()
                    .write(true)
                    .open(file.path())?
                    .set_len(keep)?;
            }
        }
        Ok(())
    }

    /// Overwrites each body's record with zeros and flushes them to disk:
    /// an erased user's request bodies leave the files
    /// (docs/interface/privacy.md "Erasure"). Files retention removed are
    /// skipped.
    pub fn erase(&self, refs: &[BodyRef]) -> io::Result<()> {
        let mut by_hour: Vec<&BodyRef> = refs.iter().collect();
        by_hour.sort_by_key(|r| r.hour_ms);
        for hour in by_hour.chunk_by(|a, b| a.hour_ms == b.hour_ms) {
            let file = match OpenOptions::new()
                .write(true)
                .open(self.dir.join(file_name(hour[0].hour_ms)))
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for body in hour.iter().filter(|b| b.len <= MAX_RECORD) {
                file.write_all_at(&vec![0; body.len as usize], body.offset)?;
            }
            file.sync_data()?;
        }
        Ok(())
    }

    /// Removes the files whose hour ended at or before `before_ms`: every
    /// body in them is of an attempt before it. How many went.
    pub fn sweep(&mut self, before_ms: i64) -> io::Result<u64> {
        let mut removed = 0;
        for file in std::fs::read_dir(&self.dir)? {
            let file = file?;
            let name = file.file_name();
            let Some(hour_ms) = name.to_str().and_then(hour_of) else {
                continue;
            };
            if hour_ms.saturating_add(HOUR_MS) <= before_ms {
                if self.current.as_ref().is_some_and(|(h, _)| *h == hour_ms) {
                    self.current = None;
                }
                std::fs::remove_file(file.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A record's header: magic, flags, attempt time, length, CRC-32 of all
/// but the magic and itself.
fn header(body: &PackedBody) -> [u8; HEADER] {
    let flags = if body.truncated { TRUNCATED } else { 0 };
    let len = u32::try_from(body.packed.len()).expect("a packed body is smaller than 4 GiB");
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[flags]);
    hasher.update(&body.at_ms.to_le_bytes());
    hasher.update(&body.packed);
    let mut out = [0; HEADER];
    out[..4].copy_from_slice(&MAGIC);
    out[4] = flags;
    out[5..13].copy_from_slice(&body.at_ms.to_le_bytes());
    out[13..17].copy_from_slice(&len.to_le_bytes());
    out[17..].copy_from_slice(&hasher.finalize().to_le_bytes());
    out
}

/// `Write::write_all_vectored`, which is not stable yet: writes until
/// every slice is written (a `writev` takes at most `IOV_MAX` of them).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The record at `at`, if its header vouches for it: none when its file
/// is gone (retention), or its bytes were erased or never completed.
pub fn read(dir: &Path, at: BodyRef) -> io::Result<Option<BodyRecord>> {
    let file = match File::open(dir.join(file_name(at.hour_ms))) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(len) = usize::try_from(at.len) else {
        return Ok(None);
    };
    if len < HEADER
        || at.len > MAX_RECORD
        || at.offset.saturating_add(at.len) > file.metadata()?.len()
    {
        return Ok(None);
    }
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, at.offset)?;
    Ok(decode(&bytes))
}

fn decode(bytes: &[u8]) -> Option<BodyRecord> {
    let (header, packed) = bytes.split_at_checked(HEADER)?;
    if header[..4] != MAGIC {
        return None;
    }
    let flags = header[4];
    let at_ms = i64::from_le_bytes(header[5..13].try_into().ok()?);
    let len = u32::from_le_bytes(header[13..17].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[17..21].try_into().ok()?);
    if len != packed.len() {
        return None;
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[flags]);
    hasher.update(&header[5..13]);
    hasher.update(packed);
    (hasher.finalize() == crc).then(|| BodyRecord {
        at_ms,
        truncated: flags & TRUNCATED != 0,
        packed: packed.to_vec(),
    })
}

/// Every record the files in `dir` hold, in file and then write order,
/// whatever references them: what a reader of the raw files could find
/// (the privacy tests look for an erased uid in them).
pub fn scan(dir: &Path) -> io::Result<Vec<BodyRecord>> {
    let mut files: Vec<(i64, PathBuf)> = Vec::new();
    for file in std::fs::read_dir(dir)? {
        let file = file?;
        if let Some(hour) = file.file_name().to_str().and_then(hour_of) {
            files.push((hour, file.path()));
        }
    }
    files.sort();
    let mut records = Vec::new();
    for (_, path) in files {
        let bytes = std::fs::read(path)?;
        let mut at = 0;
        while let Some(header) = bytes.get(at..at + HEADER) {
            let len = u32::from_le_bytes(header[13..17].try_into().expect("4 bytes")) as usize;
            let end = (at + HEADER).saturating_add(len).min(bytes.len());
            match decode(&bytes[at..end]) {
                Some(record) => {
                    records.push(record);
                    at = end;
                }
                // An erased or cut record: look for the next one.
                None => at += 1,
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::packed;

    const HOUR: i64 = 1_796_670_000_000 / HOUR_MS * HOUR_MS;

    fn body(request: &str, text: &str, truncated: bool) -> PackedBody {
        PackedBody {
            moe_request_id: request.into(),
            at_ms: HOUR + 5,
            packed: packed::pack(text),
            truncated,
        }
    }

    fn text(record: &BodyRecord) -> String {
        packed::unpack(&record.packed, 1 << 20).unwrap()
    }

    #[test]
    fn bodies_read_back_from_where_they_were_appended() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().join("bodies")).unwrap();
        let (a, b) = (
            body("r1", "{\"n\":1}", false),
            body("r2", &"x".repeat(9_000), true),
        );
        let first = files.append(HOUR, 0, &[&a, &b]).unwrap();
        let end = first[1].offset + first[1].len;
        let later = files.append(HOUR, end, &[&a]).unwrap();
        assert_eq!(first[0].offset, 0);
        assert_eq!(first[1].offset, first[0].len);
        assert_eq!(later[0].offset, end);
        let read = |at| read(files.dir(), at).unwrap().unwrap();
        assert_eq!(text(&read(first[0])), "{\"n\":1}");
        let second = read(first[1]);
        assert_eq!(
            (text(&second).len(), second.truncated, second.at_ms),
            (9_000, true, HOUR + 5)
        );
        assert_eq!(text(&read(later[0])), "{\"n\":1}");
        // Another handle (a restart) writes where it is told to.
        let mut reopened = BodyFiles::open(dir.path().join("bodies")).unwrap();
        let after = reopened
            .append(HOUR, later[0].offset + later[0].len, &[&b])
            .unwrap();
        assert_eq!(after[0].offset, later[0].offset + later[0].len);
        assert_eq!(scan(files.dir()).unwrap().len(), 4);
    }

    #[test]
    fn bytes_past_the_committed_end_are_cut_off_before_they_can_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().to_path_buf()).unwrap();
        let path = dir.path().join(file_name(HOUR));
        let kept = files
            .append(HOUR, 0, &[&body("r1", "{\"kept\":1}", false)])
            .unwrap()[0];
        let committed = kept.len;
        // A batch whose transaction never committed (a crash, a failure).
        let lost = files
            .append(HOUR, committed, &[&body("r2", "uid-lost-4f1a", false)])
            .unwrap()[0];
        assert!(read(files.dir(), lost).unwrap().is_some());
        // The next batch writes over it, and the file ends after it.
        let next = files
            .append(HOUR, committed, &[&body("r3", "{}", false)])
            .unwrap()[0];
        assert_eq!(next.offset, committed);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            committed + next.len
        );
        // At open, each file is cut to its committed end; a file with none
        // is emptied.
        files
            .append(HOUR + HOUR_MS, 0, &[&body("r4", "uid-lost-4f1a", false)])
            .unwrap();
        files
            .cut_to_committed(&HashMap::from([(HOUR, committed)]))
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), committed);
        let other = dir.path().join(file_name(HOUR + HOUR_MS));
        assert_eq!(std::fs::metadata(&other).unwrap().len(), 0);
        let left: Vec<String> = scan(files.dir()).unwrap().iter().map(text).collect();
        assert_eq!(left, ["{\"kept\":1}"]);
    }

    #[test]
    fn a_batch_of_more_records_than_one_writev_takes_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().to_path_buf()).unwrap();
        // 1 500 records are 3 000 slices, past Linux's IOV_MAX of 1 024.
        let bodies: Vec<PackedBody> = (0..1_500)
            .map(|n| body(&format!("r{n}"), &format!("{{\"n\":{n}}}"), n % 2 == 0))
            .collect();
        let refs = files
            .append(HOUR, 0, &bodies.iter().collect::<Vec<_>>())
            .unwrap();
        for (n, at) in refs.iter().enumerate() {
            let record = read(files.dir(), *at).unwrap().unwrap();
            assert_eq!(text(&record), format!("{{\"n\":{n}}}"));
            assert_eq!(record.truncated, n % 2 == 0);
        }
        let end = refs.last().map(|r| r.offset + r.len).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join(file_name(HOUR)))
                .unwrap()
                .len(),
            end
        );
    }

    #[test]
    fn each_hour_has_its_file_and_retention_removes_whole_past_hours() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().to_path_buf()).unwrap();
        let a = body("r1", "{}", false);
        let old = files.append(HOUR, 0, &[&a]).unwrap()[0];
        let new = files.append(HOUR + HOUR_MS, 0, &[&a]).unwrap()[0];
        assert_eq!((old.hour_ms, new.hour_ms), (HOUR, HOUR + HOUR_MS));
        // Not before the hour has wholly passed.
        assert_eq!(files.sweep(HOUR + HOUR_MS - 1).unwrap(), 0);
        assert_eq!(files.sweep(HOUR + HOUR_MS).unwrap(), 1);
        assert_eq!(read(files.dir(), old).unwrap(), None);
        assert!(read(files.dir(), new).unwrap().is_some());
        // Other files in the directory are not ours to remove.
        std::fs::write(dir.path().join("notes.txt"), "keep").unwrap();
        files.sweep(i64::MAX).unwrap();
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(read(files.dir(), new).unwrap(), None);
        // The current file was removed: the next append makes it anew.
        let again = files.append(HOUR + HOUR_MS, 0, &[&a]).unwrap()[0];
        assert_eq!(again.offset, 0);
        assert!(read(files.dir(), again).unwrap().is_some());
    }

    #[test]
    fn erased_bodies_are_zeros_on_disk_and_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().to_path_buf()).unwrap();
        let secret = "uid-erase-me-8c1f";
        let (gone, kept) = (
            body("r1", secret, false),
            body("r2", "{\"kept\":true}", false),
        );
        let refs = files.append(HOUR, 0, &[&gone, &kept]).unwrap();
        files.erase(&refs[..1]).unwrap();
        assert_eq!(read(files.dir(), refs[0]).unwrap(), None);
        assert!(read(files.dir(), refs[1]).unwrap().is_some());
        let bytes = std::fs::read(dir.path().join(file_name(HOUR))).unwrap();
        let start = refs[0].offset as usize;
        assert!(
            bytes[start..start + refs[0].len as usize]
                .iter()
                .all(|b| *b == 0)
        );
        let left: Vec<String> = scan(files.dir()).unwrap().iter().map(text).collect();
        assert_eq!(left, ["{\"kept\":true}"]);
        // A file retention removed first is no error.
        files.sweep(i64::MAX).unwrap();
        files.erase(&refs).unwrap();
    }

    #[test]
    fn the_largest_body_the_log_keeps_fits_a_record() {
        let limit = crate::delivery_log::model::REQUEST_BODY_LIMIT;
        let packed = 4 + lz4_flex::block::get_maximum_output_size(limit);
        assert!((HEADER + packed) as u64 <= MAX_RECORD);
    }

    #[test]
    fn a_record_its_header_does_not_vouch_for_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BodyFiles::open(dir.path().to_path_buf()).unwrap();
        let at = files
            .append(HOUR, 0, &[&body("r1", "{\"n\":1}", false)])
            .unwrap()[0];
        let path = dir.path().join(file_name(HOUR));
        let good = std::fs::read(&path).unwrap();
        // A flipped byte of the body, a tail cut by a crash, a reference
        // past the end: none is read as a body.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(read(files.dir(), at).unwrap(), None);
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_eq!(read(files.dir(), at).unwrap(), None);
        let past = BodyRef {
            offset: 1 << 40,
            ..at
        };
        assert_eq!(read(files.dir(), past).unwrap(), None);
        std::fs::write(&path, &good).unwrap();
        assert!(read(files.dir(), at).unwrap().is_some());
    }
}
