//! The log writer: a thread that owns the write-ahead log, so that the core
//! (the task that drives the replica) never waits for the disk.
//!
//! The core submits each [`Write`] of its replica (a turn's records, and a
//! compaction if the replica asked for one) and goes on handling inputs.
//! The writer takes every write queued, applies them in order
//! ([`Write::apply_to`]: the compaction first, then the appends), syncs
//! once, and reports the last token now durable, which the core hands to
//! `Replica::persisted`; the replica releases the votes that waited for it.
//! While one sync runs, later writes queue up and share the next (group
//! commit across turns).
//!
//! So a leader handles ACCEPTEDs and replies to clients during its own
//! fsync. The simulator drives the replica exactly this way (its syncs
//! complete later and report their tokens).
//!
//! Pacing: when the writer is saturated (a job was already waiting as a
//! sync finished), it starts the next sync no sooner than `pacing` after
//! the last one began, so that more turns share it. A disk has a budget of
//! syncs per second; spending it flat out buys little batching and, on a
//! throttled virtual disk such as this project's test machine, stalls of
//! ~17 ms every 100 ms (docs/performance.md). An idle writer never waits:
//! a lone request is synced at once.
//!
//! A compaction holds the writer only until the new segment is durable
//! ([`Wal::compact_keeping`]); a second thread, the cleaner, removes the
//! files it replaced. Removing them (tens of megabytes of segments and
//! snapshot files, and the directory syncs that make that final) held
//! every acceptance for 4 to 48 ms at each checkpoint.
//!
//! After a write or sync error the writer reports it and stops: nothing
//! submitted after the failure is ever reported durable.

use crate::store::{Obsolete, StorageError, Wal};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use synod_core::Write;

pub struct LogWriter {
    /// The log's directory (where checkpoint builders put snapshot files).
    dir: std::path::PathBuf,
    jobs: Option<mpsc::Sender<Write>>,
    /// Returns the error that stopped the writer, if one did.
    thread: Option<JoinHandle<Option<String>>>,
    /// Removes what compactions replaced; stops once the writer has.
    cleaner: Option<JoinHandle<()>>,
    /// The log's record of the snapshot files its node wrote.
    written: crate::snapshot_file::Written,
}

impl LogWriter {
    /// Starts the writer thread. `report` is called from it after each
    /// sync with the last durable token, or once with the error that
    /// stopped it.
    pub fn start(
        wal: Wal,
        name: String,
        pacing: Duration,
        report: impl FnMut(Result<u64, StorageError>) + Send + 'static,
    ) -> std::io::Result<LogWriter> {
        let (tx, rx) = mpsc::channel();
        let (obsolete_tx, obsolete_rx) = mpsc::channel();
        let dir = wal.dir().to_path_buf();
        let written = wal.written();
        let cleaner = std::thread::Builder::new()
            .name(name.replace("wal", "clean"))
            .spawn(move || clean(obsolete_rx))?;
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(wal, rx, pacing, obsolete_tx, report))?;
        Ok(LogWriter {
            dir,
            jobs: Some(tx),
            thread: Some(thread),
            cleaner: Some(cleaner),
            written,
        })
    }

    /// The directory of the log this writer owns.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// A writer of snapshot files for this log's directory, which tells the
    /// log what it wrote.
    pub fn snapshot_writer(&self) -> crate::snapshot_file::SnapshotWriter {
        crate::snapshot_file::SnapshotWriter::new(&self.dir, self.written.clone())
    }

    /// Queues a write. If the writer has stopped after an error, returns
    /// that error (so the node can say why it stops, whichever it hears of
    /// first: this or the report).
    pub fn submit(&mut self, write: Write) -> Result<(), String> {
        if self.jobs.as_ref().is_some_and(|j| j.send(write).is_ok()) {
            return Ok(());
        }
        self.jobs = None;
        let why = self.thread.take().and_then(|t| t.join().ok().flatten());
        Err(why.unwrap_or_else(|| "the log writer has stopped".into()))
    }

    /// Waits until every write submitted so far is applied and synced (or
    /// the writer failed), then stops the thread.
    pub fn finish(mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The writer's end closed the cleaner's queue: this waits for the
        // removals already queued.
        if let Some(cleaner) = self.cleaner.take() {
            let _ = cleaner.join();
        }
    }
}

/// The cleaner thread. A file it cannot remove stays where it is: the
/// log is whole without it, and the next compaction lists it again.
fn clean(obsolete: mpsc::Receiver<Obsolete>) {
    for files in obsolete {
        if let Err(e) = files.remove() {
            tracing::warn!("files a compaction replaced were not all removed: {e}");
        }
    }
}

/// The write-ahead log as the core's writes see it (`Write::apply_to`):
/// a compaction's replaced files are set aside for the cleaner.
struct Batch<'a> {
    wal: &'a mut Wal,
    obsolete: &'a mut Vec<Obsolete>,
}

