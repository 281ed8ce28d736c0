//! Checkpoint snapshots in files of their own, beside the log's segments
//! (`<dir>/snapshot-<slot>.snap`): written off the log writer's thread by
//! the checkpoint builder, referred to by the log (`store`), read back at
//! recovery.
//!
//! Two layouts:
//!
//! ```text
//! whole:  [SYNSNAP\x01][len: u64 LE][crc32c(snapshot): u32 LE][snapshot]
//! shared: [SYNSNAP\x02][len: u64 LE][crc32c(snapshot): u32 LE]
//!         [parent slot: u64 LE][shared: u64 LE][the snapshot after `shared`]
//! ```
//!
//! A shared file holds only what follows the first `shared` bytes, which
//! are the first bytes of its parent's snapshot (the file written before
//! it; itself whole or shared). A state machine whose snapshots grow at
//! their end (the etcd store keeps its history in revision order) then
//! writes each checkpoint's new part alone, where a whole file rewrote
//! tens of megabytes at every checkpoint (docs/performance.md). The length
//! and checksum are the whole snapshot's, checked once it is put together.
//!
//! Chains stay short ([`MAX_CHAIN`] files), and a snapshot sharing less
//! than half of itself is written whole. Files are removed only by the log
//! writer's compactions ([`obsolete`]), which keep every file a kept file
//! is built on, and the newest file (the next one written may build on
//! it).

use crate::disk::{StorageError, io, numbered_files, sync_dir};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use synod_core::{DigestCache, common_prefix};

const WHOLE: &[u8; 8] = b"SYNSNAP\x01";
const SHARED: &[u8; 8] = b"SYNSNAP\x02";
/// Magic, length and checksum.
const WHOLE_PREFIX: usize = 8 + 8 + 4;
/// ... then the parent's slot and the length shared with it.
const SHARED_PREFIX: usize = WHOLE_PREFIX + 8 + 8;

/// The most files one snapshot is spread over (itself and its ancestors):
/// a restart reads them all, and every file a chain holds stays on disk.
pub const MAX_CHAIN: usize = 8;

fn name(slot: u64) -> String {
    format!("snapshot-{slot:016}.snap")
}

/// The path of the snapshot file of `slot` in `dir`.
pub(crate) fn path(dir: &Path, slot: u64) -> PathBuf {
    dir.join(name(slot))
}

/// The snapshot files in `dir`, by slot.
pub(crate) fn files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    numbered_files(dir, "snapshot-", ".snap")
}

/// What a snapshot file's prefix says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The whole snapshot's length and checksum.
    pub len: u64,
    pub crc: u32,
    /// For a shared file: its parent's slot and how many bytes it shares.
    pub parent: Option<(u64, u64)>,
}

impl Header {
    fn prefix_len(&self) -> usize {
        if self.parent.is_some() {
            SHARED_PREFIX
        } else {
            WHOLE_PREFIX
        }
    }

    fn parse(bytes: &[u8]) -> Option<Header> {
        let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let magic = bytes.get(..8)?;
        let len = u64_at(8)?;
        let crc = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?);
        let parent = match magic {
            m if m == WHOLE => None,
            m if m == SHARED => Some((u64_at(20)?, u64_at(28)?)),
            _ => return None,
        };
        // A file cannot share more than the whole it stands for.
        if parent.is_some_and(|(_, shared)| shared > len) {
            return None;
        }
        Some(Header { len, crc, parent })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHARED_PREFIX);
        out.extend_from_slice(if self.parent.is_some() { SHARED } else { WHOLE });
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
        if let Some((slot, shared)) = self.parent {
            out.extend_from_slice(&slot.to_le_bytes());
            out.extend_from_slice(&shared.to_le_bytes());
        }
        out
    }

    /// How many bytes of the snapshot the file itself holds.
    fn own_len(&self) -> u64 {
        self.len - self.parent.map_or(0, |(_, shared)| shared)
    }
}

