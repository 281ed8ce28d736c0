//! The simulated network: per-link delays, loss, duplication and
//! partitions (any set of directed links cut, so symmetric, asymmetric,
//! one-way and bridge partitions are all the same mechanism).

use rand::Rng;
use std::collections::BTreeSet;
use synod_core::{NodeId, Time};

#[derive(Clone, Debug, PartialEq)]
pub struct Conditions {
    pub min_delay: Time,
    pub max_delay: Time,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is held back up to `long_delay` (so it
    /// overtakes nothing in time but is overtaken by many).
    pub slow: f64,
    pub long_delay: Time,
}

impl Conditions {
    pub fn calm(min_delay: Time, max_delay: Time) -> Self {
        Conditions {
            min_delay,
            max_delay,
            loss: 0.0,
            duplicate: 0.0,
            slow: 0.0,
            long_delay: 0,
        }
    }
}

#[derive(Debug)]
pub struct Network {
    pub conditions: Conditions,
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Network {
    pub fn new(conditions: Conditions) -> Self {
        Network {
            conditions,
            cut: BTreeSet::new(),
        }
    }

    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to))
    }

    pub fn cuts(&self) -> usize {
        self.cut.len()
    }

    /// The delays after which copies of one message arrive: none if lost or
    /// cut, two if duplicated. `from == to` is the node's own loopback.
    pub fn deliveries(
        &self,
        rng: &mut impl Rng,
        from: Option<NodeId>,
        to: Option<NodeId>,
    ) -> Vec<Time> {
        if let (Some(from), Some(to)) = (from, to) {
            if from == to {
                return vec![0];
            }
            if self.is_cut(from, to) {
                return Vec::new();
            }
        }
        let c = &self.conditions;
        if c.loss > 0.0 && rng.random_bool(c.loss) {
            return Vec::new();
        }
        let copies = if c.duplicate > 0.0 && rng.random_bool(c.duplicate) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                let mut delay = rng.random_range(c.min_delay..=c.max_delay);
                if c.slow > 0.0 && c.long_delay > 0 && rng.random_bool(c.slow) {
                    delay += rng.random_range(0..=c.long_delay);
                }
                delay
            })
            .collect()
    }
}