impl synod_core::Log for Batch<'_> {
    type Error = StorageError;

    fn replace(&mut self, live: &[synod_core::PersistOp]) -> Result<(), StorageError> {
        self.obsolete.push(self.wal.compact_keeping(live)?);
        Ok(())
    }

    fn append(&mut self, ops: &[synod_core::PersistOp]) -> Result<(), StorageError> {
        self.wal.append(ops)
    }
}

fn run(
    mut wal: Wal,
    jobs: mpsc::Receiver<Write>,
    pacing: Duration,
    cleaner: mpsc::Sender<Obsolete>,
    mut report: impl FnMut(Result<u64, StorageError>),
) -> Option<String> {
    let mut last_sync: Option<Instant> = None;
    let mut obsolete = Vec::new();
    loop {
        let mut log = Batch {
            wal: &mut wal,
            obsolete: &mut obsolete,
        };
        let (first, saturated) = match jobs.try_recv() {
            Ok(job) => (job, true),
            Err(_) => match jobs.recv() {
                Ok(job) => (job, false),
                Err(_) => return None,
            },
        };
        let mut last = first.token;
        let mut result = first.apply_to(&mut log);
        if saturated && let Some(started) = last_sync {
            let wait = (started + pacing).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        while result.is_ok() {
            match jobs.try_recv() {
                Ok(write) => {
                    last = write.token;
                    result = write.apply_to(&mut log);
                }
                Err(_) => break,
            }
        }
        last_sync = Some(Instant::now());
        match result.and_then(|()| wal.sync()) {
            Ok(()) => {
                report(Ok(last));
                for files in obsolete.drain(..) {
                    let _ = cleaner.send(files);
                }
            }
            Err(e) => {
                // Refuse new jobs before telling anyone, so that a submit
                // after the report always fails.
                drop(jobs);
                let why = e.to_string();
                report(Err(e));
                return Some(why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::{Ballot, NodeId, PersistOp, Value};

    fn accept(slot: u64) -> PersistOp {
        PersistOp::Accept {
            slot,
            ballot: Ballot {
                round: 1,
                node: NodeId(1),
            },
            value: Value::Noop,
        }
    }

    type Reports = mpsc::Receiver<Result<u64, String>>;

    fn reports() -> (
        impl FnMut(Result<u64, StorageError>) + Send + 'static,
        Reports,
    ) {
        let (tx, rx) = mpsc::channel();
        let report = move |r: Result<u64, StorageError>| {
            let _ = tx.send(r.map_err(|e| e.to_string()));
        };
        (report, rx)
    }

    #[test]
    fn every_turn_is_reported_durable_in_order_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true).unwrap();
        let (report, rx) = reports();
        let mut writer =
            LogWriter::start(wal, "test-writer".into(), Duration::ZERO, report).unwrap();
        for turn in 1..=50 {
            assert!(
                writer
                    .submit(Write {
                        token: turn,
                        append: vec![accept(turn)],
                        replace: None,
                    })
                    .is_ok()
            );
        }
        writer.finish();
        let reported: Vec<u64> = rx.try_iter().map(|r| r.unwrap()).collect();
        assert_eq!(reported.last(), Some(&50), "the last turn is reported");
        assert!(
            reported.windows(2).all(|w| w[0] < w[1]),
            "reports only move forward: {reported:?}"
        );
        let (_, recovery) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(recovery.records, 50);
        assert_eq!(recovery.state.accepted.len(), 50);
    }

    #[test]
    fn a_compaction_runs_in_order_with_the_appends_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true).unwrap();
        let (report, rx) = reports();
        let mut writer =
            LogWriter::start(wal, "test-writer".into(), Duration::ZERO, report).unwrap();
        writer
            .submit(Write {
                token: 1,
                append: (1..=10).map(accept).collect(),
                replace: None,
            })
            .unwrap();
        // Slots 1..=10 are dropped by the compaction; 11 was appended
        // before it in the same turn and is kept because `live` holds it.
        writer
            .submit(Write {
                token: 2,
                append: vec![accept(11)],
                replace: Some(vec![accept(11)]),
            })
            .unwrap();
        writer
            .submit(Write {
                token: 3,
                append: vec![accept(12)],
                replace: None,
            })
            .unwrap();
        writer.finish();
        assert_eq!(rx.try_iter().last(), Some(Ok(3)));
        let (_, recovery) = Wal::open(dir.path(), false).unwrap();
        let slots: Vec<u64> = recovery.state.accepted.keys().copied().collect();
        assert_eq!(slots, vec![11, 12]);
    }

    /// The writer hands what a compaction replaced to its cleaner, which
    /// has removed it by the time `finish` returns.
    #[test]
    fn the_cleaner_removes_what_a_compaction_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true).unwrap();
        let (report, rx) = reports();
        let mut writer =
            LogWriter::start(wal, "test-wal-n1".into(), Duration::ZERO, report).unwrap();
        let snapshots: Vec<bytes::Bytes> = (1..=2u8).map(|i| vec![i; 5000].into()).collect();
        for (turn, (slot, snapshot)) in [100u64, 200].into_iter().zip(&snapshots).enumerate() {
            crate::snapshot_file::write_whole(dir.path(), slot, snapshot).unwrap();
            let checkpoint = PersistOp::Checkpoint {
                slot,
                snapshot: snapshot.clone(),
            };
            writer
                .submit(Write {
                    token: turn as u64 + 1,
                    append: vec![accept(slot + 1)],
                    replace: Some(vec![checkpoint]),
                })
                .unwrap();
        }
        writer.finish();
        assert_eq!(rx.try_iter().last(), Some(Ok(2)));
        let names = |prefix: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect();
            names.sort();
            names
        };
        assert_eq!(names("wal-").len(), 1, "{:?}", names("wal-"));
        assert_eq!(names("snapshot-"), vec!["snapshot-0000000000000200.snap"]);
        let (_, recovery) = Wal::open(dir.path(), false).unwrap();
        assert_eq!(recovery.state.checkpoint, Some((200, snapshots[1].clone())));
        assert_eq!(
            recovery.state.accepted.keys().copied().collect::<Vec<_>>(),
            vec![201]
        );
    }

    #[test]
    fn a_record_of_the_compacting_turn_survives_even_if_the_live_set_lacks_it() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true).unwrap();
        let (report, rx) = reports();
        let mut writer =
            LogWriter::start(wal, "test-writer".into(), Duration::ZERO, report).unwrap();
        writer
            .submit(Write {
                token: 1,
                append: (1..=10).map(accept).collect(),
                replace: None,
            })
            .unwrap();
        // Turn 2 accepts slot 11 and compacts to a live set built before
        // that acceptance: the acceptance must not be replaced away.
        writer
            .submit(Write {
                token: 2,
                append: vec![accept(11)],
                replace: Some(vec![accept(10)]),
            })
            .unwrap();
        writer.finish();
        assert_eq!(rx.try_iter().last(), Some(Ok(2)));
        let (_, recovery) = Wal::open(dir.path(), false).unwrap();
        let slots: Vec<u64> = recovery.state.accepted.keys().copied().collect();
        assert_eq!(slots, vec![10, 11]);
    }

    #[test]
    fn a_saturated_writer_waits_out_its_pacing_so_later_turns_share_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true).unwrap();
        let (tx, rx) = mpsc::channel::<Write>();
        let (reported_tx, reported) = mpsc::channel();
        let (second_sent_tx, second_sent) = mpsc::channel::<()>();
        let job = |turn| Write {
            token: turn,
            append: vec![accept(turn)],
            replace: None,
        };
        tx.send(job(1)).unwrap();
        // Once turn 1 is durable, turn 2 is queued before the writer looks
        // again (so it is saturated), and turn 3 right after, from another
        // thread, while the writer waits out its pacing.
        let mut submit = Some(tx.clone());
        let report = move |r: Result<u64, StorageError>| {
            let turn = r.unwrap();
            // Dropped once used: the writer stops when every sender is gone.
            if let Some(submit) = submit.take() {
                submit.send(job(2)).unwrap();
                second_sent_tx.send(()).unwrap();
            }
            reported_tx.send(turn).unwrap();
        };
        let third = std::thread::spawn(move || {
            second_sent.recv().unwrap();
            tx.send(job(3)).unwrap();
        });
        let (cleaner, _) = mpsc::channel();
        let writer =
            std::thread::spawn(move || run(wal, rx, Duration::from_millis(500), cleaner, report));
        third.join().unwrap();
        writer.join().unwrap();
        let reports: Vec<u64> = reported.try_iter().collect();
        assert_eq!(reports, vec![1, 3], "turns 2 and 3 share one sync");
    }

    #[test]
    fn a_failing_disk_is_reported_once_and_nothing_after_it_is_called_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.faults.fail_sync = true;
        let (report, rx) = reports();
        let mut writer =
            LogWriter::start(wal, "test-writer".into(), Duration::ZERO, report).unwrap();
        writer
            .submit(Write {
                token: 1,
                append: vec![accept(1)],
                replace: None,
            })
            .unwrap();
        // Wait for the failure, then try again: the writer has stopped.
        let first = rx.recv().unwrap();
        assert!(first.is_err(), "a failed sync is reported: {first:?}");
        let refused = writer.submit(Write {
            token: 2,
            append: vec![accept(2)],
            replace: None,
        });
        // Refused, naming the failure that stopped the writer.
        assert!(
            refused
                .as_ref()
                .is_err_and(|why| why.contains("input/output error")),
            "{refused:?}"
        );
        writer.finish();
        assert!(
            rx.try_iter().all(|r| r.is_err()),
            "no turn is ever reported durable"
        );
    }
}