/// The header of the snapshot file at `path`, if the file is there and of
/// the length its header implies (its parents are not read).
pub(crate) fn header(path: &Path) -> Option<Header> {
    let mut prefix = [0u8; SHARED_PREFIX];
    let mut file = File::open(path).ok()?;
    let mut got = 0;
    while got < prefix.len() {
        match file.read(&mut prefix[got..]).ok()? {
            0 => break,
            n => got += n,
        }
    }
    let header = Header::parse(&prefix[..got])?;
    let size = file.metadata().ok()?.len();
    (size == header.prefix_len() as u64 + header.own_len()).then_some(header)
}

/// Writes `snapshot` as the file of `slot`, whole, and makes it durable
/// (written under a temporary name, synced, renamed, the directory
/// synced).
pub fn write_whole(dir: &Path, slot: u64, snapshot: &[u8]) -> Result<(), StorageError> {
    let header = Header {
        len: snapshot.len() as u64,
        crc: crc32c::crc32c(snapshot),
        parent: None,
    };
    write_file(dir, slot, &header, snapshot)
}

/// A file is written and synced this many bytes at a time. Synced once at
/// the end, the tens of megabytes of an etcd store's checkpoint went to
/// the device in one burst, which the log's syncs (every acceptance waits
/// for one) then queued behind: under etcd-bench at 64 clients, p99 10.0
/// against 8.7 ms and 15.9k against 16.5k ops/s (docs/performance.md,
/// "Snapshot files synced in pieces").
const SYNC_EVERY: usize = 256 << 10;

