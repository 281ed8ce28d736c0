//! The store's keys as its maps hold them: a short key inline, a longer
//! one shared.
//!
//! A put looks its key up in the key map on every node, and a lookup
//! compares the key with a dozen or more of the map's keys. Held as
//! `Bytes`, each comparison followed a pointer to a key somewhere else in
//! memory, and under load each was a cache miss (a put took 3 µs on a
//! node, most of it there: docs/performance.md). A key of up to
//! [`INLINE`] bytes is held in the map's own node instead. A longer one
//! stays shared, so copying it (into the change log, or a map node copied
//! after a capture) is a pointer.
//!
//! A `Key` is ordered, compared and hashed as its bytes, and borrows as
//! `[u8]`, so the maps are looked up by `&[u8]` as before.

use bytes::Bytes;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest key held inline.
pub(crate) const INLINE: usize = 23;

#[derive(Clone)]
pub(crate) struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Key {
    pub(crate) fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            // Fits: INLINE is below 256.
            let len = key.len() as u8;
            Key(Repr::Inline { len, bytes })
        } else {
            Key(Repr::Shared(Bytes::copy_from_slice(key)))
        }
    }
}

impl Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_keys_are_inline_and_long_ones_shared() {
        assert!(matches!(Key::new(b"").0, Repr::Inline { len: 0, .. }));
        assert!(matches!(Key::new(&[7; INLINE]).0, Repr::Inline { .. }));
        assert!(matches!(Key::new(&[7; INLINE + 1]).0, Repr::Shared(_)));
    }

    /// The longest inline key is as long as fits in the room `Bytes` took
    /// (the enum's tag lives in a niche of the shared variant): a map node
    /// is no larger than before.
    #[test]
    fn a_key_is_no_larger_than_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<Bytes>());
    }

    proptest! {
        /// Whichever way each is held, keys order, compare and read back
        /// as their bytes do (the maps' order is the byte order).
        #[test]
        fn keys_behave_as_their_bytes(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            b in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let (ka, kb) = (Key::new(&a), Key::new(&b));
            prop_assert_eq!(&*ka, &a[..]);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert_eq!(ka == kb, a == b);
            let borrowed: &[u8] = ka.borrow();
            prop_assert_eq!(borrowed, &a[..]);
        }
    }
}
