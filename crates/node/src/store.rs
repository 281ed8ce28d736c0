//! The write-ahead log: a node's acceptor state on disk.
//!
//! Layout: `<dir>/wal-<seq>.log` segments, each starting with an 8-byte
//! header (`SYNWAL` + format version), then records:
//!
//! ```text
//! [len: u32 LE][crc32c(payload): u32 LE][payload]
//! ```
//!
//! The payload is `postcard(Record)` in a version 2 segment (written since
//! 2026-12-03), `postcard(PersistOp)` in a version 1 segment (still read).
//! A `Record::SnapshotFile` stands for a checkpoint whose snapshot is in
//! its own file (`snapshot_file`). The node's checkpoint builder writes
//! and syncs that file before the compaction that needs it reaches the log
//! writer, so the writer, which every acceptance waits for, writes a
//! reference of a few bytes instead of the whole state (tens of megabytes
//! for an etcd store keeping its history: the compaction held every append
//! for up to ~100 ms). A checkpoint with no such file (a snapshot installed
//! from a peer, or a file that could not be written) goes into the log
//! whole, as before.
//!
//! `append` only buffers; `sync` writes the buffer and calls `fdatasync`
//! once, whatever the number of records (group commit). The runtime sends a
//! message that depends on a record only after `sync` returned.
//!
//! A segment is written ahead with zeros ([`PREALLOCATE`] bytes at a time),
//! so that most group commits overwrite blocks the file already has: their
//! `fdatasync` then writes the records alone, where an append that grows
//! the file also has to write its new size (docs/storage.md, "Room made
//! ahead"). Zero bytes after the last
//! record are that room, in any segment: never a record, since no record's
//! length is zero.
//!
//! Recovery replays every segment in order. A record cut short at the end
//! of the last segment, or whose checksum fails while nothing (or only
//! zeros) follows it, is a torn write from a crash: it was never synced,
//! so nothing depended on it; it is cut off and reported. A bad checksum anywhere else is
//! corruption: opening fails with the file and byte offset, and the node
//! refuses to start rather than serve from a state it cannot trust.
//!
//! After any write or sync error the log is poisoned: every later call
//! fails, so the node can never acknowledge what it could not persist.

pub use crate::disk::StorageError;
use crate::disk::{io, numbered_files, sync_dir};
use crate::metrics::SyncProbe;
use crate::snapshot_file;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use synod_core::{DurableState, PersistOp};

const HEADER: &[u8; 8] = b"SYNWAL\x00\x02";
/// Segments written before snapshot files: every payload a `PersistOp`.
const HEADER_V1: &[u8; 8] = b"SYNWAL\x00\x01";
const RECORD_HEADER: usize = 8;
/// How far ahead of its records a segment is written with zeros.
const PREALLOCATE: u64 = 1 << 20;
/// The largest record the format holds (its length is a u32). Checkpoint
/// records hold the whole replicated state, which has no smaller bound;
/// until 2026-12-03 the reader refused records over 64 MiB that the writer
/// had written, and a node whose etcd store had outgrown that could not
/// restart.
const MAX_RECORD: usize = u32::MAX as usize;

/// A record of a version 2 segment, as read.
#[derive(Deserialize)]
enum Record {
    Op(PersistOp),
    /// The checkpoint of `slot`, whose snapshot of `len` bytes with
    /// checksum `crc` is in its snapshot file.
    SnapshotFile {
        slot: u64,
        len: u64,
        crc: u32,
    },
}

/// [`Record`] as written (the same layout, borrowing the op).
#[derive(Serialize)]
enum RecordOut<'a> {
    Op(&'a PersistOp),
    SnapshotFile { slot: u64, len: u64, crc: u32 },
}

/// A torn last record that recovery cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    pub offset: u64,
    pub dropped_bytes: u64,
}

pub struct Recovery {
    pub state: DurableState,
    pub records: u64,
    pub torn_tail: Option<TornTail>,
}

/// Test hook: make writes or syncs fail, as a full or failing disk would.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Writes fail (ENOSPC) once this many more bytes were written.
    pub fail_write_after: Option<u64>,
    /// The next sync fails (EIO).
    pub fail_sync: bool,
}

pub struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    seq: u64,
    buf: Vec<u8>,
    /// Where the records end (the next one goes there).
    size: u64,
    /// The file's length: zeros from `size` on, room for the next records.
    allocated: u64,
    segment_limit: u64,
    poisoned: Option<String>,
    pub faults: Faults,
    /// `<dir>/LOCK`, locked for as long as this log is open (see
    /// [`lock_dir`]).
    lock: Option<File>,
    /// Times each group commit's `fdatasync` (for the metrics endpoint).
    sync_probe: Option<SyncProbe>,
    /// The snapshot files the node's checkpoint builder wrote lately.
    written: snapshot_file::Written,
}

fn segment_name(seq: u64) -> String {
    format!("wal-{seq:016}.log")
}

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    numbered_files(dir, "wal-", ".log")
}

