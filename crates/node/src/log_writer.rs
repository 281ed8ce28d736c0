//! The log writer: a thread that owns the write-ahead log, so that the core
//! thread never waits for the disk.
//!
//! The core thread submits one [`Job`] per turn (the turn's records, and a
//! compaction if the replica asked for one) and goes on handling inputs.
//! The writer takes every job queued, appends them in order, syncs once,
//! and reports the last turn now durable; the core sends a turn's
//! `persisted_messages` only once that report covers it. While one sync
//! runs, later turns queue up and share the next (group commit across
//! turns).
//!
//! This keeps the replica's contract (a message that reveals a record
//! leaves only after the record is durable) while letting a leader handle
//! ACCEPTEDs and reply to clients during its own fsync. Sending turn k+1's
//! `messages` before turn k's records are durable is safe for the same
//! reason sending a turn's `messages` before its own records is: it is what
//! one merged turn would do. The simulator drives the replica exactly this
//! way (syncs complete later, held messages are released by them).
//!
//! After a write or sync error the writer reports it and stops: nothing
//! submitted after the failure is ever reported durable.

use crate::store::{StorageError, Wal};
use std::sync::mpsc;
use std::thread::JoinHandle;
use synod_core::PersistOp;

/// One turn's writes.
pub struct Job {
    /// Increases by one per job; reported back once durable.
    pub turn: u64,
    pub persist: Vec<PersistOp>,
    /// Replace the whole log with these ops, after appending `persist`.
    pub compact: Option<Vec<PersistOp>>,
}

pub struct LogWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread. `report` is called from it after each
    /// sync with the last durable turn, or once with the error that
    /// stopped it.
    pub fn start(
        wal: Wal,
        name: String,
        report: impl FnMut(Result<u64, StorageError>) + Send + 'static,
    ) -> std::io::Result<LogWriter> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(wal, rx, report))?;
        Ok(LogWriter {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a job; false if the writer has stopped (after an error).
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }

    /// Waits until every job submitted so far is written and synced (or
    /// the writer failed), then stops the thread.
    pub fn finish(mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut wal: Wal, jobs: mpsc::Receiver<Job>, mut report: impl FnMut(Result<u64, StorageError>)) {
    while let Ok(first) = jobs.recv() {
        let mut last = first.turn;
        let mut result = write(&mut wal, first);
        while result.is_ok() {
            match jobs.try_recv() {
                Ok(job) => {
                    last = job.turn;
                    result = write(&mut wal, job);
                }
                Err(_) => break,
            }
        }
        match result.and_then(|()| wal.sync()) {
            Ok(()) => report(Ok(last)),
            Err(e) => {
                // Refuse new jobs before telling anyone, so that a submit
                // after the report always fails.
                drop(jobs);
                report(Err(e));
                return;
            }
        }
    }
}

fn write(wal: &mut Wal, job: Job) -> Result<(), StorageError> {
    wal.append(&job.persist)?;
    if let Some(live) = job.compact {
        wal.compact(&live)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::{Ballot, NodeId, Value};

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
        let writer = LogWriter::start(wal, "test-writer".into(), report).unwrap();
        for turn in 1..=50 {
            assert!(writer.submit(Job {
                turn,
                persist: vec![accept(turn)],
                compact: None,
            }));
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
        let writer = LogWriter::start(wal, "test-writer".into(), report).unwrap();
        writer.submit(Job {
            turn: 1,
            persist: (1..=10).map(accept).collect(),
            compact: None,
        });
        // Slots 1..=10 are dropped by the compaction; 11 was appended
        // before it in the same turn and is kept because `live` holds it.
        writer.submit(Job {
            turn: 2,
            persist: vec![accept(11)],
            compact: Some(vec![accept(11)]),
        });
        writer.submit(Job {
            turn: 3,
            persist: vec![accept(12)],
            compact: None,
        });
        writer.finish();
        assert_eq!(rx.try_iter().last(), Some(Ok(3)));
        let (_, recovery) = Wal::open(dir.path(), false).unwrap();
        let slots: Vec<u64> = recovery.state.accepted.keys().copied().collect();
        assert_eq!(slots, vec![11, 12]);
    }

    #[test]
    fn a_failing_disk_is_reported_once_and_nothing_after_it_is_called_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), true).unwrap();
        wal.faults.fail_sync = true;
        let (report, rx) = reports();
        let writer = LogWriter::start(wal, "test-writer".into(), report).unwrap();
        writer.submit(Job {
            turn: 1,
            persist: vec![accept(1)],
            compact: None,
        });
        // Wait for the failure, then try again: the writer has stopped.
        let first = rx.recv().unwrap();
        assert!(first.is_err(), "a failed sync is reported: {first:?}");
        assert!(!writer.submit(Job {
            turn: 2,
            persist: vec![accept(2)],
            compact: None,
        }));
        writer.finish();
        assert!(
            rx.try_iter().all(|r| r.is_err()),
            "no turn is ever reported durable"
        );
    }
}
