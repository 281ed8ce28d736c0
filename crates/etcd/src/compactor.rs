//! Automatic compaction, as etcd's `--auto-compaction-mode` and
//! `--auto-compaction-retention` (the cluster file's `[etcd]` section,
//! docs/etcd.md). The leader proposes `Compact` through the log as a client
//! would, so every node drops the same history at the same revision. Only
//! the leader decides, and a node that takes over starts afresh: it never
//! compacts history younger than the retention.
//!
//! - revision: keep `n` revisions: at every check (each second), compact
//!   to `revision - n` if that is past the compacted revision.
//! - periodic: keep a period `p`: note the revision every `p / 10` (at
//!   least every second, at most every hour) and compact to the newest
//!   note at least `p` old. History then spans between `p` and about
//!   `1.1 p`, compacted every tenth of the period, as etcd does.
//!
//! [`Compactor`] is the policy alone (no clock, no IO); `node.rs` runs it.

use std::collections::VecDeque;
use std::time::Duration;
use synod_node::config::AutoCompaction;
use tokio::time::Instant;

/// How often revision mode looks.
const REVISION_CHECK: Duration = Duration::from_secs(1);

pub(crate) struct Compactor {
    policy: AutoCompaction,
    /// Periodic mode: (when, revision then), oldest first.
    notes: VecDeque<(Instant, i64)>,
}

impl Compactor {
    pub(crate) fn new(policy: AutoCompaction) -> Self {
        Compactor {
            policy,
            notes: VecDeque::new(),
        }
    }

    /// How often the leader should call [`Compactor::due`].
    pub(crate) fn interval(&self) -> Duration {
        match self.policy {
            AutoCompaction::Revisions(_) => REVISION_CHECK,
            AutoCompaction::Periodic(p) => {
                (p / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
            }
        }
    }

    /// A check on the leader at `now`, with the store at `revision` and
    /// compacted through `compacted`: the revision to compact to, if any.
    pub(crate) fn due(&mut self, now: Instant, revision: i64, compacted: i64) -> Option<i64> {
        let target = match self.policy {
            AutoCompaction::Revisions(n) => {
                revision.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX))
            }
            AutoCompaction::Periodic(period) => {
                self.notes.push_back((now, revision));
                let mut target = None;
                while let Some(&(at, rev)) = self.notes.front() {
                    if now.duration_since(at) < period {
                        break;
                    }
                    target = Some(rev);
                    self.notes.pop_front();
                }
                target?
            }
        };
        (target > compacted).then_some(target)
    }

    /// This node does not lead (now): what it noted is no longer its to
    /// act on (a leader again later starts afresh).
    pub(crate) fn pause(&mut self) {
        self.notes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_mode_keeps_the_last_n_revisions() {
        let mut c = Compactor::new(AutoCompaction::Revisions(100));
        let t = Instant::now();
        assert_eq!(c.interval(), Duration::from_secs(1));
        assert_eq!(c.due(t, 50, 0), None, "fewer than n revisions");
        assert_eq!(c.due(t, 100, 0), None, "nothing before revision 1");
        assert_eq!(c.due(t, 150, 0), Some(50));
        assert_eq!(c.due(t, 150, 50), None, "already compacted there");
        assert_eq!(c.due(t, 151, 50), Some(51));
        assert_eq!(c.due(t, 151, 80), None, "a client compacted further");
    }

    #[test]
    fn periodic_mode_compacts_to_what_it_saw_a_period_ago_every_tenth_of_it() {
        let hour = Duration::from_secs(3600);
        let mut c = Compactor::new(AutoCompaction::Periodic(hour));
        assert_eq!(c.interval(), Duration::from_secs(360));
        let t0 = Instant::now();
        let step = c.interval();
        // Revision 10 * k at each check; nothing is a period old for the
        // first ten checks.
        for k in 0..10u32 {
            assert_eq!(c.due(t0 + step * k, 10 * i64::from(k) + 1, 0), None);
        }
        // The eleventh check: what it noted at t0.
        assert_eq!(c.due(t0 + step * 10, 101, 0), Some(1));
        assert_eq!(c.due(t0 + step * 11, 111, 1), Some(11));
        // A check late by three steps takes the newest note a period old.
        assert_eq!(c.due(t0 + step * 14, 141, 11), Some(41));
        // Nothing newer than the compacted revision: nothing to do.
        assert_eq!(c.due(t0 + step * 15, 151, 100), None);
    }

    #[test]
    fn a_leader_again_starts_afresh() {
        let period = Duration::from_secs(10);
        let mut c = Compactor::new(AutoCompaction::Periodic(period));
        let t0 = Instant::now();
        assert_eq!(c.interval(), Duration::from_secs(1));
        c.due(t0, 5, 0);
        c.pause();
        // Led again later: what it saw before does not count.
        assert_eq!(c.due(t0 + period * 2, 500, 0), None);
        assert_eq!(c.due(t0 + period * 3, 600, 0), Some(500));
    }

    #[test]
    fn short_and_long_periods_check_within_bounds() {
        let short = Compactor::new(AutoCompaction::Periodic(Duration::from_secs(2)));
        assert_eq!(short.interval(), Duration::from_secs(1));
        let long = Compactor::new(AutoCompaction::Periodic(Duration::from_secs(100 * 3600)));
        assert_eq!(long.interval(), Duration::from_secs(3600));
    }
}