/// Locks `<dir>/LOCK` (an advisory `flock`, released when the file closes,
/// even if the process is killed) and writes this process's id into it, so
/// that a second process opening the same log is refused and told who
/// holds it.
fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("opening", &path))?;
    match file.try_lock() {
        Ok(()) => {
            let me = format!("pid {}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.write_all(me.as_bytes()))
                .map_err(io("writing", &path))?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Err(StorageError::Locked {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "unknown".into()
                } else {
                    holder.to_string()
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io("locking", &path)(e)),
    }
}

impl Wal {
    /// Opens (and recovers) the log in `dir`; with `init`, creates a fresh
    /// one if there is none.
    pub fn open(dir: &Path, init: bool) -> Result<(Wal, Recovery), StorageError> {
        let existing = if dir.is_dir() {
            segments(dir)?
        } else {
            Vec::new()
        };
        if existing.is_empty() {
            if !init {
                return Err(StorageError::Missing(dir.to_path_buf()));
            }
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
            let lock = lock_dir(dir)?;
            let mut wal = Wal::create_segment(dir, 1)?;
            wal.lock = Some(lock);
            sync_dir(dir)?;
            let recovery = Recovery {
                state: DurableState::default(),
                records: 0,
                torn_tail: None,
            };
            return Ok((wal, recovery));
        }
        let lock = lock_dir(dir)?;
        // A snapshot file a crash cut short before its rename: never
        // referred to.
        for entry in std::fs::read_dir(dir)
            .map_err(io("listing", dir))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().ends_with(".snap.tmp") {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io("removing", &path))?;
            }
        }
        let mut state = DurableState::default();
        let mut records = 0;
        let mut torn_tail = None;
        let mut end = 0;
        let last = existing.len() - 1;
        for (i, (_, path)) in existing.iter().enumerate() {
            let replayed = replay(path, i == last, &mut state)?;
            records += replayed.records;
            torn_tail = torn_tail.or(replayed.torn);
            end = replayed.end;
        }
        let (seq, path) = existing[last].clone();
        if is_version_1(&path)? {
            // Records go on in a segment of the current format.
            let mut wal = Wal::create_segment(dir, seq + 1)?;
            sync_dir(dir)?;
            wal.lock = Some(lock);
            return Ok((
                wal,
                Recovery {
                    state,
                    records,
                    torn_tail,
                },
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("opening", &path))?;
        let allocated = file
            .metadata()
            .map_err(io("reading metadata of", &path))?
            .len();
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            seq,
            buf: Vec::new(),
            size: end,
            allocated,
            segment_limit: 64 << 20,
            poisoned: None,
            faults: Faults::default(),
            lock: Some(lock),
            sync_probe: None,
            written: Default::default(),
        };
        wal.file
            .seek(SeekFrom::Start(end))
            .map_err(io("seeking", &wal.path))?;
        Ok((
            wal,
            Recovery {
                state,
                records,
                torn_tail,
            },
        ))
    }

    /// Creates a fresh log in `dir` (a node of a new cluster), refusing a
    /// directory that holds one already.
    pub fn create(dir: &Path) -> Result<(Wal, Recovery), StorageError> {
        if dir.is_dir() && !segments(dir)?.is_empty() {
            return Err(StorageError::Exists(dir.to_path_buf()));
        }
        Wal::open(dir, true)
    }

    fn create_segment(dir: &Path, seq: u64) -> Result<Wal, StorageError> {
        let wal = Wal::create_segment_unsynced(dir, seq)?;
        wal.file.sync_data().map_err(io("syncing", &wal.path))?;
        Ok(wal)
    }

    /// A new segment whose header is written but not yet synced.
    fn create_segment_unsynced(dir: &Path, seq: u64) -> Result<Wal, StorageError> {
        let path = dir.join(segment_name(seq));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io("creating", &path))?;
        file.write_all(HEADER).map_err(io("writing", &path))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            seq,
            buf: Vec::new(),
            size: HEADER.len() as u64,
            allocated: HEADER.len() as u64,
            segment_limit: 64 << 20,
            poisoned: None,
            faults: Faults::default(),
            lock: None,
            sync_probe: None,
            written: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the node's checkpoint builder records the snapshot files it
    /// writes ([`snapshot_file::SnapshotWriter`]), so that a compaction
    /// knows them without checksumming the snapshot again.
    pub fn written(&self) -> snapshot_file::Written {
        self.written.clone()
    }

    fn check(&self) -> Result<(), StorageError> {
        match &self.poisoned {
            Some(why) => Err(StorageError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Buffers records; durable only after [`Wal::sync`]. A checkpoint
    /// whose snapshot file is in place is written as a reference to it.
    pub fn append(&mut self, ops: &[PersistOp]) -> Result<(), StorageError> {
        self.check()?;
        for op in ops {
            let record = match op {
                PersistOp::Checkpoint { slot, snapshot } => {
                    let len = snapshot.len() as u64;
                    let on_file = snapshot_file::header(&snapshot_file::path(&self.dir, *slot));
                    // Checksumming tens of megabytes here held every
                    // append behind the compaction for milliseconds; the
                    // builder knows the checksum of what it wrote.
                    let crc = || {
                        self.written
                            .crc_of(*slot, snapshot)
                            .unwrap_or_else(|| crc32c::crc32c(snapshot))
                    };
                    match on_file {
                        Some(h) if h.len == len && h.crc == crc() => {
                            // The file's contents were synced before its
                            // rename; the rename is durable once the
                            // directory is (its builder may not have got
                            // that far yet). Before the reference can be.
                            sync_dir(&self.dir)?;
                            RecordOut::SnapshotFile {
                                slot: *slot,
                                len,
                                crc: h.crc,
                            }
                        }
                        _ => RecordOut::Op(op),
                    }
                }
                _ => RecordOut::Op(op),
            };
            let payload = postcard::to_stdvec(&record)
                .map_err(|e| StorageError::Poisoned(format!("encoding a record: {e}")))?;
            if payload.len() > MAX_RECORD {
                // Never write what the reader would refuse.
                return Err(StorageError::Poisoned(format!(
                    "a record of {} bytes exceeds the largest the log holds ({MAX_RECORD})",
                    payload.len()
                )));
            }
            self.buf
                .extend_from_slice(&(payload.len() as u32).to_le_bytes());
            self.buf
                .extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            self.buf.extend_from_slice(&payload);
        }
        Ok(())
    }

    /// Writes everything appended since the last sync and makes it durable
    /// with one `fdatasync`.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check()?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.write_and_sync();
        if let Err(e) = &result {
            self.poisoned = Some(e.to_string());
        }
        result
    }

    /// From now on, each [`Wal::sync`] is timed by `probe`.
    pub fn time_syncs(&mut self, probe: SyncProbe) {
        self.sync_probe = Some(probe);
    }

    fn write_and_sync(&mut self) -> Result<(), StorageError> {
        let _busy = self.sync_probe.as_ref().map(SyncProbe::busy);
        if self.size > self.segment_limit {
            let next = Wal::create_segment(&self.dir, self.seq + 1)?;
            sync_dir(&self.dir)?;
            self.file = next.file;
            self.path = next.path;
            self.seq = next.seq;
            self.size = next.size;
            self.allocated = next.allocated;
        }
        let end = self.size + self.buf.len() as u64;
        if end > self.allocated {
            // Room for this batch and the next ones, made durable by this
            // batch's sync: theirs will then overwrite blocks in place.
            let room = end + PREALLOCATE;
            self.write_zeros(room)
                .map_err(io("preallocating", &self.path))?;
            self.allocated = room;
        }
        if let Some(budget) = self.faults.fail_write_after {
            if (self.buf.len() as u64) > budget {
                // A full disk: part of the batch lands, then ENOSPC.
                let _ = self.file.write_all(&self.buf[..budget as usize]);
                self.faults.fail_write_after = Some(0);
                return Err(StorageError::Io {
                    op: "writing",
                    file: self.path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "no space left on device",
                    ),
                });
            }
            self.faults.fail_write_after = Some(budget - self.buf.len() as u64);
        }
        self.file
            .write_all(&self.buf)
            .map_err(io("writing", &self.path))?;
        if self.faults.fail_sync {
            return Err(StorageError::Io {
                op: "syncing",
                file: self.path.clone(),
                source: std::io::Error::other("input/output error"),
            });
        }
        let started = std::time::Instant::now();
        let synced = self.file.sync_data();
        if let Some(probe) = &self.sync_probe {
            probe.fsync_took(started.elapsed());
        }
        synced.map_err(io("syncing", &self.path))?;
        self.size += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes zeros from the file's end up to `room`, and puts the cursor
    /// back where the next record goes.
    fn write_zeros(&mut self, room: u64) -> std::io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        self.file.seek(SeekFrom::Start(self.allocated))?;
        let mut left = room - self.allocated;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            self.file.write_all(&ZEROS[..n])?;
            left -= n as u64;
        }
        self.file.seek(SeekFrom::Start(self.size))?;
        Ok(())
    }

    /// Replaces the whole log with `live` (after a checkpoint made the rest
    /// unnecessary): written to a new segment and synced before the old
    /// segments are removed, so a crash at any point leaves a complete log.
    /// All in one call; the log writer uses [`Wal::compact_keeping`] and
    /// removes the replaced files on another thread.
    pub fn compact(&mut self, live: &[PersistOp]) -> Result<(), StorageError> {
        self.compact_keeping(live)?.remove()
    }

    /// [`Wal::compact`] up to the point where the new segment is durable:
    /// the log is `live` from now on. The files it replaced are returned,
    /// for the caller to remove when it likes ([`Obsolete::remove`]):
    /// removing them (unlinking tens of megabytes, three directory syncs)
    /// held the log writer, and every acceptance waiting for it, for 4 to
    /// 48 ms under etcd-bench (docs/performance.md). Until they go, a
    /// restart replays them before the new segment, which restates
    /// everything they held.
    pub fn compact_keeping(&mut self, live: &[PersistOp]) -> Result<Obsolete, StorageError> {
        self.check()?;
        self.sync()?;
        let old = segments(&self.dir)?;
        // One sync below makes the header and the records durable together.
        let mut next = Wal::create_segment_unsynced(&self.dir, self.seq + 1)?;
        // The new segment is the log from now on: its syncs are timed too.
        next.sync_probe = self.sync_probe.clone();
        next.written = self.written.clone();
        next.append(live)?;
        next.sync()?;
        sync_dir(&self.dir)?;
        // The snapshot files of checkpoints older than the one now in the
        // log are no longer referred to, unless a kept file is built on
        // them (a newer one may be waiting for its compaction: kept).
        let latest = live.iter().rev().find_map(|op| match op {
            PersistOp::Checkpoint { slot, .. } => Some(*slot),
            _ => None,
        });
        let snapshots = match latest {
            Some(latest) => snapshot_file::obsolete(&self.dir, latest)?,
            None => Vec::new(),
        };
        let obsolete = Obsolete {
            dir: self.dir.clone(),
            segments: old
                .into_iter()
                .filter(|(seq, _)| *seq <= self.seq)
                .map(|(_, path)| path)
                .collect(),
            snapshots,
        };
        let faults = std::mem::take(&mut self.faults);
        let lock = self.lock.take();
        *self = next;
        self.faults = faults;
        self.lock = lock;
        Ok(obsolete)
    }

    /// The log's segments and snapshot files.
    pub fn bytes_on_disk(&self) -> u64 {
        let size = |files: Result<Vec<(u64, PathBuf)>, StorageError>| -> u64 {
            files
                .map(|s| {
                    s.iter()
                        .filter_map(|(_, p)| p.metadata().ok())
                        .map(|m| m.len())
                        .sum()
                })
                .unwrap_or(0)
        };
        size(segments(&self.dir)) + size(snapshot_file::files(&self.dir))
    }
}

/// The files a compaction replaced ([`Wal::compact_keeping`]).
#[derive(Debug, Default)]
pub struct Obsolete {
    dir: PathBuf,
    segments: Vec<PathBuf>,
    snapshots: Vec<PathBuf>,
}

impl Obsolete {
    /// Removes the replaced segments, then the snapshot files they referred
    /// to: the segments are gone for good (the directory synced) before
    /// those files go, so a crash between the two never leaves a segment
    /// whose snapshot file is missing. A file already gone is fine (a later
    /// compaction may list it again before it went).
    pub fn remove(self) -> Result<(), StorageError> {
        let remove = |paths: &[PathBuf]| -> Result<(), StorageError> {
            for path in paths {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io("removing", path)(e));
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        if self.segments.is_empty() && self.snapshots.is_empty() {
            return Ok(());
        }
        remove(&self.segments)?;
        sync_dir(&self.dir)?;
        if !self.snapshots.is_empty() {
            remove(&self.snapshots)?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// What replaying one segment found.
struct Replayed {
    records: u64,
    /// A torn tail cut off (only in the last segment).
    torn: Option<TornTail>,
    /// Where its records end: the zeros after are room made ahead.
    end: u64,
}

/// Replays one segment into `state`.
fn replay(path: &Path, last: bool, state: &mut DurableState) -> Result<Replayed, StorageError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io("reading", path))?;
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < HEADER.len() {
        if last && HEADER.starts_with(&bytes) {
            // The crash came while the segment was being created.
            truncate(path, 0)?;
            let mut f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io("opening", path))?;
            f.write_all(HEADER)
                .and_then(|_| f.sync_data())
                .map_err(io("writing", path))?;
            return Ok(Replayed {
                records: 0,
                torn: Some(TornTail {
                    file: path.to_path_buf(),
                    offset: 0,
                    dropped_bytes: bytes.len() as u64,
                }),
                end: HEADER.len() as u64,
            });
        }
        return Err(corrupt(0, "truncated segment header".into()));
    }
    let v1 = &bytes[..HEADER.len()] == HEADER_V1;
    if !v1 && &bytes[..HEADER.len()] != HEADER {
        return Err(corrupt(
            0,
            "not a synod write-ahead log segment (bad header)".into(),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // Past the last byte that is not zero lies only room made ahead (a
    // record may end in zeros: it is still read whole below).
    let written = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1)
        .max(HEADER.len());
    let mut at = HEADER.len();
    let mut records = 0;
    while at < written {
        let rest = written - at;
        let torn = |reason: &str| -> Result<Replayed, StorageError> {
            if last {
                truncate(path, at as u64)?;
                Ok(Replayed {
                    records,
                    torn: Some(TornTail {
                        file: path.to_path_buf(),
                        offset: at as u64,
                        dropped_bytes: rest as u64,
                    }),
                    end: at as u64,
                })
            } else {
                Err(corrupt(at, reason.to_string()))
            }
        };
        if bytes.len() - at < RECORD_HEADER {
            return torn("record header cut short");
        }
        let len =
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        if len > MAX_RECORD {
            if last && at + RECORD_HEADER + len > bytes.len() {
                return torn("record length runs past the end");
            }
            return Err(corrupt(at, format!("impossible record length {len}")));
        }
        let end = at + RECORD_HEADER + len;
        if end > bytes.len() {
            return torn("record cut short");
        }
        let payload = &bytes[at + RECORD_HEADER..end];
        if crc32c::crc32c(payload) != crc {
            if end >= written {
                return torn("checksum mismatch in the last record");
            }
            return Err(corrupt(at, "checksum mismatch".into()));
        }
        let undecodable = |e: postcard::Error| corrupt(at, format!("undecodable record: {e}"));
        let record = if v1 {
            Record::Op(postcard::from_bytes(payload).map_err(undecodable)?)
        } else {
            postcard::from_bytes(payload).map_err(undecodable)?
        };
        let op = match record {
            Record::Op(op) => op,
            Record::SnapshotFile { slot, len, crc } => PersistOp::Checkpoint {
                slot,
                snapshot: snapshot_file::read(dir, slot, len, crc)?,
            },
        };
        state.apply(&op);
        records += 1;
        at = end;
    }
    Ok(Replayed {
        records,
        torn: None,
        end: at as u64,
    })
}

/// Whether the segment at `path` is of the first format (its records
/// `PersistOp`s, no `Record` around them).
fn is_version_1(path: &Path) -> Result<bool, StorageError> {
    let mut header = [0u8; 8];
    let mut file = File::open(path).map_err(io("opening", path))?;
    Ok(file.read_exact(&mut header).is_ok() && &header == HEADER_V1)
}

fn truncate(path: &Path, len: u64) -> Result<(), StorageError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io("opening", path))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(io("truncating", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::{Ballot, ClientId, NodeId, Request, Value};

    #[test]
    fn a_second_process_on_a_live_log_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("n1");
        let (wal, _) = Wal::open(&node, true).unwrap();
        // flock locks belong to an open file, so a second open in this
        // process is refused exactly as another process would be.
        match Wal::open(&node, false) {
            Err(StorageError::Locked { holder, .. }) => {
                assert_eq!(holder, format!("pid {}", std::process::id()));
            }
            other => panic!("a second open of a live log: {:?}", other.map(|_| ())),
        }
        drop(wal);
        let (mut wal, _) = Wal::open(&node, false).expect("free once the first is closed");
        // Compaction replaces the segment, not the lock.
        wal.compact(&[]).unwrap();
        assert!(matches!(
            Wal::open(&node, false),
            Err(StorageError::Locked { .. })
        ));
    }

    fn accept(slot: u64) -> PersistOp {
        let request = Request {
            client: ClientId(1),
            timestamp: slot,
            command: Bytes::from(vec![7u8; 256]),
        };
        PersistOp::Accept {
            slot,
            ballot: Ballot {
                round: 1,
                node: NodeId(1),
            },
            value: Value::Batch(vec![request]),
        }
    }

    /// The slots of the snapshot files in `dir`.
    fn snapshot_slots(dir: &Path) -> Vec<u64> {
        snapshot_file::files(dir)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    fn segment(dir: &Path) -> PathBuf {
        segments(dir).unwrap().last().unwrap().1.clone()
    }

    #[test]
    fn a_checkpoint_larger_than_any_frame_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let snapshot = Bytes::from(vec![5u8; 80 << 20]);
        wal.append(&[PersistOp::Checkpoint {
            slot: 100,
            snapshot: snapshot.clone(),
        }])
        .unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).expect("a large checkpoint is read back");
        assert_eq!(r.state.checkpoint, Some((100, snapshot)));
    }

    fn checkpoint(slot: u64, snapshot: &Bytes) -> PersistOp {
        PersistOp::Checkpoint {
            slot,
            snapshot: snapshot.clone(),
        }
    }

    #[test]
    fn a_checkpoint_with_its_snapshot_file_is_logged_as_a_reference_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let snapshot = Bytes::from((0..4u32 << 20).map(|i| i as u8).collect::<Vec<u8>>());
        snapshot_file::write_whole(dir.path(), 100, &snapshot).unwrap();
        wal.compact(&[checkpoint(100, &snapshot), accept(101)])
            .unwrap();
        // The segment holds a reference of a few bytes, not 4 MiB.
        assert!(wal.size < 1024, "{} bytes of records", wal.size);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((100, snapshot)));
        assert_eq!(
            r.state.accepted.keys().copied().collect::<Vec<_>>(),
            vec![101]
        );
    }

    #[test]
    fn a_snapshot_file_that_is_not_the_checkpoint_is_not_referred_to() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let snapshot = Bytes::from(vec![1u8; 5000]);
        // A file for the slot with other contents (a peer's snapshot was
        // installed at the same slot meanwhile, say): the log holds the
        // snapshot itself.
        snapshot_file::write_whole(dir.path(), 100, &[2u8; 5000]).unwrap();
        wal.compact(&[checkpoint(100, &snapshot)]).unwrap();
        let segment = segments(dir.path()).unwrap().pop().unwrap().1;
        assert!(segment.metadata().unwrap().len() > 5000);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((100, snapshot)));
    }

    /// The builder tells the log the checksum of what it wrote; a file
    /// replaced since (other bytes, same length) is still not referred to.
    #[test]
    fn a_snapshot_file_replaced_after_the_builder_wrote_it_is_not_referred_to() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let mut writer = snapshot_file::SnapshotWriter::new(dir.path(), wal.written());
        let snapshot = Bytes::from(vec![1u8; 5000]);
        writer.write(100, &snapshot).unwrap();
        snapshot_file::write_whole(dir.path(), 100, &[2u8; 5000]).unwrap();
        wal.compact(&[checkpoint(100, &snapshot)]).unwrap();
        let segment = segments(dir.path()).unwrap().pop().unwrap().1;
        assert!(segment.metadata().unwrap().len() > 5000);
        // Written as the builder wrote it: referred to.
        writer.write(200, &snapshot).unwrap();
        wal.compact(&[checkpoint(200, &snapshot)]).unwrap();
        assert!(wal.size < 1024, "{} bytes of records", wal.size);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((200, snapshot)));
    }

    #[test]
    fn a_missing_or_damaged_snapshot_file_is_corruption_named_as_such() {
        for damage in ["remove", "flip"] {
            let dir = tempfile::tempdir().unwrap();
            let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
            let snapshot = Bytes::from(vec![7u8; 10_000]);
            snapshot_file::write_whole(dir.path(), 40, &snapshot).unwrap();
            wal.compact(&[checkpoint(40, &snapshot)]).unwrap();
            drop(wal);
            let file = snapshot_file::path(dir.path(), 40);
            if damage == "remove" {
                std::fs::remove_file(&file).unwrap();
            } else {
                let mut bytes = std::fs::read(&file).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                std::fs::write(&file, bytes).unwrap();
            }
            match Wal::open(dir.path(), false) {
                Err(StorageError::Corrupt { file: f, .. }) => assert_eq!(f, file, "{damage}"),
                Err(e) => panic!("{damage}: {e}"),
                Ok(_) => panic!("{damage}: a log whose checkpoint is gone opened"),
            }
        }
    }

    /// The log writer removes what a compaction replaced later, on another
    /// thread: until then a restart replays the old segments before the
    /// new one, and must come back to the compacted log's state.
    #[test]
    fn the_files_a_compaction_replaced_stay_until_removed_and_a_restart_before_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let (a, b) = (Bytes::from(vec![1u8; 3000]), Bytes::from(vec![2u8; 3000]));
        snapshot_file::write_whole(dir.path(), 100, &a).unwrap();
        wal.compact(&[checkpoint(100, &a), accept(101)]).unwrap();
        wal.append(&(102..=250).map(accept).collect::<Vec<_>>())
            .unwrap();
        wal.sync().unwrap();
        let before = segments(dir.path()).unwrap();
        snapshot_file::write_whole(dir.path(), 200, &b).unwrap();
        // The live set: the checkpoint and every entry accepted above it.
        let live: Vec<PersistOp> = std::iter::once(checkpoint(200, &b))
            .chain((201..=250).map(accept))
            .collect();
        let obsolete = wal.compact_keeping(&live).unwrap();
        wal.append(&[accept(251)]).unwrap();
        wal.sync().unwrap();
        // Nothing removed yet: the old segment and its snapshot file are
        // still there, beside the new segment.
        assert_eq!(segments(dir.path()).unwrap().len(), before.len() + 1);
        assert_eq!(snapshot_file::files(dir.path()).unwrap().len(), 2);
        drop(wal);
        let (wal, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((200, b.clone())));
        let above: Vec<u64> = (201..=251).collect();
        assert_eq!(r.state.accepted.keys().copied().collect::<Vec<_>>(), above);
        drop(wal);
        obsolete.remove().unwrap();
        assert_eq!(
            segments(dir.path()).unwrap().len(),
            1,
            "the replaced segments are gone"
        );
        let slots = snapshot_slots(dir.path());
        assert_eq!(slots, vec![200]);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((200, b)));
        assert_eq!(r.state.accepted.keys().copied().collect::<Vec<_>>(), above);
    }

    /// Two compactions before the first's files were removed: the second
    /// lists them again, and whichever removal runs second finds them gone.
    #[test]
    fn files_two_compactions_replaced_are_removed_in_either_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let snapshots: Vec<Bytes> = (1..=3u8).map(|i| Bytes::from(vec![i; 2000])).collect();
        snapshot_file::write_whole(dir.path(), 100, &snapshots[0]).unwrap();
        wal.compact(&[checkpoint(100, &snapshots[0])]).unwrap();
        snapshot_file::write_whole(dir.path(), 200, &snapshots[1]).unwrap();
        let first = wal
            .compact_keeping(&[checkpoint(200, &snapshots[1])])
            .unwrap();
        snapshot_file::write_whole(dir.path(), 300, &snapshots[2]).unwrap();
        let second = wal
            .compact_keeping(&[checkpoint(300, &snapshots[2])])
            .unwrap();
        second.remove().unwrap();
        first.remove().expect("files already gone are no error");
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        let slots = snapshot_slots(dir.path());
        assert_eq!(slots, vec![300]);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((300, snapshots[2].clone())));
    }

    #[test]
    fn a_compaction_removes_the_snapshot_files_of_older_checkpoints_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let (a, b, c) = (
            Bytes::from(vec![1u8; 3000]),
            Bytes::from(vec![2u8; 3000]),
            Bytes::from(vec![3u8; 3000]),
        );
        snapshot_file::write_whole(dir.path(), 100, &a).unwrap();
        wal.compact(&[checkpoint(100, &a)]).unwrap();
        snapshot_file::write_whole(dir.path(), 200, &b).unwrap();
        // Built, its compaction still to come.
        snapshot_file::write_whole(dir.path(), 300, &c).unwrap();
        // A temporary file a crash left behind.
        std::fs::write(dir.path().join("snapshot-0000000000000400.snap.tmp"), b"x").unwrap();
        wal.compact(&[checkpoint(200, &b)]).unwrap();
        let slots = snapshot_slots(dir.path());
        assert_eq!(slots, vec![200, 300]);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((200, b)));
        assert!(
            !dir.path()
                .join("snapshot-0000000000000400.snap.tmp")
                .exists()
        );
    }

    /// Snapshot files built on earlier ones: a restart puts the
    /// checkpoint together from its chain, and compactions keep every file
    /// a kept checkpoint's chain runs through.
    #[test]
    fn a_checkpoint_in_a_chain_of_snapshot_files_reads_back_and_keeps_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let growing = |len: usize| -> Bytes { (0..len).map(|i| (i % 253) as u8).collect() };
        let mut writer = snapshot_file::SnapshotWriter::new(dir.path(), wal.written());
        let (a, b, c) = (growing(40_000), growing(60_000), growing(80_000));
        writer.write(100, &a).unwrap();
        wal.compact(&[checkpoint(100, &a)]).unwrap();
        writer.write(200, &b).unwrap();
        wal.compact(&[checkpoint(200, &b), accept(201)]).unwrap();
        // 200 holds its last 20,000 bytes and refers to 100 for the rest.
        let on_disk = snapshot_file::path(dir.path(), 200)
            .metadata()
            .unwrap()
            .len();
        assert!(on_disk < 21_000, "{on_disk} bytes");
        assert_eq!(snapshot_slots(dir.path()), vec![100, 200]);
        drop(wal);
        let (mut wal, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((200, b)));
        writer.write(300, &c).unwrap();
        wal.compact(&[checkpoint(300, &c)]).unwrap();
        assert_eq!(snapshot_slots(dir.path()), vec![100, 200, 300]);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.state.checkpoint, Some((300, c)));
        // A whole file at last: the chain before it goes.
        let d = Bytes::from(vec![9u8; 100]);
        writer.write(400, &d).unwrap();
        let (mut wal, _) = Wal::open(dir.path(), false).unwrap();
        wal.compact(&[checkpoint(400, &d)]).unwrap();
        assert_eq!(snapshot_slots(dir.path()), vec![400]);
    }

    #[test]
    fn a_version_1_segment_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = HEADER_V1.to_vec();
        for op in [
            accept(1),
            checkpoint(1, &Bytes::from_static(b"state")),
            accept(2),
        ] {
            let payload = postcard::to_stdvec(&op).unwrap();
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            bytes.extend_from_slice(&payload);
        }
        std::fs::write(dir.path().join(segment_name(1)), bytes).unwrap();
        let (mut wal, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(r.state.checkpoint, Some((1, Bytes::from_static(b"state"))));
        assert_eq!(
            r.state.accepted.keys().copied().collect::<Vec<_>>(),
            vec![2]
        );
        // Appending goes on in the old segment; a compaction starts a new
        // one, and both read back.
        wal.append(&[accept(3)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(
            r.state.accepted.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn synced_records_survive_and_unsynced_ones_may_not() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, r) = Wal::open(dir.path(), true).unwrap();
        assert_eq!(r.records, 0);
        wal.append(&[
            PersistOp::Promise(Ballot {
                round: 2,
                node: NodeId(3),
            }),
            accept(1),
        ])
        .unwrap();
        wal.sync().unwrap();
        wal.append(&[accept(2)]).unwrap(); // crash before the sync
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.records, 2);
        assert_eq!(
            r.state.promised,
            Ballot {
                round: 2,
                node: NodeId(3)
            }
        );
        assert!(r.state.accepted.contains_key(&1) && !r.state.accepted.contains_key(&2));
        assert_eq!(r.torn_tail, None);
    }

    #[test]
    fn a_missing_log_needs_init() {
        let dir = tempfile::tempdir().unwrap();
        let e = Wal::open(&dir.path().join("n1"), false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--init") && e.contains("--rejoin") && e.contains("n1"),
            "{e}"
        );
    }

    #[test]
    fn create_makes_a_fresh_log_and_refuses_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("n1");
        let (mut wal, recovery) = Wal::create(&node).unwrap();
        assert_eq!(recovery.records, 0);
        wal.append(&[accept(1)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let e = Wal::create(&node).err().unwrap().to_string();
        assert!(e.contains("refusing --init") && e.contains("n1"), "{e}");
        // Untouched: the record is still there.
        let (_, recovery) = Wal::open(&node, false).unwrap();
        assert_eq!(recovery.records, 1);
    }

    /// A fresh log holding two synced records, and where they end.
    fn two_records_synced() -> (tempfile::TempDir, Wal, u64) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.append(&[accept(1), accept(2)]).unwrap();
        wal.sync().unwrap();
        let end = wal.size;
        (dir, wal, end)
    }

    #[test]
    fn a_torn_tail_is_cut_off_reported_and_the_log_goes_on() {
        let (dir, mut wal, good) = two_records_synced();
        let path = segment(dir.path());
        // A crash in the middle of writing a third record, in a file the
        // size of its records (as written before room was made ahead).
        wal.append(&[accept(3)]).unwrap();
        wal.sync().unwrap();
        let full = wal.size;
        drop(wal);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(good + (full - good) / 2).unwrap();
        torn_at_and_going_on(dir.path(), good);
    }

    /// Reopens a log of two records whose third was torn at `good`: the
    /// tail is cut off and reported, and the log takes a record after it.
    fn torn_at_and_going_on(dir: &Path, good: u64) -> TornTail {
        let (mut wal, r) = Wal::open(dir, false).unwrap();
        assert_eq!(r.records, 2);
        let torn = r.torn_tail.unwrap();
        assert_eq!(torn.offset, good);
        assert_eq!(std::fs::metadata(segment(dir)).unwrap().len(), good);
        wal.append(&[accept(4)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, r) = Wal::open(dir, false).unwrap();
        assert_eq!(r.records, 3);
        assert!(r.state.accepted.contains_key(&4));
        torn
    }

    #[test]
    fn room_is_made_ahead_so_that_syncs_overwrite_and_a_restart_goes_on_after_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let path = segment(dir.path());
        let length = || std::fs::metadata(&path).unwrap().len();
        wal.append(&[accept(1)]).unwrap();
        wal.sync().unwrap();
        let made = length();
        assert_eq!(
            made,
            wal.size + PREALLOCATE,
            "room made with the first records"
        );
        // Group commits that fit in the room leave the file's length alone:
        // their syncs have no new size to write.
        for slot in 2..=100 {
            wal.append(&[accept(slot)]).unwrap();
            wal.sync().unwrap();
        }
        assert!(wal.size < made);
        assert_eq!(length(), made);
        let size = wal.size;
        drop(wal);
        // The room reads as nothing, and records go on where they ended.
        let (mut wal, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!((r.records, r.torn_tail), (100, None));
        assert_eq!(wal.size, size);
        // A batch larger than the room left: the room is made again past it.
        let big = Bytes::from(vec![7u8; 2 << 20]);
        wal.append(&[checkpoint(100, &big), accept(101)]).unwrap();
        wal.sync().unwrap();
        assert_eq!(length(), wal.size + PREALLOCATE);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!((r.records, r.torn_tail), (102, None));
        assert_eq!(r.state.checkpoint, Some((100, big)));
        assert!(r.state.accepted.contains_key(&101));
    }

    #[test]
    fn the_room_left_in_earlier_segments_reads_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.segment_limit = 200;
        for slot in 1..=20 {
            wal.append(&[accept(slot)]).unwrap();
            wal.sync().unwrap();
        }
        let files = segments(dir.path()).unwrap();
        assert!(files.len() > 2, "{files:?}");
        for (_, path) in &files {
            assert!(std::fs::metadata(path).unwrap().len() > PREALLOCATE);
        }
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!((r.records, r.torn_tail), (20, None));
        assert_eq!(r.state.accepted.len(), 20);
    }

    #[test]
    fn a_record_torn_in_the_room_is_cut_off_but_zeros_before_records_are_corruption() {
        let (dir, mut wal, good) = two_records_synced();
        // A crash while the third record was half on disk: its first half
        // over the zeros made ahead.
        wal.append(&[accept(3)]).unwrap();
        let third = wal.buf.clone();
        drop(wal);
        let path = segment(dir.path());
        let mut f = OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(good)).unwrap();
        f.write_all(&third[..third.len() / 2]).unwrap();
        drop(f);
        let torn = torn_at_and_going_on(dir.path(), good);
        assert!(torn.dropped_bytes > 0 && torn.dropped_bytes <= third.len() as u64 / 2);

        // A zeroed block with records after it is damage, not room.
        let mut bytes = std::fs::read(&path).unwrap();
        let first = HEADER.len();
        bytes[first..first + 16].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Wal::open(dir.path(), false),
            Err(StorageError::Corrupt { offset, .. }) if offset == first as u64
        ));
    }

    #[test]
    fn a_flipped_byte_in_the_middle_refuses_to_start_naming_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.append(&[accept(1), accept(2), accept(3)]).unwrap();
        wal.sync().unwrap();
        let size = wal.size as usize;
        drop(wal);
        let path = segment(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let second = HEADER.len() + (size - HEADER.len()) / 3;
        bytes[second + 20] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let e = Wal::open(dir.path(), false).err().unwrap();
        let text = e.to_string();
        assert!(
            matches!(e, StorageError::Corrupt { offset, .. } if offset == second as u64),
            "{text}"
        );
        assert!(
            text.contains(&path.display().to_string()) && text.contains("refusing to start"),
            "{text}"
        );
    }

    #[test]
    fn a_failing_disk_poisons_the_log_and_loses_only_what_was_never_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.append(&[accept(1)]).unwrap();
        wal.sync().unwrap();
        wal.faults.fail_write_after = Some(100);
        wal.append(&[accept(2)]).unwrap();
        assert!(wal.sync().is_err(), "a full disk must fail the sync");
        assert!(matches!(
            wal.append(&[accept(3)]),
            Err(StorageError::Poisoned(_))
        ));
        assert!(wal.sync().is_err());
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(
            r.records, 1,
            "slot 2 was never acknowledged; a torn part of it is cut"
        );
        assert!(r.torn_tail.is_some());

        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.faults.fail_sync = true;
        wal.append(&[accept(1)]).unwrap();
        assert!(wal.sync().is_err());
        assert!(wal.sync().is_err(), "poisoned after a failed sync");
    }

    #[test]
    fn compaction_keeps_only_the_live_records_and_bounds_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        let mut sizes = Vec::new();
        for slot in 1..=2000u64 {
            wal.append(&[accept(slot)]).unwrap();
            wal.sync().unwrap();
            if slot % 100 == 0 {
                let live: Vec<PersistOp> = (slot - 9..=slot).map(accept).collect();
                wal.compact(&live).unwrap();
                sizes.push(wal.bytes_on_disk());
            }
        }
        // Bounded: ten records, whatever the length of the run.
        assert!(sizes.iter().all(|s| *s <= sizes[0] + 100), "{sizes:?}");
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        drop(wal);
        let (_, r) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(r.records, 10);
        assert_eq!(r.state.accepted.keys().next(), Some(&1991));
    }

    #[test]
    fn every_sync_with_records_is_timed_and_a_compaction_keeps_the_timer() {
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        let fsyncs = || {
            let mut text = String::new();
            prometheus_client::encoding::prometheus_text::encode(&mut text, metrics.registry())
                .unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("etcd_disk_wal_fsync_duration_seconds_count "))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.time_syncs(metrics.sync_probe());
        wal.append(&[accept(1)]).unwrap();
        wal.sync().unwrap();
        // Nothing to write: no fsync, nothing timed.
        wal.sync().unwrap();
        assert_eq!(fsyncs(), 1);
        // The new segment's own sync, then the next group commit on it.
        wal.compact(&[accept(1)]).unwrap();
        assert_eq!(fsyncs(), 2);
        wal.append(&[accept(2)]).unwrap();
        wal.sync().unwrap();
        assert_eq!(fsyncs(), 3);
    }
}
