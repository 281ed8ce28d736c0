//! One key's history: its changes in revision order, held as a persistent
//! list, newest first.
//!
//! A put appends to its key's history on every node, and most often the
//! history is shared with a captured store (a checkpoint's, a watcher's
//! copy). Appending to a list shares what was there: one small
//! allocation. An `imbl::Vector` copied its whole chunk (up to 64 changes,
//! each an `Arc` to bump) at the first append after each capture, and
//! took 64 bytes in each leaf of the key map where a list takes 8.
//!
//! What a put and a read at the current revision need (the latest change)
//! is at the head. An older change (a read at an old revision, a watch
//! event's previous pair) is found in O(log n) steps: each node also
//! points further back, by jumps laid out as in Myers' applicative
//! random-access stacks (1983), and the revisions fall along the list, so
//! a search jumps whenever the jump lands on a change still too new.

use crate::mvcc::{Change, Revision};
use crate::types::KeyValue;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct History {
    head: Arc<Node>,
}

struct Node {
    change: Change,
    /// The change before this one.
    older: Option<Arc<Node>>,
    /// A change further back (`None` at the oldest): see `jump_for`.
    jump: Option<Arc<Node>>,
    /// How many changes come before this one.
    depth: usize,
}

impl Drop for Node {
    /// Unlinks the older nodes this one alone holds one by one: dropping a
    /// long history by recursion would overflow the stack.
    fn drop(&mut self) {
        // A jump lands on a node that `older` still reaches: dropping it
        // first only lowers a count, never frees a node here.
        drop(self.jump.take());
        let mut older = self.older.take();
        while let Some(node) = older {
            match Arc::try_unwrap(node) {
                Ok(mut node) => {
                    older = node.older.take();
                    drop(node.jump.take());
                }
                // Shared: whoever else holds it keeps the rest alive.
                Err(_) => break,
            }
        }
    }
}

impl History {
    pub(crate) fn unit(change: Change) -> History {
        History {
            head: Arc::new(Node {
                change,
                older: None,
                jump: None,
                depth: 0,
            }),
        }
    }

    /// Builds a history from its changes, oldest first; `None` if empty.
    pub(crate) fn from_oldest(changes: impl IntoIterator<Item = Change>) -> Option<History> {
        let mut changes = changes.into_iter();
        let mut history = History::unit(changes.next()?);
        for change in changes {
            history.push(change);
        }
        Some(history)
    }

    /// Appends `change`, which is newer than every change held.
    pub(crate) fn push(&mut self, change: Change) {
        let head = &self.head;
        let node = Node {
            change,
            jump: Some(jump_for(head)),
            depth: head.depth + 1,
            older: Some(Arc::clone(head)),
        };
        self.head = Arc::new(node);
    }

    /// The newest node whose change is not after `rev` (`after` says
    /// whether a change is after it): O(log n) steps.
    fn newest_not_after(&self, after: impl Fn(&Change) -> bool) -> Option<&Node> {
        let mut node = &*self.head;
        while after(&node.change) {
            // Every change between `node` and a jump that is still after
            // `rev` is after it too: revisions fall along the list.
            node = match (&node.jump, &node.older) {
                (Some(jump), _) if after(&jump.change) => jump,
                (_, Some(older)) => older,
                (_, None) => return None,
            };
        }
        Some(node)
    }

    pub(crate) fn last(&self) -> &Change {
        &self.head.change
    }

    pub(crate) fn len(&self) -> usize {
        self.head.depth + 1
    }

    /// The changes, newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Change> {
        let mut next = Some(&*self.head);
        std::iter::from_fn(move || {
            let node = next?;
            next = node.older.as_deref();
            Some(&node.change)
        })
    }

    /// The changes, oldest first (collected: the list runs the other way).
    pub(crate) fn oldest_first(&self) -> Vec<&Change> {
        let mut changes: Vec<&Change> = self.newest_first().collect();
        changes.reverse();
        changes
    }

    /// The pair at main revision `rev`: the last change at or before it,
    /// if that is a put.
    pub(crate) fn at(&self, rev: i64) -> Option<&KeyValue> {
        self.newest_not_after(|c| c.rev.main > rev)?
            .change
            .kv
            .as_deref()
    }

    /// The last change with a main revision at or before `rev`, and how
    /// many there are.
    pub(crate) fn last_to(&self, rev: i64) -> Option<(&Change, usize)> {
        let node = self.newest_not_after(|c| c.rev.main > rev)?;
        Some((&node.change, node.depth + 1))
    }

    /// The change made at exactly `rev`, and the pair before it (if the
    /// change before it was a put).
    pub(crate) fn change_at(&self, rev: Revision) -> Option<(&Change, Option<&KeyValue>)> {
        let node = self
            .newest_not_after(|c| c.rev > rev)
            .filter(|n| n.change.rev == rev)?;
        let before = node.older.as_ref().and_then(|o| o.change.kv.as_deref());
        Some((&node.change, before))
    }

    /// The history without its `n` oldest changes (`None` if that leaves
    /// nothing). The changes kept are linked anew: a list shares only its
    /// older part.
    pub(crate) fn without_oldest(&self, n: usize) -> Option<History> {
        let kept = self.len().saturating_sub(n);
        let mut newest: Vec<Change> = self.newest_first().take(kept).cloned().collect();
        newest.reverse();
        History::from_oldest(newest)
    }
}

