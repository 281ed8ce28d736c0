//! Leases as replicated state: which leases exist, the TTL each was granted
//! and the keys attached to it. When a lease expires is not replicated: the
//! leader keeps the deadlines on its own clock and proposes a revoke (see
//! `backend`), so this table never looks at time.

use crate::error::EtcdError;
use imbl::{OrdMap, OrdSet};

/// etcd's largest lease TTL, in seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The TTL granted, in seconds.
    pub ttl: i64,
    pub keys: OrdSet<Vec<u8>>,
    /// Keep-alives applied so far: the leader restarts the lease's TTL when
    /// it sees this move, and an expiry names the count it decided on.
    pub renewals: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leases {
    table: OrdMap<i64, Lease>,
    /// The next id to hand out for a grant that asks for none. It only
    /// grows, so a revoked lease's id is never given to another lease while
    /// a client may still hold it.
    next_id: i64,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases {
            table: OrdMap::new(),
            next_id: 1,
        }
    }
}

impl Leases {
    /// Grants a lease: `id` 0 asks for a fresh id. A TTL below one second is
    /// raised to one (the service applies its own minimum before proposing).
    pub fn grant(&mut self, id: i64, ttl: i64) -> Result<(i64, i64), EtcdError> {
        if ttl > MAX_LEASE_TTL {
            return Err(EtcdError::LeaseTtlTooLarge);
        }
        let id = if id == 0 { self.fresh_id() } else { id };
        if self.table.contains_key(&id) {
            return Err(EtcdError::LeaseExists);
        }
        if id >= self.next_id {
            self.next_id = id.saturating_add(1);
        }
        let ttl = ttl.max(1);
        self.table.insert(
            id,
            Lease {
                ttl,
                keys: OrdSet::new(),
                renewals: 0,
            },
        );
        Ok((id, ttl))
    }

    /// Counts a keep-alive; answers the granted TTL.
    pub fn renew(&mut self, id: i64) -> Result<i64, EtcdError> {
        let lease = self.table.get_mut(&id).ok_or(EtcdError::LeaseNotFound)?;
        lease.renewals += 1;
        Ok(lease.ttl)
    }

    fn fresh_id(&self) -> i64 {
        let mut id = self.next_id;
        // Past i64::MAX (a client chose it), look for a gap from 1: at most
        // `len` ids are taken, so this ends.
        if id == i64::MAX && self.table.contains_key(&id) {
            id = 1;
        }
        while self.table.contains_key(&id) {
            id += 1;
        }
        id
    }

    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.table.get(&id)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.table.contains_key(&id)
    }

    pub fn remove(&mut self, id: i64) -> Option<Lease> {
        self.table.remove(&id)
    }

    pub fn attach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.table.get_mut(&id) {
            lease.keys.insert(key.to_vec());
        }
    }

    pub fn detach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.table.get_mut(&id) {
            lease.keys.remove(key);
        }
    }

    /// Every lease in id order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Lease)> {
        self.table.iter().map(|(id, lease)| (*id, lease))
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Whether `other` is this very table, unchanged (O(1): the maps are
    /// persistent and share their tree).
    pub fn unchanged_from(&self, other: &Leases) -> bool {
        self.next_id == other.next_id && self.table.ptr_eq(&other.table)
    }

    pub(crate) fn next_id(&self) -> i64 {
        self.next_id
    }

    /// Rebuilds a table from a snapshot's parts (keys are attached after).
    pub(crate) fn from_parts(
        next_id: i64,
        leases: impl IntoIterator<Item = (i64, i64, u64)>,
    ) -> Leases {
        let table = leases
            .into_iter()
            .map(|(id, ttl, renewals)| {
                (
                    id,
                    Lease {
                        ttl,
                        keys: OrdSet::new(),
                        renewals,
                    },
                )
            })
            .collect();
        Leases { table, next_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_never_reused() {
        let mut l = Leases::default();
        assert_eq!(l.grant(0, 10), Ok((1, 10)));
        assert_eq!(l.grant(5, 10), Ok((5, 10)));
        assert_eq!(l.grant(0, 10), Ok((6, 10)));
        l.remove(6);
        assert_eq!(l.grant(0, 10), Ok((7, 10)));
        assert_eq!(l.grant(5, 10), Err(EtcdError::LeaseExists));
    }

    #[test]
    fn ttl_bounds() {
        let mut l = Leases::default();
        assert_eq!(
            l.grant(0, MAX_LEASE_TTL + 1),
            Err(EtcdError::LeaseTtlTooLarge)
        );
        assert_eq!(l.grant(0, 0), Ok((1, 1)));
        assert_eq!(l.grant(0, MAX_LEASE_TTL), Ok((2, MAX_LEASE_TTL)));
    }

    #[test]
    fn a_client_chosen_maximum_id_leaves_fresh_ids_working() {
        let mut l = Leases::default();
        assert_eq!(l.grant(i64::MAX, 10), Ok((i64::MAX, 10)));
        assert_eq!(l.grant(0, 10), Ok((1, 10)));
        assert_eq!(l.grant(0, 10), Ok((2, 10)));
    }

    #[test]
    fn attach_and_detach() {
        let mut l = Leases::default();
        l.grant(3, 10).unwrap();
        l.attach(3, b"a");
        l.attach(3, b"b");
        l.attach(4, b"c"); // no such lease: ignored
        l.detach(3, b"a");
        let keys: Vec<_> = l.get(3).unwrap().keys.iter().cloned().collect();
        assert_eq!(keys, vec![b"b".to_vec()]);
    }
}
