//! The worst-case failover time, as a formula of the configuration.
//!
//! From the crash of a leader to the first execution of a client command
//! proposed after it, assuming that afterwards the surviving nodes form a
//! connected majority, every message arrives within `delay` (δ), every step
//! (including a persist) takes at most `processing` (π), the host calls
//! `tick` every `tick` (τ), and nothing else fails. docs/liveness.md derives
//! it term by term:
//!
//! ```text
//! detection   = δ + E + τ           last heartbeat may arrive δ after the crash;
//!                                   the timer E is checked every tick
//! order       = k·S + τ             k dead nodes right after the leader in the
//!                                   candidate order stand aside, S apart
//! phase 1     = τ + 2δ + 2π         PREPARE out, promises deferred to the next
//!                                   tick of a suspecting node, persisted, back
//! new view    = 2π                  self-promise persisted, NEW-VIEW sent
//! elected     = detection + order + phase 1 + new view
//! commit      = 2δ + 3π             ACCEPT out, persisted, ACCEPTED back, executed
//! request     = T_c + δ             a client's retry (broadcast) reaches the
//!                                   new leader
//! next        = π + 2δ + think      the retried command may already be chosen
//!                                   (carried by NEW-VIEW): it is answered from
//!                                   the reply table, and its client sends its
//!                                   next command
//! bound       = max(elected + commit, request) + next + commit
//! ```
//!
//! It holds if a candidacy can finish within its timeout (`candidacy_timeout
//! ≥ phase 1 + τ`); otherwise the doubling backoff adds terms, which
//! `FailoverBound::assumptions_hold` reports.

use crate::config::Config;
use crate::types::Time;

/// What the formula assumes of the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Environment {
    /// τ: how often the host calls `tick`.
    pub tick: Time,
    /// δ: the bound on message delay.
    pub delay: Time,
    /// π: the bound on one processing step, persist included.
    pub processing: Time,
    /// T_c: how long a client waits before broadcasting its request.
    pub client_timeout: Time,
    /// How long a client pauses between a reply and its next command.
    pub think: Time,
    /// k: crashed nodes directly after the leader in the candidate order
    /// (at most f - 1).
    pub dead_successors: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverBound {
    /// The named terms, in microseconds, in the order of the formula.
    pub terms: Vec<(&'static str, Time)>,
    /// When a new leader is in place (after the crash).
    pub elected: Time,
    pub total: Time,
    pub assumptions_hold: bool,
}

pub fn failover_bound(config: &Config, env: &Environment) -> FailoverBound {
    let (d, p, t) = (env.delay, env.processing, env.tick);
    let detection = d + config.election_timeout + t;
    let order = env.dead_successors * config.candidate_stagger + t;
    let phase1 = t + 2 * d + 2 * p;
    let new_view = 2 * p;
    let elected = detection + order + phase1 + new_view;
    let commit = 2 * d + 3 * p;
    let request = env.client_timeout + d;
    let next = p + 2 * d + env.think;
    let total = (elected + commit).max(request) + next + commit;
    FailoverBound {
        terms: vec![
            ("detection (δ + E + τ)", detection),
            ("candidate order (k·S + τ)", order),
            ("phase 1 (τ + 2δ + 2π)", phase1),
            ("new view (2π)", new_view),
            ("commit (2δ + 3π)", commit),
            ("client retry (T_c + δ)", request),
            ("next command (π + 2δ + think)", next),
        ],
        elected,
        total,
        assumptions_hold: config.candidacy_timeout >= phase1 + t
            && env.dead_successors <= config.max_failures().saturating_sub(1) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MS;

    fn env() -> Environment {
        Environment {
            tick: 5 * MS,
            delay: 3 * MS,
            processing: MS,
            client_timeout: 200 * MS,
            think: 20 * MS,
            dead_successors: 0,
        }
    }

    #[test]
    fn the_bound_is_the_later_of_election_and_client_retry_plus_the_next_command() {
        let c = Config::cluster(1, 5);
        let b = failover_bound(&c, &env());
        // detection 158, order 5, phase 1 13, new view 2: elected at 178 ms;
        // the client's retry reaches it at 203 ms; the next command takes
        // 1 + 6 + 20 = 27 ms to arrive and 9 ms to commit.
        assert_eq!(b.elected, 178 * MS);
        assert_eq!(b.total, 239 * MS);
        assert!(b.assumptions_hold);
        // With fast client retries the election (and its NEW-VIEW commit) decides.
        let fast_client = Environment {
            client_timeout: 50 * MS,
            ..env()
        };
        assert_eq!(
            failover_bound(&c, &fast_client).total,
            (178 + 9 + 27 + 9) * MS
        );
    }

    #[test]
    fn each_dead_successor_adds_one_stagger() {
        let c = Config::cluster(1, 5);
        let one = failover_bound(
            &c,
            &Environment {
                dead_successors: 1,
                client_timeout: 0,
                ..env()
            },
        );
        let none = failover_bound(
            &c,
            &Environment {
                client_timeout: 0,
                ..env()
            },
        );
        assert_eq!(one.total - none.total, c.candidate_stagger);
        let too_many = failover_bound(
            &c,
            &Environment {
                dead_successors: 2,
                ..env()
            },
        );
        assert!(
            !too_many.assumptions_hold,
            "f = 2 allows one dead successor"
        );
    }
}