/// The jump of a node pushed onto `head`: if `head`'s jump spans as many
/// nodes as that jump's own, one jump spanning both; otherwise `head`.
/// This keeps every node within O(log n) jumps of any older one.
fn jump_for(head: &Arc<Node>) -> Arc<Node> {
    if let Some(jump) = &head.jump
        && let Some(further) = &jump.jump
        && head.depth - jump.depth == jump.depth - further.depth
    {
        return Arc::clone(further);
    }
    Arc::clone(head)
}

impl PartialEq for History {
    fn eq(&self, other: &History) -> bool {
        self.len() == other.len() && self.newest_first().eq(other.newest_first())
    }
}

impl Eq for History {}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.oldest_first()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(main: i64, value: &str) -> Change {
        Change {
            rev: Revision { main, sub: 0 },
            kv: Some(Arc::new(KeyValue {
                key: b"k".to_vec(),
                mod_revision: main,
                value: value.as_bytes().to_vec(),
                ..KeyValue::default()
            })),
        }
    }

    fn delete(main: i64) -> Change {
        Change {
            rev: Revision { main, sub: 0 },
            kv: None,
        }
    }

    fn value(kv: Option<&KeyValue>) -> Option<&str> {
        kv.map(|kv| std::str::from_utf8(&kv.value).unwrap())
    }

    #[test]
    fn reads_at_each_revision_see_the_change_made_then() {
        let h = History::from_oldest([put(2, "a"), put(5, "b"), delete(7), put(9, "c")]).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(value(h.at(1)), None, "before the key existed");
        assert_eq!(value(h.at(2)), Some("a"));
        assert_eq!(value(h.at(4)), Some("a"));
        assert_eq!(value(h.at(5)), Some("b"));
        assert_eq!(value(h.at(8)), None, "deleted at 7");
        assert_eq!(value(h.at(100)), Some("c"));
        assert_eq!(h.last().rev.main, 9);
        let revs: Vec<i64> = h.oldest_first().iter().map(|c| c.rev.main).collect();
        assert_eq!(revs, [2, 5, 7, 9]);
    }

    #[test]
    fn a_change_is_found_with_the_pair_before_it() {
        let h = History::from_oldest([put(2, "a"), put(5, "b"), delete(7), put(9, "c")]).unwrap();
        let at = |main| h.change_at(Revision { main, sub: 0 });
        let (c, before) = at(5).unwrap();
        assert_eq!((c.rev.main, value(before)), (5, Some("a")));
        let (c, before) = at(9).unwrap();
        assert_eq!((c.rev.main, value(before)), (9, None), "after a delete");
        assert_eq!(at(2).map(|(_, b)| value(b)), Some(None), "the first change");
        assert!(at(6).is_none(), "no change at 6");
        assert!(at(1).is_none());
    }

    #[test]
    fn an_append_leaves_a_captured_copy_as_it_was() {
        let mut h = History::unit(put(2, "a"));
        let captured = h.clone();
        h.push(put(3, "b"));
        assert_eq!(captured.len(), 1);
        assert_eq!(value(captured.at(10)), Some("a"));
        assert_eq!(value(h.at(10)), Some("b"));
        assert_ne!(h, captured);
    }

    #[test]
    fn dropping_the_oldest_keeps_the_rest_in_order() {
        let h = History::from_oldest([put(2, "a"), put(5, "b"), put(9, "c")]).unwrap();
        let kept = h.without_oldest(2).unwrap();
        assert_eq!(kept, History::unit(put(9, "c")));
        assert_eq!(h.without_oldest(0).unwrap(), h);
        assert!(h.without_oldest(3).is_none());
        assert_eq!(h.len(), 3, "the original is untouched");
    }

    #[test]
    fn searches_agree_with_a_walk_and_take_few_steps() {
        // Revisions with gaps; every target in and around them.
        for n in [1usize, 2, 3, 7, 64, 100, 1000] {
            let revs: Vec<i64> = (0..n as i64).map(|i| 3 * i + 2).collect();
            let h = History::from_oldest(revs.iter().map(|&r| put(r, "v"))).unwrap();
            for target in 0..=3 * n as i64 + 3 {
                let walked = revs.iter().filter(|&&r| r <= target).count();
                let counted = h.last_to(target).map_or(0, |(_, n)| n);
                assert_eq!(counted, walked, "n {n}, rev {target}");
                let found = h.at(target).map(|kv| kv.mod_revision);
                assert_eq!(found, revs.iter().rev().find(|&&r| r <= target).copied());
                let exact = h.change_at(Revision {
                    main: target,
                    sub: 0,
                });
                assert_eq!(
                    exact.is_some(),
                    revs.contains(&target),
                    "n {n}, rev {target}"
                );
            }
        }
        // The steps from the head to the oldest change grow as log n.
        let mut h = History::unit(put(1, "v"));
        for main in 2..=1 << 16 {
            h.push(put(main, "v"));
        }
        let steps = std::cell::Cell::new(0);
        let oldest = h.newest_not_after(|c| {
            steps.set(steps.get() + 1);
            c.rev.main > 1
        });
        assert_eq!(oldest.map(|n| n.depth), Some(0));
        assert!(
            steps.get() < 100,
            "{} steps for 65,536 changes",
            steps.get()
        );
    }

    #[test]
    fn a_long_history_drops_without_recursion() {
        // A recursive drop of a million nodes overflows a test thread's
        // stack; the loop in `Node::drop` does not.
        let mut h = History::unit(put(1, "v"));
        for main in 2..1_000_000 {
            h.push(delete(main));
        }
        let shared = h.clone();
        drop(h);
        drop(shared);
    }
}
