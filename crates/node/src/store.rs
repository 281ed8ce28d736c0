//! Durable storage for a node (interim): an append-only file of
//! checksummed `PersistOp` records, fsynced once per event-loop turn.
//! The production write-ahead log (segments, torn-tail repair, corruption
//! detection, compaction) replaces it with the same interface.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use synod_core::{DurableState, PersistOp};

pub struct Recovery {
    pub state: DurableState,
    pub records: u64,
}

pub struct Wal {
    file: File,
    dir: PathBuf,
    buf: Vec<u8>,
}

const FILE: &str = "wal.log";

impl Wal {
    pub fn open(dir: &Path, init: bool) -> Result<(Wal, Recovery), String> {
        let path = dir.join(FILE);
        if !path.exists() {
            if !init {
                return Err(format!(
                    "no synod data in {}; start the node with --init to create a fresh one",
                    dir.display()
                ));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut state = DurableState::default();
        let mut records = 0;
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
                as usize;
            let crc =
                u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
            let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if crc32c::crc32c(payload) != crc {
                return Err(format!(
                    "corrupt log {} at byte {at}: checksum mismatch",
                    path.display()
                ));
            }
            let op: PersistOp = postcard::from_bytes(payload)
                .map_err(|e| format!("corrupt log {} at byte {at}: {e}", path.display()))?;
            state.apply(&op);
            records += 1;
            at += 8 + len;
        }
        Ok((
            Wal {
                file,
                dir: dir.to_path_buf(),
                buf: Vec::new(),
            },
            Recovery { state, records },
        ))
    }

    pub fn append(&mut self, ops: &[PersistOp]) -> Result<(), String> {
        for op in ops {
            let payload = postcard::to_stdvec(op).map_err(|e| e.to_string())?;
            self.buf
                .extend_from_slice(&(payload.len() as u32).to_le_bytes());
            self.buf
                .extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            self.buf.extend_from_slice(&payload);
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), String> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| format!("write to {}: {e}", self.dir.display()))?;
        self.buf.clear();
        self.file
            .sync_data()
            .map_err(|e| format!("fsync in {}: {e}", self.dir.display()))
    }
}
