//! Requests against the store with etcd's rules: validation (what etcd's
//! gRPC layer rejects before proposing), then checks against the state
//! (leases, keys for ignore_value/ignore_lease, revisions), then the write.
//!
//! A request either fails before it changes anything or succeeds whole:
//! every check runs against the state before the first write, as in etcd,
//! so a transaction never stops halfway. All writes of one request share
//! one main revision.

use crate::error::EtcdError;
use crate::mvcc::{Revision, Store};
use crate::request::{
    Compare, CompareOperand, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResult,
    PutRequest, PutResult, RangeRequest, RangeResult, RequestOp, ResponseOp, TxnRequest, TxnResult,
};
use crate::types::{KeyRange, KeyValue};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;

pub fn check_range(r: &RangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

pub fn check_put(p: &PutRequest) -> Result<(), EtcdError> {
    if p.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if p.ignore_value && !p.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if p.ignore_lease && p.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete(d: &DeleteRangeRequest) -> Result<(), EtcdError> {
    if d.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest` and `checkIntervals`: bounded size, no empty
/// keys, and no key written twice by the operations that can run together.
pub fn check_txn(t: &TxnRequest) -> Result<(), EtcdError> {
    check_txn_ops(t, MAX_TXN_OPS)?;
    check_intervals(&t.success)?;
    check_intervals(&t.failure)?;
    Ok(())
}

fn check_txn_ops(t: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    let ops = t.compare.len().max(t.success.len()).max(t.failure.len());
    if ops > max_ops {
        return Err(EtcdError::TooManyOps);
    }
    if t.compare.iter().any(|c| c.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in t.success.iter().chain(&t.failure) {
        match op {
            RequestOp::Range(r) => check_range(r)?,
            RequestOp::Put(p) => check_put(p)?,
            RequestOp::DeleteRange(d) => check_delete(d)?,
            RequestOp::Txn(t) => check_txn_ops(t, max_ops - ops)?,
        }
    }
    Ok(())
}

/// The keys a list of operations puts and the ranges it deletes, failing
/// on a key put twice or put and deleted, where both could run. A nested
/// txn's two branches never run together, so they may each put a key.
fn check_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<Vec<u8>>, Vec<KeyRange>), EtcdError> {
    let mut dels: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(d) => Some(KeyRange::new(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[KeyRange], key: &[u8]| dels.iter().any(|r| r.contains(key));
    let mut puts: BTreeSet<Vec<u8>> = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(EtcdError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

/// Which branch each txn takes: the outer one's, then, in order, those of
/// the txns nested in the branch taken. Compares all see the state before
/// the transaction, as in etcd.
#[derive(Debug)]
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

impl Store {
    /// A write transaction's view: changes made so far are at `main`.
    fn begin(&mut self) -> Write<'_> {
        let main = self.revision + 1;
        Write {
            store: self,
            main,
            subs: 0,
        }
    }

    pub fn put(&mut self, req: &PutRequest) -> Result<PutResult, EtcdError> {
        check_put(req)?;
        self.check_put_state(req)?;
        let mut w = self.begin();
        let result = w.put(req);
        w.commit();
        Ok(result)
    }

    pub fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResult, EtcdError> {
        check_delete(req)?;
        let mut w = self.begin();
        let result = w.delete_range(req);
        w.commit();
        Ok(result)
    }

    /// Serves a range at the current revision (validation included).
    pub fn read_range(&self, req: &RangeRequest) -> Result<RangeResult, EtcdError> {
        check_range(req)?;
        self.range(req, self.revision)
    }

    pub fn txn(&mut self, req: &TxnRequest) -> Result<TxnResult, EtcdError> {
        check_txn(req)?;
        let path = self.path(req);
        self.check_txn_state(req, &path)?;
        let mut w = self.begin();
        let mut result = w.txn(req, &path);
        result.revision = w.current();
        w.commit();
        Ok(result)
    }

    /// Deletes a lease and every key attached to it, in one revision.
    pub fn lease_revoke(&mut self, id: i64) -> Result<i64, EtcdError> {
        let lease = self.leases.remove(id).ok_or(EtcdError::LeaseNotFound)?;
        let mut w = self.begin();
        for key in lease.keys.iter() {
            let rev = w.next_rev();
            w.store.delete_at(rev, key);
        }
        let revision = w.current();
        w.commit();
        Ok(revision)
    }

    pub fn lease_grant(&mut self, id: i64, ttl: i64) -> Result<(i64, i64), EtcdError> {
        self.leases.grant(id, ttl)
    }

    /// A keep-alive, ordered by the log: counts a renewal of the lease (the
    /// leader restarts its TTL on seeing the count move) and answers its
    /// granted TTL.
    pub fn lease_keep_alive(&mut self, id: i64) -> Result<i64, EtcdError> {
        self.leases.renew(id)
    }

    /// Revokes a lease the leader found expired after `renewals` renewals,
    /// unless a keep-alive was ordered in between (then nothing happens:
    /// the client that sent it was told the lease lives on). `Ok(None)`:
    /// left alone.
    pub fn lease_expire(&mut self, id: i64, renewals: u64) -> Result<Option<i64>, EtcdError> {
        let lease = self.leases.get(id).ok_or(EtcdError::LeaseNotFound)?;
        if lease.renewals != renewals {
            return Ok(None);
        }
        self.lease_revoke(id).map(Some)
    }

    fn check_put_state(&self, p: &PutRequest) -> Result<(), EtcdError> {
        if p.lease != 0 && !self.leases.contains(p.lease) {
            return Err(EtcdError::LeaseNotFound);
        }
        if (p.ignore_value || p.ignore_lease) && self.get(&p.key).is_none() {
            return Err(EtcdError::KeyNotFound);
        }
        Ok(())
    }

    fn check_range_state(&self, r: &RangeRequest) -> Result<(), EtcdError> {
        if r.revision > self.revision {
            return Err(EtcdError::FutureRev);
        }
        if r.revision > 0 && r.revision < self.compact_revision {
            return Err(EtcdError::Compacted);
        }
        Ok(())
    }

    fn path(&self, t: &TxnRequest) -> Path {
        let succeeded = t.compare.iter().all(|c| self.compare_holds(c));
        let ops = if succeeded { &t.success } else { &t.failure };
        let nested = ops
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(inner) => Some(self.path(inner)),
                _ => None,
            })
            .collect();
        Path { succeeded, nested }
    }

    fn check_txn_state(&self, t: &TxnRequest, path: &Path) -> Result<(), EtcdError> {
        let ops = if path.succeeded {
            &t.success
        } else {
            &t.failure
        };
        let mut nested = path.nested.iter();
        for op in ops {
            match op {
                RequestOp::Range(r) => self.check_range_state(r)?,
                RequestOp::Put(p) => self.check_put_state(p)?,
                RequestOp::DeleteRange(_) => {}
                RequestOp::Txn(inner) => {
                    let Some(p) = nested.next() else {
                        return Err(EtcdError::InvalidArgument("txn path mismatch".into()));
                    };
                    self.check_txn_state(inner, p)?;
                }
            }
        }
        Ok(())
    }

    /// etcd's `applyCompare`: every key in the range must satisfy it; an
    /// empty range compares as one absent key (zero revisions, version and
    /// lease), except that a value compare on it fails.
    fn compare_holds(&self, c: &Compare) -> bool {
        let kvs = self.scan_at(&KeyRange::new(&c.key, &c.range_end), self.revision);
        if kvs.is_empty() {
            return c.target != CompareTarget::Value && compare_kv(c, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(c, kv))
    }
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ordering = match c.target {
        CompareTarget::Value => {
            let wanted: &[u8] = match &c.operand {
                CompareOperand::Value(v) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(wanted)
        }
        CompareTarget::Version => kv.version.cmp(&operand(c)),
        CompareTarget::Create => kv.create_revision.cmp(&operand(c)),
        CompareTarget::Mod => kv.mod_revision.cmp(&operand(c)),
        CompareTarget::Lease => kv.lease.cmp(&operand(c)),
    };
    match c.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

/// A numeric compare's operand; a missing or mismatched one is etcd's zero.
fn operand(c: &Compare) -> i64 {
    match (c.target, &c.operand) {
        (CompareTarget::Version, CompareOperand::Version(n))
        | (CompareTarget::Create, CompareOperand::CreateRevision(n))
        | (CompareTarget::Mod, CompareOperand::ModRevision(n))
        | (CompareTarget::Lease, CompareOperand::Lease(n)) => *n,
        _ => 0,
    }
}

/// A write in progress: its changes so far are at `main`, numbered by sub.
struct Write<'a> {
    store: &'a mut Store,
    main: i64,
    subs: i64,
}

impl Write<'_> {
    /// The revision a read inside this write sees (and reports).
    fn current(&self) -> i64 {
        if self.subs > 0 {
            self.main
        } else {
            self.main - 1
        }
    }

    fn next_rev(&mut self) -> Revision {
        let rev = Revision {
            main: self.main,
            sub: self.subs,
        };
        self.subs += 1;
        rev
    }

    fn commit(self) {
        if self.subs > 0 {
            self.store.revision = self.main;
        }
    }

    fn put(&mut self, p: &PutRequest) -> PutResult {
        // The previous pair is looked up (and copied) only if the request
        // asks for something of it: a put executes on every node, and most
        // ask for nothing.
        let wants_prev = p.ignore_value || p.ignore_lease || p.prev_kv;
        let prev = if wants_prev {
            self.store.get(&p.key)
        } else {
            None
        };
        let value = match (prev, p.ignore_value) {
            (Some(prev), true) => prev.value.clone(),
            _ => p.value.clone(),
        };
        let lease = match (prev, p.ignore_lease) {
            (Some(prev), true) => prev.lease,
            _ => p.lease,
        };
        let prev_kv = if p.prev_kv { prev.cloned() } else { None };
        let rev = self.next_rev();
        self.store.put_at(rev, &p.key, value, lease);
        PutResult {
            revision: self.main,
            prev_kv,
        }
    }

    fn delete_range(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResult {
        let range = KeyRange::new(&d.key, &d.range_end);
        let victims: Vec<KeyValue> = self
            .store
            .scan_at(&range, self.current())
            .into_iter()
            .cloned()
            .collect();
        for kv in &victims {
            let rev = self.next_rev();
            self.store.delete_at(rev, &kv.key);
        }
        DeleteRangeResult {
            revision: self.current(),
            deleted: victims.len() as i64,
            prev_kvs: if d.prev_kv { victims } else { Vec::new() },
        }
    }

    /// Runs the branch `path` chose. Checks ran before, so nothing fails.
    /// A nested txn's result carries revision 0, as etcd leaves its header.
    fn txn(&mut self, t: &TxnRequest, path: &Path) -> TxnResult {
        let ops = if path.succeeded {
            &t.success
        } else {
            &t.failure
        };
        let mut nested = path.nested.iter();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                RequestOp::Range(r) => {
                    let current = self.current();
                    // Checked before the first write; an error here would
                    // be a bug, and an empty result keeps the write whole.
                    ResponseOp::Range(self.store.range(r, current).unwrap_or(RangeResult {
                        revision: current,
                        ..RangeResult::default()
                    }))
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put(p)),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_range(d)),
                RequestOp::Txn(inner) => match nested.next() {
                    Some(p) => ResponseOp::Txn(self.txn(inner, p)),
                    None => ResponseOp::Txn(TxnResult::default()),
                },
            };
            responses.push(response);
        }
        TxnResult {
            revision: 0,
            succeeded: path.succeeded,
            responses,
        }
    }
}