fn write_file(dir: &Path, slot: u64, header: &Header, own: &[u8]) -> Result<(), StorageError> {
    let path = path(dir, slot);
    let tmp = dir.join(format!("{}.tmp", name(slot)));
    let mut file = File::create(&tmp).map_err(io("creating", &tmp))?;
    file.write_all(&header.encode())
        .map_err(io("writing", &tmp))?;
    for piece in own.chunks(SYNC_EVERY) {
        file.write_all(piece)
            .and_then(|()| file.sync_data())
            .map_err(io("writing", &tmp))?;
    }
    if own.is_empty() {
        file.sync_data().map_err(io("writing", &tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io("renaming", &tmp))?;
    sync_dir(dir)
}

/// The snapshots a node's builder wrote to files lately, with their
/// checksums, shared with the log writer (`Wal::written`).
#[derive(Clone, Default)]
pub struct Written(Arc<Mutex<VecDeque<(u64, Bytes, u32)>>>);

/// How many snapshots [`Written`] keeps: a compaction follows its build
/// closely.
const WRITTEN: usize = 2;

impl Written {
    fn record(&self, slot: u64, snapshot: &Bytes, crc: u32) {
        let mut written = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() == WRITTEN {
            written.pop_front();
        }
        written.push_back((slot, snapshot.clone(), crc));
    }

    /// The checksum of `snapshot` if it is the very one (the same bytes in
    /// memory) written as the file of `slot`. Holding it keeps its memory
    /// from being reused, so the same address and length are the same
    /// bytes.
    pub(crate) fn crc_of(&self, slot: u64, snapshot: &Bytes) -> Option<u32> {
        let written = self.0.lock().unwrap_or_else(|p| p.into_inner());
        written
            .iter()
            .find(|(s, b, _)| {
                *s == slot && b.as_ptr() == snapshot.as_ptr() && b.len() == snapshot.len()
            })
            .map(|(_, _, crc)| *crc)
    }
}

/// The checkpoint builder's writer: each file shares what it can with the
/// one it wrote before.
pub struct SnapshotWriter {
    dir: PathBuf,
    /// The last file written.
    last: Option<Last>,
    /// The builder's digests: like the files, they skip what a snapshot
    /// shares with the one before.
    pub digests: DigestCache,
    /// Tells the log writer what was written.
    written: Written,
}

/// The last snapshot file written.
struct Last {
    slot: u64,
    snapshot: Bytes,
    crc: u32,
    /// How many files its chain spans.
    chain: usize,
    /// `crc_marks[i]`: the checksum of its first `(i + 1)` MiB, so that
    /// the next snapshot's is computed over what differs.
    crc_marks: Vec<u32>,
}

/// How far apart a snapshot's checksum marks are.
const CRC_MARK: usize = 1 << 20;

impl SnapshotWriter {
    /// A writer for `dir` whose first file is whole, recording what it
    /// writes in `written` (the log's: [`crate::store::Wal::written`]).
    pub fn new(dir: &Path, written: Written) -> Self {
        SnapshotWriter {
            dir: dir.to_path_buf(),
            last: None,
            digests: DigestCache::default(),
            written,
        }
    }

    /// Writes the snapshot of `slot` and makes it durable, sharing the
    /// bytes it begins with with the last file written if that is at least
    /// half of it, that file is older, still there as it was written, and
    /// its chain is shorter than [`MAX_CHAIN`].
    pub fn write(&mut self, slot: u64, snapshot: &Bytes) -> Result<(), StorageError> {
        let last = self.last.take();
        // How much of the last snapshot this one begins with: the
        // builder's digest has usually compared the two already.
        let shared = last.as_ref().map_or(0, |l| {
            self.digests
                .take_shared(&l.snapshot, snapshot)
                .unwrap_or_else(|| common_prefix(&l.snapshot, snapshot))
        });
        let (whole_crc, crc_marks) = checksum(snapshot, last.as_ref(), shared);
        let parent = last.filter(|l| {
            l.slot < slot
                && l.chain < MAX_CHAIN
                && shared > 0
                && shared * 2 >= snapshot.len()
                && header(&path(&self.dir, l.slot))
                    .is_some_and(|h| h.len == l.snapshot.len() as u64 && h.crc == l.crc)
        });
        let header = Header {
            len: snapshot.len() as u64,
            crc: whole_crc,
            parent: parent.as_ref().map(|l| (l.slot, shared as u64)),
        };
        let own = &snapshot[if parent.is_some() { shared } else { 0 }..];
        write_file(&self.dir, slot, &header, own)?;
        self.written.record(slot, snapshot, whole_crc);
        self.last = Some(Last {
            slot,
            snapshot: snapshot.clone(),
            crc: whole_crc,
            chain: parent.map_or(1, |l| l.chain + 1),
            crc_marks,
        });
        Ok(())
    }
}

/// `crc32c(snapshot)` and its marks, resumed from the last mark of `last`
/// inside the `shared` bytes they begin with.
fn checksum(snapshot: &Bytes, last: Option<&Last>, shared: usize) -> (u32, Vec<u32>) {
    let mut marks: Vec<u32> = last
        .map(|l| {
            l.crc_marks
                .iter()
                .copied()
                .take(shared / CRC_MARK)
                .collect()
        })
        .unwrap_or_default();
    let mut crc = marks.last().copied().unwrap_or(0);
    for chunk in snapshot[marks.len() * CRC_MARK..].chunks(CRC_MARK) {
        crc = crc32c::crc32c_append(crc, chunk);
        if chunk.len() == CRC_MARK {
            marks.push(crc);
        }
    }
    (crc, marks)
}

/// Reads back the snapshot of `slot` the log refers to (with its length
/// and checksum), putting it together from its chain.
pub(crate) fn read(dir: &Path, slot: u64, len: u64, crc: u32) -> Result<Bytes, StorageError> {
    let snapshot = read_chain(dir, slot, MAX_CHAIN)?;
    if snapshot.len() as u64 != len || crc32c::crc32c(&snapshot) != crc {
        return Err(corrupt(
            dir,
            slot,
            format!(
                "holds {} bytes that are not the checkpoint of slot {slot} the log names \
                 ({len} bytes with another checksum)",
                snapshot.len()
            ),
        ));
    }
    Ok(snapshot)
}

fn corrupt(dir: &Path, slot: u64, reason: String) -> StorageError {
    StorageError::Corrupt {
        file: path(dir, slot),
        offset: 0,
        reason,
    }
}

/// The snapshot the file of `slot` holds, with at most `depth` files in
/// its chain.
fn read_chain(dir: &Path, slot: u64, depth: usize) -> Result<Bytes, StorageError> {
    let mut bytes = Vec::new();
    File::open(path(dir, slot))
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| corrupt(dir, slot, format!("cannot read it ({e})")))?;
    let header = Header::parse(&bytes)
        .ok_or_else(|| corrupt(dir, slot, "not a synod snapshot file (bad header)".into()))?;
    let own = Bytes::from(bytes).slice(header.prefix_len()..);
    if own.len() as u64 != header.own_len() {
        return Err(corrupt(
            dir,
            slot,
            format!(
                "cut short: {} bytes where its header says {}",
                own.len(),
                header.own_len()
            ),
        ));
    }
    let snapshot = match header.parent {
        None => own,
        Some((parent, shared)) => {
            if parent >= slot || depth <= 1 {
                return Err(corrupt(
                    dir,
                    slot,
                    format!("built on snapshot {parent}: not an earlier one in a short chain"),
                ));
            }
            let before = read_chain(dir, parent, depth - 1).map_err(|e| {
                corrupt(
                    dir,
                    slot,
                    format!("its first {shared} bytes are those of snapshot {parent}: {e}"),
                )
            })?;
            let shared = usize::try_from(shared)
                .ok()
                .filter(|&s| s <= before.len())
                .ok_or_else(|| {
                    corrupt(
                        dir,
                        slot,
                        format!("shares {shared} bytes of snapshot {parent}, which is shorter"),
                    )
                })?;
            let mut whole = Vec::with_capacity(shared + own.len());
            whole.extend_from_slice(&before[..shared]);
            whole.extend_from_slice(&own);
            Bytes::from(whole)
        }
    };
    if snapshot.len() as u64 != header.len || crc32c::crc32c(&snapshot) != header.crc {
        return Err(corrupt(dir, slot, "checksum mismatch".into()));
    }
    Ok(snapshot)
}

/// The snapshot files a log whose latest checkpoint is `latest` no longer
/// needs: those of older checkpoints, except the files that a kept file's
/// chain runs through and the newest file's chain (the builder's next
/// file may build on it).
pub(crate) fn obsolete(dir: &Path, latest: u64) -> Result<Vec<PathBuf>, StorageError> {
    let files = files(dir)?;
    let mut keep: BTreeSet<u64> = BTreeSet::new();
    let newest = files.last().map(|(slot, _)| *slot);
    let mut roots: Vec<u64> = files
        .iter()
        .map(|(slot, _)| *slot)
        .filter(|slot| *slot >= latest || Some(*slot) == newest)
        .collect();
    while let Some(slot) = roots.pop() {
        if !keep.insert(slot) {
            continue;
        }
        if let Some((parent, _)) = header(&path(dir, slot)).and_then(|h| h.parent)
            && parent < slot
        {
            roots.push(parent);
        }
    }
    Ok(files
        .into_iter()
        .filter(|(slot, _)| *slot < latest && !keep.contains(slot))
        .map(|(_, path)| path)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of `len` bytes whose first `len` bytes are the same for
    /// every length (as a store growing at its end gives).
    fn growing(len: usize) -> Bytes {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn read_back(dir: &Path, slot: u64, snapshot: &Bytes) -> Result<Bytes, StorageError> {
        read(dir, slot, snapshot.len() as u64, crc32c::crc32c(snapshot))
    }

    #[test]
    fn a_growing_snapshot_writes_its_new_part_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SnapshotWriter::new(dir.path(), Written::default());
        let mut sizes = Vec::new();
        for (i, len) in [100_000, 150_000, 210_000, 300_000].into_iter().enumerate() {
            let slot = 100 * (i as u64 + 1);
            let snapshot = growing(len);
            writer.write(slot, &snapshot).unwrap();
            sizes.push(std::fs::metadata(path(dir.path(), slot)).unwrap().len());
            assert_eq!(read_back(dir.path(), slot, &snapshot).unwrap(), snapshot);
        }
        // The first whole; each later one its new part and a header.
        assert_eq!(sizes[0], (WHOLE_PREFIX + 100_000) as u64);
        assert_eq!(sizes[1], (SHARED_PREFIX + 50_000) as u64);
        assert_eq!(sizes[3], (SHARED_PREFIX + 90_000) as u64);
        assert_eq!(
            header(&path(dir.path(), 400)).unwrap().parent,
            Some((300, 210_000))
        );
    }

    /// Checksums resume from the marks of the part shared with the last
    /// snapshot (every MiB): the header still holds the whole's.
    #[test]
    fn a_resumed_checksum_is_the_whole_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SnapshotWriter::new(dir.path(), Written::default());
        let mb = 1 << 20;
        let mut changed = growing(5 * mb + 10).to_vec();
        changed[3 * mb + 7] ^= 1;
        let sizes = [
            growing(3 * mb + 5),
            growing(5 * mb + 10),
            Bytes::from(changed),
            growing(2 * mb),
            growing(6 * mb),
        ];
        for (i, snapshot) in sizes.iter().enumerate() {
            let slot = i as u64 + 1;
            // As the builder does: the digest first, which compares.
            writer.digests.digest(snapshot);
            writer.write(slot, snapshot).unwrap();
            let h = header(&path(dir.path(), slot)).unwrap();
            assert_eq!(h.crc, crc32c::crc32c(snapshot), "snapshot {i}");
            assert_eq!(read_back(dir.path(), slot, snapshot).unwrap(), *snapshot);
        }
    }

    #[test]
    fn a_snapshot_sharing_less_than_half_or_ending_a_long_chain_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SnapshotWriter::new(dir.path(), Written::default());
        writer.write(10, &growing(1000)).unwrap();
        // Shares 1000 of 3000 bytes: whole.
        writer.write(20, &growing(3000)).unwrap();
        assert_eq!(header(&path(dir.path(), 20)).unwrap().parent, None);
        // Differs from the first byte (a compaction rewrote its start).
        let other: Bytes = growing(3000).iter().map(|b| b ^ 1).collect();
        writer.write(30, &other).unwrap();
        assert_eq!(header(&path(dir.path(), 30)).unwrap().parent, None);
        // A chain of MAX_CHAIN files, then a whole one.
        let mut len = 3000;
        let mut slot = 30;
        let mut parents = Vec::new();
        for _ in 0..MAX_CHAIN {
            len += 10;
            slot += 10;
            let mut next = other.to_vec();
            next.resize(len, 9);
            writer.write(slot, &Bytes::from(next.clone())).unwrap();
            parents.push(header(&path(dir.path(), slot)).unwrap().parent.is_some());
            assert_eq!(
                read_back(dir.path(), slot, &Bytes::from(next))
                    .unwrap()
                    .len(),
                len
            );
        }
        let mut expected = vec![true; MAX_CHAIN - 1];
        expected.push(false);
        assert_eq!(parents, expected);
    }

    #[test]
    fn a_missing_or_damaged_parent_is_corruption_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SnapshotWriter::new(dir.path(), Written::default());
        let (a, b) = (growing(10_000), growing(12_000));
        writer.write(1, &a).unwrap();
        writer.write(2, &b).unwrap();
        // The parent's bytes changed: the whole no longer sums up.
        let parent = path(dir.path(), 1);
        let mut bytes = std::fs::read(&parent).unwrap();
        bytes[WHOLE_PREFIX + 5] ^= 0xff;
        std::fs::write(&parent, &bytes).unwrap();
        let err = read_back(dir.path(), 2, &b).unwrap_err().to_string();
        assert!(err.contains("snapshot-0000000000000002.snap"), "{err}");
        assert!(err.contains("snapshot 1"), "{err}");
        std::fs::remove_file(&parent).unwrap();
        let err = read_back(dir.path(), 2, &b).unwrap_err().to_string();
        assert!(err.contains("cannot read it"), "{err}");
        // A header sharing more than its whole: refused, not a panic.
        let child = path(dir.path(), 2);
        let mut bytes = std::fs::read(&child).unwrap();
        bytes[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&child, &bytes).unwrap();
        let err = read_back(dir.path(), 2, &b).unwrap_err().to_string();
        assert!(err.contains("bad header"), "{err}");
        writer.write(1, &a).unwrap();
        writer.write(2, &b).unwrap();
        // And a file cut short is refused as such.
        let child = path(dir.path(), 2);
        let bytes = std::fs::read(&child).unwrap();
        std::fs::write(&child, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(header(&child), None);
        let err = read_back(dir.path(), 2, &b).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }

    #[test]
    fn a_parent_that_is_gone_or_replaced_makes_the_next_file_whole() {
        for change in ["remove", "replace"] {
            let dir = tempfile::tempdir().unwrap();
            let mut writer = SnapshotWriter::new(dir.path(), Written::default());
            writer.write(1, &growing(10_000)).unwrap();
            if change == "remove" {
                std::fs::remove_file(path(dir.path(), 1)).unwrap();
            } else {
                write_whole(dir.path(), 1, &[0u8; 10_000]).unwrap();
            }
            let b = growing(12_000);
            writer.write(2, &b).unwrap();
            assert_eq!(
                header(&path(dir.path(), 2)).unwrap().parent,
                None,
                "{change}"
            );
            assert_eq!(read_back(dir.path(), 2, &b).unwrap(), b);
        }
    }

    #[test]
    fn the_log_learns_a_written_snapshots_checksum_only_for_those_very_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let written = Written::default();
        let mut writer = SnapshotWriter::new(dir.path(), written.clone());
        let a = growing(5000);
        writer.write(10, &a).unwrap();
        assert_eq!(written.crc_of(10, &a), Some(crc32c::crc32c(&a)));
        assert_eq!(written.crc_of(10, &a.clone()), Some(crc32c::crc32c(&a)));
        // Equal bytes elsewhere in memory, or another slot: not known.
        assert_eq!(written.crc_of(10, &Bytes::from(a.to_vec())), None);
        assert_eq!(written.crc_of(11, &a), None);
        assert_eq!(written.crc_of(10, &a.slice(..4000)), None);
        // Only the last few are kept.
        let later: Vec<Bytes> = (0..WRITTEN).map(|i| growing(6000 + i)).collect();
        for (i, s) in later.iter().enumerate() {
            writer.write(20 + i as u64, s).unwrap();
        }
        assert_eq!(written.crc_of(10, &a), None);
        assert!(written.crc_of(20, &later[0]).is_some());
    }

    #[test]
    fn compaction_keeps_every_file_a_kept_chain_runs_through_and_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SnapshotWriter::new(dir.path(), Written::default());
        // 10 whole; 20 and 30 built on it; 40 whole (shares too little);
        // 50 built on 40.
        writer.write(10, &growing(1000)).unwrap();
        writer.write(20, &growing(1200)).unwrap();
        writer.write(30, &growing(1400)).unwrap();
        writer.write(40, &growing(5000)).unwrap();
        writer.write(50, &growing(6000)).unwrap();
        let slots = |paths: Vec<PathBuf>| -> Vec<u64> {
            let all = files(dir.path()).unwrap();
            all.into_iter()
                .filter(|(_, p)| paths.contains(p))
                .map(|(s, _)| s)
                .collect()
        };
        // The log's checkpoint is 30: 10 and 20 carry it; nothing goes.
        assert_eq!(slots(obsolete(dir.path(), 30).unwrap()), Vec::<u64>::new());
        // At 50: 40 carries 50; 10, 20 and 30 go.
        assert_eq!(slots(obsolete(dir.path(), 50).unwrap()), vec![10, 20, 30]);
        // A checkpoint beyond every file (installed from a peer): the
        // newest file and its chain stay, for the builder's next file.
        assert_eq!(slots(obsolete(dir.path(), 90).unwrap()), vec![10, 20, 30]);
    }
}
